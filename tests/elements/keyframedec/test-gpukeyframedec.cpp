// SPDX-License-Identifier: MIT
/* gpukeyframedec on a GPU: keyframes of software-encoded clips decode to the
 * source pictures (PSNR), delta frames are dropped, 64 instances share one
 * small session pool, unsupported streams fail with a clear error.
 * Exits 77 without a CUDA device, the NVDECODE library or x264enc. */
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <gpurtsp/gpukeyframedec.hpp>

#include "gpu-test-util.h"
#include "core/gpurtsp-cuda.h"
#include "keyframedec/nvcuvid-loader.h"
#include "keyframedec/nvdec-session-pool.h"

/* Last: gstcheck's fail() macros clash with the C++ library's headers. */
#include "gpu-test-runner.h"

namespace {

struct Clip {
  GstCaps *caps = nullptr;                 /* of the encoded stream */
  std::vector<GstBuffer *> access_units;   /* every frame, keyframes flagged */
  std::map<GstClockTime, GstSample *> raw; /* source pictures by PTS */
  size_t keyframes = 0;
  /* Encoded PTS minus source PTS: GstVideoEncoder starts x264enc's output at
   * 1000 hours, so that DTS before the first PTS stays positive. */
  GstClockTime pts_offset = 0;

  ~Clip() {
    gst_clear_caps(&caps);
    for (auto b : access_units)
      gst_buffer_unref(b);
    for (auto &[pts, s] : raw)
      gst_sample_unref(s);
  }
};

/* Pulls every sample of @sink (already EOS or erroring) into @out. */
void drain(GstElement *sink, std::vector<GstSample *> &out) {
  while (GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0))
    out.push_back(s);
}

/* Encodes @frames moving SMPTE bars in @format with a keyframe every
 * @keyint frames, keeping the source pictures. Two linear pipelines (no tee,
 * whose branches can stall each other's preroll): one encodes, one gives
 * the same pictures again, videotestsrc being deterministic per frame. */
void encode(Clip &clip, const char *codec, int width, int height, int frames, int keyint,
            const char *format = "I420") {
  const std::string encoder =
      std::string(codec) == "h265"
          ? "x265enc speed-preset=ultrafast tune=zerolatency key-int-max=" + std::to_string(keyint)
          /* Constant quantiser 18: the PSNR bound checks the decoder, not
           * x264's rate control (2 Mbit/s gave 27 dB keyframes at 1080p). */
          : "x264enc bframes=0 speed-preset=ultrafast tune=zerolatency pass=quant quantizer=18 "
            "key-int-max=" +
                std::to_string(keyint);
  const std::string source = "videotestsrc num-buffers=" + std::to_string(frames) +
                             " pattern=smpte horizontal-speed=8 ! video/x-raw,format=" + format +
                             ",width=" + std::to_string(width) +
                             ",height=" + std::to_string(height) + ",framerate=25/1";
  std::vector<gputest::Sample> encoded, raw;
  std::string error = gputest::LinearPipeline(source + " ! " + encoder + " ! " + codec +
                                              "parse config-interval=-1 ! video/x-" + codec +
                                              ",stream-format=byte-stream,alignment=au ! "
                                              "appsink name=sink")
                          .run(encoded);
  fail_unless(error.empty(), "encoding: %s", error.c_str());
  error = gputest::LinearPipeline(source + " ! appsink name=sink").run(raw);
  fail_unless(error.empty(), "source pictures: %s", error.c_str());

  for (auto &s : raw) {
    /* The right side of an assignment is evaluated first (C++17): read the
     * timestamp before release() empties s. */
    const GstClockTime pts = GST_BUFFER_PTS(gst_sample_get_buffer(s.get()));
    clip.raw[pts] = s.release();
  }
  for (auto &s : encoded) {
    GstBuffer *b = gst_sample_get_buffer(s.get());
    if (!clip.caps)
      clip.caps = gst_caps_ref(gst_sample_get_caps(s.get()));
    clip.keyframes += GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT) ? 0 : 1;
    clip.access_units.push_back(gst_buffer_ref(b));
  }
  GstClockTime first_encoded = GST_CLOCK_TIME_NONE;
  for (GstBuffer *b : clip.access_units)
    first_encoded = std::min(first_encoded, GST_BUFFER_PTS(b));
  fail_unless(!clip.raw.empty() && first_encoded >= clip.raw.begin()->first);
  clip.pts_offset = first_encoded - clip.raw.begin()->first;
  fail_unless_equals_int(clip.raw.size(), frames);
  fail_unless_equals_int(clip.access_units.size(), frames);
  fail_unless_equals_int(clip.keyframes, (frames + keyint - 1) / keyint);
}

double psnr(const GstVideoFrame *out, const GstVideoFrame *src, int out_plane, int out_step,
            int out_offset, int src_plane, int width, int height) {
  double sse = 0;
  for (int y = 0; y < height; y++) {
    auto a = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(out, out_plane)) +
             y * GST_VIDEO_FRAME_PLANE_STRIDE(out, out_plane) + out_offset;
    auto b = static_cast<const guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(src, src_plane)) +
             y * GST_VIDEO_FRAME_PLANE_STRIDE(src, src_plane);
    for (int x = 0; x < width; x++) {
      const double d = double(a[x * out_step]) - b[x];
      sse += d * d;
    }
  }
  const double mse = sse / (double(width) * height);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

struct Quality {
  double y, uv; /* PSNR in dB, the worse chroma plane for uv */
};

/* The decoded NV12 @buffer (@info) against the source picture of its PTS. */
Quality against_source(const Clip &clip, GstBuffer *buffer, const GstVideoInfo &info) {
  auto raw = clip.raw.find(GST_BUFFER_PTS(buffer) - clip.pts_offset);
  fail_unless(raw != clip.raw.end(), "output PTS %" GST_TIME_FORMAT " is no source frame",
              GST_TIME_ARGS(GST_BUFFER_PTS(buffer)));
  GstVideoInfo raw_info;
  fail_unless(gst_video_info_from_caps(&raw_info, gst_sample_get_caps(raw->second)));
  GstVideoFrame o, r;
  /* A plain read map downloads the CUDA memory. */
  fail_unless(gst_video_frame_map(&o, &info, buffer, GST_MAP_READ));
  fail_unless(gst_video_frame_map(&r, &raw_info, gst_sample_get_buffer(raw->second), GST_MAP_READ));
  const int width = GST_VIDEO_INFO_WIDTH(&info), height = GST_VIDEO_INFO_HEIGHT(&info);
  const Quality quality{psnr(&o, &r, 0, 1, 0, 0, width, height),
                        std::min(psnr(&o, &r, 1, 2, 0, 1, width / 2, height / 2),
                                 psnr(&o, &r, 1, 2, 1, 2, width / 2, height / 2))};
  gst_video_frame_unmap(&o);
  gst_video_frame_unmap(&r);
  return quality;
}

/* What feeds gpukeyframedec in check_decode(). */
enum class Feed {
  Parser,     /* h26Xparse: caps with the SPS's fields (chroma, depth, size) */
  AccessUnits /* bare byte-stream/au caps, as the launcher's depayloaders give */
};

/* Decodes @clip with one gpukeyframedec; checks output count, timestamps,
 * caps and picture quality against the sources. */
void check_decode(const Clip &clip, const char *codec, int width, int height,
                  Feed feed = Feed::Parser, bool share_parsers = true) {
  const std::string description =
      std::string("appsrc name=src format=time ! ") + (feed == Feed::Parser ? codec : "") +
      (feed == Feed::Parser ? "parse ! " : "") +
      "gpukeyframedec name=dec ! appsink name=out sync=false wait-on-eos=false "
      "caps=\"video/x-raw(memory:CUDAMemory),format=NV12\"";
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &err);
  fail_unless(pipeline && !err, "%s", err ? err->message : "");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement *dec = gst_bin_get_by_name(GST_BIN(pipeline), "dec");
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  g_object_set(dec, gpurtsp::gpukeyframedec::property::kShareParsers, share_parsers, nullptr);
  if (feed == Feed::Parser) {
    gst_app_src_set_caps(GST_APP_SRC(src), clip.caps);
  } else {
    g_autoptr(GstCaps) caps = gst_caps_new_simple((std::string("video/x-") + codec).c_str(),
                                                  "stream-format", G_TYPE_STRING, "byte-stream",
                                                  "alignment", G_TYPE_STRING, "au", nullptr);
    gst_app_src_set_caps(GST_APP_SRC(src), caps);
  }
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (auto b : clip.access_units)
    gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(b));
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  const std::string error = gputest::wait_for_eos(pipeline, description);
  fail_unless(error.empty(), "decoding failed: %s", error.c_str());

  std::vector<GstSample *> samples;
  drain(out, samples);
  fail_unless_equals_int(samples.size(), clip.keyframes);
  double worst_y = 99, worst_uv = 99;
  for (auto s : samples) {
    GstVideoInfo info;
    GstCaps *caps = gst_sample_get_caps(s);
    fail_unless(gst_video_info_from_caps(&info, caps));
    fail_unless_equals_int(GST_VIDEO_INFO_WIDTH(&info), width);
    fail_unless_equals_int(GST_VIDEO_INFO_HEIGHT(&info), height);
    fail_unless_equals_int(GST_VIDEO_INFO_FPS_N(&info), 0);
    fail_unless(gst_caps_features_contains(gst_caps_get_features(caps, 0),
                                           GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY));
    GstBuffer *buffer = gst_sample_get_buffer(s);
    fail_if(GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT));
    const Quality quality = against_source(clip, buffer, info);
    worst_y = std::min(worst_y, quality.y);
    worst_uv = std::min(worst_uv, quality.uv);
    gst_sample_unref(s);
  }
  g_print("%s %dx%d: %zu keyframes, worst PSNR Y %.1f dB, UV %.1f dB\n", codec, width, height,
          clip.keyframes, worst_y, worst_uv);
  fail_unless(worst_y >= 35.0, "luma PSNR %.1f dB < 35 dB", worst_y);
  fail_unless(worst_uv >= 35.0, "chroma PSNR %.1f dB < 35 dB", worst_uv);

  const auto stats = gpurtsp::gpukeyframedec::Stats::read(dec);
  fail_unless(stats.has_value());
  fail_unless_equals_int(stats->decoded, clip.keyframes);
  fail_unless_equals_int(stats->dropped_delta, clip.access_units.size() - clip.keyframes);

  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(dec);
  gst_object_unref(out);
  gst_object_unref(pipeline);
}

/* @n appsrc ! gpukeyframedec ! fakesink, playing, in one pipeline. The
 * test keeps every frame the sinks get until release(), pinning the shared
 * output frames. Not appsink, which also keeps its preroll buffer. */
struct HoldingInstances {
  GstElement *pipeline = gst_pipeline_new(nullptr);
  std::vector<GstElement *> srcs, decs;

  HoldingInstances(int n, GstCaps *caps) {
    for (int i = 0; i < n; i++)
      add(caps);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
  }
  /* Adds an instance fed @caps, in the pipeline's state. */
  void add(GstCaps *caps) {
    GstElement *src = gst_element_factory_make("appsrc", nullptr);
    GstElement *dec = gst_element_factory_make("gpukeyframedec", nullptr);
    GstElement *sink = gst_element_factory_make("fakesink", nullptr);
    g_object_set(src, "format", GST_FORMAT_TIME, "caps", caps, nullptr);
    g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE,
                 "signal-handoffs", TRUE, nullptr);
    g_signal_connect(sink, "handoff",
                     G_CALLBACK(+[](GstElement *, GstBuffer *buffer, GstPad *pad, gpointer self) {
                       auto cams = static_cast<HoldingInstances *>(self);
                       std::lock_guard<std::mutex> guard(cams->lock);
                       cams->held.push_back(gst_buffer_ref(buffer));
                       cams->held_caps.push_back(gst_pad_get_current_caps(pad));
                     }),
                     this);
    gst_bin_add_many(GST_BIN(pipeline), src, dec, sink, nullptr);
    fail_unless(gst_element_link_many(src, dec, sink, nullptr));
    srcs.push_back(src);
    decs.push_back(dec);
    for (GstElement *e : {sink, dec, src})
      fail_unless(gst_element_sync_state_with_parent(e));
  }
  ~HoldingInstances() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    release();
    gst_object_unref(pipeline);
  }
  HoldingInstances(const HoldingInstances &) = delete;
  HoldingInstances &operator=(const HoldingInstances &) = delete;

  void push(int i, GstBuffer *access_unit) {
    gst_app_src_push_buffer(GST_APP_SRC(srcs[i]), gst_buffer_ref(access_unit));
  }
  /* Frames held once @count are (a frame counted as decoded may still be
   * on its way to its sink), or after 5 s. */
  size_t wait_held(size_t count) {
    const gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard(lock);
        if (held.size() >= count || g_get_monotonic_time() > deadline)
          return held.size();
      }
      g_usleep(10000);
    }
  }
  /* Gives every held frame back to the shared pool. */
  void release() {
    std::lock_guard<std::mutex> guard(lock);
    for (GstBuffer *buffer : held)
      gst_buffer_unref(buffer);
    held.clear();
    for (GstCaps *caps : held_caps)
      gst_clear_caps(&caps);
    held_caps.clear();
  }

  std::mutex lock;
  std::vector<GstBuffer *> held;    /* guarded by lock */
  std::vector<GstCaps *> held_caps; /* guarded by lock: each frame's caps */
};

/* Polls @decs' counters until their decoded and busy-dropped keyframes
 * reach @total (45 s at most), calling @check on each stats read and
 * failing on a bus error. */
template <typename Check>
void wait_for_keyframes(GstElement *pipeline, const std::vector<GstElement *> &decs, guint64 total,
                        guint64 &decoded, guint64 &dropped, Check check) {
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  const gint64 deadline = g_get_monotonic_time() + 45 * G_USEC_PER_SEC;
  for (;;) {
    dropped = decoded = 0;
    for (auto dec : decs) {
      const auto stats = gpurtsp::gpukeyframedec::Stats::read(dec);
      fail_unless(stats.has_value());
      dropped += stats->dropped_busy;
      decoded += stats->decoded;
      check(*stats);
    }
    if (decoded + dropped >= total || g_get_monotonic_time() > deadline)
      break;
    if (GstMessage *error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      g_autoptr(GError) err = nullptr;
      gst_message_parse_error(error, &err, nullptr);
      gst_message_unref(error);
      fail("%s", err->message);
    }
    g_usleep(10000);
  }
}

} // namespace

GST_START_TEST(test_h264_720p) {
  Clip clip;
  encode(clip, "h264", 1280, 720, 50, 10);
  check_decode(clip, "h264", 1280, 720);
}
GST_END_TEST;

/* The launcher's keyframe cameras: the depayloader's access units, no
 * parser element, with both kinds of cuvid parser. */
GST_START_TEST(test_h264_720p_access_units) {
  Clip clip;
  encode(clip, "h264", 1280, 720, 30, 10);
  check_decode(clip, "h264", 1280, 720, Feed::AccessUnits);
  check_decode(clip, "h264", 1280, 720, Feed::AccessUnits, false);
}
GST_END_TEST;

/* 1080 lines are coded as 1088: the output is cropped to the display area. */
GST_START_TEST(test_h264_1080p_cropped) {
  Clip clip;
  encode(clip, "h264", 1920, 1080, 10, 5);
  check_decode(clip, "h264", 1920, 1080);
}
GST_END_TEST;

GST_START_TEST(test_h265_720p) {
  std::string missing;
  if (!gputest::have_elements({"x265enc"}, missing)) {
    GST_WARNING("x265enc missing: H.265 not tested");
    return;
  }
  Clip clip;
  encode(clip, "h265", 1280, 720, 30, 10);
  check_decode(clip, "h265", 1280, 720);
  check_decode(clip, "h265", 1280, 720, Feed::AccessUnits);
  check_decode(clip, "h265", 1280, 720, Feed::AccessUnits, false);
}
GST_END_TEST;

GST_START_TEST(test_444_is_refused) {
  Clip clip;
  encode(clip, "h264", 320, 240, 5, 5, "Y444");
  GError *err = nullptr;
  const char *description = "appsrc name=src format=time ! h264parse ! gpukeyframedec ! fakesink";
  GstElement *pipeline = gst_parse_launch(description, &err);
  fail_unless(pipeline && !err);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  gst_app_src_set_caps(GST_APP_SRC(src), clip.caps);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (auto b : clip.access_units)
    gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(b));
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  const std::string error = gputest::wait_for_eos(pipeline, description);
  fail_unless(error.find("8-bit 4:2:0") != std::string::npos, "got \"%s\"", error.c_str());
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}
GST_END_TEST;

/* 64 cameras in one pipeline: one CUDA context, one pool of at most 4
 * sessions, every keyframe of every camera decoded. */
GST_START_TEST(test_64_instances_share_pool) {
  constexpr int kInstances = 64;
  constexpr guint kMaxSessions = 4;
  Clip clip;
  encode(clip, "h264", 1280, 720, 40, 10);

  GstElement *pipeline = gst_pipeline_new(nullptr);
  std::vector<GstElement *> srcs, decs;
  std::vector<std::atomic<int>> received(kInstances);
  for (int i = 0; i < kInstances; i++) {
    GstElement *src = gst_element_factory_make("appsrc", nullptr);
    GstElement *dec = gst_element_factory_make("gpukeyframedec", nullptr);
    /* Not appsink, which keeps its preroll buffer, and no preroll: each
     * sink would hold its first frame until all 64 had one, pinning one
     * shared output frame per instance. */
    GstElement *sink = gst_element_factory_make("fakesink", nullptr);
    g_object_set(src, "format", GST_FORMAT_TIME, "caps", clip.caps, nullptr);
    g_object_set(dec, gpurtsp::gpukeyframedec::property::kMaxSessions, kMaxSessions,
                 gpurtsp::gpukeyframedec::property::kSessionTimeout, 10000u, nullptr);
    g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE,
                 "signal-handoffs", TRUE, nullptr);
    g_signal_connect(sink, "handoff",
                     G_CALLBACK(+[](GstElement *, GstBuffer *, GstPad *, gpointer counter) {
                       (*static_cast<std::atomic<int> *>(counter))++;
                     }),
                     &received[i]);
    gst_bin_add_many(GST_BIN(pipeline), src, dec, sink, nullptr);
    fail_unless(gst_element_link_many(src, dec, sink, nullptr));
    srcs.push_back(src);
    decs.push_back(dec);
  }
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (auto b : clip.access_units) {
    for (auto src : srcs)
      gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(b));
  }
  for (auto src : srcs)
    gst_app_src_end_of_stream(GST_APP_SRC(src));
  const std::string error =
      gputest::wait_for_eos(pipeline, "64 x appsrc ! gpukeyframedec ! fakesink", 45 * GST_SECOND);
  fail_unless(error.empty(), "%s", error.c_str());

  for (int i = 0; i < kInstances; i++) {
    fail_unless_equals_int(received[i].load(), clip.keyframes);
    const auto stats = gpurtsp::gpukeyframedec::Stats::read(decs[i]);
    fail_unless(stats && stats->pool, "no pool in the stats of a started instance");
    const guint64 created = stats->pool->created;
    fail_unless_equals_int(stats->pool->users, kInstances); /* one pool for all */
    fail_unless_equals_int(stats->pool->max, kMaxSessions);
    fail_unless(created >= 1 && created <= kMaxSessions, "%" G_GUINT64_FORMAT " sessions", created);
    fail_unless_equals_int(stats->dropped_busy, 0);
    /* Output frames are shared too: far fewer than one per instance. */
    const guint64 frames = stats->pool_output_frames;
    fail_unless(frames >= 1 && frames < kInstances / 2, "%" G_GUINT64_FORMAT " output frames",
                frames);
    if (i == 0)
      g_print("64 instances: %" G_GUINT64_FORMAT " sessions created, %" G_GUINT64_FORMAT
              " output frames\n",
              created, frames);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}
GST_END_TEST;

/* Sinks that keep every frame pin the shared output frames: past the cap
 * (64 of a size) keyframes are dropped and counted, not queued in VRAM. */
GST_START_TEST(test_output_frames_capped) {
  constexpr int kInstances = 80;
  constexpr int kCap = 64;
  Clip clip;
  encode(clip, "h264", 1280, 720, 1, 1);

  HoldingInstances cams(kInstances, clip.caps);
  for (int i = 0; i < kInstances; i++)
    cams.push(i, clip.access_units[0]);
  /* No EOS: a decoder that dropped its only keyframe would end the stream
   * with GstVideoDecoder's "no valid frames" error. Done when every
   * instance decoded or dropped its keyframe. */
  guint64 decoded = 0, dropped = 0;
  wait_for_keyframes(cams.pipeline, cams.decs, kInstances, decoded, dropped,
                     [&](const auto &stats) {
                       fail_unless(stats.pool_output_frames <= kCap,
                                   "%" G_GUINT64_FORMAT " output frames", stats.pool_output_frames);
                     });

  const size_t held = cams.wait_held(decoded);
  g_print("%d instances holding their frame: %zu held, %" G_GUINT64_FORMAT " dropped\n", kInstances,
          held, dropped);
  fail_unless_equals_int(held, kCap);
  fail_unless_equals_int(decoded, kCap);
  fail_unless_equals_int(dropped, kInstances - kCap);
}
GST_END_TEST;

/* Frames that were in flight once and are idle now go back: after a window
 * in which at most one frame was in flight, the 16 that a burst needed are
 * freed, and keyframes still decode. The window is 300 ms here, 60 s by
 * default. */
GST_START_TEST(test_idle_output_frames_trimmed) {
  constexpr int kInstances = 16;
  constexpr gulong kWindowUs = 300 * 1000;
  g_setenv("GPURTSP_KEYFRAME_FRAME_TRIM_MS", "300", TRUE);
  Clip clip;
  encode(clip, "h264", 1280, 720, 1, 1);
  HoldingInstances cams(kInstances, clip.caps);
  auto frames_held = [&] {
    const auto stats = gpurtsp::gpukeyframedec::Stats::read(cams.decs[0]);
    fail_unless(stats.has_value());
    return stats->pool_output_frames;
  };
  /* Pushes a keyframe to instance @i, waits for @total decoded, lets go of
   * what the sinks hold. */
  auto decode_one = [&](int i, guint64 total) {
    cams.push(i, clip.access_units[0]);
    guint64 decoded = 0, dropped = 0;
    wait_for_keyframes(cams.pipeline, cams.decs, total, decoded, dropped, [](const auto &) {});
    fail_unless_equals_int(decoded, total);
    fail_unless_equals_int(cams.wait_held(1), 1);
    cams.release();
  };

  for (int i = 0; i < kInstances; i++)
    cams.push(i, clip.access_units[0]);
  guint64 decoded = 0, dropped = 0;
  wait_for_keyframes(cams.pipeline, cams.decs, kInstances, decoded, dropped, [](const auto &) {});
  fail_unless_equals_int(decoded, kInstances);
  fail_unless_equals_int(cams.wait_held(kInstances), kInstances);
  cams.release();
  fail_unless_equals_int(frames_held(), kInstances); /* all idle now, none freed */

  /* The window of the burst ends: 16 were in flight in it, so none go. */
  g_usleep(kWindowUs + 50000);
  decode_one(0, kInstances + 1);
  fail_unless(frames_held() >= kInstances, "%" G_GUINT64_FORMAT " held", frames_held());
  /* A window with one in flight ends: the idle ones go. */
  g_usleep(kWindowUs + 50000);
  decode_one(1, kInstances + 2);
  g_print("16 frames after a burst, %" G_GUINT64_FORMAT " after a quiet window\n", frames_held());
  fail_unless(frames_held() <= 1 + gpurtsp::kSpareOutputFrames, "%" G_GUINT64_FORMAT " held",
              frames_held());
  g_unsetenv("GPURTSP_KEYFRAME_FRAME_TRIM_MS");
}
GST_END_TEST;

/* @access_unit without its SPS and PPS (a camera that sends them once). */
GstBuffer *without_parameter_sets(GstBuffer *access_unit) {
  GstMapInfo map;
  fail_unless(gst_buffer_map(access_unit, &map, GST_MAP_READ));
  std::vector<guint8> out;
  const guint8 *d = map.data;
  const size_t n = map.size;
  /* Copies each unit from its start code on unless it is an SPS or PPS. */
  size_t unit = n;
  auto flush = [&](size_t end) {
    if (unit < n && ((d[unit + 3] & 0x1f) != 7 && (d[unit + 3] & 0x1f) != 8))
      out.insert(out.end(), d + unit, d + end);
  };
  for (size_t i = 0; i + 3 < n; i++) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      flush(i);
      unit = i;
      i += 2;
    }
  }
  flush(n);
  gst_buffer_unmap(access_unit, &map);
  fail_unless(out.size() < map.size, "no parameter sets to strip");
  GstBuffer *stripped = gst_buffer_new_memdup(out.data(), out.size());
  gst_buffer_copy_into(stripped, access_unit, GST_BUFFER_COPY_METADATA, 0, -1);
  return stripped;
}

/* One parser serves cameras of other sizes and cameras that sent their
 * parameter sets only once: keyframes of a 720p camera whose sets came
 * once, a 360p camera and another 720p camera, decoded one at a time so
 * that they all go through the same pooled parser. Each must come out at
 * its own size and match its source; without the sets put back, the first
 * camera's keyframes would be parsed with the 360p camera's SPS. */
GST_START_TEST(test_pooled_parser_keeps_cameras_apart) {
  Clip big, small;
  encode(big, "h264", 1280, 720, 30, 10);
  encode(small, "h264", 640, 360, 30, 10);
  struct Camera {
    const Clip *clip;
    bool strip;
    int width, height;
    std::vector<GstBuffer *> keyframes;
  } cameras[] = {
      {&big, true, 1280, 720, {}}, {&small, false, 640, 360, {}}, {&big, false, 1280, 720, {}}};
  for (auto &cam : cameras) {
    for (GstBuffer *b : cam.clip->access_units) {
      if (GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT))
        continue;
      cam.keyframes.push_back(cam.strip && !cam.keyframes.empty() ? without_parameter_sets(b)
                                                                  : gst_buffer_ref(b));
    }
  }

  HoldingInstances cams(0, nullptr);
  for (auto &cam : cameras)
    cams.add(cam.clip->caps);
  for (GstElement *dec : cams.decs)
    g_object_set(dec, gpurtsp::gpukeyframedec::property::kShareParsers, TRUE, nullptr);
  guint64 total = 0;
  for (size_t k = 0; k < cameras[0].keyframes.size(); k++) {
    for (int i = 0; i < 3; i++) {
      cams.push(i, cameras[i].keyframes[k]);
      guint64 decoded = 0, dropped = 0;
      wait_for_keyframes(cams.pipeline, cams.decs, ++total, decoded, dropped, [](const auto &) {});
      fail_unless_equals_int(decoded, total);
      fail_unless_equals_int(cams.wait_held(total), total);
    }
  }

  std::lock_guard<std::mutex> guard(cams.lock);
  for (size_t n = 0; n < cams.held.size(); n++) {
    const Camera &cam = cameras[n % 3];
    GstVideoInfo info;
    fail_unless(gst_video_info_from_caps(&info, cams.held_caps[n]));
    fail_unless(GST_VIDEO_INFO_WIDTH(&info) == cam.width &&
                    GST_VIDEO_INFO_HEIGHT(&info) == cam.height,
                "frame %zu of camera %zu is %dx%d", n / 3, n % 3, GST_VIDEO_INFO_WIDTH(&info),
                GST_VIDEO_INFO_HEIGHT(&info));
    const double y = against_source(*cam.clip, cams.held[n], info).y;
    fail_unless(y >= 35.0, "camera %zu keyframe %zu: luma PSNR %.1f dB", n % 3, n / 3, y);
  }
  const auto stats = gpurtsp::gpukeyframedec::Stats::read(cams.decs[0]);
  fail_unless(stats.has_value());
  g_print("3 cameras, %zu keyframes each, one at a time: %" G_GUINT64_FORMAT " parser(s)\n",
          cameras[0].keyframes.size(), stats->pool_parsers);
  fail_unless_equals_int(stats->pool_parsers, 1);
  for (auto &cam : cameras)
    for (GstBuffer *b : cam.keyframes)
      gst_buffer_unref(b);
}
GST_END_TEST;

static Suite *gpukeyframedec_suite() {
  Suite *s = suite_create("gpukeyframedec");
  TCase *tc = tcase_create("gpu");
  /* Each test takes seconds on an H100; a minute means it is stuck. */
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_h264_720p);
  tcase_add_test(tc, test_h264_720p_access_units);
  tcase_add_test(tc, test_h264_1080p_cropped);
  tcase_add_test(tc, test_h265_720p);
  tcase_add_test(tc, test_444_is_refused);
  tcase_add_test(tc, test_64_instances_share_pool);
  tcase_add_test(tc, test_output_frames_capped);
  tcase_add_test(tc, test_idle_output_frames_trimmed);
  tcase_add_test(tc, test_pooled_parser_keeps_cameras_apart);
  return s;
}

static int requirements(gputest::Requirements &req, int &, char **&) {
  req.element = "gpukeyframedec";
  req.probe_what = "CUDA device or NVDECODE";
  req.probe = [](std::string &reason) {
    return gpurtsp::cuda_device_available(reason) && gpurtsp::nvcuvid::api(reason);
  };
  req.needs = {"x264enc", "h264parse", "videotestsrc", "appsrc"};
  req.needs_from = "gstreamer1.0-plugins-ugly's x264enc makes the test streams";
  return 0;
}

GPUTEST_MAIN("gpukeyframedec", gpukeyframedec_suite, requirements)
