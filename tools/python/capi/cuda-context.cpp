// SPDX-License-Identifier: MIT
#include "capi/cuda-context.h"

#if GPURTSP_HAVE_CUDA
#include "core/gpu-error.h"
#include "core/gpurtsp-cuda.h"
#include "core/library-loader.h"

#include <map>
#include <mutex>
#endif

#if GPURTSP_HAVE_CUDA
namespace gpurtsp::capi {

const DriverExtras *driver_extras(std::string &why) {
  static std::once_flag once;
  static DriverExtras table;
  static bool loaded = false;
  static std::string failure;
  std::call_once(once, [] {
    if (!cuda_device_available(failure))
      return;
    /* libcuda.so.1 is loaded already (gst-cuda's loader opened it): this
     * returns the same library and resolves the entry points it lacks. */
    loaded = load_library("libcuda.so.1",
                          {GPURTSP_MANDATORY_SYMBOL(table, cuDevicePrimaryCtxRetain),
                           GPURTSP_MANDATORY_SYMBOL(table, cuEventCreate),
                           GPURTSP_MANDATORY_SYMBOL(table, cuEventRecord),
                           GPURTSP_MANDATORY_SYMBOL(table, cuEventDestroy),
                           GPURTSP_MANDATORY_SYMBOL(table, cuStreamWaitEvent)},
                          failure);
  });
  if (!loaded) {
    why = failure;
    return nullptr;
  }
  return &table;
}

} // namespace gpurtsp::capi
#endif

extern "C" int gpurtsp_capi_cuda_device_count(void) {
#if GPURTSP_HAVE_CUDA
  std::string why;
  if (!gpurtsp::cuda_device_available(why))
    return 0;
  int count = 0;
  return CuDeviceGetCount(&count) == CUDA_SUCCESS ? count : 0;
#else
  return 0;
#endif
}

extern "C" void *gpurtsp_capi_cuda_context(int device, char *error, size_t error_size) {
  using gpurtsp::capi::set_error;
#if GPURTSP_HAVE_CUDA
  /* Never freed: contexts live as long as the process, and a static map's
   * destructor would unref them after the driver may have shut down. */
  static std::mutex lock;
  static auto *contexts = new std::map<int, GstCudaContext *>; /* guarded by lock */

  std::lock_guard<std::mutex> guard(lock);
  if (auto it = contexts->find(device); it != contexts->end())
    return gst_object_ref(it->second);

  GError *init_error = nullptr;
  if (!gst_init_check(nullptr, nullptr, &init_error)) {
    set_error(error, error_size,
              std::string("GStreamer did not initialise: ") + init_error->message);
    g_error_free(init_error);
    return nullptr;
  }
  std::string why;
  const gpurtsp::capi::DriverExtras *driver = gpurtsp::capi::driver_extras(why);
  if (!driver) {
    set_error(error, error_size, "no CUDA: " + why);
    return nullptr;
  }
  int count = 0;
  CUresult result = CuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS || device < 0 || device >= count) {
    set_error(error, error_size,
              "no CUDA device " + std::to_string(device) + " (" + std::to_string(count) +
                  " device(s) visible)");
    return nullptr;
  }
  CUdevice handle = 0;
  CUcontext primary = nullptr;
  result = CuDeviceGet(&handle, device);
  if (result == CUDA_SUCCESS)
    result = driver->cuDevicePrimaryCtxRetain(&primary, handle);
  if (result != CUDA_SUCCESS) {
    set_error(error, error_size,
              std::string("cuDevicePrimaryCtxRetain failed: ") + gpurtsp::cuda_error_name(result));
    return nullptr;
  }
  GstCudaContext *ctx = gst_cuda_context_new_wrapped(primary, handle);
  if (!ctx) {
    set_error(error, error_size,
              "gst_cuda_context_new_wrapped failed for device " + std::to_string(device));
    return nullptr;
  }
  /* Shared by every pipeline of the process: never sink it into one. */
  gst_object_ref_sink(ctx);
  (*contexts)[device] = ctx;
  return gst_object_ref(ctx);
#else
  (void)device;
  set_error(error, error_size, "gpurtsp was built without CUDA (-Dcuda=disabled)");
  return nullptr;
#endif
}
