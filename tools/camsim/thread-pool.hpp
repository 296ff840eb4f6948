// SPDX-License-Identifier: MIT
/* camsim (internal): an RTSP thread pool that shares media threads. */
#pragma once

#include <gst/rtsp-server/rtsp-thread-pool.h>

G_BEGIN_DECLS

#define CAMSIM_TYPE_THREAD_POOL (camsim_thread_pool_get_type())
G_DECLARE_FINAL_TYPE(CamsimThreadPool, camsim_thread_pool, CAMSIM, THREAD_POOL, GstRTSPThreadPool)

G_END_DECLS

/* gst-rtsp-server gives every media its own thread (bus watch and state
 * changes), which is 2,000 mostly idle threads for 2,000 mounts. This pool
 * spreads media over @threads shared threads instead, and serves client
 * connections from @threads threads as the default pool does. */
GstRTSPThreadPool *camsim_thread_pool_new(int threads);

/* Drops the pool's refs to its media threads, and stops sharing. Every media
 * thread holds a ref to its pool, so without this the pool and its last
 * threads keep each other alive: call it once the server is torn down. */
void camsim_thread_pool_release_threads(GstRTSPThreadPool *pool);
