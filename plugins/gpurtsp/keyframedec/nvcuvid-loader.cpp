// SPDX-License-Identifier: MIT
#include "keyframedec/nvcuvid-loader.h"

#include "core/library-loader.h"

#include <mutex>

namespace gpurtsp::nvcuvid {

bool load(const char *library, Api &out, std::string &why) {
  Api api{};
  if (!load_library(library,
                    {
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidCreateVideoParser),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidParseVideoData),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidDestroyVideoParser),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidGetDecoderCaps),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidCreateDecoder),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidDestroyDecoder),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidDecodePicture),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidMapVideoFrame64),
                        GPURTSP_MANDATORY_SYMBOL(api, cuvidUnmapVideoFrame64),
                    },
                    why)) {
    why += " (the NVIDIA driver's NVDECODE library)";
    return false;
  }
  out = api;
  return true;
}

const Api *api(std::string &why) {
  static std::once_flag once;
  static Api loaded{};
  static bool ok = false;
  static std::string failure;
  std::call_once(once, [] { ok = load("libnvcuvid.so.1", loaded, failure); });
  if (!ok) {
    why = failure;
    return nullptr;
  }
  return &loaded;
}

} // namespace gpurtsp::nvcuvid
