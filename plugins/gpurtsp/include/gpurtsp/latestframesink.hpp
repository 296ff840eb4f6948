// SPDX-License-Identifier: MIT
/* Typed C++ access to latestframesink for embedding applications.
 *
 * Header-only: it talks to the element through its action signals and
 * properties, so an application needs gstreamer-1.0 only, not the plugin's
 * library. Reference: docs/latestframesink.md.
 *
 *   auto sink = gpurtsp::LatestFrameSink::wrap(gst_bin_get_by_name(bin, "sink"), true);
 *   if (sink)
 *     if (gpurtsp::Sample frame = sink->latest())
 *       use(gst_sample_get_buffer(frame.get()), gst_sample_get_caps(frame.get()));
 */
#pragma once

#include <gst/gst.h>

#include <memory>
#include <optional>
#include <vector>

namespace gpurtsp {

/* The element's names, for applications that use it without this class
 * (gst_element_factory_make, g_object_set, g_signal_emit_by_name). */
namespace latestframesink {
inline constexpr char kFactory[] = "latestframesink";

namespace property {
inline constexpr char kBufferSize[] = "buffer-size";         /* guint */
inline constexpr char kEmitSignals[] = "emit-signals";       /* gboolean */
inline constexpr char kFramesReceived[] = "frames-received"; /* guint64, read-only */
inline constexpr char kFramesDropped[] = "frames-dropped";   /* guint64, read-only */
inline constexpr char kLastFrameTime[] = "last-frame-time";  /* guint64 ns, read-only */
} // namespace property

namespace signal_name {
inline constexpr char kNewFrame[] = "new-frame";
inline constexpr char kGetLatestSample[] = "get-latest-sample";
inline constexpr char kGetSampleArray[] = "get-sample-array";
/* Deprecated: returns a GValueArray; kept for existing callers and for
 * Python, which reads it as a list. */
inline constexpr char kGetSamples[] = "get-samples";
inline constexpr char kClear[] = "clear";
} // namespace signal_name

/* The info structure of every stored sample (gst_sample_get_info). */
namespace frame_field {
inline constexpr char kName[] = "latestframesink-frame";
inline constexpr char kSequence[] = "sequence";        /* guint64 */
inline constexpr char kArrivalTime[] = "arrival-time"; /* guint64 */
} // namespace frame_field
} // namespace latestframesink

struct SampleUnref {
  void operator()(GstSample *sample) const noexcept { gst_sample_unref(sample); }
};

/* An owned reference to one stored frame: its buffer, caps, segment and
 * FrameInfo. Holding it keeps the buffer (and, for upstream pool buffers, a
 * slot of that pool) alive: release frames promptly. */
using Sample = std::unique_ptr<GstSample, SampleUnref>;

/* Bookkeeping latestframesink attaches to every stored frame. */
struct FrameInfo {
  guint64 sequence;     /* frames-received when it arrived: 1, 2, ... */
  guint64 arrival_time; /* monotonic ns, like last-frame-time */
};

/* FrameInfo of a sample taken from latestframesink; nullopt for other samples. */
inline std::optional<FrameInfo> frame_info(GstSample *sample) {
  const GstStructure *info = sample ? gst_sample_get_info(sample) : nullptr;
  FrameInfo frame;
  namespace field = latestframesink::frame_field;
  if (!info || !gst_structure_has_name(info, field::kName) ||
      !gst_structure_get_uint64(info, field::kSequence, &frame.sequence) ||
      !gst_structure_get_uint64(info, field::kArrivalTime, &frame.arrival_time))
    return std::nullopt;
  return frame;
}

/* A latestframesink element. Every method is thread-safe and never blocks on
 * the streaming thread beyond a few pointer moves. */
class LatestFrameSink {
public:
  /* Wraps @element, which must be a latestframesink (nullopt otherwise).
   * @take_ownership: adopt the caller's reference (e.g. the result of
   * gst_bin_get_by_name) instead of taking a new one. */
  static std::optional<LatestFrameSink> wrap(GstElement *element, bool take_ownership = false) {
    const GType type = g_type_from_name("GstLatestFrameSink");
    if (!element || !type || !G_TYPE_CHECK_INSTANCE_TYPE(element, type)) {
      if (element && take_ownership)
        gst_object_unref(element);
      return std::nullopt;
    }
    if (!take_ownership)
      gst_object_ref(element);
    return LatestFrameSink(element);
  }

  /* The newest frame, or an empty Sample when none is stored. */
  Sample latest() const {
    GstSample *sample = nullptr;
    g_signal_emit_by_name(element_.get(), latestframesink::signal_name::kGetLatestSample, &sample);
    return Sample(sample);
  }

  /* Up to @n of the newest frames, newest first. */
  std::vector<Sample> samples(guint n) const {
    GPtrArray *array = nullptr;
    g_signal_emit_by_name(element_.get(), latestframesink::signal_name::kGetSampleArray, n, &array);
    std::vector<Sample> frames;
    if (!array)
      return frames;
    frames.reserve(array->len);
    for (guint i = 0; i < array->len; i++)
      frames.emplace_back(gst_sample_ref(static_cast<GstSample *>(g_ptr_array_index(array, i))));
    g_ptr_array_unref(array);
    return frames;
  }

  /* Drops every stored frame; the statistics are kept. */
  void clear() const {
    g_signal_emit_by_name(element_.get(), latestframesink::signal_name::kClear);
  }

  guint64 frames_received() const { return get_uint64(latestframesink::property::kFramesReceived); }
  guint64 frames_dropped() const { return get_uint64(latestframesink::property::kFramesDropped); }
  /* Monotonic ns (g_get_monotonic_time() * 1000) of the newest arrival, 0 if none. */
  guint64 last_frame_time() const { return get_uint64(latestframesink::property::kLastFrameTime); }

  /* The wrapped element (transfer none). */
  GstElement *element() const { return element_.get(); }

private:
  struct ObjectUnref {
    void operator()(GstElement *element) const noexcept { gst_object_unref(element); }
  };

  explicit LatestFrameSink(GstElement *element) : element_(element) {}

  guint64 get_uint64(const char *property) const {
    guint64 value = 0;
    g_object_get(element_.get(), property, &value, nullptr);
    return value;
  }

  std::unique_ptr<GstElement, ObjectUnref> element_; /* owned reference */
};

} // namespace gpurtsp
