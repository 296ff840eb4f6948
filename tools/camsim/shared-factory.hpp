// SPDX-License-Identifier: MIT
/* camsim (internal): a media factory that serves all its mount paths from one
 * media. */
#pragma once

#include <gst/rtsp-server/rtsp-media-factory.h>

G_BEGIN_DECLS

#define CAMSIM_TYPE_SHARED_FACTORY (camsim_shared_factory_get_type())
G_DECLARE_FINAL_TYPE(CamsimSharedFactory, camsim_shared_factory, CAMSIM, SHARED_FACTORY,
                     GstRTSPMediaFactory)

G_END_DECLS

/* A shared factory caches its media under a key made from the request URL, so
 * one factory added at several mount paths still builds a media per path.
 * This one gives every URL the same key: added at several paths (a
 * share_media group), it serves them all from the one media the first
 * request built, for as long as any client keeps that media prepared. Set it
 * up (launch, shared, roles...) like any factory. */
GstRTSPMediaFactory *camsim_shared_factory_new();
