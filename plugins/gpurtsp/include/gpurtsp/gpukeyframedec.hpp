// SPDX-License-Identifier: MIT
/* gpukeyframedec's names and a typed reader for its `stats`, for
 * applications. Header-only, needs gstreamer-1.0 only. Reference:
 * docs/nvdec-sessions.md.
 *
 *   if (auto stats = gpurtsp::gpukeyframedec::Stats::read(decoder))
 *     decoded += stats->decoded;
 */
#pragma once

#include <gpurtsp/cuda-element.hpp>
#include <gpurtsp/pool-stats.hpp>

#include <optional>

namespace gpurtsp::gpukeyframedec {

inline constexpr char kFactory[] = "gpukeyframedec";

namespace property {
inline constexpr const char *kCudaDeviceId = kCudaDeviceIdProperty;
inline constexpr char kMaxSessions[] = "max-sessions";       /* guint: the pool's cap */
inline constexpr char kSessionTimeout[] = "session-timeout"; /* guint ms */
/* gboolean: cuvid parsers from the context's pool, not one per instance */
inline constexpr char kShareParsers[] = "share-parsers";
inline constexpr const char *kStats = kStatsProperty; /* GstStructure, read-only */
} // namespace property

/* The stats structure: this instance's counters, plus pool_field's and
 * kPoolOutputFrames and kPoolParsers while started. */
namespace stats_field {
inline constexpr char kName[] = "application/x-gpukeyframedec-stats";
inline constexpr char kDecoded[] = "decoded";                   /* guint64 */
inline constexpr char kDroppedDelta[] = "dropped-delta";        /* guint64: delta frames */
inline constexpr char kDroppedNonIntra[] = "dropped-non-intra"; /* guint64: keyframes not intra */
/* guint64: no session in time, or 64 shared output frames of its size downstream */
inline constexpr char kDroppedBusy[] = "dropped-busy";
/* guint64: frames the context's shared output frame pools allocated. */
inline constexpr char kPoolOutputFrames[] = "pool-output-frames";
/* guint64: cuvid parsers the context's instances share (one per keyframe
 * being parsed at once, at most 32). */
inline constexpr char kPoolParsers[] = "pool-parsers";
} // namespace stats_field

struct Stats {
  guint64 decoded = 0;
  guint64 dropped_delta = 0;
  guint64 dropped_non_intra = 0;
  guint64 dropped_busy = 0;
  std::optional<PoolStats> pool; /* the context's session pool, while started */
  guint64 pool_output_frames = 0;
  guint64 pool_parsers = 0;

  /* nullopt unless @stats is gpukeyframedec's stats structure. */
  static std::optional<Stats> from_structure(const GstStructure *stats) {
    if (!stats || !gst_structure_has_name(stats, stats_field::kName))
      return std::nullopt;
    Stats s;
    s.decoded = detail::get_uint64(stats, stats_field::kDecoded);
    s.dropped_delta = detail::get_uint64(stats, stats_field::kDroppedDelta);
    s.dropped_non_intra = detail::get_uint64(stats, stats_field::kDroppedNonIntra);
    s.dropped_busy = detail::get_uint64(stats, stats_field::kDroppedBusy);
    s.pool = PoolStats::from_structure(stats);
    s.pool_output_frames = detail::get_uint64(stats, stats_field::kPoolOutputFrames);
    s.pool_parsers = detail::get_uint64(stats, stats_field::kPoolParsers);
    return s;
  }

  /* Reads @decoder's stats property; nullopt unless it is a gpukeyframedec. */
  static std::optional<Stats> read(GstElement *decoder) {
    GstStructure *stats = detail::read_stats(decoder, stats_field::kName);
    if (!stats)
      return std::nullopt;
    auto s = from_structure(stats);
    gst_structure_free(stats);
    return s;
  }
};

} // namespace gpurtsp::gpukeyframedec
