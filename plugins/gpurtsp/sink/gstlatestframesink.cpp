// SPDX-License-Identifier: MIT
/**
 * SECTION:element-latestframesink
 * @title: latestframesink
 *
 * Keeps the newest #GstLatestFrameSink:buffer-size frames of one stream, of
 * any caps, for any number of readers, which take them through the
 * #GstLatestFrameSink::get-latest-sample,
 * #GstLatestFrameSink::get-sample-array and #GstLatestFrameSink::clear action
 * signals from any thread. It never maps, copies or looks at a frame.
 * Reference documentation: docs/latestframesink.md.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=100 ! jpegenc ! latestframesink buffer-size=5 sync=false
 * ]|
 */
/* The streaming thread puts every frame, as a GstSample carrying its own caps
 * and segment, at the front of a ring of refcounted samples; readers take
 * references out of the ring through action signals from any thread. The only
 * lock is held just long enough to move sample pointers, so the streaming
 * thread never waits on a reader and a reader never blocks the stream. */
#include "sink/gstlatestframesink.h"

#include <gpurtsp/latestframesink.hpp>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(gst_latest_frame_sink_debug);
#define GST_CAT_DEFAULT gst_latest_frame_sink_debug

namespace {

constexpr guint kDefaultBufferSize = 30;
constexpr bool kDefaultEmitSignals = false;

namespace property = gpurtsp::latestframesink::property;
namespace signal_name = gpurtsp::latestframesink::signal_name;
namespace frame_field = gpurtsp::latestframesink::frame_field;

enum {
  PROP_0,
  PROP_BUFFER_SIZE,
  PROP_EMIT_SIGNALS,
  PROP_FRAMES_RECEIVED,
  PROP_FRAMES_DROPPED,
  PROP_LAST_FRAME_TIME,
};

enum {
  SIGNAL_NEW_FRAME,
  SIGNAL_GET_LATEST_SAMPLE,
  SIGNAL_GET_SAMPLES,
  SIGNAL_GET_SAMPLE_ARRAY,
  SIGNAL_CLEAR,
  N_SIGNALS,
};

guint signals[N_SIGNALS];

struct SampleUnref {
  void operator()(GstSample *sample) const { gst_sample_unref(sample); }
};
using SamplePtr = std::unique_ptr<GstSample, SampleUnref>;

/* Monotonic clock in nanoseconds, the unit of last-frame-time and arrival-time. */
guint64 monotonic_ns() {
  return static_cast<guint64>(g_get_monotonic_time()) * 1000;
}

} // namespace

struct GstLatestFrameSinkPrivate {
  /* Guards everything up to the next comment. Held only to move sample
   * pointers in and out of the ring: samples are built before taking it and
   * unreffed (which may free buffers or return them to an upstream pool)
   * after releasing it. */
  std::mutex lock;
  std::deque<SamplePtr> ring; /* newest first, never more than capacity */
  /* Written with lock held (it bounds ring); read without it where a stale
   * value is harmless: property getter, ALLOCATION answer, size hints. */
  std::atomic<guint> capacity{kDefaultBufferSize};
  /* The buffer preroll() handled last (stored or dropped), compared by
   * identity only, never dereferenced: basesink hands it to render() once
   * more when it reaches PLAYING, and that is not a second frame. Identity
   * is safe: basesink holds the buffer from preroll() to render(), and after
   * a flush or restart it prerolls (so replaces this) before rendering. */
  const GstBuffer *prerolled = nullptr;

  /* Statistics. Written only by the streaming thread, with lock held so that
   * they agree with the ring; read without the lock by property getters. */
  std::atomic<guint64> frames_received{0};
  std::atomic<guint64> frames_dropped{0};
  std::atomic<guint64> last_frame_time{0};

  std::atomic<bool> emit_signals{kDefaultEmitSignals};

  /* Streaming thread only: a warning was posted for the current run of
   * buffers without caps (one message per run, not one per buffer). */
  bool warned_no_caps = false;
};

struct _GstLatestFrameSink {
  GstBaseSink parent;

  GstLatestFrameSinkPrivate *priv;
};

#define gst_latest_frame_sink_parent_class parent_class
G_DEFINE_TYPE(GstLatestFrameSink, gst_latest_frame_sink, GST_TYPE_BASE_SINK)

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void gst_latest_frame_sink_finalize(GObject *object);
static void gst_latest_frame_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec);
static void gst_latest_frame_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec);
static gboolean gst_latest_frame_sink_propose_allocation(GstBaseSink *sink, GstQuery *query);
static GstFlowReturn gst_latest_frame_sink_preroll(GstBaseSink *sink, GstBuffer *buffer);
static GstFlowReturn gst_latest_frame_sink_render(GstBaseSink *sink, GstBuffer *buffer);
static GstSample *gst_latest_frame_sink_get_latest_sample(GstLatestFrameSink *self);
static GValueArray *gst_latest_frame_sink_get_samples(GstLatestFrameSink *self, guint n);
static GPtrArray *gst_latest_frame_sink_get_sample_array(GstLatestFrameSink *self, guint n);
static void gst_latest_frame_sink_clear(GstLatestFrameSink *self);

static void gst_latest_frame_sink_class_init(GstLatestFrameSinkClass *klass) {
  auto object_class = G_OBJECT_CLASS(klass);
  auto element_class = GST_ELEMENT_CLASS(klass);
  auto sink_class = GST_BASE_SINK_CLASS(klass);

  object_class->finalize = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_finalize);
  object_class->set_property = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_set_property);
  object_class->get_property = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_get_property);

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                           GST_PARAM_MUTABLE_PLAYING);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property(
      object_class, PROP_BUFFER_SIZE,
      g_param_spec_uint(property::kBufferSize, "Buffer size",
                        "How many of the newest frames are kept (shrinking drops the oldest)", 1,
                        G_MAXUINT, kDefaultBufferSize, rw));
  g_object_class_install_property(
      object_class, PROP_EMIT_SIGNALS,
      g_param_spec_boolean(property::kEmitSignals, "Emit signals",
                           "Emit new-frame from the streaming thread for every stored frame",
                           kDefaultEmitSignals, rw));
  g_object_class_install_property(
      object_class, PROP_FRAMES_RECEIVED,
      g_param_spec_uint64(property::kFramesReceived, "Frames received",
                          "Buffers that reached the sink, stored or dropped (a prerolled buffer "
                          "counts once)",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      object_class, PROP_FRAMES_DROPPED,
      g_param_spec_uint64(property::kFramesDropped, "Frames dropped",
                          "Buffers that reached the sink but could not be stored (no caps); "
                          "frames pushed out of the ring by newer ones are not drops",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      object_class, PROP_LAST_FRAME_TIME,
      g_param_spec_uint64(property::kLastFrameTime, "Last frame time",
                          "Arrival of the newest stored frame, monotonic clock in ns "
                          "(g_get_monotonic_time() * 1000), 0 if none arrived yet",
                          0, G_MAXUINT64, 0, ro));

  /**
   * GstLatestFrameSink::new-frame:
   * @sink: the sink
   *
   * A frame was stored. Emitted from the streaming thread, only while
   * emit-signals is TRUE; handlers must return quickly.
   */
  signals[SIGNAL_NEW_FRAME] =
      g_signal_new(signal_name::kNewFrame, G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr,
                   nullptr, nullptr, G_TYPE_NONE, 0);

  /**
   * GstLatestFrameSink::get-latest-sample:
   * @sink: the sink
   *
   * Returns: (transfer full) (nullable): the newest frame, or NULL if none is stored.
   */
  signals[SIGNAL_GET_LATEST_SAMPLE] =
      g_signal_new_class_handler(signal_name::kGetLatestSample, G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(gst_latest_frame_sink_get_latest_sample), nullptr,
                                 nullptr, nullptr, GST_TYPE_SAMPLE, 0);

  /**
   * GstLatestFrameSink::get-samples:
   * @sink: the sink
   * @n: how many frames at most
   *
   * Returns: (transfer full): a GValueArray of up to @n GstSample, newest first,
   * empty (never NULL) when nothing is stored. Free with g_value_array_free().
   *
   * Deprecated: GValueArray is deprecated in GLib; use
   * #GstLatestFrameSink::get-sample-array. Kept for existing callers and for
   * Python, where PyGObject turns the GValueArray into a list.
   */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  signals[SIGNAL_GET_SAMPLES] =
      g_signal_new_class_handler(signal_name::kGetSamples, G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(gst_latest_frame_sink_get_samples), nullptr, nullptr,
                                 nullptr, g_value_array_get_type(), 1, G_TYPE_UINT);
  G_GNUC_END_IGNORE_DEPRECATIONS

  /**
   * GstLatestFrameSink::get-sample-array:
   * @sink: the sink
   * @n: how many frames at most
   *
   * Returns: (transfer full) (element-type GstSample): a GPtrArray of up to
   * @n GstSample, newest first, empty (never NULL) when nothing is stored.
   * g_ptr_array_unref() drops the sample references too.
   */
  signals[SIGNAL_GET_SAMPLE_ARRAY] =
      g_signal_new_class_handler(signal_name::kGetSampleArray, G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(gst_latest_frame_sink_get_sample_array), nullptr,
                                 nullptr, nullptr, G_TYPE_PTR_ARRAY, 1, G_TYPE_UINT);

  /**
   * GstLatestFrameSink::clear:
   * @sink: the sink
   *
   * Drops every stored frame. Statistics are kept.
   */
  signals[SIGNAL_CLEAR] = g_signal_new_class_handler(
      signal_name::kClear, G_TYPE_FROM_CLASS(klass),
      static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_latest_frame_sink_clear), nullptr, nullptr, nullptr, G_TYPE_NONE, 0);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  /* "Sink", not "Sink/Video": it takes any caps (JPEG, raw, CUDA memory). */
  gst_element_class_set_static_metadata(element_class, "Latest frame sink", "Sink",
                                        "Keeps the newest frames of a stream for any number of "
                                        "readers",
                                        "gpurtsp developers");

  sink_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_propose_allocation);
  sink_class->preroll = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_preroll);
  sink_class->render = GST_DEBUG_FUNCPTR(gst_latest_frame_sink_render);

  GST_DEBUG_CATEGORY_INIT(gst_latest_frame_sink_debug, "latestframesink", 0, "latestframesink");
}

static void gst_latest_frame_sink_init(GstLatestFrameSink *self) {
  self->priv = new GstLatestFrameSinkPrivate();
  /* The ring already holds the newest frame; basesink's own copy would only
   * keep one buffer alive after clear. */
  gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(self), FALSE);
}

static void gst_latest_frame_sink_finalize(GObject *object) {
  auto self = GST_LATEST_FRAME_SINK(object);

  delete self->priv;

  G_OBJECT_CLASS(parent_class)->finalize(object);
}

/* Sets the ring capacity, dropping the oldest frames that no longer fit. */
static void set_buffer_size(GstLatestFrameSink *self, guint capacity) {
  auto priv = self->priv;
  std::deque<SamplePtr> dropped;
  bool grew;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    grew = capacity > priv->capacity;
    priv->capacity = capacity;
    while (priv->ring.size() > capacity) {
      dropped.push_back(std::move(priv->ring.back()));
      priv->ring.pop_back();
    }
  }

  GST_DEBUG_OBJECT(self, "buffer-size %u, dropped %zu frames", capacity, dropped.size());

  /* Upstream sized its pool for the old capacity (see propose_allocation):
   * ask it to query again. A smaller ring needs no new pool. */
  if (grew)
    gst_pad_push_event(GST_BASE_SINK_PAD(self), gst_event_new_reconfigure());
}

static void gst_latest_frame_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec) {
  auto self = GST_LATEST_FRAME_SINK(object);

  switch (prop_id) {
  case PROP_BUFFER_SIZE:
    set_buffer_size(self, g_value_get_uint(value));
    break;
  case PROP_EMIT_SIGNALS:
    self->priv->emit_signals = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_latest_frame_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec) {
  auto self = GST_LATEST_FRAME_SINK(object);
  auto priv = self->priv;

  switch (prop_id) {
  case PROP_BUFFER_SIZE:
    g_value_set_uint(value, priv->capacity);
    break;
  case PROP_EMIT_SIGNALS:
    g_value_set_boolean(value, priv->emit_signals);
    break;
  case PROP_FRAMES_RECEIVED:
    g_value_set_uint64(value, priv->frames_received);
    break;
  case PROP_FRAMES_DROPPED:
    g_value_set_uint64(value, priv->frames_dropped);
    break;
  case PROP_LAST_FRAME_TIME:
    g_value_set_uint64(value, priv->last_frame_time);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

/* The ring keeps up to buffer-size buffers out of the upstream pool for as
 * long as they are the newest, and basesink holds one more while it renders
 * it (the ring is full until the new frame pushes the oldest out). Tell
 * upstream so a bounded pool is sized for it: a pool with max buffers at or
 * below buffer-size would otherwise block the producer forever.
 *
 * No pool is offered (the sink never touches memory; upstream keeps its own
 * CUDA or system memory pool) and max is 0: how long readers hold samples is
 * up to them. VideoMeta is accepted because the sink never maps frames. */
static gboolean gst_latest_frame_sink_propose_allocation(GstBaseSink *sink, GstQuery *query) {
  auto self = GST_LATEST_FRAME_SINK(sink);
  GstCaps *caps = nullptr;
  gst_query_parse_allocation(query, &caps, nullptr);

  guint size = 0;
  GstVideoInfo info;
  if (caps && !gst_caps_is_empty(caps) &&
      gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-raw") &&
      gst_video_info_from_caps(&info, caps))
    size = static_cast<guint>(GST_VIDEO_INFO_SIZE(&info));

  const guint capacity = self->priv->capacity;
  const guint min_buffers = capacity == G_MAXUINT ? G_MAXUINT : capacity + 1;

  GST_DEBUG_OBJECT(self, "proposing min %u buffers of %u bytes for %" GST_PTR_FORMAT, min_buffers,
                   size, caps);
  gst_query_add_allocation_pool(query, nullptr, size, min_buffers, 0);
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);

  return TRUE;
}

/* Stores @buffer as the newest frame. @from_preroll: called by preroll(). */
static GstFlowReturn store_frame(GstLatestFrameSink *self, GstBuffer *buffer, bool from_preroll) {
  auto priv = self->priv;
  const guint64 arrival = monotonic_ns();

  /* Built before taking the lock. Only this thread writes frames_received,
   * so the sequence number can be read ahead too. */
  SamplePtr sample;
  const guint64 sequence = priv->frames_received + 1;
  if (GstCaps *caps = gst_pad_get_current_caps(GST_BASE_SINK_PAD(self))) {
    GstSegment segment;
    GST_OBJECT_LOCK(self);
    gst_segment_copy_into(&GST_BASE_SINK(self)->segment, &segment);
    GST_OBJECT_UNLOCK(self);
    GstStructure *info =
        gst_structure_new(frame_field::kName, frame_field::kSequence, G_TYPE_UINT64, sequence,
                          frame_field::kArrivalTime, G_TYPE_UINT64, arrival, nullptr);
    sample.reset(gst_sample_new(buffer, caps, &segment, info));
    gst_caps_unref(caps);
  }

  const bool have_caps = sample != nullptr;
  /* Released after the lock, like an unused sample. The ring never holds
   * more than capacity, so one new frame pushes out at most one. */
  SamplePtr evicted;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    if (!from_preroll && buffer == priv->prerolled) {
      /* The prerolled buffer, now played: already handled. */
      priv->prerolled = nullptr;
      return GST_FLOW_OK;
    }
    priv->prerolled = from_preroll ? buffer : nullptr;

    priv->frames_received = sequence;
    if (!have_caps) {
      priv->frames_dropped++;
    } else {
      priv->ring.push_front(std::move(sample));
      if (priv->ring.size() > priv->capacity) {
        evicted = std::move(priv->ring.back());
        priv->ring.pop_back();
      }
      priv->last_frame_time = arrival;
    }
  }

  if (!have_caps) {
    /* Upstream is broken, but the frames already stored are still good to
     * serve: report it without stopping the pipeline. */
    GST_DEBUG_OBJECT(self, "dropped %" GST_PTR_FORMAT ": no caps", buffer);
    if (!priv->warned_no_caps) {
      priv->warned_no_caps = true;
      GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("Received a buffer without caps"),
                          ("Buffers are dropped (counted in frames-dropped) until upstream sends "
                           "a CAPS event"));
    }
    return GST_FLOW_OK;
  }
  priv->warned_no_caps = false;

  GST_LOG_OBJECT(self, "stored frame %" G_GUINT64_FORMAT ": %" GST_PTR_FORMAT, sequence, buffer);
  if (priv->emit_signals)
    g_signal_emit(self, signals[SIGNAL_NEW_FRAME], 0);

  return GST_FLOW_OK;
}

/* A paused pipeline serves its preroll frame: store it here, and let
 * render() skip it when basesink hands it over again. */
static GstFlowReturn gst_latest_frame_sink_preroll(GstBaseSink *sink, GstBuffer *buffer) {
  return store_frame(GST_LATEST_FRAME_SINK(sink), buffer, true);
}

static GstFlowReturn gst_latest_frame_sink_render(GstBaseSink *sink, GstBuffer *buffer) {
  return store_frame(GST_LATEST_FRAME_SINK(sink), buffer, false);
}

static GstSample *gst_latest_frame_sink_get_latest_sample(GstLatestFrameSink *self) {
  auto priv = self->priv;
  std::lock_guard<std::mutex> lk(priv->lock);
  if (priv->ring.empty())
    return nullptr;
  return gst_sample_ref(priv->ring.front().get());
}

/* References to up to @n of the newest samples, newest first. */
static std::vector<GstSample *> newest_samples(GstLatestFrameSink *self, guint n) {
  auto priv = self->priv;
  std::vector<GstSample *> newest;
  newest.reserve(std::min<guint>(n, priv->capacity)); /* allocate before locking */
  std::lock_guard<std::mutex> lk(priv->lock);
  const size_t count = std::min<size_t>(n, priv->ring.size());
  for (size_t i = 0; i < count; i++)
    newest.push_back(gst_sample_ref(priv->ring[i].get()));
  return newest;
}

static GPtrArray *gst_latest_frame_sink_get_sample_array(GstLatestFrameSink *self, guint n) {
  std::vector<GstSample *> newest = newest_samples(self, n);
  GPtrArray *array = g_ptr_array_new_full(static_cast<guint>(newest.size()),
                                          reinterpret_cast<GDestroyNotify>(gst_sample_unref));
  for (GstSample *sample : newest)
    g_ptr_array_add(array, sample);
  return array;
}

static GValueArray *gst_latest_frame_sink_get_samples(GstLatestFrameSink *self, guint n) {
  std::vector<GstSample *> newest = newest_samples(self, n);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *array = g_value_array_new(newest.size());
  for (GstSample *sample : newest) {
    GValue value = G_VALUE_INIT;
    g_value_init(&value, GST_TYPE_SAMPLE);
    g_value_take_boxed(&value, sample);
    g_value_array_append(array, &value);
    g_value_unset(&value);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS

  return array;
}

static void gst_latest_frame_sink_clear(GstLatestFrameSink *self) {
  auto priv = self->priv;
  std::deque<SamplePtr> dropped;
  {
    std::lock_guard<std::mutex> lk(priv->lock);
    dropped.swap(priv->ring);
  }
  GST_DEBUG_OBJECT(self, "cleared %zu frames", dropped.size());
}
