// SPDX-License-Identifier: MIT
/* rtpkeyframefilter's packet rules (KeyframeClassifier): which RTP payloads
 * of H.264 (RFC 6184) and H.265 (RFC 7798) a keyframe-only consumer needs. */
#include <gst/check/gstcheck.h>

#include <vector>

#include "rtp/rtp-keyframe-classifier.h"

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
  fail_unless_equals_int(*sequence.keep(100, idr[0].data(), idr[0].size(), 0), 100);
  fail_unless_equals_int(*sequence.keep(101, idr[1].data(), idr[1].size(), 0), 101);
  fail_unless_equals_int(*sequence.keep(102, idr[2].data(), idr[2].size(), 0), 102);
  for (uint16_t i = 0; i < 3; i++)
    fail_if(sequence.keep(uint16_t(103 + i), p[i].data(), p[i].size(), 3000).has_value());
  fail_unless_equals_int(*sequence.last_seq(), 105);
  /* Three dropped: 106 goes out as 103. */
  fail_unless_equals_int(*sequence.keep(106, idr[0].data(), idr[0].size(), 6000), 103);
  /* 107 lost: the continuation after the gap cannot be judged (dropped),
   * and the numbers keep the gap. */
  fail_if(sequence.keep(108, idr[1].data(), idr[1].size(), 6000).has_value());
  fail_unless_equals_int(*sequence.keep(109, idr[0].data(), idr[0].size(), 9000), 105);
  /* Across 65535 -> 0. */
  sequence.reset();
  fail_if(sequence.last_seq().has_value());
  fail_if(sequence.keep(65535, p[0].data(), p[0].size(), 12000).has_value());
  fail_unless_equals_int(*sequence.keep(0, idr[0].data(), idr[0].size(), 15000), 65535);
  /* Another codec: the numbering goes on. */
  sequence.set_codec(VideoCodec::H265);
  fail_unless(sequence.codec() == VideoCodec::H265);
  const Bytes h265_p = {0x02, 0x01, 0xd0};
  fail_if(sequence.keep(1, h265_p.data(), h265_p.size(), 18000).has_value());
  const Bytes h265_idr = {0x26, 0x01, 0xaf};
  fail_unless_equals_int(*sequence.keep(2, h265_idr.data(), h265_idr.size(), 21000), 0);
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
  return s;
}

GST_CHECK_MAIN(rtp_keyframe_classifier);
