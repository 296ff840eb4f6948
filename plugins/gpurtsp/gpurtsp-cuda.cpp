#include "gpurtsp-cuda.h"

#include "weak-cache.hpp"

GST_DEBUG_CATEGORY_STATIC(gpurtsp_cuda_debug);
#define GST_CAT_DEFAULT gpurtsp_cuda_debug

namespace gpurtsp {

static void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(gpurtsp_cuda_debug, "gpurtspcuda", 0, "gpurtsp CUDA helpers");
  });
}

bool cuda_device_available(std::string &why) {
  init_debug();
  if (!gst_cuda_load_library()) {
    why = "the CUDA driver library (libcuda.so.1) could not be loaded";
    return false;
  }
  CUresult ret = CuInit(0);
  if (ret != CUDA_SUCCESS) {
    why = std::string("cuInit failed: ") + cuda_error_name(ret);
    return false;
  }
  int count = 0;
  ret = CuDeviceGetCount(&count);
  if (ret != CUDA_SUCCESS || count == 0) {
    why = ret != CUDA_SUCCESS ? std::string("cuDeviceGetCount failed: ") + cuda_error_name(ret)
                              : std::string("no CUDA device found");
    return false;
  }
  return true;
}

void sync_producer_stream(GstMemory *mem, CUstream own_stream) {
#if GST_CHECK_VERSION(1, 24, 0)
  if (!mem || !gst_is_cuda_memory(mem))
    return;
  GstCudaMemory *cmem = GST_CUDA_MEMORY_CAST(mem);
  GstCudaStream *producer = gst_cuda_memory_get_stream(cmem);
  if (producer && gst_cuda_stream_get_handle(producer) == own_stream)
    return;
  /* Synchronises only when the memory is flagged NEED_SYNC, then clears it. */
  gst_cuda_memory_sync(cmem);
#else
  /* gst-cuda 1.22's memory carries no stream: its producers synchronise
   * before pushing, so the content is complete by the time we see it. */
  (void)mem;
  (void)own_stream;
#endif
}

bool CudaStream::create(GstCudaContext *ctx, GpuError &error) {
  reset();
  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    error = GpuError::context_push();
    return false;
  }
  if (!check(CuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate", error)) {
    stream_ = nullptr;
    return false;
  }
  ctx_ = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  return true;
}

void CudaStream::reset() {
  if (!stream_)
    return;
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      CuStreamDestroy(stream_);
  }
  stream_ = nullptr;
  gst_clear_object(&ctx_);
}

bool PinnedBuffer::ensure(GstCudaContext *ctx, size_t size, GpuError &error) {
  if (data_ && size_ >= size && ctx_ == ctx)
    return true;
  reset();
  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    error = GpuError::context_push();
    return false;
  }
  void *ptr = nullptr;
  /* gst-cuda 1.22 declares the size as unsigned int. */
  if (size > G_MAXUINT)
    return check(CUDA_ERROR_INVALID_VALUE, "cuMemAllocHost", error);
  if (!check(CuMemAllocHost(&ptr, static_cast<unsigned int>(size)), "cuMemAllocHost", error))
    return false;
  data_ = static_cast<guint8 *>(ptr);
  size_ = size;
  ctx_ = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  return true;
}

void PinnedBuffer::reset() {
  if (!data_)
    return;
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      CuMemFreeHost(data_);
  }
  data_ = nullptr;
  size_ = 0;
  gst_clear_object(&ctx_);
}

namespace {
/* One module per (context, fatbin) while any element uses it. */
WeakCache<std::pair<GstCudaContext *, const unsigned char *>, CudaModule> module_cache;
} // namespace

std::shared_ptr<CudaModule> CudaModule::get(GstCudaContext *ctx, const unsigned char *fatbin,
                                            GpuError &error) {
  init_debug();
  return module_cache.get({ctx, fatbin}, [&]() -> std::shared_ptr<CudaModule> {
    CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      error = GpuError::context_push();
      return nullptr;
    }
    CUmodule handle = nullptr;
    if (!check(CuModuleLoadData(&handle, fatbin), "cuModuleLoadData", error)) {
      GST_ERROR("%s", error.message().c_str());
      return nullptr;
    }
    return std::shared_ptr<CudaModule>(
        new CudaModule(static_cast<GstCudaContext *>(gst_object_ref(ctx)), handle));
  });
}

CudaModule::~CudaModule() {
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      CuModuleUnload(module_);
  }
  gst_object_unref(ctx_);
}

CUfunction CudaModule::function(const char *name, GpuError &error) {
  std::lock_guard<std::mutex> guard(lock_);
  if (auto it = functions_.find(name); it != functions_.end())
    return it->second;
  CudaContextScope scope(ctx_);
  if (!scope.pushed()) {
    error = GpuError::context_push();
    return nullptr;
  }
  CUfunction func = nullptr;
  if (!check(CuModuleGetFunction(&func, module_, name), "cuModuleGetFunction", error))
    return nullptr;
  functions_.emplace(name, func);
  return func;
}

} // namespace gpurtsp
