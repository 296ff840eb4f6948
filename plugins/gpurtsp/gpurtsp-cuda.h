/* gpurtsp: CUDA helpers shared by every CUDA element of the plugin.
 *
 * Everything goes through gst-cuda's driver-API loader (Cu* wrappers), so the
 * plugin links neither libcuda nor libcudart and still loads on machines
 * without a GPU. */
#pragma once

#include <gst/cuda/gstcudabufferpool.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudamemory.h>
#include <gst/cuda/gstcudautils.h>

#include "gpu-error.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gpurtsp {

/* Whether the CUDA driver loads and sees at least one device. On failure
 * @why says what is missing, for the plugin's registration warning. */
bool cuda_device_available(std::string &why);

/* Call before reading @mem (an input another element produced) on
 * @own_stream: returns once the producer's writes are visible there.
 * GStreamer >= 1.24: a producer may push CUDA memory its own stream is still
 * writing (nvh264dec does, flagging GST_CUDA_MEMORY_TRANSFER_NEED_SYNC);
 * this synchronises that stream unless it is @own_stream, where the work is
 * already ordered before ours. No-op for memory that is not CUDA memory. The
 * caller must still finish its own reads before releasing the buffer. */
void sync_producer_stream(GstMemory *mem, CUstream own_stream);

/* Makes @ctx current for the scope. Every driver call needs a current context
 * and the streaming threads that call us have none of their own. */
class CudaContextScope {
public:
  explicit CudaContextScope(GstCudaContext *ctx) : pushed_(gst_cuda_context_push(ctx)) {}
  ~CudaContextScope() {
    if (pushed_)
      gst_cuda_context_pop(nullptr);
  }
  CudaContextScope(const CudaContextScope &) = delete;
  CudaContextScope &operator=(const CudaContextScope &) = delete;
  bool pushed() const { return pushed_; }

private:
  const bool pushed_;
};

/* A non-blocking CUDA stream owned for the lifetime of the object. */
class CudaStream {
public:
  CudaStream() = default;
  ~CudaStream() { reset(); }
  CudaStream(const CudaStream &) = delete;
  CudaStream &operator=(const CudaStream &) = delete;

  /* Creates the stream in @ctx (pushed internally); false and @error on
   * failure. */
  bool create(GstCudaContext *ctx, GpuError &error);
  void reset();
  CUstream get() const { return stream_; }

private:
  GstCudaContext *ctx_ = nullptr; /* owned ref while stream_ exists */
  CUstream stream_ = nullptr;
};

/* Page-locked host memory, so device-to-host copies run at full PCIe speed
 * and can be asynchronous. */
class PinnedBuffer {
public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { reset(); }
  PinnedBuffer(const PinnedBuffer &) = delete;
  PinnedBuffer &operator=(const PinnedBuffer &) = delete;

  /* Grows to at least @size bytes (contents are not kept) in @ctx; false
   * and @error on failure. */
  bool ensure(GstCudaContext *ctx, size_t size, GpuError &error);
  void reset();
  guint8 *data() const { return data_; }
  size_t size() const { return size_; }

private:
  GstCudaContext *ctx_ = nullptr; /* owned ref while data_ exists */
  guint8 *data_ = nullptr;
  size_t size_ = 0;
};

/* A module loaded from one of the plugin's embedded fatbins. One instance per
 * (GstCudaContext, fatbin) is shared by every element using that context, so
 * a process with a thousand converters loads the kernels once. */
class CudaModule {
public:
  /* Returns the shared module for @ctx, loading it on first use. On failure
   * returns nullptr and sets @error. */
  static std::shared_ptr<CudaModule> get(GstCudaContext *ctx, const unsigned char *fatbin,
                                         GpuError &error);
  ~CudaModule();
  CudaModule(const CudaModule &) = delete;
  CudaModule &operator=(const CudaModule &) = delete;

  /* Looks up a kernel by its extern "C" name; nullptr and @error if absent. */
  CUfunction function(const char *name, GpuError &error);

private:
  CudaModule(GstCudaContext *ctx, CUmodule module) : ctx_(ctx), module_(module) {}

  GstCudaContext *const ctx_; /* owned ref */
  const CUmodule module_;
  std::mutex lock_; /* guards functions_ */
  std::map<std::string, CUfunction> functions_;
};

/* The element's CUDA context handling, shared by all CUDA elements: the
 * set_context / ensure / CONTEXT-query trio of upstream nvcodec elements.
 * Holds the context of one element; callers guard it with their own lock
 * where several threads can reach it. */
class ElementCudaContext {
public:
  ~ElementCudaContext() { clear(); }

  /* From GstElement::set_context. */
  void set_context(GstElement *element, GstContext *context, gint device_id) {
    gst_cuda_handle_set_context(element, context, device_id, &ctx_);
  }
  /* From GstElement::change_state NULL->READY and from start(): finds a
   * context in the pipeline (or the application's), or creates one. */
  bool ensure(GstElement *element, gint device_id) {
    return gst_cuda_ensure_element_context(element, device_id, &ctx_) != FALSE;
  }
  /* From the element's query handlers: answers CONTEXT queries. */
  bool handle_query(GstElement *element, GstQuery *query) {
    return GST_QUERY_TYPE(query) == GST_QUERY_CONTEXT &&
           gst_cuda_handle_context_query(element, query, ctx_);
  }
  void clear() { gst_clear_object(&ctx_); }
  GstCudaContext *get() const { return ctx_; }

private:
  GstCudaContext *ctx_ = nullptr;
};

} // namespace gpurtsp

/* Posts an element error naming the failed CUDA call and its error code,
 * e.g. "cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED": a GpuError built
 * from a bare CUresult, posted by GPURTSP_GPU_ELEMENT_ERROR. */
#define GPURTSP_CUDA_ELEMENT_ERROR(element, call, result)                                          \
  GPURTSP_GPU_ELEMENT_ERROR(element, RESOURCE, FAILED,                                             \
                            (gpurtsp::GpuError{call, gpurtsp::cuda_error_name(result), {}}))
