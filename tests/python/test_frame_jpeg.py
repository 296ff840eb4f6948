# SPDX-License-Identifier: MIT
"""gpurtsp.encode_jpeg without a GPU: host images (NumPy arrays, host frames)
in every accepted layout encode through jpegenc and decode close to the
input; every bad input raises TypeError or ValueError with the reason."""
import ctypes
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpurtsp_test_support as support  # noqa: E402

numpy, = support.require("numpy")
Gst, GstVideo = support.gst()
import gpurtsp  # noqa: E402

W, H = 96, 64


def gradient():
    """A smooth RGB image (JPEG keeps it well: PSNR far above 38 dB at q95)."""
    y, x = numpy.mgrid[0:H, 0:W]
    return numpy.stack([x * 255 // (W - 1), y * 255 // (H - 1), (x + y) * 255 // (W + H - 2)],
                       axis=2).astype(numpy.uint8)


def decoded(jpeg):
    width, height, rgb = support.decode_jpeg_rgb(jpeg)
    return numpy.frombuffer(rgb, numpy.uint8).reshape(height, width, 3)


class HostImages(unittest.TestCase):
    def check(self, jpeg, expected, min_psnr=38):
        self.assertIsInstance(jpeg, bytes)
        self.assertEqual(jpeg[:2], b"\xff\xd8")
        image = decoded(jpeg)
        self.assertEqual(image.shape, expected.shape)
        self.assertGreaterEqual(support.psnr(image, expected), min_psnr)

    def test_rgb_hwc(self):
        self.check(gpurtsp.encode_jpeg(gradient()), gradient())

    def test_bgr_hwc(self):
        self.check(gpurtsp.encode_jpeg(gradient()[:, :, ::-1].copy(), format="BGR"), gradient())

    def test_rgbp_chw(self):
        self.check(gpurtsp.encode_jpeg(gradient().transpose(2, 0, 1).copy()), gradient())

    def test_padded_rows(self):
        padded = numpy.zeros((H, W + 16, 3), numpy.uint8)
        padded[:, :W] = gradient()
        self.check(gpurtsp.encode_jpeg(padded[:, :W]), gradient())

    def test_first_use_of_gstreamer_in_the_process(self):
        """No PyGObject, no camera: encode_jpeg initialises GStreamer itself."""
        result = subprocess.run(
            [sys.executable, "-c", "import gpurtsp, numpy; "
             "print(gpurtsp.encode_jpeg(numpy.zeros((8, 8, 3), numpy.uint8))[:2].hex())"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ffd8")

    def test_quality_changes_the_size(self):
        image = gradient()
        self.assertLess(len(gpurtsp.encode_jpeg(image, quality=10)),
                        len(gpurtsp.encode_jpeg(image, quality=100)))

    def via_nv12(self):
        """The test picture as RGB after a trip through NV12 (what an NV12
        frame of it can show at best)."""
        sample = support.pull_samples(
            "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=RGB,width=%d,"
            "height=%d ! videoconvert ! video/x-raw,format=NV12 ! videoconvert "
            "! video/x-raw,format=RGB ! appsink name=sink" % (W, H))[0]
        return numpy.asarray(gpurtsp.frame_from_sample(sample))

    def test_frames_of_every_format(self):
        reference = numpy.asarray(gpurtsp.frame_from_sample(support.sample("RGB", W, H)))
        for fmt in ("RGB", "BGR", "RGBP", "NV12"):
            frame = gpurtsp.frame_from_sample(support.sample(fmt, W, H))
            jpeg = gpurtsp.encode_jpeg(frame, quality=95)
            # smpte bars have hard edges, which JPEG's 4:2:0 chroma blurs: 30 dB.
            self.check(jpeg, self.via_nv12() if fmt == "NV12" else reference, min_psnr=30)

    def test_nv12_array(self):
        frame = gpurtsp.frame_from_sample(support.sample("NV12", W, H))
        self.check(gpurtsp.encode_jpeg(numpy.asarray(frame).copy()), self.via_nv12(),
                   min_psnr=30)


class BadInput(unittest.TestCase):
    def test_quality(self):
        for quality in (0, 101, -5):
            with self.assertRaisesRegex(ValueError, "quality must be 1-100"):
                gpurtsp.encode_jpeg(gradient(), quality)
        for quality in (95.0, "95", True, None):
            with self.assertRaisesRegex(TypeError, "quality must be an int"):
                gpurtsp.encode_jpeg(gradient(), quality)

    def test_not_an_image(self):
        for value in (object(), "image", None, 3, [[1, 2, 3]]):
            with self.assertRaisesRegex(TypeError, "Frame or a uint8 image"):
                gpurtsp.encode_jpeg(value)

    def test_dtype(self):
        with self.assertRaisesRegex(TypeError, "uint8 images, got float32"):
            gpurtsp.encode_jpeg(gradient().astype(numpy.float32))
        with self.assertRaisesRegex(TypeError, "uint8 images, got int64"):
            gpurtsp.encode_jpeg(gradient().astype(numpy.int64))

    def test_shapes(self):
        for shape in ((H, W, 4), (H, W, 1), (4, H, W), (H,), (2, H, W, 3)):
            with self.assertRaisesRegex(ValueError, "got shape"):
                gpurtsp.encode_jpeg(numpy.zeros(shape, numpy.uint8))
        with self.assertRaisesRegex(ValueError, "NV12 with H \\+ ceil\\(H/2\\) rows; 97 rows"):
            gpurtsp.encode_jpeg(numpy.zeros((97, W), numpy.uint8))
        with self.assertRaisesRegex(ValueError, "empty image"):
            gpurtsp.encode_jpeg(numpy.zeros((0, W, 3), numpy.uint8))

    def test_strides(self):
        with self.assertRaisesRegex(ValueError, "packed pixels"):
            gpurtsp.encode_jpeg(gradient()[:, ::2])
        with self.assertRaisesRegex(ValueError, "packed pixels"):
            gpurtsp.encode_jpeg(numpy.zeros((3, H, W), numpy.uint8).transpose(1, 2, 0))
        with self.assertRaisesRegex(ValueError, "rows of contiguous pixels"):
            gpurtsp.encode_jpeg(gradient().transpose(2, 0, 1))
        with self.assertRaisesRegex(ValueError, "NV12 image needs contiguous rows"):
            gpurtsp.encode_jpeg(numpy.zeros((96, 2 * W), numpy.uint8)[:, ::2])

    def test_format(self):
        with self.assertRaisesRegex(ValueError, "format must be"):
            gpurtsp.encode_jpeg(gradient(), format="YUY2")
        with self.assertRaisesRegex(ValueError, "got shape .* as RGBP"):
            gpurtsp.encode_jpeg(gradient(), format="RGBP")

    def test_cuda_image_without_a_gpu(self):
        """Where there is no CUDA device (or no CUDA in the build), a CUDA image
        is a clear RuntimeError, and so is asking for a device's context."""
        from gpurtsp import _lib
        if _lib.lib.gpurtsp_capi_cuda_device_count() > 0:
            self.skipTest("a CUDA device is present")

        class CudaImage:
            __cuda_array_interface__ = {"shape": (H, W, 3), "typestr": "|u1", "version": 3,
                                        "data": (0x1000, False), "strides": None,
                                        "stream": None}

        with self.assertRaisesRegex(RuntimeError, "JPEG encoding failed: .*(CUDA|cuda)"):
            gpurtsp.encode_jpeg(CudaImage())
        context = _lib.lib.gpurtsp_capi_cuda_context
        context.restype = ctypes.c_void_p
        context.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        error = _lib.error_buffer()
        self.assertIsNone(context(0, error, _lib.ERROR_SIZE))
        self.assertRegex(_lib.message(error), "CUDA")

    def test_frame_without_encodable_format(self):
        frame = gpurtsp.frame_from_sample(support.sample("I420", W, H))
        with self.assertRaisesRegex(ValueError, "I420 frame cannot be encoded"):
            gpurtsp.encode_jpeg(frame)

    def test_released_frame(self):
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        frame.release()
        with self.assertRaisesRegex(ValueError, "released"):
            gpurtsp.encode_jpeg(frame)


if __name__ == "__main__":
    unittest.main(verbosity=2)
