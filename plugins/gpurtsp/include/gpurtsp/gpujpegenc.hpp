// SPDX-License-Identifier: MIT
/* gpujpegenc's names and a typed reader for its `stats`, for applications.
 * Header-only, needs gstreamer-1.0 only. Reference: docs/gpujpegenc.md.
 *
 *   if (auto stats = gpurtsp::gpujpegenc::Stats::read(encoder))
 *     if (stats->pool && stats->pool->waits > last_waits) ...
 */
#pragma once

#include <gpurtsp/cuda-element.hpp>
#include <gpurtsp/pool-stats.hpp>

#include <optional>

namespace gpurtsp::gpujpegenc {

inline constexpr char kFactory[] = "gpujpegenc";

namespace property {
inline constexpr const char *kCudaDeviceId = kCudaDeviceIdProperty;
inline constexpr char kQuality[] = "quality";                /* guint 1..100 */
inline constexpr char kMaxEncoders[] = "max-encoders";       /* guint: the pool's cap */
inline constexpr char kEncoderTimeout[] = "encoder-timeout"; /* guint ms */
inline constexpr char kRgb444[] = "rgb-444";                 /* gboolean */
inline constexpr const char *kStats = kStatsProperty;        /* GstStructure, read-only */
} // namespace property

/* The stats structure: this instance's counters, plus pool_field's while
 * started. */
namespace stats_field {
inline constexpr char kName[] = "application/x-gpujpegenc-stats";
inline constexpr char kEncodes[] = "encodes";          /* guint64 */
inline constexpr char kDroppedBusy[] = "dropped-busy"; /* guint64: no encoder free in time */
} // namespace stats_field

struct Stats {
  guint64 encodes = 0;
  guint64 dropped_busy = 0;
  std::optional<PoolStats> pool; /* the context's encoder pool, while started */

  /* nullopt unless @stats is gpujpegenc's stats structure. */
  static std::optional<Stats> from_structure(const GstStructure *stats) {
    if (!stats || !gst_structure_has_name(stats, stats_field::kName))
      return std::nullopt;
    Stats s;
    s.encodes = detail::get_uint64(stats, stats_field::kEncodes);
    s.dropped_busy = detail::get_uint64(stats, stats_field::kDroppedBusy);
    s.pool = PoolStats::from_structure(stats);
    return s;
  }

  /* Reads @encoder's stats property; nullopt unless it is a gpujpegenc. */
  static std::optional<Stats> read(GstElement *encoder) {
    GstStructure *stats = detail::read_stats(encoder, stats_field::kName);
    if (!stats)
      return std::nullopt;
    auto s = from_structure(stats);
    gst_structure_free(stats);
    return s;
  }
};

} // namespace gpurtsp::gpujpegenc
