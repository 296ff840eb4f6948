# SPDX-License-Identifier: MIT
"""Frame: one video frame of a camera, viewed without a copy.

A Frame owns a reference to a GstSample and keeps its buffer mapped; CUDA
frames export ``__dlpack__`` / ``__dlpack_device__`` and
``__cuda_array_interface__`` (version 3), host frames ``__dlpack__`` and
``__array_interface__``. Every tensor made from a frame holds a reference of
its own in C, so the buffer (and its slot of the upstream pool) lives until
the last view is gone, whatever happens to the Frame object.
"""
import ctypes

from . import _lib

_c = _lib.lib

DL_CPU = 1
DL_CUDA = 2


class _FrameInfo(ctypes.Structure):
    # capi/frame.h: GpurtspCapiFrameInfo
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("device_type", ctypes.c_int32),
        ("device_id", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("chroma_row", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 3),
        ("strides", ctypes.c_int64 * 3),
        ("nbytes", ctypes.c_uint64),
        ("pts", ctypes.c_int64),
        ("sequence", ctypes.c_uint64),
        ("arrival_time", ctypes.c_uint64),
        ("stream", ctypes.c_uint64),
        ("format", ctypes.c_char * 16),
        ("layout_error", ctypes.c_char * 200),
        ("colorimetry", ctypes.c_char * 32),
        ("chroma_site", ctypes.c_char * 32),
    ]


_c.gpurtsp_capi_frame_new.restype = ctypes.c_void_p
_c.gpurtsp_capi_frame_new.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                      ctypes.c_size_t]
_c.gpurtsp_capi_frame_unref.restype = None
_c.gpurtsp_capi_frame_unref.argtypes = [ctypes.c_void_p]
_c.gpurtsp_capi_frame_info.restype = None
_c.gpurtsp_capi_frame_info.argtypes = [ctypes.c_void_p, ctypes.POINTER(_FrameInfo)]
_c.gpurtsp_capi_frame_order_before.restype = ctypes.c_int
_c.gpurtsp_capi_frame_order_before.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_char_p,
                                               ctypes.c_size_t]
_c.gpurtsp_capi_frame_dlpack.restype = ctypes.c_void_p
_c.gpurtsp_capi_frame_dlpack.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                         ctypes.c_size_t]
_c.gpurtsp_capi_dlpack_delete.restype = None
_c.gpurtsp_capi_dlpack_delete.argtypes = [ctypes.c_void_p, ctypes.c_int]
_c.gpurtsp_capi_dlpack_capsule_name.restype = ctypes.c_void_p
_c.gpurtsp_capi_dlpack_capsule_name.argtypes = [ctypes.c_int]
_c.gpurtsp_capi_sample_type.restype = ctypes.c_size_t
_c.gpurtsp_capi_sample_type.argtypes = []
_c.gpurtsp_capi_frames_alive.restype = ctypes.c_uint64
_c.gpurtsp_capi_frames_alive.argtypes = []

# The capsule is made by Python's own PyCapsule_New, with a name and a
# destructor that live in the C library: the destructor stays callable while
# the interpreter shuts down, unlike a ctypes callback, and needs no Python
# headers (it finds PyCapsule_* in the running interpreter).
# Prototypes of our own: the shared ctypes.pythonapi functions keep theirs.
_PyCapsule_New = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_void_p)(("PyCapsule_New", ctypes.pythonapi))
_PyCapsule_GetPointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))
_CAPSULE_NAME = (_c.gpurtsp_capi_dlpack_capsule_name(0),
                 _c.gpurtsp_capi_dlpack_capsule_name(1))
_CAPSULE_DESTRUCTOR = ctypes.cast(_c.gpurtsp_capi_dlpack_capsule_destructor, ctypes.c_void_p)

# Array API stream values for CUDA (__dlpack__'s stream argument).
_STREAM_LEGACY = 1
_STREAM_NO_SYNC = -1


def frames_alive():
    """How many frames the process holds (by a Frame object or a tensor viewing one)."""
    return _c.gpurtsp_capi_frames_alive()


class Frame:
    """One video frame, in CUDA memory or host memory, as a uint8 tensor.

    Layouts: RGB/BGR H x W x 3, RGBP 3 x H x W, NV12 (chroma_row + ceil(H/2))
    x W (the luma rows, then the interleaved chroma rows from chroma_row,
    which is H unless the luma plane is padded), with the buffer's row pitch
    as stride. Frames are shared with other readers of the same camera: treat
    the tensors as read-only.
    """

    __slots__ = ("_handle", "_info", "__weakref__")
    # Held by the class so that __del__ works while modules are torn down.
    _unref = _c.gpurtsp_capi_frame_unref

    def __init__(self):
        raise TypeError("Frame objects come from Camera.latest_frame() or "
                        "gpurtsp.frame_from_sample()")

    @classmethod
    def _from_sample(cls, sample_pointer, adopt=True):
        """Wraps a GstSample * (an int). adopt: take over the caller's reference
        (also when this raises); else take a new one."""
        if not isinstance(sample_pointer, int) or sample_pointer == 0:
            raise TypeError("expected the address of a GstSample, got %r" % (sample_pointer,))
        error = _lib.error_buffer()
        handle = _c.gpurtsp_capi_frame_new(sample_pointer, 1 if adopt else 0, error,
                                           _lib.ERROR_SIZE)
        if not handle:
            raise ValueError(_lib.message(error))
        frame = object.__new__(cls)
        frame._handle = handle
        info = _FrameInfo()
        _c.gpurtsp_capi_frame_info(handle, ctypes.byref(info))
        frame._info = info
        return frame

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            self._handle = None
            self._unref(handle)

    def release(self):
        """Drops this object's hold on the buffer now (tensors made from it
        keep theirs). Using the frame afterwards raises ValueError."""
        self.__del__()

    def _live(self):
        if not self._handle:
            raise ValueError("the frame was released")
        return self._info

    # --- what the frame is --------------------------------------------
    @property
    def width(self):
        return self._info.width

    @property
    def height(self):
        return self._info.height

    @property
    def format(self):
        """GStreamer's format name: "RGB", "BGR", "RGBP", "NV12"."""
        return self._info.format.decode()

    @property
    def pts(self):
        """Presentation timestamp in ns (the stream's clock), None if absent."""
        return None if self._info.pts < 0 else self._info.pts

    @property
    def arrival_time(self):
        """When latestframesink stored it: monotonic ns (g_get_monotonic_time()
        * 1000, the clock of time.monotonic_ns() on Linux); None for samples
        of other sinks."""
        return self._info.arrival_time or None

    @property
    def sequence(self):
        """latestframesink's frame number (1, 2, ...): the same number means
        the same frame. None for samples of other sinks."""
        return self._info.sequence or None

    @property
    def chroma_row(self):
        """NV12: the tensor row where the chroma rows start (the height, or
        more where the luma plane is padded); None for other formats."""
        return self._info.chroma_row or None

    @property
    def colorimetry(self):
        """The caps' colorimetry as GStreamer writes it: "bt709", "bt601",
        "2:4:5:4" (range:matrix:transfer:primaries), "sRGB" for RGB frames."""
        return self._info.colorimetry.decode()

    @property
    def chroma_site(self):
        """The caps' chroma-site ("mpeg2", "jpeg", ...), None when unnamed."""
        return self._info.chroma_site.decode() or None

    @property
    def is_cuda(self):
        return self._info.device_type == DL_CUDA

    @property
    def device(self):
        """"cuda:N" or "cpu", as torch spells devices."""
        return "cuda:%d" % self._info.device_id if self.is_cuda else "cpu"

    @property
    def shape(self):
        info = self._checked_layout()
        return tuple(info.shape[:info.ndim])

    @property
    def strides(self):
        """Strides in bytes (= elements: uint8)."""
        info = self._checked_layout()
        return tuple(info.strides[:info.ndim])

    @property
    def data_ptr(self):
        """Address of the first byte: a device pointer for CUDA frames."""
        return self._live().data

    @property
    def stream(self):
        """CUstream (int) that may still be writing the frame, None when the
        producer finished before pushing (every gpurtsp element does)."""
        return self._info.stream or None

    def _checked_layout(self):
        info = self._live()
        if info.ndim == 0:
            raise BufferError(info.layout_error.decode())
        return info

    def __repr__(self):
        if not self._handle:
            return "<gpurtsp.Frame released>"
        return "<gpurtsp.Frame %s %dx%d on %s sequence=%s pts=%s>" % (
            self.format, self.width, self.height, self.device, self.sequence, self.pts)

    # --- DLPack ----------------------------------------------------------
    def __dlpack_device__(self):
        info = self._live()
        return (info.device_type, info.device_id)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule viewing the frame (no copy).

        stream (CUDA frames): the consumer's stream, as the array API defines
        it (None or 1: the legacy default stream, 2: per-thread default, -1:
        no ordering, else a CUstream); gpurtsp's work on the frame is ordered
        before work the consumer queues on it afterwards. max_version >= (1, 0)
        gets a versioned capsule.
        """
        info = self._checked_layout()
        if copy:
            raise BufferError("gpurtsp frames are exported without a copy only "
                              "(copy=True): copy the tensor instead")
        if dl_device is not None and tuple(dl_device) != (info.device_type, info.device_id):
            raise BufferError("the frame is on device %r, not %r" %
                              ((info.device_type, info.device_id), tuple(dl_device)))
        if info.device_type == DL_CUDA:
            if stream is None:
                stream = _STREAM_LEGACY
            if not isinstance(stream, int) or isinstance(stream, bool):
                raise TypeError("stream must be an int (a CUstream), got %r" % (stream,))
            if stream == 0:
                raise ValueError("stream 0 is ambiguous for CUDA: pass 1 for the legacy "
                                 "default stream, 2 for the per-thread one")
            if stream != _STREAM_NO_SYNC:
                error = _lib.error_buffer()
                if _c.gpurtsp_capi_frame_order_before(self._handle, stream, error,
                                                      _lib.ERROR_SIZE) != 0:
                    raise BufferError(_lib.message(error))
        elif stream is not None and stream != _STREAM_NO_SYNC:
            raise BufferError("a host frame takes no stream (got %r)" % (stream,))
        versioned = 1 if max_version is not None and tuple(max_version)[0] >= 1 else 0
        error = _lib.error_buffer()
        managed = _c.gpurtsp_capi_frame_dlpack(self._handle, versioned, error, _lib.ERROR_SIZE)
        if not managed:
            raise BufferError(_lib.message(error))
        try:
            return _PyCapsule_New(managed, _CAPSULE_NAME[versioned], _CAPSULE_DESTRUCTOR)
        except BaseException:
            _c.gpurtsp_capi_dlpack_delete(managed, versioned)
            raise

    # --- CUDA Array Interface (CuPy, torch.as_tensor, Numba) ---------------
    @property
    def __cuda_array_interface__(self):
        info = self._live()
        if info.device_type != DL_CUDA:
            raise AttributeError("a host-memory frame has no __cuda_array_interface__ "
                                 "(use numpy.asarray(frame))")
        info = self._checked_layout()
        return {
            "shape": tuple(info.shape[:info.ndim]),
            "typestr": "|u1",
            "data": (info.data, False),
            "strides": tuple(info.strides[:info.ndim]),
            "version": 3,
            # The producer's stream where it may still be writing (GStreamer
            # 1.24+ decoders), for the consumer to synchronise; None: complete.
            "stream": info.stream or None,
        }

    # --- NumPy (host frames) ------------------------------------------------
    @property
    def __array_interface__(self):
        info = self._live()
        if info.device_type != DL_CPU:
            raise AttributeError("a CUDA frame has no __array_interface__ (use "
                                 "torch.from_dlpack(frame) or cupy.asarray(frame))")
        info = self._checked_layout()
        return {
            "shape": tuple(info.shape[:info.ndim]),
            "typestr": "|u1",
            "data": (info.data, True),  # mapped read-only, shared with other readers
            "strides": tuple(info.strides[:info.ndim]),
            "version": 3,
        }


def _sample_address(sample):
    """The GstSample * of a PyGObject Gst.Sample (borrowed)."""
    try:
        from gi.repository import Gst
    except ImportError as exc:
        raise TypeError("frame_from_sample needs PyGObject (python3-gi) for a Gst.Sample: %s"
                        % exc) from None
    if not isinstance(sample, Gst.Sample):
        raise TypeError("expected a Gst.Sample, got %s" % type(sample).__name__)
    capsule = getattr(sample, "__gpointer__", None)  # PyGObject versions that have it
    if capsule is not None:
        return _PyCapsule_GetPointer(capsule, None)
    # PyGObject 3.42 exposes no pointer of a boxed object (no __gpointer__,
    # and hash() is not it), but its C API defines the wrapper's layout
    # (pygobject.h, PyGBoxed): PyObject_HEAD, then the boxed pointer, then
    # its GType. The GType is checked before the pointer is used.
    base = id(sample) + object.__basicsize__
    pointer = ctypes.c_void_p.from_address(base).value
    gtype = ctypes.c_size_t.from_address(base + ctypes.sizeof(ctypes.c_void_p)).value
    if not pointer or gtype != _c.gpurtsp_capi_sample_type():
        raise TypeError("this PyGObject's Gst.Sample has an unknown layout; pass "
                        "the GstSample address instead")
    return pointer


def frame_from_sample(sample):
    """A Frame of a Gst.Sample of raw video (CUDA or system memory), for
    applications that run their own pipelines with PyGObject, e.g. a sample
    of latestframesink's get-latest-sample. The frame takes a reference of its
    own: the Gst.Sample may go. Also takes a GstSample * as an int (borrowed).

    Raises TypeError for anything else and ValueError for samples that are
    not raw video or cannot be mapped.
    """
    if isinstance(sample, int) and not isinstance(sample, bool):
        address = sample
    else:
        address = _sample_address(sample)
    return Frame._from_sample(address, adopt=False)
