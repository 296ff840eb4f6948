// SPDX-License-Identifier: MIT
/* gpurtsp: nvJPEG, loaded at run time.
 *
 * Debian packages no nvJPEG header and the plugin must load where nvJPEG is
 * absent, so these are the project's own declarations of the few types and
 * entry points gpujpegenc uses, written from NVIDIA's nvJPEG documentation
 * (docs.nvidia.com/cuda/nvjpeg, "nvJPEG Type Declarations" and "nvJPEG
 * Encoder Type Declarations"). They are nvJPEG's C ABI: enum values, struct
 * layouts and signatures must match it exactly;
 * tests/elements/jpegenc/test-nvjpeg-loader.cpp pins them to the documented
 * values. Nothing here needs CUDA or GStreamer;
 * the library is opened by library-loader.h. */
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

/* cudaStream_t and CUstream are both `struct CUstream_st *`: a CUstream from
 * gst-cuda can be passed where nvJPEG takes a cudaStream_t. */
struct CUstream_st;

namespace gpurtsp::nvjpeg {

using cudaStream_t = CUstream_st *;

enum nvjpegStatus_t : int {
  NVJPEG_STATUS_SUCCESS = 0,
  NVJPEG_STATUS_NOT_INITIALIZED = 1,
  NVJPEG_STATUS_INVALID_PARAMETER = 2,
  NVJPEG_STATUS_BAD_JPEG = 3,
  NVJPEG_STATUS_JPEG_NOT_SUPPORTED = 4,
  NVJPEG_STATUS_ALLOCATOR_FAILURE = 5,
  NVJPEG_STATUS_EXECUTION_FAILED = 6,
  NVJPEG_STATUS_ARCH_MISMATCH = 7,
  NVJPEG_STATUS_INTERNAL_ERROR = 8,
  NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED = 9,
  NVJPEG_STATUS_INCOMPLETE_BITSTREAM = 10,
};

enum nvjpegChromaSubsampling_t : int {
  NVJPEG_CSS_444 = 0,
  NVJPEG_CSS_422 = 1,
  NVJPEG_CSS_420 = 2,
  NVJPEG_CSS_440 = 3,
  NVJPEG_CSS_411 = 4,
  NVJPEG_CSS_410 = 5,
  NVJPEG_CSS_GRAY = 6,
  NVJPEG_CSS_410V = 7,
  NVJPEG_CSS_UNKNOWN = -1,
};

/* Only the input formats gpujpegenc hands over. NV12 is accepted by
 * nvjpegEncode() alone, and only by libraries that export it. */
enum nvjpegInputFormat_t : int {
  NVJPEG_INPUT_RGB = 3,  /* planar R, G, B */
  NVJPEG_INPUT_BGR = 4,  /* planar B, G, R */
  NVJPEG_INPUT_RGBI = 5, /* interleaved RGB in channel[0] */
  NVJPEG_INPUT_BGRI = 6, /* interleaved BGR in channel[0] */
  NVJPEG_INPUT_NV12 = 8, /* Y in channel[0], interleaved CbCr in channel[1] */
};

/* libraryPropertyType from the CUDA toolkit's library_types.h. */
enum libraryPropertyType : int {
  MAJOR_VERSION = 0,
  MINOR_VERSION = 1,
  PATCH_LEVEL = 2,
};

constexpr int NVJPEG_MAX_COMPONENT = 4;

/* Device pointers and row pitches (bytes) of an image's planes. */
struct nvjpegImage_t {
  unsigned char *channel[NVJPEG_MAX_COMPONENT];
  size_t pitch[NVJPEG_MAX_COMPONENT];
};

struct nvjpegHandle;
using nvjpegHandle_t = nvjpegHandle *;
struct nvjpegEncoderState;
using nvjpegEncoderState_t = nvjpegEncoderState *;
struct nvjpegEncoderParams;
using nvjpegEncoderParams_t = nvjpegEncoderParams *;

/* The loaded library's entry points, named as in nvJPEG so call sites read
 * like NVIDIA's documentation. */
struct Api {
  nvjpegStatus_t (*nvjpegGetProperty)(libraryPropertyType type, int *value);
  nvjpegStatus_t (*nvjpegCreateSimple)(nvjpegHandle_t *handle);
  nvjpegStatus_t (*nvjpegDestroy)(nvjpegHandle_t handle);
  nvjpegStatus_t (*nvjpegEncoderStateCreate)(nvjpegHandle_t handle, nvjpegEncoderState_t *state,
                                             cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncoderStateDestroy)(nvjpegEncoderState_t state);
  nvjpegStatus_t (*nvjpegEncoderParamsCreate)(nvjpegHandle_t handle, nvjpegEncoderParams_t *params,
                                              cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncoderParamsDestroy)(nvjpegEncoderParams_t params);
  nvjpegStatus_t (*nvjpegEncoderParamsSetQuality)(nvjpegEncoderParams_t params, const int quality,
                                                  cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncoderParamsSetSamplingFactors)(
      nvjpegEncoderParams_t params, const nvjpegChromaSubsampling_t subsampling,
      cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncodeYUV)(nvjpegHandle_t handle, nvjpegEncoderState_t state,
                                    const nvjpegEncoderParams_t params, const nvjpegImage_t *source,
                                    nvjpegChromaSubsampling_t subsampling, int width, int height,
                                    cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncodeImage)(nvjpegHandle_t handle, nvjpegEncoderState_t state,
                                      const nvjpegEncoderParams_t params,
                                      const nvjpegImage_t *source, nvjpegInputFormat_t format,
                                      int width, int height, cudaStream_t stream);
  nvjpegStatus_t (*nvjpegEncodeRetrieveBitstream)(nvjpegHandle_t handle, nvjpegEncoderState_t state,
                                                  unsigned char *data, size_t *length,
                                                  cudaStream_t stream);
  /* Optional (newer libraries only); nullptr where absent, or when
   * GPURTSP_NVJPEG_NO_NV12 is set. The one entry point that takes
   * NVJPEG_INPUT_NV12. */
  nvjpegStatus_t (*nvjpegEncode)(nvjpegHandle_t handle, nvjpegEncoderState_t state,
                                 const nvjpegEncoderParams_t params, const nvjpegImage_t *source,
                                 nvjpegChromaSubsampling_t subsampling, nvjpegInputFormat_t format,
                                 int width, int height, cudaStream_t stream);

  /* Optional: the largest JPEG an image of this size can give with these
   * parameters, so the bitstream is fetched in one call into a buffer known
   * to be large enough (gpujpegenc falls back to asking the length first). */
  nvjpegStatus_t (*nvjpegEncodeGetBufferSize)(nvjpegHandle_t handle,
                                              const nvjpegEncoderParams_t params, int width,
                                              int height, size_t *max_stream_length);

  std::string library; /* the file that was loaded */
  int version[3];      /* major, minor, patch */
};

/* The process-wide nvJPEG, loaded on first use from default_candidates() and
 * never unloaded (its statically linked CUDA runtime is not safe to unload).
 * Thread-safe. Returns nullptr when no candidate loads; @why then says what
 * was tried and why each failed. */
const Api *api(std::string &why);

/* Loads the first of @candidates (file names or paths) that opens
 * and exports every required entry point. Not cached: for api() and tests. */
std::unique_ptr<Api> load(const std::vector<std::string> &candidates, std::string &why);

/* $GPURTSP_NVJPEG_LIBRARY (colon-separated files) when set; otherwise
 * libnvjpeg.so.13, .12, .11 through the linker's search path, then the same
 * names in /usr/local/cuda/lib64, where toolkit installs put them. */
std::vector<std::string> default_candidates();

/* "NVJPEG_STATUS_INVALID_PARAMETER" for NVJPEG_STATUS_INVALID_PARAMETER; never NULL. */
const char *status_name(nvjpegStatus_t status);

} // namespace gpurtsp::nvjpeg
