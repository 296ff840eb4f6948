// SPDX-License-Identifier: MIT
/* Process-wide sums of the per-camera element statistics, per GPU and in
 * all: the camera manager adds them up once (CameraRegistry::totals()), and
 * both the --stats-interval line (stats-line.h) and /metrics print that one
 * aggregation, so the two cannot report different figures. */
#pragma once

#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/gpukeyframedec.hpp>

#include "gpu-resources.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace gpurtsp::launch {

struct KeyframeDecoderTotals {
  unsigned instances = 0;
  std::uint64_t decoded = 0;
  std::uint64_t dropped_busy = 0;
  std::uint64_t dropped_non_intra = 0;
  unsigned pool_users = 0;
  unsigned pool_sessions = 0;
  unsigned pool_max_sessions = 0;
  std::uint64_t pool_creation_failures = 0;
  std::uint64_t pool_output_frames = 0; /* frames the shared output pools hold now */

  /* Adds one gpukeyframedec's statistics (of one GPU's pool). */
  void add(const gpukeyframedec::Stats &stats);
  /* Adds another GPU's totals: pools are per GPU, so their figures add up. */
  void merge(const KeyframeDecoderTotals &other);
};

/* gpujpegenc's nvJPEG encoder slot pool (one per GPU, its slots 34-52 MiB
 * of VRAM each, idle ones given back after 30 s) and its encoders' counts. */
struct JpegEncoderTotals {
  unsigned instances = 0; /* cameras with a gpujpegenc (frames, thumbnails or both) */
  std::uint64_t encodes = 0;
  std::uint64_t dropped_busy = 0;
  unsigned pool_users = 0;    /* gpujpegenc instances sharing the pool */
  unsigned pool_sessions = 0; /* encoder slots that exist, idle or in use */
  unsigned pool_max_sessions = 0;
  std::uint64_t pool_creation_failures = 0;

  /* Adds one camera's gpujpegenc statistics (of one GPU's pool). */
  void add(const gpujpegenc::Stats &stats);
  /* Adds another GPU's totals: pools are per GPU, so their figures add up. */
  void merge(const JpegEncoderTotals &other);
};

struct RtpFilterTotals {
  unsigned instances = 0;
  std::uint64_t packets_passed = 0;
  std::uint64_t packets_dropped = 0;
};

/* One GPU's share: the cameras placed on it, the NVDEC decoders they hold,
 * its shared keyframe pool and JPEG encoder pool. */
struct GpuTotals {
  int gpu = 0;
  unsigned cameras = 0;
  unsigned keyframe_cameras = 0; /* on the shared keyframe sessions */
  unsigned decoders_in_use = 0;  /* per-camera NVDEC decoders */
  KeyframeDecoderTotals keyframe_decoders{};
  JpegEncoderTotals jpeg_encoders{};
  /* Its CUDA context's per-thread stack now and the times a raised one was
   * lowered (stack-trim.h); none without a context of the launcher's. */
  std::optional<GpuResources::CudaStack> cuda_stack{};
};

struct Totals {
  KeyframeDecoderTotals keyframe_decoders{}; /* every GPU's */
  JpegEncoderTotals jpeg_encoders{};         /* every GPU's */
  RtpFilterTotals rtp_filters{};
  std::vector<GpuTotals> gpus{}; /* GPUs with cameras, by index */
};

} // namespace gpurtsp::launch
