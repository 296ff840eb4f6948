# SPDX-License-Identifier: MIT
"""Helpers of the Python tests: skip (77) without what a test needs, GStreamer
samples made with PyGObject, JPEG decoding and PSNR."""
import sys

SKIP = 77


def require(*modules):
    """Imports @modules or exits 77 naming the missing one."""
    loaded = []
    for name in modules:
        try:
            loaded.append(__import__(name))
        except ImportError as exc:
            print("SKIP: %s is not installed (%s)" % (name, exc))
            sys.exit(SKIP)
    return loaded


def gst():
    require("gi")
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import Gst, GstVideo
    Gst.init(None)
    return Gst, GstVideo


def pull_samples(description, count=1):
    """Runs `description` (ending in appsink name=sink) and returns its first
    @count samples."""
    Gst, _ = gst()
    pipeline = Gst.parse_launch(description)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    samples = []
    try:
        for _ in range(count):
            sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
            if sample is None:
                raise RuntimeError("no sample from " + description)
            samples.append(sample)
    finally:
        pipeline.set_state(Gst.State.NULL)
    return samples


def sample(fmt, width, height, pattern="smpte", extra=""):
    return pull_samples(
        "videotestsrc num-buffers=1 pattern=%s %s ! video/x-raw,format=RGB,width=%d,height=%d "
        "! videoconvert ! video/x-raw,format=%s ! appsink name=sink"
        % (pattern, extra, width, height, fmt))[0]


def buffer_bytes(sample):
    buffer = sample.get_buffer()
    return buffer.extract_dup(0, buffer.get_size())


def decode_jpeg_rgb(jpeg):
    """(width, height, RGB bytes) of a JPEG, decoded by GStreamer's jpegdec."""
    Gst, _ = gst()
    pipeline = Gst.parse_launch(
        "appsrc name=src caps=image/jpeg ! jpegdec ! videoconvert ! video/x-raw,format=RGB "
        "! appsink name=sink")
    source, sink = pipeline.get_by_name("src"), pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    source.emit("push-buffer", Gst.Buffer.new_wrapped(bytes(jpeg)))
    source.emit("end-of-stream")
    decoded = sink.emit("try-pull-sample", 10 * Gst.SECOND)
    pipeline.set_state(Gst.State.NULL)
    if decoded is None:
        raise AssertionError("jpegdec could not decode the JPEG")
    s = decoded.get_caps().get_structure(0)
    width, height = s.get_value("width"), s.get_value("height")
    data = buffer_bytes(decoded)
    stride = len(data) // height
    rows = [data[r * stride:r * stride + 3 * width] for r in range(height)]
    return width, height, b"".join(rows)


def psnr(a, b):
    import numpy
    a = numpy.asarray(a, dtype=numpy.float64)
    b = numpy.asarray(b, dtype=numpy.float64)
    mse = numpy.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * numpy.log10(255.0 ** 2 / mse)
