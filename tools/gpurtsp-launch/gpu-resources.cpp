#include "gpu-resources.h"

#include "log.h"

#include <string_view>

#ifdef GPURTSP_LAUNCH_HAVE_CUDA
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudautils.h>

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
  } else if (GstCudaContext *context = gst_cuda_context_new(guint(index))) {
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

} // namespace gpurtsp::launch
