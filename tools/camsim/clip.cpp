// SPDX-License-Identifier: MIT
/* camsim: making, caching and loading the looped clip. */
#include "clip.hpp"

#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(camsim_debug);
#define GST_CAT_DEFAULT camsim_debug

namespace gpurtsp::camsim {

namespace {

/* Bumped whenever generate_clip() makes different bytes for the same options,
 * so stale cache entries are never picked up. */
constexpr int kClipFormatVersion = 1;

const char *codec_name(Codec codec) {
  return codec == Codec::H264 ? "h264" : "h265";
}

/* Frames in a generated clip: at least clip_seconds, whole GOPs, so the loop
 * point is a regular keyframe. */
int clip_frames(const Options &options) {
  int wanted = std::max(1, options.clip_seconds) * options.fps;
  int gops = (wanted + options.gop - 1) / options.gop;
  return gops * options.gop;
}

/* Runs @pipeline until EOS; throws Error with the first error message. */
void run_to_eos(GstElement *pipeline, const std::string &what) {
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    throw Error(what + ": the pipeline would not start");
  }
  g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered(
      bus, GST_CLOCK_TIME_NONE, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_element_set_state(pipeline, GST_STATE_NULL);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) error = nullptr;
    g_autofree gchar *debug = nullptr;
    gst_message_parse_error(msg, &error, &debug);
    throw Error(
        strprintf("%s: %s (%s)", what.c_str(), error->message, debug ? debug : "no details"));
  }
}

GstElement *parse_pipeline(const std::string &description) {
  g_autoptr(GError) error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (error) {
    gst_clear_object(&pipeline);
    throw Error(strprintf("cannot build \"%s\": %s", description.c_str(), error->message));
  }
  return pipeline;
}

} // namespace

std::string cached_clip_path(const Options &options) {
  std::string dir = options.cache_dir.empty()
                        ? std::string(g_get_user_cache_dir()) + G_DIR_SEPARATOR_S + "gpurtsp"
                        : options.cache_dir;
  return strprintf("%s" G_DIR_SEPARATOR_S "camsim-v%d-%dx%d-%dfps-gop%d-%dkbps-%df.%s", dir.c_str(),
                   kClipFormatVersion, options.width, options.height, options.fps, options.gop,
                   options.bitrate_kbps, clip_frames(options), codec_name(options.codec));
}

void generate_clip(const Options &options, const std::string &path) {
  check_video_options(options);
  const bool h264 = options.codec == Codec::H264;
  require_element("videotestsrc", "install gstreamer1.0-plugins-base");
  if (h264) {
    require_element("x264enc", "install gstreamer1.0-plugins-ugly, or pass a clip made "
                               "elsewhere (gpurtsp-loadgen --make-clip FILE, then --clip FILE)");
    require_element("h264parse", "install gstreamer1.0-plugins-bad");
  } else {
    require_element("x265enc", "install gstreamer1.0-plugins-bad, or pass a clip made "
                               "elsewhere (gpurtsp-loadgen --make-clip FILE, then --clip FILE)");
    require_element("h265parse", "install gstreamer1.0-plugins-bad");
  }

  /* A scrolling SMPTE pattern keeps every macroblock changing, so CBR lands
   * near the asked bitrate the way a busy real scene does. No B-frames (IP
   * cameras rarely send them and the loop restamps frames in decode order);
   * scenecut off so keyframes come exactly every GOP; the parser repeats the
   * parameter sets in front of every keyframe so a client can join anywhere. */
  std::string encoder =
      h264 ? strprintf("x264enc bitrate=%d key-int-max=%d bframes=0 speed-preset=veryfast "
                       "option-string=scenecut=0 ! h264parse config-interval=-1 ! "
                       "video/x-h264,stream-format=byte-stream,alignment=au",
                       options.bitrate_kbps, options.gop)
           : strprintf("x265enc bitrate=%d key-int-max=%d speed-preset=superfast "
                       "option-string=bframes=0:scenecut=0:open-gop=0 ! "
                       "h265parse config-interval=-1 ! "
                       "video/x-h265,stream-format=byte-stream,alignment=au",
                       options.bitrate_kbps, options.gop);
  g_autoptr(GstElementFactory) overlay = gst_element_factory_find("timeoverlay");
  std::string description = strprintf(
      "videotestsrc num-buffers=%d pattern=smpte horizontal-speed=4 ! "
      "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1 ! %s"
      "%s ! filesink name=sink",
      clip_frames(options), options.width, options.height, options.fps,
      overlay ? "timeoverlay text=\"camsim clip\" shaded-background=true ! " : "", encoder.c_str());

  /* Write aside and rename, so a concurrent reader (another process making
   * the same clip) never sees half a file. */
  std::string partial = strprintf("%s.%d.partial", path.c_str(), int(getpid()));
  g_autoptr(GstElement) pipeline = parse_pipeline(description);
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_object_set(sink, "location", partial.c_str(), nullptr);
  GST_INFO("making clip %s", path.c_str());
  try {
    run_to_eos(pipeline, "making clip " + path);
  } catch (...) {
    g_unlink(partial.c_str());
    throw;
  }
  if (g_rename(partial.c_str(), path.c_str()) != 0) {
    int err = errno;
    g_unlink(partial.c_str());
    throw Error(
        strprintf("cannot rename %s to %s: %s", partial.c_str(), path.c_str(), g_strerror(err)));
  }
}

std::string ensure_clip(const Options &options) {
  if (!options.clip_file.empty())
    return options.clip_file;
  std::string path = cached_clip_path(options);
  if (g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR))
    return path;
  g_autofree gchar *dir = g_path_get_dirname(path.c_str());
  if (g_mkdir_with_parents(dir, 0755) != 0)
    throw Error(strprintf("cannot create the clip cache %s: %s", dir, g_strerror(errno)));
  generate_clip(options, path);
  return path;
}

std::shared_ptr<const Clip> Clip::load(const std::string &path, Codec codec, int fallback_fps) {
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR))
    throw Error(strprintf("clip %s: no such file", path.c_str()));
  const bool h264 = codec == Codec::H264;
  require_element(h264 ? "h264parse" : "h265parse", "install gstreamer1.0-plugins-bad");
  const char *codec_id = h264 ? "h264" : "h265";
  std::string description =
      strprintf("filesrc name=src ! %sparse config-interval=-1 ! "
                "video/x-%s,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
                codec_id, codec_id);
  g_autoptr(GstElement) pipeline = parse_pipeline(description);
  g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_object_set(src, "location", path.c_str(), nullptr);

  auto clip = std::make_shared<Clip>();
  GstAppSinkCallbacks callbacks = {};
  /* Runs in the streaming thread while this thread waits for EOS. */
  callbacks.new_sample = [](GstAppSink *appsink, gpointer data) -> GstFlowReturn {
    auto clip = static_cast<Clip *>(data);
    g_autoptr(GstSample) sample = gst_app_sink_pull_sample(appsink);
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (clip->frames.empty() && !keyframe)
      return GST_FLOW_OK;
    if (!clip->caps)
      clip->caps.reset(gst_caps_copy(gst_sample_get_caps(sample)));
    /* Keep the bytes only: timestamps and flags are made per push. */
    GstBuffer *frame = gst_buffer_copy_region(buffer, GST_BUFFER_COPY_MEMORY, 0, -1);
    if (!keyframe)
      GST_BUFFER_FLAG_SET(frame, GST_BUFFER_FLAG_DELTA_UNIT);
    clip->frames.emplace_back(frame);
    return GST_FLOW_OK;
  };
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, clip.get(), nullptr);
  run_to_eos(pipeline, "reading clip " + path);

  if (clip->frames.empty())
    throw Error(strprintf("clip %s holds no %s keyframe", path.c_str(), h264 ? "H.264" : "H.265"));
  GstStructure *s = gst_caps_get_structure(clip->caps.get(), 0);
  int num = 0, den = 1;
  if (!gst_structure_get_fraction(s, "framerate", &num, &den) || num <= 0) {
    num = fallback_fps;
    den = 1;
    gst_caps_set_simple(clip->caps.get(), "framerate", GST_TYPE_FRACTION, num, den, nullptr);
  }
  clip->frame_duration = gst_util_uint64_scale_int(GST_SECOND, den, num);
  GST_INFO("clip %s: %zu frames, %" GST_PTR_FORMAT, path.c_str(), clip->frames.size(),
           clip->caps.get());
  return clip;
}

} // namespace gpurtsp::camsim
