// SPDX-License-Identifier: MIT
#include "totals.h"

#include <algorithm>

namespace gpurtsp::launch {

void SharedPoolTotals::add(const std::optional<PoolStats> &pool) {
  if (!pool)
    return;
  users = std::max(users, pool->users);
  sessions = std::max(sessions, pool->size);
  max_sessions = std::max(max_sessions, pool->max);
  creation_failures = std::max<std::uint64_t>(creation_failures, pool->creation_failures);
  waits = std::max<std::uint64_t>(waits, pool->waits);
  timeouts = std::max<std::uint64_t>(timeouts, pool->timeouts);
}

void SharedPoolTotals::merge(const SharedPoolTotals &other) {
  users += other.users;
  sessions += other.sessions;
  max_sessions += other.max_sessions;
  creation_failures += other.creation_failures;
  waits += other.waits;
  timeouts += other.timeouts;
}

void KeyframeDecoderTotals::add(const gpukeyframedec::Stats &s) {
  instances++;
  decoded += s.decoded;
  dropped_busy += s.dropped_busy;
  dropped_non_intra += s.dropped_non_intra;
  pool_output_frames = std::max<std::uint64_t>(pool_output_frames, s.pool_output_frames);
  pool.add(s.pool);
}

void KeyframeDecoderTotals::merge(const KeyframeDecoderTotals &other) {
  instances += other.instances;
  decoded += other.decoded;
  dropped_busy += other.dropped_busy;
  dropped_non_intra += other.dropped_non_intra;
  pool.merge(other.pool);
  pool_output_frames += other.pool_output_frames;
}

void JpegEncoderTotals::add(const gpujpegenc::Stats &s) {
  instances++;
  encodes += s.encodes;
  dropped_busy += s.dropped_busy;
  pool.add(s.pool);
}

void JpegEncoderTotals::merge(const JpegEncoderTotals &other) {
  instances += other.instances;
  encodes += other.encodes;
  dropped_busy += other.dropped_busy;
  pool.merge(other.pool);
}

} // namespace gpurtsp::launch
