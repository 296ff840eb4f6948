// SPDX-License-Identifier: MIT
/* Tests for the installed C++ helper header latestframesink.hpp: it compiles
 * on its own (included first) and its class wraps the element correctly. */
#include <gpurtsp/latestframesink.hpp>

#include <type_traits>

#include "gpu-test-runner.h"
#include <gst/check/gstharness.h>

namespace sink_property = gpurtsp::latestframesink::property;

static_assert(!std::is_copy_constructible_v<gpurtsp::LatestFrameSink>,
              "one wrapper owns one element reference");
static_assert(std::is_move_constructible_v<gpurtsp::LatestFrameSink>);

static GstHarness *new_harness(guint buffer_size) {
  GstHarness *h = gst_harness_new("latestframesink");
  g_object_set(h->element, "sync", FALSE, sink_property::kBufferSize, buffer_size, nullptr);
  gst_harness_set_src_caps_str(h, "image/jpeg, width=64, height=48");
  return h;
}

static void push_frame(GstHarness *h, guint64 seq) {
  GstBuffer *buffer = gst_buffer_new_allocate(nullptr, 16, nullptr);
  GST_BUFFER_OFFSET(buffer) = seq;
  fail_unless_equals_int(gst_harness_push(h, buffer), GST_FLOW_OK);
}

static guint64 offset_of(const gpurtsp::Sample &sample) {
  return GST_BUFFER_OFFSET(gst_sample_get_buffer(sample.get()));
}

GST_START_TEST(test_wrap_checks_type) {
  fail_if(gpurtsp::LatestFrameSink::wrap(nullptr));

  GstElement *fakesink = gst_element_factory_make("fakesink", nullptr);
  gst_object_ref_sink(fakesink);
  fail_if(gpurtsp::LatestFrameSink::wrap(fakesink));
  ASSERT_OBJECT_REFCOUNT(fakesink, "refused, not kept", 1);
  /* A refused reference that was handed over is released, not leaked. */
  fail_if(gpurtsp::LatestFrameSink::wrap(GST_ELEMENT(gst_object_ref(fakesink)), true));
  ASSERT_OBJECT_REFCOUNT(fakesink, "refused, released", 1);
  gst_object_unref(fakesink);
}
GST_END_TEST;

GST_START_TEST(test_wrap_references) {
  GstElement *sink = gst_element_factory_make("latestframesink", nullptr);
  gst_object_ref_sink(sink);
  {
    auto wrapped = gpurtsp::LatestFrameSink::wrap(sink);
    fail_unless(wrapped.has_value());
    fail_unless(wrapped->element() == sink);
    ASSERT_OBJECT_REFCOUNT(sink, "borrowed", 2);

    auto moved = std::move(*wrapped);
    ASSERT_OBJECT_REFCOUNT(sink, "moved", 2);
  }
  ASSERT_OBJECT_REFCOUNT(sink, "wrapper gone", 1);

  {
    auto adopted = gpurtsp::LatestFrameSink::wrap(GST_ELEMENT(gst_object_ref(sink)), true);
    fail_unless(adopted.has_value());
    ASSERT_OBJECT_REFCOUNT(sink, "adopted", 2);
  }
  ASSERT_OBJECT_REFCOUNT(sink, "adopted reference released", 1);
  gst_object_unref(sink);
}
GST_END_TEST;

GST_START_TEST(test_frames) {
  GstHarness *h = new_harness(3);
  auto sink = gpurtsp::LatestFrameSink::wrap(h->element);
  fail_unless(sink.has_value());

  fail_if(sink->latest());
  fail_unless(sink->samples(5).empty());
  fail_unless_equals_uint64(sink->frames_received(), 0);
  fail_unless_equals_uint64(sink->last_frame_time(), 0);

  const guint64 before = g_get_monotonic_time() * 1000;
  for (guint64 seq = 1; seq <= 4; seq++)
    push_frame(h, seq);

  gpurtsp::Sample latest = sink->latest();
  fail_unless(latest != nullptr);
  fail_unless_equals_uint64(offset_of(latest), 4);

  std::vector<gpurtsp::Sample> frames = sink->samples(10);
  fail_unless_equals_int(frames.size(), 3);
  fail_unless_equals_uint64(offset_of(frames[0]), 4);
  fail_unless_equals_uint64(offset_of(frames[1]), 3);
  fail_unless_equals_uint64(offset_of(frames[2]), 2);
  fail_unless_equals_int(sink->samples(2).size(), 2);
  fail_unless(sink->samples(0).empty());

  std::optional<gpurtsp::FrameInfo> info = gpurtsp::frame_info(latest.get());
  fail_unless(info.has_value());
  fail_unless_equals_uint64(info->sequence, 4);
  fail_unless(info->arrival_time >= before);
  fail_unless_equals_uint64(info->arrival_time, sink->last_frame_time());
  fail_unless_equals_uint64(gpurtsp::frame_info(frames[2].get())->sequence, 2);
  fail_if(gpurtsp::frame_info(nullptr));
  GstSample *foreign = gst_sample_new(nullptr, nullptr, nullptr, nullptr);
  fail_if(gpurtsp::frame_info(foreign));
  gst_sample_unref(foreign);

  fail_unless_equals_uint64(sink->frames_received(), 4);
  fail_unless_equals_uint64(sink->frames_dropped(), 0);

  /* Handles keep their buffers after clear and release them when destroyed. */
  GstBuffer *buffer = gst_buffer_ref(gst_sample_get_buffer(latest.get()));
  sink->clear();
  fail_if(sink->latest());
  ASSERT_BUFFER_REFCOUNT(buffer, "held by the handles' shared sample", 2);
  ASSERT_MINI_OBJECT_REFCOUNT(latest.get(), "two handles", 2);
  latest.reset();
  frames.clear();
  ASSERT_BUFFER_REFCOUNT(buffer, "handles gone", 1);
  gst_buffer_unref(buffer);

  sink.reset();
  gst_harness_teardown(h);
}
GST_END_TEST;

static Suite *latestframesink_hpp_suite() {
  Suite *s = suite_create("latestframesink-hpp");
  TCase *tc = tcase_create("general");

  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_wrap_checks_type);
  tcase_add_test(tc, test_wrap_references);
  tcase_add_test(tc, test_frames);

  return s;
}

static int requirements(gputest::Requirements &req, int &, char **&) {
  req.leak_check = true;
  return 0;
}

GPUTEST_MAIN("latestframesink-hpp", latestframesink_hpp_suite, requirements)
