// SPDX-License-Identifier: MIT
/* gpurtsp: the one failure value of the GPU-library layer.
 *
 * Every GPU helper (CUDA streams and memory, modules, nvJPEG encoders, NVDEC
 * sessions) reports a failure as a GpuError naming the call that failed and
 * its status code; check() builds one from a CUresult (jpegenc/ adds the
 * nvjpegStatus_t overload, so the ground floor needs no nvJPEG),
 * and elements post it with GPURTSP_GPU_ELEMENT_ERROR. */
#pragma once

#include <cuda.h>
#include <gst/gst.h>

#include <string>

namespace gpurtsp {

struct GpuError {
  /* The failed call, e.g. "cuStreamCreate"; "" when no call failed but the
   * GPU cannot do what was asked (detail says what). */
  const char *call = "";
  /* Its status code's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY"; may be empty. */
  std::string code;
  /* What the code alone does not say; may be empty. */
  std::string detail;

  /* "cuStreamCreate failed: CUDA_ERROR_OUT_OF_MEMORY", with " (detail)"
   * appended; "CALL failed: DETAIL" without a code; DETAIL without a call. */
  std::string message() const;

  /* A CUDA context that could not be made current (gst_cuda_context_push
   * failed in cuCtxPushCurrent): no later call is to blame. */
  static GpuError context_push();
};

/* "CUDA_ERROR_OUT_OF_MEMORY" for CUDA_ERROR_OUT_OF_MEMORY; never NULL. */
const char *cuda_error_name(CUresult result);

/* True for success; otherwise fills @error with @call and the status's name. */
bool check(CUresult result, const char *call, GpuError &error);

} // namespace gpurtsp

/* Posts @error (a GpuError) as an element error in @domain/@code, its message
 * in the debug half, e.g. "cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED". */
#define GPURTSP_GPU_ELEMENT_ERROR(element, domain, code, error)                                    \
  GST_ELEMENT_ERROR(element, domain, code, (NULL), ("%s", (error).message().c_str()))
