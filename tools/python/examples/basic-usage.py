#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gpurtsp's "basic usage" (docs/python.md): one camera, wait until it
streams, the newest frame as a tensor, a JPEG to a file.

    basic-usage.py RTSP_URL [--out frame.jpg] [--timeout 30]

PyTorch and CUDA: the frame as a CUDA tensor, JPEG on the GPU. Without
them (or without a GPU): software decoding, a NumPy array, jpegenc.
"""
import argparse
import sys
import time

import gpurtsp


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--out", default="frame.jpg")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    try:
        import torch
        cuda = torch.cuda.is_available()
    except ImportError:
        torch, cuda = None, False

    with gpurtsp.Cameras(gpu=0) as cams:
        cam = cams.add(args.url, buffer_size=30, format="RGBP",
                       decoder="auto" if cuda else "software")
        deadline = time.monotonic() + args.timeout
        while not cam.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        status = cam.status()
        print("status:", status)
        frame = cam.latest_frame()
        if frame is None:
            print("no frame:", status["last_error"], file=sys.stderr)
            return 1
        print("frame:", frame)
        if torch is not None:
            tensor = torch.from_dlpack(frame)  # 3 x H x W uint8, no copy
            print("tensor:", tuple(tensor.shape), tensor.dtype, tensor.device,
                  "mean %.2f" % tensor.float().mean().item(),
                  "zero-copy" if tensor.data_ptr() == frame.data_ptr else "COPY")
            jpeg = gpurtsp.encode_jpeg(tensor, quality=90)
        else:
            import numpy
            array = numpy.asarray(frame)
            print("array:", array.shape, array.dtype, "mean %.2f" % array.mean())
            jpeg = cam.latest_jpeg()
        with open(args.out, "wb") as file:
            file.write(jpeg)
        print(f"wrote {args.out}: {len(jpeg)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
