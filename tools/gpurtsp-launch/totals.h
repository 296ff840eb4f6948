/* Process-wide sums of the per-camera element statistics: the camera manager
 * adds them up, the --stats-interval line (stats-line.h) prints them. */
#pragma once

#include <gpurtsp/gpukeyframedec.hpp>

#include <cstdint>

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
  std::uint64_t pool_output_frames = 0; /* frames the shared output pools allocated */

  /* Adds one gpukeyframedec's statistics. */
  void add(const gpukeyframedec::Stats &stats);
};

struct RtpFilterTotals {
  unsigned instances = 0;
  std::uint64_t packets_passed = 0;
  std::uint64_t packets_dropped = 0;
};

} // namespace gpurtsp::launch
