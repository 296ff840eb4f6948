// SPDX-License-Identifier: MIT
/* camsim: a media factory that serves all its mount paths from one media. */
#include "shared-factory.hpp"

struct _CamsimSharedFactory {
  GstRTSPMediaFactory parent;
};

G_DEFINE_TYPE(CamsimSharedFactory, camsim_shared_factory, GST_TYPE_RTSP_MEDIA_FACTORY)

/* The media cache is per factory, so a constant key is one media per factory
 * whatever path was asked for. */
static gchar *camsim_shared_factory_gen_key(GstRTSPMediaFactory *, const GstRTSPUrl *) {
  return g_strdup("group");
}

static void camsim_shared_factory_class_init(CamsimSharedFactoryClass *klass) {
  GST_RTSP_MEDIA_FACTORY_CLASS(klass)->gen_key = camsim_shared_factory_gen_key;
}

static void camsim_shared_factory_init(CamsimSharedFactory *) {}

GstRTSPMediaFactory *camsim_shared_factory_new() {
  return GST_RTSP_MEDIA_FACTORY(g_object_new(CAMSIM_TYPE_SHARED_FACTORY, nullptr));
}
