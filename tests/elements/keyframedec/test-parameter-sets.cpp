// SPDX-License-Identifier: MIT
/* ParameterSetCache: keyframes that lack some or all of their camera's
 * parameter sets get the remembered ones back, in the order decoders need
 * (VPS, SPS, PPS after the delimiter, before everything else); keyframes
 * that carry them pass unchanged and renew them. CPU only. */
#include "keyframedec/parameter-sets.h"

#include <initializer_list>
#include <string>
#include <vector>

#include <gst/check/gstcheck.h>

using gpurtsp::ParameterSetCache;
using Bytes = std::vector<uint8_t>;

namespace {

/* An Annex B access unit of @nals, each after a 4-byte start code (or a
 * 3-byte one where @short_codes). */
Bytes annex_b(std::initializer_list<Bytes> nals, bool short_codes = false) {
  Bytes out;
  for (const Bytes &nal : nals) {
    if (!short_codes)
      out.push_back(0);
    out.insert(out.end(), {0, 0, 1});
    out.insert(out.end(), nal.begin(), nal.end());
  }
  return out;
}

Bytes complete(ParameterSetCache &cache, const Bytes &au, bool *unchanged = nullptr) {
  Bytes scratch;
  auto out = cache.complete(au, scratch);
  if (unchanged)
    *unchanged = out.data() == au.data();
  return Bytes(out.begin(), out.end());
}

std::string hex(const Bytes &b) {
  std::string s;
  for (uint8_t v : b) {
    char buf[4];
    snprintf(buf, sizeof buf, "%02x ", v);
    s += buf;
  }
  return s;
}

void check_equal(const Bytes &got, const Bytes &want) {
  fail_unless(got == want, "got  %s\nwant %s", hex(got).c_str(), hex(want).c_str());
}

/* H.264 NAL units: header byte (nal_ref_idc 3) then a body. */
const Bytes kAud = {0x09, 0xf0};
const Bytes kSps = {0x67, 0x42, 0xc0, 0x1f, 0x11};
const Bytes kSps2 = {0x67, 0x4d, 0x40, 0x28, 0x22};
const Bytes kPps = {0x68, 0xce, 0x3c, 0x80};
const Bytes kSei = {0x06, 0x05, 0x01, 0xaa};
const Bytes kIdr = {0x65, 0x88, 0x84, 0x00, 0x21};
const Bytes kIdr2 = {0x65, 0x88, 0x84, 0x00, 0x33};

} // namespace

GST_START_TEST(test_keyframe_with_sets_unchanged) {
  ParameterSetCache cache(ParameterSetCache::Codec::H264);
  fail_unless(cache.empty());
  const Bytes au = annex_b({kAud, kSps, kPps, kIdr});
  bool unchanged = false;
  check_equal(complete(cache, au, &unchanged), au);
  fail_unless(unchanged, "an access unit with its sets must not be copied");
  fail_if(cache.empty());
}
GST_END_TEST;

/* A camera that sent its sets once: the next keyframe gets them back. */
GST_START_TEST(test_sets_put_back) {
  ParameterSetCache cache(ParameterSetCache::Codec::H264);
  complete(cache, annex_b({kSps, kPps, kIdr}));
  check_equal(complete(cache, annex_b({kIdr2})), annex_b({kSps, kPps, kIdr2}));
  /* After a delimiter, before an SEI; the slice's 3-byte start code is kept. */
  Bytes want = annex_b({kAud, kSps, kPps, kSei});
  const Bytes slice = annex_b({kIdr2}, true);
  want.insert(want.end(), slice.begin(), slice.end());
  check_equal(complete(cache, annex_b({kAud, kSei, kIdr2}, true)), want);
}
GST_END_TEST;

/* A keyframe with a new SPS but no PPS: the new SPS stays and is
 * remembered, the PPS comes back after it. */
GST_START_TEST(test_some_kinds_renewed) {
  ParameterSetCache cache(ParameterSetCache::Codec::H264);
  complete(cache, annex_b({kSps, kPps, kIdr}));
  check_equal(complete(cache, annex_b({kSps2, kIdr})), annex_b({kSps2, kPps, kIdr}));
  check_equal(complete(cache, annex_b({kIdr2})), annex_b({kSps2, kPps, kIdr2}));
}
GST_END_TEST;

/* Units after the first slice belong to the next picture: not read. */
GST_START_TEST(test_sets_after_slice_ignored) {
  ParameterSetCache cache(ParameterSetCache::Codec::H264);
  const Bytes au = annex_b({kIdr, kSps2});
  bool unchanged = false;
  check_equal(complete(cache, au, &unchanged), au);
  fail_unless(unchanged);
  fail_unless(cache.empty());
}
GST_END_TEST;

GST_START_TEST(test_h265_order) {
  ParameterSetCache cache(ParameterSetCache::Codec::H265);
  /* Two-byte headers: type << 1. VPS 32, SPS 33, PPS 34, AUD 35, IDR_W_RADL 19. */
  const Bytes vps = {0x40, 0x01, 0x0c}, sps = {0x42, 0x01, 0x01}, pps = {0x44, 0x01, 0xc1};
  const Bytes aud = {0x46, 0x01, 0x50}, idr = {0x26, 0x01, 0xaf, 0x09};
  complete(cache, annex_b({vps, sps, pps, idr}));
  check_equal(complete(cache, annex_b({aud, idr})), annex_b({aud, vps, sps, pps, idr}));
  /* Only the PPS missing: it goes after the unit's own VPS and SPS. */
  check_equal(complete(cache, annex_b({vps, sps, idr})), annex_b({vps, sps, pps, idr}));
}
GST_END_TEST;

/* Bad input is passed on untouched for the parser to refuse: no start code,
 * a start code at the very end, zeros only, nothing. */
GST_START_TEST(test_malformed_passed_on) {
  ParameterSetCache cache(ParameterSetCache::Codec::H264);
  complete(cache, annex_b({kSps, kPps, kIdr}));
  for (const Bytes &au :
       {Bytes{0x65, 0x88, 0x84}, Bytes{0x00, 0x00, 0x01}, Bytes{0, 0, 0, 0, 0}, Bytes{}}) {
    bool unchanged = false;
    check_equal(complete(cache, au, &unchanged), au);
    fail_unless(unchanged);
  }
}
GST_END_TEST;

static Suite *parameter_sets_suite() {
  Suite *s = suite_create("parameter-sets");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_keyframe_with_sets_unchanged);
  tcase_add_test(tc, test_sets_put_back);
  tcase_add_test(tc, test_some_kinds_renewed);
  tcase_add_test(tc, test_sets_after_slice_ignored);
  tcase_add_test(tc, test_h265_order);
  tcase_add_test(tc, test_malformed_passed_on);
  return s;
}

GST_CHECK_MAIN(parameter_sets);
