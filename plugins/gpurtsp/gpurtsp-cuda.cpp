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

const char *cuda_error_name(CUresult result) {
  const char *name = nullptr;
  if (CuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return "unknown CUDA error";
  return name;
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

CUresult CudaStream::create(GstCudaContext *ctx) {
  reset();
  CudaContextScope scope(ctx);
  if (!scope.pushed())
    return CUDA_ERROR_INVALID_CONTEXT;
  CUresult ret = CuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING);
  if (ret != CUDA_SUCCESS) {
    stream_ = nullptr;
    return ret;
  }
  ctx_ = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  return CUDA_SUCCESS;
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

CUresult PinnedBuffer::ensure(GstCudaContext *ctx, size_t size) {
  if (data_ && size_ >= size && ctx_ == ctx)
    return CUDA_SUCCESS;
  reset();
  CudaContextScope scope(ctx);
  if (!scope.pushed())
    return CUDA_ERROR_INVALID_CONTEXT;
  void *ptr = nullptr;
  /* gst-cuda 1.22 declares the size as unsigned int. */
  if (size > G_MAXUINT)
    return CUDA_ERROR_INVALID_VALUE;
  CUresult ret = CuMemAllocHost(&ptr, static_cast<unsigned int>(size));
  if (ret != CUDA_SUCCESS)
    return ret;
  data_ = static_cast<guint8 *>(ptr);
  size_ = size;
  ctx_ = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  return CUDA_SUCCESS;
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
                                            CUresult &result) {
  init_debug();
  result = CUDA_SUCCESS;
  return module_cache.get({ctx, fatbin}, [&]() -> std::shared_ptr<CudaModule> {
    CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      result = CUDA_ERROR_INVALID_CONTEXT;
      return nullptr;
    }
    CUmodule handle = nullptr;
    result = CuModuleLoadData(&handle, fatbin);
    if (result != CUDA_SUCCESS) {
      GST_ERROR("cuModuleLoadData failed: %s", cuda_error_name(result));
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

CUfunction CudaModule::function(const char *name, CUresult &result) {
  std::lock_guard<std::mutex> guard(lock_);
  if (auto it = functions_.find(name); it != functions_.end()) {
    result = CUDA_SUCCESS;
    return it->second;
  }
  CudaContextScope scope(ctx_);
  if (!scope.pushed()) {
    result = CUDA_ERROR_INVALID_CONTEXT;
    return nullptr;
  }
  CUfunction func = nullptr;
  result = CuModuleGetFunction(&func, module_, name);
  if (result != CUDA_SUCCESS)
    return nullptr;
  functions_.emplace(name, func);
  return func;
}

} // namespace gpurtsp
