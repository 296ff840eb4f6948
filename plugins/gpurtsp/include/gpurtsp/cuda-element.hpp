// SPDX-License-Identifier: MIT
/* Names shared by gpurtsp's CUDA elements (gpujpegenc, gpukeyframedec,
 * gpunv12torgb), for applications that set or read them. Header-only, needs
 * gstreamer-1.0 only. Reference: docs/gpujpegenc.md, docs/nvdec-sessions.md,
 * docs/gpunv12torgb.md. */
#pragma once

#include <gst/gst.h>

namespace gpurtsp {

/* gint property of every CUDA element: the GPU to use, -1 for the default
 * (or whichever GPU the pipeline's shared GstCudaContext is on). */
inline constexpr char kCudaDeviceIdProperty[] = "cuda-device-id";

/* Read-only GstStructure property of gpujpegenc and gpukeyframedec; read it
 * through gpujpegenc::Stats / gpukeyframedec::Stats. */
inline constexpr char kStatsProperty[] = "stats";

namespace detail {

/* @element's "stats" structure if it has one named @name (transfer full),
 * else nullptr. Checking the property first keeps a wrong element from
 * triggering GObject's invalid-property warning. */
inline GstStructure *read_stats(GstElement *element, const char *name) {
  if (!element || !g_object_class_find_property(G_OBJECT_GET_CLASS(element), kStatsProperty))
    return nullptr;
  GstStructure *stats = nullptr;
  g_object_get(element, kStatsProperty, &stats, nullptr);
  if (stats && !gst_structure_has_name(stats, name)) {
    gst_structure_free(stats);
    return nullptr;
  }
  return stats;
}

inline guint64 get_uint64(const GstStructure *s, const char *field) {
  guint64 value = 0;
  gst_structure_get_uint64(s, field, &value);
  return value;
}

inline guint get_uint(const GstStructure *s, const char *field) {
  guint value = 0;
  gst_structure_get_uint(s, field, &value);
  return value;
}

} // namespace detail

} // namespace gpurtsp
