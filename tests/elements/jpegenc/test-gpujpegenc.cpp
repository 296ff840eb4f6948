// SPDX-License-Identifier: MIT
/* gpujpegenc on a GPU. What it encodes must decode (jpegdec) back to the
 * YCbCr a perfect encoder would have written, at PSNR >= 38 dB, for every
 * input format, common and odd sizes, CUDA and system memory, across caps
 * and quality changes, and behind nvh264dec. Fidelity is measured in the
 * JPEG's own 4:2:0 sampling, not in RGB: see docs/gpujpegenc.md. Exits 77
 * where gpujpegenc is not registered for want of CUDA or nvJPEG.
 * `--no-nv12` hides nvjpegEncode (GPURTSP_NVJPEG_NO_NV12=1) so NV12 takes
 * the de-interleave kernel even where nvJPEG takes NV12 itself.
 *
 * Needs videotestsrc, jpegdec, cudaupload, cudadownload; the H.264 tests
 * also x264enc, h264parse and nvh264dec, and skip without them. */
#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/latestframesink.hpp>
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gpu-test-util.h"
#include "jpegenc/jpegenc-colour.h"
#include "jpegenc/nvjpeg-loader.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include "gpu-test-runner.h"

namespace sink_signal = gpurtsp::latestframesink::signal_name;

namespace {

constexpr double kMinPsnr = 38.0;
constexpr GstClockTime kFrameDuration = 40 * GST_MSECOND;
/* Well inside the tcase timeout, so that a stall fails with its message. */
constexpr GstClockTime kWait = 20 * GST_SECOND;

using gputest::Sample;

bool have_elements(std::initializer_list<const char *> names) {
  std::string missing;
  if (gputest::have_elements(names, missing))
    return true;
  g_print("skipped: no %s element here\n", missing.c_str());
  return false;
}

GstElement *launch(const std::string &description) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  fail_unless(pipeline && !error, "'%s': %s", description.c_str(), error ? error->message : "");
  return pipeline;
}

/* A running `appsrc ! <chain> ! appsink`, fed one sample at a time. */
class Chain {
public:
  explicit Chain(const std::string &chain)
      : pipeline_(
            launch("appsrc name=src format=time ! " + chain + " ! appsink name=sink sync=false")),
        description_(chain) {
    src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    fail_unless(gst_element_set_state(pipeline_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE,
                "'%s' does not start: %s", chain.c_str(), gputest::pop_error(pipeline_).c_str());
  }
  ~Chain() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(src_);
    gst_object_unref(sink_);
    gst_object_unref(pipeline_);
  }
  Chain(const Chain &) = delete;
  Chain &operator=(const Chain &) = delete;

  /* Pushes @input's frame with the next timestamp and returns what comes
   * out, which must carry the same timestamp. */
  Sample process(GstSample *input) {
    const GstClockTime pts = frames_++ * kFrameDuration;
    GstBuffer *buffer = gst_buffer_copy(gst_sample_get_buffer(input));
    GST_BUFFER_PTS(buffer) = pts;
    GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(buffer) = kFrameDuration;
    GstSample *timed = gst_sample_new(buffer, gst_sample_get_caps(input), nullptr, nullptr);
    gst_buffer_unref(buffer);
    fail_unless_equals_int(gst_app_src_push_sample(GST_APP_SRC(src_), timed), GST_FLOW_OK);
    gst_sample_unref(timed);

    GstSample *output = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), kWait);
    if (!output) {
      const std::string error = gputest::pop_error(pipeline_);
      fail("'%s' gave nothing within %d s: %s", description_.c_str(), int(kWait / GST_SECOND),
           error.empty() ? ("no error, pipeline " + gputest::state_of(pipeline_)).c_str()
                         : error.c_str());
    }
    GstBuffer *out = gst_sample_get_buffer(output);
    fail_unless(GST_BUFFER_PTS(out) == pts,
                "'%s': pts %" GST_TIME_FORMAT " became %" GST_TIME_FORMAT, description_.c_str(),
                GST_TIME_ARGS(pts), GST_TIME_ARGS(GST_BUFFER_PTS(out)));
    return Sample(output);
  }

  void set_quality(guint quality) {
    GstElement *encoder = gst_bin_get_by_name(GST_BIN(pipeline_), "enc");
    fail_unless(encoder != nullptr);
    g_object_set(encoder, gpurtsp::gpujpegenc::property::kQuality, quality, nullptr);
    gst_object_unref(encoder);
  }

private:
  GstElement *const pipeline_;
  const std::string description_;
  GstElement *src_;
  GstElement *sink_;
  guint64 frames_ = 0;
};

/* Every sample @description's appsink "sink" gets until EOS. */
std::vector<Sample> collect(const std::string &description) {
  std::vector<Sample> samples;
  const std::string error = gputest::LinearPipeline(description).run(samples, nullptr, {}, kWait);
  fail_unless(error.empty(), "%s", error.c_str());
  return samples;
}

/* One frame of videotestsrc with @caps (a video/x-raw caps string). */
Sample make_frame(const std::string &caps, const std::string &source_options = "pattern=smpte") {
  auto frames = collect("videotestsrc num-buffers=1 " + source_options + " ! " + caps +
                        " ! appsink name=sink");
  fail_unless_equals_int(frames.size(), 1);
  return std::move(frames[0]);
}

std::string raw_caps(const char *format, int width, int height, const char *extra = "") {
  return std::string("video/x-raw,format=") + format + ",width=" + std::to_string(width) +
         ",height=" + std::to_string(height) + ",framerate=25/1" + extra;
}

/* A flat colour: what odd sizes can be judged by, 4:2:0 chroma being
 * coarser than a 7x5 test card's detail. */
const char *const kSolid = "pattern=solid-color foreground-color=0xff3a8fc4";

/* The three planes of a 4:2:0 JFIF picture (full-range BT.601 Y'CbCr),
 * chroma (width + 1) / 2 by (height + 1) / 2, tightly packed. */
struct Planes {
  int width = 0, height = 0;
  std::vector<guint8> y, cb, cr;

  Planes(int w, int h)
      : width(w), height(h), y(size_t(w) * h), cb(size_t(chroma_width()) * chroma_height()),
        cr(cb.size()) {}
  int chroma_width() const { return (width + 1) / 2; }
  int chroma_height() const { return (height + 1) / 2; }
};

guint8 to_byte(double value) {
  return static_cast<guint8>(std::lround(std::clamp(value, 0.0, 255.0)));
}

guint8 component(const GstVideoFrame &frame, int comp, int x, int y) {
  return static_cast<const guint8 *>(
      GST_VIDEO_FRAME_COMP_DATA(&frame, comp))[y * GST_VIDEO_FRAME_COMP_STRIDE(&frame, comp) +
                                               x * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, comp)];
}

/* 4:2:0 input: its own samples, mapped to JFIF's range and matrix by the
 * encoder's colour maths (jpegenc-colour.h) the way the yuv420 kernel does
 * (luma takes the chroma sample of its 2x2 block). */
void ideal_from_yuv420(const GstVideoFrame &in, Planes &out) {
  gpurtsp::JfifTransform t;
  const bool convert = gpurtsp::jfif_transform(GST_VIDEO_INFO_COLORIMETRY(&in.info), t);
  for (int cy = 0; cy < out.chroma_height(); cy++)
    for (int cx = 0; cx < out.chroma_width(); cx++) {
      const double u = component(in, GST_VIDEO_COMP_U, cx, cy);
      const double v = component(in, GST_VIDEO_COMP_V, cx, cy);
      const size_t c = size_t(cy) * out.chroma_width() + cx;
      out.cb[c] = convert ? to_byte(t.cb_from_cb * u + t.cb_from_cr * v + t.cb_offset) : guint8(u);
      out.cr[c] = convert ? to_byte(t.cr_from_cb * u + t.cr_from_cr * v + t.cr_offset) : guint8(v);
      for (int y = 2 * cy; y < std::min(2 * cy + 2, out.height); y++)
        for (int x = 2 * cx; x < std::min(2 * cx + 2, out.width); x++) {
          const double luma = component(in, GST_VIDEO_COMP_Y, x, y);
          out.y[size_t(y) * out.width + x] =
              convert ? to_byte(t.y_from_y * luma + t.y_from_cb * u + t.y_from_cr * v + t.y_offset)
                      : guint8(luma);
        }
    }
}

/* RGB input: JFIF's Y'CbCr of every pixel, chroma averaged over each 2x2
 * block (JPEG's centred 4:2:0 siting). */
void ideal_from_rgb(const GstVideoFrame &in, Planes &out) {
  gdouble kr = 0, kb = 0;
  gst_video_color_matrix_get_Kr_Kb(GST_VIDEO_COLOR_MATRIX_BT601, &kr, &kb);
  const double kg = 1.0 - kr - kb;
  for (int cy = 0; cy < out.chroma_height(); cy++)
    for (int cx = 0; cx < out.chroma_width(); cx++) {
      double cb_sum = 0, cr_sum = 0;
      int n = 0;
      for (int y = 2 * cy; y < std::min(2 * cy + 2, out.height); y++)
        for (int x = 2 * cx; x < std::min(2 * cx + 2, out.width); x++) {
          const double r = component(in, GST_VIDEO_COMP_R, x, y);
          const double g = component(in, GST_VIDEO_COMP_G, x, y);
          const double b = component(in, GST_VIDEO_COMP_B, x, y);
          const double luma = kr * r + kg * g + kb * b;
          out.y[size_t(y) * out.width + x] = to_byte(luma);
          cb_sum += 128.0 + (b - luma) / (2.0 * (1.0 - kb));
          cr_sum += 128.0 + (r - luma) / (2.0 * (1.0 - kr));
          n++;
        }
      const size_t c = size_t(cy) * out.chroma_width() + cx;
      out.cb[c] = to_byte(cb_sum / n);
      out.cr[c] = to_byte(cr_sum / n);
    }
}

/* What a perfect encoder would put in the JPEG for @input's frame. */
Planes ideal_planes(GstSample *input) {
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(input)));
  GstVideoFrame frame;
  fail_unless(gst_video_frame_map(&frame, &info, gst_sample_get_buffer(input), GST_MAP_READ));
  Planes planes(info.width, info.height);
  if (GST_VIDEO_INFO_IS_RGB(&info))
    ideal_from_rgb(frame, planes);
  else
    ideal_from_yuv420(frame, planes);
  gst_video_frame_unmap(&frame);
  return planes;
}

/* The JPEG's own planes: jpegdec gives 4:2:0 YCbCr as I420, samples as
 * stored, with no upsampling or colour conversion in between. */
Planes decoded_planes(GstSample *jpeg) {
  Sample decoded = Chain("jpegdec").process(jpeg);
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(decoded.get())));
  fail_unless(GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_I420,
              "jpegdec gave %s, not I420: the JPEG is not 4:2:0 YCbCr", GST_VIDEO_INFO_NAME(&info));
  GstVideoFrame frame;
  fail_unless(
      gst_video_frame_map(&frame, &info, gst_sample_get_buffer(decoded.get()), GST_MAP_READ));
  Planes planes(info.width, info.height);
  for (int y = 0; y < planes.height; y++)
    for (int x = 0; x < planes.width; x++)
      planes.y[size_t(y) * planes.width + x] = component(frame, GST_VIDEO_COMP_Y, x, y);
  for (int y = 0; y < planes.chroma_height(); y++)
    for (int x = 0; x < planes.chroma_width(); x++) {
      planes.cb[size_t(y) * planes.chroma_width() + x] = component(frame, GST_VIDEO_COMP_U, x, y);
      planes.cr[size_t(y) * planes.chroma_width() + x] = component(frame, GST_VIDEO_COMP_V, x, y);
    }
  gst_video_frame_unmap(&frame);
  return planes;
}

double squared_error(const std::vector<guint8> &a, const std::vector<guint8> &b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); i++) {
    const double d = double(a[i]) - double(b[i]);
    sum += d * d;
  }
  return sum;
}

double psnr_of(double squared_error, size_t samples) {
  const double mse = squared_error / double(samples);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

struct Fidelity {
  double all;  /* over Y, Cb and Cr together: weighted 4:1:1 by sample count */
  double luma; /* Y alone */
};

Fidelity fidelity(const Planes &got, const Planes &want) {
  fail_unless(got.width == want.width && got.height == want.height, "%dx%d against %dx%d",
              got.width, got.height, want.width, want.height);
  const double y = squared_error(got.y, want.y);
  const double chroma = squared_error(got.cb, want.cb) + squared_error(got.cr, want.cr);
  return {psnr_of(y + chroma, got.y.size() + got.cb.size() + got.cr.size()),
          psnr_of(y, got.y.size())};
}

/* A whole baseline JPEG of @width x @height, marked as a key unit, with
 * JFIF colorimetry. */
void check_jpeg(GstSample *sample, int width, int height) {
  GstStructure *s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
  fail_unless(gst_structure_has_name(s, "image/jpeg"), "caps %" GST_PTR_FORMAT,
              gst_sample_get_caps(sample));
  int caps_width = 0, caps_height = 0;
  fail_unless(gst_structure_get_int(s, "width", &caps_width) &&
              gst_structure_get_int(s, "height", &caps_height));
  fail_unless(caps_width == width && caps_height == height, "caps say %dx%d, want %dx%d",
              caps_width, caps_height, width, height);
  /* The caps describe the JPEG's YCbCr, not the input's. */
  GstVideoColorimetry colorimetry;
  const char *colorimetry_string = gst_structure_get_string(s, "colorimetry");
  fail_unless(colorimetry_string &&
                  gst_video_colorimetry_from_string(&colorimetry, colorimetry_string) &&
                  colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 &&
                  colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT601,
              "colorimetry %s", GST_STR_NULL(colorimetry_string));

  GstBuffer *buffer = gst_sample_get_buffer(sample);
  fail_if(GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT));
  GstMapInfo map;
  fail_unless(gst_buffer_map(buffer, &map, GST_MAP_READ));
  fail_unless(map.size > 4 && map.data[0] == 0xff && map.data[1] == 0xd8 &&
                  map.data[map.size - 2] == 0xff && map.data[map.size - 1] == 0xd9,
              "not a whole JPEG (%" G_GSIZE_FORMAT " bytes)", map.size);
  gst_buffer_unmap(buffer, &map);
}

/* Encodes @input through @encoder and checks the JPEG against the ideal
 * planes of the input. */
void check_round_trip(Chain &encoder, GstSample *input, const char *label,
                      double min_psnr = kMinPsnr) {
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(input)));
  Sample jpeg = encoder.process(input);
  check_jpeg(jpeg.get(), info.width, info.height);
  const Fidelity db = fidelity(decoded_planes(jpeg.get()), ideal_planes(input));
  g_print("%-28s %5s %4dx%-4d %7" G_GSIZE_FORMAT " bytes  %5.1f dB (Y %5.1f dB)\n", label,
          GST_VIDEO_INFO_NAME(&info), info.width, info.height,
          gst_buffer_get_size(gst_sample_get_buffer(jpeg.get())), db.all, db.luma);
  fail_unless(db.all >= min_psnr, "%s %s %dx%d: PSNR %.2f dB (Y %.2f dB) < %.1f", label,
              GST_VIDEO_INFO_NAME(&info), info.width, info.height, db.all, db.luma, min_psnr);
}

void check_format_at_sizes(const char *format, const char *extra = "") {
  for (auto [width, height] : {std::pair{1280, 720}, {1920, 1080}, {1366, 768}}) {
    Chain encoder("cudaupload ! gpujpegenc quality=95");
    Sample input = make_frame(raw_caps(format, width, height, extra));
    check_round_trip(encoder, input.get(), "CUDA memory, q95");
  }
}

} // namespace

GST_START_TEST(test_nv12) {
  check_format_at_sizes("NV12");
}
GST_END_TEST;

GST_START_TEST(test_i420) {
  check_format_at_sizes("I420");
}
GST_END_TEST;

GST_START_TEST(test_rgb) {
  check_format_at_sizes("RGB");
}
GST_END_TEST;

GST_START_TEST(test_rgbp) {
  check_format_at_sizes("RGBP");
}
GST_END_TEST;

/* Each colorimetry picks its own path: full-range BT.601 4:2:0 is encoded
 * in place (NV12 through nvjpegEncode where there is one), limited-range
 * BT.601 goes through the kernel; BGR orders differ from RGB's. */
GST_START_TEST(test_colorimetries_and_orders) {
  const struct {
    const char *format, *extra, *label;
  } cases[] = {
      {"NV12", ",colorimetry=(string)1:4:0:0", "full-range BT.601"},
      {"I420", ",colorimetry=(string)1:4:0:0", "full-range BT.601"},
      {"NV12", ",colorimetry=(string)bt601", "limited-range BT.601"},
      {"BGR", "", "BGR"},
      {"BGRP", "", "BGRP"},
  };
  for (const auto &c : cases) {
    Chain encoder("cudaupload ! gpujpegenc quality=95");
    Sample input = make_frame(raw_caps(c.format, 1280, 720, c.extra));
    check_round_trip(encoder, input.get(), c.label);
  }
}
GST_END_TEST;

/* 4:2:0 of an odd size: chroma planes are (w + 1) / 2 x (h + 1) / 2. I420
 * goes in as system memory: gst-cuda 1.22 lays odd-height I420 out with its
 * last U row on top of the first V row, so cudaupload would corrupt it. */
GST_START_TEST(test_odd_size) {
  const struct {
    const char *format, *upload;
  } cases[] = {
      {"NV12", "cudaupload ! "},
      {"RGB", "cudaupload ! "},
      {"RGBP", "cudaupload ! "},
      {"I420", ""},
      {"NV12", ""},
  };
  for (const auto &c : cases) {
    Chain encoder(std::string(c.upload) + "gpujpegenc quality=95");
    Sample input = make_frame(raw_caps(c.format, 7, 5), kSolid);
    check_round_trip(encoder, input.get(), *c.upload ? "7x5, CUDA memory" : "7x5, system memory");
  }
}
GST_END_TEST;

GST_START_TEST(test_system_memory_input) {
  Chain encoder("gpujpegenc quality=95");
  for (const char *format : {"NV12", "I420", "RGB", "RGBP"}) {
    Sample input = make_frame(raw_caps(format, 1366, 768));
    check_round_trip(encoder, input.get(), "system memory, q95");
  }
}
GST_END_TEST;

/* Caps change between frames of one stream: format, size and memory. */
GST_START_TEST(test_caps_change_mid_stream) {
  Chain encoder("cudaupload ! gpujpegenc quality=95");
  check_round_trip(encoder, make_frame(raw_caps("NV12", 1280, 720)).get(), "caps change");
  check_round_trip(encoder,
                   make_frame(raw_caps("I420", 640, 360, ",colorimetry=(string)1:4:0:0")).get(),
                   "caps change");
  check_round_trip(encoder, make_frame(raw_caps("RGB", 1920, 1080)).get(), "caps change");
  check_round_trip(encoder, make_frame(raw_caps("RGBP", 7, 5), kSolid).get(), "caps change");
  check_round_trip(encoder, make_frame(raw_caps("NV12", 1366, 768)).get(), "caps change");

  Chain system("gpujpegenc quality=95");
  check_round_trip(system, make_frame(raw_caps("I420", 7, 5), kSolid).get(), "caps change, sysmem");
  check_round_trip(system, make_frame(raw_caps("NV12", 1280, 720)).get(), "caps change, sysmem");
  check_round_trip(system, make_frame(raw_caps("RGB", 640, 480)).get(), "caps change, sysmem");
}
GST_END_TEST;

/* Quality set while PLAYING applies to the next frame; more quality, more bytes. */
GST_START_TEST(test_quality_changes_size) {
  Chain encoder("cudaupload ! gpujpegenc name=enc");
  {
    GstElement *element = gst_element_factory_make("gpujpegenc", nullptr);
    guint quality = 0;
    g_object_get(element, gpurtsp::gpujpegenc::property::kQuality, &quality, nullptr);
    fail_unless_equals_int(quality, 85);
    gst_object_unref(element);
  }
  Sample input = make_frame(raw_caps("NV12", 1280, 720));
  gsize previous = 0;
  for (guint quality : {5u, 20u, 40u, 60u, 80u, 95u, 100u}) {
    encoder.set_quality(quality);
    Sample jpeg = encoder.process(input.get());
    check_jpeg(jpeg.get(), 1280, 720);
    const gsize size = gst_buffer_get_size(gst_sample_get_buffer(jpeg.get()));
    g_print("quality %3u: %7" G_GSIZE_FORMAT " bytes\n", quality, size);
    fail_unless(size > previous,
                "quality %u gave %" G_GSIZE_FORMAT " bytes, not more than %" G_GSIZE_FORMAT,
                quality, size, previous);
    previous = size;
  }
}
GST_END_TEST;

/* An H.264 clip made with x264enc: 1280x720, 30 frames. */
class H264Clip {
public:
  H264Clip() {
    dir_ = g_dir_make_tmp("gpujpegenc-XXXXXX", nullptr);
    fail_unless(dir_ != nullptr);
    path_ = g_build_filename(dir_, "clip.h264", nullptr);
    const std::string description =
        "videotestsrc num-buffers=30 pattern=ball ! "
        "video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! "
        "x264enc speed-preset=ultrafast key-int-max=10 ! video/x-h264,stream-format=byte-stream ! "
        "filesink location=" +
        std::string(path_);
    GstElement *pipeline = launch(description);
    fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    const std::string error = gputest::wait_for_eos(pipeline, description, kWait);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    fail_unless(error.empty(), "%s", error.c_str());
  }
  ~H264Clip() {
    g_unlink(path_);
    g_rmdir(dir_);
    g_free(path_);
    g_free(dir_);
  }
  H264Clip(const H264Clip &) = delete;
  H264Clip &operator=(const H264Clip &) = delete;

  /* The caps keep nvh264dec on CUDA memory: it would try GL otherwise,
   * which fails on a headless host. */
  std::string decoder() const {
    return std::string("filesrc location=") + path_ +
           " ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory)";
  }
  /* nvh264dec's frames as it gives them (NV12, the stream's colorimetry),
   * downloaded. H.264 decoding is exact: a second decode gives the same. */
  std::vector<Sample> frames() const {
    return collect(decoder() + " ! cudadownload ! video/x-raw,format=NV12 ! appsink name=sink");
  }

private:
  gchar *dir_;
  gchar *path_;
};

GST_START_TEST(test_nvh264dec_to_jpeg) {
  if (!have_elements({"x264enc", "h264parse", "nvh264dec", "cudadownload"}))
    return;
  H264Clip clip;
  auto jpegs = collect(clip.decoder() + " ! gpujpegenc quality=95 ! appsink name=sink");
  auto frames = clip.frames();
  fail_unless_equals_int(jpegs.size(), 30);
  fail_unless_equals_int(frames.size(), 30);
  double worst = 99, worst_luma = 99;
  for (size_t i = 0; i < jpegs.size(); i++) {
    check_jpeg(jpegs[i].get(), 1280, 720);
    const Fidelity db = fidelity(decoded_planes(jpegs[i].get()), ideal_planes(frames[i].get()));
    fail_unless(db.all >= kMinPsnr, "frame %zu: PSNR %.2f dB (Y %.2f dB)", i, db.all, db.luma);
    worst = std::min(worst, db.all);
    worst_luma = std::min(worst_luma, db.luma);
  }
  g_print("nvh264dec ! gpujpegenc: 30 JPEGs, worst %.1f dB (Y %.1f dB) against nvh264dec's "
          "frames\n",
          worst, worst_luma);
}
GST_END_TEST;

/* The production chain. gpunv12torgb converts to RGB on the GPU and nvJPEG
 * back to YCbCr (chroma upsampled, then subsampled again), so the bar is a
 * little lower than for the direct path. */
GST_START_TEST(test_nvh264dec_rgb_latestframesink) {
  if (!have_elements(
          {"x264enc", "h264parse", "nvh264dec", "cudadownload", "gpunv12torgb", "latestframesink"}))
    return;
  H264Clip clip;
  const std::string description = clip.decoder() + " ! gpunv12torgb ! gpujpegenc quality=95 ! "
                                                   "latestframesink name=sink sync=false";
  GstElement *pipeline = launch(description);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  if (!g_signal_lookup(sink_signal::kGetLatestSample, G_OBJECT_TYPE(sink))) {
    g_print("skipped: this latestframesink has no get-latest-sample signal yet\n");
  } else {
    fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    const std::string error = gputest::wait_for_eos(pipeline, description, kWait);
    fail_unless(error.empty(), "%s", error.c_str());
    GstSample *latest = nullptr;
    g_signal_emit_by_name(sink, sink_signal::kGetLatestSample, &latest);
    fail_unless(latest != nullptr, "latestframesink holds no frame");
    Sample jpeg(latest);
    check_jpeg(jpeg.get(), 1280, 720);
    auto frames = clip.frames();
    fail_unless_equals_int(frames.size(), 30);
    const Fidelity db = fidelity(decoded_planes(jpeg.get()), ideal_planes(frames.back().get()));
    g_print("nvh264dec ! gpunv12torgb ! gpujpegenc ! latestframesink: last frame %.1f dB "
            "(Y %.1f dB)\n",
            db.all, db.luma);
    fail_unless(db.all >= 35.0, "PSNR %.2f dB (Y %.2f dB)", db.all, db.luma);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}
GST_END_TEST;

static Suite *gpujpegenc_suite() {
  Suite *s = suite_create("gpujpegenc");
  TCase *tc = tcase_create("general");
  /* Each test takes seconds on an H100; a minute means it is stuck. */
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_nv12);
  tcase_add_test(tc, test_i420);
  tcase_add_test(tc, test_rgb);
  tcase_add_test(tc, test_rgbp);
  tcase_add_test(tc, test_colorimetries_and_orders);
  tcase_add_test(tc, test_odd_size);
  tcase_add_test(tc, test_system_memory_input);
  tcase_add_test(tc, test_caps_change_mid_stream);
  tcase_add_test(tc, test_quality_changes_size);
  tcase_add_test(tc, test_nvh264dec_to_jpeg);
  tcase_add_test(tc, test_nvh264dec_rgb_latestframesink);
  return s;
}

/* --no-nv12 runs the de-interleave kernel path even where nvJPEG takes NV12. */
static int requirements(gputest::Requirements &req, int &argc, char **&argv) {
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--no-nv12") == 0) {
      g_setenv("GPURTSP_NVJPEG_NO_NV12", "1", TRUE);
      std::memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(char *));
      argc--;
      break;
    }
  }
  req.element = "gpujpegenc";
  /* nvJPEG's version, from the child: loading nvJPEG here could bring CUDA. */
  req.probe_what = "nvJPEG";
  req.probe = [](std::string &text) {
    std::string why;
    const auto *api = gpurtsp::nvjpeg::api(why);
    if (!api) {
      text = why;
      return false;
    }
    text = "nvJPEG " + std::to_string(api->version[0]) + "." + std::to_string(api->version[1]) +
           "." + std::to_string(api->version[2]) + " from " + api->library + "; NV12 input " +
           (api->nvjpegEncode ? "through nvjpegEncode" : "through the de-interleave kernel");
    return true;
  };
  return 0;
}

GPUTEST_MAIN("gpujpegenc", gpujpegenc_suite, requirements)
