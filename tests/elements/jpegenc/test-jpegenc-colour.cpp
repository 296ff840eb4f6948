// SPDX-License-Identifier: MIT
/* gpujpegenc's map from video YCbCr to JFIF's full-range BT.601, checked on
 * the CPU against values worked out from the BT.601/BT.709 definitions. */
#include <cmath>
#include <cstring>

#include "jpegenc/jpegenc-colour.h"
#include <initializer_list>
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

using gpurtsp::JfifTransform;

struct Ycbcr {
  double y, cb, cr;
};

static Ycbcr apply(const JfifTransform &t, Ycbcr in) {
  return {t.y_from_y * in.y + t.y_from_cb * in.cb + t.y_from_cr * in.cr + t.y_offset,
          t.cb_from_cb * in.cb + t.cb_from_cr * in.cr + t.cb_offset,
          t.cr_from_cb * in.cb + t.cr_from_cr * in.cr + t.cr_offset};
}

static GstVideoColorimetry colorimetry(GstVideoColorRange range, GstVideoColorMatrix matrix) {
  GstVideoColorimetry c = {};
  c.range = range;
  c.matrix = matrix;
  c.transfer = GST_VIDEO_TRANSFER_BT709;
  c.primaries = GST_VIDEO_COLOR_PRIMARIES_BT709;
  return c;
}

static void expect_near(Ycbcr got, Ycbcr want, double tolerance) {
  fail_unless(std::abs(got.y - want.y) <= tolerance && std::abs(got.cb - want.cb) <= tolerance &&
                  std::abs(got.cr - want.cr) <= tolerance,
              "got (%.2f, %.2f, %.2f), want (%.2f, %.2f, %.2f)", got.y, got.cb, got.cr, want.y,
              want.cb, want.cr);
}

GST_START_TEST(test_full_range_bt601_is_kept) {
  JfifTransform t;
  fail_if(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_0_255, GST_VIDEO_COLOR_MATRIX_BT601), t));
}
GST_END_TEST;

GST_START_TEST(test_limited_bt709) {
  JfifTransform t;
  fail_unless(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_COLOR_MATRIX_BT709), t));
  /* Black, white and grey keep their place at full range. */
  expect_near(apply(t, {16, 128, 128}), {0, 128, 128}, 1e-3);
  expect_near(apply(t, {235, 128, 128}), {255, 128, 128}, 1e-3);
  expect_near(apply(t, {126, 128, 128}), {128.08, 128, 128}, 0.01);
  /* Pure red: BT.709 limited (62.559, 102.336, 240) is BT.601 full
   * (76.245, 84.972, 255.5). */
  expect_near(apply(t, {62.559, 102.336, 240}), {76.245, 84.972, 255.5}, 0.01);
  /* Pure blue: (31.812, 240, 117.73) -> (29.07, 255.5, 107.265). */
  expect_near(apply(t, {31.812, 240, 117.73}), {29.07, 255.5, 107.265}, 0.01);
  fail_unless(std::abs(t.y_from_y - 255.0 / 219.0) < 1e-5);
}
GST_END_TEST;

GST_START_TEST(test_limited_bt601_only_changes_range) {
  JfifTransform t;
  fail_unless(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_COLOR_MATRIX_BT601), t));
  expect_near(apply(t, {16, 16, 240}), {0, 0.5, 255.5}, 1e-3);
  fail_unless(std::abs(t.y_from_cb) < 1e-6 && std::abs(t.y_from_cr) < 1e-6);
  fail_unless(std::abs(t.cb_from_cr) < 1e-6 && std::abs(t.cr_from_cb) < 1e-6);
}
GST_END_TEST;

GST_START_TEST(test_full_range_bt709_changes_matrix_only) {
  JfifTransform t;
  fail_unless(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_0_255, GST_VIDEO_COLOR_MATRIX_BT709), t));
  expect_near(apply(t, {0, 128, 128}), {0, 128, 128}, 1e-3);
  expect_near(apply(t, {255, 128, 128}), {255, 128, 128}, 1e-3);
  /* Full-range BT.709 red (54.213, 98.784, 255.5) -> BT.601 red. */
  expect_near(apply(t, {54.213, 98.784, 255.5}), {76.245, 84.972, 255.5}, 0.01);
}
GST_END_TEST;

GST_START_TEST(test_unknown_means_limited_bt601) {
  JfifTransform unknown, limited;
  fail_unless(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_UNKNOWN, GST_VIDEO_COLOR_MATRIX_UNKNOWN), unknown));
  gpurtsp::jfif_transform(colorimetry(GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_COLOR_MATRIX_BT601),
                          limited);
  fail_unless(std::memcmp(&unknown, &limited, sizeof(JfifTransform)) == 0);
}
GST_END_TEST;

GST_START_TEST(test_bt2020_keeps_grey) {
  JfifTransform t;
  fail_unless(gpurtsp::jfif_transform(
      colorimetry(GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_COLOR_MATRIX_BT2020), t));
  for (double y : {16.0, 100.0, 235.0})
    expect_near(apply(t, {y, 128, 128}), {(y - 16) * 255 / 219, 128, 128}, 1e-3);
}
GST_END_TEST;

static Suite *jpegenc_colour_suite() {
  Suite *s = suite_create("jpegenc-colour");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_full_range_bt601_is_kept);
  tcase_add_test(tc, test_limited_bt709);
  tcase_add_test(tc, test_limited_bt601_only_changes_range);
  tcase_add_test(tc, test_full_range_bt709_changes_matrix_only);
  tcase_add_test(tc, test_unknown_means_limited_bt601);
  tcase_add_test(tc, test_bt2020_keeps_grey);
  return s;
}

GST_CHECK_MAIN(jpegenc_colour)
