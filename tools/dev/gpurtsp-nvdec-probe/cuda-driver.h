// SPDX-License-Identifier: MIT
/* gpurtsp-nvdec-probe: the few CUDA driver calls the probe makes, loaded from
 * libcuda.so.1 at run time (gst-cuda 1.22's loader lacks cuMemGetInfo). The
 * symbols are the versioned ones every driver since CUDA 4 exports. */
#pragma once

#include <cuda.h>

#include <string>

namespace probe {

struct CudaDriver {
  CUresult (*init)(unsigned int flags);
  CUresult (*driver_get_version)(int *version);
  CUresult (*device_get)(CUdevice *device, int ordinal);
  CUresult (*device_get_name)(char *name, int len, CUdevice device);
  CUresult (*ctx_create)(CUcontext *ctx, unsigned int flags, CUdevice device);
  CUresult (*ctx_destroy)(CUcontext ctx);
  CUresult (*ctx_push_current)(CUcontext ctx);
  CUresult (*ctx_pop_current)(CUcontext *ctx);
  CUresult (*mem_get_info)(size_t *free, size_t *total);
  CUresult (*mem_alloc)(CUdeviceptr *ptr, size_t size);
  CUresult (*mem_free)(CUdeviceptr ptr);
  CUresult (*memcpy_2d_async)(const CUDA_MEMCPY2D *copy, CUstream stream);
  CUresult (*memcpy_dtoh)(void *dst, CUdeviceptr src, size_t size);
  CUresult (*stream_create)(CUstream *stream, unsigned int flags);
  CUresult (*stream_destroy)(CUstream stream);
  CUresult (*stream_synchronize)(CUstream stream);
  CUresult (*get_error_name)(CUresult result, const char **name);

  /* Loads libcuda.so.1 and calls cuInit once per process; nullptr with
   * @why on failure (same answer on every call). */
  static const CudaDriver *api(std::string &why);
  /* "CUDA_ERROR_OUT_OF_MEMORY" for CUDA_ERROR_OUT_OF_MEMORY. */
  std::string error_name(CUresult result) const;
};

/* Makes @ctx current for the scope. */
class CtxScope {
public:
  CtxScope(const CudaDriver &cuda, CUcontext ctx) : cuda_(cuda) { cuda_.ctx_push_current(ctx); }
  ~CtxScope() {
    CUcontext popped;
    cuda_.ctx_pop_current(&popped);
  }
  CtxScope(const CtxScope &) = delete;
  CtxScope &operator=(const CtxScope &) = delete;

private:
  const CudaDriver &cuda_;
};

} // namespace probe
