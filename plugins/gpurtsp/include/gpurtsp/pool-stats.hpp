// SPDX-License-Identifier: MIT
/* The shared-pool fields of a gpurtsp element's `stats` structure and a typed
 * reader for them. gpujpegenc (nvJPEG encoders) and gpukeyframedec (NVDEC
 * sessions) each borrow from a pool shared by every instance on the same
 * CUDA context; both publish it under these names, present only while the
 * element is started. Header-only, needs gstreamer-1.0 only. */
#pragma once

#include <gpurtsp/cuda-element.hpp>

#include <optional>
#include <string>

namespace gpurtsp {

namespace pool_field {
/* guint, now: sessions that exist (idle or in use), lent out, the cap (it
 * drops to what exists when the driver refuses one more), borrowers queued,
 * element instances sharing the pool. */
inline constexpr char kSize[] = "pool-size";
inline constexpr char kInUse[] = "pool-in-use";
inline constexpr char kMax[] = "pool-max";
inline constexpr char kWaiting[] = "pool-waiting";
inline constexpr char kUsers[] = "pool-users";
/* guint64, so far: sessions created and destroyed, borrows that found none
 * free and waited, waits that gave up, sessions that could not be created. */
inline constexpr char kCreated[] = "pool-created";
inline constexpr char kDestroyed[] = "pool-destroyed";
inline constexpr char kWaits[] = "pool-waits";
inline constexpr char kTimeouts[] = "pool-timeouts";
inline constexpr char kCreationFailures[] = "pool-creation-failures";
/* string: why the last creation failed; empty if none did. */
inline constexpr char kLastFailure[] = "pool-last-failure";
} // namespace pool_field

struct PoolStats {
  guint size = 0;
  guint in_use = 0;
  guint max = 0;
  guint waiting = 0;
  guint users = 0;
  guint64 created = 0;
  guint64 destroyed = 0;
  guint64 waits = 0;
  guint64 timeouts = 0;
  guint64 creation_failures = 0;
  std::string last_failure;

  /* The pool fields of @stats; nullopt when it has none (element stopped). */
  static std::optional<PoolStats> from_structure(const GstStructure *stats) {
    if (!stats || !gst_structure_has_field(stats, pool_field::kSize))
      return std::nullopt;
    PoolStats pool;
    pool.size = detail::get_uint(stats, pool_field::kSize);
    pool.in_use = detail::get_uint(stats, pool_field::kInUse);
    pool.max = detail::get_uint(stats, pool_field::kMax);
    pool.waiting = detail::get_uint(stats, pool_field::kWaiting);
    pool.users = detail::get_uint(stats, pool_field::kUsers);
    pool.created = detail::get_uint64(stats, pool_field::kCreated);
    pool.destroyed = detail::get_uint64(stats, pool_field::kDestroyed);
    pool.waits = detail::get_uint64(stats, pool_field::kWaits);
    pool.timeouts = detail::get_uint64(stats, pool_field::kTimeouts);
    pool.creation_failures = detail::get_uint64(stats, pool_field::kCreationFailures);
    if (const char *why = gst_structure_get_string(stats, pool_field::kLastFailure))
      pool.last_failure = why;
    return pool;
  }
};

} // namespace gpurtsp
