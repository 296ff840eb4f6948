// SPDX-License-Identifier: MIT
/* End to end on the CPU, no GPU needed: a synthetic camera through
 *   rtspsrc ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! jpegenc
 *   ! latestframesink
 * and the newest sample pulled from the sink is a JPEG of the camera's size. */
#include <gpurtsp/latestframesink.hpp>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include <string>

#include "jpeg-check.hpp"
#include "rtsp-fixture.hpp"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

namespace sink_property = gpurtsp::latestframesink::property;
namespace sink_signal = gpurtsp::latestframesink::signal_name;

using gpurtsp::test::camera_options;
using gpurtsp::test::RtspClient;
using gpurtsp::test::RtspFixture;

/* Asks the sink for its newest sample until one comes or @timeout passes. */
static GstSample *latest_sample(GstElement *sink, GstClockTime timeout) {
  const gint64 deadline = g_get_monotonic_time() + gint64(timeout / GST_USECOND);
  while (g_get_monotonic_time() < deadline) {
    GstSample *sample = nullptr;
    g_signal_emit_by_name(sink, sink_signal::kGetLatestSample, &sample);
    if (sample)
      return sample;
    g_usleep(20 * G_TIME_SPAN_MILLISECOND);
  }
  return nullptr;
}

static guint64 frames_received(GstElement *sink) {
  GValue value = G_VALUE_INIT, as_uint64 = G_VALUE_INIT;
  g_object_get_property(G_OBJECT(sink), sink_property::kFramesReceived, &value);
  g_value_init(&as_uint64, G_TYPE_UINT64);
  fail_unless(g_value_transform(&value, &as_uint64));
  guint64 frames = g_value_get_uint64(&as_uint64);
  g_value_unset(&value);
  g_value_unset(&as_uint64);
  return frames;
}

GST_START_TEST(test_rtsp_to_jpeg_on_cpu) {
  const auto options = camera_options();
  RtspFixture fixture(options);
  RtspClient client(fixture.url(), "rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! "
                                   "jpegenc ! latestframesink name=sink");
  GstElement *sink = client.sink();
  fail_unless(sink != nullptr);
  fail_unless(g_signal_lookup(sink_signal::kGetLatestSample, G_OBJECT_TYPE(sink)) != 0,
              "latestframesink has no get-latest-sample action signal");
  fail_unless(
      g_object_class_find_property(G_OBJECT_GET_CLASS(sink), sink_property::kFramesReceived),
      "latestframesink has no frames-received property");

  g_autoptr(GstSample) sample = latest_sample(sink, 10 * GST_SECOND);
  fail_unless(sample != nullptr, "no frame reached latestframesink");
  GstStructure *s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
  fail_unless(gst_structure_has_name(s, "image/jpeg"), "sample is %s", gst_structure_get_name(s));

  const auto [width, height] = gpurtsp::test::decoded_jpeg_size(gst_sample_get_buffer(sample));
  fail_unless(width > 0, "the latest sample does not decode as a JPEG");
  fail_unless_equals_int(width, options.width);
  fail_unless_equals_int(height, options.height);
  fail_unless(frames_received(sink) >= 1);
}
GST_END_TEST;

static Suite *e2e_cpu_suite(void) {
  Suite *s = suite_create("e2e-cpu");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_rtsp_to_jpeg_on_cpu);
  return s;
}

GST_CHECK_MAIN(e2e_cpu);
