// SPDX-License-Identifier: MIT
#include "totals.h"

#include <algorithm>

namespace gpurtsp::launch {

void KeyframeDecoderTotals::add(const gpukeyframedec::Stats &s) {
  instances++;
  decoded += s.decoded;
  dropped_busy += s.dropped_busy;
  dropped_non_intra += s.dropped_non_intra;
  /* The pool is shared by every camera of a GPU: its figures are the same
   * in each camera's structure, so the largest is the pool's. */
  pool_output_frames = std::max<std::uint64_t>(pool_output_frames, s.pool_output_frames);
  if (const auto &pool = s.pool) {
    pool_users = std::max(pool_users, pool->users);
    pool_sessions = std::max(pool_sessions, pool->size);
    pool_max_sessions = std::max(pool_max_sessions, pool->max);
    pool_creation_failures =
        std::max<std::uint64_t>(pool_creation_failures, pool->creation_failures);
  }
}

void KeyframeDecoderTotals::merge(const KeyframeDecoderTotals &other) {
  instances += other.instances;
  decoded += other.decoded;
  dropped_busy += other.dropped_busy;
  dropped_non_intra += other.dropped_non_intra;
  pool_users += other.pool_users;
  pool_sessions += other.pool_sessions;
  pool_max_sessions += other.pool_max_sessions;
  pool_creation_failures += other.pool_creation_failures;
  pool_output_frames += other.pool_output_frames;
}

void JpegEncoderTotals::add(const gpujpegenc::Stats &s) {
  instances++;
  encodes += s.encodes;
  dropped_busy += s.dropped_busy;
  /* Shared by every gpujpegenc of a GPU, as the keyframe pool is. */
  if (const auto &pool = s.pool) {
    pool_users = std::max(pool_users, pool->users);
    pool_sessions = std::max(pool_sessions, pool->size);
    pool_max_sessions = std::max(pool_max_sessions, pool->max);
    pool_creation_failures =
        std::max<std::uint64_t>(pool_creation_failures, pool->creation_failures);
  }
}

void JpegEncoderTotals::merge(const JpegEncoderTotals &other) {
  instances += other.instances;
  encodes += other.encodes;
  dropped_busy += other.dropped_busy;
  pool_users += other.pool_users;
  pool_sessions += other.pool_sessions;
  pool_max_sessions += other.pool_max_sessions;
  pool_creation_failures += other.pool_creation_failures;
}

} // namespace gpurtsp::launch
