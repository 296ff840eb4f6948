// SPDX-License-Identifier: MIT
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
#include <gst/video/video.h>

#include "core/gpu-error.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gpurtsp {

/* Whether the CUDA driver loads and sees at least one device. On failure
 * @why says what is missing, for the plugin's registration warning. */
bool cuda_device_available(std::string &why);

/* Per-thread stack the plugin's kernels need: ptxas (nvcc -Xptxas -v) reports
 * a 0-byte stack frame for every one (jpegenc-yuv420.cu, nv12torgb.cu). */
inline constexpr size_t kKernelStackBytes = 0;

/* The per-thread stack limit gpurtsp gives the CUDA contexts it creates:
 * kKernelStackBytes, or $GPURTSP_CUDA_STACK_BYTES where set (a number of
 * bytes). */
size_t context_stack_bytes();

/* Lowers @ctx's per-thread stack limit (CU_LIMIT_STACK_SIZE) to @bytes, for
 * a context gpurtsp created: the driver reserves that stack for every
 * thread the GPU can hold at once, so the default 1 KiB costs ~200 MiB of
 * VRAM on an H200 before any work (docs/scale.md). Safe for any kernel: the
 * driver rounds @bytes up to its minimum and, for a kernel that needs more
 * (nvJPEG's, an application's), raises the limit at that launch and keeps
 * it. Never raises a limit. Contexts an application shares keep the limit
 * the application gave them: never call this on them. On success @now is
 * the limit the driver settled on; false and @why when it refuses or the
 * driver lacks cuCtxSetLimit. */
bool limit_context_stack(GstCudaContext *ctx, size_t bytes, size_t &now, std::string &why);

/* Makes threads that wait for @ctx's work (cuStreamSynchronize, nvJPEG's
 * and NVDEC's waits) sleep until it is done instead of spinning on a core
 * (CU_CTX_SCHED_BLOCKING_SYNC), for a context gpurtsp created. gst-cuda
 * creates contexts with CU_CTX_SCHED_AUTO, which spins while the process has
 * fewer contexts than cores. Contexts an application shares keep the
 * application's flags. False and @why when the driver lacks cuCtxSetFlags
 * (CUDA < 12.1) or refuses. */
bool set_context_blocking_sync(GstCudaContext *ctx, std::string &why);

/* Whether contexts gpurtsp creates get set_context_blocking_sync(): only
 * when $GPURTSP_CUDA_SYNC is "blocking". Unset or "auto" keeps the driver's
 * default: at 1,000 keyframe cameras blocking sync saved no CPU on an H100
 * host and the longer waits dropped ~10x more keyframes (docs/scale.md). */
bool context_blocking_sync_wanted();

/* @ctx's per-thread stack limit now, in bytes: a kernel that needed more than
 * limit_context_stack() gave raises it, and the driver keeps the raised value
 * (and its VRAM) until someone lowers it again. False and @why when the driver
 * cannot tell. */
bool context_stack_limit(GstCudaContext *ctx, size_t &bytes, std::string &why);

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

  /* Streams of one context that shared() hands out in turn. */
  static constexpr unsigned kSharedStreams = 4;
  /* One of kSharedStreams streams of @ctx, each caller given the next, for
   * elements of which there is one per camera: a CUDA stream holds ~560
   * KiB of VRAM (H100, driver 580; cuMemGetInfo over 2,000 streams), so a
   * stream of its own for every camera's thumbnail converter was ~1.1 GiB
   * at 2,000 cameras. Work on a shared stream runs in order with the
   * others': cuStreamSynchronize() also waits for theirs queued before.
   * nullptr and @error on failure. */
  static std::shared_ptr<CudaStream> shared(GstCudaContext *ctx, GpuError &error);
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

/* The CUDA side every CUDA element of the plugin shares, in the roles of
 * upstream nvcodec's GstNvDecoder and GstCudaBaseTransform: the
 * cuda-device-id property, the element's GstCudaContext with its
 * set_context / CONTEXT-query / ensure trio, and the CUDA buffer pools of the
 * allocation queries. The element calls each in one line.
 *
 * The context is found or made at one point for every element, NULL->READY
 * (open() of encoders and decoders, change_state() of transforms), and
 * dropped at READY->NULL (close()), so elements reaching READY after this
 * one, or asking it, share the context. Between the two the context does not
 * change: set_context() never replaces one already held.
 *
 * Thread-safe: set_context() and queries arrive on any thread, and the core's
 * lock guards the device id and the context. open() holds it while it asks
 * the neighbours for a context and posts need-context, as GstNvDecoder does:
 * a neighbour's core answers under its own lock (a bin changes its children's
 * states one at a time, so two cores never wait on each other), and a bus
 * sync handler may answer with set_context() on this thread, hence recursive.
 * The element never holds one of its own locks while calling the core. */
class CudaElementCore {
public:
  CudaElementCore() = default;
  ~CudaElementCore() { close(); }
  CudaElementCore(const CudaElementCore &) = delete;
  CudaElementCore &operator=(const CudaElementCore &) = delete;

  /* Installs the cuda-device-id property on @klass as @prop_id; the element
   * forwards that id's get/set to get_device_id() / set_device_id(). */
  static void install_device_id_property(GObjectClass *klass, guint prop_id);
  void set_device_id(const GValue *value);
  void get_device_id(GValue *value);

  /* From GstElement::set_context. */
  void set_context(GstElement *element, GstContext *context);
  /* From open() (or change_state() NULL->READY): finds a context in the
   * pipeline (or the application's), or creates one, whose stack limit it
   * then lowers (limit_context_stack()); posts the element error on
   * failure. */
  bool open(GstElement *element);
  /* From close() (or change_state() READY->NULL). */
  void close();
  /* GstElement::change_state for elements without open()/close(): open()
   * before @parent's NULL->READY, close() after its READY->NULL. */
  GstStateChangeReturn change_state(GstElement *element, GstStateChange transition,
                                    GstStateChangeReturn (*parent)(GstElement *, GstStateChange));
  /* From the element's query handlers: answers CONTEXT queries. */
  bool handle_query(GstElement *element, GstQuery *query);
  /* The element's context: set between open() and close(), nullptr outside;
   * borrowed, the element takes a ref for streaming state of its own. */
  GstCudaContext *context();

  /* propose_allocation: adds a CUDA pool of the element's context for
   * @caps to @query. False if there is no context, or (with a warning) if
   * the pool refuses the caps. */
  bool propose_pool(GstElement *element, GstQuery *query, GstCaps *caps);

  /* How many buffers the pool decide_pool() settles on keeps. */
  enum class PoolCounts {
    Downstream, /* downstream's min and max: min is what it holds on to */
    None,       /* none preallocated, no cap: buffers come from elsewhere */
  };
  /* decide_allocation: keeps downstream's first pool if it is a CUDA pool of
   * the element's context and takes the configuration, else puts a new CUDA
   * pool in its place. Posts the element error when no pool can be made. */
  bool decide_pool(GstElement *element, GstQuery *query, PoolCounts counts);

private:
  static constexpr gint kDefaultDeviceId = -1;

  std::recursive_mutex lock_;
  gint device_id_ = kDefaultDeviceId; /* guarded by lock_ */
  GstCudaContext *ctx_ = nullptr;     /* guarded by lock_ */
  /* set_context() gave ctx_ (a neighbour's or the application's context):
   * when open() ends with a context that did not come this way, gst-cuda
   * created it for this element. Guarded by lock_. */
  bool ctx_given_ = false;
};

/* Configures @pool for @caps with a video meta; on return @size is what the
 * pool allocates (a CUDA pool rounds it up to its pitch). */
bool configure_pool(GstBufferPool *pool, GstCaps *caps, guint &size, guint min, guint max);

/* Whether every memory of @buffer is CUDA memory of @ctx's device context,
 * in one memory or described by a video meta: what a kernel reads in place. */
bool is_cuda_buffer_of(GstBuffer *buffer, GstCudaContext *ctx);

/* A video frame of a buffer, mapped for the host or for CUDA, unmapped when
 * it goes out of scope. */
class MappedVideoFrame {
public:
  MappedVideoFrame() = default;
  ~MappedVideoFrame() {
    if (mapped_)
      gst_video_frame_unmap(&frame_);
  }
  MappedVideoFrame(const MappedVideoFrame &) = delete;
  MappedVideoFrame &operator=(const MappedVideoFrame &) = delete;

  /* Maps @buffer as @info says (or its video meta) for the host. */
  bool map(GstBuffer *buffer, const GstVideoInfo &info, GstMapFlags flags);
  /* Maps @buffer's CUDA memory of @ctx for device access. Plane offsets and
   * strides come from the video meta, else from the memory's own
   * GstVideoInfo: CUDA memory is pitch-allocated, so the caps' default
   * layout would be wrong. Returns nullptr on success, else what is wrong
   * with @buffer. */
  const char *map_cuda(GstBuffer *buffer, const GstVideoInfo &info, GstMapFlags flags,
                       GstCudaContext *ctx);

  GstVideoFrame *frame() { return &frame_; }
  /* Plane pointers and strides (device pointers after map_cuda()). */
  guint8 *const *planes() const { return planes_; }
  const gint *strides() const { return frame_.info.stride; }

private:
  bool mapped(bool ok);

  GstVideoFrame frame_ = {};
  bool mapped_ = false;
  guint8 *planes_[GST_VIDEO_MAX_PLANES] = {};
};

/* A buffer mapped for the host, unmapped when it goes out of scope. */
class MappedBuffer {
public:
  MappedBuffer(GstBuffer *buffer, GstMapFlags flags)
      : buffer_(gst_buffer_map(buffer, &info_, flags) ? buffer : nullptr) {}
  ~MappedBuffer() {
    if (buffer_)
      gst_buffer_unmap(buffer_, &info_);
  }
  MappedBuffer(const MappedBuffer &) = delete;
  MappedBuffer &operator=(const MappedBuffer &) = delete;

  bool mapped() const { return buffer_ != nullptr; }
  const GstMapInfo &info() const { return info_; }

private:
  GstMapInfo info_ = GST_MAP_INFO_INIT;
  GstBuffer *const buffer_;
};

} // namespace gpurtsp

/* Posts an element error naming the failed CUDA call and its error code,
 * e.g. "cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED": a GpuError built
 * from a bare CUresult, posted by GPURTSP_GPU_ELEMENT_ERROR. */
#define GPURTSP_CUDA_ELEMENT_ERROR(element, call, result)                                          \
  GPURTSP_GPU_ELEMENT_ERROR(element, RESOURCE, FAILED,                                             \
                            (gpurtsp::GpuError{call, gpurtsp::cuda_error_name(result), {}}))

/* Posts the element error for a CudaContextScope that did not push: the one
 * wording every element uses, GpuError::context_push()'s. */
#define GPURTSP_CUDA_PUSH_ERROR(element)                                                           \
  GPURTSP_GPU_ELEMENT_ERROR(element, RESOURCE, FAILED, gpurtsp::GpuError::context_push())
