// SPDX-License-Identifier: MIT
/* One process-wide GstCudaContext per CUDA device, wrapping the device's
 * primary context: the context the CUDA runtime, and so PyTorch and CuPy,
 * use. Memory gpurtsp allocates in it is memory their kernels can read, and
 * their streams can wait on our events. */
#pragma once

#include "capi/capi.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The GstCudaContext * for CUDA device @device (transfer full: the caller
 * unrefs its reference; the process keeps one for its whole life, so every
 * call returns the same context). Made on first use: the driver is loaded by
 * gst-cuda's loader, the primary context retained (never released: torch and
 * CuPy share it until the process exits) and wrapped with
 * gst_cuda_context_new_wrapped(). nullptr and @error without a driver, a
 * device of that ordinal, or a build without CUDA. */
GPURTSP_CAPI void *gpurtsp_capi_cuda_context(int device, char *error, size_t error_size);

/* Number of CUDA devices, 0 when there is no driver or no device (or a build
 * without CUDA); never fails. */
GPURTSP_CAPI int gpurtsp_capi_cuda_device_count(void);

#ifdef __cplusplus
}

#if GPURTSP_HAVE_CUDA
#include <cuda.h>

namespace gpurtsp::capi {

/* Driver entry points gst-cuda 1.22's loader does not wrap, resolved from the
 * libcuda.so.1 gst-cuda loaded (nullptr slots when there is none). */
struct DriverExtras {
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*cuEventCreate)(CUevent *, unsigned int) = nullptr;
  CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*cuEventDestroy)(CUevent) = nullptr;
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned int) = nullptr;
};

/* Loads them once; nullptr and @why when the driver is missing. */
const DriverExtras *driver_extras(std::string &why);

} // namespace gpurtsp::capi
#endif
#endif
