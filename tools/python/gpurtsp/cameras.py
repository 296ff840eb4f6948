# SPDX-License-Identifier: MIT
"""Cameras: gpurtsp-launch's camera core (validation, pipeline choice, one
CUDA context per GPU, reconnect with backoff, stall watchdog, status) from
Python, through libgpurtsp-capi's camera functions (capi/cameras.h).

The core runs on a thread of the C library; every method here is a blocking
C call that ctypes makes with the GIL released, so any number of Python
threads may use one ``Cameras``. docs/python.md.
"""
import atexit
import ctypes
import json
import threading
import weakref

from . import _lib
from ._lib import lib

FORMATS = ("RGB", "BGR", "RGBP", "NV12", "JPEG")

_ERROR = -1
_CLOSED = -2
_NO_CAMERA = -3
_NO_FRAME = -4
_CUDA_FRAME = -5

_c_char_p = ctypes.c_char_p
_size_t = ctypes.c_size_t
_void_p = ctypes.c_void_p


def _declare(name, restype, *argtypes):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_new = _declare("gpurtsp_cameras_new", _void_p, ctypes.c_int, _c_char_p, _size_t)
_close = _declare("gpurtsp_cameras_close", None, _void_p)
_free = _declare("gpurtsp_cameras_free", None, _void_p)
_add = _declare("gpurtsp_cameras_add", ctypes.c_int, _void_p, _c_char_p, _c_char_p, _c_char_p,
                _c_char_p, _size_t)
_load = _declare("gpurtsp_cameras_load", ctypes.c_int, _void_p, _c_char_p, _c_char_p,
                 ctypes.POINTER(_void_p), _c_char_p, _size_t)
_remove = _declare("gpurtsp_cameras_remove", ctypes.c_int, _void_p, _c_char_p, _c_char_p, _size_t)
_list = _declare("gpurtsp_cameras_list", _void_p, _void_p)
_start = _declare("gpurtsp_camera_start", ctypes.c_int, _void_p, _c_char_p, _c_char_p, _size_t)
_stop = _declare("gpurtsp_camera_stop", ctypes.c_int, _void_p, _c_char_p, _c_char_p, _size_t)
_status = _declare("gpurtsp_camera_status", _void_p, _void_p, _c_char_p,
                   ctypes.POINTER(ctypes.c_int), _c_char_p, _size_t)
_latest_sample = _declare("gpurtsp_camera_latest_sample", _void_p, _void_p, _c_char_p,
                          ctypes.POINTER(ctypes.c_int))
_latest_samples = _declare("gpurtsp_camera_latest_samples", ctypes.c_int, _void_p, _c_char_p,
                           ctypes.c_uint, ctypes.POINTER(_void_p))
_latest_jpeg = _declare("gpurtsp_camera_latest_jpeg", ctypes.c_int, _void_p, _c_char_p,
                        ctypes.c_int, ctypes.POINTER(_void_p), ctypes.POINTER(_size_t),
                        _c_char_p, _size_t)
_wait_frame = _declare("gpurtsp_camera_wait_frame", ctypes.c_int64, _void_p, _c_char_p,
                       ctypes.c_int64, ctypes.c_int)
_free_memory = _declare("gpurtsp_capi_free", None, _void_p)


class CamerasClosed(RuntimeError):
    """A call on Cameras (or one of its cameras) after close()."""


def _take_string(pointer):
    """The malloc'd C string at @pointer as str; frees it."""
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        _free_memory(pointer)


def _frame(pointer):
    from .frame import Frame
    return Frame._from_sample(pointer)


# Every open Cameras, closed at interpreter exit before modules go away: the
# core's thread must not outlive the interpreter. Frames stay valid.
_open = weakref.WeakSet()


@atexit.register
def _close_all():
    for cameras in list(_open):
        cameras.close()


class Camera:
    """One camera of a Cameras; get it from ``cams.add()`` or ``cams[id]``.

    It stays usable as an object after ``cams.remove(id)`` or
    ``cams.close()``: its methods then raise KeyError or CamerasClosed, and
    frames taken before stay valid.
    """

    def __init__(self, cameras, camera_id, buffer_size, format):
        self._cameras = cameras
        self.id = camera_id
        self.buffer_size = buffer_size
        self.format = format
        self._id = camera_id.encode()
        self._callback_lock = threading.Lock()
        self._callback_thread = None
        self._callback_stop = None

    def __repr__(self):
        return f"<gpurtsp.Camera {self.id!r} {self.format}>"

    def _raw_only(self):
        if self.format == "JPEG":
            raise ValueError(f"camera {self.id!r} has format JPEG: use latest_jpeg(), or add it "
                             "with format RGB, BGR, RGBP or NV12 for frames")

    def _check(self, code, error=None):
        if code >= 0:
            return code
        self._cameras._raise(code, error, self.id)

    def start(self):
        """Connects again after stop(); a running camera keeps running."""
        error = _lib.error_buffer()
        self._check(_start(self._cameras._handle(), self._id, error, len(error)), error)

    def stop(self):
        """Tears the pipeline down; the newest frames stay served."""
        error = _lib.error_buffer()
        self._check(_stop(self._cameras._handle(), self._id, error, len(error)), error)

    def status(self):
        """A dict: state (connecting, streaming, reconnecting, unauthorized,
        untrusted (rtsps certificate refused), failed, or stopped after stop()), fps, frames, last_frame_age_ms (None before the first
        frame), reconnects, last_error, width, height, codec, decoder
        (nvidia or software), gpu (None for software decoding), format,
        buffer_size, running."""
        error = _lib.error_buffer()
        code = ctypes.c_int(0)
        text = _take_string(_status(self._cameras._handle(), self._id, ctypes.byref(code), error,
                                    len(error)))
        if text is None:
            self._cameras._raise(code.value or _ERROR, error, self.id)
        return json.loads(text)

    @property
    def connected(self):
        """Whether frames are arriving (state "streaming")."""
        return self.status()["state"] == "streaming"

    def latest_frame(self):
        """The newest frame as a gpurtsp.Frame, or None before the first.
        Format JPEG has no frames: ValueError (use latest_jpeg())."""
        self._raw_only()
        code = ctypes.c_int(0)
        sample = _latest_sample(self._cameras._handle(), self._id, ctypes.byref(code))
        if not sample:
            if code.value == _NO_FRAME:
                return None
            self._cameras._raise(code.value, None, self.id)
        return _frame(sample)

    def latest_frames(self, n):
        """Up to @n of the newest frames (at most buffer_size), newest
        first; an empty list before the first."""
        self._raw_only()
        n = int(n)
        if n < 0:
            raise ValueError(f"n: {n} is negative")
        samples = (_void_p * max(n, 1))()
        count = _latest_samples(self._cameras._handle(), self._id, n, samples)
        if count < 0:
            self._cameras._raise(count, None, self.id)
        return [_frame(samples[i]) for i in range(count)]

    def latest_jpeg(self, quality=95):
        """The newest frame as JPEG bytes, or None before the first: the
        stored JPEG for format JPEG; a raw host frame encoded now (jpegenc);
        a raw CUDA frame encoded on the GPU by gpurtsp.encode_jpeg()."""
        data = _void_p()
        size = _size_t(0)
        error = _lib.error_buffer()
        code = _latest_jpeg(self._cameras._handle(), self._id, int(quality), ctypes.byref(data),
                            ctypes.byref(size), error, len(error))
        if code == _NO_FRAME:
            return None
        if code == _CUDA_FRAME:
            from .jpeg import encode_jpeg
            frame = self.latest_frame()
            # A frame of the GPU's converter; encoded by the same nvJPEG pool.
            return None if frame is None else encode_jpeg(frame, quality=quality)
        self._check(code, error)
        try:
            return ctypes.string_at(data, size.value)
        finally:
            _free_memory(data)

    def wait_frame(self, seen=0, timeout=1.0):
        """Waits until the camera has stored more than @seen frames (a
        count since it was added), at most @timeout seconds; the count."""
        count = _wait_frame(self._cameras._handle(), self._id, int(seen),
                            max(0, int(timeout * 1000)))
        return self._check(count)

    def on_frame(self, callback):
        """Calls @callback(frame) for new frames on a Python thread of its
        own (never a GStreamer streaming thread), skipping frames while the
        callback runs; on_frame(None) ends it. The thread ends too when the
        camera is removed or the cameras closed."""
        with self._callback_lock:
            if self._callback_thread is not None:
                self._callback_stop.set()
                if self._callback_thread is not threading.current_thread():
                    self._callback_thread.join()
                self._callback_thread = None
            if callback is None:
                return
            stop = threading.Event()
            thread = threading.Thread(target=self._deliver, args=(callback, stop),
                                      name=f"gpurtsp-on-frame-{self.id}", daemon=True)
            self._callback_stop = stop
            self._callback_thread = thread
            thread.start()

    def _deliver(self, callback, stop):
        seen = 0
        while not stop.is_set():
            try:
                count = self.wait_frame(seen, timeout=0.2)
            except (KeyError, CamerasClosed):
                return
            if count == seen:
                continue
            seen = count
            frame = self.latest_frame()
            if frame is not None and not stop.is_set():
                callback(frame)


class Cameras:
    """The cameras of one process on GPU @gpu (software decoding where there
    is none): ``with gpurtsp.Cameras(gpu=0) as cams: cam = cams.add(url)``.
    """

    def __init__(self, gpu=0):
        if isinstance(gpu, bool) or not isinstance(gpu, int) or not 0 <= gpu <= 63:
            raise ValueError(f"gpu: expected a CUDA device number (0 to 63), got {gpu!r}")
        error = _lib.error_buffer()
        handle = _new(gpu, error, len(error))
        if not handle:
            raise RuntimeError(_lib.message(error))
        self.gpu = gpu
        self._pointer = handle
        self._lock = threading.Lock()
        self._cameras = {}
        self._closed = False
        # Freed when collected, never at exit: daemon threads (on_frame) may
        # still call in then, and get CamerasClosed from the closed handle.
        self._finalizer = weakref.finalize(self, _free, handle)
        self._finalizer.atexit = False
        _open.add(self)

    def _handle(self):
        if self._closed:
            raise CamerasClosed("the cameras are closed")
        return self._pointer

    def _raise(self, code, error, camera_id=None):
        text = _lib.message(error) if error is not None else ""
        if code == _CLOSED:
            raise CamerasClosed(text or "the cameras are closed")
        if code == _NO_CAMERA:
            raise KeyError(camera_id)
        raise ValueError(text or f"error {code}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stops every camera and waits for their pipelines to go. Frames
        taken before stay valid; calls afterwards raise CamerasClosed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _close(self._pointer)
        _open.discard(self)

    def add(self, url, id=None, buffer_size=30, decode="all", format="RGBP", **settings):
        """Adds and starts a camera; returns its Camera.

        @url: rtsp:// or rtsps://, credentials in it or as ${VAR}. @settings:
        any camera key of cameras.yaml (fps, width, transport, decoder, gpu,
        codec, latency_ms, jpeg_quality, stall_timeout_s, jpeg_encoder),
        checked like the file; a bad one raises ValueError naming the key.
        @format: RGB, BGR (H x W x 3), RGBP (3 x H x W), NV12 or JPEG.
        fps defaults to 0 here (every decoded frame), unlike the launcher's 5.
        """
        if format not in FORMATS:
            raise ValueError(f'format: unknown value "{format}" (expected RGB, BGR, RGBP, NV12 '
                             'or JPEG)')
        with self._lock:
            if id is None:
                taken = set(self._cameras)
                id = next(f"cam{n}" for n in range(len(taken) + 1) if f"cam{n}" not in taken)
        if not isinstance(id, str):
            raise ValueError(f"id: expected a string, got {id!r}")
        camera = {"url": url, "buffer_size": buffer_size, "decode": decode}
        camera.setdefault("gpu", self.gpu)
        settings.setdefault("fps", 0)
        camera.update(settings)
        try:
            text = json.dumps(camera)
        except (TypeError, ValueError) as e:
            raise ValueError(f"expected strings and numbers: {e}") from None
        error = _lib.error_buffer()
        code = _add(self._handle(), id.encode(), text.encode(), format.encode(), error,
                    len(error))
        if code == _CLOSED:
            self._raise(code, error)
        if code != 0:
            raise ValueError(_lib.message(error))
        result = Camera(self, id, int(buffer_size), format)
        with self._lock:
            self._cameras[id] = result
        return result

    def load(self, path, format="RGBP"):
        """Adds and starts every camera of the cameras.yaml at @path (all or
        none); ValueError with file:line and key for a bad file. Returns
        their Cameras."""
        if format not in FORMATS:
            raise ValueError(f'format: unknown value "{format}" (expected RGB, BGR, RGBP, NV12 '
                             'or JPEG)')
        ids = _void_p()
        error = _lib.error_buffer()
        code = _load(self._handle(), str(path).encode(), format.encode(), ctypes.byref(ids), error,
                     len(error))
        if code == _CLOSED:
            self._raise(code, error)
        if code != 0:
            raise ValueError(_lib.message(error))
        added = []
        for camera_id in json.loads(_take_string(ids.value)):
            status = Camera(self, camera_id, 0, format)
            status.buffer_size = status.status()["buffer_size"]
            added.append(status)
        with self._lock:
            for camera in added:
                self._cameras[camera.id] = camera
        return added

    def remove(self, camera_id):
        """Stops and forgets camera @camera_id (KeyError if unknown)."""
        error = _lib.error_buffer()
        code = _remove(self._handle(), str(camera_id).encode(), error, len(error))
        if code != 0:
            self._raise(code, error, camera_id)
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
        if camera is not None:
            camera.on_frame(None)

    def ids(self):
        """The cameras' ids, in the order added."""
        return json.loads(_take_string(_list(self._handle())) or "[]")

    def __getitem__(self, camera_id):
        with self._lock:
            camera = self._cameras.get(camera_id)
        if camera is None:
            raise KeyError(camera_id)
        return camera

    def __contains__(self, camera_id):
        with self._lock:
            return camera_id in self._cameras

    def __iter__(self):
        with self._lock:
            return iter(list(self._cameras.values()))

    def __len__(self):
        with self._lock:
            return len(self._cameras)

    def __repr__(self):
        state = "closed" if self._closed else f"{len(self)} cameras"
        return f"<gpurtsp.Cameras gpu={self.gpu} {state}>"
