# SPDX-License-Identifier: MIT
"""GPU host (exits 77 without a GPU, PyTorch or the camera API): frames of
live cameras as PyTorch and CuPy tensors without a copy.

- torch.from_dlpack(cam.latest_frame()) views the frame's device memory
  (data_ptr() is the frame's pointer); torch.as_tensor(frame, device="cuda")
  and cupy.asarray(frame) too;
- an RGBP frame is within 1 of the CPU reference conversion of the same
  picture's NV12 frame (cameras of a still, all-intra clip);
- a torch kernel on a non-default current stream reads it correctly;
- a tensor is still correct after 100 newer frames arrived, and 40 held
  tensors do not stall the camera;
- encode_jpeg of tensors (H x W x 3, 3 x H x W, NV12), CuPy arrays and frames
  decodes (libjpeg, full chroma) at >= 38 dB PSNR: RGB against the input,
  NV12 against what a perfect JPEG of its samples decodes to;
- the process exits 0 with frames, tensors and capsules alive.
"""
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_support as support  # noqa: E402

torch, gpurtsp = support.require_torch_gpu()
import numpy  # noqa: E402

W, H = 1280, 720


class LiveCameras(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = support.rtsp_server(3, W, H, pattern="colors")
        cls.urls = cls.server.__enter__()
        cls.cams = gpurtsp.Cameras(gpu=0)
        cls.rgbp = cls.cams.add(cls.urls[0], id="rgbp", format="RGBP", buffer_size=2)
        cls.nv12 = cls.cams.add(cls.urls[1], id="nv12", format="NV12", buffer_size=2)
        cls.rgb = cls.cams.add(cls.urls[2], id="rgb", format="RGB", buffer_size=2)
        for cam in (cls.rgbp, cls.nv12, cls.rgb):
            support.wait_for_frame(cam)

    @classmethod
    def tearDownClass(cls):
        cls.cams.close()
        cls.server.__exit__(None, None, None)

    def reference_rgb(self):
        frame = self.nv12.latest_frame()
        self.assertEqual(frame.format, "NV12")
        self.assertEqual(frame.shape, (frame.chroma_row + H // 2, W))
        nv12 = torch.from_dlpack(frame).cpu().numpy()
        return support.nv12_to_rgb(nv12, W, H, frame.colorimetry, frame.chroma_site,
                                   frame.chroma_row)

    def test_from_dlpack_is_zero_copy_and_right(self):
        frame = self.rgbp.latest_frame()
        self.assertTrue(frame.is_cuda)
        self.assertEqual(frame.__dlpack_device__(), (2, 0))
        tensor = torch.from_dlpack(frame)
        self.assertEqual(tensor.data_ptr(), frame.data_ptr)
        self.assertEqual(tuple(tensor.shape), (3, H, W))
        self.assertEqual(tensor.dtype, torch.uint8)
        self.assertEqual(tensor.device, torch.device("cuda", 0))
        reference = torch.from_numpy(self.reference_rgb()).permute(2, 0, 1)
        diff = (tensor.cpu().int() - reference.int()).abs().max().item()
        print("RGBP frame vs CPU reference of the NV12 frame: max difference %d" % diff)
        self.assertLessEqual(diff, 1)

    def test_rgb_frame_is_h_w_3(self):
        frame = self.rgb.latest_frame()
        tensor = torch.from_dlpack(frame)
        self.assertEqual(tuple(tensor.shape), (H, W, 3))
        self.assertEqual(tensor.data_ptr(), frame.data_ptr)
        diff = (tensor.cpu().int() - torch.from_numpy(self.reference_rgb()).int()).abs().max()
        self.assertLessEqual(diff.item(), 1)

    def test_as_tensor_through_cuda_array_interface(self):
        frame = self.rgbp.latest_frame()
        tensor = torch.as_tensor(frame, device="cuda")
        self.assertEqual(tensor.data_ptr(), frame.data_ptr)
        self.assertTrue(torch.equal(tensor, torch.from_dlpack(frame)))

    def test_kernel_on_current_stream(self):
        frame = self.rgbp.latest_frame()
        expected = torch.from_dlpack(frame).cpu().float().mean(dim=(1, 2))
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            tensor = torch.from_dlpack(frame)  # ordered before `stream`
            means = tensor.float().mean(dim=(1, 2))
            scaled = (tensor.float() / 255).sum()
        stream.synchronize()
        self.assertTrue(torch.allclose(means.cpu(), expected))
        self.assertGreater(scaled.item(), 0)

    def test_tensor_survives_100_newer_frames(self):
        frame = self.rgbp.latest_frame()
        tensor = torch.from_dlpack(frame)
        saved = tensor.clone()
        sequence = frame.sequence
        del frame
        gc.collect()
        newest = support.wait_for_frame(self.rgbp, timeout=120, newer_than=sequence + 100)
        self.assertGreaterEqual(newest.sequence, sequence + 100)
        self.assertNotEqual(newest.data_ptr, tensor.data_ptr())
        self.assertTrue(torch.equal(tensor, saved))

    def test_holding_frames_does_not_stall_the_camera(self):
        """40 frames held from a ring of 2: gpunv12torgb's pool grows (no
        maximum), the camera goes on, and no held frame changes."""
        held, copies, last = [], [], 0
        while len(held) < 40:
            frame = support.wait_for_frame(self.rgbp, timeout=30, newer_than=last)
            last = frame.sequence
            tensor = torch.from_dlpack(frame)
            held.append(tensor)
            copies.append(tensor.clone())
        support.wait_for_frame(self.rgbp, timeout=30, newer_than=last)
        self.assertEqual(len({t.data_ptr() for t in held}), 40)
        for tensor, copy in zip(held, copies):
            self.assertTrue(torch.equal(tensor, copy))

    def test_cupy(self):
        try:
            import cupy
        except ImportError:
            self.skipTest("CuPy is not installed")
        frame = self.rgbp.latest_frame()
        array = cupy.asarray(frame)
        self.assertEqual(array.data.ptr, frame.data_ptr)
        self.assertEqual(array.shape, (3, H, W))
        from_dlpack = cupy.from_dlpack(frame)
        self.assertEqual(from_dlpack.data.ptr, frame.data_ptr)
        numpy.testing.assert_array_equal(cupy.asnumpy(array),
                                         torch.from_dlpack(frame).cpu().numpy())
        jpeg = gpurtsp.encode_jpeg(cupy.ascontiguousarray(array.transpose(1, 2, 0)))
        self.check_jpeg(jpeg, cupy.asnumpy(array).transpose(1, 2, 0))

    def check_jpeg(self, jpeg, expected, minimum=38.0):
        self.assertEqual(jpeg[:2], b"\xff\xd8")
        with tempfile.TemporaryDirectory() as directory:
            decoded = support.decode_jpeg(jpeg, directory).reshape(expected.shape)
        value = support.psnr(decoded, expected)
        print("JPEG %d bytes, PSNR %.1f dB" % (len(jpeg), value))
        self.assertGreaterEqual(value, minimum)

    def test_encode_jpeg(self):
        frame = self.rgbp.latest_frame()
        chw = torch.from_dlpack(frame)
        hwc = chw.permute(1, 2, 0).contiguous()
        expected = hwc.cpu().numpy()
        self.check_jpeg(gpurtsp.encode_jpeg(hwc, quality=95), expected)
        self.check_jpeg(gpurtsp.encode_jpeg(chw, quality=95), expected)
        self.check_jpeg(gpurtsp.encode_jpeg(frame, quality=95), expected)
        self.check_jpeg(gpurtsp.encode_jpeg(self.rgb.latest_frame()), expected)
        # NV12 keeps its 4:2:0 samples: against what a perfect JPEG of them
        # decodes to (their RGB frame is out of reach: the pattern's chroma
        # leaves JFIF's range, 33 dB even for a perfect encoder).
        nv12 = self.nv12.latest_frame()
        as_jpeg = support.nv12_as_jfif_rgb(torch.from_dlpack(nv12).cpu().numpy(), W, H,
                                           nv12.colorimetry, nv12.chroma_row)
        self.check_jpeg(gpurtsp.encode_jpeg(nv12), as_jpeg)
        if nv12.chroma_row == H:  # a tensor of H * 3/2 rows
            self.check_jpeg(gpurtsp.encode_jpeg(torch.from_dlpack(nv12).contiguous()), as_jpeg)
        # A tensor a kernel has just written on torch's current stream.
        with torch.cuda.stream(torch.cuda.Stream()):
            flipped = torch.flip(hwc, dims=[1])
            jpeg = gpurtsp.encode_jpeg(flipped)
        self.check_jpeg(jpeg, expected[:, ::-1])

    def test_encode_jpeg_bad_gpu_input(self):
        tensor = torch.zeros((H, W, 3), dtype=torch.float32, device="cuda")
        with self.assertRaisesRegex(TypeError, "uint8 images, got float32"):
            gpurtsp.encode_jpeg(tensor)
        with self.assertRaisesRegex(ValueError, "got shape"):
            gpurtsp.encode_jpeg(torch.zeros((H, W, 4), dtype=torch.uint8, device="cuda"))
        with self.assertRaisesRegex(ValueError, "packed pixels"):
            gpurtsp.encode_jpeg(torch.zeros((3, H, W), dtype=torch.uint8,
                                            device="cuda").permute(1, 2, 0))


class ManyCameras(unittest.TestCase):
    def test_64_cameras_in_one_process(self):
        with support.rtsp_server(64, 640, 360, pattern="smpte") as urls:
            with gpurtsp.Cameras(gpu=0) as cams:
                cameras = [cams.add(url, id="cam%d" % i, format="RGBP", buffer_size=2)
                           for i, url in enumerate(urls)]
                start = time.monotonic()
                frames = [support.wait_for_frame(cam, timeout=120) for cam in cameras]
                print("64 cameras streaming after %.1f s" % (time.monotonic() - start))
                batch = torch.stack([torch.from_dlpack(f) for f in frames])
                self.assertEqual(tuple(batch.shape), (64, 3, 360, 640))
                self.assertGreater(batch.float().mean().item(), 0)
                for frame in frames:
                    self.assertEqual(torch.from_dlpack(frame).data_ptr(), frame.data_ptr)


class Exit(unittest.TestCase):
    def test_process_exits_0_with_tensors_alive(self):
        here = os.path.dirname(os.path.abspath(__file__))
        program = textwrap.dedent("""
            import sys; sys.path.insert(0, %r)
            import gpu_support as support
            import torch, gpurtsp
            with support.rtsp_server(1, 320, 240) as urls:
                cams = gpurtsp.Cameras(gpu=0)
                cam = cams.add(urls[0], format="RGBP")
                frame = support.wait_for_frame(cam)
                tensor = torch.from_dlpack(frame)
                capsule = frame.__dlpack__()
                kept = [cam.latest_frame(), torch.as_tensor(cam.latest_frame(), device="cuda")]
                # the GPU encoder's pipeline is alive at exit too
                assert gpurtsp.encode_jpeg(tensor)[:2].hex() == "ffd8"
                cams.close()
                print(int(tensor.float().mean().item() >= 0), flush=True)
            # server gone, cameras closed, tensors, capsule and frames alive at exit
        """ % here)
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertEqual(result.stdout.strip(), "1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
