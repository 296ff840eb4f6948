# SPDX-License-Identifier: MIT
"""What the GPU tests and the benchmark of the Python package share: skipping
(77) without a GPU, PyTorch or the camera API; a synthetic RTSP server
(gpurtsp-loadgen looping a clip made with the bundle's gst-launch-1.0); a
NumPy reference NV12 -> RGB conversion; JPEG decoding with gpurtsp-jpeg-to-rgb.

The GPU host (docs/gpu-host.md) has Python 3.12, PyTorch and CuPy but no
PyGObject: everything here runs through subprocesses and the package."""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(SKIP)


def require_torch_gpu():
    try:
        import torch
    except ImportError as exc:
        skip("PyTorch is not installed (%s)" % exc)
    if not torch.cuda.is_available():
        skip("no CUDA device visible to PyTorch")
    try:
        import gpurtsp
    except OSError as exc:
        skip("libgpurtsp-capi does not load in this Python: %s" % exc)
    if not hasattr(gpurtsp, "Cameras"):
        skip("this gpurtsp has no Cameras API")
    return torch, gpurtsp


def program(name):
    path = shutil.which(name)
    if not path:
        skip("%s is not in PATH (source the bundle's env.sh)" % name)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_clip(directory, width, height, pattern="colors", frames=60):
    """An all-intra H.264 clip of a still picture: every frame decodes to the
    same pixels, so cameras that read it at different moments see the same
    image. Constant QP: x264's default rate control gives each I-frame its
    own QP, and their pixels differ by up to 4."""
    path = os.path.join(directory, "still-%dx%d-%s.h264" % (width, height, pattern))
    subprocess.run([program("gst-launch-1.0"), "-q", "videotestsrc", "num-buffers=%d" % frames,
                    "pattern=" + pattern, "!",
                    "video/x-raw,format=I420,width=%d,height=%d,framerate=30/1" % (width, height),
                    "!", "x264enc", "key-int-max=1", "speed-preset=ultrafast", "bframes=0",
                    "pass=quant", "quantizer=18", "!",
                    "video/x-h264,stream-format=byte-stream", "!", "filesink",
                    "location=" + path], check=True, timeout=120)
    return path


@contextlib.contextmanager
def rtsp_server(cameras, width=1280, height=720, pattern="colors", seconds=600):
    """Yields the URLs of @cameras mounts serving a still clip."""
    with tempfile.TemporaryDirectory() as directory:
        clip = make_clip(directory, width, height, pattern)
        port = free_port()
        log = open(os.path.join(directory, "loadgen.log"), "w")
        server = subprocess.Popen([program("gpurtsp-loadgen"), "--cameras", str(cameras),
                                   "--port", str(port), "--clip", clip, "--duration",
                                   str(seconds)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("gpurtsp-loadgen did not start: " +
                                       open(log.name).read()[-2000:])
                time.sleep(0.1)
            yield ["rtsp://127.0.0.1:%d/cam%d" % (port, i) for i in range(cameras)]
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def wait_for_frame(camera, timeout=60, newer_than=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = camera.latest_frame()
        if frame is not None and (frame.sequence or 0) > newer_than:
            return frame
        time.sleep(0.01)
    raise AssertionError("no frame from %r within %d s (status %r)" %
                         (camera, timeout, camera.status()))


_NAMED = {"bt601": (2, 4), "bt709": (2, 3), "bt2020": (2, 6), "bt2100-pq": (2, 6),
          "bt2100-hlg": (2, 6), "smpte240m": (2, 5), "sRGB": (1, 1)}
_KR_KB = {3: (0.2126, 0.0722), 4: (0.299, 0.114), 5: (0.212, 0.087), 6: (0.2627, 0.0593),
          2: (0.30, 0.11)}


def _range_and_matrix(colorimetry, height):
    """(full range?, Kr, Kb) of a caps colorimetry string, GStreamer's
    defaults for what it leaves unknown."""
    rng, matrix = _NAMED.get(colorimetry, (0, 0))
    if not rng:
        parts = (colorimetry or "").split(":")
        rng = int(parts[0]) if len(parts) == 4 and parts[0].isdigit() else 0
        matrix = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0
    if matrix not in _KR_KB:
        matrix = 3 if height > 576 else 4
    return (rng == 1,) + _KR_KB[matrix]


def nv12_to_rgb(nv12, width, height, colorimetry, chroma_site, chroma_row=None):
    """gpunv12torgb's same-size conversion in NumPy (docs/gpunv12torgb.md):
    the caps' matrix and range (defaults of GStreamer for unknown ones),
    chroma sampled bilinearly at its sited positions, edges replicated,
    rounded to nearest and clamped. Returns H x W x 3 uint8."""
    import numpy
    full, kr, kb = _range_and_matrix(colorimetry, height)
    site = chroma_site or ("mpeg2" if height > 576 else "jpeg")
    h_cosited = site in ("mpeg2", "cosited", "h-cosited", "dv")
    v_cosited = site in ("cosited", "v-cosited", "dv")
    y = nv12[:height, :width].astype(numpy.float64)
    chroma_row = chroma_row or height
    chroma = nv12[chroma_row:chroma_row + (height + 1) // 2, :2 * ((width + 1) // 2)]
    u = chroma[:, 0::2].astype(numpy.float64)
    v = chroma[:, 1::2].astype(numpy.float64)

    def positions(n_out, n_in, cosited):
        x = numpy.arange(n_out, dtype=numpy.float64)
        c = x / 2 if cosited else (x - 0.5) / 2
        c = numpy.clip(c, 0, n_in - 1)
        i0 = numpy.floor(c).astype(int)
        i1 = numpy.minimum(i0 + 1, n_in - 1)
        return i0, i1, c - i0

    r0, r1, fy = positions(height, u.shape[0], v_cosited)
    c0, c1, fx = positions(width, u.shape[1], h_cosited)

    def upsample(plane):
        rows = plane[r0] * (1 - fy)[:, None] + plane[r1] * fy[:, None]
        return rows[:, c0] * (1 - fx)[None, :] + rows[:, c1] * fx[None, :]

    cb, cr = upsample(u), upsample(v)
    if full:
        yn, cbn, crn = y / 255, (cb - 128) / 255, (cr - 128) / 255
    else:
        yn, cbn, crn = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    kg = 1 - kr - kb
    r = yn + 2 * (1 - kr) * crn
    b = yn + 2 * (1 - kb) * cbn
    g = (yn - kr * r - kb * b) / kg
    rgb = numpy.stack([r, g, b], axis=2) * 255
    return numpy.clip(numpy.rint(rgb), 0, 255).astype(numpy.uint8)


def nv12_as_jfif_rgb(nv12, width, height, colorimetry, chroma_row=None):
    """What a perfect JPEG encoder of these NV12 samples decodes to: each
    sample taken to JFIF's full-range BT.601 where it is (gpujpegenc's 4:2:0
    path), rounded and clamped to 0-255, then converted with JPEG's centred
    chroma. The clamp is why a JPEG of a saturated picture cannot reach the
    frame's own RGB: the colors pattern's Cb/Cr leave JFIF's range."""
    import numpy
    full, kr, kb = _range_and_matrix(colorimetry, height)
    chroma_row = chroma_row or height
    cw, ch = (width + 1) // 2, (height + 1) // 2
    y = nv12[:height, :width].astype(numpy.float64)
    cb = nv12[chroma_row:chroma_row + ch, 0:2 * cw:2].astype(numpy.float64)
    cr = nv12[chroma_row:chroma_row + ch, 1:2 * cw:2].astype(numpy.float64)
    if full:
        y, cb, cr = y / 255, (cb - 128) / 255, (cr - 128) / 255
    else:
        y, cb, cr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    # Y'CbCr -> R'G'B' is linear: R' - Y' and B' - Y' depend on chroma only.
    r_minus_y, b_minus_y = 2 * (1 - kr) * cr, 2 * (1 - kb) * cb
    g_minus_y = -(kr * r_minus_y + kb * b_minus_y) / (1 - kr - kb)
    jr, jb = 0.299, 0.114
    jy_minus_y = jr * r_minus_y + (1 - jr - jb) * g_minus_y + jb * b_minus_y
    out_cb = 128 + 255 * (b_minus_y - jy_minus_y) / (2 * (1 - jb))
    out_cr = 128 + 255 * (r_minus_y - jy_minus_y) / (2 * (1 - jr))
    luma_shift = numpy.repeat(numpy.repeat(jy_minus_y, 2, axis=0), 2, axis=1)[:height, :width]
    out_y = 255 * (y + luma_shift)
    jfif = numpy.zeros((height + ch, 2 * cw), numpy.uint8)
    jfif[:height, :width] = numpy.clip(numpy.rint(out_y), 0, 255)
    jfif[height:, 0::2] = numpy.clip(numpy.rint(out_cb), 0, 255)
    jfif[height:, 1::2] = numpy.clip(numpy.rint(out_cr), 0, 255)
    return nv12_to_rgb(jfif, width, height, "1:4:0:0", "jpeg")


def decode_jpeg(jpeg, directory):
    """H x W x 3 uint8 RGB of a JPEG, decoded by gpurtsp-jpeg-to-rgb (libjpeg
    at full chroma resolution: jpegdec would give a 4:4:4 JPEG as I420)."""
    import numpy
    src, dst = os.path.join(directory, "in.jpg"), os.path.join(directory, "out.rgb")
    with open(src, "wb") as f:
        f.write(jpeg)
    subprocess.run([program("gpurtsp-jpeg-to-rgb"), src, dst], check=True, timeout=60,
                   capture_output=True)
    return numpy.fromfile(dst, numpy.uint8)


def psnr(a, b):
    import numpy
    mse = numpy.mean((a.astype(numpy.float64) - b.astype(numpy.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * numpy.log10(255.0 ** 2 / mse)
