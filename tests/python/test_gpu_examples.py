# SPDX-License-Identifier: MIT
"""GPU host: the two reference programs of docs/python.md
(tools/python/examples/basic-usage.py and multi-stream-usage.py) against
gpurtsp-loadgen, with PyTorch on the GPU: they must exit 0, decode with
NVDEC, print CUDA tensors (zero-copy) and write a JPEG that decodes, and the
camera API must place every camera on the GPU. Exits 77 without PyTorch, a
GPU, or the bundle's programs.

    python3 test_gpu_examples.py [EXAMPLES_DIR]
"""
import os
import subprocess
import sys
import tempfile
import time

import gpu_support

EXAMPLES = (sys.argv[1] if len(sys.argv) > 1 else
            os.environ.get("GPURTSP_EXAMPLES") or
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                         "python", "examples"))


def run(args, timeout=180):
    started = time.monotonic()
    result = subprocess.run([sys.executable] + args, capture_output=True, text=True,
                            timeout=timeout)
    print(f"$ {' '.join(os.path.basename(a) for a in args[:1])} ... "
          f"exit {result.returncode} in {time.monotonic() - started:.1f} s")
    print(result.stdout[-3000:])
    if result.returncode != 0:
        print(result.stderr[-3000:])
    return result


def main():
    torch, gpurtsp = gpu_support.require_torch_gpu()
    failures = []

    def check(condition, what):
        print(("ok: " if condition else "FAIL: ") + what)
        if not condition:
            failures.append(what)

    with gpu_support.rtsp_server(8, width=1280, height=720) as urls, \
            tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "frame.jpg")
        basic = run([os.path.join(EXAMPLES, "basic-usage.py"), urls[0], "--out", out])
        check(basic.returncode == 0, "basic-usage.py exits 0")
        check("'decoder': 'nvidia'" in basic.stdout, "basic-usage: NVDEC decodes")
        check("tensor: (3, 720, 1280) torch.uint8 cuda:0" in basic.stdout,
              "basic-usage: a 3 x 720 x 1280 uint8 tensor on cuda:0")
        check("zero-copy" in basic.stdout, "basic-usage: the tensor is the frame's memory")
        if os.path.exists(out):
            jpeg = open(out, "rb").read()
            decoded = gpu_support.decode_jpeg(jpeg, directory)
            check(jpeg[:2] == b"\xff\xd8" and decoded is not None, "basic-usage: the JPEG decodes")
        else:
            check(False, "basic-usage wrote the JPEG")

        multi = run([os.path.join(EXAMPLES, "multi-stream-usage.py")] + urls +
                    ["--batches", "20"])
        check(multi.returncode == 0, "multi-stream-usage.py exits 0")
        check(multi.stdout.count("streaming") == len(urls) and
              multi.stdout.count(" nvidia gpu 0 ") == len(urls),
              f"multi-stream-usage: {len(urls)} cameras streaming on NVDEC, GPU 0")
        check("batch 20: 8 frames (3, 360, 640) on cuda:0 -> (8, 8, 358, 638)" in multi.stdout,
              "multi-stream-usage: batches of 8 CUDA frames through the model")
    print("FAILED: " + "; ".join(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
