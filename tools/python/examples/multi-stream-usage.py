#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gpurtsp's "multi-stream usage" (docs/python.md): N cameras, the status
of each, every camera's newest frame into a model as one batch.

    multi-stream-usage.py RTSP_URL... [--batches 20] [--width 640]

Needs PyTorch; runs on the GPU when there is one, else on the CPU.
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F

import gpurtsp


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = torch.nn.Conv2d(3, 8, 3).to(device).eval()  # stand-in for yours

    with gpurtsp.Cameras(gpu=0) as cams:
        cameras = [cams.add(url, id=f"cam{i}", format="RGBP", width=args.width, fps=10,
                            decoder="auto" if device == "cuda" else "software")
                   for i, url in enumerate(args.urls)]
        deadline = time.monotonic() + args.timeout
        while (not all(cam.connected for cam in cameras)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for cam in cams:
            s = cam.status()
            print(f"{cam.id}: {s['state']:12} {s['fps']:5.1f} fps {s['width']}x{s['height']} "
                  f"{s['codec']} {s['decoder']} gpu {s['gpu']} reconnects {s['reconnects']} "
                  f"{s['last_error']}")

        done = 0
        with torch.no_grad():
            while done < args.batches and time.monotonic() < deadline + args.timeout:
                frames = [cam.latest_frame() for cam in cameras]
                live = [f for f in frames if f is not None]
                if not live:
                    time.sleep(0.1)
                    continue
                tensors = [torch.from_dlpack(f) for f in live]
                batch = torch.stack([
                    F.interpolate(t.unsqueeze(0).float(), size=(360, 640))[0]
                    for t in tensors]).to(device) / 255.0
                out = model(batch)
                done += 1
                print(f"batch {done}: {len(live)} frames {tuple(tensors[0].shape)} on "
                      f"{tensors[0].device} -> {tuple(out.shape)} mean {out.mean().item():.4f}")
                time.sleep(0.05)
    return 0 if done == args.batches else 1


if __name__ == "__main__":
    sys.exit(main())
