// SPDX-License-Identifier: MIT
/* InterleavedKeyframeFilter: delta frames' RTP packets cut out of what an
 * RTSP server sends over TCP, with replies, server requests, RTCP, other
 * media and line ends passed unchanged, whatever the pieces the bytes come
 * in; the SDP's payload types; giving up on bytes it does not know. */
#include <random>
#include <string>
#include <vector>

#include "rtp/rtsp-interleaved-filter.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using gpurtsp::rtp::InterleavedKeyframeFilter;
using gpurtsp::rtp::keyframe_payload_types;
using gpurtsp::rtp::VideoCodec;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint32_t kSsrc = 0x11223344;

const char *const kSdp = "v=0\r\n"
                         "o=- 1 1 IN IP4 127.0.0.1\r\n"
                         "s=camera\r\n"
                         "t=0 0\r\n"
                         "m=video 0 RTP/AVP 96\r\n"
                         "a=rtpmap:96 H264/90000\r\n"
                         "a=control:stream=0\r\n"
                         "m=audio 0 RTP/AVP 97\r\n"
                         "a=rtpmap:97 MPEG4-GENERIC/16000/1\r\n"
                         "a=control:stream=1\r\n";

void append(Bytes &to, const Bytes &bytes) {
  to.insert(to.end(), bytes.begin(), bytes.end());
}

void append(Bytes &to, const std::string &text) {
  to.insert(to.end(), text.begin(), text.end());
}

std::string describe_reply(const std::string &sdp) {
  return "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Base: "
         "rtsp://127.0.0.1:8554/cam/\r\nContent-Length: " +
         std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
}

Bytes rtp(uint8_t pt, uint16_t seq, uint32_t timestamp, const Bytes &payload,
          uint32_t ssrc = kSsrc) {
  Bytes packet = {0x80,
                  pt,
                  uint8_t(seq >> 8),
                  uint8_t(seq),
                  uint8_t(timestamp >> 24),
                  uint8_t(timestamp >> 16),
                  uint8_t(timestamp >> 8),
                  uint8_t(timestamp),
                  uint8_t(ssrc >> 24),
                  uint8_t(ssrc >> 16),
                  uint8_t(ssrc >> 8),
                  uint8_t(ssrc)};
  append(packet, payload);
  return packet;
}

Bytes interleaved(uint8_t channel, const Bytes &packet) {
  Bytes wire = {'$', channel, uint8_t(packet.size() >> 8), uint8_t(packet.size())};
  append(wire, packet);
  return wire;
}

/* H.264 payloads: parameter sets, an IDR slice, a P slice (slice_type 0:
 * ue(0) ue(0) is the bits 1 1), FU-A fragments of either. */
const Bytes kSps = {0x67, 0x42, 0x00, 0x1f};
const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
const Bytes kIdr = {0x65, 0x88, 0x84, 0x21};
const Bytes kPSlice = {0x41, 0xe0, 0x11, 0x22};
Bytes fragment(uint8_t nal_type, bool start, bool end) {
  return {uint8_t(0x60 | 28), uint8_t((start ? 0x80 : 0) | (end ? 0x40 : 0) | nal_type),
          start && nal_type == 1 ? uint8_t(0xe0) : uint8_t(0x88), 0x55, 0x66};
}

/* Feeds @input to @filter as a client's read buffer would: in pieces cut at
 * @cuts, the undecided bytes of each call given again before the next
 * piece; at the end the filter gives up on what is left. */
Bytes run(InterleavedKeyframeFilter &filter, const Bytes &input, std::vector<size_t> cuts = {}) {
  Bytes out, pending;
  size_t at = 0;
  cuts.push_back(input.size());
  for (size_t cut : cuts) {
    Bytes chunk = pending;
    chunk.insert(chunk.end(), input.begin() + at, input.begin() + cut);
    at = cut;
    size_t undecided = 99999;
    const size_t passed = filter.filter(chunk.data(), chunk.size(), undecided);
    fail_unless(passed + undecided <= chunk.size());
    out.insert(out.end(), chunk.begin(), chunk.begin() + passed);
    pending.assign(chunk.begin() + passed, chunk.begin() + passed + undecided);
  }
  if (!pending.empty()) {
    filter.give_up();
    size_t undecided = 0;
    const size_t passed = filter.filter(pending.data(), pending.size(), undecided);
    fail_unless_equals_uint64(undecided, 0);
    out.insert(out.end(), pending.begin(), pending.begin() + passed);
  }
  return out;
}

/* A session as a server sends it, and what a keyframe-only client needs
 * of it. */
struct Session {
  Bytes wire, wanted;
  uint64_t dropped = 0;
  void both(const Bytes &bytes) {
    append(wire, bytes);
    append(wanted, bytes);
  }
  void both(const std::string &text) {
    append(wire, text);
    append(wanted, text);
  }
  void drop(const Bytes &bytes) {
    append(wire, bytes);
    dropped++;
  }
};

Session camera_session() {
  Session s;
  s.both(describe_reply(kSdp));
  s.both(std::string("RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;"
                     "interleaved=0-1\r\nSession: 12345678\r\n\r\n"));
  s.both(std::string("RTSP/1.0 200 OK\r\nCSeq: 5\r\nRTP-Info: url=stream=0;seq=100\r\n\r\n"));
  /* A keyframe: parameter sets, the IDR in three fragments. */
  s.both(interleaved(0, rtp(96, 100, 1000, kSps)));
  s.both(interleaved(0, rtp(96, 101, 1000, kPps)));
  s.both(interleaved(0, rtp(96, 102, 1000, fragment(5, true, false))));
  s.both(interleaved(0, rtp(96, 103, 1000, fragment(5, false, false))));
  s.both(interleaved(0, rtp(0x80 | 96, 104, 1000, fragment(5, false, true))));
  /* RTCP, audio, a server's request with a body, a stray line end. */
  s.both(interleaved(1, {0x80, 200, 0x00, 0x06, 1, 2, 3, 4, 5, 6, 7, 8}));
  s.both(interleaved(2, rtp(97, 7, 500, {1, 2, 3})));
  s.both(std::string("GET_PARAMETER rtsp://127.0.0.1:8554/cam RTSP/1.0\r\nCSeq: 9\r\n"
                     "Content-Length: 4\r\n\r\nabcd"));
  s.both(std::string("\r\n"));
  /* Two delta frames: fragmented, then whole. */
  s.drop(interleaved(0, rtp(96, 105, 4000, fragment(1, true, false))));
  s.drop(interleaved(0, rtp(96, 106, 4000, fragment(1, false, false))));
  s.drop(interleaved(0, rtp(0x80 | 96, 107, 4000, fragment(1, false, true))));
  s.drop(interleaved(0, rtp(0x80 | 96, 108, 7000, kPSlice)));
  return s;
}

} // namespace

GST_START_TEST(test_sdp_payload_types) {
  auto types = keyframe_payload_types(kSdp);
  fail_unless_equals_uint64(types.size(), 1);
  fail_unless(types.at(96) == VideoCodec::H264);

  types = keyframe_payload_types("m=video 0 RTP/AVP 96 98\na=rtpmap:96 h264/90000\n"
                                 "a=rtpmap:98 H265/90000\n");
  fail_unless_equals_uint64(types.size(), 2);
  fail_unless(types.at(96) == VideoCodec::H264);
  fail_unless(types.at(98) == VideoCodec::H265);

  /* A payload type audio uses too, one before any m= line, a static one,
   * another video codec: none is filtered. */
  fail_unless(keyframe_payload_types("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                     "m=audio 0 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n")
                  .empty());
  fail_unless(keyframe_payload_types("m=audio 0 RTP/AVP 96\r\nm=video 0 RTP/AVP 96\r\n"
                                     "a=rtpmap:96 H264/90000\r\n")
                  .empty());
  fail_unless(keyframe_payload_types("a=rtpmap:96 H264/90000\r\n").empty());
  fail_unless(keyframe_payload_types("m=video 0 RTP/AVP 34\r\na=rtpmap:34 H264/90000\r\n").empty());
  fail_unless(keyframe_payload_types("m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n").empty());
  fail_unless(keyframe_payload_types("").empty());
}
GST_END_TEST;

GST_START_TEST(test_drops_delta_frames_and_renumbers) {
  Session s = camera_session();
  InterleavedKeyframeFilter filter;
  const Bytes out = run(filter, s.wire);
  fail_unless(out == s.wanted, "%zu bytes out, %zu wanted", out.size(), s.wanted.size());
  fail_unless_equals_uint64(filter.packets_dropped(), s.dropped);
  fail_if(filter.gave_up());
}
GST_END_TEST;

GST_START_TEST(test_any_pieces) {
  const Session s = camera_session();
  /* Cut in two at every byte, then in random pieces. */
  for (size_t cut = 0; cut <= s.wire.size(); cut++) {
    InterleavedKeyframeFilter filter;
    fail_unless(run(filter, s.wire, {cut}) == s.wanted, "cut at %zu", cut);
    fail_unless_equals_uint64(filter.packets_dropped(), s.dropped);
  }
  std::mt19937 random(3);
  for (int round = 0; round < 200; round++) {
    std::vector<size_t> cuts;
    for (size_t at = random() % 40; at < s.wire.size(); at += 1 + random() % 40)
      cuts.push_back(at);
    InterleavedKeyframeFilter filter;
    fail_unless(run(filter, s.wire, cuts) == s.wanted, "round %d", round);
  }
}
GST_END_TEST;

GST_START_TEST(test_renumbering_follows_on) {
  Session s = camera_session();
  /* After four dropped packets the next keyframe's 109 and 110 go out as 105
   * and 106; a gap on the wire (111, 112 missing) stays a gap. */
  append(s.wire, interleaved(0, rtp(96, 109, 31000, kSps)));
  append(s.wanted, interleaved(0, rtp(96, 105, 31000, kSps)));
  append(s.wire, interleaved(0, rtp(0x80 | 96, 110, 31000, kIdr)));
  append(s.wanted, interleaved(0, rtp(0x80 | 96, 106, 31000, kIdr)));
  append(s.wire, interleaved(0, rtp(0x80 | 96, 113, 61000, kIdr)));
  append(s.wanted, interleaved(0, rtp(0x80 | 96, 109, 61000, kIdr)));
  /* A new source (the server restarted the stream) numbers afresh: its
   * first packet dropped, its second goes out as the first. */
  append(s.wire, interleaved(0, rtp(0x80 | 96, 500, 2000, kPSlice, 0x99)));
  append(s.wire, interleaved(0, rtp(0x80 | 96, 501, 5000, kIdr, 0x99)));
  append(s.wanted, interleaved(0, rtp(0x80 | 96, 500, 5000, kIdr, 0x99)));
  InterleavedKeyframeFilter filter;
  fail_unless(run(filter, s.wire) == s.wanted);
  fail_unless_equals_uint64(filter.packets_dropped(), s.dropped + 1);
}
GST_END_TEST;

GST_START_TEST(test_without_description_passes_everything) {
  /* No SDP seen (a connection without DESCRIBE, or a body whose type only
   * differs from application/sdp in a byte that is no letter): nothing to
   * judge by. */
  Bytes wire;
  std::string not_sdp = describe_reply(kSdp);
  not_sdp[not_sdp.find("application/sdp") + 11] = '\x0f';
  append(wire, not_sdp);
  append(wire, interleaved(0, rtp(96, 1, 1000, kPSlice)));
  append(wire, interleaved(0, rtp(96, 2, 4000, kPSlice)));
  InterleavedKeyframeFilter filter;
  fail_unless(run(filter, wire) == wire);
  fail_unless_equals_uint64(filter.packets_dropped(), 0);
}
GST_END_TEST;

GST_START_TEST(test_unknown_bytes_give_up) {
  /* After bytes that are neither a packet nor a message, and after a
   * Content-Length it cannot read, everything passes as it came. */
  for (const std::string &odd : {std::string("\x01\x02garbage"),
                                 std::string("RTSP/1.0 200 OK\r\nContent-Length: x\r\n\r\n")}) {
    Bytes wire;
    append(wire, describe_reply(kSdp));
    append(wire, odd);
    append(wire, interleaved(0, rtp(96, 1, 1000, kPSlice)));
    append(wire, interleaved(0, rtp(96, 2, 4000, kPSlice)));
    InterleavedKeyframeFilter filter;
    fail_unless(run(filter, wire) == wire);
    fail_unless(filter.gave_up());
    fail_unless_equals_uint64(filter.packets_dropped(), 0);
  }
}
GST_END_TEST;

GST_START_TEST(test_malformed_packets_pass) {
  Bytes wire;
  append(wire, describe_reply(kSdp));
  /* Shorter than an RTP header; padding longer than the payload; an
   * extension running past the end; an extension header cut short; RTP
   * version 1. */
  append(wire, interleaved(0, {0x80, 96, 0, 1}));
  Bytes padded = rtp(96, 2, 4000, {0x41, 0xe0, 0x09});
  padded[0] |= 0x20;
  append(wire, interleaved(0, padded));
  Bytes extended = rtp(96, 3, 4000, {0xbe, 0xde, 0x00, 0x09, 0x41});
  extended[0] |= 0x10;
  append(wire, interleaved(0, extended));
  /* The extension bit with only 2 bytes after the header: a P slice's
   * bytes, but no room for the extension header they would have to be. */
  Bytes short_extension = rtp(96, 4, 4000, {0x41, 0xe0});
  short_extension[0] |= 0x10;
  append(wire, interleaved(0, short_extension));
  Bytes version1 = rtp(96, 4, 4000, kPSlice);
  version1[0] = 0x40;
  append(wire, interleaved(0, version1));
  InterleavedKeyframeFilter filter;
  fail_unless(run(filter, wire) == wire);
  fail_unless_equals_uint64(filter.packets_dropped(), 0);
}
GST_END_TEST;

static Suite *rtsp_interleaved_filter_suite() {
  Suite *s = suite_create("rtsp-interleaved-filter");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_sdp_payload_types);
  tcase_add_test(tc, test_drops_delta_frames_and_renumbers);
  tcase_add_test(tc, test_any_pieces);
  tcase_add_test(tc, test_renumbering_follows_on);
  tcase_add_test(tc, test_without_description_passes_everything);
  tcase_add_test(tc, test_unknown_bytes_give_up);
  tcase_add_test(tc, test_malformed_packets_pass);
  return s;
}

GST_CHECK_MAIN(rtsp_interleaved_filter);
