// SPDX-License-Identifier: MIT
/* AccessUnitGuard: which access units may reach the decoder after packet
 * loss (a gap inside a unit, a lost end or beginning, a lost whole unit,
 * references to a damaged picture), and what counts as a drop. */
#include <vector>

#include "access-unit-guard.h"

/* Last: check.h defines fail(). */
#include <gst/check/gstcheck.h>

using gpurtsp::launch::AccessUnitGuard;
using Bytes = std::vector<uint8_t>;

namespace {

const Bytes kSps = {0x67, 0x42, 0x00, 0x1f};
const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
const Bytes kIdrStart = {0x7c, 0x85, 0x88, 0x84}; /* FU-A start, IDR, first_mb 0 */
const Bytes kIdrMiddle = {0x7c, 0x05, 0x11};
const Bytes kIdrEnd = {0x7c, 0x45, 0x33};
const Bytes kPSlice = {0x41, 0x9a, 0x20};       /* first_mb 0 */
const Bytes kPSecondSlice = {0x41, 0x40, 0x20}; /* first_mb 1: not a picture's start */

/* Feeds packets and asks about units, as the pad probes do. */
struct Stream {
  AccessUnitGuard guard{AccessUnitGuard::Codec::H264};
  uint16_t seq = 100;
  uint32_t ts = 0;

  void send(const Bytes &payload, bool marker = false) {
    guard.packet(seq++, ts, ts, marker, payload.data(), payload.size());
  }
  void lose(unsigned packets = 1) { seq = uint16_t(seq + packets); }
  /* One IDR unit (SPS, PPS, 3 fragments); @lost_at: index of a packet lost. */
  void keyframe(int lost_at = -1) {
    const Bytes *packets[] = {&kSps, &kPps, &kIdrStart, &kIdrMiddle, &kIdrEnd};
    for (int i = 0; i < 5; i++) {
      if (i == lost_at)
        lose();
      else
        send(*packets[i], i == 4);
    }
  }
  void delta() { send(kPSlice, true); }
  /* The unit of the current timestamp leaves the depayloader. */
  bool out(bool keyframe) {
    const bool pass = guard.pass(ts, keyframe);
    ts += 3000;
    return pass;
  }
};

} // namespace

GST_START_TEST(test_clean_stream_passes) {
  Stream s;
  for (int gop = 0; gop < 3; gop++) {
    s.keyframe();
    fail_unless(s.out(true));
    for (int i = 0; i < 5; i++) {
      s.delta();
      fail_unless(s.out(false));
    }
  }
  fail_unless_equals_int(s.guard.dropped(), 0);
}
GST_END_TEST;

GST_START_TEST(test_start_waits_for_keyframe_uncounted) {
  Stream s;
  s.delta();
  fail_if(s.out(false));
  s.keyframe();
  fail_unless(s.out(true));
  fail_unless_equals_int(s.guard.dropped(), 0);
}
GST_END_TEST;

/* A fragment lost inside a keyframe: that keyframe and every delta unit
 * after it go, until the next intact keyframe. */
GST_START_TEST(test_gap_inside_keyframe) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.keyframe(3);
  fail_if(s.out(true));
  for (int i = 0; i < 3; i++) {
    s.delta();
    fail_if(s.out(false));
  }
  s.keyframe();
  fail_unless(s.out(true));
  s.delta();
  fail_unless(s.out(false));
  fail_unless_equals_int(s.guard.dropped(), 4);
}
GST_END_TEST;

/* A delta unit's only packet lost: the unit never comes out, the next ones
 * reference it. */
GST_START_TEST(test_whole_unit_lost) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.delta();
  fail_unless(s.out(false));
  s.lose();
  s.ts += 3000; /* the lost unit's timestamp */
  s.delta();
  fail_if(s.out(false));
  s.keyframe();
  fail_unless(s.out(true));
  fail_unless_equals_int(s.guard.dropped(), 1);
}
GST_END_TEST;

/* The marker packet lost: the unit ended early (its next one begins). */
GST_START_TEST(test_end_lost) {
  Stream s;
  s.keyframe(4);
  /* The depayloader flushes the unit when the next timestamp begins. */
  s.ts += 3000;
  s.send(kSps);
  s.ts -= 3000;
  fail_if(s.out(true));
  s.send(kPps);
  s.send(kIdrStart);
  s.send(kIdrMiddle);
  s.send(kIdrEnd, true);
  fail_unless(s.out(true));
}
GST_END_TEST;

/* The first packet of a two-slice picture lost: the packet after the gap is
 * the second slice, which begins no picture. */
GST_START_TEST(test_beginning_lost) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.lose();
  s.send(kPSecondSlice, true);
  fail_if(s.out(false));
  fail_unless_equals_int(s.guard.dropped(), 1);
}
GST_END_TEST;

/* With only keyframes (decode: keyframes, delta packets dropped before):
 * a gap between two units harms neither. */
GST_START_TEST(test_keyframes_only_gap_between) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.lose(7);
  s.keyframe();
  fail_unless(s.out(true));
  fail_unless_equals_int(s.guard.dropped(), 0);
}
GST_END_TEST;

/* A damaged unit the depayloader discarded itself still counts. */
GST_START_TEST(test_discarded_damaged_unit_counts) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.keyframe(2); /* IDR start lost: the depayloader drops the fragments */
  s.ts += 3000;
  s.keyframe();
  fail_unless(s.out(true));
  fail_unless_equals_int(s.guard.dropped(), 1);
}
GST_END_TEST;

/* Packets of one unit stamped differently (reordering in the
 * jitterbuffer): the unit matches any of them; a unit matching none is
 * dropped. */
GST_START_TEST(test_matching_by_any_pts) {
  AccessUnitGuard guard(AccessUnitGuard::Codec::H264);
  guard.packet(1, 9000, 500, false, kSps.data(), kSps.size());
  guard.packet(2, 9000, 500, false, kPps.data(), kPps.size());
  guard.packet(3, 9000, 510, false, kIdrStart.data(), kIdrStart.size());
  guard.packet(4, 9000, 500, true, kIdrEnd.data(), kIdrEnd.size());
  fail_unless(guard.pass(510, true));
  guard.packet(5, 12000, 600, true, kPSlice.data(), kPSlice.size());
  fail_if(guard.pass(777, false));
  fail_unless_equals_int(guard.unmatched(), 1);
  fail_unless_equals_int(guard.dropped(), 1);
}
GST_END_TEST;

GST_START_TEST(test_reset_forgets) {
  Stream s;
  s.keyframe();
  fail_unless(s.out(true));
  s.guard.reset();
  s.seq = 7;
  s.delta();
  fail_if(s.out(false)); /* a new stream waits for its keyframe again */
  s.keyframe();
  fail_unless(s.out(true));
  fail_unless_equals_int(s.guard.dropped(), 0);
}
GST_END_TEST;

GST_START_TEST(test_starts_access_unit) {
  using C = AccessUnitGuard::Codec;
  auto starts = [](C codec, const Bytes &payload) {
    return AccessUnitGuard::starts_access_unit(codec, payload.data(), payload.size());
  };
  fail_unless(starts(C::H264, kSps) && starts(C::H264, kIdrStart) && starts(C::H264, kPSlice));
  fail_if(starts(C::H264, kIdrMiddle) || starts(C::H264, kIdrEnd) ||
          starts(C::H264, kPSecondSlice));
  fail_unless(starts(C::H264, Bytes{0x18, 0x00, 0x04, 0x67, 0x42})); /* STAP-A with SPS */
  fail_if(starts(C::H264, Bytes{}) || starts(C::H264, Bytes{0x7c}));
  /* H.265: VPS; IDR_W_RADL with first_slice_segment_in_pic_flag, without;
   * FU start of such a slice, FU middle. */
  fail_unless(starts(C::H265, Bytes{0x40, 0x01, 0x0c}));
  fail_unless(starts(C::H265, Bytes{0x26, 0x01, 0xaf}));
  fail_if(starts(C::H265, Bytes{0x26, 0x01, 0x2f}));
  fail_unless(starts(C::H265, Bytes{0x62, 0x01, 0x93, 0xaf}));
  fail_if(starts(C::H265, Bytes{0x62, 0x01, 0x13, 0xaf}));
  fail_if(starts(C::H265, Bytes{0x62}));
}
GST_END_TEST;

static Suite *access_unit_guard_suite() {
  Suite *suite = suite_create("access-unit-guard");
  TCase *tc = tcase_create("general");
  suite_add_tcase(suite, tc);
  tcase_add_test(tc, test_clean_stream_passes);
  tcase_add_test(tc, test_start_waits_for_keyframe_uncounted);
  tcase_add_test(tc, test_gap_inside_keyframe);
  tcase_add_test(tc, test_whole_unit_lost);
  tcase_add_test(tc, test_end_lost);
  tcase_add_test(tc, test_beginning_lost);
  tcase_add_test(tc, test_keyframes_only_gap_between);
  tcase_add_test(tc, test_discarded_damaged_unit_counts);
  tcase_add_test(tc, test_matching_by_any_pts);
  tcase_add_test(tc, test_reset_forgets);
  tcase_add_test(tc, test_starts_access_unit);
  return suite;
}

GST_CHECK_MAIN(access_unit_guard);
