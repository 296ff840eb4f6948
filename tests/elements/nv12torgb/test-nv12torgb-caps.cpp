// SPDX-License-Identifier: MIT
/* gpunv12torgb's decisions from caps: colorimetry defaults, coefficients,
 * kernel parameters, caps transformation and fixation. Needs no GPU. */
#include <cmath>
#include <string>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>

#include "nv12torgb/nv12torgb-config.h"

using namespace gpurtsp::rgb;

static GstVideoInfo info_from(const char *caps_string) {
  GstCaps *caps = gst_caps_from_string(caps_string);
  fail_unless(caps != nullptr, "bad caps string %s", caps_string);
  GstVideoInfo info;
  fail_unless(video_info_from_caps(info, caps), "unparsable %s", caps_string);
  gst_caps_unref(caps);
  return info;
}

GST_START_TEST(test_colour_defaults_follow_gstreamer) {
  /* No colorimetry: BT.709 above 576 lines, BT.601 otherwise; limited. */
  InputColour hd = resolve_input_colour(info_from("video/x-raw,format=NV12,width=1280,height=720"),
                                        MatrixChoice::Auto);
  fail_unless_equals_int(hd.matrix, GST_VIDEO_COLOR_MATRIX_BT709);
  fail_unless_equals_int(hd.range, GST_VIDEO_COLOR_RANGE_16_235);
  InputColour sd = resolve_input_colour(info_from("video/x-raw,format=NV12,width=720,height=576"),
                                        MatrixChoice::Auto);
  fail_unless_equals_int(sd.matrix, GST_VIDEO_COLOR_MATRIX_BT601);
  fail_unless_equals_int(sd.range, GST_VIDEO_COLOR_RANGE_16_235);

  /* Chroma siting: "mpeg2" (horizontally co-sited) for HD, centred for SD,
   * also when the caps give colorimetry but no chroma-site. */
  fail_unless(hd.h_cosited && !hd.v_cosited);
  fail_unless(!sd.h_cosited && !sd.v_cosited);
  InputColour hd_no_site = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=1920,height=1080,colorimetry=bt709"),
      MatrixChoice::Auto);
  fail_unless(hd_no_site.h_cosited && !hd_no_site.v_cosited);
}
GST_END_TEST;

GST_START_TEST(test_chroma_site_kept_without_colorimetry) {
  /* GStreamer 1.22.0's gst_video_info_from_caps() would report "mpeg2" for
   * this HD frame. */
  InputColour c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=1920,height=1080,chroma-site=jpeg"),
      MatrixChoice::Auto);
  fail_unless(!c.h_cosited && !c.v_cosited);
  c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=640,height=480,chroma-site=cosited"),
      MatrixChoice::Auto);
  fail_unless(c.h_cosited && c.v_cosited);
}
GST_END_TEST;

GST_START_TEST(test_colour_from_caps) {
  InputColour c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=640,height=480,colorimetry=bt2020,"
                "chroma-site=cosited"),
      MatrixChoice::Auto);
  fail_unless_equals_int(c.matrix, GST_VIDEO_COLOR_MATRIX_BT2020);
  fail_unless(c.h_cosited && c.v_cosited);

  /* Full range, BT.709 matrix, on an SD frame. */
  c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=640,height=480,colorimetry=1:3:5:1"),
      MatrixChoice::Auto);
  fail_unless_equals_int(c.matrix, GST_VIDEO_COLOR_MATRIX_BT709);
  fail_unless_equals_int(c.range, GST_VIDEO_COLOR_RANGE_0_255);

  /* Unknown range means limited, as in H.264 without video_full_range_flag. */
  c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=1920,height=1080,colorimetry=0:3:0:0"),
      MatrixChoice::Auto);
  fail_unless_equals_int(c.range, GST_VIDEO_COLOR_RANGE_16_235);

  /* The property replaces the matrix only. */
  c = resolve_input_colour(
      info_from("video/x-raw,format=NV12,width=1920,height=1080,colorimetry=1:3:5:1"),
      MatrixChoice::Bt601);
  fail_unless_equals_int(c.matrix, GST_VIDEO_COLOR_MATRIX_BT601);
  fail_unless_equals_int(c.range, GST_VIDEO_COLOR_RANGE_0_255);
}
GST_END_TEST;

static void check_coefficients(GstVideoColorMatrix matrix, GstVideoColorRange range,
                               const double expected[5]) {
  const ColorMatrix m = make_color_matrix(matrix, range, GST_VIDEO_COLOR_RANGE_0_255);
  const double got[5] = {m.y_gain, m.r_cr, m.g_cb, m.g_cr, m.b_cb};
  for (int i = 0; i < 5; i++)
    fail_unless(std::fabs(got[i] - expected[i]) < 1e-5,
                "matrix %d range %d coefficient %d: %f vs %f", matrix, range, i, got[i],
                expected[i]);
  const double y_offset = range == GST_VIDEO_COLOR_RANGE_0_255 ? 0.0 : 16.0;
  fail_unless(std::fabs(m.bias + expected[0] * y_offset) < 1e-4);
}

GST_START_TEST(test_coefficients) {
  /* The published 8-bit coefficients (e.g. ITU-R BT.601 / BT.709 / BT.2020
   * reference tables, JFIF for full range). */
  const double bt601_limited[5] = {1.164384, 1.596027, -0.391762, -0.812968, 2.017232};
  const double bt709_limited[5] = {1.164384, 1.792741, -0.213249, -0.532909, 2.112402};
  const double bt2020_limited[5] = {1.164384, 1.678674, -0.187326, -0.650424, 2.141772};
  const double bt601_full[5] = {1.0, 1.402, -0.344136, -0.714136, 1.772};
  check_coefficients(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, bt601_limited);
  check_coefficients(GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235, bt709_limited);
  check_coefficients(GST_VIDEO_COLOR_MATRIX_BT2020, GST_VIDEO_COLOR_RANGE_16_235, bt2020_limited);
  check_coefficients(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_0_255, bt601_full);
}
GST_END_TEST;

GST_START_TEST(test_layouts) {
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_RGB) == RgbLayout::RGB);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_BGR) == RgbLayout::BGR);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_RGBA) == RgbLayout::RGBA);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_RGBx) == RgbLayout::RGBA);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_BGRA) == RgbLayout::BGRA);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_BGRx) == RgbLayout::BGRA);
  fail_unless(rgb_layout(GST_VIDEO_FORMAT_RGBP) == RgbLayout::RGBP);
  fail_if(rgb_layout(GST_VIDEO_FORMAT_ARGB).has_value());
  fail_if(rgb_layout(GST_VIDEO_FORMAT_NV12).has_value());
}
GST_END_TEST;

GST_START_TEST(test_params) {
  GstVideoInfo in = info_from("video/x-raw,format=NV12,width=1920,height=1080");
  GstVideoInfo out = info_from("video/x-raw,format=RGBA,width=1920,height=1080");
  std::string error;
  auto p = make_convert_params(in, out, MatrixChoice::Auto, error);
  fail_unless(p.has_value(), "%s", error.c_str());
  fail_unless(p->x.scale == 1.0f && p->y.scale == 1.0f);
  fail_unless(p->x.luma_radius == 1.0f && p->x.chroma_radius == 1.0f);
  fail_unless(p->x.chroma_offset == 0.0f && p->y.chroma_offset == 0.5f); /* mpeg2 */

  out = info_from("video/x-raw,format=RGBP,width=640,height=360");
  p = make_convert_params(in, out, MatrixChoice::Auto, error);
  fail_unless(p.has_value(), "%s", error.c_str());
  fail_unless(p->x.scale == 3.0f && p->y.scale == 3.0f);
  fail_unless(p->x.luma_radius == 3.0f && p->x.chroma_radius == 1.5f);

  /* Upscaling stays bilinear. */
  out = info_from("video/x-raw,format=RGB,width=3840,height=2160");
  p = make_convert_params(in, out, MatrixChoice::Auto, error);
  fail_unless(p->x.scale == 0.5f && p->x.luma_radius == 1.0f && p->x.chroma_radius == 1.0f);
}
GST_END_TEST;

GST_START_TEST(test_params_refused) {
  std::string error;
  GstVideoInfo nv12 = info_from("video/x-raw,format=NV12,width=64,height=64");
  GstVideoInfo rgba = info_from("video/x-raw,format=RGBA,width=64,height=64");

  fail_if(make_convert_params(rgba, rgba, MatrixChoice::Auto, error).has_value());
  fail_unless(error.find("input format RGBA") != std::string::npos, "%s", error.c_str());

  fail_if(make_convert_params(nv12, nv12, MatrixChoice::Auto, error).has_value());
  fail_unless(error.find("output format NV12") != std::string::npos, "%s", error.c_str());

  GstVideoInfo huge;
  gst_video_info_set_format(&huge, GST_VIDEO_FORMAT_RGBA, kMaxDimension + 1, 2);
  fail_if(make_convert_params(nv12, huge, MatrixChoice::Auto, error).has_value());
  fail_unless(error.find("frame size") != std::string::npos, "%s", error.c_str());

  GstVideoInfo interlaced =
      info_from("video/x-raw,format=NV12,width=64,height=64,interlace-mode=interleaved");
  fail_if(make_convert_params(interlaced, rgba, MatrixChoice::Auto, error).has_value());
  fail_unless(error.find("interlaced") != std::string::npos, "%s", error.c_str());
}
GST_END_TEST;

/* For failure messages: check's printf knows no GST_PTR_FORMAT. */
static std::string str(const GstCaps *c) {
  g_autofree gchar *text = gst_caps_to_string(c);
  return text;
}

static GstCaps *caps(const char *s) {
  GstCaps *c = gst_caps_from_string(s);
  fail_unless(c != nullptr, "bad caps %s", s);
  return c;
}

static const char *kHdNv12 = "video/x-raw(memory:CUDAMemory),format=NV12,width=1920,height=1080,"
                             "framerate=25/1,pixel-aspect-ratio=1/1,colorimetry=bt709,"
                             "chroma-site=mpeg2";

GST_START_TEST(test_transform_caps) {
  GstCaps *in = caps(kHdNv12);
  GstCaps *out = transform_caps(GST_PAD_SINK, in, nullptr);

  /* Same size first, every output format, no input colorimetry. */
  GstStructure *first = gst_caps_get_structure(out, 0);
  int w = 0, h = 0;
  fail_unless(gst_structure_get_int(first, "width", &w) && w == 1920);
  fail_unless(gst_structure_get_int(first, "height", &h) && h == 1080);
  fail_if(gst_structure_has_field(first, "colorimetry"));
  fail_if(gst_structure_has_field(first, "chroma-site"));
  for (const char *format : {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "RGBP"}) {
    g_autofree gchar *s = g_strdup_printf(
        "video/x-raw(memory:CUDAMemory),format=%s,width=1920,height=1080,framerate=25/1", format);
    GstCaps *want = caps(s);
    fail_unless(gst_caps_can_intersect(out, want), "cannot output %s", format);
    gst_caps_unref(want);
  }
  /* Any size, but only in CUDA memory and at the input frame rate. */
  GstCaps *small = caps("video/x-raw(memory:CUDAMemory),format=RGBP,width=224,height=224,"
                        "framerate=25/1,pixel-aspect-ratio=16/9");
  fail_unless(gst_caps_can_intersect(out, small));
  GstCaps *sysmem = caps("video/x-raw,format=RGBA,width=1920,height=1080,framerate=25/1");
  fail_if(gst_caps_can_intersect(out, sysmem));
  GstCaps *other_rate =
      caps("video/x-raw(memory:CUDAMemory),format=RGBA,width=1920,height=1080,framerate=5/1");
  fail_if(gst_caps_can_intersect(out, other_rate));
  /* YUV out as the input itself (passthrough) or, from NV12, as I420 at
   * the same size: not another size, not other colorimetry. */
  fail_unless(gst_caps_can_intersect(out, in), "no passthrough");
  GstCaps *i420_out = caps("video/x-raw(memory:CUDAMemory),format=I420,width=1920,height=1080,"
                           "framerate=25/1");
  fail_unless(gst_caps_can_intersect(out, i420_out), "no NV12 -> I420");
  GstCaps *nv12_small = caps("video/x-raw(memory:CUDAMemory),format=NV12,width=640,height=360,"
                             "framerate=25/1");
  fail_if(gst_caps_can_intersect(out, nv12_small));
  GstCaps *nv12_bt601 = caps("video/x-raw(memory:CUDAMemory),format=NV12,width=1920,height=1080,"
                             "framerate=25/1,colorimetry=bt601");
  fail_if(gst_caps_can_intersect(out, nv12_bt601));
  /* RGB first, then the passthrough, then NV12 -> I420. */
  const guint n = gst_caps_get_size(out);
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(out, n - 2), "format"),
                            "NV12");
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(out, n - 1), "format"),
                            "I420");
  gst_caps_unref(nv12_bt601);
  gst_caps_unref(nv12_small);
  gst_caps_unref(i420_out);

  /* And back: only NV12 and I420 upstream. */
  GstCaps *back = transform_caps(GST_PAD_SRC, small, nullptr);
  GstCaps *i420 = caps("video/x-raw(memory:CUDAMemory),format=I420,width=1280,height=720,"
                       "framerate=25/1,pixel-aspect-ratio=1/1");
  fail_unless(gst_caps_can_intersect(back, i420));
  fail_if(gst_caps_can_intersect(back, small));

  /* Back from YUV: only that same input (no I420 -> NV12, no resize). */
  GstCaps *back_yuv = transform_caps(GST_PAD_SRC, in, nullptr);
  fail_unless(gst_caps_is_equal(back_yuv, in), "%s", str(back_yuv).c_str());
  gst_caps_unref(back_yuv);

  gst_caps_unref(back);
  gst_caps_unref(i420);
  gst_caps_unref(other_rate);
  gst_caps_unref(sysmem);
  gst_caps_unref(small);
  gst_caps_unref(out);
  gst_caps_unref(in);
}
GST_END_TEST;

GST_START_TEST(test_transform_caps_filter_and_features) {
  GstCaps *in = caps(kHdNv12);
  /* The filter's order (downstream's preference) wins. */
  GstCaps *filter = caps("video/x-raw(memory:CUDAMemory),format=BGRx;"
                         "video/x-raw(memory:CUDAMemory),format=RGB");
  GstCaps *out = transform_caps(GST_PAD_SINK, in, filter);
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(out, 0), "format"),
                            "BGRx");
  gst_caps_unref(out);
  gst_caps_unref(filter);
  gst_caps_unref(in);

  /* System memory cannot be converted. */
  in = caps("video/x-raw,format=NV12,width=1920,height=1080");
  out = transform_caps(GST_PAD_SINK, in, nullptr);
  fail_unless(gst_caps_is_empty(out));
  gst_caps_unref(out);
  gst_caps_unref(in);
}
GST_END_TEST;

/* Fixates what downstream (@downstream) allows for input @input. */
static GstCaps *fixate_for(const char *input, const char *downstream) {
  GstCaps *in = caps(input);
  GstCaps *peer = caps(downstream);
  GstCaps *other = transform_caps(GST_PAD_SINK, in, peer);
  GstCaps *fixed = fixate_caps(GST_PAD_SINK, in, other);
  fail_unless(gst_caps_is_fixed(fixed), "not fixed: %" GST_PTR_FORMAT, fixed);
  gst_caps_unref(peer);
  gst_caps_unref(in);
  return fixed;
}

static void check_size(GstCaps *fixed, int width, int height, int par_n, int par_d) {
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, fixed));
  fail_unless(info.width == width && info.height == height && info.par_n == par_n &&
                  info.par_d == par_d,
              "got %dx%d par %d/%d, expected %dx%d par %d/%d", info.width, info.height, info.par_n,
              info.par_d, width, height, par_n, par_d);
  gst_caps_unref(fixed);
}

GST_START_TEST(test_fixate_keeps_size) {
  GstCaps *fixed = fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory)");
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, fixed));
  fail_unless(GST_VIDEO_INFO_IS_RGB(&info));
  /* RGB out: full range, RGB matrix, primaries and transfer kept. */
  fail_unless_equals_int(info.colorimetry.range, GST_VIDEO_COLOR_RANGE_0_255);
  fail_unless_equals_int(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_RGB);
  fail_unless_equals_int(info.colorimetry.primaries, GST_VIDEO_COLOR_PRIMARIES_BT709);
  check_size(fixed, 1920, 1080, 1, 1);

  /* Downstream picks the format. */
  fixed = fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format={RGBP,RGBA}");
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(fixed, 0), "format"),
                            "RGBP");
  check_size(fixed, 1920, 1080, 1, 1);
}
GST_END_TEST;

GST_START_TEST(test_fixate_keeps_display_aspect_ratio) {
  /* Width imposed: height follows. */
  check_size(fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format=RGBA,width=640"), 640, 360,
             1, 1);
  /* Height imposed: width follows (1920 * 480 / 1080 = 853.3). */
  check_size(fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format=RGBA,height=480"), 853, 480,
             1, 1);
  /* Both imposed: the pixel aspect ratio absorbs the change. */
  check_size(fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format=RGBP,width=640,height=640"),
             640, 640, 16, 9);
  /* Both imposed with square pixels: squashed, as asked. */
  check_size(fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format=RGBP,width=224,"
                                 "height=224,pixel-aspect-ratio=1/1"),
             224, 224, 1, 1);
  /* Size capped by downstream: the largest that fits, same shape. */
  check_size(fixate_for(kHdNv12, "video/x-raw(memory:CUDAMemory),format=RGBA,width=[1,1280],"
                                 "height=[1,720]"),
             1280, 720, 1, 1);
  /* Anamorphic PAL (16:15 pixels) to square pixels at the same height. */
  check_size(fixate_for("video/x-raw(memory:CUDAMemory),format=NV12,width=720,height=576,"
                        "pixel-aspect-ratio=16/15,framerate=25/1",
                        "video/x-raw(memory:CUDAMemory),format=RGBA,height=576,"
                        "pixel-aspect-ratio=1/1"),
             768, 576, 1, 1);
}
GST_END_TEST;

GST_START_TEST(test_fixate_upstream) {
  /* Fixating the sink side from src caps prefers NV12 (NVDEC's format). */
  GstCaps *src = caps("video/x-raw(memory:CUDAMemory),format=RGBA,width=1280,height=720,"
                      "framerate=30/1,pixel-aspect-ratio=1/1");
  GstCaps *other = transform_caps(GST_PAD_SRC, src, nullptr);
  GstCaps *fixed = fixate_caps(GST_PAD_SRC, src, other);
  fail_unless(gst_caps_is_fixed(fixed));
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(fixed, 0), "format"),
                            "NV12");
  check_size(fixed, 1280, 720, 1, 1);
  gst_caps_unref(src);
}
GST_END_TEST;

/* Fixates as GstBaseTransform does for @input with downstream @downstream;
 * empty caps when nothing negotiates. */
static GstCaps *try_fixate(const char *input, const char *downstream) {
  GstCaps *in = caps(input);
  GstCaps *peer = caps(downstream);
  GstCaps *other = transform_caps(GST_PAD_SINK, in, peer);
  GstCaps *fixed = fixate_caps(GST_PAD_SINK, in, other);
  gst_caps_unref(peer);
  gst_caps_unref(in);
  return fixed;
}

static const char *format_of(GstCaps *c) {
  return gst_structure_get_string(gst_caps_get_structure(c, 0), "format");
}

GST_START_TEST(test_passthrough_for_yuv_downstream) {
  /* NV12 only, any size: the input exactly, so GstBaseTransform passes
   * buffers through (equal caps). */
  GstCaps *in = caps(kHdNv12);
  GstCaps *fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format=NV12");
  fail_unless(gst_caps_is_equal(fixed, in), "%s", str(fixed).c_str());
  GstVideoInfo in_info, out_info;
  fail_unless(gst_video_info_from_caps(&in_info, in) && gst_video_info_from_caps(&out_info, fixed));
  fail_unless(is_passthrough(in_info, out_info));
  gst_caps_unref(fixed);

  /* nvjpegenc's CUDA caps take NV12 and I420: each passes through as it is. */
  const char *nvjpegenc = "video/x-raw(memory:CUDAMemory),format={NV12,I420,Y42B,Y444},"
                          "width=[16,32768],height=[16,32768]";
  fixed = try_fixate(kHdNv12, nvjpegenc);
  fail_unless(gst_caps_is_equal(fixed, in), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  const char *i420 = "video/x-raw(memory:CUDAMemory),format=I420,width=1280,height=720,"
                     "framerate=30/1,colorimetry=bt601";
  GstCaps *i420_in = caps(i420);
  fixed = try_fixate(i420, nvjpegenc);
  fail_unless(gst_caps_is_equal(fixed, i420_in), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  gst_caps_unref(i420_in);

  /* Downstream adds a field the input lacks: fixed, same frames. */
  fixed = try_fixate("video/x-raw(memory:CUDAMemory),format=NV12,width=640,height=480,"
                     "framerate=30/1",
                     "video/x-raw(memory:CUDAMemory),format=NV12,pixel-aspect-ratio=1/1");
  fail_unless(gst_caps_is_fixed(fixed));
  fail_unless_equals_string(format_of(fixed), "NV12");
  check_size(fixed, 640, 480, 1, 1);
  gst_caps_unref(in);
}
GST_END_TEST;

GST_START_TEST(test_nv12_to_i420_for_yuv_only_downstream) {
  /* nvjpegenc without GStreamer's NVRTC kernels takes I420, Y42B and Y444
   * but no NV12: NV12 becomes I420, same size and colorimetry. */
  GstCaps *fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format={I420,Y42B,Y444},"
                                       "width=[1,32768],height=[1,32768]");
  fail_unless(gst_caps_is_fixed(fixed), "%s", str(fixed).c_str());
  fail_unless_equals_string(format_of(fixed), "I420");
  check_size(gst_caps_ref(fixed), 1920, 1080, 1, 1);
  GstCaps *in = caps(kHdNv12);
  GstVideoInfo in_info, out_info;
  fail_unless(gst_video_info_from_caps(&in_info, in) && gst_video_info_from_caps(&out_info, fixed));
  fail_unless(is_chroma_split(in_info, out_info));
  fail_if(is_passthrough(in_info, out_info));
  /* Where NV12 is taken too, the passthrough wins: no copy at all. */
  gst_caps_unref(fixed);
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format={NV12,I420,Y42B,Y444}");
  fail_unless(gst_caps_is_equal(fixed, in), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  gst_caps_unref(in);

  /* Upstream of an I420 output: NV12 or I420 at the same size. */
  GstCaps *i420_out = caps("video/x-raw(memory:CUDAMemory),format=I420,width=1280,height=720,"
                           "framerate=30/1");
  GstCaps *up = transform_caps(GST_PAD_SRC, i420_out, nullptr);
  GstCaps *nv12_in = caps("video/x-raw(memory:CUDAMemory),format=NV12,width=1280,height=720,"
                          "framerate=30/1");
  fail_unless(gst_caps_can_intersect(up, nv12_in), "%s", str(up).c_str());
  GstCaps *nv12_small = caps("video/x-raw(memory:CUDAMemory),format=NV12,width=640,height=360,"
                             "framerate=30/1");
  fail_if(gst_caps_can_intersect(up, nv12_small), "%s", str(up).c_str());
  gst_caps_unref(nv12_small);
  gst_caps_unref(nv12_in);
  gst_caps_unref(up);
  gst_caps_unref(i420_out);
}
GST_END_TEST;

GST_START_TEST(test_yuv_downstream_refused) {
  /* I420 input to a downstream that takes only NV12 and Y444: there is no
   * interleaving kernel, so nothing negotiates. */
  const char *i420 = "video/x-raw(memory:CUDAMemory),format=I420,width=1280,height=720,"
                     "framerate=30/1";
  GstCaps *fixed = try_fixate(i420, "video/x-raw(memory:CUDAMemory),format={NV12,Y444}");
  fail_unless(gst_caps_is_empty(fixed), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  /* YUV at another size: no YUV scaling kernel. */
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format=NV12,width=640,height=360");
  fail_unless(gst_caps_is_empty(fixed), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  /* Other colorimetry: no conversion between YUV matrices either. */
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format=NV12,colorimetry=bt601");
  fail_unless(gst_caps_is_empty(fixed), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
  /* And no YUV in system memory. */
  fixed = try_fixate(kHdNv12, "video/x-raw,format=NV12");
  fail_unless(gst_caps_is_empty(fixed), "%s", str(fixed).c_str());
  gst_caps_unref(fixed);
}
GST_END_TEST;

GST_START_TEST(test_rgb_preferred_over_passthrough) {
  /* Downstream lists NV12 first, in its own structure: RGB all the same. */
  GstCaps *fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format=NV12;"
                                       "video/x-raw(memory:CUDAMemory),format=RGBA");
  fail_unless_equals_string(format_of(fixed), "RGBA");
  check_size(fixed, 1920, 1080, 1, 1);
  /* In one list, NV12 first. */
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),format={NV12,RGBP}");
  fail_unless_equals_string(format_of(fixed), "RGBP");
  check_size(fixed, 1920, 1080, 1, 1);
  /* gpujpegenc's formats (NV12 and I420 first) at the same size: RGB, as
   * before passthrough existed. */
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory),"
                              "format={NV12,I420,RGB,BGR,RGBP,BGRP}");
  fail_unless_equals_string(format_of(fixed), "RGB");
  check_size(fixed, 1920, 1080, 1, 1);
  /* Anything at all: RGB. */
  fixed = try_fixate(kHdNv12, "video/x-raw(memory:CUDAMemory)");
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, fixed));
  fail_unless(GST_VIDEO_INFO_IS_RGB(&info));
  gst_caps_unref(fixed);
}
GST_END_TEST;

/* A stand-in for gpunv12torgb: its pad templates and caps functions, no GPU
 * and no conversion, so GstBaseTransform's own negotiation can run them
 * anywhere. */
struct CapsOnly {
  GstBaseTransform parent;
};
struct CapsOnlyClass {
  GstBaseTransformClass parent_class;
};
G_DEFINE_TYPE(CapsOnly, caps_only, GST_TYPE_BASE_TRANSFORM)

static gboolean caps_only_unit_size(GstBaseTransform *, GstCaps *caps, gsize *size) {
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps))
    return FALSE;
  *size = GST_VIDEO_INFO_SIZE(&info);
  return TRUE;
}

static GstFlowReturn caps_only_transform(GstBaseTransform *, GstBuffer *, GstBuffer *) {
  return GST_FLOW_OK;
}

static void caps_only_class_init(CapsOnlyClass *klass) {
  auto element_class = GST_ELEMENT_CLASS(klass);
  auto trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  const char *sizes = ", width = (int) [ 1, 32768 ], height = (int) [ 1, 32768 ]";
  g_autofree gchar *sink = g_strconcat(
      "video/x-raw(memory:CUDAMemory), format = (string) { NV12, I420 }", sizes, nullptr);
  g_autofree gchar *src = g_strconcat("video/x-raw(memory:CUDAMemory), format = (string) { RGB, "
                                      "BGR, RGBA, BGRA, RGBx, BGRx, RGBP, NV12, I420 }",
                                      sizes, nullptr);
  gst_element_class_add_pad_template(
      element_class,
      gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, gst_caps_from_string(sink)));
  gst_element_class_add_pad_template(
      element_class,
      gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, gst_caps_from_string(src)));
  gst_element_class_set_static_metadata(element_class, "caps only", "Filter", "test", "test");
  trans_class->transform_caps = [](GstBaseTransform *, GstPadDirection direction, GstCaps *caps,
                                   GstCaps *filter) {
    return transform_caps(direction, caps, filter);
  };
  trans_class->fixate_caps = [](GstBaseTransform *, GstPadDirection direction, GstCaps *caps,
                                GstCaps *othercaps) {
    return fixate_caps(direction, caps, othercaps);
  };
  /* gpunv12torgb's passthrough decision. */
  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->set_caps = [](GstBaseTransform *trans, GstCaps *incaps,
                             GstCaps *outcaps) -> gboolean {
    GstVideoInfo in, out;
    if (!gst_video_info_from_caps(&in, incaps) || !gst_video_info_from_caps(&out, outcaps))
      return FALSE;
    gst_base_transform_set_passthrough(trans, is_passthrough(in, out));
    return TRUE;
  };
  trans_class->get_unit_size = caps_only_unit_size;
  trans_class->transform = caps_only_transform;
}

static void caps_only_init(CapsOnly *) {}

/* The caps appsink gets when @input goes through the stand-in followed by
 * a capsfilter of @downstream; @passed_through, where given, says whether
 * the buffer came out untouched (the memory pushed). */
static GstCaps *negotiate(const char *input, const char *downstream,
                          bool *passed_through = nullptr) {
  g_autofree gchar *description =
      g_strdup_printf("appsrc name=src format=time caps=\"%s\" ! capsonly ! %s ! appsink name=sink",
                      input, downstream);
  GstElement *pipeline = gst_parse_launch(description, nullptr);
  fail_unless(pipeline != nullptr, "%s", description);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstVideoInfo info = info_from(input);
  GstBuffer *pushed = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(pushed));
  GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND);
  fail_unless(sample != nullptr, "nothing negotiated for %s", downstream);
  if (passed_through)
    *passed_through = /* the same memory: basesrc may copy the buffer itself */
        gst_buffer_peek_memory(gst_sample_get_buffer(sample), 0) ==
        gst_buffer_peek_memory(pushed, 0);
  gst_buffer_unref(pushed);
  GstCaps *caps = gst_caps_ref(gst_sample_get_caps(sample));
  gst_sample_unref(sample);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return caps;
}

GST_START_TEST(test_negotiation_in_pipeline) {
  fail_unless(gst_element_register(nullptr, "capsonly", GST_RANK_NONE, caps_only_get_type()));
  const char *hd = "video/x-raw(memory:CUDAMemory),format=NV12,width=1920,height=1080,"
                   "framerate=25/1,colorimetry=bt709";

  /* Same size when downstream allows it, in a format it takes. */
  GstCaps *caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),format={BGRx,RGBP}");
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"),
                            "BGRx");
  check_size(caps, 1920, 1080, 1, 1);

  /* Width imposed: height follows the display aspect ratio. */
  check_size(negotiate(hd, "video/x-raw(memory:CUDAMemory),format=RGBP,width=640"), 640, 360, 1, 1);

  /* Both imposed, pixel aspect ratio free: it keeps the picture's shape. */
  check_size(negotiate(hd, "video/x-raw(memory:CUDAMemory),format=RGB,width=224,height=224"), 224,
             224, 16, 9);

  /* Downstream takes only NV12: the input goes through untouched, also when
   * downstream adds a field the input lacks (caps then differ). */
  bool passed_through = false;
  caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),format=NV12", &passed_through);
  GstCaps *hd_caps = gst_caps_from_string(hd);
  fail_unless(gst_caps_is_equal(caps, hd_caps), "%s", str(caps).c_str());
  gst_caps_unref(hd_caps);
  fail_unless(passed_through, "NV12 -> NV12 was not a passthrough");
  gst_caps_unref(caps);
  passed_through = false;
  caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),format=NV12,pixel-aspect-ratio=1/1",
                   &passed_through);
  fail_unless(passed_through, "NV12 -> NV12 (pixel-aspect-ratio added) was not a passthrough");
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"),
                            "NV12");
  check_size(caps, 1920, 1080, 1, 1);

  /* Downstream taking I420 but no NV12 (nvjpegenc without NVRTC): I420 at
   * the same size, converted, not passed through. */
  passed_through = true;
  caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),format={I420,Y42B,Y444}", &passed_through);
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"),
                            "I420");
  fail_if(passed_through);
  check_size(caps, 1920, 1080, 1, 1);

  /* Downstream taking RGB and NV12: converted, not passed through. */
  passed_through = true;
  caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),format={NV12,RGB}", &passed_through);
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"),
                            "RGB");
  fail_if(passed_through);
  check_size(caps, 1920, 1080, 1, 1);
  /* The launcher's `gpunv12torgb ! caps(width=...) ! gpujpegenc`: RGB. */
  caps = negotiate(hd, "video/x-raw(memory:CUDAMemory),width=640 ! capsfilter caps=\""
                       "video/x-raw(memory:CUDAMemory),format={NV12,I420,RGB,BGR,RGBP,BGRP}\"");
  fail_unless_equals_string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "format"),
                            "RGB");
  check_size(caps, 640, 360, 1, 1);

  /* Downstream that only takes system memory cannot be served. */
  g_autofree gchar *description =
      g_strdup_printf("appsrc caps=\"%s\" ! capsonly ! video/x-raw,format=RGBA ! fakesink", hd);
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description, &error);
  fail_unless(pipeline == nullptr || error != nullptr,
              "system-memory RGBA linked to a CUDA-memory converter");
  g_clear_error(&error);
  gst_clear_object(&pipeline);
}
GST_END_TEST;

static Suite *nv12torgb_caps_suite() {
  Suite *s = suite_create("nv12torgb-caps");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_colour_defaults_follow_gstreamer);
  tcase_add_test(tc, test_chroma_site_kept_without_colorimetry);
  tcase_add_test(tc, test_colour_from_caps);
  tcase_add_test(tc, test_coefficients);
  tcase_add_test(tc, test_layouts);
  tcase_add_test(tc, test_params);
  tcase_add_test(tc, test_params_refused);
  tcase_add_test(tc, test_transform_caps);
  tcase_add_test(tc, test_transform_caps_filter_and_features);
  tcase_add_test(tc, test_fixate_keeps_size);
  tcase_add_test(tc, test_fixate_keeps_display_aspect_ratio);
  tcase_add_test(tc, test_fixate_upstream);
  tcase_add_test(tc, test_passthrough_for_yuv_downstream);
  tcase_add_test(tc, test_nv12_to_i420_for_yuv_only_downstream);
  tcase_add_test(tc, test_yuv_downstream_refused);
  tcase_add_test(tc, test_rgb_preferred_over_passthrough);
  tcase_add_test(tc, test_negotiation_in_pipeline);
  return s;
}

GST_CHECK_MAIN(nv12torgb_caps);
