// SPDX-License-Identifier: MIT
/* rtpkeyframefilter with GstHarness: which packets pass, their sequence
 * numbers, caps that switch filtering on and off, flushes; then end to end,
 * x264 -> RTP -> filter -> jitterbuffer -> depayloader -> decoder. */
#include <gpurtsp/rtpkeyframefilter.hpp>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/rtp/rtp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace filter_property = gpurtsp::rtpkeyframefilter::property;

using Bytes = std::vector<uint8_t>;

static const char *kH264Caps =
    "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96";

static GstHarness *new_filter(const char *caps) {
  GstHarness *h = gst_harness_new_with_padnames("rtpkeyframefilter", "rtp_sink", "rtp_src");
  if (caps)
    gst_harness_set_src_caps_str(h, caps);
  return h;
}

static GstBuffer *rtp_packet(guint16 seq, guint32 timestamp, const Bytes &payload,
                             bool marker = false) {
  GstBuffer *buffer = gst_rtp_buffer_new_allocate(payload.size(), 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  fail_unless(gst_rtp_buffer_map(buffer, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_payload_type(&rtp, 96);
  gst_rtp_buffer_set_seq(&rtp, seq);
  gst_rtp_buffer_set_timestamp(&rtp, timestamp);
  gst_rtp_buffer_set_marker(&rtp, marker);
  std::copy(payload.begin(), payload.end(),
            static_cast<uint8_t *>(gst_rtp_buffer_get_payload(&rtp)));
  gst_rtp_buffer_unmap(&rtp);
  return buffer;
}

struct Packet {
  guint16 seq;
  Bytes payload;
  bool marker;
};

/* Everything the harness's sink got so far. */
static std::vector<Packet> pull_all(GstHarness *h) {
  std::vector<Packet> packets;
  while (GstBuffer *buffer = gst_harness_try_pull(h)) {
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    fail_unless(gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp));
    auto payload = static_cast<const uint8_t *>(gst_rtp_buffer_get_payload(&rtp));
    packets.push_back({gst_rtp_buffer_get_seq(&rtp),
                       Bytes(payload, payload + gst_rtp_buffer_get_payload_len(&rtp)),
                       bool(gst_rtp_buffer_get_marker(&rtp))});
    gst_rtp_buffer_unmap(&rtp);
    gst_buffer_unref(buffer);
  }
  return packets;
}

static guint64 counter(GstHarness *h, const char *name) {
  guint64 value = 0;
  g_object_get(h->element, name, &value, nullptr);
  return value;
}

static const Bytes kSps = {0x67, 0x42, 0x00, 0x1f};
static const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
/* IDR as FU-A: start, middle, end; first_mb 0, slice_type 7 (I). */
static const Bytes kIdrStart = {0x7c, 0x85, 0x88, 0x84};
static const Bytes kIdrMiddle = {0x7c, 0x05, 0x11, 0x22};
static const Bytes kIdrEnd = {0x7c, 0x45, 0x33};
/* A P slice: first_mb 0, slice_type 5 (bits 1 00110 1...). */
static const Bytes kPSlice = {0x41, 0x9a, 0x20, 0x40};

/* SPS, PPS, IDR (3 FU-A), three P frames, SPS, PPS, IDR from @seq. */
static void push_gop(GstHarness *h, guint16 seq) {
  guint32 ts = 0;
  const std::vector<std::pair<Bytes, bool>> gop = {
      {kSps, false},   {kPps, false},   {kIdrStart, false}, {kIdrMiddle, false},
      {kIdrEnd, true}, {kPSlice, true}, {kPSlice, true},    {kPSlice, true},
      {kSps, false},   {kPps, false},   {kIdrStart, false}, {kIdrMiddle, false},
      {kIdrEnd, true}};
  for (const auto &[payload, marker] : gop) {
    fail_unless_equals_int(gst_harness_push(h, rtp_packet(seq++, ts, payload, marker)),
                           GST_FLOW_OK);
    if (marker)
      ts += 3000;
  }
}

GST_START_TEST(test_keeps_keyframes_renumbered) {
  GstHarness *h = new_filter(kH264Caps);
  push_gop(h, 1000);
  const auto packets = pull_all(h);
  const std::vector<Bytes> expected = {kSps, kPps, kIdrStart, kIdrMiddle, kIdrEnd,
                                       kSps, kPps, kIdrStart, kIdrMiddle, kIdrEnd};
  fail_unless_equals_int(packets.size(), expected.size());
  for (size_t i = 0; i < packets.size(); i++) {
    fail_unless_equals_int(packets[i].seq, 1000 + i); /* gapless */
    fail_unless(packets[i].payload == expected[i], "packet %zu changed", i);
    fail_unless_equals_int(packets[i].marker, expected[i] == kIdrEnd);
  }
  fail_unless_equals_int(counter(h, filter_property::kPacketsPassed), 10);
  fail_unless_equals_int(counter(h, filter_property::kPacketsDropped), 3);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_sequence_wraps) {
  GstHarness *h = new_filter(kH264Caps);
  push_gop(h, 65530);
  const auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 10);
  for (size_t i = 0; i < packets.size(); i++)
    fail_unless_equals_int(packets[i].seq, guint16(65530 + i));
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_network_gap_stays) {
  GstHarness *h = new_filter(kH264Caps);
  guint16 seq = 10;
  gst_harness_push(h, rtp_packet(seq++, 0, kSps));
  gst_harness_push(h, rtp_packet(seq++, 0, kPps));
  gst_harness_push(h, rtp_packet(seq++, 0, kIdrStart));
  gst_harness_push(h, rtp_packet(seq++, 0, kIdrMiddle));
  gst_harness_push(h, rtp_packet(seq++, 0, kIdrEnd, true));
  gst_harness_push(h, rtp_packet(seq++, 3000, kPSlice, true)); /* dropped */
  seq += 2;                                                    /* lost on the wire */
  gst_harness_push(h, rtp_packet(seq++, 6000, kSps));
  const auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 6);
  fail_unless_equals_int(packets[4].seq, 14);
  /* 18 minus the one dropped on purpose: the two lost stay a gap of two. */
  fail_unless_equals_int(packets[5].seq, 17);
  gst_harness_teardown(h);
}
GST_END_TEST;

/* A duplicate or a packet overtaken on the way (UDP) must not take the
 * number of a packet kept since: that one would be dropped downstream as
 * its duplicate with no gap to show. Dropped, the late one leaves a gap. */
GST_START_TEST(test_duplicate_and_late_packets) {
  GstHarness *h = new_filter(kH264Caps);
  gst_harness_push(h, rtp_packet(10, 0, kSps));
  gst_harness_push(h, rtp_packet(11, 0, kPps));
  gst_harness_push(h, rtp_packet(11, 0, kPps)); /* duplicate */
  gst_harness_push(h, rtp_packet(12, 0, kIdrStart));
  gst_harness_push(h, rtp_packet(14, 0, kIdrEnd, true)); /* overtook 13 */
  gst_harness_push(h, rtp_packet(13, 0, kIdrMiddle));    /* late */
  gst_harness_push(h, rtp_packet(15, 3000, kPSlice, true));
  gst_harness_push(h, rtp_packet(16, 6000, kSps));
  const auto packets = pull_all(h);
  std::vector<guint16> seqs;
  for (const Packet &packet : packets)
    seqs.push_back(packet.seq);
  /* 14 is a fragment whose start is not known after the jump: dropped on
   * purpose, renumbered away; 13 is missing (a gap); 16 follows the
   * dropped P slice. */
  const std::vector<guint16> expected = {10, 11, 12, 14};
  fail_unless(seqs == expected, "got %zu packets", seqs.size());
  fail_unless(packets[3].payload == kSps);
  fail_unless_equals_int(counter(h, filter_property::kPacketsPassed), 4);
  fail_unless_equals_int(counter(h, filter_property::kPacketsDropped), 4);
  gst_harness_teardown(h);
}
GST_END_TEST;

/* reorder-window: a packet that overtook an earlier one waits for it; the
 * stream comes out in order, as if nothing had been reordered. Past the
 * window the missing one counts as lost. */
GST_START_TEST(test_reorder_window) {
  GstHarness *h = new_filter(kH264Caps);
  g_object_set(h->element, filter_property::kReorderWindow, 2u, nullptr);
  gst_harness_push(h, rtp_packet(10, 0, kSps));
  gst_harness_push(h, rtp_packet(12, 0, kIdrStart)); /* overtook 11 */
  gst_harness_push(h, rtp_packet(11, 0, kPps));
  gst_harness_push(h, rtp_packet(14, 0, kIdrEnd, true)); /* overtook 13 */
  gst_harness_push(h, rtp_packet(14, 0, kIdrEnd, true)); /* and came twice */
  gst_harness_push(h, rtp_packet(13, 0, kIdrMiddle));
  auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 5);
  for (size_t i = 0; i < packets.size(); i++)
    fail_unless_equals_int(packets[i].seq, 10 + i);
  fail_unless(packets[1].payload == kPps && packets[2].payload == kIdrStart &&
              packets[3].payload == kIdrMiddle);
  /* 15 never comes: 16 and 17 wait, 18 is one too many. */
  gst_harness_push(h, rtp_packet(16, 6000, kSps));
  gst_harness_push(h, rtp_packet(17, 6000, kPps));
  fail_unless_equals_int(pull_all(h).size(), 0);
  gst_harness_push(h, rtp_packet(18, 6000, kIdrStart));
  packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 3);
  fail_unless_equals_int(packets[0].seq, 16); /* the gap stays */
  /* 15, late past the window: dropped, as a duplicate would be. */
  gst_harness_push(h, rtp_packet(15, 3000, kPSlice, true));
  fail_unless_equals_int(pull_all(h).size(), 0);
  /* What waits goes out before EOS. */
  gst_harness_push(h, rtp_packet(20, 9000, kSps));
  gst_harness_push_event(h, gst_event_new_eos());
  packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 1);
  fail_unless_equals_int(packets[0].seq, 20);
  gst_harness_teardown(h);
}
GST_END_TEST;

/* gaps-are-drops: what a kernel socket filter leaves (keyframes, a delta
 * picture's SEI) comes out gapless at once, even with a reorder window,
 * the missing packets counted as dropped; a keyframe cut short (an open-GOP
 * I slice whose continuations the socket filter dropped) is counted and
 * posted on the bus. */
GST_START_TEST(test_gaps_are_drops) {
  GstHarness *h = new_filter(kH264Caps);
  g_object_set(h->element, filter_property::kReorderWindow, 24u, filter_property::kGapsAreDrops,
               TRUE, nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  const Bytes sei = {0x06, 0x05, 0x01, 0x80};
  gst_harness_push(h, rtp_packet(10, 0, kSps));
  gst_harness_push(h, rtp_packet(11, 0, kPps));
  gst_harness_push(h, rtp_packet(12, 0, kIdrStart));
  gst_harness_push(h, rtp_packet(13, 0, kIdrEnd, true));
  gst_harness_push(h, rtp_packet(20, 3000, sei));  /* 14-19: two P pictures */
  gst_harness_push(h, rtp_packet(30, 9000, kSps)); /* 21-29 */
  gst_harness_push(h, rtp_packet(31, 9000, kPps));
  gst_harness_push(h, rtp_packet(32, 9000, kIdrStart));
  gst_harness_push(h, rtp_packet(33, 9000, kIdrEnd, true));
  auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 8);
  for (size_t i = 0; i < packets.size(); i++)
    fail_unless_equals_int(packets[i].seq, 10 + i);
  fail_unless_equals_int(counter(h, filter_property::kPacketsDropped), 1 + 6 + 9);
  fail_unless_equals_int(counter(h, filter_property::kKeyframesCut), 0);
  fail_if(gst_bus_have_pending(bus));

  /* An I slice without IDR: its start passes, its continuations do not. */
  const Bytes open_gop_start = {0x7c, 0x81, 0x88, 0x84};
  gst_harness_push(h, rtp_packet(34, 12000, open_gop_start));
  gst_harness_push(h, rtp_packet(40, 15000, kSps)); /* 35-39 */
  /* Not a gap that closes: it waits out the window, as any loss. */
  fail_unless_equals_int(counter(h, filter_property::kKeyframesCut), 0);
  for (guint16 seq = 41; seq < 41 + 24; seq++)
    gst_harness_push(h, rtp_packet(seq, 15000, kPps));
  fail_unless_equals_int(counter(h, filter_property::kKeyframesCut), 1);
  GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT);
  fail_unless(message != nullptr);
  const GstStructure *s = gst_message_get_structure(message);
  fail_unless(gst_structure_has_name(s, gpurtsp::rtpkeyframefilter::kKeyframeCutMessage));
  guint64 cut = 0;
  fail_unless(gst_structure_get_uint64(s, filter_property::kKeyframesCut, &cut));
  fail_unless_equals_int(cut, 1);
  gst_message_unref(message);
  packets = pull_all(h);
  fail_unless(packets.size() >= 2);
  fail_unless_equals_int(packets[0].seq, 18); /* the open-GOP start */
  fail_unless_equals_int(packets[1].seq, 24); /* 40, five lost before it */

  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_renumber_off) {
  GstHarness *h = new_filter(kH264Caps);
  g_object_set(h->element, filter_property::kRenumber, FALSE, nullptr);
  push_gop(h, 500);
  const auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 10);
  fail_unless_equals_int(packets[5].seq, 508); /* after the three P frames */
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_other_codecs_pass) {
  for (const char *caps :
       {"application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0",
        "application/x-rtp,media=video,clock-rate=90000,payload=96"}) {
    GstHarness *h = new_filter(caps);
    push_gop(h, 0);
    const auto packets = pull_all(h);
    fail_unless_equals_int(packets.size(), 13);
    for (size_t i = 0; i < packets.size(); i++)
      fail_unless_equals_int(packets[i].seq, i);
    fail_unless_equals_int(counter(h, filter_property::kPacketsDropped), 0);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

GST_START_TEST(test_caps_forwarded) {
  GstHarness *h = new_filter(kH264Caps);
  GstCaps *caps = gst_pad_get_current_caps(h->sinkpad);
  fail_unless(caps != nullptr);
  GstCaps *expected = gst_caps_from_string(kH264Caps);
  fail_unless(gst_caps_is_equal(caps, expected));
  gst_caps_unref(expected);
  gst_caps_unref(caps);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_flush_resets_numbering) {
  GstHarness *h = new_filter(kH264Caps);
  push_gop(h, 100);
  pull_all(h);
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  gst_harness_push(h, rtp_packet(200, 0, kSps));
  const auto packets = pull_all(h);
  fail_unless_equals_int(packets.size(), 1);
  fail_unless_equals_int(packets[0].seq, 200);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_not_rtp_passes) {
  GstHarness *h = new_filter(kH264Caps);
  static const guint8 junk[] = {1, 2, 3};
  GstBuffer *buffer = gst_buffer_new_memdup(junk, sizeof junk);
  fail_unless_equals_int(gst_harness_push(h, buffer), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull(h);
  fail_unless_equals_int(gst_buffer_get_size(out), 3);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}
GST_END_TEST;

static bool have(const char *factory) {
  GstElementFactory *found = gst_element_factory_find(factory);
  if (found)
    gst_object_unref(found);
  return found != nullptr;
}

/* Frames decoded from 60 encoded ones (a keyframe every 10) through @filter. */
static int decode_through(const char *filter, guint64 *passed, guint64 *dropped) {
  gchar *description = g_strdup_printf(
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 "
      "! x264enc key-int-max=10 bframes=0 tune=zerolatency speed-preset=ultrafast "
      "! rtph264pay mtu=300 config-interval=-1 ! %s name=filter "
      "! rtpjitterbuffer latency=100 ! rtph264depay ! h264parse ! avdec_h264 "
      "! fakesink name=sink signal-handoffs=true sync=false",
      filter);
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description, &error);
  g_free(description);
  fail_unless(pipeline != nullptr, "%s", error ? error->message : "");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  int frames = 0;
  g_signal_connect(sink, "handoff",
                   G_CALLBACK(+[](GstElement *, GstBuffer *, GstPad *, gpointer counter) {
                     (*static_cast<int *>(counter))++;
                   }),
                   &frames);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered(
      bus, 30 * GST_SECOND,
      GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
  fail_unless(message != nullptr, "no EOS within 30 s");
  fail_unless_equals_int(GST_MESSAGE_TYPE(message), GST_MESSAGE_EOS);
  gst_message_unref(message);
  if (passed && dropped) {
    GstElement *element = gst_bin_get_by_name(GST_BIN(pipeline), "filter");
    g_object_get(element, filter_property::kPacketsPassed, passed, filter_property::kPacketsDropped,
                 dropped, nullptr);
    gst_object_unref(element);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return frames;
}

GST_START_TEST(test_end_to_end) {
  if (!have("x264enc") || !have("avdec_h264")) {
    g_print("skipped: x264enc or avdec_h264 missing\n");
    return;
  }
  /* Without the filter every frame decodes: the control. */
  fail_unless_equals_int(decode_through("identity", nullptr, nullptr), 60);
  guint64 passed = 0, dropped = 0;
  const int frames = decode_through("rtpkeyframefilter", &passed, &dropped);
  fail_unless_equals_int(frames, 6); /* the keyframes, whole */
  fail_unless(passed > 0 && dropped > passed,
              "passed %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT, passed, dropped);
}
GST_END_TEST;

static Suite *rtpkeyframefilter_suite() {
  Suite *s = suite_create("rtpkeyframefilter");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_keeps_keyframes_renumbered);
  tcase_add_test(tc, test_sequence_wraps);
  tcase_add_test(tc, test_network_gap_stays);
  tcase_add_test(tc, test_duplicate_and_late_packets);
  tcase_add_test(tc, test_reorder_window);
  tcase_add_test(tc, test_gaps_are_drops);
  tcase_add_test(tc, test_renumber_off);
  tcase_add_test(tc, test_other_codecs_pass);
  tcase_add_test(tc, test_caps_forwarded);
  tcase_add_test(tc, test_flush_resets_numbering);
  tcase_add_test(tc, test_not_rtp_passes);
  tcase_add_test(tc, test_end_to_end);
  return s;
}

GST_CHECK_MAIN(rtpkeyframefilter);
