// SPDX-License-Identifier: MIT
#include "core/pool-stats.h"

#include <gpurtsp/pool-stats.hpp>

namespace gpurtsp {

void set_pool_stats(GstStructure *stats, const SessionPoolStats &pool, unsigned users) {
  namespace f = pool_field;
  gst_structure_set(stats, f::kSize, G_TYPE_UINT, pool.sessions, f::kInUse, G_TYPE_UINT, pool.lent,
                    f::kMax, G_TYPE_UINT, pool.max_sessions, f::kWaiting, G_TYPE_UINT, pool.waiting,
                    f::kUsers, G_TYPE_UINT, users, f::kCreated, G_TYPE_UINT64,
                    static_cast<guint64>(pool.created), f::kDestroyed, G_TYPE_UINT64,
                    static_cast<guint64>(pool.destroyed), f::kWaits, G_TYPE_UINT64,
                    static_cast<guint64>(pool.waits), f::kTimeouts, G_TYPE_UINT64,
                    static_cast<guint64>(pool.timeouts), f::kCreationFailures, G_TYPE_UINT64,
                    static_cast<guint64>(pool.creation_failures), f::kLastFailure, G_TYPE_STRING,
                    pool.last_failure.c_str(), nullptr);
}

} // namespace gpurtsp
