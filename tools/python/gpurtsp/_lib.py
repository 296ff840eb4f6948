# SPDX-License-Identifier: MIT
"""Loads libgpurtsp-capi, the C ABI under the package, with ctypes.

Where: $GPURTSP_CAPI_LIBRARY (``meson devenv`` sets it to the build tree's
copy), else the file next to this package (``meson install``). CDLL calls
release the GIL, so a call that waits (a JPEG, a frame map) never blocks
other Python threads.
"""
import ctypes
import os

LIBRARY_NAME = "libgpurtsp-capi.so"


def _path():
    return os.environ.get("GPURTSP_CAPI_LIBRARY") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


lib = ctypes.CDLL(_path())

ERROR_SIZE = 512


def error_buffer():
    """A buffer the C functions write their error message into."""
    return ctypes.create_string_buffer(ERROR_SIZE)


def message(buffer):
    return buffer.value.decode("utf-8", "replace")
