// SPDX-License-Identifier: MIT
/* rtpkeyframefilter's names and a typed reader for its counters, for
 * applications. Header-only, needs gstreamer-1.0 only. Reference:
 * docs/rtpkeyframefilter.md. */
#pragma once

#include <gst/gst.h>

#include <optional>

namespace gpurtsp::rtpkeyframefilter {

inline constexpr char kFactory[] = "rtpkeyframefilter";

namespace property {
inline constexpr char kRenumber[] = "renumber";              /* gboolean */
inline constexpr char kReorderWindow[] = "reorder-window";   /* guint, packets */
inline constexpr char kPacketsPassed[] = "packets-passed";   /* guint64, read-only */
inline constexpr char kPacketsDropped[] = "packets-dropped"; /* guint64, read-only */
inline constexpr char kGapsAreDrops[] = "gaps-are-drops";    /* gboolean */
inline constexpr char kKeyframesCut[] = "keyframes-cut";     /* guint64, read-only */
} // namespace property

/* Name of the element message posted, with gaps-are-drops, when a keyframe
 * arrives cut short (fields: "keyframes-cut", guint64, so far). */
inline constexpr char kKeyframeCutMessage[] = "rtpkeyframefilter-keyframe-cut";

struct Counters {
  guint64 packets_passed = 0;
  guint64 packets_dropped = 0;
  guint64 keyframes_cut = 0; /* 0 where the element is too old to count */

  /* Reads @filter's counters; nullopt unless it has them. */
  static std::optional<Counters> read(GstElement *filter) {
    if (!filter)
      return std::nullopt;
    GObjectClass *klass = G_OBJECT_GET_CLASS(filter);
    if (!g_object_class_find_property(klass, property::kPacketsPassed) ||
        !g_object_class_find_property(klass, property::kPacketsDropped))
      return std::nullopt;
    Counters c;
    g_object_get(filter, property::kPacketsPassed, &c.packets_passed, property::kPacketsDropped,
                 &c.packets_dropped, nullptr);
    if (g_object_class_find_property(klass, property::kKeyframesCut))
      g_object_get(filter, property::kKeyframesCut, &c.keyframes_cut, nullptr);
    return c;
  }
};

} // namespace gpurtsp::rtpkeyframefilter
