// SPDX-License-Identifier: MIT
/* UdpKeyframeFilters: the kernel filter goes on the RTP udpsrc that a bin
 * (rtspsrc's place) adds, at its first packet, only for H.264/H.265 video;
 * give_up() takes it off, after which every packet arrives again. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "udp-keyframe-filter.h"

#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>

using gpurtsp::launch::UdpKeyframeFilters;
using Bytes = std::vector<uint8_t>;

static Bytes rtp_packet(uint8_t payload_type, uint16_t seq, const Bytes &payload) {
  Bytes packet(12 + payload.size());
  packet[0] = 0x80;
  packet[1] = payload_type;
  packet[2] = uint8_t(seq >> 8);
  packet[3] = uint8_t(seq);
  std::copy(payload.begin(), payload.end(), packet.begin() + 12);
  return packet;
}

/* An H.264 P slice alone (first_mb 0, slice_type 5) and an IDR slice. */
static const Bytes kPSlice = {0x41, 0x9a, 0x20, 0x40};
static const Bytes kIdrSlice = {0x65, 0x88, 0x84, 0x00};

/* udpsrc (in a bin standing for rtspsrc) ! appsink, and a sender. */
struct UdpStream {
  explicit UdpStream(const char *caps) {
    pipeline = gst_pipeline_new(nullptr);
    source_bin = gst_bin_new("rtspsrc-stand-in");
    sink = gst_element_factory_make("appsink", nullptr);
    g_object_set(sink, "sync", FALSE, "emit-signals", FALSE, nullptr);
    gst_bin_add_many(GST_BIN(pipeline), source_bin, sink, nullptr);
    filters = std::make_shared<UdpKeyframeFilters>("test");
    UdpKeyframeFilters::watch(filters, source_bin, [this] { before_attach++; });

    GstElement *udpsrc = gst_element_factory_make("udpsrc", nullptr);
    g_autoptr(GstCaps) udp_caps = gst_caps_from_string(caps);
    g_object_set(udpsrc, "address", "127.0.0.1", "port", 0, "caps", udp_caps, nullptr);
    gst_bin_add(GST_BIN(source_bin), udpsrc);
    g_autoptr(GstPad) src = gst_element_get_static_pad(udpsrc, "src");
    g_autoptr(GstPad) ghost = gst_ghost_pad_new("src", src);
    gst_element_add_pad(source_bin, GST_PAD(g_steal_pointer(&ghost)));
    fail_unless(gst_element_link(source_bin, sink));
    fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    g_object_get(udpsrc, "port", &port, nullptr);
    fail_unless(port > 0);
    sender = socket(AF_INET, SOCK_DGRAM, 0);
  }
  ~UdpStream() {
    close(sender);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }

  void send(const Bytes &packet) {
    sockaddr_in to = {};
    to.sin_family = AF_INET;
    to.sin_port = htons(uint16_t(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fail_unless(sendto(sender, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr *>(&to),
                       sizeof(to)) == ssize_t(packet.size()));
  }

  /* The sequence numbers of what arrives within @timeout_ms each. */
  std::vector<int> received(int expected, guint64 timeout_ms = 2000) {
    std::vector<int> seqs;
    while (int(seqs.size()) < expected) {
      GstSample *sample =
          gst_app_sink_try_pull_sample(GST_APP_SINK(sink), timeout_ms * GST_MSECOND);
      if (!sample)
        break;
      GstMapInfo map;
      GstBuffer *buffer = gst_sample_get_buffer(sample);
      fail_unless(gst_buffer_map(buffer, &map, GST_MAP_READ));
      seqs.push_back((map.data[2] << 8) | map.data[3]);
      gst_buffer_unmap(buffer, &map);
      gst_sample_unref(sample);
    }
    return seqs;
  }

  GstElement *pipeline, *source_bin, *sink;
  std::shared_ptr<UdpKeyframeFilters> filters;
  std::atomic<int> before_attach{0};
  int port = 0;
  int sender = -1;
};

static const char *kH264Caps =
    "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96";

GST_START_TEST(test_filter_on_then_given_up) {
  UdpStream stream(kH264Caps);
  /* The first packet passes (the filter goes on as it arrives). */
  stream.send(rtp_packet(96, 1, kIdrSlice));
  fail_unless(stream.received(1) == std::vector<int>{1});
  fail_unless_equals_int(stream.filters->active(), 1);
  fail_unless_equals_int(stream.before_attach, 1);
  fail_unless_equals_int(gpurtsp::launch::udp_keyframe_filters_active(), 1);

  stream.send(rtp_packet(96, 2, kPSlice));
  stream.send(rtp_packet(96, 3, kIdrSlice));
  stream.send(rtp_packet(97, 4, kPSlice)); /* another payload type */
  fail_unless(stream.received(3, 500) == (std::vector<int>{3, 4}));

  fail_unless(stream.filters->give_up());
  fail_if(stream.filters->give_up()); /* nothing left on */
  fail_unless_equals_int(stream.filters->active(), 0);
  fail_unless_equals_int(gpurtsp::launch::udp_keyframe_filters_active(), 0);
  fail_unless_equals_int(gpurtsp::launch::udp_keyframe_filters_removed(), 1);
  stream.send(rtp_packet(96, 5, kPSlice));
  fail_unless(stream.received(1) == std::vector<int>{5});
}
GST_END_TEST;

/* Cut keyframes take the filter off only when they come often: the third
 * within the window, not three spread wider. */
GST_START_TEST(test_cuts_give_up_when_frequent) {
  UdpStream stream(kH264Caps);
  stream.send(rtp_packet(96, 1, kIdrSlice));
  fail_unless(stream.received(1) == std::vector<int>{1});
  constexpr gint64 window = UdpKeyframeFilters::kCutWindowUs;
  fail_if(stream.filters->on_keyframe_cut(0));
  fail_if(stream.filters->on_keyframe_cut(window / 2));
  fail_if(stream.filters->on_keyframe_cut(window + 1)); /* the first has left the window */
  fail_unless_equals_int(stream.filters->active(), 1);
  fail_unless(stream.filters->on_keyframe_cut(window + 2));
  fail_unless_equals_int(stream.filters->active(), 0);
  fail_if(stream.filters->on_keyframe_cut(window + 3)); /* nothing left to take off */
}
GST_END_TEST;

/* RTCP, audio or another codec: no filter. */
GST_START_TEST(test_other_streams_unfiltered) {
  for (const char *caps :
       {"application/x-rtcp",
        "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0",
        "application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96"}) {
    UdpStream stream(caps);
    stream.send(rtp_packet(96, 1, kIdrSlice));
    fail_unless(stream.received(1) == std::vector<int>{1}, "%s", caps);
    stream.send(rtp_packet(96, 2, kPSlice));
    fail_unless(stream.received(1) == std::vector<int>{2}, "%s", caps);
    fail_unless_equals_int(stream.filters->active(), 0);
    fail_unless_equals_int(stream.before_attach, 0);
  }
}
GST_END_TEST;

static Suite *udp_keyframe_filter_suite() {
  Suite *s = suite_create("udp-keyframe-filter");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_filter_on_then_given_up);
  tcase_add_test(tc, test_cuts_give_up_when_frequent);
  tcase_add_test(tc, test_other_streams_unfiltered);
  return s;
}

GST_CHECK_MAIN(udp_keyframe_filter);
