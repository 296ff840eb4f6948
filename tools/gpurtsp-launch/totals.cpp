#include "totals.h"

#include <algorithm>

namespace gpurtsp::launch {

namespace {

std::uint64_t field_u64(const GstStructure *stats, const char *name) {
  guint64 value = 0;
  gst_structure_get_uint64(stats, name, &value);
  return value;
}

unsigned field_uint(const GstStructure *stats, const char *name) {
  guint value = 0;
  gst_structure_get_uint(stats, name, &value);
  return value;
}

} // namespace

void KeyframeDecoderTotals::add(const GstStructure *stats) {
  instances++;
  decoded += field_u64(stats, "decoded");
  dropped_busy += field_u64(stats, "dropped-busy");
  dropped_non_intra += field_u64(stats, "dropped-non-intra");
  pool_users = std::max(pool_users, field_uint(stats, "pool-users"));
  pool_sessions = std::max(pool_sessions, field_uint(stats, "pool-sessions"));
  pool_max_sessions = std::max(pool_max_sessions, field_uint(stats, "pool-max-sessions"));
  pool_creation_failures =
      std::max(pool_creation_failures, field_u64(stats, "pool-creation-failures"));
  pool_output_frames = std::max(pool_output_frames, field_u64(stats, "pool-output-frames"));
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

} // namespace gpurtsp::launch
