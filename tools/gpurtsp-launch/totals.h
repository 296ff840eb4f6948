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

/* A pool of one GPU that all its cameras share (gpukeyframedec's NVDEC
 * sessions, gpujpegenc's encoder slots): every camera reports the same
 * figures, so per GPU the largest is the pool's; GPUs' pools add up. */
struct SharedPoolTotals {
  unsigned users = 0;
  unsigned sessions = 0; /* that exist, idle or in use */
  unsigned max_sessions = 0;
  std::uint64_t creation_failures = 0;
  std::uint64_t waits = 0;    /* acquisitions that found none free and waited */
  std::uint64_t timeouts = 0; /* waits that gave up */

  void add(const std::optional<PoolStats> &pool);
  void merge(const SharedPoolTotals &other);
};

struct KeyframeDecoderTotals {
  unsigned instances = 0;
  std::uint64_t decoded = 0;
  std::uint64_t dropped_busy = 0; /* session timeouts and the output frames' cap */
  std::uint64_t dropped_non_intra = 0;
  SharedPoolTotals pool{};              /* NVDEC sessions */
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
  SharedPoolTotals pool{}; /* encoder slots; users are gpujpegenc instances */

  /* Adds one camera's gpujpegenc statistics (of one GPU's pool). */
  void add(const gpujpegenc::Stats &stats);
  /* Adds another GPU's totals: pools are per GPU, so their figures add up. */
  void merge(const JpegEncoderTotals &other);
};

struct RtpFilterTotals {
  unsigned instances = 0;
  std::uint64_t packets_passed = 0;
  std::uint64_t packets_dropped = 0;
  std::uint64_t keyframes_cut = 0; /* gaps inside kept pictures */
  /* Keyframe cameras' UDP sockets filtered in the kernel now, and filters
   * taken off since the start (a keyframe cut short). */
  std::size_t socket_filters = 0;
  std::uint64_t socket_filters_removed = 0;
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
