// SPDX-License-Identifier: MIT
#include "clip.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <memory>

namespace probe {

namespace {

struct ElementUnref {
  void operator()(GstElement *e) const {
    gst_element_set_state(e, GST_STATE_NULL);
    gst_object_unref(e);
  }
};
using Pipeline = std::unique_ptr<GstElement, ElementUnref>;

Pipeline launch(const std::string &description, std::string &why) {
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &err);
  if (!pipeline || err) {
    why = "cannot build \"" + description + "\": " + (err ? err->message : "unknown error");
    g_clear_error(&err);
    if (pipeline)
      gst_object_unref(pipeline);
    return nullptr;
  }
  return Pipeline(pipeline);
}

/* Waits for EOS; false with the error message on ERROR or after 60 s. */
bool wait_eos(GstElement *pipeline, std::string &why) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered(
      bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  bool ok = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
  if (!msg) {
    why = "pipeline did not finish within 60 s";
  } else if (!ok) {
    GError *err = nullptr;
    gst_message_parse_error(msg, &err, nullptr);
    why = std::string("pipeline error: ") + (err ? err->message : "unknown");
    g_clear_error(&err);
  }
  if (msg)
    gst_message_unref(msg);
  return ok;
}

} // namespace

bool read_clip(const std::string &path, const std::string &codec, Clip &clip, std::string &why) {
  why.clear();
  gchar *location = g_strescape(path.c_str(), nullptr);
  /* config-interval=-1: parameter sets in front of every keyframe, as
   * cameras send them, so each keyframe decodes on its own. */
  std::string description = std::string("filesrc location=\"") + location + "\" ! " + codec +
                            "parse config-interval=-1 ! video/x-" + codec +
                            ",stream-format=byte-stream,alignment=au ! appsink name=sink "
                            "sync=false";
  g_free(location);
  Pipeline pipeline = launch(description, why);
  if (!pipeline)
    return false;
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline.get()), "sink");
  GstBus *bus = gst_element_get_bus(pipeline.get());
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  clip = Clip{codec, {}, 0};
  for (;;) {
    /* Polled, so a pipeline error cannot leave us waiting forever. */
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), GST_SECOND / 10);
    if (!sample) {
      if (gst_app_sink_is_eos(GST_APP_SINK(sink)))
        break;
      if (GstMessage *error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
        GError *err = nullptr;
        gst_message_parse_error(error, &err, nullptr);
        why = "reading " + path + ": " + (err ? err->message : "unknown error");
        g_clear_error(&err);
        gst_message_unref(error);
        break;
      }
      continue;
    }
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    clip.frames++;
    if (!GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) {
      GstMapInfo map;
      if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        clip.keyframes.emplace_back(map.data, map.data + map.size);
        gst_buffer_unmap(buffer, &map);
      }
    }
    gst_sample_unref(sample);
  }
  gst_object_unref(bus);
  gst_object_unref(sink);
  if (!why.empty())
    return false;
  if (clip.keyframes.empty()) {
    why = path + " holds no " + codec + " keyframe";
    return false;
  }
  return true;
}

bool make_clip(const std::string &path, const std::string &codec, int width, int height, int frames,
               int keyint, const std::string &pattern, std::string &why) {
  const std::string k = std::to_string(keyint);
  const std::vector<std::pair<const char *, std::string>> encoders =
      codec == "h265"
          ? std::vector<std::pair<const char *, std::string>>{{"x265enc",
                                                               "x265enc key-int-max=" + k +
                                                                   " speed-preset=ultrafast "
                                                                   "tune=zerolatency"}}
          : std::vector<std::pair<const char *, std::string>>{
                {"x264enc",
                 "x264enc key-int-max=" + k + " bframes=0 speed-preset=ultrafast tune=zerolatency"},
                {"openh264enc", "openh264enc gop-size=" + k}};
  std::string encoder;
  for (const auto &[factory, description] : encoders) {
    if (GstElementFactory *f = gst_element_factory_find(factory)) {
      gst_object_unref(f);
      encoder = description;
      break;
    }
  }
  if (encoder.empty()) {
    why = "no software " + codec + " encoder (x264enc/openh264enc/x265enc) is installed";
    return false;
  }
  gchar *location = g_strescape(path.c_str(), nullptr);
  std::string description = "videotestsrc num-buffers=" + std::to_string(frames) +
                            " pattern=" + pattern +
                            " ! video/x-raw,format=I420,width=" + std::to_string(width) +
                            ",height=" + std::to_string(height) + ",framerate=25/1 ! " + encoder +
                            " ! " + codec + "parse ! video/x-" + codec +
                            ",stream-format=byte-stream ! filesink location=\"" + location + "\"";
  g_free(location);
  Pipeline pipeline = launch(description, why);
  if (!pipeline)
    return false;
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  return wait_eos(pipeline.get(), why);
}

} // namespace probe
