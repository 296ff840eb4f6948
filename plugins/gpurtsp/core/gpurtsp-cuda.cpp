// SPDX-License-Identifier: MIT
#include "core/gpurtsp-cuda.h"

#include "core/library-loader.h"
#include "core/weak-cache.hpp"

#include <gpurtsp/cuda-element.hpp>

#include <atomic>

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

size_t context_stack_bytes() {
  if (const char *env = g_getenv("GPURTSP_CUDA_STACK_BYTES"); env && *env) {
    /* The driver's own cap on the per-thread stack is well below 1 MiB. */
    guint64 bytes = 0;
    if (g_ascii_string_to_unsigned(env, 10, 0, 1 << 20, &bytes, nullptr))
      return static_cast<size_t>(bytes);
    init_debug();
    GST_WARNING("GPURTSP_CUDA_STACK_BYTES=%s is not a number of bytes up to 1 MiB; using %zu", env,
                kKernelStackBytes);
  }
  return kKernelStackBytes;
}

namespace {

/* cuCtxSetLimit/cuCtxGetLimit are not among gst-cuda 1.22's wrappers: taken
 * from the driver itself, once. */
struct ContextLimitApi {
  CUresult (*cuCtxSetLimit)(CUlimit, size_t) = nullptr;
  CUresult (*cuCtxGetLimit)(size_t *, CUlimit) = nullptr;
  /* CUDA 12.1 and later only. */
  CUresult (*cuCtxSetFlags)(unsigned int) = nullptr;
  CUresult (*cuCtxGetFlags)(unsigned int *) = nullptr;
  std::string why;
};

const ContextLimitApi &context_limit_api() {
  static const ContextLimitApi api = [] {
    ContextLimitApi loaded;
    load_library("libcuda.so.1",
                 {LibrarySymbol::mandatory_symbol("cuCtxSetLimit", loaded.cuCtxSetLimit),
                  LibrarySymbol::mandatory_symbol("cuCtxGetLimit", loaded.cuCtxGetLimit),
                  LibrarySymbol::optional_symbol("cuCtxSetFlags", loaded.cuCtxSetFlags),
                  LibrarySymbol::optional_symbol("cuCtxGetFlags", loaded.cuCtxGetFlags)},
                 loaded.why);
    return loaded;
  }();
  return api;
}

} // namespace

namespace {

/* The limit of the context current on this thread. */
bool current_stack_limit(const ContextLimitApi &api, size_t &bytes, std::string &why) {
  const CUresult ret = api.cuCtxGetLimit(&bytes, CU_LIMIT_STACK_SIZE);
  if (ret == CUDA_SUCCESS)
    return true;
  why = std::string("cuCtxGetLimit failed: ") + cuda_error_name(ret);
  return false;
}

} // namespace

/* Runs @use(api) with @ctx current; false and @why when the driver lacks
 * the calls or the context cannot be made current. */
template <typename Use>
bool with_limit_api(GstCudaContext *ctx, std::string &why, Use &&use) {
  const ContextLimitApi &api = context_limit_api();
  if (!api.cuCtxSetLimit || !api.cuCtxGetLimit) {
    why = api.why;
    return false;
  }
  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    why = GpuError::context_push().message();
    return false;
  }
  return use(api);
}

bool context_stack_limit(GstCudaContext *ctx, size_t &bytes, std::string &why) {
  return with_limit_api(
      ctx, why, [&](const ContextLimitApi &api) { return current_stack_limit(api, bytes, why); });
}

bool limit_context_stack(GstCudaContext *ctx, size_t bytes, size_t &now, std::string &why) {
  init_debug();
  return with_limit_api(ctx, why, [&](const ContextLimitApi &api) {
    size_t before = 0;
    if (!current_stack_limit(api, before, why))
      return false;
    now = before;
    if (before <= bytes)
      return true;
    const CUresult ret = api.cuCtxSetLimit(CU_LIMIT_STACK_SIZE, bytes);
    if (ret != CUDA_SUCCESS) {
      why = std::string("cuCtxSetLimit(CU_LIMIT_STACK_SIZE) failed: ") + cuda_error_name(ret);
      return false;
    }
    std::string ignored;
    if (!current_stack_limit(api, now, ignored))
      now = bytes;
    GST_INFO("CUDA context %p: per-thread stack %zu -> %zu bytes (asked %zu)", ctx, before, now,
             bytes);
    return true;
  });
}

bool context_blocking_sync_wanted() {
  const char *env = g_getenv("GPURTSP_CUDA_SYNC");
  if (!env || !*env || g_strcmp0(env, "auto") == 0)
    return false;
  if (g_strcmp0(env, "blocking") == 0)
    return true;
  init_debug();
  GST_WARNING("GPURTSP_CUDA_SYNC=%s is neither blocking nor auto; using auto", env);
  return false;
}

bool set_context_blocking_sync(GstCudaContext *ctx, std::string &why) {
  init_debug();
  return with_limit_api(ctx, why, [&](const ContextLimitApi &api) {
    if (!api.cuCtxSetFlags || !api.cuCtxGetFlags) {
      why = "the CUDA driver lacks cuCtxSetFlags (CUDA 12.1 or later)";
      return false;
    }
    unsigned int flags = 0;
    CUresult ret = api.cuCtxGetFlags(&flags);
    if (ret == CUDA_SUCCESS) {
      /* Only the scheduling bits change. */
      flags = (flags & ~static_cast<unsigned int>(CU_CTX_SCHED_MASK)) | CU_CTX_SCHED_BLOCKING_SYNC;
      ret = api.cuCtxSetFlags(flags);
    }
    if (ret != CUDA_SUCCESS) {
      why =
          std::string("cuCtxSetFlags(CU_CTX_SCHED_BLOCKING_SYNC) failed: ") + cuda_error_name(ret);
      return false;
    }
    GST_INFO("CUDA context %p: threads waiting for it sleep (flags 0x%x)", ctx, flags);
    return true;
  });
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

namespace {
WeakCache<std::pair<GstCudaContext *, unsigned>, CudaStream> shared_streams;
std::atomic<unsigned> next_shared_stream{0};
} // namespace

std::shared_ptr<CudaStream> CudaStream::shared(GstCudaContext *ctx, GpuError &error) {
  const unsigned slot = next_shared_stream.fetch_add(1, std::memory_order_relaxed) % kSharedStreams;
  /* The cached stream holds a ref to @ctx, so the key's pointer cannot be
   * reused for another context while the entry lives. */
  return shared_streams.get({ctx, slot}, [&]() -> std::shared_ptr<CudaStream> {
    auto stream = std::make_shared<CudaStream>();
    if (!stream->create(ctx, error))
      return nullptr;
    return stream;
  });
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

void CudaElementCore::install_device_id_property(GObjectClass *klass, guint prop_id) {
  g_object_class_install_property(
      klass, prop_id,
      g_param_spec_int(kCudaDeviceIdProperty, "CUDA device ID",
                       "CUDA device to run on; -1 takes the CUDA context the pipeline or "
                       "application shares, else device 0. A shared context of another device "
                       "is not taken",
                       -1, G_MAXINT, kDefaultDeviceId,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
                                                G_PARAM_STATIC_STRINGS)));
}

void CudaElementCore::set_device_id(const GValue *value) {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  device_id_ = g_value_get_int(value);
}

void CudaElementCore::get_device_id(GValue *value) {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  g_value_set_int(value, device_id_);
}

void CudaElementCore::set_context(GstElement *element, GstContext *context) {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  const bool had = ctx_ != nullptr;
  gst_cuda_handle_set_context(element, context, device_id_, &ctx_);
  if (!had && ctx_)
    ctx_given_ = true;
}

bool CudaElementCore::open(GstElement *element) {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  if (gst_cuda_ensure_element_context(element, device_id_, &ctx_)) {
    /* No neighbour or application gave one: gst-cuda made it for us (and
     * shares it onwards), so its stack limit is ours to set. */
    if (!ctx_given_) {
      ctx_given_ = true;
      size_t now = 0;
      std::string why;
      if (!limit_context_stack(ctx_, context_stack_bytes(), now, why))
        GST_WARNING_OBJECT(element, "CUDA stack limit left as it is: %s", why.c_str());
      if (context_blocking_sync_wanted() && !set_context_blocking_sync(ctx_, why))
        GST_WARNING_OBJECT(element, "threads waiting for the GPU keep spinning: %s", why.c_str());
    }
    return true;
  }
  GST_ELEMENT_ERROR(element, RESOURCE, NOT_FOUND,
                    ("No CUDA context for device %d could be found or created", device_id_),
                    ("gst_cuda_ensure_element_context failed for cuda-device-id %d", device_id_));
  return false;
}

void CudaElementCore::close() {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  gst_clear_object(&ctx_);
  ctx_given_ = false;
}

GstStateChangeReturn CudaElementCore::change_state(GstElement *element, GstStateChange transition,
                                                   GstStateChangeReturn (*parent)(GstElement *,
                                                                                  GstStateChange)) {
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !open(element))
    return GST_STATE_CHANGE_FAILURE;
  const GstStateChangeReturn ret = parent(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    close();
  return ret;
}

bool CudaElementCore::handle_query(GstElement *element, GstQuery *query) {
  if (GST_QUERY_TYPE(query) != GST_QUERY_CONTEXT)
    return false;
  std::lock_guard<std::recursive_mutex> guard(lock_);
  return gst_cuda_handle_context_query(element, query, ctx_) != FALSE;
}

GstCudaContext *CudaElementCore::context() {
  std::lock_guard<std::recursive_mutex> guard(lock_);
  return ctx_;
}

bool configure_pool(GstBufferPool *pool, GstCaps *caps, guint &size, guint min, guint max) {
  GstStructure *config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_set_params(config, caps, size, min, max);
  if (!gst_buffer_pool_set_config(pool, config))
    return false;
  config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_get_params(config, nullptr, &size, nullptr, nullptr);
  gst_structure_free(config);
  return true;
}

bool CudaElementCore::propose_pool(GstElement *element, GstQuery *query, GstCaps *caps) {
  GstVideoInfo info;
  GstCudaContext *ctx = context();
  if (!ctx || !gst_video_info_from_caps(&info, caps))
    return false;
  GstBufferPool *pool = gst_cuda_buffer_pool_new(ctx);
  guint size = GST_VIDEO_INFO_SIZE(&info);
  const bool configured = configure_pool(pool, caps, size, 0, 0);
  if (configured)
    gst_query_add_allocation_pool(query, pool, size, 0, 0);
  else
    GST_WARNING_OBJECT(element, "could not configure a CUDA pool for %" GST_PTR_FORMAT, caps);
  gst_object_unref(pool);
  return configured;
}

bool CudaElementCore::decide_pool(GstElement *element, GstQuery *query, PoolCounts counts) {
  GstCaps *caps = nullptr;
  gst_query_parse_allocation(query, &caps, nullptr);
  GstVideoInfo info;
  GstCudaContext *ctx = context();
  if (!caps || !gst_video_info_from_caps(&info, caps) || !ctx) {
    GST_ERROR_OBJECT(element, "allocation query without usable caps or CUDA context");
    return false;
  }

  GstBufferPool *pool = nullptr;
  guint size = GST_VIDEO_INFO_SIZE(&info), min = 0, max = 0;
  const bool downstream_has_pool = gst_query_get_n_allocation_pools(query) > 0;
  if (downstream_has_pool)
    gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
  if (counts == PoolCounts::None)
    min = max = 0;
  if (pool && (!GST_IS_CUDA_BUFFER_POOL(pool) ||
               gst_cuda_context_get_handle(GST_CUDA_BUFFER_POOL(pool)->context) !=
                   gst_cuda_context_get_handle(ctx)))
    gst_clear_object(&pool);
  if (pool && !configure_pool(pool, caps, size, min, max)) {
    GST_DEBUG_OBJECT(element, "downstream CUDA pool refused our config, using our own");
    gst_clear_object(&pool);
  }
  if (!pool) {
    /* No cap on the count (max 0): frames downstream keeps must never stall
     * us. Without keepers, buffers come back at once and the pool holds the
     * one or two frames in flight. */
    pool = gst_cuda_buffer_pool_new(ctx);
    size = GST_VIDEO_INFO_SIZE(&info);
    max = 0;
    if (!configure_pool(pool, caps, size, min, max)) {
      GST_ELEMENT_ERROR(element, RESOURCE, SETTINGS, (nullptr),
                        ("could not configure a CUDA buffer pool for %" GST_PTR_FORMAT, caps));
      gst_object_unref(pool);
      return false;
    }
  }
  if (downstream_has_pool)
    gst_query_set_nth_allocation_pool(query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool(query, pool, size, min, max);
  gst_object_unref(pool);
  return true;
}

bool is_cuda_buffer_of(GstBuffer *buffer, GstCudaContext *ctx) {
  const guint n_memory = gst_buffer_n_memory(buffer);
  if (n_memory == 0 || (n_memory > 1 && !gst_buffer_get_video_meta(buffer)))
    return false;
  for (guint i = 0; i < n_memory; i++) {
    GstMemory *memory = gst_buffer_peek_memory(buffer, i);
    if (!gst_is_cuda_memory(memory) ||
        gst_cuda_context_get_handle(GST_CUDA_MEMORY_CAST(memory)->context) !=
            gst_cuda_context_get_handle(ctx))
      return false;
  }
  return true;
}

bool MappedVideoFrame::mapped(bool ok) {
  mapped_ = ok;
  for (guint i = 0; ok && i < GST_VIDEO_FRAME_N_PLANES(&frame_); i++)
    planes_[i] = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame_, i));
  return ok;
}

bool MappedVideoFrame::map(GstBuffer *buffer, const GstVideoInfo &info, GstMapFlags flags) {
  return mapped(gst_video_frame_map(&frame_, &info, buffer, flags));
}

const char *MappedVideoFrame::map_cuda(GstBuffer *buffer, const GstVideoInfo &info,
                                       GstMapFlags flags, GstCudaContext *ctx) {
  const guint n_memory = gst_buffer_n_memory(buffer);
  GstVideoMeta *meta = gst_buffer_get_video_meta(buffer);
  if (n_memory == 0 || (n_memory > 1 && !meta))
    return "it holds no memory, or several without a video meta";
  for (guint i = 0; i < n_memory; i++) {
    GstMemory *mem = gst_buffer_peek_memory(buffer, i);
    if (!gst_is_cuda_memory(mem))
      return "it is not CUDA memory";
    if (gst_cuda_context_get_handle(GST_CUDA_MEMORY_CAST(mem)->context) !=
        gst_cuda_context_get_handle(ctx))
      return "its CUDA memory belongs to another CUDA context (the CUDA elements of a "
             "pipeline must share one GstCudaContext)";
  }
  GstVideoInfo layout = info;
  if (meta) {
    /* gst_video_frame_map() asserts these. */
    if (meta->n_planes != GST_VIDEO_INFO_N_PLANES(&info) ||
        meta->format != GST_VIDEO_INFO_FORMAT(&info) ||
        meta->width < static_cast<guint>(GST_VIDEO_INFO_WIDTH(&info)) ||
        meta->height < static_cast<guint>(GST_VIDEO_INFO_HEIGHT(&info)))
      return "its video meta does not match the caps";
  } else {
    const GstVideoInfo &own = GST_CUDA_MEMORY_CAST(gst_buffer_peek_memory(buffer, 0))->info;
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&layout); p++) {
      layout.stride[p] = own.stride[p];
      layout.offset[p] = own.offset[p];
    }
    layout.size = own.size;
  }
  if (!mapped(gst_video_frame_map(&frame_, &layout, buffer,
                                  static_cast<GstMapFlags>(flags | GST_MAP_CUDA))))
    return "mapping its CUDA memory failed";

  const gsize buffer_size = gst_buffer_get_size(buffer);
  for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES(&info); i++) {
    const gint stride = frame_.info.stride[i];
    const gsize row_bytes = static_cast<gsize>(GST_VIDEO_INFO_COMP_WIDTH(&info, i)) *
                            GST_VIDEO_INFO_COMP_PSTRIDE(&info, i);
    const gsize rows = GST_VIDEO_INFO_COMP_HEIGHT(&info, i);
    if (stride <= 0 || static_cast<gsize>(stride) < row_bytes ||
        frame_.info.offset[i] + (rows - 1) * stride + row_bytes > buffer_size)
      return "its planes do not fit in its memory";
  }
  return nullptr;
}

} // namespace gpurtsp
