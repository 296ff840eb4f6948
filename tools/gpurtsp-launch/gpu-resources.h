// SPDX-License-Identifier: MIT
/* The GPUs cameras decode on: ONE GstCudaContext per GPU, created here and
 * given to every pipeline on that GPU, and each GPU's budget of NVDEC
 * decoders, and which GPU a gpu: auto camera goes to. Which elements run on
 * them is ElementCatalog's business. Without
 * gstreamer-cuda-1.0 at build time every camera decodes on the CPU. Main
 * thread only, except where noted. */
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "stack-trim.h"

namespace gpurtsp::launch {

/* The GstContext type that carries a CUDA context: GST_CUDA_CONTEXT_TYPE,
 * spelled out because builds without gst-cuda still watch for it. */
inline constexpr const char *kCudaContextType = "gst.cuda.context";

class GpuResources {
public:
  GpuResources() = default;
  /* Releases the CUDA contexts: destroy only after every pipeline is down. */
  ~GpuResources();
  GpuResources(const GpuResources &) = delete;
  GpuResources &operator=(const GpuResources &) = delete;

  /* Makes @gpu's GstCudaContext (transfer full; nullptr: unusable), instead
   * of gst_cuda_context_new(): the Python API wraps the CUDA primary
   * context, which PyTorch and CuPy use, so their kernels can read our
   * frames. Called on first use and after a sticky error. */
  using ContextFactory = std::function<GstObject *(int gpu)>;
  /* Main thread, before any camera asks for a context. */
  void set_context_factory(ContextFactory factory) { context_factory_ = std::move(factory); }

  /* Whether @gpu has its shared CUDA context, made on first use; else
   * @why not. */
  bool has_context(int gpu, std::string &why);

  /* The GstContext with @gpu's shared CUDA context, for pipelines of cameras
   * ElementCatalog::resolve() gave nvidia (transfer none); nullptr
   * otherwise. */
  GstContext *pipeline_context(int gpu) const;

  /* Thread-safe: an element made its own CUDA context instead of using ours
   * (it posted have-context). Should never happen; tests assert it. */
  void note_element_context() { element_contexts_.fetch_add(1, std::memory_order_relaxed); }
  unsigned element_contexts() const { return element_contexts_.load(std::memory_order_relaxed); }

  /* NVDEC has ~288 decoder sessions per GPU, whatever the process
   * (docs/nvdec-sessions.md); past that, creations fail or queue in the
   * driver until the stall watchdog restarts the cameras still waiting, and
   * on the H100 1,000 full-decode cameras ended with none streaming. So a
   * camera that owns a decoder holds one of its GPU's slots while its
   * pipeline exists, and past the limit waits with a clear error instead.
   *
   * A slot: move-only, given back when destroyed or release()d, on any
   * thread (pipelines are destroyed on worker threads). Empty when default
   * constructed, moved from, or when take_decoder_slot() found none free.
   * Must not outlive the GpuResources it came from. */
  class DecoderSlot {
  public:
    DecoderSlot() = default;
    DecoderSlot(DecoderSlot &&other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), gpu_(other.gpu_) {}
    DecoderSlot &operator=(DecoderSlot &&other) noexcept;
    ~DecoderSlot() { release(); }
    DecoderSlot(const DecoderSlot &) = delete;
    DecoderSlot &operator=(const DecoderSlot &) = delete;

    explicit operator bool() const { return owner_ != nullptr; }
    int gpu() const { return gpu_; }
    /* Gives the slot back now; empty afterwards. */
    void release();

  private:
    friend class GpuResources;
    DecoderSlot(GpuResources *owner, int gpu) : owner_(owner), gpu_(gpu) {}

    GpuResources *owner_ = nullptr; /* nullptr: empty */
    int gpu_ = -1;
  };

  /* NVDEC decoder sessions one process gets per GPU: 288 on the H100
   * (docs/nvdec-sessions.md). */
  static constexpr unsigned kNvdecSessionsPerGpu = 288;
  /* gpukeyframedec's default max-sessions, shared by every decode: keyframes
   * camera of a GPU; test-launch-choice checks it against the element. */
  static constexpr unsigned kKeyframeDecoderSessions = 8;
  /* 256 of NVDEC's ~288 leave room for gpukeyframedec's shared sessions and
   * other processes on the GPU. */
  static constexpr unsigned kDefaultMaxDecodersPerGpu = 256;
  static_assert(kDefaultMaxDecodersPerGpu + kKeyframeDecoderSessions < kNvdecSessionsPerGpu,
                "per-camera decoders and gpukeyframedec's sessions must fit NVDEC's sessions");
  /* Slots per GPU; 0: no limit. Main thread, before cameras start. */
  void set_max_decoders_per_gpu(unsigned max) { max_decoders_per_gpu_ = max; }
  unsigned max_decoders_per_gpu() const { return max_decoders_per_gpu_; }
  /* One of @gpu's slots for a camera that owns a decoder
   * (ElementCatalog::owns_decoder()), or an empty one and @why, e.g. "no NVDEC decoder
   * left on GPU 0 (256 in use, --max-decoders-per-gpu 256)". Thread-safe. */
  DecoderSlot take_decoder_slot(int gpu, std::string &why);
  /* Thread-safe. */
  unsigned decoder_slots_in_use(int gpu) const;

  /* A pipeline on @gpu failed with @error_text, having been given the
   * context of @generation. A sticky CUDA error (is_sticky_cuda_error())
   * means that context is gone for good: the GPU gets a new one, so the
   * cameras' next attempts work again, and only this GPU's cameras were
   * affected. Reports about an older generation are ignored. Main thread. */
  void report_pipeline_error(int gpu, unsigned generation, const std::string &error_text);
  /* The generation of @gpu's current context (see report_pipeline_error). */
  unsigned context_generation(int gpu) const;

  /* gpu: auto. The GPU a camera with @settings goes to (placement.h): by
   * free NVDEC decoder budget when it owns a decoder, by keyframe load
   * otherwise (@keyframe_sessions: ElementCatalog::on_keyframe_sessions()),
   * among the visible GPUs whose context works. @settings.gpu already set:
   * that GPU. No GPU visible: 0, whose context resolve() then reports
   * missing. Counted until unplace(). */
  int place(const CameraSettings &settings, bool keyframe_sessions);
  /* A camera placed on @gpu (as place() counted it) is gone. */
  void unplace(int gpu, bool keyframe_sessions);
  /* CUDA devices the driver reports (0 without CUDA). */
  int visible_gpus();
  /* Tests: pretend @count GPUs are visible and usable, no context made. */
  void set_fake_gpus_for_testing(int count) { fake_gpus_ = count; }

  /* Per GPU with cameras placed on it: its figures now. Thread-safe. */
  struct GpuFigures {
    int gpu = 0;
    unsigned cameras = 0;          /* placed on it */
    unsigned keyframe_cameras = 0; /* of which on the shared keyframe sessions */
    unsigned decoders_in_use = 0;  /* per-camera NVDEC decoder slots held */
  };
  std::vector<GpuFigures> figures() const;

  /* The CUDA stack of @gpu's context (stack-trim.h): its per-thread limit now
   * and how often a raised limit was lowered back. nullopt without a
   * context or where the driver cannot tell. Main thread. */
  struct CudaStack {
    std::uint64_t bytes = 0;
    std::uint64_t trims = 0;
  };
  std::optional<CudaStack> cuda_stack(int gpu) const;
  /* Lowers, on the GPUs whose schedule says so, a stack limit a kernel
   * raised above what the launcher gave its own contexts (stack-trim.h);
   * never touches a context an application shares. Main thread: the camera
   * manager's tick. */
  void trim_cuda_stacks(int64_t now_us);

private:
  struct Gpu {
    GstObject *cuda_context = nullptr; /* GstCudaContext, owned */
    GstContext *context = nullptr;     /* owned; carries cuda_context */
    std::string why;                   /* why there is no context */
    unsigned generation = 0;           /* contexts replaced after a sticky error */
    /* For contexts gst_cuda_context_new() made here, whose stack we
     * lowered: the limit to return to, when to check, and the trims so far. */
    struct OwnStack {
      std::size_t bytes;
      StackTrimSchedule schedule;
      std::uint64_t trims = 0;
    };
    std::optional<OwnStack> own_stack;
  };

  Gpu &gpu_state(int gpu);

  std::map<int, Gpu> gpus_;
  ContextFactory context_factory_; /* empty: gst_cuda_context_new() */
  struct Placed {
    unsigned cameras = 0;
    unsigned keyframe_cameras = 0;
  };
  std::optional<int> visible_gpus_; /* main thread */
  std::optional<int> fake_gpus_;    /* main thread */
  std::atomic<unsigned> element_contexts_{0};

  std::atomic<unsigned> max_decoders_per_gpu_{kDefaultMaxDecodersPerGpu};
  mutable std::mutex slots_lock_;
  std::map<int, unsigned> slots_in_use_; /* gpu -> slots held; guarded by slots_lock_ */
  std::map<int, Placed> placed_;         /* gpu -> cameras placed; guarded by slots_lock_ */
};

} // namespace gpurtsp::launch
