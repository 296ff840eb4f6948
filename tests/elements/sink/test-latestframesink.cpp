// SPDX-License-Identifier: MIT
/* Unit tests for latestframesink, driven through its C interface (action
 * signals and properties) the way a C application would use it. */
/* Standard headers first: check.h defines a `fail` macro that breaks them. */
#include <gpurtsp/latestframesink.hpp>
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpu-test-runner.h"
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

namespace sink_property = gpurtsp::latestframesink::property;
namespace sink_signal = gpurtsp::latestframesink::signal_name;
namespace frame_field = gpurtsp::latestframesink::frame_field;

namespace {

constexpr const char *CAPS_QVGA = "video/x-raw, format=I420, width=320, height=240, framerate=30/1";
constexpr const char *CAPS_VGA = "video/x-raw, format=I420, width=640, height=480, framerate=30/1";
constexpr gsize FRAME_BYTES = 64;

/* A frame whose offset and every byte of payload say @seq, so a reader can
 * tell a frame from another one and from freed memory. */
GstBuffer *make_frame(guint64 seq) {
  GstBuffer *buffer = gst_buffer_new_allocate(nullptr, FRAME_BYTES, nullptr);
  GstMapInfo map;
  gst_buffer_map(buffer, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < FRAME_BYTES / sizeof(guint64); i++)
    memcpy(map.data + i * sizeof(guint64), &seq, sizeof(guint64));
  gst_buffer_unmap(buffer, &map);
  GST_BUFFER_OFFSET(buffer) = seq;
  GST_BUFFER_PTS(buffer) = seq * GST_SECOND / 30;
  return buffer;
}

/* Whether @buffer still holds the payload make_frame() wrote for its offset. */
bool frame_intact(GstBuffer *buffer) {
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
    return false;
  bool intact = map.size == FRAME_BYTES;
  const guint64 seq = GST_BUFFER_OFFSET(buffer);
  for (gsize i = 0; intact && i < FRAME_BYTES / sizeof(guint64); i++)
    intact = memcmp(map.data + i * sizeof(guint64), &seq, sizeof(guint64)) == 0;
  gst_buffer_unmap(buffer, &map);
  return intact;
}

GstHarness *new_harness(guint buffer_size) {
  GstHarness *h = gst_harness_new("latestframesink");
  /* No clock waits: the harness pushes as fast as the test wants. */
  g_object_set(h->element, "sync", FALSE, sink_property::kBufferSize, buffer_size, nullptr);
  gst_harness_set_src_caps_str(h, CAPS_QVGA);
  return h;
}

void push_frame(GstHarness *h, guint64 seq) {
  fail_unless_equals_int(gst_harness_push(h, make_frame(seq)), GST_FLOW_OK);
}

guint64 get_uint64(GstElement *sink, const char *property) {
  guint64 value = 0;
  g_object_get(sink, property, &value, nullptr);
  return value;
}

GstSample *latest_sample(GstElement *sink) {
  GstSample *sample = nullptr;
  g_signal_emit_by_name(sink, sink_signal::kGetLatestSample, &sample);
  return sample;
}

/* get-samples as a C application calls it: a GValueArray the caller frees. */
std::vector<GstSample *> get_samples(GstElement *sink, guint n) {
  std::vector<GstSample *> samples;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *array = nullptr;
  g_signal_emit_by_name(sink, sink_signal::kGetSamples, n, &array);
  fail_unless(array != nullptr);
  for (guint i = 0; i < array->n_values; i++)
    samples.push_back(GST_SAMPLE(g_value_dup_boxed(g_value_array_get_nth(array, i))));
  g_value_array_free(array);
  G_GNUC_END_IGNORE_DEPRECATIONS
  return samples;
}

void unref_all(std::vector<GstSample *> &samples) {
  for (GstSample *sample : samples)
    gst_sample_unref(sample);
  samples.clear();
}

/* Offsets of the @n newest stored frames, newest first. */
std::vector<guint64> stored_offsets(GstElement *sink, guint n) {
  std::vector<GstSample *> samples = get_samples(sink, n);
  std::vector<guint64> offsets;
  for (GstSample *sample : samples)
    offsets.push_back(GST_BUFFER_OFFSET(gst_sample_get_buffer(sample)));
  unref_all(samples);
  return offsets;
}

using Offsets = std::vector<guint64>;

} // namespace

GST_START_TEST(test_defaults) {
  GstElement *sink = gst_element_factory_make("latestframesink", nullptr);
  fail_unless(sink != nullptr);

  guint buffer_size = 0;
  gboolean emit_signals = TRUE, last_sample = TRUE, sync = FALSE;
  g_object_get(sink, sink_property::kBufferSize, &buffer_size, sink_property::kEmitSignals,
               &emit_signals, "enable-last-sample", &last_sample, "sync", &sync, nullptr);
  fail_unless_equals_int(buffer_size, 30);
  fail_if(emit_signals);
  fail_if(last_sample); /* the ring replaces basesink's last-sample */
  fail_unless(sync);    /* basesink default kept */
  fail_unless_equals_uint64(get_uint64(sink, sink_property::kFramesReceived), 0);
  fail_unless_equals_uint64(get_uint64(sink, sink_property::kFramesDropped), 0);
  fail_unless_equals_uint64(get_uint64(sink, sink_property::kLastFrameTime), 0);

  fail_unless(latest_sample(sink) == nullptr);
  fail_unless(stored_offsets(sink, 10).empty());

  GParamSpec *pspec =
      g_object_class_find_property(G_OBJECT_GET_CLASS(sink), sink_property::kBufferSize);
  fail_unless_equals_int(G_PARAM_SPEC_UINT(pspec)->minimum, 1);
  for (const char *read_only : {sink_property::kFramesReceived, sink_property::kFramesDropped,
                                sink_property::kLastFrameTime}) {
    pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(sink), read_only);
    fail_unless(pspec != nullptr);
    fail_if(pspec->flags & G_PARAM_WRITABLE, "%s is writable", read_only);
  }

  gst_object_unref(sink);
}
GST_END_TEST;

GST_START_TEST(test_buffer_size_minimum) {
  GstElement *sink = gst_element_factory_make("latestframesink", nullptr);

  GParamSpec *pspec =
      g_object_class_find_property(G_OBJECT_GET_CLASS(sink), sink_property::kBufferSize);
  fail_unless_equals_int(G_PARAM_SPEC_UINT(pspec)->minimum, 1);
  fail_unless_equals_int(G_PARAM_SPEC_UINT(pspec)->default_value, 30);

  /* GObject refuses an out-of-range value and keeps the old one. It says so
   * with a warning up to GLib 2.82 and with a critical from 2.84, through
   * structured logging that GstCheck's ASSERT_WARNING/ASSERT_CRITICAL handlers
   * never see; so the level is not asserted, and neither may abort. */
  const GLogLevelFlags fatal = g_log_set_always_fatal(GLogLevelFlags(G_LOG_FATAL_MASK));
  _gst_check_expecting_log = TRUE;
  g_object_set(sink, sink_property::kBufferSize, 0u, nullptr);
  _gst_check_expecting_log = FALSE;
  g_log_set_always_fatal(fatal);
  guint buffer_size = 0;
  g_object_get(sink, sink_property::kBufferSize, &buffer_size, nullptr);
  fail_unless_equals_int(buffer_size, 30);

  g_object_set(sink, sink_property::kBufferSize, 1u, nullptr);
  g_object_get(sink, sink_property::kBufferSize, &buffer_size, nullptr);
  fail_unless_equals_int(buffer_size, 1);

  gst_object_unref(sink);
}
GST_END_TEST;

GST_START_TEST(test_ring_order_and_capacity) {
  GstHarness *h = new_harness(3);

  push_frame(h, 1);
  fail_unless(stored_offsets(h->element, 10) == Offsets({1}));
  for (guint64 seq = 2; seq <= 5; seq++)
    push_frame(h, seq);

  /* Only the 3 newest survive, newest first. */
  fail_unless(stored_offsets(h->element, 10) == Offsets({5, 4, 3}));
  fail_unless(stored_offsets(h->element, 3) == Offsets({5, 4, 3}));
  fail_unless(stored_offsets(h->element, 2) == Offsets({5, 4}));
  fail_unless(stored_offsets(h->element, 1) == Offsets({5}));
  fail_unless(stored_offsets(h->element, 0).empty());
  fail_unless(stored_offsets(h->element, G_MAXUINT) == Offsets({5, 4, 3}));

  GstSample *latest = latest_sample(h->element);
  fail_unless(latest != nullptr);
  fail_unless_equals_uint64(GST_BUFFER_OFFSET(gst_sample_get_buffer(latest)), 5);
  fail_unless(frame_intact(gst_sample_get_buffer(latest)));
  gst_sample_unref(latest);

  gst_harness_teardown(h);
}
GST_END_TEST;

/* get-sample-array, get-samples without GValueArray: the same shared samples,
 * newest first, each referenced by the array until it is unreffed. */
GST_START_TEST(test_sample_array) {
  GstHarness *h = new_harness(3);
  GPtrArray *array = nullptr;
  g_signal_emit_by_name(h->element, sink_signal::kGetSampleArray, 10u, &array);
  fail_unless(array != nullptr);
  fail_unless_equals_int(array->len, 0);
  g_ptr_array_unref(array);

  for (guint64 seq = 1; seq <= 4; seq++)
    push_frame(h, seq);
  std::vector<GstSample *> old = get_samples(h->element, 10);
  array = nullptr;
  g_signal_emit_by_name(h->element, sink_signal::kGetSampleArray, 10u, &array);
  fail_unless_equals_int(array->len, 3);
  for (guint i = 0; i < array->len; i++)
    fail_unless(g_ptr_array_index(array, i) == old[i], "sample %u differs", i);
  fail_unless_equals_uint64(
      GST_BUFFER_OFFSET(gst_sample_get_buffer(GST_SAMPLE(g_ptr_array_index(array, 0)))), 4);
  ASSERT_MINI_OBJECT_REFCOUNT(old[0], "ring, get-samples, get-sample-array", 3);
  g_ptr_array_unref(array);
  ASSERT_MINI_OBJECT_REFCOUNT(old[0], "ring, get-samples", 2);
  unref_all(old);

  gst_harness_teardown(h);
}
GST_END_TEST;

/* Whether a RECONFIGURE event reached the harness (upstream) since the last call. */
static bool got_reconfigure(GstHarness *h) {
  bool found = false;
  while (GstEvent *event = gst_harness_try_pull_upstream_event(h)) {
    found |= GST_EVENT_TYPE(event) == GST_EVENT_RECONFIGURE;
    gst_event_unref(event);
  }
  return found;
}

GST_START_TEST(test_buffer_size_runtime_change) {
  GstHarness *h = new_harness(10);
  for (guint64 seq = 1; seq <= 10; seq++)
    push_frame(h, seq);
  got_reconfigure(h); /* drain what negotiation sent */

  /* Shrinking drops the oldest at once and needs no new upstream pool. */
  g_object_set(h->element, sink_property::kBufferSize, 4u, nullptr);
  fail_unless(stored_offsets(h->element, 100) == Offsets({10, 9, 8, 7}));
  fail_if(got_reconfigure(h));

  /* Growing keeps what is stored, asks upstream to re-query allocation
   * (the pool minimum changed) and fills up with new frames. */
  g_object_set(h->element, sink_property::kBufferSize, 6u, nullptr);
  fail_unless(got_reconfigure(h));
  fail_unless(stored_offsets(h->element, 100) == Offsets({10, 9, 8, 7}));
  for (guint64 seq = 11; seq <= 13; seq++)
    push_frame(h, seq);
  fail_unless(stored_offsets(h->element, 100) == Offsets({13, 12, 11, 10, 9, 8}));

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_caps_change_mid_stream) {
  GstHarness *h = new_harness(10);
  push_frame(h, 1);
  push_frame(h, 2);
  gst_harness_set_src_caps_str(h, CAPS_VGA);
  push_frame(h, 3);
  gst_harness_set_src_caps_str(h, "image/jpeg, width=640, height=480");
  push_frame(h, 4);

  std::vector<GstSample *> samples = get_samples(h->element, 10);
  fail_unless_equals_int(samples.size(), 4);
  const char *expected[] = {"image/jpeg, width=640, height=480", CAPS_VGA, CAPS_QVGA, CAPS_QVGA};
  for (size_t i = 0; i < samples.size(); i++) {
    GstCaps *want = gst_caps_from_string(expected[i]);
    GstCaps *caps = gst_sample_get_caps(samples[i]);
    fail_unless(caps != nullptr);
    fail_unless(gst_caps_is_equal(caps, want), "sample %zu has %" GST_PTR_FORMAT, i, caps);
    gst_caps_unref(want);
    fail_unless(gst_sample_get_segment(samples[i]) != nullptr);
    fail_unless_equals_int(gst_sample_get_segment(samples[i])->format, GST_FORMAT_TIME);
  }
  unref_all(samples);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_flush_keeps_frames) {
  GstHarness *h = new_harness(10);
  for (guint64 seq = 1; seq <= 3; seq++)
    push_frame(h, seq);

  /* A camera reconnect: flush, then a new stream with other caps. The old
   * frames stay readable until new ones replace them. */
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless(stored_offsets(h->element, 10) == Offsets({3, 2, 1}));
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  fail_unless(stored_offsets(h->element, 10) == Offsets({3, 2, 1}));

  gst_harness_set_src_caps_str(h, CAPS_VGA);
  fail_unless(stored_offsets(h->element, 10) == Offsets({3, 2, 1}));
  push_frame(h, 100);
  fail_unless(stored_offsets(h->element, 10) == Offsets({100, 3, 2, 1}));

  GstSample *latest = latest_sample(h->element);
  GstCaps *vga = gst_caps_from_string(CAPS_VGA);
  fail_unless(gst_caps_is_equal(gst_sample_get_caps(latest), vga));
  gst_caps_unref(vga);
  gst_sample_unref(latest);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_eos_and_state_changes_keep_frames) {
  GstHarness *h = new_harness(10);
  push_frame(h, 1);
  push_frame(h, 2);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  fail_unless(stored_offsets(h->element, 10) == Offsets({2, 1}));

  /* Frames are kept through every state, NULL included: an application that
   * restarts the pipeline still serves the last frame. */
  const GstState states[] = {GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_NULL};
  for (GstState state : states) {
    fail_unless_equals_int(gst_element_set_state(h->element, state), GST_STATE_CHANGE_SUCCESS);
    fail_unless(stored_offsets(h->element, 10) == Offsets({2, 1}));
  }
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 2);

  /* A new run adds to them. */
  fail_unless(gst_element_set_state(h->element, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless(gst_harness_push_event(h, gst_event_new_stream_start("second-run")));
  gst_harness_set_src_caps_str(h, CAPS_QVGA);
  push_frame(h, 3);
  fail_unless(stored_offsets(h->element, 10) == Offsets({3, 2, 1}));
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 3);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_clear) {
  GstHarness *h = new_harness(10);
  for (guint64 seq = 1; seq <= 4; seq++)
    push_frame(h, seq);
  const guint64 last_time = get_uint64(h->element, sink_property::kLastFrameTime);

  g_signal_emit_by_name(h->element, sink_signal::kClear);
  fail_unless(latest_sample(h->element) == nullptr);
  fail_unless(stored_offsets(h->element, 10).empty());
  /* Statistics describe arrivals, not the ring's content. */
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 4);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kLastFrameTime), last_time);

  push_frame(h, 5);
  fail_unless(stored_offsets(h->element, 10) == Offsets({5}));

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_statistics) {
  GstHarness *h = new_harness(2);

  const guint64 before = g_get_monotonic_time() * 1000;
  for (guint64 seq = 1; seq <= 5; seq++)
    push_frame(h, seq);
  const guint64 after = g_get_monotonic_time() * 1000;

  /* Frames pushed out of the ring are not drops. */
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 5);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesDropped), 0);
  const guint64 last_time = get_uint64(h->element, sink_property::kLastFrameTime);
  fail_unless(last_time >= before && last_time <= after);

  /* Each sample says which arrival it was and when. */
  std::vector<GstSample *> samples = get_samples(h->element, 2);
  fail_unless_equals_int(samples.size(), 2);
  for (size_t i = 0; i < samples.size(); i++) {
    const GstStructure *info = gst_sample_get_info(samples[i]);
    fail_unless(info != nullptr);
    fail_unless(gst_structure_has_name(info, frame_field::kName));
    guint64 sequence = 0, arrival = 0;
    fail_unless(gst_structure_get_uint64(info, frame_field::kSequence, &sequence));
    fail_unless(gst_structure_get_uint64(info, frame_field::kArrivalTime, &arrival));
    fail_unless_equals_uint64(sequence, 5 - i);
    fail_unless(arrival >= before && arrival <= last_time);
    if (i == 0)
      fail_unless_equals_uint64(arrival, last_time);
  }
  unref_all(samples);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_buffer_without_caps_is_dropped) {
  GstHarness *h = gst_harness_new("latestframesink");
  g_object_set(h->element, "sync", FALSE, nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);

  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  push_frame(h, 1);
  push_frame(h, 2);

  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 2);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesDropped), 2);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kLastFrameTime), 0);
  fail_unless(latest_sample(h->element) == nullptr);

  /* One warning for the run of bad buffers, not one per buffer; the stream
   * goes on. */
  GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  fail_unless(message != nullptr);
  gst_message_unref(message);
  fail_unless(gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING) == nullptr);

  /* A new, well-formed stream is stored again. */
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  gst_harness_set_src_caps_str(h, CAPS_QVGA);
  push_frame(h, 3);
  fail_unless(stored_offsets(h->element, 10) == Offsets({3}));
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 3);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesDropped), 2);

  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

struct SignalCounter {
  std::atomic<int> calls{0};
  GstElement *sink = nullptr;
  std::atomic<bool> frame_visible{true};
};

static void on_new_frame(GstElement *sink, SignalCounter *counter) {
  counter->calls++;
  /* By the time the signal runs the frame is readable. */
  GstSample *sample = latest_sample(sink);
  if (!sample || sink != counter->sink)
    counter->frame_visible = false;
  if (sample)
    gst_sample_unref(sample);
}

GST_START_TEST(test_new_frame_signal) {
  GstHarness *h = new_harness(10);
  SignalCounter counter;
  counter.sink = h->element;
  g_signal_connect(h->element, sink_signal::kNewFrame, G_CALLBACK(on_new_frame), &counter);

  push_frame(h, 1);
  fail_unless_equals_int(counter.calls, 0);

  g_object_set(h->element, sink_property::kEmitSignals, TRUE, nullptr);
  push_frame(h, 2);
  push_frame(h, 3);
  fail_unless_equals_int(counter.calls, 2);
  fail_unless(counter.frame_visible);

  g_object_set(h->element, sink_property::kEmitSignals, FALSE, nullptr);
  push_frame(h, 4);
  fail_unless_equals_int(counter.calls, 2);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_buffer_lists) {
  GstHarness *h = new_harness(10);
  push_frame(h, 1); /* preroll */

  GstBufferList *list = gst_buffer_list_new();
  for (guint64 seq = 2; seq <= 4; seq++)
    gst_buffer_list_add(list, make_frame(seq));
  fail_unless_equals_int(gst_pad_push_list(h->srcpad, list), GST_FLOW_OK);

  fail_unless(stored_offsets(h->element, 10) == Offsets({4, 3, 2, 1}));
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), 4);

  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_refcounts) {
  GstHarness *h = new_harness(3);

  std::vector<GstBuffer *> pushed;
  for (guint64 seq = 1; seq <= 5; seq++) {
    GstBuffer *buffer = make_frame(seq);
    pushed.push_back(gst_buffer_ref(buffer));
    fail_unless_equals_int(gst_harness_push(h, buffer), GST_FLOW_OK);
  }

  /* Pushed out of the ring: only our reference is left. */
  ASSERT_BUFFER_REFCOUNT(pushed[0], "evicted", 1);
  ASSERT_BUFFER_REFCOUNT(pushed[1], "evicted", 1);
  /* Stored: ours and the ring's. */
  for (size_t i = 2; i < pushed.size(); i++)
    ASSERT_BUFFER_REFCOUNT(pushed[i], "stored", 2);

  /* Readers share the stored samples; a reader's reference keeps its frame
   * alive across clear. */
  GstSample *held = latest_sample(h->element);
  std::vector<GstSample *> samples = get_samples(h->element, 2);
  fail_unless(samples[0] == held);
  ASSERT_MINI_OBJECT_REFCOUNT(held, "ring and both readers", 3);
  g_signal_emit_by_name(h->element, sink_signal::kClear);
  ASSERT_BUFFER_REFCOUNT(pushed[2], "cleared", 1);
  ASSERT_BUFFER_REFCOUNT(pushed[3], "held by get-samples", 2);
  ASSERT_BUFFER_REFCOUNT(pushed[4], "held by both readers", 2);
  ASSERT_MINI_OBJECT_REFCOUNT(held, "both readers", 2);
  unref_all(samples);
  gst_sample_unref(held);
  for (GstBuffer *buffer : pushed)
    ASSERT_BUFFER_REFCOUNT(buffer, "released", 1);

  /* Teardown releases what the ring holds. */
  GstBuffer *last = make_frame(6);
  fail_unless_equals_int(gst_harness_push(h, gst_buffer_ref(last)), GST_FLOW_OK);
  ASSERT_BUFFER_REFCOUNT(last, "stored", 2);
  gst_harness_teardown(h);
  ASSERT_BUFFER_REFCOUNT(last, "after teardown", 1);

  gst_buffer_unref(last);
  for (GstBuffer *buffer : pushed)
    gst_buffer_unref(buffer);
}
GST_END_TEST;

/* Checks the sink's ALLOCATION answer for @caps_str: no pool, @size bytes,
 * min buffer-size + 1, max 0 (unbounded), VideoMeta accepted. */
static void check_allocation(GstHarness *h, const char *caps_str, guint buffer_size,
                             guint expected_size) {
  g_object_set(h->element, sink_property::kBufferSize, buffer_size, nullptr);
  GstCaps *caps = gst_caps_from_string(caps_str);
  GstQuery *query = gst_query_new_allocation(caps, TRUE);
  gst_caps_unref(caps);
  fail_unless(gst_pad_peer_query(h->srcpad, query));

  fail_unless_equals_int(gst_query_get_n_allocation_pools(query), 1);
  GstBufferPool *pool = nullptr;
  guint size = 0, min = 0, max = 0;
  gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
  fail_unless(pool == nullptr);
  fail_unless_equals_int(size, expected_size);
  fail_unless_equals_int(min, buffer_size + 1);
  fail_unless_equals_int(max, 0);
  fail_unless(gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr));
  gst_query_unref(query);
}

GST_START_TEST(test_allocation_query) {
  GstHarness *h = new_harness(30);
  check_allocation(h, CAPS_QVGA, 30, 320 * 240 * 3 / 2);
  check_allocation(h, CAPS_QVGA, 5, 320 * 240 * 3 / 2);
  check_allocation(h,
                   "video/x-raw(memory:CUDAMemory), format=NV12, width=1920, height=1080, "
                   "framerate=30/1",
                   30, 1920 * 1080 * 3 / 2);
  check_allocation(h, "image/jpeg, width=640, height=480", 1, 0);
  gst_harness_teardown(h);
}
GST_END_TEST;

/* Waits for @type on @bus and returns it (never NULL). */
static GstMessage *wait_message(GstBus *bus, GstMessageType type) {
  GstMessage *message = gst_bus_timed_pop_filtered(
      bus, 10 * GST_SECOND, static_cast<GstMessageType>(type | GST_MESSAGE_ERROR));
  fail_unless(message != nullptr, "timed out waiting for %s", gst_message_type_get_name(type));
  fail_unless_equals_int(GST_MESSAGE_TYPE(message), type);
  return message;
}

GST_START_TEST(test_preroll_counted_once) {
  GstElement *pipeline =
      gst_parse_launch("appsrc name=src format=time ! latestframesink name=sink", nullptr);
  fail_unless(pipeline != nullptr);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstBus *bus = gst_element_get_bus(pipeline);
  GstCaps *caps = gst_caps_from_string(CAPS_QVGA);
  g_object_set(src, "caps", caps, nullptr);
  gst_caps_unref(caps);
  GstFlowReturn flow;

  /* A paused pipeline has its preroll frame to serve. */
  fail_unless_equals_int(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_ASYNC);
  GstBuffer *first = make_frame(0);
  g_signal_emit_by_name(src, "push-buffer", first, &flow); /* the signal does not take it */
  gst_buffer_unref(first);
  fail_unless_equals_int(flow, GST_FLOW_OK);
  gst_message_unref(wait_message(bus, GST_MESSAGE_ASYNC_DONE));
  fail_unless(stored_offsets(sink, 10) == Offsets({0}));
  fail_unless_equals_uint64(get_uint64(sink, sink_property::kFramesReceived), 1);

  /* Playing renders that same buffer: it must not be stored or counted twice. */
  fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBuffer *second = make_frame(1);
  g_signal_emit_by_name(src, "push-buffer", second, &flow);
  gst_buffer_unref(second);
  g_signal_emit_by_name(src, "end-of-stream", &flow);
  gst_message_unref(wait_message(bus, GST_MESSAGE_EOS));
  fail_unless(stored_offsets(sink, 10) == Offsets({1, 0}));
  fail_unless_equals_uint64(get_uint64(sink, sink_property::kFramesReceived), 2);

  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}
GST_END_TEST;

/* One producer, four readers doing everything a reader can do at once. Every
 * reader checks what it sees; any tearing of the ring, any sample out of
 * order or any freed buffer shows up as a failure counted here. */
struct StressState {
  GstElement *sink = nullptr;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<guint64> reads{0};
  std::mutex first_failure_lock;
  std::string first_failure; /* guarded by first_failure_lock */

  void report(const std::string &what) {
    if (failures++ == 0) {
      std::lock_guard<std::mutex> lk(first_failure_lock);
      first_failure = what;
    }
  }

  /* A stored sample must be a whole, live frame with caps. */
  void check_sample(GstSample *sample, const char *reader) {
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    if (!buffer || !gst_sample_get_caps(sample) || !frame_intact(buffer))
      report(std::string(reader) + ": damaged sample");
  }
};

GST_START_TEST(test_concurrent_readers) {
  /* 100,000 rather than 10,000: with two cores, a lock removed from any one
   * reader path was caught in only 1 run out of 5 with 10,000 frames, and in
   * nearly every run with 100,000 (about a second). */
  constexpr guint64 FRAMES = 100000;
  GstHarness *h = new_harness(16);
  StressState state;
  state.sink = h->element;

  std::vector<std::thread> readers;
  /* Newest frame only: never goes back in time. */
  readers.emplace_back([&state] {
    guint64 newest = 0;
    while (!state.done) {
      if (GstSample *sample = latest_sample(state.sink)) {
        state.check_sample(sample, sink_signal::kGetLatestSample);
        const guint64 seq = GST_BUFFER_OFFSET(gst_sample_get_buffer(sample));
        if (seq < newest)
          state.report("get-latest-sample went back from " + std::to_string(newest) + " to " +
                       std::to_string(seq));
        newest = seq;
        gst_sample_unref(sample);
      }
      state.reads++;
    }
  });
  /* Several frames: strictly newest first, never more than asked. */
  readers.emplace_back([&state] {
    std::mt19937 random(1);
    while (!state.done) {
      const guint n = random() % 40;
      std::vector<GstSample *> samples = get_samples(state.sink, n);
      if (samples.size() > n)
        state.report("get-samples returned more than asked");
      for (size_t i = 0; i < samples.size(); i++) {
        state.check_sample(samples[i], sink_signal::kGetSamples);
        if (i > 0 && GST_BUFFER_OFFSET(gst_sample_get_buffer(samples[i])) >=
                         GST_BUFFER_OFFSET(gst_sample_get_buffer(samples[i - 1])))
          state.report("get-samples out of order");
      }
      unref_all(samples);
      state.reads++;
    }
  });
  /* Writers from the reader side: clear and resize the ring under load. */
  readers.emplace_back([&state] {
    std::mt19937 random(2);
    while (!state.done) {
      if (random() % 4 == 0)
        g_object_set(state.sink, sink_property::kBufferSize, static_cast<guint>(1 + random() % 32),
                     nullptr);
      else
        g_signal_emit_by_name(state.sink, sink_signal::kClear);
      state.reads++;
    }
  });
  /* Statistics: monotonic, and nothing is ever dropped. */
  readers.emplace_back([&state] {
    guint64 received = 0, last_time = 0;
    while (!state.done) {
      guint64 now_received = 0, now_dropped = 0, now_time = 0;
      guint buffer_size = 0;
      g_object_get(state.sink, sink_property::kFramesReceived, &now_received,
                   sink_property::kFramesDropped, &now_dropped, sink_property::kLastFrameTime,
                   &now_time, sink_property::kBufferSize, &buffer_size, nullptr);
      if (now_received < received || now_time < last_time || now_dropped != 0 || buffer_size < 1 ||
          buffer_size > 32)
        state.report("inconsistent statistics");
      received = now_received;
      last_time = now_time;
      state.reads++;
    }
  });

  for (guint64 seq = 1; seq <= FRAMES; seq++)
    push_frame(h, seq);
  state.done = true;
  for (std::thread &reader : readers)
    reader.join();

  fail_unless(state.failures == 0, "%d failures, first: %s", state.failures.load(),
              state.first_failure.c_str());
  fail_unless(state.reads > 0);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesReceived), FRAMES);
  fail_unless_equals_uint64(get_uint64(h->element, sink_property::kFramesDropped), 0);

  /* The ring is consistent after the storm. */
  g_object_set(h->element, sink_property::kBufferSize, 3u, nullptr);
  for (guint64 seq = FRAMES + 1; seq <= FRAMES + 3; seq++)
    push_frame(h, seq);
  fail_unless(stored_offsets(h->element, 10) == Offsets({FRAMES + 3, FRAMES + 2, FRAMES + 1}));

  gst_harness_teardown(h);
}
GST_END_TEST;

static Suite *latestframesink_suite() {
  Suite *s = suite_create("latestframesink");
  TCase *tc = tcase_create("general");

  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_buffer_size_minimum);
  tcase_add_test(tc, test_ring_order_and_capacity);
  tcase_add_test(tc, test_sample_array);
  tcase_add_test(tc, test_buffer_size_runtime_change);
  tcase_add_test(tc, test_caps_change_mid_stream);
  tcase_add_test(tc, test_flush_keeps_frames);
  tcase_add_test(tc, test_eos_and_state_changes_keep_frames);
  tcase_add_test(tc, test_clear);
  tcase_add_test(tc, test_statistics);
  tcase_add_test(tc, test_buffer_without_caps_is_dropped);
  tcase_add_test(tc, test_new_frame_signal);
  tcase_add_test(tc, test_buffer_lists);
  tcase_add_test(tc, test_refcounts);
  tcase_add_test(tc, test_allocation_query);
  tcase_add_test(tc, test_preroll_counted_once);

  /* The machine may be busy: give the stress test time, not a deadline. */
  TCase *tc_stress = tcase_create("stress");
  suite_add_tcase(s, tc_stress);
  tcase_set_timeout(tc_stress, 60);
  tcase_add_test(tc_stress, test_concurrent_readers);

  return s;
}

static int requirements(gputest::Requirements &req, int &, char **&) {
  req.leak_check = true;
  return 0;
}

GPUTEST_MAIN("latestframesink", latestframesink_suite, requirements)
