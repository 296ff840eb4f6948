/* gpujpegenc on a GPU. What it encodes must decode (jpegdec) back to what
 * came in, at PSNR >= 38 dB in RGB, for every input format, common and odd
 * sizes, CUDA and system memory, across caps and quality changes, and behind
 * nvh264dec. Exits 77 where gpujpegenc is not registered for want of CUDA or
 * nvJPEG. `--no-nv12` hides nvjpegEncode (GPURTSP_NVJPEG_NO_NV12=1) so NV12
 * takes the de-interleave kernel even where nvJPEG takes NV12 itself.
 *
 * Needs videotestsrc, videoconvert, jpegdec, cudaupload, cudadownload; the
 * H.264 tests also x264enc, h264parse and nvh264dec, and skip without them. */
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <gst/video/video.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "nvjpeg-loader.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

namespace {

constexpr double kMinPsnr = 38.0;
constexpr GstClockTime kFrameDuration = 40 * GST_MSECOND;

struct SampleUnref {
  void operator()(GstSample *sample) const { gst_sample_unref(sample); }
};
using Sample = std::unique_ptr<GstSample, SampleUnref>;

bool have_elements(std::initializer_list<const char *> names) {
  for (const char *name : names) {
    GstElementFactory *factory = gst_element_factory_find(name);
    if (!factory) {
      g_print("skipped: no %s element here\n", name);
      return false;
    }
    gst_object_unref(factory);
  }
  return true;
}

GstElement *launch(const std::string &description) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  fail_unless(pipeline && !error, "'%s': %s", description.c_str(), error ? error->message : "");
  return pipeline;
}

/* Fails the test with the pipeline's error message, if it posted one. */
void fail_on_bus_error(GstElement *pipeline, const char *what) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!message)
    return;
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  fail("%s: %s (%s)", what, error->message, debug ? debug : "");
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
                "'%s' does not start", chain.c_str());
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

    GstSample *output = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), 60 * GST_SECOND);
    if (!output)
      fail_on_bus_error(pipeline_, description_.c_str());
    fail_unless(output != nullptr, "'%s' gave nothing", description_.c_str());
    GstBuffer *out = gst_sample_get_buffer(output);
    fail_unless(GST_BUFFER_PTS(out) == pts,
                "'%s': pts %" GST_TIME_FORMAT " became %" GST_TIME_FORMAT, description_.c_str(),
                GST_TIME_ARGS(pts), GST_TIME_ARGS(GST_BUFFER_PTS(out)));
    return Sample(output);
  }

  void set_quality(guint quality) {
    GstElement *encoder = gst_bin_get_by_name(GST_BIN(pipeline_), "enc");
    fail_unless(encoder != nullptr);
    g_object_set(encoder, "quality", quality, nullptr);
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
  GstElement *pipeline = launch(description);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  std::vector<Sample> samples;
  while (GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 60 * GST_SECOND))
    samples.emplace_back(sample);
  fail_on_bus_error(pipeline, description.c_str());
  fail_unless(gst_app_sink_is_eos(GST_APP_SINK(sink)), "'%s' stalled", description.c_str());
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return samples;
}

/* Runs @description until EOS. */
void run_to_eos(GstElement *pipeline, const char *what) {
  fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered(
      bus, 120 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  fail_unless(message != nullptr, "%s: no EOS", what);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *error = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(message, &error, &debug);
    fail("%s: %s (%s)", what, error->message, debug ? debug : "");
  }
  gst_message_unref(message);
}

/* One frame of videotestsrc with @caps (a video/x-raw caps string). */
Sample make_frame(const std::string &caps, const std::string &source_options = "pattern=smpte") {
  auto frames = collect("videotestsrc num-buffers=1 " + source_options + " ! " + caps +
                        " ! appsink name=sink sync=false");
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

Sample to_rgb(GstSample *raw) {
  return Chain("videoconvert ! video/x-raw,format=RGB").process(raw);
}

Sample decode(GstSample *jpeg) {
  return Chain("jpegdec ! videoconvert ! video/x-raw,format=RGB").process(jpeg);
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

double psnr(GstSample *a, GstSample *b) {
  GstVideoInfo info_a, info_b;
  fail_unless(gst_video_info_from_caps(&info_a, gst_sample_get_caps(a)) &&
              gst_video_info_from_caps(&info_b, gst_sample_get_caps(b)));
  fail_unless(GST_VIDEO_INFO_FORMAT(&info_a) == GST_VIDEO_FORMAT_RGB &&
              GST_VIDEO_INFO_FORMAT(&info_b) == GST_VIDEO_FORMAT_RGB);
  fail_unless(info_a.width == info_b.width && info_a.height == info_b.height, "%dx%d against %dx%d",
              info_a.width, info_a.height, info_b.width, info_b.height);
  GstVideoFrame fa, fb;
  fail_unless(gst_video_frame_map(&fa, &info_a, gst_sample_get_buffer(a), GST_MAP_READ));
  fail_unless(gst_video_frame_map(&fb, &info_b, gst_sample_get_buffer(b), GST_MAP_READ));
  double sum = 0;
  for (int y = 0; y < info_a.height; y++) {
    auto row_a = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&fa, 0)) +
                 y * GST_VIDEO_FRAME_PLANE_STRIDE(&fa, 0);
    auto row_b = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&fb, 0)) +
                 y * GST_VIDEO_FRAME_PLANE_STRIDE(&fb, 0);
    for (int x = 0; x < info_a.width * 3; x++) {
      const double d = double(row_a[x]) - double(row_b[x]);
      sum += d * d;
    }
  }
  gst_video_frame_unmap(&fa);
  gst_video_frame_unmap(&fb);
  const double mse = sum / (double(info_a.width) * info_a.height * 3);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

/* Encodes @input through @encoder and checks the JPEG against the input. */
void check_round_trip(Chain &encoder, GstSample *input, const char *label,
                      double min_psnr = kMinPsnr) {
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(input)));
  Sample jpeg = encoder.process(input);
  check_jpeg(jpeg.get(), info.width, info.height);
  Sample decoded = decode(jpeg.get());
  Sample reference = to_rgb(input);
  const double db = psnr(decoded.get(), reference.get());
  g_print("%-28s %5s %4dx%-4d %7" G_GSIZE_FORMAT " bytes  %5.1f dB\n", label,
          GST_VIDEO_INFO_NAME(&info), info.width, info.height,
          gst_buffer_get_size(gst_sample_get_buffer(jpeg.get())), db);
  fail_unless(db >= min_psnr, "%s %s %dx%d: PSNR %.2f dB < %.1f", label, GST_VIDEO_INFO_NAME(&info),
              info.width, info.height, db, min_psnr);
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
    g_object_get(element, "quality", &quality, nullptr);
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
    GstElement *pipeline = launch(
        "videotestsrc num-buffers=30 pattern=ball ! "
        "video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! "
        "x264enc speed-preset=ultrafast key-int-max=10 ! video/x-h264,stream-format=byte-stream ! "
        "filesink location=" +
        std::string(path_));
    run_to_eos(pipeline, "x264enc");
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
  ~H264Clip() {
    g_unlink(path_);
    g_rmdir(dir_);
    g_free(path_);
    g_free(dir_);
  }
  H264Clip(const H264Clip &) = delete;
  H264Clip &operator=(const H264Clip &) = delete;

  std::string decoder() const {
    return std::string("filesrc location=") + path_ + " ! h264parse ! nvh264dec";
  }
  /* nvh264dec's frames as RGB, converted on the CPU. */
  std::vector<Sample> reference() const {
    return collect(decoder() + " ! cudadownload ! videoconvert ! video/x-raw,format=RGB ! "
                               "appsink name=sink sync=false");
  }

private:
  gchar *dir_;
  gchar *path_;
};

GST_START_TEST(test_nvh264dec_to_jpeg) {
  if (!have_elements({"x264enc", "h264parse", "nvh264dec", "cudadownload"}))
    return;
  H264Clip clip;
  auto jpegs = collect(clip.decoder() + " ! gpujpegenc quality=95 ! appsink name=sink sync=false");
  auto reference = clip.reference();
  fail_unless_equals_int(jpegs.size(), 30);
  fail_unless_equals_int(reference.size(), 30);
  for (size_t i = 0; i < jpegs.size(); i++) {
    check_jpeg(jpegs[i].get(), 1280, 720);
    Sample decoded = decode(jpegs[i].get());
    const double db = psnr(decoded.get(), reference[i].get());
    fail_unless(db >= kMinPsnr, "frame %zu: PSNR %.2f dB", i, db);
  }
  g_print("nvh264dec ! gpujpegenc: 30 JPEGs, all >= %.0f dB against nvh264dec's frames\n",
          kMinPsnr);
}
GST_END_TEST;

/* The production chain. gpunv12torgb converts on the GPU and nvJPEG back to
 * YCbCr, so the bar is a little lower than for the direct path. */
GST_START_TEST(test_nvh264dec_rgb_latestframesink) {
  if (!have_elements(
          {"x264enc", "h264parse", "nvh264dec", "cudadownload", "gpunv12torgb", "latestframesink"}))
    return;
  H264Clip clip;
  GstElement *pipeline = launch(clip.decoder() + " ! gpunv12torgb ! gpujpegenc quality=95 ! "
                                                 "latestframesink name=sink sync=false");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  if (!g_signal_lookup("get-latest-sample", G_OBJECT_TYPE(sink))) {
    g_print("skipped: this latestframesink has no get-latest-sample signal yet\n");
  } else {
    run_to_eos(pipeline, "gpunv12torgb ! gpujpegenc ! latestframesink");
    GstSample *latest = nullptr;
    g_signal_emit_by_name(sink, "get-latest-sample", &latest);
    fail_unless(latest != nullptr, "latestframesink holds no frame");
    Sample jpeg(latest);
    check_jpeg(jpeg.get(), 1280, 720);
    Sample decoded = decode(jpeg.get());
    auto reference = clip.reference();
    const double db = psnr(decoded.get(), reference.back().get());
    g_print("nvh264dec ! gpunv12torgb ! gpujpegenc ! latestframesink: last frame %.1f dB\n", db);
    fail_unless(db >= 35.0, "PSNR %.2f dB", db);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}
GST_END_TEST;

static Suite *gpujpegenc_suite() {
  Suite *s = suite_create("gpujpegenc");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 300);
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

/* Why gpujpegenc is absent, as the plugin recorded it; "" if it did not. */
static std::string recorded_missing() {
  GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), "gpurtsp");
  if (!plugin)
    return "";
  const GstStructure *cache = gst_plugin_get_cache_data(plugin);
  const char *missing = cache ? gst_structure_get_string(cache, "missing") : nullptr;
  std::string text = missing ? missing : "";
  gst_object_unref(plugin);
  return text;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--no-nv12") == 0) {
      g_setenv("GPURTSP_NVJPEG_NO_NV12", "1", TRUE);
      std::memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(char *));
      argc--;
      break;
    }
  }
  /* CUDA does not survive fork() once initialised, and an in-process
   * registry scan initialises it: run the tests in this process. */
  g_setenv("CK_FORK", "no", FALSE);
  gst_check_init(&argc, &argv);

  GstElementFactory *factory = gst_element_factory_find("gpujpegenc");
  if (!factory) {
    const std::string missing = recorded_missing();
    if (missing.find("gpujpegenc not registered") != std::string::npos) {
      g_print("SKIP: %s\n", missing.c_str());
      return 77;
    }
    g_printerr("gpujpegenc is not registered and the gpurtsp plugin does not say why\n");
    return 1;
  }
  gst_object_unref(factory);

  std::string why;
  if (const auto *api = gpurtsp::nvjpeg::api(&why))
    g_print("nvJPEG %d.%d.%d from %s; NV12 input %s\n", api->version[0], api->version[1],
            api->version[2], api->library.c_str(),
            api->nvjpegEncode ? "through nvjpegEncode" : "through the de-interleave kernel");
  return gst_check_run_suite(gpujpegenc_suite(), "gpujpegenc", __FILE__);
}
