// SPDX-License-Identifier: MIT
/* The launcher's cameras behind the impairment proxy (tests/support/
 * impair-proxy.hpp): random and bursty loss, reordering, duplicates and a
 * stall, over RTSP/TCP and RTP/UDP, in full decode and keyframe mode.
 * Checks that the cameras survive (no crash, frames keep coming, reconnects
 * only in the stall) and that NO CORRUPT FRAME IS SERVED: the source is a
 * clip made here whose frames carry their index as 8 black/white blocks; each
 * served JPEG is decoded, its index read, and compared with that frame as
 * rendered here (PSNR >= 30 dB). A smeared or stale picture fails both ways:
 * its blocks read wrong, or its moving pattern is off.
 *
 * Usage: test-launch-impaired [--decoder software|nvidia] [--loss-seconds S]
 *   --decoder nvidia: NVDEC/nvJPEG; exits 77 without a CUDA device. */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <glib/gstdio.h>
#include <gst/video/video.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "camera-manager.h"
#include "cuda-contexts.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "impair-proxy.hpp"
#include "main-loop-wait.h"
#include "rtsp-fixture.hpp"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include "gpu-test-runner.h"

using namespace gpurtsp::launch;
using gpurtsp::test::ImpairProfile;
using gpurtsp::test::ImpairProxy;
using gpurtsp::test::run_for;
using gpurtsp::test::wait_for;

static DecoderChoice decoder_choice = DecoderChoice::Software;
static double loss_seconds = 60;

namespace {

constexpr int kWidth = 320, kHeight = 240, kFps = 15, kGop = 15;
constexpr int kClipFrames = 60;      /* 4 s, looped by camsim */
constexpr int kBits = 8, kBand = 40; /* index blocks: 8 of 40x40 px */
constexpr double kMinPsnr = 30.0;
constexpr int kStallTimeoutS = 12;

/* Frame @index of the clip, RGB: the index as blocks on top, below a
 * smooth pattern that moves several pixels a frame in every direction. */
std::vector<uint8_t> render(int index) {
  std::vector<uint8_t> rgb(size_t(kWidth) * kHeight * 3);
  for (int y = 0; y < kHeight; y++)
    for (int x = 0; x < kWidth; x++) {
      uint8_t *p = &rgb[(size_t(y) * kWidth + x) * 3];
      if (y < kBand) {
        const bool one = (index >> (kBits - 1 - x / (kWidth / kBits))) & 1;
        p[0] = p[1] = p[2] = one ? 235 : 16;
        continue;
      }
      const double t = index;
      p[0] = uint8_t(128 + 100 * std::sin(2 * M_PI * (x + 6 * t) / 64));
      p[1] = uint8_t(128 + 100 * std::sin(2 * M_PI * (y + 4 * t) / 48));
      p[2] = uint8_t(128 + 100 * std::sin(2 * M_PI * (x + y - 5 * t) / 80));
    }
  return rgb;
}

/* Encodes the clip to @path (Annex-B H.264, a keyframe every kGop frames). */
void make_clip(const std::string &path) {
  g_autofree char *description = g_strdup_printf(
      "appsrc name=src format=time caps=video/x-raw,format=RGB,width=%d,height=%d,framerate=%d/1 "
      "! videoconvert ! video/x-raw,format=I420 ! x264enc pass=quant quantizer=26 key-int-max=%d "
      "bframes=0 "
      "speed-preset=veryfast "
      "option-string=scenecut=0 ! video/x-h264,stream-format=byte-stream ! h264parse "
      "! filesink location=%s",
      kWidth, kHeight, kFps, kGop, path.c_str());
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description, &error);
  fail_unless(pipeline != nullptr, "%s", error ? error->message : "");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (int i = 0; i < kClipFrames; i++) {
    auto *rgb = new std::vector<uint8_t>(render(i));
    GstBuffer *buffer = gst_buffer_new_wrapped_full(
        GstMemoryFlags(0), rgb->data(), rgb->size(), 0, rgb->size(), rgb,
        [](gpointer data) { delete static_cast<std::vector<uint8_t> *>(data); });
    GST_BUFFER_PTS(buffer) = gst_util_uint64_scale(i, GST_SECOND, kFps);
    GST_BUFFER_DURATION(buffer) = GST_SECOND / kFps;
    fail_unless_equals_int(gst_app_src_push_buffer(GST_APP_SRC(src), buffer), GST_FLOW_OK);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered(
      bus, 60 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(message && GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS, "clip not made");
  gst_message_unref(message);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}

/* JPEG to RGB with jpegdec, one pipeline for every frame checked. */
class JpegDecoder {
public:
  JpegDecoder() {
    GError *error = nullptr;
    pipeline_ = gst_parse_launch("appsrc name=src format=time caps=image/jpeg ! jpegdec "
                                 "! videoconvert ! video/x-raw,format=RGB "
                                 "! appsink name=sink sync=false",
                                 &error);
    fail_unless(pipeline_ != nullptr, "%s", error ? error->message : "");
    src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }
  ~JpegDecoder() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(src_);
    gst_object_unref(sink_);
    gst_object_unref(pipeline_);
  }
  /* RGB rows of kWidth * 3 bytes; empty when it does not decode. */
  std::vector<uint8_t> decode(GstBuffer *jpeg) {
    gst_app_src_push_buffer(GST_APP_SRC(src_), gst_buffer_ref(jpeg));
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), 5 * GST_SECOND);
    if (!sample)
      return {};
    std::vector<uint8_t> rgb;
    GstVideoInfo info;
    GstMapInfo map;
    if (gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) &&
        GST_VIDEO_INFO_WIDTH(&info) == kWidth && GST_VIDEO_INFO_HEIGHT(&info) == kHeight &&
        gst_buffer_map(gst_sample_get_buffer(sample), &map, GST_MAP_READ)) {
      const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
      for (int y = 0; y < kHeight; y++)
        rgb.insert(rgb.end(), map.data + size_t(y) * stride,
                   map.data + size_t(y) * stride + kWidth * 3);
      gst_buffer_unmap(gst_sample_get_buffer(sample), &map);
    }
    gst_sample_unref(sample);
    return rgb;
  }

private:
  GstElement *pipeline_, *src_, *sink_;
};

/* The index the blocks of @rgb say; -1 when a block is neither black nor white. */
int read_index(const std::vector<uint8_t> &rgb) {
  int index = 0;
  const int cell = kWidth / kBits;
  for (int bit = 0; bit < kBits; bit++) {
    double sum = 0;
    int count = 0;
    for (int y = 10; y < kBand - 10; y++)
      for (int x = bit * cell + 10; x < (bit + 1) * cell - 10; x++, count++)
        sum += rgb[(size_t(y) * kWidth + x) * 3 + 1];
    const double mean = sum / count;
    if (mean > 60 && mean < 190)
      return -1;
    index = (index << 1) | (mean >= 190);
  }
  return index;
}

/* Luma PSNR of @served against @reference, after fitting @served's luma to
 * the reference's with a gain and an offset: the colour path (RGB to
 * limited-range YUV, JPEG's full range, BT.601 or not) shifts and scales
 * levels everywhere alike, which is no damage; a smear or a stale region is
 * local and stays. */
double psnr(const std::vector<uint8_t> &served, const std::vector<uint8_t> &reference) {
  const size_t pixels = served.size() / 3;
  auto luma = [](const std::vector<uint8_t> &rgb, size_t i) {
    return 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
  };
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < pixels; i++) {
    const double x = luma(served, i), y = luma(reference, i);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double n = double(pixels);
  const double variance = sxx - sx * sx / n;
  const double gain = variance > 0 ? (sxy - sx * sy / n) / variance : 1.0;
  const double offset = (sy - gain * sx) / n;
  double squares = 0;
  for (size_t i = 0; i < pixels; i++) {
    const double d = gain * luma(served, i) + offset - luma(reference, i);
    squares += d * d;
  }
  const double mse = squares / n;
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

struct CameraUnderTest {
  CameraUnderTest(const char *id_, Transport transport_, DecodeMode decode_)
      : id(id_), transport(transport_), decode(decode_) {}
  std::string id;
  Transport transport;
  DecodeMode decode;
  /* What the checks found. */
  int64_t last_arrival_us = -1;
  uint64_t checked = 0;
  uint64_t corrupt = 0; /* served JPEGs that failed a check */
  double min_psnr = 99;
  std::string first_failure;
};

} // namespace

GST_START_TEST(test_impaired_network) {
  g_autofree char *dir = g_dir_make_tmp("gpurtsp-impaired-XXXXXX", nullptr);
  fail_unless(dir != nullptr);
  const std::string clip = std::string(dir) + "/indexed.h264";
  make_clip(clip);
  std::vector<std::vector<uint8_t>> reference;
  for (int i = 0; i < kClipFrames; i++)
    reference.push_back(render(i));

  /* A mount per camera: gst-rtsp-server's shared media, serving TCP and
   * UDP clients at once, warns about its own funnel's event order. */
  auto options = gpurtsp::test::camera_options(4);
  options.clip_file = clip;
  gpurtsp::test::RtspFixture fixture(options);
  ImpairProxy proxy(fixture.port(), ImpairProfile{});

  std::vector<CameraUnderTest> cameras = {
      {"tcp-all", Transport::Tcp, DecodeMode::All},
      {"udp-all", Transport::Udp, DecodeMode::All},
      {"tcp-key", Transport::Tcp, DecodeMode::Keyframes},
      {"udp-key", Transport::Udp, DecodeMode::Keyframes},
  };
  std::vector<CameraConfig> configs;
  for (const CameraUnderTest &camera : cameras) {
    std::string error;
    auto url = parse_camera_url(proxy.url("cam" + std::to_string(configs.size())), error);
    fail_unless(url.has_value(), "%s", error.c_str());
    CameraConfig config;
    config.id = camera.id;
    config.url = std::move(*url);
    config.settings.decoder = decoder_choice;
    config.settings.transport = camera.transport;
    config.settings.decode = camera.decode;
    config.settings.fps = 0; /* every frame, so every frame can be checked */
    config.settings.stall_timeout_s = kStallTimeoutS;
    configs.push_back(std::move(config));
  }

  ElementCatalog elements;
  GpuResources gpus;
  auto manager = std::make_unique<CameraManager>(configs, elements, gpus);
  manager->start();
  auto status = [&](const CameraUnderTest &camera) { return *manager->find(camera.id); };

  /* Every new JPEG (polled every 10 ms: each stays newest for 67 ms at
   * 15 fps) is decoded and compared with the frame its blocks name. */
  JpegDecoder decoder;
  auto check_new_frames = [&] {
    for (CameraUnderTest &camera : cameras) {
      int64_t arrival_us = -1;
      gpurtsp::Sample sample = manager->latest_jpeg(camera.id, arrival_us);
      if (!sample || arrival_us == camera.last_arrival_us)
        continue;
      camera.last_arrival_us = arrival_us;
      camera.checked++;
      const std::vector<uint8_t> rgb = decoder.decode(gst_sample_get_buffer(sample.get()));
      std::string failure;
      const int index = rgb.empty() ? -1 : read_index(rgb);
      if (rgb.empty()) {
        failure = "does not decode";
      } else if (index < 0 || index >= kClipFrames) {
        failure = "index blocks unreadable (" + std::to_string(index) + ")";
      } else if (camera.decode == DecodeMode::Keyframes && index % kGop != 0) {
        failure = "frame " + std::to_string(index) + " is not a keyframe";
      } else {
        const double value = psnr(rgb, reference[size_t(index)]);
        camera.min_psnr = std::min(camera.min_psnr, value);
        if (value < kMinPsnr)
          failure = "frame " + std::to_string(index) + ": PSNR " + std::to_string(value) + " dB";
      }
      if (!failure.empty()) {
        camera.corrupt++;
        if (camera.first_failure.empty())
          camera.first_failure = failure;
        g_printerr("%s: corrupt JPEG served: %s\n", camera.id.c_str(), failure.c_str());
      }
    }
  };
  const guint checker = g_timeout_add(
      10,
      [](gpointer check) -> gboolean {
        (*static_cast<std::function<void()> *>(check))();
        return G_SOURCE_CONTINUE;
      },
      new std::function<void()>(check_new_frames));

  auto all_streaming = [&] {
    for (const CameraUnderTest &camera : cameras)
      if (status(camera).state != CameraState::Streaming)
        return false;
    return true;
  };
  fail_unless(wait_for(all_streaming, 30), "not every camera streams through a clean proxy");
  run_for(3);
  for (const CameraUnderTest &camera : cameras)
    fail_unless(camera.checked > 0 && camera.corrupt == 0, "%s through a clean proxy: %s",
                camera.id.c_str(), camera.first_failure.c_str());

  /* Phase by phase: frames keep coming in every window of 10 s, and no
   * reconnect but in the stall. */
  struct Phase {
    const char *name;
    std::string profile;
    double seconds;
  };
  const std::vector<Phase> phases = {
      {"5 % random loss + 1 % in bursts of 20", "loss=0.05,burst=0.0005:20,seed=11", loss_seconds},
      {"reordering within 50 ms", "reorder=0.2:50,delay=5:5,seed=12", 15},
      {"10 % duplicates", "duplicate=0.1,seed=13", 15},
  };
  for (const Phase &phase : phases) {
    proxy.set_profile(ImpairProfile::parse(phase.profile));
    const auto before = proxy.counters();
    std::map<std::string, uint64_t> reconnects;
    for (const CameraUnderTest &camera : cameras)
      reconnects[camera.id] = status(camera).reconnects;
    for (double done = 0; done < phase.seconds; done += 10) {
      std::map<std::string, uint64_t> frames;
      for (const CameraUnderTest &camera : cameras)
        frames[camera.id] = status(camera).frames;
      run_for(std::min(10.0, phase.seconds - done));
      for (const CameraUnderTest &camera : cameras)
        fail_unless(status(camera).frames > frames[camera.id], "%s: no frame for 10 s under %s",
                    camera.id.c_str(), phase.name);
    }
    for (const CameraUnderTest &camera : cameras)
      fail_unless_equals_int(status(camera).reconnects, reconnects[camera.id]);
    const auto after = proxy.counters();
    g_print("%s (%.0f s): %llu RTP packets, %llu dropped, %llu reordered, %llu duplicated\n",
            phase.name, phase.seconds, (unsigned long long)(after.packets - before.packets),
            (unsigned long long)(after.dropped - before.dropped),
            (unsigned long long)(after.reordered - before.reordered),
            (unsigned long long)(after.duplicated - before.duplicated));
  }

  /* A stall (the camera sends nothing): the watchdog reconnects, and the
   * cameras stream again once it ends. */
  proxy.set_profile(ImpairProfile{});
  std::map<std::string, uint64_t> reconnects;
  for (const CameraUnderTest &camera : cameras)
    reconnects[camera.id] = status(camera).reconnects;
  proxy.set_stalled(true);
  fail_unless(wait_for(
                  [&] {
                    for (const CameraUnderTest &camera : cameras)
                      if (status(camera).reconnects == reconnects[camera.id])
                        return false;
                    return true;
                  },
                  kStallTimeoutS + 5),
              "not every camera reconnected within %d s of a stall", kStallTimeoutS + 5);
  proxy.set_stalled(false);
  fail_unless(wait_for(all_streaming, 40), "not every camera streams again after the stall");
  run_for(3);

  g_source_remove(checker);
  uint64_t served = 0, checked = 0, corrupt = 0, dropped_full = 0;
  for (const CameraUnderTest &camera : cameras) {
    const CameraStatus s = status(camera);
    g_print("%s: %llu JPEGs served, %llu checked, %llu corrupt, min PSNR %.1f dB, "
            "%llu corrupt frames dropped, %llu reconnects\n",
            camera.id.c_str(), (unsigned long long)s.frames, (unsigned long long)camera.checked,
            (unsigned long long)camera.corrupt, camera.min_psnr,
            (unsigned long long)s.corrupt_frames_dropped, (unsigned long long)s.reconnects);
    served += s.frames;
    checked += camera.checked;
    corrupt += camera.corrupt;
    if (camera.decode == DecodeMode::All)
      dropped_full += s.corrupt_frames_dropped;
  }
  g_print("corrupt JPEGs served: %llu of %llu checked (%llu served)\n", (unsigned long long)corrupt,
          (unsigned long long)checked, (unsigned long long)served);
  for (const CameraUnderTest &camera : cameras)
    fail_unless_equals_int(camera.corrupt, 0);
  /* Under this much loss full decoding must have held pictures back: none
   * would mean the guard saw no loss, and the check above proved little. */
  fail_unless(dropped_full > 0, "no frame dropped after loss in full decode");
  manager.reset();
  g_unlink(clip.c_str());
  g_rmdir(dir);
}
GST_END_TEST;

static Suite *launch_impaired_suite() {
  Suite *s = suite_create("launch-impaired");
  TCase *tc = tcase_create("impaired");
  tcase_set_timeout(tc, 400);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_impaired_network);
  return s;
}

static int requirements(gputest::Requirements &req, int &argc, char **&argv) {
  static char *decoder = nullptr;
  static double seconds = 0;
  GOptionEntry entries[] = {
      {"decoder", 0, 0, G_OPTION_ARG_STRING, &decoder, "software (default) or nvidia", "KIND"},
      {"loss-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "length of the loss phase (60)", "S"},
      {}};
  g_autoptr(GOptionContext) context = g_option_context_new(nullptr);
  g_option_context_add_main_entries(context, entries, nullptr);
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(context, &argc, &argv, &error)) {
    g_printerr("%s\n", error->message);
    return 2;
  }
  if (seconds > 0)
    loss_seconds = seconds;
  return gpurtsp::test::apply_decoder_option(decoder, decoder_choice, req.probe_what, req.probe);
}

GPUTEST_MAIN("launch-impaired", launch_impaired_suite, requirements)
