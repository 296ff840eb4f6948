// SPDX-License-Identifier: MIT
#include "core/gpu-error.h"

#include <gst/cuda/gstcudautils.h>

namespace gpurtsp {

std::string GpuError::message() const {
  if (!call || !*call)
    return detail;
  std::string text = std::string(call) + " failed";
  if (!code.empty())
    text += ": " + code;
  if (!detail.empty())
    text += (code.empty() ? ": " : " (") + detail + (code.empty() ? "" : ")");
  return text;
}

GpuError GpuError::context_push() {
  return {"cuCtxPushCurrent", "", "the CUDA context could not be made current"};
}

const char *cuda_error_name(CUresult result) {
  const char *name = nullptr;
  if (CuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return "unknown CUDA error";
  return name;
}

bool check(CUresult result, const char *call, GpuError &error) {
  if (result == CUDA_SUCCESS)
    return true;
  error = {call, cuda_error_name(result), {}};
  return false;
}

} // namespace gpurtsp
