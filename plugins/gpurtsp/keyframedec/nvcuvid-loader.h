// SPDX-License-Identifier: MIT
/* gpurtsp: run-time loader for the NVDECODE API (libnvcuvid.so.1).
 *
 * The types are NVIDIA's own, from the Video Codec SDK headers vendored in
 * nvidia/ (MIT licence, the copy GStreamer's nvcodec vendors). The entry
 * points are resolved at run time into Api, so the plugin links no NVIDIA
 * library and loads on machines without the driver. */
#pragma once

#include "keyframedec/nvidia/nvcuvid.h"

#include <string>

namespace gpurtsp::nvcuvid {

/* The entry points of libnvcuvid.so.1 gpurtsp calls, named as in the SDK so
 * call sites read like NVIDIA's documentation. The map/unmap pair is the
 * 64-bit one (the unsuffixed names are the 32-bit pointer variants). */
struct Api {
  decltype(&::cuvidCreateVideoParser) cuvidCreateVideoParser;
  decltype(&::cuvidParseVideoData) cuvidParseVideoData;
  decltype(&::cuvidDestroyVideoParser) cuvidDestroyVideoParser;
  decltype(&::cuvidGetDecoderCaps) cuvidGetDecoderCaps;
  decltype(&::cuvidCreateDecoder) cuvidCreateDecoder;
  decltype(&::cuvidDestroyDecoder) cuvidDestroyDecoder;
  decltype(&::cuvidDecodePicture) cuvidDecodePicture;
  decltype(&::cuvidMapVideoFrame64) cuvidMapVideoFrame64;
  decltype(&::cuvidUnmapVideoFrame64) cuvidUnmapVideoFrame64;
};

/* Loads libnvcuvid.so.1 once per process and returns its entry points, or
 * nullptr with @why saying what is missing (same answer on every call). */
const Api *api(std::string &why);

/* Loads @library (a file name or path) into @out. Used by api() and by tests;
 * the library stays loaded for the life of the process. On failure returns
 * false and sets @why. */
bool load(const char *library, Api &out, std::string &why);

} // namespace gpurtsp::nvcuvid
