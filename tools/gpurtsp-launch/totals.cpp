// SPDX-License-Identifier: MIT
#include "totals.h"

#include <algorithm>

namespace gpurtsp::launch {

namespace {

/* A per-GPU pool is shared by every camera of the GPU: its figures are the
 * same in each camera's structure, so the largest is the pool's. */
void add_shared_pool(const std::optional<PoolStats> &pool, unsigned &users, unsigned &sessions,
                     unsigned &max_sessions, std::uint64_t &creation_failures) {
  if (!pool)
    return;
  users = std::max(users, pool->users);
  sessions = std::max(sessions, pool->size);
  max_sessions = std::max(max_sessions, pool->max);
  creation_failures = std::max<std::uint64_t>(creation_failures, pool->creation_failures);
}

} // namespace

void KeyframeDecoderTotals::add(const gpukeyframedec::Stats &s) {
  instances++;
  decoded += s.decoded;
  dropped_busy += s.dropped_busy;
  dropped_non_intra += s.dropped_non_intra;
  pool_output_frames = std::max<std::uint64_t>(pool_output_frames, s.pool_output_frames);
  add_shared_pool(s.pool, pool_users, pool_sessions, pool_max_sessions, pool_creation_failures);
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
  add_shared_pool(s.pool, pool_users, pool_sessions, pool_max_sessions, pool_creation_failures);
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
