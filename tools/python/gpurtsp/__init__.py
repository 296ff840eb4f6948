# SPDX-License-Identifier: MIT
"""gpurtsp: every camera's newest frame as a zero-copy PyTorch/CuPy/NumPy
tensor, JPEG bytes and status, on gpurtsp's camera core (docs/python.md)."""
from .cameras import Camera, Cameras, CamerasClosed
from .frame import Frame, frame_from_sample
from .jpeg import encode_jpeg

__all__ = ["Camera", "Cameras", "CamerasClosed", "Frame", "frame_from_sample", "encode_jpeg"]
