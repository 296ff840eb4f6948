// SPDX-License-Identifier: MIT
#include "cuda-driver.h"

#include "core/library-loader.h"

#include <mutex>

namespace probe {

namespace {

bool load(CudaDriver &driver, std::string &why) {
  using Symbol = gpurtsp::LibrarySymbol;
  if (!gpurtsp::load_library(
          "libcuda.so.1",
          {
              Symbol::mandatory_symbol("cuInit", driver.init),
              Symbol::mandatory_symbol("cuDriverGetVersion", driver.driver_get_version),
              Symbol::mandatory_symbol("cuDeviceGet", driver.device_get),
              Symbol::mandatory_symbol("cuDeviceGetName", driver.device_get_name),
              Symbol::mandatory_symbol("cuCtxCreate_v2", driver.ctx_create),
              Symbol::mandatory_symbol("cuCtxDestroy_v2", driver.ctx_destroy),
              Symbol::mandatory_symbol("cuCtxPushCurrent_v2", driver.ctx_push_current),
              Symbol::mandatory_symbol("cuCtxPopCurrent_v2", driver.ctx_pop_current),
              Symbol::mandatory_symbol("cuMemGetInfo_v2", driver.mem_get_info),
              Symbol::mandatory_symbol("cuMemAlloc_v2", driver.mem_alloc),
              Symbol::mandatory_symbol("cuMemFree_v2", driver.mem_free),
              Symbol::mandatory_symbol("cuMemcpy2DAsync_v2", driver.memcpy_2d_async),
              Symbol::mandatory_symbol("cuMemcpyDtoH_v2", driver.memcpy_dtoh),
              Symbol::mandatory_symbol("cuStreamCreate", driver.stream_create),
              Symbol::mandatory_symbol("cuStreamDestroy_v2", driver.stream_destroy),
              Symbol::mandatory_symbol("cuStreamSynchronize", driver.stream_synchronize),
              Symbol::mandatory_symbol("cuGetErrorName", driver.get_error_name),
          },
          why))
    return false;
  CUresult ret = driver.init(0);
  if (ret != CUDA_SUCCESS) {
    why = "cuInit failed: " + driver.error_name(ret);
    return false;
  }
  return true;
}

} // namespace

const CudaDriver *CudaDriver::api(std::string &why) {
  static std::once_flag once;
  static CudaDriver loaded{};
  static bool ok = false;
  static std::string failure;
  std::call_once(once, [] { ok = load(loaded, failure); });
  if (!ok) {
    why = failure;
    return nullptr;
  }
  return &loaded;
}

std::string CudaDriver::error_name(CUresult result) const {
  const char *name = nullptr;
  if (get_error_name && get_error_name(result, &name) == CUDA_SUCCESS && name)
    return name;
  return "CUresult " + std::to_string(static_cast<int>(result));
}

} // namespace probe
