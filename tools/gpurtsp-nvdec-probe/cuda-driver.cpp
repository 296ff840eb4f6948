#include "cuda-driver.h"

#include <dlfcn.h>

namespace probe {

namespace {
template <typename Fn>
bool resolve(void *library, const char *name, Fn &out, std::string &why) {
  out = reinterpret_cast<Fn>(dlsym(library, name));
  if (!out)
    why = std::string("libcuda.so.1 lacks ") + name;
  return out != nullptr;
}
} // namespace

bool CudaDriver::load(std::string &why) {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *err = dlerror();
    why = std::string("cannot load libcuda.so.1: ") + (err ? err : "unknown error");
    return false;
  }
  bool ok = resolve(library, "cuInit", init, why) &&
            resolve(library, "cuDriverGetVersion", driver_get_version, why) &&
            resolve(library, "cuDeviceGet", device_get, why) &&
            resolve(library, "cuDeviceGetName", device_get_name, why) &&
            resolve(library, "cuCtxCreate_v2", ctx_create, why) &&
            resolve(library, "cuCtxDestroy_v2", ctx_destroy, why) &&
            resolve(library, "cuCtxPushCurrent_v2", ctx_push_current, why) &&
            resolve(library, "cuCtxPopCurrent_v2", ctx_pop_current, why) &&
            resolve(library, "cuMemGetInfo_v2", mem_get_info, why) &&
            resolve(library, "cuMemAlloc_v2", mem_alloc, why) &&
            resolve(library, "cuMemFree_v2", mem_free, why) &&
            resolve(library, "cuMemcpy2DAsync_v2", memcpy_2d_async, why) &&
            resolve(library, "cuMemcpyDtoH_v2", memcpy_dtoh, why) &&
            resolve(library, "cuStreamCreate", stream_create, why) &&
            resolve(library, "cuStreamDestroy_v2", stream_destroy, why) &&
            resolve(library, "cuStreamSynchronize", stream_synchronize, why) &&
            resolve(library, "cuGetErrorName", get_error_name, why);
  if (!ok)
    return false;
  CUresult ret = init(0);
  if (ret != CUDA_SUCCESS) {
    why = "cuInit failed: " + error_name(ret);
    return false;
  }
  return true;
}

std::string CudaDriver::error_name(CUresult result) const {
  const char *name = nullptr;
  if (get_error_name && get_error_name(result, &name) == CUDA_SUCCESS && name)
    return name;
  return "CUresult " + std::to_string(static_cast<int>(result));
}

} // namespace probe
