// SPDX-License-Identifier: MIT
/* rtpkeyframefilter's packet rules (KeyframeClassifier): which RTP payloads
 * of H.264 (RFC 6184) and H.265 (RFC 7798) a keyframe-only consumer needs;
 * their numbering (KeyframeSequence); the part of them a UDP socket filter
 * applies in the kernel. */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "rtp/rtp-keyframe-classifier.h"
#include "rtp/rtp-socket-filter.h"

#include <gst/check/gstcheck.h>

using gpurtsp::rtp::KeyframeClassifier;
using gpurtsp::rtp::KeyframeSequence;
using gpurtsp::rtp::VideoCodec;
using Bytes = std::vector<uint8_t>;

/* Writes Exp-Golomb codes, then pads with a 1 bit and zeros. */
static Bytes golomb(std::initializer_list<unsigned> values) {
  std::vector<int> bits;
  for (unsigned value : values) {
    unsigned code = value + 1;
    int length = 0;
    while ((code >> length) > 1)
      length++;
    for (int i = 0; i < length; i++)
      bits.push_back(0);
    for (int i = length; i >= 0; i--)
      bits.push_back((code >> i) & 1);
  }
  bits.push_back(1);
  while (bits.size() % 8)
    bits.push_back(0);
  Bytes bytes(bits.size() / 8);
  for (size_t i = 0; i < bits.size(); i++)
    bytes[i / 8] |= uint8_t(bits[i] << (7 - i % 8));
  return bytes;
}

/* An H.264 slice NAL unit: header byte, first_mb_in_slice, slice_type. */
static Bytes h264_slice(unsigned nal_type, unsigned first_mb, unsigned slice_type) {
  Bytes nal = {uint8_t(0x60 | nal_type)};
  Bytes header = golomb({first_mb, slice_type});
  nal.insert(nal.end(), header.begin(), header.end());
  nal.insert(nal.end(), {0xaa, 0xbb, 0xcc});
  return nal;
}

/* FU-A fragments of @nal: start, middle, end. */
static std::vector<Bytes> fu_a(const Bytes &nal) {
  const uint8_t indicator = uint8_t((nal[0] & 0xe0) | 28);
  const uint8_t type = nal[0] & 0x1f;
  Bytes start = {indicator, uint8_t(0x80 | type)};
  start.insert(start.end(), nal.begin() + 1, nal.end());
  return {start, {indicator, type, 0x11, 0x22}, {indicator, uint8_t(0x40 | type), 0x33}};
}

static Bytes stap_a(std::initializer_list<Bytes> units) {
  Bytes packet = {24};
  for (const Bytes &unit : units) {
    packet.push_back(uint8_t(unit.size() >> 8));
    packet.push_back(uint8_t(unit.size()));
    packet.insert(packet.end(), unit.begin(), unit.end());
  }
  return packet;
}

static bool keep(KeyframeClassifier &classifier, const Bytes &payload, uint32_t timestamp) {
  return classifier.keep(payload.data(), payload.size(), timestamp);
}

static const Bytes kSps = {0x67, 0x42, 0x00, 0x1f};
static const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
static const Bytes kSei = {0x06, 0x05, 0x01, 0x80};
static const Bytes kAud = {0x09, 0xf0};

GST_START_TEST(test_h264_single_nal_units) {
  KeyframeClassifier classifier(VideoCodec::H264);
  fail_unless(keep(classifier, kSps, 0));
  fail_unless(keep(classifier, kPps, 0));
  fail_if(keep(classifier, kSei, 0));
  fail_if(keep(classifier, kAud, 0));
  fail_unless(keep(classifier, h264_slice(5, 0, 7), 0));     /* IDR */
  fail_if(keep(classifier, h264_slice(1, 0, 5), 3000));      /* P */
  fail_unless(keep(classifier, h264_slice(1, 0, 7), 6000));  /* open-GOP I */
  fail_unless(keep(classifier, h264_slice(1, 0, 2), 9000));  /* I, slice_type < 5 */
  fail_unless(keep(classifier, h264_slice(1, 0, 9), 12000)); /* SI */
  fail_if(keep(classifier, h264_slice(1, 0, 6), 15000));     /* B */
}
GST_END_TEST;

/* A non-IDR slice NAL unit from raw slice header bits, with the emulation
 * prevention bytes an encoder inserts (00 00 0x -> 00 00 03 0x). */
static Bytes escaped_slice(const Bytes &raw) {
  Bytes nal = {0x61};
  int zeros = 0;
  for (uint8_t byte : raw) {
    if (zeros >= 2 && byte <= 3) {
      nal.push_back(0x03);
      zeros = 0;
    }
    nal.push_back(byte);
    zeros = byte == 0 ? zeros + 1 : 0;
  }
  return nal;
}

GST_START_TEST(test_h264_emulation_prevention) {
  /* A first_mb_in_slice of 2^23 - 2 is coded with 22 leading zero bits:
   * 00 00 03 follows, which the encoder escapes and the reader must skip. */
  const Bytes raw_i = golomb({(1u << 23) - 2, 7});
  const Bytes i_slice = escaped_slice(raw_i);
  fail_unless(i_slice.size() > raw_i.size() + 1, "test slice has no escape");
  KeyframeClassifier classifier(VideoCodec::H264);
  fail_unless(keep(classifier, i_slice, 0));
  /* The same with a P slice type is dropped. */
  fail_if(keep(classifier, escaped_slice(golomb({(1u << 23) - 2, 5})), 3000));
}
GST_END_TEST;

GST_START_TEST(test_h264_access_unit_decides) {
  KeyframeClassifier classifier(VideoCodec::H264);
  /* An I picture's second slice is P-typed: kept with its picture. */
  fail_unless(keep(classifier, h264_slice(1, 0, 7), 100));
  fail_unless(keep(classifier, h264_slice(1, 40, 5), 100));
  /* A P picture's second slice is I-typed: dropped with its picture. */
  fail_if(keep(classifier, h264_slice(1, 0, 5), 200));
  fail_if(keep(classifier, h264_slice(1, 40, 7), 200));
  /* A new timestamp is a new decision. */
  fail_unless(keep(classifier, h264_slice(5, 0, 7), 300));
}
GST_END_TEST;

GST_START_TEST(test_h264_fragments) {
  KeyframeClassifier classifier(VideoCodec::H264);
  for (const Bytes &fragment : fu_a(h264_slice(5, 0, 7)))
    fail_unless(keep(classifier, fragment, 0));
  for (const Bytes &fragment : fu_a(h264_slice(1, 0, 5)))
    fail_if(keep(classifier, fragment, 3000));
  for (const Bytes &fragment : fu_a(h264_slice(1, 0, 7)))
    fail_unless(keep(classifier, fragment, 6000));

  /* Joined mid-unit: continuations without their start are dropped. */
  KeyframeClassifier joined(VideoCodec::H264);
  auto idr = fu_a(h264_slice(5, 0, 7));
  fail_if(keep(joined, idr[1], 0));
  fail_if(keep(joined, idr[2], 0));

  /* reset() (a loss on the wire) forgets the unit in progress. */
  KeyframeClassifier lossy(VideoCodec::H264);
  fail_unless(keep(lossy, idr[0], 0));
  lossy.reset();
  fail_if(keep(lossy, idr[1], 0));

  /* FU-B: a 16-bit DON sits between the FU header and the unit. */
  Bytes fu_b = {0x7d, 0x85, 0x00, 0x01};
  Bytes header = golomb({0, 7});
  fu_b.insert(fu_b.end(), header.begin(), header.end());
  fail_unless(keep(classifier, fu_b, 9000));
}
GST_END_TEST;

GST_START_TEST(test_h264_aggregates) {
  KeyframeClassifier classifier(VideoCodec::H264);
  fail_unless(keep(classifier, stap_a({kSps, kPps}), 0));
  fail_if(keep(classifier, stap_a({kAud, kSei}), 0));
  fail_unless(keep(classifier, stap_a({kSei, h264_slice(5, 0, 7)}), 3000));
  fail_if(keep(classifier, stap_a({kSei, h264_slice(1, 0, 5)}), 6000));
  /* Truncated: a unit longer than the packet; left to the depayloader. */
  Bytes truncated = {24, 0x00, 0x20, 0x67, 0x42};
  fail_unless(keep(classifier, truncated, 9000));
  /* STAP-B and MTAP pass untouched. */
  fail_unless(keep(classifier, {25, 0x00, 0x00}, 9000));
  fail_unless(keep(classifier, {26, 0x00, 0x00}, 9000));
}
GST_END_TEST;

GST_START_TEST(test_short_payloads) {
  KeyframeClassifier h264(VideoCodec::H264);
  fail_if(h264.keep(nullptr, 0, 0));
  fail_if(keep(h264, {28}, 0)); /* FU-A without its header */
  KeyframeClassifier h265(VideoCodec::H265);
  fail_if(h265.keep(nullptr, 0, 0));
  fail_if(keep(h265, {0x26}, 0));
  fail_if(keep(h265, {0x62, 0x01}, 0)); /* FU without its header */
}
GST_END_TEST;

/* An H.265 NAL unit header of @type. */
static Bytes h265_nal(unsigned type) {
  return {uint8_t(type << 1), 0x01, 0xaf, 0x09};
}

GST_START_TEST(test_h265) {
  KeyframeClassifier classifier(VideoCodec::H265);
  for (unsigned type : {32u, 33u, 34u}) /* VPS, SPS, PPS */
    fail_unless(keep(classifier, h265_nal(type), 0), "type %u", type);
  fail_if(keep(classifier, h265_nal(39), 0));        /* prefix SEI */
  fail_if(keep(classifier, h265_nal(35), 0));        /* AUD */
  fail_unless(keep(classifier, h265_nal(19), 0));    /* IDR_W_RADL */
  fail_if(keep(classifier, h265_nal(1), 3000));      /* TRAIL_R */
  fail_unless(keep(classifier, h265_nal(21), 6000)); /* CRA */

  /* FU (49): type in the FU header. */
  const Bytes idr_start = {uint8_t(49 << 1), 0x01, uint8_t(0x80 | 19), 0xaa};
  const Bytes idr_end = {uint8_t(49 << 1), 0x01, uint8_t(0x40 | 19), 0xbb};
  fail_unless(keep(classifier, idr_start, 9000));
  fail_unless(keep(classifier, idr_end, 9000));
  const Bytes trail_start = {uint8_t(49 << 1), 0x01, uint8_t(0x80 | 1), 0xaa};
  const Bytes trail_end = {uint8_t(49 << 1), 0x01, uint8_t(0x40 | 1), 0xbb};
  fail_if(keep(classifier, trail_start, 12000));
  fail_if(keep(classifier, trail_end, 12000));

  /* AP (48) with the parameter sets. */
  Bytes ap = {uint8_t(48 << 1), 0x01};
  for (unsigned type : {32u, 33u, 34u}) {
    Bytes unit = h265_nal(type);
    ap.push_back(0);
    ap.push_back(uint8_t(unit.size()));
    ap.insert(ap.end(), unit.begin(), unit.end());
  }
  fail_unless(keep(classifier, ap, 15000));
}
GST_END_TEST;

/* KeyframeSequence: kept packets renumbered over the dropped ones; a gap
 * on the wire stays a gap and forgets the unit in progress; reset() starts
 * the numbering afresh; a change of codec does not. */
GST_START_TEST(test_sequence_renumbers) {
  KeyframeSequence sequence(VideoCodec::H264);
  fail_if(sequence.last_seq().has_value());
  const auto idr = fu_a(h264_slice(5, 0, 7));
  const auto p = fu_a(h264_slice(1, 0, 5));
  fail_unless_equals_int(*sequence.keep(100, idr[0].data(), idr[0].size(), 0, false), 100);
  fail_unless_equals_int(*sequence.keep(101, idr[1].data(), idr[1].size(), 0, false), 101);
  fail_unless_equals_int(*sequence.keep(102, idr[2].data(), idr[2].size(), 0, false), 102);
  for (uint16_t i = 0; i < 3; i++)
    fail_if(sequence.keep(uint16_t(103 + i), p[i].data(), p[i].size(), 3000, false).has_value());
  fail_unless_equals_int(*sequence.last_seq(), 105);
  /* Three dropped: 106 goes out as 103. */
  fail_unless_equals_int(*sequence.keep(106, idr[0].data(), idr[0].size(), 6000, false), 103);
  /* 107 lost: the continuation after the gap cannot be judged (dropped),
   * and the numbers keep the gap. */
  fail_if(sequence.keep(108, idr[1].data(), idr[1].size(), 6000, false).has_value());
  fail_unless_equals_int(*sequence.keep(109, idr[0].data(), idr[0].size(), 9000, false), 105);
  /* Across 65535 -> 0. */
  sequence.reset();
  fail_if(sequence.last_seq().has_value());
  fail_if(sequence.keep(65535, p[0].data(), p[0].size(), 12000, false).has_value());
  fail_unless_equals_int(*sequence.keep(0, idr[0].data(), idr[0].size(), 15000, false), 65535);
  /* Another codec: the numbering goes on. */
  sequence.set_codec(VideoCodec::H265);
  fail_unless(sequence.codec() == VideoCodec::H265);
  const Bytes h265_p = {0x02, 0x01, 0xd0};
  fail_if(sequence.keep(1, h265_p.data(), h265_p.size(), 18000, false).has_value());
  const Bytes h265_idr = {0x26, 0x01, 0xaf};
  fail_unless_equals_int(*sequence.keep(2, h265_idr.data(), h265_idr.size(), 21000, false), 0);
}
GST_END_TEST;

/* Gaps as drops (a socket filter upstream): a gap after a picture's end
 * or inside a dropped picture, before a unit's start, closes up and counts
 * as dropped; a gap inside a kept picture stays and counts as a keyframe
 * cut short. */
GST_START_TEST(test_sequence_closes_filtered_gaps) {
  const auto idr = fu_a(h264_slice(5, 0, 7));
  const auto p = fu_a(h264_slice(1, 0, 5));
  const Bytes p_later_slice = h264_slice(1, 40, 5);
  const Bytes sei = {0x06, 0x05, 0x01, 0x80};
  const auto open_gop_i = fu_a(h264_slice(1, 0, 7));

  KeyframeSequence sequence(VideoCodec::H264);
  sequence.set_gaps_are_drops(true);
  fail_unless_equals_int(*sequence.keep(100, idr[0].data(), idr[0].size(), 0, false), 100);
  fail_unless_equals_int(*sequence.keep(101, idr[1].data(), idr[1].size(), 0, false), 101);
  fail_unless_equals_int(*sequence.keep(102, idr[2].data(), idr[2].size(), 0, true), 102);
  /* 103-107 filtered out: the next keyframe follows on. */
  fail_unless(sequence.closes_gap(idr[0].data(), idr[0].size(), 3000));
  fail_unless_equals_int(*sequence.keep(108, idr[0].data(), idr[0].size(), 3000, false), 103);
  fail_unless_equals_int(sequence.closed_gap_packets(), 5);
  fail_unless_equals_int(*sequence.keep(109, idr[2].data(), idr[2].size(), 3000, true), 104);
  /* A delta picture's SEI passes the socket filter, its slices do not. */
  fail_if(sequence.keep(110, sei.data(), sei.size(), 6000, false).has_value());
  fail_unless_equals_int(*sequence.keep(114, idr[0].data(), idr[0].size(), 9000, false), 105);
  fail_unless_equals_int(sequence.closed_gap_packets(), 8);
  fail_unless_equals_int(*sequence.keep(115, idr[2].data(), idr[2].size(), 9000, true), 106);
  /* A later slice of a P picture passes, its first does not: the same
   * picture, dropped anyway. */
  fail_if(sequence.keep(117, p_later_slice.data(), p_later_slice.size(), 12000, false).has_value());
  fail_unless(sequence.closes_gap(p[0].data(), p[0].size(), 12000));
  fail_if(sequence.keep(119, p[0].data(), p[0].size(), 12000, true).has_value());
  fail_unless_equals_int(sequence.closed_gap_packets(), 10);
  fail_unless_equals_int(sequence.cut_units(), 0);

  /* A continuation after a gap never closes it. */
  fail_unless_equals_int(*sequence.keep(120, idr[0].data(), idr[0].size(), 15000, false), 107);
  fail_if(sequence.closes_gap(idr[1].data(), idr[1].size(), 15000));
  fail_if(sequence.keep(122, idr[1].data(), idr[1].size(), 15000, false).has_value());
  fail_unless_equals_int(sequence.cut_units(), 1);
  /* The cut picture is forgotten: the next gap closes (7 more). Open GOP:
   * an I slice without IDR whose continuations the socket filter dropped;
   * the next picture does not close that gap. */
  fail_unless_equals_int(
      *sequence.keep(130, open_gop_i[0].data(), open_gop_i[0].size(), 18000, false), 109);
  fail_unless_equals_int(sequence.closed_gap_packets(), 17);
  fail_if(sequence.closes_gap(idr[0].data(), idr[0].size(), 21000));
  fail_unless_equals_int(*sequence.keep(140, idr[0].data(), idr[0].size(), 21000, false), 119);
  fail_unless_equals_int(sequence.cut_units(), 2);

  /* Units sent ahead of a keyframe's first slice (SEI, delimiters) that
   * the socket filter dropped: the gap between the parameter sets and the
   * first slice closes up; before a later slice (the first lost) it stays,
   * a keyframe cut short. */
  fail_unless(sequence.keep(141, idr[2].data(), idr[2].size(), 21000, true).has_value());
  fail_unless(sequence.keep(150, kSps.data(), kSps.size(), 24000, false).has_value());
  fail_unless(sequence.keep(151, kPps.data(), kPps.size(), 24000, false).has_value());
  fail_unless_equals_int(sequence.closed_gap_packets(), 25);
  fail_unless(sequence.closes_gap(idr[0].data(), idr[0].size(), 24000));
  fail_unless(sequence.keep(153, idr[0].data(), idr[0].size(), 24000, false).has_value());
  fail_unless(sequence.keep(154, idr[2].data(), idr[2].size(), 24000, true).has_value());
  fail_unless_equals_int(sequence.closed_gap_packets(), 26);
  fail_unless_equals_int(sequence.cut_units(), 2);
  const auto idr_later_slice = fu_a(h264_slice(5, 40, 7));
  fail_unless(sequence.keep(155, kSps.data(), kSps.size(), 27000, false).has_value());
  fail_unless(sequence.keep(156, kPps.data(), kPps.size(), 27000, false).has_value());
  fail_if(sequence.closes_gap(idr_later_slice[0].data(), idr_later_slice[0].size(), 27000));
  sequence.keep(159, idr_later_slice[0].data(), idr_later_slice[0].size(), 27000, false);
  fail_unless_equals_int(sequence.closed_gap_packets(), 26);
  fail_unless_equals_int(sequence.cut_units(), 3);

  /* Without gaps as drops a gap after a picture's end stays a gap. */
  KeyframeSequence plain(VideoCodec::H264);
  const Bytes idr_whole = h264_slice(5, 0, 7);
  fail_unless_equals_int(*plain.keep(100, idr_whole.data(), idr_whole.size(), 0, true), 100);
  fail_if(plain.closes_gap(idr[0].data(), idr[0].size(), 3000));
  fail_unless_equals_int(*plain.keep(105, idr[0].data(), idr[0].size(), 3000, false), 105);
  fail_unless_equals_int(plain.closed_gap_packets(), 0);
  fail_unless_equals_int(plain.cut_units(), 0);
}
GST_END_TEST;

/* The packet with a kept picture's marker bit is kept whatever it carries
 * (an H.265 suffix SEI ends the picture): the depayloader pushes the
 * picture there. A delta picture's is dropped with it. */
GST_START_TEST(test_sequence_keeps_the_marker_of_a_kept_picture) {
  const Bytes idr = {0x26, 0x01, 0xaf}, trail = {0x02, 0x01, 0xd0};
  const Bytes suffix_sei = {0x50, 0x01, 0x05};
  KeyframeSequence sequence(VideoCodec::H265);
  fail_unless(sequence.keep(1, idr.data(), idr.size(), 0, false).has_value());
  fail_unless(sequence.keep(2, suffix_sei.data(), suffix_sei.size(), 0, true).has_value());
  fail_if(sequence.keep(3, trail.data(), trail.size(), 3000, false).has_value());
  fail_if(sequence.keep(4, suffix_sei.data(), suffix_sei.size(), 3000, true).has_value());
  /* Without the marker the SEI goes, as before. */
  fail_unless(sequence.keep(5, idr.data(), idr.size(), 6000, false).has_value());
  fail_if(sequence.keep(6, suffix_sei.data(), suffix_sei.size(), 6000, false).has_value());
}
GST_END_TEST;

/* A picture's first slice, alone or as an FU's start, in either codec. */
GST_START_TEST(test_starts_picture) {
  KeyframeClassifier h264(VideoCodec::H264), h265(VideoCodec::H265);
  auto starts = [](const KeyframeClassifier &c, const Bytes &payload) {
    return c.starts_picture(payload.data(), payload.size());
  };
  fail_unless(starts(h264, h264_slice(5, 0, 7)));
  fail_unless(starts(h264, h264_slice(1, 0, 5)));
  fail_if(starts(h264, h264_slice(5, 40, 7)));
  fail_unless(starts(h264, fu_a(h264_slice(5, 0, 7))[0]));
  fail_if(starts(h264, fu_a(h264_slice(5, 0, 7))[1]));
  fail_if(starts(h264, fu_a(h264_slice(5, 3, 7))[0]));
  fail_if(starts(h264, kSps));
  fail_if(starts(h264, kSei));
  fail_if(starts(h264, Bytes{0x65}));
  fail_unless(starts(h265, Bytes{0x26, 0x01, 0xaf}));
  fail_if(starts(h265, Bytes{0x26, 0x01, 0x2f})); /* a later slice segment */
  fail_unless(starts(h265, Bytes{0x62, 0x01, 0x93, 0xaf}));
  fail_if(starts(h265, Bytes{0x62, 0x01, 0x13, 0xaf})); /* a continuation */
  fail_if(starts(h265, Bytes{0x40, 0x01, 0x0c}));       /* VPS */
  fail_if(starts(h265, Bytes{0x26, 0x01}));
}
GST_END_TEST;

/* An RTP packet: version 2, @payload_type, @marker; with @csrcs CSRCs and
 * an extension of @extension_words words when asked. */
static Bytes rtp_packet(uint8_t payload_type, uint16_t seq, const Bytes &payload,
                        bool marker = false, unsigned csrcs = 0, int extension_words = -1) {
  Bytes packet = {uint8_t(0x80 | (extension_words >= 0 ? 0x10 : 0) | csrcs),
                  uint8_t((marker ? 0x80 : 0) | payload_type),
                  uint8_t(seq >> 8),
                  uint8_t(seq),
                  0,
                  0,
                  0x10,
                  0,
                  0x12,
                  0x34,
                  0x56,
                  0x78};
  packet.resize(packet.size() + 4 * csrcs, 0xcc);
  if (extension_words >= 0) {
    packet.insert(packet.end(), {0xbe, 0xde, 0, uint8_t(extension_words)});
    packet.resize(packet.size() + 4 * size_t(extension_words), 0xee);
  }
  packet.insert(packet.end(), payload.begin(), payload.end());
  return packet;
}

/* A UDP socket on loopback (@family) with the keyframe socket filter, and
 * a sender: which of the packets sent arrive. */
class FilteredSocket {
public:
  FilteredSocket(int family, VideoCodec codec, uint8_t payload_type) : family_(family) {
    receiver_ = socket(family, SOCK_DGRAM, 0);
    sender_ = socket(family, SOCK_DGRAM, 0);
    if (family == AF_INET) {
      auto *in = reinterpret_cast<sockaddr_in *>(&address_);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length_ = sizeof(sockaddr_in);
    } else {
      auto *in6 = reinterpret_cast<sockaddr_in6 *>(&address_);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      length_ = sizeof(sockaddr_in6);
    }
    bound_ = receiver_ >= 0 && sender_ >= 0 &&
             bind(receiver_, reinterpret_cast<sockaddr *>(&address_), length_) == 0 &&
             getsockname(receiver_, reinterpret_cast<sockaddr *>(&address_), &length_) == 0;
    if (bound_)
      fail_unless(
          gpurtsp::rtp::attach_keyframe_socket_filter(receiver_, codec, payload_type, error_), "%s",
          error_.c_str());
  }
  ~FilteredSocket() {
    close(receiver_);
    close(sender_);
  }
  bool bound() const { return bound_; }

  /* Indices of @packets that arrive; a last packet of another payload type
   * (which always passes) marks the end. */
  std::set<size_t> arriving(const std::vector<Bytes> &packets) {
    for (const Bytes &packet : packets)
      send(packet);
    send(rtp_packet(0, 0, {0xff, 0xff, 0xff}));
    std::set<size_t> arrived;
    std::vector<uint8_t> buffer(2048);
    size_t next = 0;
    for (;;) {
      pollfd readable = {receiver_, POLLIN, 0};
      fail_unless(poll(&readable, 1, 2000) == 1, "the end marker did not arrive");
      const ssize_t size = recv(receiver_, buffer.data(), buffer.size(), 0);
      fail_unless(size >= 0);
      const Bytes got(buffer.begin(), buffer.begin() + size);
      if (got.size() == 15 && got[1] == 0)
        return arrived;
      /* Datagrams on loopback keep their order: find it from @next on. */
      while (next < packets.size() && packets[next] != got)
        next++;
      fail_unless(next < packets.size(), "a packet arrived that was not sent");
      arrived.insert(next++);
    }
  }

private:
  void send(const Bytes &packet) {
    fail_unless(sendto(sender_, packet.data(), packet.size(), 0,
                       reinterpret_cast<sockaddr *>(&address_), length_) == ssize_t(packet.size()));
  }

  int family_;
  int receiver_ = -1, sender_ = -1;
  sockaddr_storage address_ = {};
  socklen_t length_ = 0;
  bool bound_ = false;
  std::string error_;
};

/* A classic BPF interpreter for the instructions the program uses, with
 * the kernel's rule that a load past the end drops the packet. */
static bool bpf_accepts(const std::vector<gpurtsp::rtp::SocketFilterInstruction> &program,
                        const Bytes &packet) {
  uint32_t a = 0, x = 0, memory[16] = {};
  const uint32_t length = uint32_t(packet.size());
  auto load = [&](uint32_t offset, uint32_t size, uint32_t &out) {
    if (offset + size > length || offset + size < offset)
      return false;
    out = 0;
    for (uint32_t i = 0; i < size; i++)
      out = (out << 8) | packet[offset + i];
    return true;
  };
  for (size_t pc = 0; pc < program.size(); pc++) {
    const auto &op = program[pc];
    switch (op.code) {
    case BPF_LD | BPF_W | BPF_LEN:
      a = length;
      break;
    case BPF_LD | BPF_B | BPF_ABS:
      if (!load(op.k, 1, a))
        return false;
      break;
    case BPF_LD | BPF_B | BPF_IND:
      if (!load(x + op.k, 1, a))
        return false;
      break;
    case BPF_LD | BPF_H | BPF_IND:
      if (!load(x + op.k, 2, a))
        return false;
      break;
    case BPF_LDX | BPF_B | BPF_MSH: {
      uint32_t byte = 0;
      if (!load(op.k, 1, byte))
        return false;
      x = 4 * (byte & 0xf);
      break;
    }
    case BPF_LD | BPF_MEM:
      a = memory[op.k];
      break;
    case BPF_LDX | BPF_MEM:
      x = memory[op.k];
      break;
    case BPF_ST:
      memory[op.k] = a;
      break;
    case BPF_MISC | BPF_TAX:
      x = a;
      break;
    case BPF_MISC | BPF_TXA:
      a = x;
      break;
    case BPF_ALU | BPF_AND | BPF_K:
      a &= op.k;
      break;
    case BPF_ALU | BPF_ADD | BPF_K:
      a += op.k;
      break;
    case BPF_ALU | BPF_ADD | BPF_X:
      a += x;
      break;
    case BPF_ALU | BPF_LSH | BPF_K:
      a <<= op.k;
      break;
    case BPF_ALU | BPF_RSH | BPF_K:
      a >>= op.k;
      break;
    case BPF_JMP | BPF_JA:
      pc += op.k;
      break;
    case BPF_JMP | BPF_JEQ | BPF_K:
      pc += a == op.k ? op.jump_true : op.jump_false;
      break;
    case BPF_JMP | BPF_JGE | BPF_K:
      pc += a >= op.k ? op.jump_true : op.jump_false;
      break;
    case BPF_JMP | BPF_JGE | BPF_X:
      pc += a >= x ? op.jump_true : op.jump_false;
      break;
    case BPF_JMP | BPF_JSET | BPF_K:
      pc += (a & op.k) ? op.jump_true : op.jump_false;
      break;
    case BPF_RET | BPF_K:
      return op.k != 0;
    default:
      ck_abort_msg("instruction 0x%x not interpreted", op.code);
    }
  }
  ck_abort_msg("the program ran off its end");
  return false;
}

/* H.264 through the kernel: what it drops, what it must pass; and every
 * packet it drops is one the classifier drops in the same stream. */
GST_START_TEST(test_socket_filter_h264) {
  constexpr uint8_t kPt = 96;
  const auto idr = fu_a(h264_slice(5, 0, 7));
  const auto p = fu_a(h264_slice(1, 0, 5));
  const auto b = fu_a(h264_slice(1, 0, 1));
  const auto p_later = fu_a(h264_slice(1, 40, 0));
  const Bytes sei = {0x06, 0x05, 0x01, 0x80};
  /* An extension that says it is 200 words long, in a short packet. */
  Bytes extension_past_end = rtp_packet(kPt, 28, {}, false, 0, 0);
  extension_past_end[15] = 200;
  extension_past_end.insert(extension_past_end.end(), p[1].begin(), p[1].end());
  struct Case {
    Bytes packet;
    bool passes;
    uint32_t timestamp;
  };
  const std::vector<Case> cases = {
      {rtp_packet(kPt, 1, kSps), true, 0},
      {rtp_packet(kPt, 2, kPps), true, 0},
      {rtp_packet(kPt, 3, idr[0]), true, 0},
      {rtp_packet(kPt, 4, idr[1]), true, 0},
      {rtp_packet(kPt, 5, idr[2], true), true, 0},
      {rtp_packet(kPt, 6, sei), false, 3000}, /* alone, unmarked: never kept */
      {rtp_packet(kPt, 7, p[0]), false, 3000},
      {rtp_packet(kPt, 8, p[1]), false, 3000},
      {rtp_packet(kPt, 9, p[2], true), false, 3000},
      {rtp_packet(kPt, 10, h264_slice(1, 0, 0), true), false, 6000},  /* P, alone */
      {rtp_packet(kPt, 11, h264_slice(1, 0, 6), true), false, 9000},  /* B */
      {rtp_packet(kPt, 12, h264_slice(1, 0, 3), true), false, 12000}, /* SP */
      {rtp_packet(kPt, 13, b[0]), false, 15000},
      {rtp_packet(kPt, 14, b[2], true), false, 15000},
      {rtp_packet(kPt, 15, h264_slice(1, 0, 2), true), true, 18000}, /* I without IDR */
      {rtp_packet(kPt, 16, h264_slice(1, 0, 9), true), true, 21000}, /* SI */
      {rtp_packet(kPt, 17, p[0]), false, 24000},
      {rtp_packet(kPt, 18, p_later[0]), true, 24000}, /* a later slice: unknown */
      {rtp_packet(kPt, 19, p_later[1]), false, 24000},
      {rtp_packet(kPt, 20, stap_a({kSps, kPps}), true), true, 27000},
      {rtp_packet(kPt, 21, p[0], false, 2), false, 30000},    /* past CSRCs */
      {rtp_packet(kPt, 22, p[1], false, 1, 2), false, 30000}, /* and an extension */
      {rtp_packet(kPt, 23, idr[0], false, 0, 1), true, 33000},
      {rtp_packet(kPt, 24, idr[2], true, 15, 0), true, 33000},
      {rtp_packet(97, 25, p[0]), true, 36000}, /* another payload type */
      /* Too short or malformed to judge: they pass. */
      {rtp_packet(kPt, 26, {0x41}), true, 39000},
      {rtp_packet(kPt, 27, {0x5c, 0x01}), true, 39000},
      {extension_past_end, true, 39000},
      {Bytes{0x40, kPt, 0, 29, 0, 0, 0, 0, 0, 0, 0, 0, 0x5c, 0x01, 0x11}, true, 0}, /* version 1 */
      /* Units sent alone ahead of a picture, never kept: dropped without
       * the marker. Those that may follow a kept picture's slices pass. */
      {rtp_packet(kPt, 30, kAud), false, 42000},
      {rtp_packet(kPt, 31, {0x0a}), true, 42000},       /* end of sequence */
      {rtp_packet(kPt, 32, {0x0b}), true, 42000},       /* end of stream */
      {rtp_packet(kPt, 33, {0x0c, 0xff}), true, 42000}, /* filler */
      {rtp_packet(kPt, 34, sei, true), true, 42000},    /* marked */
      {rtp_packet(kPt, 35, {0x0d, 0x00}), true, 42000}, /* SPS extension */
      {rtp_packet(kPt, 36, {0x6e, 0x00}), true, 42000}, /* 14, a prefix unit: passes */
  };
  std::vector<Bytes> packets;
  for (const Case &c : cases)
    packets.push_back(c.packet);

  for (int family : {AF_INET, AF_INET6}) {
    FilteredSocket socket(family, VideoCodec::H264, kPt);
    if (!socket.bound()) {
      fail_unless(family == AF_INET6, "no IPv4 loopback");
      continue; /* no IPv6 here */
    }
    const std::set<size_t> arrived = socket.arriving(packets);
    for (size_t i = 0; i < cases.size(); i++)
      fail_unless(arrived.count(i) == cases[i].passes, "packet %zu (seq %zu) %s", i, i + 1,
                  cases[i].passes ? "was dropped" : "passed");
  }

  /* The interpreter of the randomized test below agrees with the kernel. */
  const auto program = gpurtsp::rtp::keyframe_socket_filter(VideoCodec::H264, kPt);
  for (size_t i = 0; i < cases.size(); i++) {
    Bytes datagram(8, 0);
    datagram.insert(datagram.end(), cases[i].packet.begin(), cases[i].packet.end());
    fail_unless(bpf_accepts(program, datagram) == cases[i].passes, "interpreter: packet %zu", i);
  }

  /* The classifier, given the whole stream, drops all the kernel drops. */
  KeyframeClassifier classifier(VideoCodec::H264);
  for (const Case &c : cases) {
    if (c.packet[1] % 128 != kPt || (c.packet[0] & 0xc0) != 0x80)
      continue;
    const size_t header =
        12 + 4 * (c.packet[0] & 0x0f) + ((c.packet[0] & 0x10) ? 4 + 4 * size_t(c.packet[15]) : 0);
    if (header >= c.packet.size())
      continue;
    const bool kept =
        classifier.keep(c.packet.data() + header, c.packet.size() - header, c.timestamp);
    fail_if(kept && !c.passes, "the kernel drops seq %u, which the classifier keeps", c.packet[3]);
  }
}
GST_END_TEST;

/* H.265: every slice that is not IRAP, alone or fragmented, dropped. */
GST_START_TEST(test_socket_filter_h265) {
  constexpr uint8_t kPt = 98;
  const Bytes vps = {0x40, 0x01, 0x0c}, sps = {0x42, 0x01, 0x01}, pps = {0x44, 0x01, 0xc1};
  const Bytes idr = {0x26, 0x01, 0xaf, 0x11}, cra = {0x2a, 0x01, 0xaf};
  const Bytes trail = {0x02, 0x01, 0xd0, 0x11}, rasl = {0x10, 0x01, 0xd0};
  /* FU (type 49): payload header, FU header (S E type). */
  const Bytes trail_start = {0x62, 0x01, 0x81, 0xd0}, trail_end = {0x62, 0x01, 0x41, 0x22};
  const Bytes idr_start = {0x62, 0x01, 0x93, 0xaf}, idr_middle = {0x62, 0x01, 0x13, 0x33};
  const Bytes aggregate = {0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c};
  const Bytes sei = {0x4e, 0x01, 0x05};
  const std::vector<std::pair<Bytes, bool>> cases = {
      {rtp_packet(kPt, 1, vps), true},
      {rtp_packet(kPt, 2, sps), true},
      {rtp_packet(kPt, 3, pps), true},
      {rtp_packet(kPt, 4, idr_start), true},
      {rtp_packet(kPt, 5, idr_middle), true},
      {rtp_packet(kPt, 6, idr, true), true},
      {rtp_packet(kPt, 7, cra, true), true},
      {rtp_packet(kPt, 8, trail, true), false},
      {rtp_packet(kPt, 9, rasl, true), false},
      {rtp_packet(kPt, 10, trail_start), false},
      {rtp_packet(kPt, 11, trail_end), false},
      {rtp_packet(kPt, 12, aggregate), true},
      {rtp_packet(kPt, 13, sei), false},
      {rtp_packet(kPt, 14, {0x02, 0x01}), false},
      {rtp_packet(kPt, 15, sei, true), true},
      {rtp_packet(kPt, 16, {0x46, 0x01, 0x50}), false},
      {rtp_packet(kPt, 17, {0x50, 0x01, 0x05}), true}, /* suffix SEI */
      {rtp_packet(kPt, 18, {0x4c, 0x01, 0xff}), true}, /* filler */
      {rtp_packet(kPt, 19, {0x52, 0x01}), true},       /* 41, reserved */
      {rtp_packet(kPt, 20, {0x62, 0x01, 0x27}), true}, /* an FU of an SEI */
  };
  std::vector<Bytes> packets;
  for (const auto &[packet, passes] : cases)
    packets.push_back(packet);
  FilteredSocket socket(AF_INET, VideoCodec::H265, kPt);
  fail_unless(socket.bound());
  const std::set<size_t> arrived = socket.arriving(packets);
  for (size_t i = 0; i < cases.size(); i++)
    fail_unless(arrived.count(i) == cases[i].second, "packet %zu %s", i,
                cases[i].second ? "was dropped" : "passed");
}
GST_END_TEST;

/* 2 x 100,000 random packets, shaped to reach every branch (CSRCs, extensions
 * of any length, every NAL and FU type, slice header bytes, short ones):
 * the interpreter agrees with the loopback socket on the cases above, and
 * every packet it drops a fresh classifier drops too. */
GST_START_TEST(test_socket_filter_never_drops_what_is_kept) {
  constexpr uint8_t kPt = 96;
  GRand *rand = g_rand_new_with_seed(20261207);
  for (VideoCodec codec : {VideoCodec::H264, VideoCodec::H265}) {
    const auto program = gpurtsp::rtp::keyframe_socket_filter(codec, kPt);
    unsigned dropped = 0;
    for (int i = 0; i < 100000; i++) {
      const unsigned csrcs = g_rand_int_range(rand, 0, 4) == 0 ? g_rand_int_range(rand, 0, 16) : 0;
      const int extension = g_rand_int_range(rand, 0, 4) == 0 ? g_rand_int_range(rand, 0, 4) : -1;
      Bytes payload(size_t(g_rand_int_range(rand, 0, 8)));
      for (uint8_t &byte : payload)
        byte = uint8_t(g_rand_int(rand));
      /* A third fragments, a third slices that are not keyframes. */
      const int shape = g_rand_int_range(rand, 0, 3);
      if (!payload.empty() && shape == 0)
        payload[0] = codec == VideoCodec::H264 ? uint8_t((payload[0] & 0xe0) | 28)
                                               : uint8_t((payload[0] & 0x81) | (49 << 1));
      else if (!payload.empty() && shape == 1)
        payload[0] = codec == VideoCodec::H264
                         ? uint8_t((payload[0] & 0xe0) | 1)
                         : uint8_t((payload[0] & 0x81) | (g_rand_int_range(rand, 0, 10) << 1));
      Bytes packet = rtp_packet(g_rand_int_range(rand, 0, 8) ? kPt : 97, uint16_t(i), payload,
                                g_rand_boolean(rand), csrcs, extension);
      if (extension >= 0 && g_rand_int_range(rand, 0, 4) == 0)
        packet[12 + 4 * csrcs + 3] = uint8_t(g_rand_int(rand)); /* a length that lies */
      if (g_rand_int_range(rand, 0, 16) == 0)
        packet.resize(size_t(g_rand_int_range(rand, 0, int(packet.size()) + 1)));
      Bytes datagram(8, 0); /* the UDP header the kernel's program sees first */
      datagram.insert(datagram.end(), packet.begin(), packet.end());
      if (bpf_accepts(program, datagram))
        continue;
      dropped++;
      /* Dropped: a well-formed video packet, which a classifier drops. */
      fail_unless(packet.size() >= 12 && packet[1] % 128 == kPt);
      const size_t header =
          12 + 4 * (packet[0] & 0x0f) +
          ((packet[0] & 0x10) ? 4 + 4 * size_t(packet[12 + 4 * (packet[0] & 0x0f) + 3]) : 0);
      fail_unless(header < packet.size());
      KeyframeClassifier classifier(codec);
      fail_if(classifier.keep(packet.data() + header, packet.size() - header, 0),
              "packet %d dropped by the socket filter, kept by the classifier", i);
    }
    fail_unless(dropped > 5000, "only %u dropped", dropped);
  }
  g_rand_free(rand);
}
GST_END_TEST;

/* The program stays within what classic BPF allows: jumps forward only and
 * in range, a return at the end. The kernel checks the rest at attach. */
GST_START_TEST(test_socket_filter_program) {
  for (VideoCodec codec : {VideoCodec::H264, VideoCodec::H265}) {
    const auto program = gpurtsp::rtp::keyframe_socket_filter(codec, 96);
    fail_unless(!program.empty() && program.size() < 256);
    fail_unless_equals_int(program.back().code, 0x06); /* BPF_RET | BPF_K */
  }
  std::string error;
  fail_if(gpurtsp::rtp::attach_keyframe_socket_filter(-1, VideoCodec::H264, 96, error));
  fail_unless(error.find("SO_ATTACH_FILTER") != std::string::npos, "%s", error.c_str());
}
GST_END_TEST;

static Suite *rtp_keyframe_classifier_suite() {
  Suite *s = suite_create("rtp-keyframe-classifier");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_h264_single_nal_units);
  tcase_add_test(tc, test_h264_emulation_prevention);
  tcase_add_test(tc, test_h264_access_unit_decides);
  tcase_add_test(tc, test_h264_fragments);
  tcase_add_test(tc, test_h264_aggregates);
  tcase_add_test(tc, test_short_payloads);
  tcase_add_test(tc, test_h265);
  tcase_add_test(tc, test_sequence_renumbers);
  tcase_add_test(tc, test_sequence_closes_filtered_gaps);
  tcase_add_test(tc, test_sequence_keeps_the_marker_of_a_kept_picture);
  tcase_add_test(tc, test_starts_picture);
  tcase_add_test(tc, test_socket_filter_h264);
  tcase_add_test(tc, test_socket_filter_h265);
  tcase_add_test(tc, test_socket_filter_program);
  tcase_add_test(tc, test_socket_filter_never_drops_what_is_kept);
  return s;
}

GST_CHECK_MAIN(rtp_keyframe_classifier);
