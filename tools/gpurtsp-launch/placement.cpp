// SPDX-License-Identifier: MIT
#include "placement.h"

#include <limits>
#include <tuple>

namespace gpurtsp::launch {

namespace {

unsigned free_decoders(const GpuLoad &gpu) {
  if (gpu.decoder_budget == 0)
    return std::numeric_limits<unsigned>::max();
  return gpu.decoders_in_use >= gpu.decoder_budget ? 0 : gpu.decoder_budget - gpu.decoders_in_use;
}

/* Smaller is better. */
auto rank(const GpuLoad &gpu, PlacementKind kind) {
  unsigned primary = kind == PlacementKind::FullDecode
                         ? std::numeric_limits<unsigned>::max() - free_decoders(gpu)
                         : gpu.keyframe_cameras;
  return std::make_tuple(primary, gpu.cameras, gpu.gpu);
}

} // namespace

std::optional<int> place_camera(const std::vector<GpuLoad> &gpus, PlacementKind kind,
                                std::string &why) {
  const GpuLoad *best = nullptr;
  std::string full;
  unsigned usable = 0;
  for (const GpuLoad &gpu : gpus) {
    if (!gpu.usable)
      continue;
    usable++;
    if (kind == PlacementKind::FullDecode && free_decoders(gpu) == 0) {
      full += (full.empty() ? "" : ", ") + std::to_string(gpu.decoders_in_use) + " of " +
              std::to_string(gpu.decoder_budget) + " on GPU " + std::to_string(gpu.gpu);
      continue;
    }
    if (!best || rank(gpu, kind) < rank(*best, kind))
      best = &gpu;
  }
  if (best)
    return best->gpu;
  if (usable == 0)
    why = gpus.empty() ? "no GPU is visible" : "no GPU is usable";
  else
    why = "every GPU's NVDEC decoders are in use (" + full + ", --max-decoders-per-gpu)";
  return std::nullopt;
}

bool is_sticky_cuda_error(std::string_view text) {
  /* CUDA's driver API: errors after which the context "must be destroyed"
   * (cuda.h's documentation of each). */
  for (std::string_view sticky :
       {"CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED", "CUDA_ERROR_ECC_UNCORRECTABLE",
        "CUDA_ERROR_HARDWARE_STACK_ERROR", "CUDA_ERROR_ILLEGAL_INSTRUCTION",
        "CUDA_ERROR_MISALIGNED_ADDRESS", "CUDA_ERROR_INVALID_ADDRESS_SPACE",
        "CUDA_ERROR_INVALID_PC", "CUDA_ERROR_CONTEXT_IS_DESTROYED"})
    if (text.find(sticky) != std::string_view::npos)
      return true;
  return false;
}

} // namespace gpurtsp::launch
