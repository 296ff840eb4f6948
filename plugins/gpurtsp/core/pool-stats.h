// SPDX-License-Identifier: MIT
/* gpurtsp: the one writer of a SessionPool's figures into an element's stats
 * structure, under the names include/gpurtsp/pool-stats.hpp gives readers.
 * gpujpegenc and gpukeyframedec both call it, so their pools read alike. */
#pragma once

#include <gst/gst.h>

#include "core/session-pool.hpp"

namespace gpurtsp {

/* Sets the pool_field fields of @stats from @pool; @users is how many
 * element instances share the pool. */
void set_pool_stats(GstStructure *stats, const SessionPoolStats &pool, unsigned users);

} // namespace gpurtsp
