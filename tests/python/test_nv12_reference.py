# SPDX-License-Identifier: MIT
"""The NumPy NV12 -> RGB reference of the GPU tests (gpu_support.nv12_to_rgb)
against gpunv12torgb's own CPU reference (nv12torgb-reference.cpp), for the
matrices, ranges, sitings and odd sizes cameras send: the GPU tests can only
trust "within 1 of the CPU reference" if both references agree.

    test_nv12_reference.py NV12_REFERENCE_DUMP"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpurtsp_test_support as support  # noqa: E402
import gpu_support  # noqa: E402

numpy, = support.require("numpy")
DUMP = sys.argv.pop(1) if len(sys.argv) > 1 else None

CASES = [
    # width, height, colorimetry, chroma-site, pattern
    (1280, 720, None, None, "smpte"),
    (1280, 720, "bt709", "mpeg2", "colors"),
    (640, 360, None, None, "smpte"),
    (640, 480, "bt601", "jpeg", "smpte"),
    (320, 240, "1:4:0:0", "cosited", "colors"),
    (1920, 1080, "bt2020", "mpeg2", "smpte"),
    (7, 5, None, None, "smpte"),
    (37, 9, "bt709", "jpeg", "colors"),
]


class References(unittest.TestCase):
    def test_numpy_reference_matches_the_element_reference(self):
        with tempfile.TemporaryDirectory() as directory:
            nv12_path, rgb_path = (os.path.join(directory, n) for n in ("f.nv12", "f.rgb"))
            for width, height, colorimetry, site, pattern in CASES:
                caps = "video/x-raw,format=NV12,width=%d,height=%d,framerate=30/1" % (width, height)
                if colorimetry:
                    caps += ",colorimetry=" + colorimetry
                if site:
                    caps += ",chroma-site=" + site
                subprocess.run([DUMP, caps, pattern, nv12_path, rgb_path], check=True, timeout=60)
                nv12 = numpy.fromfile(nv12_path, numpy.uint8).reshape(-1, width + width % 2)
                expected = numpy.fromfile(rgb_path, numpy.uint8).reshape(height, width, 3)
                got = gpu_support.nv12_to_rgb(nv12, width, height, colorimetry or "", site)
                diff = int(numpy.abs(got.astype(int) - expected.astype(int)).max())
                print("%dx%d %s %s: max difference %d" % (width, height, colorimetry, site, diff))
                self.assertLessEqual(diff, 1, caps)


if __name__ == "__main__":
    if not DUMP:
        sys.exit("usage: test_nv12_reference.py NV12_REFERENCE_DUMP")
    unittest.main(verbosity=2)
