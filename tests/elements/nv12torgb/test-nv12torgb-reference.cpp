// SPDX-License-Identifier: MIT
/* The CPU reference of gpunv12torgb (the maths its kernels share) against
 * known values: colour bars, levels, chroma siting, odd sizes, resizing.
 * Expected values come from the textbook equations in nv12torgb-test-util.h,
 * never from the code under test. Needs no GPU. */
#include <gst/check/gstcheck.h>

#include <cstdlib>
#include <random>

#include "nv12torgb/nv12torgb-reference.h"
#include "nv12torgb-test-util.h"

using namespace gpurtsp::rgb;
using namespace testutil;

static const GstVideoColorMatrix kMatrices[] = {
    GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_MATRIX_BT2020};
static const RgbLayout kLayouts[] = {RgbLayout::RGB, RgbLayout::BGR, RgbLayout::RGBA,
                                     RgbLayout::BGRA, RgbLayout::RGBP};

static GstVideoColorRange range_of(bool full) {
  return full ? GST_VIDEO_COLOR_RANGE_0_255 : GST_VIDEO_COLOR_RANGE_16_235;
}

/* Fails unless every pixel of @out is within @tolerance of @expected(x, y). */
template <class Expected>
static void check_pixels(const RgbFrame &out, int width, int height, int tolerance,
                         Expected expected, const char *what) {
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      const std::array<int, 3> want = expected(x, y);
      const std::array<int, 3> got = out.rgb(x, y);
      for (int c = 0; c < 3; c++)
        fail_unless(std::abs(got[c] - want[c]) <= tolerance,
                    "%s: pixel (%d,%d) channel %d is %d, expected %d", what, x, y, c, got[c],
                    want[c]);
    }
}

GST_START_TEST(test_colour_bars) {
  /* White, yellow, cyan, green, magenta, red, blue, black; 8 pixels each. */
  const std::array<double, 3> bars[8] = {{1, 1, 1}, {1, 1, 0}, {0, 1, 1}, {0, 1, 0},
                                         {1, 0, 1}, {1, 0, 0}, {0, 0, 1}, {0, 0, 0}};
  const int width = 64, height = 4;
  for (GstVideoColorMatrix matrix : kMatrices)
    for (bool full : {false, true})
      for (double level : {0.75, 1.0})
        for (bool nv12 : {true, false}) {
          YuvFrame frame(width, height, nv12);
          std::array<int, 3> codes[8];
          for (int b = 0; b < 8; b++) {
            const std::array<double, 3> rgb = {level * bars[b][0], level * bars[b][1],
                                               level * bars[b][2]};
            codes[b] = rgb_to_ycbcr(rgb, matrix, full);
            for (int y = 0; y < height; y++)
              for (int x = 8 * b; x < 8 * b + 8; x++)
                frame.set_y(x, y, codes[b][0]);
            for (int y = 0; y < height / 2; y++)
              for (int x = 4 * b; x < 4 * b + 4; x++) {
                frame.set_cb(x, y, codes[b][1]);
                frame.set_cr(x, y, codes[b][2]);
              }
          }
          RgbFrame out(width, height, RgbLayout::RGB);
          convert_reference(frame.source(), out.target(), RgbLayout::RGB,
                            params_for(width, height, width, height, matrix, range_of(full),
                                       GST_VIDEO_CHROMA_SITE_MPEG2));
          /* Columns 1..6 of a bar see only its own chroma. */
          for (int b = 0; b < 8; b++)
            for (int x = 8 * b + 1; x < 8 * b + 7; x++)
              for (int y = 0; y < height; y++) {
                const auto exact =
                    ycbcr_to_rgb(codes[b][0], codes[b][1], codes[b][2], matrix, full);
                const auto got = out.rgb(x, y);
                for (int c = 0; c < 3; c++) {
                  /* Exactly what the 8-bit code values mean ... */
                  fail_unless(std::abs(got[c] - expected_code(exact[c])) <= 1,
                              "matrix %d full %d level %.2f bar %d channel %d: %d, expected %d",
                              matrix, full, level, b, c, got[c], expected_code(exact[c]));
                  /* ... and the bar itself, give or take 8-bit quantisation. */
                  const int bar = expected_code(255 * level * bars[b][c]);
                  fail_unless(std::abs(got[c] - bar) <= 2,
                              "matrix %d full %d level %.2f bar %d channel %d: %d, bar is %d",
                              matrix, full, level, b, c, got[c], bar);
                }
              }
        }
}
GST_END_TEST;

GST_START_TEST(test_levels) {
  struct Case {
    bool full;
    int y, cb, cr;
    std::array<int, 3> rgb;
  };
  const Case cases[] = {
      {false, 16, 128, 128, {0, 0, 0}},        /* limited black */
      {false, 235, 128, 128, {255, 255, 255}}, /* limited white */
      {false, 0, 128, 128, {0, 0, 0}},         /* below black clamps */
      {false, 255, 128, 128, {255, 255, 255}}, /* above white clamps */
      {false, 126, 128, 128, {128, 128, 128}}, /* (126 - 16) * 255 / 219 = 128.1 */
      {true, 0, 128, 128, {0, 0, 0}},          {true, 255, 128, 128, {255, 255, 255}},
      {true, 128, 128, 128, {128, 128, 128}},
  };
  for (GstVideoColorMatrix matrix : kMatrices)
    for (const Case &c : cases) {
      YuvFrame frame(4, 2, true);
      frame.fill(c.y, c.cb, c.cr);
      RgbFrame out(4, 2, RgbLayout::RGB);
      convert_reference(
          frame.source(), out.target(), RgbLayout::RGB,
          params_for(4, 2, 4, 2, matrix, range_of(c.full), GST_VIDEO_CHROMA_SITE_MPEG2));
      check_pixels(
          out, 4, 2, 0, [&](int, int) { return c.rgb; }, "levels");
    }

  /* Out-of-gamut colours saturate instead of wrapping around: red would be
   * 455 and -200 here. */
  const auto params = params_for(4, 2, 4, 2, GST_VIDEO_COLOR_MATRIX_BT709,
                                 GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_CHROMA_SITE_MPEG2);
  YuvFrame frame(4, 2, true);
  RgbFrame out(4, 2, RgbLayout::RGB);
  frame.fill(235, 128, 240);
  convert_reference(frame.source(), out.target(), RgbLayout::RGB, params);
  fail_unless_equals_int(out.rgb(0, 0)[0], 255);
  frame.fill(16, 240, 16);
  convert_reference(frame.source(), out.target(), RgbLayout::RGB, params);
  fail_unless_equals_int(out.rgb(0, 0)[0], 0);
}
GST_END_TEST;

GST_START_TEST(test_limited_range_output) {
  YuvFrame frame(4, 2, true);
  RgbFrame out(4, 2, RgbLayout::RGBA);
  const auto params =
      params_for(4, 2, 4, 2, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235,
                 GST_VIDEO_CHROMA_SITE_MPEG2, GST_VIDEO_COLOR_RANGE_16_235);
  frame.fill(235, 128, 128);
  convert_reference(frame.source(), out.target(), RgbLayout::RGBA, params);
  check_pixels(
      out, 4, 2, 0,
      [](int, int) {
        return std::array<int, 3>{235, 235, 235};
      },
      "white");
  frame.fill(16, 128, 128);
  convert_reference(frame.source(), out.target(), RgbLayout::RGBA, params);
  check_pixels(
      out, 4, 2, 0,
      [](int, int) {
        return std::array<int, 3>{16, 16, 16};
      },
      "black");
}
GST_END_TEST;

GST_START_TEST(test_layouts) {
  YuvFrame frame(4, 2, true);
  const auto codes = rgb_to_ycbcr({0.8, 0.4, 0.1}, GST_VIDEO_COLOR_MATRIX_BT709, false);
  frame.fill(codes[0], codes[1], codes[2]);
  const auto params = params_for(4, 2, 4, 2, GST_VIDEO_COLOR_MATRIX_BT709,
                                 GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_CHROMA_SITE_MPEG2);
  RgbFrame reference(4, 2, RgbLayout::RGB);
  convert_reference(frame.source(), reference.target(), RgbLayout::RGB, params);
  const std::array<int, 3> rgb = reference.rgb(0, 0);
  fail_unless(rgb[0] > rgb[1] && rgb[1] > rgb[2], "not orange: %d %d %d", rgb[0], rgb[1], rgb[2]);

  for (RgbLayout layout : kLayouts) {
    RgbFrame out(4, 2, layout);
    convert_reference(frame.source(), out.target(), layout, params);
    const auto &bytes = out.plane(0);
    switch (layout) {
    case RgbLayout::RGB:
      fail_unless(bytes[0] == rgb[0] && bytes[1] == rgb[1] && bytes[2] == rgb[2]);
      break;
    case RgbLayout::BGR:
      fail_unless(bytes[0] == rgb[2] && bytes[1] == rgb[1] && bytes[2] == rgb[0]);
      break;
    case RgbLayout::RGBA:
      fail_unless(bytes[0] == rgb[0] && bytes[1] == rgb[1] && bytes[2] == rgb[2]);
      fail_unless_equals_int(bytes[3], 255); /* alpha, and RGBx's padding */
      break;
    case RgbLayout::BGRA:
      fail_unless(bytes[0] == rgb[2] && bytes[1] == rgb[1] && bytes[2] == rgb[0]);
      fail_unless_equals_int(bytes[3], 255);
      break;
    case RgbLayout::RGBP:
      for (int c = 0; c < 3; c++)
        fail_unless_equals_int(out.plane(c)[0], rgb[c]);
      break;
    }
    check_pixels(
        out, 4, 2, 0, [&](int, int) { return rgb; }, "layout");
    fail_unless(out.guard_bytes_intact(), "layout %d wrote outside the picture", (int)layout);
  }
}
GST_END_TEST;

GST_START_TEST(test_chroma_siting) {
  /* Cb alternates 60/200 across chroma columns; luma and Cr are flat. At
   * pixel 1, co-sited chroma ("mpeg2") is halfway between samples 0 and 1,
   * centred chroma ("jpeg") a quarter of the way. */
  YuvFrame frame(8, 2, true);
  frame.fill(128, 128, 128);
  for (int x = 0; x < 4; x++)
    frame.set_cb(x, 0, x % 2 ? 200 : 60);
  const struct {
    GstVideoChromaSite site;
    double cb_at_1;
    double cb_at_0;
  } cases[] = {
      {GST_VIDEO_CHROMA_SITE_MPEG2, 130.0, 60.0},
      {GST_VIDEO_CHROMA_SITE_JPEG, 0.75 * 60 + 0.25 * 200, 60.0},
  };
  for (const auto &c : cases) {
    RgbFrame out(8, 2, RgbLayout::RGB);
    convert_reference(
        frame.source(), out.target(), RgbLayout::RGB,
        params_for(8, 2, 8, 2, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, c.site));
    for (auto [x, cb] : {std::pair{0, c.cb_at_0}, std::pair{1, c.cb_at_1}}) {
      const auto want = ycbcr_to_rgb(128, cb, 128, GST_VIDEO_COLOR_MATRIX_BT601, false);
      fail_unless_equals_int(out.rgb(x, 0)[2], expected_code(want[2]));
    }
  }
}
GST_END_TEST;

GST_START_TEST(test_odd_sizes_and_siting) {
  /* Luma is a ramp, Cb a ramp across chroma columns, Cr a ramp down chroma
   * rows: bilinear interpolation of a ramp is the ramp at the (edge-clamped)
   * chroma coordinate, so every pixel has a closed-form expected value. */
  const GstVideoChromaSite sites[] = {GST_VIDEO_CHROMA_SITE_MPEG2, GST_VIDEO_CHROMA_SITE_JPEG,
                                      GST_VIDEO_CHROMA_SITE_COSITED,
                                      GST_VIDEO_CHROMA_SITE_V_COSITED};
  const std::pair<int, int> sizes[] = {{7, 5}, {1, 1}, {3, 2}, {9, 3}};
  for (auto [w, h] : sizes)
    for (bool nv12 : {true, false})
      for (GstVideoChromaSite site : sites)
        for (RgbLayout layout : kLayouts) {
          YuvFrame frame(w, h, nv12);
          for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
              frame.set_y(x, y, 20 + 25 * x + 7 * y);
          for (int y = 0; y < frame.chroma_height(); y++)
            for (int x = 0; x < frame.chroma_width(); x++) {
              frame.set_cb(x, y, 100 + 12 * x);
              frame.set_cr(x, y, 90 + 20 * y);
            }
          RgbFrame out(w, h, layout);
          convert_reference(frame.source(), out.target(), layout,
                            params_for(w, h, w, h, GST_VIDEO_COLOR_MATRIX_BT709,
                                       GST_VIDEO_COLOR_RANGE_16_235, site));
          const double off_x = (site & GST_VIDEO_CHROMA_SITE_H_COSITED) ? 0.0 : 0.5;
          const double off_y = (site & GST_VIDEO_CHROMA_SITE_V_COSITED) ? 0.0 : 0.5;
          auto expected = [&](int x, int y) {
            const double cx = std::clamp((x - off_x) / 2, 0.0, frame.chroma_width() - 1.0);
            const double cy = std::clamp((y - off_y) / 2, 0.0, frame.chroma_height() - 1.0);
            const auto rgb = ycbcr_to_rgb(20 + 25 * x + 7 * y, 100 + 12 * cx, 90 + 20 * cy,
                                          GST_VIDEO_COLOR_MATRIX_BT709, false);
            return std::array<int, 3>{expected_code(rgb[0]), expected_code(rgb[1]),
                                      expected_code(rgb[2])};
          };
          check_pixels(out, w, h, 1, expected, "ramp");
          fail_unless(out.guard_bytes_intact(), "%dx%d layout %d wrote outside the picture", w, h,
                      (int)layout);
        }
}
GST_END_TEST;

static std::array<int, 3> grey(double y) {
  const auto rgb = ycbcr_to_rgb(y, 128, 128, GST_VIDEO_COLOR_MATRIX_BT709, false);
  return {expected_code(rgb[0]), expected_code(rgb[1]), expected_code(rgb[2])};
}

static ConvertParams resize_params(int in_w, int in_h, int out_w, int out_h) {
  return params_for(in_w, in_h, out_w, out_h, GST_VIDEO_COLOR_MATRIX_BT709,
                    GST_VIDEO_COLOR_RANGE_16_235, GST_VIDEO_CHROMA_SITE_MPEG2);
}

GST_START_TEST(test_resize_constant) {
  const std::array<int, 4> cases[] = {{1920, 1080, 640, 360}, {7, 5, 3, 2},   {7, 5, 19, 13},
                                      {16, 16, 5, 3},         {2, 2, 33, 17}, {1366, 768, 1, 1}};
  const auto codes = rgb_to_ycbcr({0.2, 0.7, 0.5}, GST_VIDEO_COLOR_MATRIX_BT709, false);
  const auto exact =
      ycbcr_to_rgb(codes[0], codes[1], codes[2], GST_VIDEO_COLOR_MATRIX_BT709, false);
  const std::array<int, 3> want = {expected_code(exact[0]), expected_code(exact[1]),
                                   expected_code(exact[2])};
  for (const auto &c : cases) {
    YuvFrame frame(c[0], c[1], true);
    frame.fill(codes[0], codes[1], codes[2]);
    RgbFrame out(c[2], c[3], RgbLayout::RGBA);
    convert_reference(frame.source(), out.target(), RgbLayout::RGBA,
                      resize_params(c[0], c[1], c[2], c[3]));
    check_pixels(
        out, c[2], c[3], 1, [&](int, int) { return want; }, "constant");
    fail_unless(out.guard_bytes_intact());
  }
}
GST_END_TEST;

GST_START_TEST(test_resize_downscale_2x) {
  /* A one-pixel luma checkerboard halves into its mean wherever the filter
   * stays inside the picture (the border is replicated). */
  YuvFrame frame(16, 8, true);
  frame.fill(0, 128, 128);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 16; x++)
      frame.set_y(x, y, (x + y) % 2 ? 200 : 40);
  RgbFrame out(8, 4, RgbLayout::RGB);
  convert_reference(frame.source(), out.target(), RgbLayout::RGB, resize_params(16, 8, 8, 4));
  for (int y = 1; y < 3; y++)
    for (int x = 1; x < 7; x++)
      for (int c = 0; c < 3; c++)
        fail_unless(std::abs(out.rgb(x, y)[c] - grey(120)[c]) <= 1, "(%d,%d): %d, expected %d", x,
                    y, out.rgb(x, y)[c], grey(120)[c]);
}
GST_END_TEST;

GST_START_TEST(test_resize_downscale_antialiased) {
  /* Columns a b b b repeating, shrunk 4x: the area average (a + 3b) / 4,
   * where point-sampled bilinear would see only b. Edge columns are left
   * out (their filter reaches past the border, which is clamped). */
  YuvFrame frame(32, 4, true);
  frame.fill(0, 128, 128);
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 32; x++)
      frame.set_y(x, y, x % 4 == 0 ? 40 : 200);
  RgbFrame out(8, 4, RgbLayout::RGB);
  convert_reference(frame.source(), out.target(), RgbLayout::RGB, resize_params(32, 4, 8, 4));
  for (int x = 1; x < 7; x++)
    for (int y = 0; y < 4; y++)
      for (int c = 0; c < 3; c++)
        fail_unless(std::abs(out.rgb(x, y)[c] - grey(160)[c]) <= 1, "column %d: %d, expected %d", x,
                    out.rgb(x, y)[c], grey(160)[c]);
}
GST_END_TEST;

GST_START_TEST(test_resize_upscale_bilinear) {
  /* Luma columns a a b b doubled: output pixel centres fall at source
   * positions -0.25, 0.25, ..., 3.25, interpolated linearly, clamped. */
  YuvFrame frame(4, 2, true);
  frame.fill(0, 128, 128);
  const double a = 40, b = 200;
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 4; x++)
      frame.set_y(x, y, x < 2 ? a : b);
  RgbFrame out(8, 4, RgbLayout::RGB);
  convert_reference(frame.source(), out.target(), RgbLayout::RGB, resize_params(4, 2, 8, 4));
  const double luma[8] = {a, a, a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b, b, b};
  check_pixels(
      out, 8, 4, 1, [&](int x, int) { return grey(luma[x]); }, "upscale");
}
GST_END_TEST;

/* The GPU's same-size kernel converts 4x2 blocks with its own loads and
 * interpolation; on random frames it must agree with the per-pixel path to
 * the bit, for every chroma siting and frame size. */
GST_START_TEST(test_block_path_matches_pixel_path) {
  std::mt19937 rng(42);
  const std::pair<int, int> sizes[] = {{8, 4}, {12, 6}, {7, 5}, {66, 34}, {130, 66}};
  const GstVideoChromaSite sites[] = {GST_VIDEO_CHROMA_SITE_MPEG2, GST_VIDEO_CHROMA_SITE_JPEG,
                                      GST_VIDEO_CHROMA_SITE_COSITED,
                                      GST_VIDEO_CHROMA_SITE_V_COSITED};
  for (auto [w, h] : sizes)
    for (bool nv12 : {true, false})
      for (GstVideoChromaSite site : sites) {
        YuvFrame frame(w, h, nv12);
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            frame.set_y(x, y, rng() & 0xff);
        for (int y = 0; y < frame.chroma_height(); y++)
          for (int x = 0; x < frame.chroma_width(); x++) {
            frame.set_cb(x, y, rng() & 0xff);
            frame.set_cr(x, y, rng() & 0xff);
          }
        const YuvSource src = frame.source();
        const ConvertParams params =
            params_for(w, h, w, h, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_0_255, site);
        for (int by = 0; 2 * by + 1 < h; by++)
          for (int bx = 0; 4 * bx + 3 < w; bx++) {
            Block4x2 block;
            load_block(src, bx, by, block);
            uint8_t rgb[2][4][3];
            convert_block(block, params, rgb);
            for (int r = 0; r < 2; r++)
              for (int c = 0; c < 4; c++) {
                uint8_t want[3];
                convert_pixel(src, params, 4 * bx + c, 2 * by + r, want);
                for (int k = 0; k < 3; k++)
                  fail_unless(rgb[r][c][k] == want[k],
                              "%dx%d site %d: block (%d,%d) pixel (%d,%d) channel %d: %d vs %d", w,
                              h, site, bx, by, c, r, k, rgb[r][c][k], want[k]);
              }
          }
      }
}
GST_END_TEST;

/* The GstVideoFrame entry point (used by the GPU tests) derives what the
 * element derives from caps. */
GST_START_TEST(test_video_frame_entry_point) {
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, GST_VIDEO_FORMAT_I420, 20, 10);
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_BGRx, 20, 10);
  GstBuffer *in_buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&in_info), nullptr);
  GstBuffer *out_buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&out_info), nullptr);
  gst_buffer_memset(in_buf, 0, 0, GST_VIDEO_INFO_SIZE(&in_info));
  GstVideoFrame in, out;
  fail_unless(gst_video_frame_map(&in, &in_info, in_buf, GST_MAP_READWRITE));
  fail_unless(gst_video_frame_map(&out, &out_info, out_buf, GST_MAP_WRITE));
  memset(GST_VIDEO_FRAME_PLANE_DATA(&in, 0), 235, GST_VIDEO_FRAME_PLANE_STRIDE(&in, 0) * 10);
  memset(GST_VIDEO_FRAME_PLANE_DATA(&in, 1), 128, GST_VIDEO_FRAME_PLANE_STRIDE(&in, 1) * 5);
  memset(GST_VIDEO_FRAME_PLANE_DATA(&in, 2), 128, GST_VIDEO_FRAME_PLANE_STRIDE(&in, 2) * 5);

  std::string error;
  fail_unless(convert_reference(in, out, MatrixChoice::Auto, error), "%s", error.c_str());
  const guint8 *px = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&out, 0));
  for (int k = 0; k < 4; k++)
    fail_unless_equals_int(px[k], 255);

  /* A format the element does not write is refused, with a reason. */
  GstVideoFrame gray;
  GstVideoInfo gray_info;
  gst_video_info_set_format(&gray_info, GST_VIDEO_FORMAT_GRAY8, 20, 10);
  GstBuffer *gray_buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&gray_info), nullptr);
  fail_unless(gst_video_frame_map(&gray, &gray_info, gray_buf, GST_MAP_WRITE));
  fail_if(convert_reference(in, gray, MatrixChoice::Auto, error));
  fail_unless(error.find("GRAY8") != std::string::npos, "%s", error.c_str());

  gst_video_frame_unmap(&gray);
  gst_video_frame_unmap(&out);
  gst_video_frame_unmap(&in);
  gst_buffer_unref(gray_buf);
  gst_buffer_unref(out_buf);
  gst_buffer_unref(in_buf);
}
GST_END_TEST;

static Suite *nv12torgb_reference_suite() {
  Suite *s = suite_create("nv12torgb-reference");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_colour_bars);
  tcase_add_test(tc, test_levels);
  tcase_add_test(tc, test_limited_range_output);
  tcase_add_test(tc, test_layouts);
  tcase_add_test(tc, test_chroma_siting);
  tcase_add_test(tc, test_odd_sizes_and_siting);
  tcase_add_test(tc, test_resize_constant);
  tcase_add_test(tc, test_resize_downscale_2x);
  tcase_add_test(tc, test_resize_downscale_antialiased);
  tcase_add_test(tc, test_resize_upscale_bilinear);
  tcase_add_test(tc, test_block_path_matches_pixel_path);
  tcase_add_test(tc, test_video_frame_entry_point);
  return s;
}

GST_CHECK_MAIN(nv12torgb_reference);
