# SPDX-License-Identifier: MIT
"""encode_jpeg: JPEG bytes of a frame or an image tensor.

CUDA memory goes to the plugin's gpujpegenc (nvJPEG) on the device's
process-wide CUDA context, so the encoders come from the same per-context
pool as the cameras' gpujpegenc elements. Host memory (NumPy arrays, CPU
tensors, host frames) is encoded on the CPU by GStreamer's jpegenc.
"""
import ctypes

from . import _lib
from .frame import DL_CPU, DL_CUDA, Frame

_c = _lib.lib


class _Image(ctypes.Structure):
    # capi/jpeg.h: GpurtspCapiImage
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("device", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("row_stride", ctypes.c_int64),
        ("plane_stride", ctypes.c_int64),
        ("stream", ctypes.c_uint64),
        ("format", ctypes.c_char * 16),
    ]


_c.gpurtsp_capi_encode_jpeg.restype = ctypes.c_int
_c.gpurtsp_capi_encode_jpeg.argtypes = [ctypes.POINTER(_Image), ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
                                        ctypes.c_size_t]
_c.gpurtsp_capi_encode_jpeg_frame.restype = ctypes.c_int
_c.gpurtsp_capi_encode_jpeg_frame.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_void_p),
                                              ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
                                              ctypes.c_size_t]
_c.gpurtsp_capi_free.restype = None
_c.gpurtsp_capi_free.argtypes = [ctypes.c_void_p]

_TYPESTR_NAMES = {"f4": "float32", "f2": "float16", "f8": "float64", "i1": "int8",
                  "u2": "uint16", "i2": "int16", "i4": "int32", "i8": "int64", "b1": "bool"}
_STREAM_LEGACY = 1


def _call(function, first, quality):
    data = ctypes.c_void_p()
    size = ctypes.c_size_t()
    error = _lib.error_buffer()
    if function(first, quality, ctypes.byref(data), ctypes.byref(size), error,
                _lib.ERROR_SIZE) != 0:
        raise RuntimeError("JPEG encoding failed: " + _lib.message(error))
    try:
        return ctypes.string_at(data.value, size.value)
    finally:
        _c.gpurtsp_capi_free(data)


def _layout(interface, format):
    """(format, width, height, row_stride, plane_stride) of an array interface."""
    typestr = interface["typestr"]
    if typestr[1:] != "u1":
        raise TypeError("encode_jpeg takes uint8 images, got %s" %
                        _TYPESTR_NAMES.get(typestr[1:], typestr))
    if interface.get("mask") is not None:
        raise ValueError("encode_jpeg takes no masked arrays")
    shape = tuple(int(n) for n in interface["shape"])
    strides = interface.get("strides")
    if strides is None:  # C-contiguous
        strides, step = [], 1
        for n in reversed(shape):
            strides.insert(0, step)
            step *= n
    strides = tuple(int(s) for s in strides)
    if any(n == 0 for n in shape):
        raise ValueError("encode_jpeg: empty image, shape %r" % (shape,))
    if format is not None and format not in ("RGB", "BGR", "RGBP", "NV12"):
        raise ValueError("format must be 'RGB', 'BGR', 'RGBP' or 'NV12', got %r" % (format,))
    if len(shape) == 3 and shape[2] == 3 and format in (None, "RGB", "BGR"):
        if strides[2] != 1 or strides[1] != 3 or strides[0] < 3 * shape[1]:
            raise ValueError("an H x W x 3 image needs packed pixels and rows (strides "
                             "(>= 3W, 3, 1)), got strides %r: make it contiguous" % (strides,))
        return format or "RGB", shape[1], shape[0], strides[0], 0
    if len(shape) == 3 and shape[0] == 3 and format in (None, "RGBP"):
        if strides[2] != 1 or strides[1] < shape[2] or strides[0] < strides[1] * shape[1]:
            raise ValueError("a 3 x H x W image needs rows of contiguous pixels and planes "
                             "that do not overlap, got strides %r: make it contiguous"
                             % (strides,))
        return "RGBP", shape[2], shape[1], strides[1], strides[0]
    if len(shape) == 2 and format in (None, "NV12"):
        rows, width = shape
        if rows % 3 == 1 or rows < 2:
            raise ValueError("a 2-D image is NV12 with H + ceil(H/2) rows; %d rows is no "
                             "such height" % rows)
        height = 2 * rows // 3 if rows % 3 == 0 else (2 * rows - 1) // 3
        if strides[1] != 1 or strides[0] < width:
            raise ValueError("an NV12 image needs contiguous rows, got strides %r" % (strides,))
        return "NV12", width, height, strides[0], strides[0] * height
    raise ValueError("encode_jpeg takes H x W x 3 (RGB, BGR), 3 x H x W (RGBP) or "
                     "(H + H/2) x W (NV12) uint8 images, got shape %r%s" %
                     (shape, "" if format is None else " as " + format))


def _cuda_device(image):
    device = getattr(image, "device", None)
    for attribute in ("index", "id"):  # torch.device, cupy.cuda.Device
        index = getattr(device, attribute, None)
        if isinstance(index, int):
            return index
    if hasattr(image, "__dlpack_device__"):
        kind, index = image.__dlpack_device__()
        if kind == DL_CUDA:
            return int(index)
    return 0


def _producer_stream(image, interface):
    """The stream whose work must finish before the data is read."""
    if interface.get("version", 0) >= 3 and "stream" in interface:
        return interface["stream"] or 0  # None: nothing pending
    # PyTorch's interface (version 2) names no stream: its work runs on its
    # current stream, which torch.from_dlpack also hands over.
    if type(image).__module__.startswith("torch"):
        import torch
        stream = torch.cuda.current_stream(image.device).cuda_stream
        return stream or _STREAM_LEGACY
    return _STREAM_LEGACY  # the CUDA Array Interface's convention before v3


def encode_jpeg(image, quality=95, *, format=None):
    """JPEG bytes of ``image`` at ``quality`` (1-100).

    image: a Frame, or a uint8 image with ``__cuda_array_interface__``
    (a CUDA torch tensor, a CuPy array) or in host memory (a NumPy array, a
    CPU tensor): H x W x 3 (RGB; BGR with format="BGR"), 3 x H x W (RGBP)
    or (H + H/2) x W (NV12).

    Raises TypeError (not an image, not uint8), ValueError (shape, strides,
    quality out of range) and RuntimeError (the encoder failed).
    """
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise TypeError("quality must be an int, got %s" % type(quality).__name__)
    if not 1 <= quality <= 100:
        raise ValueError("quality must be 1-100, got %d" % quality)
    if isinstance(image, Frame):
        if image.format not in ("RGB", "BGR", "RGBP", "NV12"):
            raise ValueError("a %s frame cannot be encoded (RGB, BGR, RGBP, NV12)" % image.format)
        image._live()
        return _call(_c.gpurtsp_capi_encode_jpeg_frame, image._handle, quality)

    device = -1
    try:
        interface = image.__cuda_array_interface__
        device = _cuda_device(image)
    except AttributeError:
        interface = None
    except RuntimeError:  # a torch tensor that requires grad
        image = image.detach()
        interface = image.__cuda_array_interface__
        device = _cuda_device(image)
    stream = 0
    if interface is not None:
        stream = _producer_stream(image, interface)
    else:
        interface = getattr(image, "__array_interface__", None)
        if interface is None and hasattr(image, "__dlpack_device__"):
            kind, _ = image.__dlpack_device__()
            if kind == DL_CPU:
                import numpy
                image = numpy.from_dlpack(image)  # a view, kept until we return
                interface = image.__array_interface__
        if interface is None:
            raise TypeError("encode_jpeg takes a Frame or a uint8 image tensor (CUDA or host), "
                            "got %s" % type(image).__name__)
    fmt, width, height, row_stride, plane_stride = _layout(interface, format)
    c_image = _Image(data=interface["data"][0], device=device, width=width, height=height,
                     row_stride=row_stride, plane_stride=plane_stride, stream=stream,
                     format=fmt.encode())
    # `image` (and its memory) stays referenced until the call returns: the
    # C side copies before it does.
    return _call(_c.gpurtsp_capi_encode_jpeg, ctypes.byref(c_image), quality)
