# SPDX-License-Identifier: MIT
"""gpurtsp.Frame on host memory (no GPU): layouts, zero-copy views through
NumPy's array interface and DLPack, lifetime of frames, tensors and capsules,
frame_from_sample with PyGObject, and frames held while the pipeline runs."""
import ctypes
import gc
import os
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpurtsp_test_support as support  # noqa: E402

numpy, = support.require("numpy")
Gst, GstVideo = support.gst()
import gpurtsp  # noqa: E402
from gpurtsp import frame as frame_module  # noqa: E402

W, H = 64, 48


def address_of(array):
    return array.__array_interface__["data"][0]


class Layouts(unittest.TestCase):
    def test_rgb_is_h_w_3_and_zero_copy(self):
        sample = support.sample("RGB", W, H)
        frame = gpurtsp.frame_from_sample(sample)
        self.assertEqual((frame.width, frame.height, frame.format), (W, H, "RGB"))
        self.assertEqual(frame.shape, (H, W, 3))
        self.assertFalse(frame.is_cuda)
        self.assertEqual(frame.__dlpack_device__(), (1, 0))
        self.assertFalse(hasattr(frame, "__cuda_array_interface__"))
        array = numpy.asarray(frame)
        self.assertEqual(array.dtype, numpy.uint8)
        self.assertEqual(address_of(array), frame.data_ptr)
        self.assertFalse(array.flags.writeable)
        stride = frame.strides[0]
        raw = numpy.frombuffer(support.buffer_bytes(sample), numpy.uint8)
        expected = numpy.stack([raw[r * stride:r * stride + 3 * W] for r in range(H)])
        numpy.testing.assert_array_equal(array.reshape(H, 3 * W), expected)

    def test_rgbp_is_3_h_w_and_matches_rgb(self):
        rgb = numpy.asarray(gpurtsp.frame_from_sample(support.sample("RGB", W, H)))
        frame = gpurtsp.frame_from_sample(support.sample("RGBP", W, H))
        self.assertEqual(frame.shape, (3, H, W))
        numpy.testing.assert_array_equal(numpy.asarray(frame).transpose(1, 2, 0), rgb)

    def test_bgr_is_h_w_3(self):
        rgb = numpy.asarray(gpurtsp.frame_from_sample(support.sample("RGB", W, H)))
        bgr = numpy.asarray(gpurtsp.frame_from_sample(support.sample("BGR", W, H)))
        numpy.testing.assert_array_equal(bgr[:, :, ::-1], rgb)

    def test_nv12_is_luma_then_chroma_rows(self):
        # Odd heights: GStreamer's default layout pads the luma plane to an even
        # number of rows, so the chroma starts at row H + 1.
        # Odd widths: one more column, for the last chroma pair.
        for width, height, chroma_row in ((W, H, H), (W, 45, 46), (37, 8, 8)):
            sample = support.sample("NV12", width, height)
            frame = gpurtsp.frame_from_sample(sample)
            rows, columns = chroma_row + (height + 1) // 2, width + width % 2
            self.assertEqual(frame.chroma_row, chroma_row)
            self.assertEqual(frame.shape, (rows, columns))
            array = numpy.asarray(frame)
            stride = frame.strides[0]
            raw = numpy.frombuffer(support.buffer_bytes(sample), numpy.uint8)
            expected = numpy.stack([raw[r * stride:r * stride + columns] for r in range(rows)])
            numpy.testing.assert_array_equal(array, expected)

    def nv12_sample(self, chroma_offset, chroma_stride, stride=64):
        size = chroma_offset + chroma_stride * H // 2
        buffer = Gst.Buffer.new_wrapped(bytes(range(256)) * (size // 256 + 1))
        GstVideo.buffer_add_video_meta_full(
            buffer, GstVideo.VideoFrameFlags.NONE, GstVideo.VideoFormat.NV12, W, H, 2,
            [0, chroma_offset, 0, 0], [stride, chroma_stride, 0, 0])
        caps = Gst.Caps.from_string("video/x-raw,format=NV12,width=%d,height=%d" % (W, H))
        return Gst.Sample.new(buffer, caps, None, None)

    def test_nv12_with_padded_luma_plane(self):
        """A decoder's aligned surface: 8 padding rows between the planes."""
        frame = gpurtsp.frame_from_sample(self.nv12_sample(64 * (H + 8), 64))
        self.assertEqual(frame.chroma_row, H + 8)
        self.assertEqual(frame.shape, (H + 8 + H // 2, W))
        array = numpy.asarray(frame)
        self.assertEqual(array[H + 8, 0], (64 * (H + 8)) % 256)

    def test_nv12_planes_that_are_not_one_tensor_say_why(self):
        for offset, chroma_stride in ((64 * H + 32, 64), (64 * H, 128)):
            frame = gpurtsp.frame_from_sample(self.nv12_sample(offset, chroma_stride))
            self.assertEqual(frame.format, "NV12")
            with self.assertRaisesRegex(BufferError, "chroma plane does not start a whole"):
                frame.shape
            with self.assertRaisesRegex(BufferError, "chroma plane"):
                numpy.asarray(frame)
            with self.assertRaisesRegex(BufferError, "chroma plane"):
                frame.__dlpack__()

    def test_format_without_tensor_layout(self):
        frame = gpurtsp.frame_from_sample(support.sample("I420", W, H))
        with self.assertRaisesRegex(BufferError, "I420 .*no tensor layout"):
            numpy.asarray(frame)


class BadInput(unittest.TestCase):
    def test_not_a_sample(self):
        for value in (object(), "sample", None, 0, True):
            with self.assertRaises(TypeError):
                gpurtsp.frame_from_sample(value)

    def test_sample_that_is_not_raw_video(self):
        jpeg = support.pull_samples(
            "videotestsrc num-buffers=1 ! jpegenc ! appsink name=sink")[0]
        with self.assertRaisesRegex(ValueError, "not raw video .*image/jpeg"):
            gpurtsp.frame_from_sample(jpeg)

    def test_frames_are_not_constructed_directly(self):
        with self.assertRaises(TypeError):
            gpurtsp.Frame()

    def test_dlpack_arguments(self):
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        with self.assertRaisesRegex(BufferError, "copy"):
            frame.__dlpack__(copy=True)
        with self.assertRaisesRegex(BufferError, "device"):
            frame.__dlpack__(dl_device=(2, 0))
        with self.assertRaisesRegex(BufferError, "host frame takes no stream"):
            frame.__dlpack__(stream=5)

    def test_released_frame(self):
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        frame.release()
        with self.assertRaisesRegex(ValueError, "released"):
            numpy.asarray(frame)
        with self.assertRaisesRegex(ValueError, "released"):
            frame.__dlpack__()
        frame.release()  # twice is fine
        self.assertIn("released", repr(frame))


def capsule_api():
    api = ctypes.pythonapi
    api.PyCapsule_IsValid.restype = ctypes.c_int
    api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_SetName.restype = ctypes.c_int
    api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return api


class Lifetime(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.baseline = frame_module.frames_alive()

    def assertAllReleased(self):
        gc.collect()
        self.assertEqual(frame_module.frames_alive(), self.baseline)

    def test_numpy_view_outlives_frame_and_pipeline(self):
        sample = support.sample("RGB", W, H)
        expected = support.buffer_bytes(sample)
        frame = gpurtsp.frame_from_sample(sample)
        array = numpy.asarray(frame)
        stride = frame.strides[0]
        del frame, sample
        gc.collect()
        self.assertEqual(frame_module.frames_alive(), self.baseline + 1)  # the view holds it
        self.assertEqual(array.reshape(H, 3 * W).tobytes(),
                         b"".join(expected[r * stride:r * stride + 3 * W] for r in range(H)))
        del array
        self.assertAllReleased()

    def test_dlpack_view_outlives_frame(self):
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        copy = numpy.array(frame)
        array = numpy.from_dlpack(frame)
        self.assertEqual(address_of(array), frame.data_ptr)
        del frame
        gc.collect()
        numpy.testing.assert_array_equal(array, copy)
        del array
        self.assertAllReleased()

    def test_unconsumed_capsules_release_the_frame(self):
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        api = capsule_api()
        legacy = frame.__dlpack__()
        versioned = frame.__dlpack__(max_version=(1, 0))
        self.assertTrue(api.PyCapsule_IsValid(legacy, b"dltensor"))
        self.assertTrue(api.PyCapsule_IsValid(versioned, b"dltensor_versioned"))
        self.assertTrue(api.PyCapsule_IsValid(frame.__dlpack__(max_version=(0, 8)), b"dltensor"))
        del frame
        gc.collect()
        self.assertEqual(frame_module.frames_alive(), self.baseline + 1)  # the capsules'
        del legacy
        gc.collect()
        self.assertEqual(frame_module.frames_alive(), self.baseline + 1)  # versioned's
        del versioned
        self.assertAllReleased()

    def test_consumed_capsule_is_left_to_its_consumer(self):
        """A consumer renames the capsule and later calls the deleter itself:
        the capsule's destructor must then leave the tensor alone."""
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))
        api = capsule_api()
        capsule = frame.__dlpack__()
        managed = api.PyCapsule_GetPointer(capsule, b"dltensor")
        self.assertEqual(api.PyCapsule_SetName(capsule, b"used_dltensor"), 0)
        del frame, capsule
        gc.collect()
        self.assertEqual(frame_module.frames_alive(), self.baseline + 1)  # the consumer's
        # DLManagedTensor: DLTensor (48 bytes), manager_ctx, deleter.
        deleter_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        deleter = deleter_type(ctypes.c_void_p.from_address(managed + 56).value)
        deleter(managed)
        self.assertAllReleased()
        # numpy, a real consumer, refuses a capsule a second time.
        frame = gpurtsp.frame_from_sample(support.sample("RGB", W, H))

        class Once:
            capsule = frame.__dlpack__()

            def __dlpack__(self, **kwargs):
                return self.capsule

            def __dlpack_device__(self):
                return (1, 0)

        once = Once()
        first = numpy.from_dlpack(once)
        with self.assertRaises((RuntimeError, ValueError, BufferError)):
            numpy.from_dlpack(once)
        del first, once, Once, frame
        self.assertAllReleased()

    def test_interpreter_exit_with_frames_views_and_capsules(self):
        """Frames, views, unconsumed capsules and cycles alive at exit: the
        process exits 0 (the reference design crashed at cleanup)."""
        program = textwrap.dedent("""
            import sys
            sys.path.insert(0, %r)
            import gpurtsp_test_support as support
            import numpy, gpurtsp
            frames = [gpurtsp.frame_from_sample(support.sample(f, 64, 48))
                      for f in ("RGB", "RGBP", "NV12")]
            views = [numpy.asarray(f) for f in frames] + [numpy.from_dlpack(frames[0])]
            capsules = [f.__dlpack__() for f in frames] + [frames[1].__dlpack__(max_version=(1, 0))]
            class Cycle: pass
            cycle = Cycle(); cycle.me = cycle; cycle.frame = frames[2]; cycle.view = views[2]
            del cycle
            assert gpurtsp.encode_jpeg(frames[0])[:2].hex() == "ffd8"  # its pipeline stays
            print("ok", flush=True)
        """ % os.path.dirname(os.path.abspath(__file__)))
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ok")


class HeldFramesDoNotStall(unittest.TestCase):
    def test_holding_more_frames_than_the_ring_and_pool(self):
        """A reader keeps 40 frames of a ring of 2 (the upstream pool's
        minimum is 3): the pipeline goes on, and no held frame changes."""
        pipeline = Gst.parse_launch(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=48,"
            "framerate=200/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
            "! avdec_h264 ! videoconvert ! video/x-raw,format=RGB "
            "! latestframesink name=sink buffer-size=2 sync=false")
        sink = pipeline.get_by_name("sink")
        pipeline.set_state(Gst.State.PLAYING)
        held, checksums, last = [], [], 0
        deadline = time.monotonic() + 30
        try:
            while len(held) < 40 and time.monotonic() < deadline:
                sample = sink.emit("get-latest-sample")
                if sample is None:
                    time.sleep(0.005)
                    continue
                frame = gpurtsp.frame_from_sample(sample)
                if frame.sequence == last:
                    time.sleep(0.002)
                    continue
                self.assertGreater(frame.sequence, last)
                last = frame.sequence
                held.append(frame)
                checksums.append(numpy.asarray(frame).tobytes())
            self.assertEqual(len(held), 40, "the pipeline stalled after %d frames" % len(held))
            received = sink.props.frames_received
            time.sleep(0.2)
            self.assertGreater(sink.props.frames_received, received)
            for frame, checksum in zip(held, checksums):
                self.assertEqual(numpy.asarray(frame).tobytes(), checksum)
            self.assertGreater(len(set(checksums)), 1)
        finally:
            pipeline.set_state(Gst.State.NULL)
        self.assertGreater(held[0].arrival_time, 0)
        self.assertLessEqual(held[-1].arrival_time, time.monotonic_ns())


if __name__ == "__main__":
    unittest.main(verbosity=2)
