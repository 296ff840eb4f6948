// SPDX-License-Identifier: MIT
/* Which GPU a camera decodes on, when its config says `gpu: auto`.
 *
 * A pure function of each GPU's load, so the rules are unit-tested without
 * GPUs (tests/launcher/test-launch-placement.cpp). The camera manager asks at
 * each camera start, with the loads of that moment:
 * - a camera that owns an NVDEC decoder (full decode) goes to the GPU with
 *   the most free decoder slots: NVDEC sessions are the scarce resource
 *   (~288 per GPU), and a GPU whose slots are all taken is never chosen;
 * - a keyframe camera (shared NVDEC sessions of gpukeyframedec) goes to the
 *   GPU with the fewest keyframe cameras;
 * - ties go to the GPU with fewer cameras in all, then the lower index, so
 *   placement is reproducible run to run;
 * - a GPU that failed (no context, or its context was lost) is skipped. */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpurtsp::launch {

struct GpuLoad {
  int gpu = 0;
  bool usable = true;            /* false: no context or lost; never chosen */
  unsigned decoder_budget = 0;   /* per-camera NVDEC decoders allowed; 0: no limit */
  unsigned decoders_in_use = 0;  /* per-camera NVDEC decoders held */
  unsigned keyframe_cameras = 0; /* cameras on the GPU's shared keyframe sessions */
  unsigned cameras = 0;          /* every camera placed on the GPU */
};

enum class PlacementKind {
  FullDecode, /* owns an NVDEC decoder while it runs */
  Keyframes,  /* decodes on the GPU's shared keyframe sessions */
};

/* The GPU for a camera of @kind among @gpus; nullopt and @why ("every GPU's
 * NVDEC decoders are in use (256 of 256 on GPU 0, ...)") when none can take
 * it now. */
std::optional<int> place_camera(const std::vector<GpuLoad> &gpus, PlacementKind kind,
                                std::string &why);

/* Whether an element error's text names a CUDA error that leaves its
 * context unusable for good ("sticky": illegal address, launch failure,
 * ECC, hardware stack error, ...). Then only a new context helps; any other
 * error is retried on the same one. */
bool is_sticky_cuda_error(std::string_view text);

} // namespace gpurtsp::launch
