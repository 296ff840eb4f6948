// SPDX-License-Identifier: MIT
#include "gpu-resources.h"

#include "log.h"
#include "placement.h"

#include <string_view>

#ifdef GPURTSP_LAUNCH_HAVE_CUDA
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudautils.h>

#include "core/gpurtsp-cuda.h"

static_assert(std::string_view(gpurtsp::launch::kCudaContextType) == GST_CUDA_CONTEXT_TYPE);
#endif

namespace gpurtsp::launch {

GpuResources::~GpuResources() {
  for (auto &[index, gpu] : gpus_) {
    if (gpu.context)
      gst_context_unref(gpu.context);
    if (gpu.cuda_context)
      LAUNCH_DEBUG("GPU %d: releasing the CUDA context", index);
    gst_clear_object(&gpu.cuda_context);
  }
}

GpuResources::Gpu &GpuResources::gpu_state(int index) {
  auto [found, inserted] = gpus_.try_emplace(index);
  Gpu &gpu = found->second;
  if (!inserted)
    return gpu;
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
  if (!gst_cuda_load_library()) {
    gpu.why = "the CUDA driver library (libcuda.so.1) cannot be loaded";
  } else if (context_factory_) {
    /* A context made for us (the Python API: the primary context PyTorch
     * and CuPy share). Its stack limit is its owner's business. */
    if (GstObject *made = context_factory_(index)) {
      gpu.cuda_context = made;
      gpu.context = gst_context_new_cuda_context(GST_CUDA_CONTEXT(made));
    } else {
      gpu.why = "no usable CUDA device " + std::to_string(index);
    }
  } else if (GstCudaContext *context = gst_cuda_context_new(guint(index))) {
    /* Our context: the stack our kernels need, not the driver's 1 KiB per
     * thread (~200 MiB of VRAM on an H200; docs/scale.md). */
    size_t stack = 0;
    std::string why;
    if (gpurtsp::limit_context_stack(context, gpurtsp::context_stack_bytes(), stack, why)) {
      LAUNCH_DEBUG("GPU %d: CUDA context with a %zu-byte per-thread stack", index, stack);
      gpu.own_stack.emplace(Gpu::OwnStack{stack, StackTrimSchedule(g_get_monotonic_time())});
    } else {
      LAUNCH_WARNING("GPU %d: CUDA stack limit left as it is: %s", index, why.c_str());
    }
    /* The driver's default (spinning waits) unless GPURTSP_CUDA_SYNC=blocking:
     * sleeping waits measured no cheaper and dropped more keyframes. */
    if (!gpurtsp::context_blocking_sync_wanted())
      LAUNCH_DEBUG("GPU %d: threads waiting for the GPU follow the driver's default", index);
    else if (gpurtsp::set_context_blocking_sync(context, why))
      LAUNCH_DEBUG("GPU %d: threads waiting for the GPU sleep (blocking sync)", index);
    else
      LAUNCH_WARNING("GPU %d: threads waiting for the GPU keep spinning: %s", index, why.c_str());
    gpu.cuda_context = GST_OBJECT(context);
    gpu.context = gst_context_new_cuda_context(context);
  } else {
    gpu.why = "no usable CUDA device " + std::to_string(index);
  }
#else
  gpu.why = "gpurtsp-launch was built without gstreamer-cuda-1.0";
#endif
  return gpu;
}

bool GpuResources::has_context(int gpu, std::string &why) {
  const Gpu &state = gpu_state(gpu);
  why = state.why;
  return state.context != nullptr;
}

GstContext *GpuResources::pipeline_context(int gpu) const {
  auto found = gpus_.find(gpu);
  return found == gpus_.end() ? nullptr : found->second.context;
}

GpuResources::DecoderSlot &GpuResources::DecoderSlot::operator=(DecoderSlot &&other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    gpu_ = other.gpu_;
  }
  return *this;
}

void GpuResources::DecoderSlot::release() {
  if (!owner_)
    return;
  std::lock_guard lock(owner_->slots_lock_);
  owner_->slots_in_use_[gpu_]--;
  owner_ = nullptr;
}

GpuResources::DecoderSlot GpuResources::take_decoder_slot(int gpu, std::string &why) {
  const unsigned max = max_decoders_per_gpu_;
  std::lock_guard lock(slots_lock_);
  unsigned &in_use = slots_in_use_[gpu];
  if (max > 0 && in_use >= max) {
    why = "no NVDEC decoder left on GPU " + std::to_string(gpu) + " (" + std::to_string(in_use) +
          " in use, --max-decoders-per-gpu " + std::to_string(max) + ")";
    return {};
  }
  in_use++;
  return DecoderSlot(this, gpu);
}

unsigned GpuResources::decoder_slots_in_use(int gpu) const {
  std::lock_guard lock(slots_lock_);
  auto it = slots_in_use_.find(gpu);
  return it == slots_in_use_.end() ? 0 : it->second;
}

unsigned GpuResources::context_generation(int gpu) const {
  auto found = gpus_.find(gpu);
  return found == gpus_.end() ? 0 : found->second.generation;
}

void GpuResources::report_pipeline_error(int gpu, unsigned generation,
                                         const std::string &error_text) {
  auto found = gpus_.find(gpu);
  if (found == gpus_.end() || found->second.generation != generation ||
      !is_sticky_cuda_error(error_text))
    return;
  Gpu &state = found->second;
  LAUNCH_WARNING("GPU %d: CUDA context lost (%s): its cameras get a new context", gpu,
                 error_text.c_str());
  /* Pipelines still holding the old context keep their references until
   * they are torn down; the GPU's pools follow the new context. */
  if (state.context)
    gst_context_unref(state.context);
  gst_clear_object(&state.cuda_context);
  const unsigned next = state.generation + 1;
  gpus_.erase(found);
  gpu_state(gpu).generation = next;
}

int GpuResources::visible_gpus() {
  if (fake_gpus_)
    return *fake_gpus_;
  if (!visible_gpus_) {
    int count = 0;
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
    if (!gst_cuda_load_library() || CuDeviceGetCount(&count) != CUDA_SUCCESS)
      count = 0;
#endif
    visible_gpus_ = count;
  }
  return *visible_gpus_;
}

int GpuResources::place(const CameraSettings &settings, bool keyframes) {
  int gpu = settings.gpu;
  if (gpu == kAutoGpu) {
    /* Counted once, outside the lock: the first call loads the driver. */
    const int visible = visible_gpus();
    std::vector<GpuLoad> loads;
    {
      std::lock_guard lock(slots_lock_);
      for (int index = 0; index < visible; index++) {
        const Placed &placed = placed_[index];
        loads.push_back({.gpu = index,
                         .usable = true,
                         .decoder_budget = max_decoders_per_gpu(),
                         .decoders_in_use = placed.cameras - placed.keyframe_cameras,
                         .keyframe_cameras = placed.keyframe_cameras,
                         .cameras = placed.cameras});
      }
    }
    /* A GPU whose context cannot be made takes no camera (contexts are
     * made once, on the main thread, outside the lock). */
    if (!fake_gpus_)
      for (GpuLoad &load : loads)
        load.usable = gpu_state(load.gpu).context != nullptr;
    std::string why;
    const std::optional<int> chosen =
        place_camera(loads, keyframes ? PlacementKind::Keyframes : PlacementKind::FullDecode, why);
    if (chosen) {
      gpu = *chosen;
    } else {
      /* Every GPU full (it will wait for a decoder there) or none usable
       * (resolve() says why): the first usable GPU, else 0. */
      gpu = 0;
      for (const GpuLoad &load : loads)
        if (load.usable) {
          gpu = load.gpu;
          break;
        }
      LAUNCH_DEBUG("gpu auto: %s; GPU %d", why.c_str(), gpu);
    }
  }
  std::lock_guard lock(slots_lock_);
  Placed &placed = placed_[gpu];
  placed.cameras++;
  if (keyframes)
    placed.keyframe_cameras++;
  return gpu;
}

void GpuResources::unplace(int gpu, bool keyframes) {
  std::lock_guard lock(slots_lock_);
  auto found = placed_.find(gpu);
  if (found == placed_.end() || found->second.cameras == 0)
    return;
  found->second.cameras--;
  if (keyframes && found->second.keyframe_cameras > 0)
    found->second.keyframe_cameras--;
}

std::optional<GpuResources::CudaStack> GpuResources::cuda_stack(int gpu) const {
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
  auto found = gpus_.find(gpu);
  if (found == gpus_.end() || !found->second.cuda_context)
    return std::nullopt;
  size_t bytes = 0;
  std::string why;
  if (!gpurtsp::context_stack_limit(GST_CUDA_CONTEXT(found->second.cuda_context), bytes, why))
    return std::nullopt;
  const auto &own = found->second.own_stack;
  return CudaStack{bytes, own ? own->trims : 0};
#else
  (void)gpu;
  return std::nullopt;
#endif
}

void GpuResources::trim_cuda_stacks(int64_t now_us) {
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
  for (auto &[index, gpu] : gpus_) {
    if (!gpu.own_stack || !gpu.own_stack->schedule.due(now_us) || !gpu.cuda_context)
      continue;
    Gpu::OwnStack &own = *gpu.own_stack;
    auto *context = GST_CUDA_CONTEXT(gpu.cuda_context);
    size_t before = 0;
    std::string why;
    if (!gpurtsp::context_stack_limit(context, before, why)) {
      own.schedule.checked(now_us, false, false);
      continue;
    }
    const bool raised = before > own.bytes;
    size_t now = before;
    const bool lowered =
        raised && gpurtsp::limit_context_stack(context, own.bytes, now, why) && now < before;
    const int64_t next_us = own.schedule.checked(now_us, raised, lowered);
    if (lowered) {
      own.trims++;
      LAUNCH_INFO("GPU %d: a kernel had raised the CUDA stack to %zu bytes a thread; lowered back "
                  "to %zu (next check in %lld s)",
                  index, before, now, static_cast<long long>(next_us / 1000000));
    } else if (raised) {
      LAUNCH_DEBUG("GPU %d: the CUDA stack stays at %zu bytes a thread: %s", index, before,
                   why.empty() ? "the driver kept it" : why.c_str());
    }
  }
#else
  (void)now_us;
#endif
}

std::vector<GpuResources::GpuFigures> GpuResources::figures() const {
  std::lock_guard lock(slots_lock_);
  std::vector<GpuFigures> figures;
  for (const auto &[gpu, placed] : placed_) {
    if (placed.cameras == 0)
      continue;
    auto slots = slots_in_use_.find(gpu);
    figures.push_back({gpu, placed.cameras, placed.keyframe_cameras,
                       slots == slots_in_use_.end() ? 0 : slots->second});
  }
  return figures;
}

} // namespace gpurtsp::launch
