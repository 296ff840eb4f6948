// SPDX-License-Identifier: MIT
#include "jpegenc/nvjpeg-loader.h"

#include "core/library-loader.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace gpurtsp::nvjpeg {

/* The layouts nvJPEG's ABI fixes (LP64): a C enum is an int, and
 * nvjpegImage_t is four pointers followed by four size_t. */
static_assert(sizeof(nvjpegStatus_t) == sizeof(int));
static_assert(sizeof(nvjpegChromaSubsampling_t) == sizeof(int));
static_assert(sizeof(nvjpegInputFormat_t) == sizeof(int));
static_assert(sizeof(libraryPropertyType) == sizeof(int));
static_assert(sizeof(nvjpegImage_t) == NVJPEG_MAX_COMPONENT * (sizeof(void *) + sizeof(size_t)));
static_assert(offsetof(nvjpegImage_t, pitch) == NVJPEG_MAX_COMPONENT * sizeof(void *));

namespace {

/* Loads @file into @api: every entry point gpujpegenc cannot work without,
 * and the optional nvjpegEncode and nvjpegEncodeGetBufferSize. */
bool load_entry_points(const char *file, Api &api, std::string &why) {
  return load_library(file,
                      {
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegGetProperty),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegCreateSimple),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegDestroy),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderStateCreate),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderStateDestroy),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderParamsCreate),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderParamsDestroy),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderParamsSetQuality),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncoderParamsSetSamplingFactors),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncodeYUV),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncodeImage),
                          GPURTSP_MANDATORY_SYMBOL(api, nvjpegEncodeRetrieveBitstream),
                          GPURTSP_OPTIONAL_SYMBOL(api, nvjpegEncode),
                          GPURTSP_OPTIONAL_SYMBOL(api, nvjpegEncodeGetBufferSize),
                      },
                      why);
}

} // namespace

std::vector<std::string> default_candidates() {
  std::vector<std::string> candidates;
  if (const char *list = std::getenv("GPURTSP_NVJPEG_LIBRARY"); list && *list) {
    std::string rest(list);
    for (size_t start = 0; start <= rest.size();) {
      size_t end = rest.find(':', start);
      if (end == std::string::npos)
        end = rest.size();
      if (end > start)
        candidates.push_back(rest.substr(start, end - start));
      start = end + 1;
    }
    return candidates;
  }
  for (const char *dir : {"", "/usr/local/cuda/lib64/"})
    for (const char *soname : {"libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so.11"})
      candidates.push_back(std::string(dir) + soname);
  return candidates;
}

std::unique_ptr<Api> load(const std::vector<std::string> &candidates, std::string &why) {
  why.clear();
  for (const std::string &candidate : candidates) {
    auto api = std::make_unique<Api>();
    std::string failure;
    if (!load_entry_points(candidate.c_str(), *api, failure)) {
      why += (why.empty() ? "" : "; ") + failure;
      continue;
    }
    /* GPURTSP_NVJPEG_NO_NV12 makes a library that takes NV12 behave like one
     * that doesn't, so the de-interleave path can be tested anywhere. */
    if (std::getenv("GPURTSP_NVJPEG_NO_NV12"))
      api->nvjpegEncode = nullptr;
    for (int property : {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL}) {
      api->version[property] = -1;
      api->nvjpegGetProperty(static_cast<libraryPropertyType>(property), &api->version[property]);
    }
    api->library = candidate;
    why.clear();
    return api;
  }
  if (candidates.empty())
    why = "no nvJPEG library to try (GPURTSP_NVJPEG_LIBRARY is empty)";
  return nullptr;
}

const Api *api(std::string &why) {
  static std::once_flag once;
  static std::unique_ptr<Api> loaded; /* written once under `once` */
  static std::string failure;         /* likewise */
  std::call_once(once, [] {
    loaded = load(default_candidates(), failure);
    if (!loaded)
      failure = "nvJPEG could not be loaded (" + failure +
                "); install the CUDA toolkit's libnvjpeg or point GPURTSP_NVJPEG_LIBRARY at it";
  });
  if (!loaded)
    why = failure;
  return loaded.get();
}

const char *status_name(nvjpegStatus_t status) {
  switch (status) {
#define GPURTSP_STATUS(name)                                                                       \
  case name:                                                                                       \
    return #name;
    GPURTSP_STATUS(NVJPEG_STATUS_SUCCESS)
    GPURTSP_STATUS(NVJPEG_STATUS_NOT_INITIALIZED)
    GPURTSP_STATUS(NVJPEG_STATUS_INVALID_PARAMETER)
    GPURTSP_STATUS(NVJPEG_STATUS_BAD_JPEG)
    GPURTSP_STATUS(NVJPEG_STATUS_JPEG_NOT_SUPPORTED)
    GPURTSP_STATUS(NVJPEG_STATUS_ALLOCATOR_FAILURE)
    GPURTSP_STATUS(NVJPEG_STATUS_EXECUTION_FAILED)
    GPURTSP_STATUS(NVJPEG_STATUS_ARCH_MISMATCH)
    GPURTSP_STATUS(NVJPEG_STATUS_INTERNAL_ERROR)
    GPURTSP_STATUS(NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED)
    GPURTSP_STATUS(NVJPEG_STATUS_INCOMPLETE_BITSTREAM)
#undef GPURTSP_STATUS
  }
  return "unknown nvJPEG status";
}

} // namespace gpurtsp::nvjpeg
