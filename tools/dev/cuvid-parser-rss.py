#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host memory (RSS) of NVIDIA's cuvid video parser, one per camera in
gpukeyframedec: creates N parsers per codec, feeds each the first seconds of
a clip (the camera's parameter sets and pictures) and prints the RSS they add.

Needs only the driver's libnvcuvid.so.1 (no GStreamer, no GPU work: the parser
runs on the CPU; its callbacks decode nothing). docs/scale.md says what the
figures explain.

Usage: cuvid-parser-rss.py [--parsers N] [--bytes B] CLIP.h264 [CLIP.h265 ...]
(the codec follows the name: .h265/.hevc/.265 is H.265). Exit 77 without
libnvcuvid.so.1.
"""

import argparse
import ctypes
import sys

CODEC_H264, CODEC_HEVC = 4, 8  # cudaVideoCodec
CUVID_PKT_ENDOFSTREAM = 0x01

# int CUDAAPI callback(void *user_data, void *info)
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class ParserParams(ctypes.Structure):  # CUVIDPARSERPARAMS (nvcuvid.h)
    _fields_ = [("CodecType", ctypes.c_int), ("ulMaxNumDecodeSurfaces", ctypes.c_uint),
                ("ulClockRate", ctypes.c_uint), ("ulErrorThreshold", ctypes.c_uint),
                ("ulMaxDisplayDelay", ctypes.c_uint), ("bits", ctypes.c_uint),
                ("uReserved1", ctypes.c_uint * 4), ("pUserData", ctypes.c_void_p),
                ("pfnSequenceCallback", CALLBACK), ("pfnDecodePicture", CALLBACK),
                ("pfnDisplayPicture", CALLBACK), ("pfnGetOperatingPoint", ctypes.c_void_p),
                ("pfnGetSEIMsg", ctypes.c_void_p), ("pvReserved2", ctypes.c_void_p * 5),
                ("pExtVideoInfo", ctypes.c_void_p)]


class Packet(ctypes.Structure):  # CUVIDSOURCEDATAPACKET
    _fields_ = [("flags", ctypes.c_ulong), ("payload_size", ctypes.c_ulong),
                ("payload", ctypes.c_void_p), ("timestamp", ctypes.c_longlong)]


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


# As gpukeyframedec's: one decode surface, nothing decoded or displayed.
on_sequence = CALLBACK(lambda user, info: 1)
on_picture = CALLBACK(lambda user, info: 1)


def measure(nvcuvid, clip, parsers, feed_bytes):
    codec = CODEC_HEVC if clip.endswith((".h265", ".hevc", ".265")) else CODEC_H264
    with open(clip, "rb") as f:
        data = f.read(feed_bytes)
    buffer = ctypes.create_string_buffer(data, len(data))
    params = ParserParams(CodecType=codec, ulMaxNumDecodeSurfaces=1, ulMaxDisplayDelay=0,
                          pfnSequenceCallback=on_sequence, pfnDecodePicture=on_picture,
                          pfnDisplayPicture=on_picture)
    handles = []
    before = rss_mib()
    for _ in range(parsers):
        handle = ctypes.c_void_p()
        if nvcuvid.cuvidCreateVideoParser(ctypes.byref(handle), ctypes.byref(params)) != 0:
            sys.exit("cuvidCreateVideoParser failed")
        handles.append(handle)
    created = rss_mib()
    chunk = 4096  # as packets arrive, not the clip in one piece
    for handle in handles:
        for offset in range(0, len(data), chunk):
            packet = Packet(0, min(chunk, len(data) - offset),
                            ctypes.addressof(buffer) + offset, 0)
            nvcuvid.cuvidParseVideoData(handle, ctypes.byref(packet))
    fed = rss_mib()
    for handle in handles:
        nvcuvid.cuvidDestroyVideoParser(handle)
    name = "H.265" if codec == CODEC_HEVC else "H.264"
    print(f"{name}: {parsers} parsers: {(created - before) / parsers:.3f} MiB each when created, "
          f"{(fed - before) / parsers:.3f} MiB each after {len(data)} bytes of {clip}; "
          f"{rss_mib() - before:.1f} MiB left after destroying them", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parsers", type=int, default=200)
    p.add_argument("--bytes", type=int, default=1 << 20, help="bytes of each clip fed")
    p.add_argument("clips", nargs="+")
    args = p.parse_args()
    try:
        nvcuvid = ctypes.CDLL("libnvcuvid.so.1")
    except OSError as error:
        print(f"no libnvcuvid.so.1 ({error}): skipped")
        return 77
    nvcuvid.cuvidCreateVideoParser.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    nvcuvid.cuvidParseVideoData.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    nvcuvid.cuvidDestroyVideoParser.argtypes = [ctypes.c_void_p]
    for clip in args.clips:
        measure(nvcuvid, clip, args.parsers, args.bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
