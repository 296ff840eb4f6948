// SPDX-License-Identifier: MIT
#include "capi/cameras.h"

#include <gst/gst.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "camera-manager.h"
#include "config.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "rtsp-read-ahead.h"
#include "log.h"

#if GPURTSP_HAVE_CUDA
#include "capi/cuda-context.h"
#endif

namespace launch = gpurtsp::launch;
using gpurtsp::capi::set_error;

namespace {

/* Frames a camera stored, counted on the streaming thread for
 * gpurtsp_camera_wait_frame(); shared with the pipelines' listeners, so it
 * outlives a removed camera. */
struct FrameSignal {
  std::mutex lock;
  std::condition_variable changed;
  int64_t frames = 0; /* guarded by lock */
  bool gone = false;  /* guarded by lock: camera removed or cameras closed */

  void notify() {
    {
      std::lock_guard guard(lock);
      frames++;
    }
    changed.notify_all();
  }
  void end() {
    {
      std::lock_guard guard(lock);
      gone = true;
    }
    changed.notify_all();
  }
};

char *copy_string(const std::string &text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (copy)
    std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

char *json_ids(const std::vector<std::string> &ids) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_array(builder);
  for (const std::string &id : ids)
    json_builder_add_string_value(builder, id.c_str());
  json_builder_end_array(builder);
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autofree char *text = json_to_string(root, FALSE);
  return copy_string(text);
}

/* The format's check that the config cannot make: NV12 is the decoder's own
 * size (gpunv12torgb scales only into RGB). */
bool check_format(const launch::CameraConfig &camera, std::string &error) {
  if (camera.settings.format == launch::OutputFormat::Nv12 && camera.settings.width > 0) {
    error = "width: format NV12 keeps the camera's size (leave width out, or use RGB, BGR or "
            "RGBP)";
    return false;
  }
  return true;
}

std::optional<launch::OutputFormat> parse_format(const char *format, std::string &error) {
  auto parsed = launch::parse_output_format(format ? format : "");
  if (!parsed)
    error = std::string("format: unknown value \"") + (format ? format : "") +
            "\" (expected RGB, BGR, RGBP, NV12 or JPEG)";
  return parsed;
}

} // namespace

struct GpurtspCameras {
  int gpu = 0;

  /* Shared by every call in flight, unique for close(): no call is left
   * waiting for a loop that has ended. */
  std::shared_mutex life;
  bool closed = false; /* guarded by life */

  GMainContext *context = nullptr; /* owned */
  GMainLoop *loop = nullptr;       /* owned */
  GThread *thread = nullptr;

  /* The core; the loop thread only. */
  std::unique_ptr<launch::ElementCatalog> elements;
  std::unique_ptr<launch::GpuResources> gpus;
  std::unique_ptr<launch::CameraManager> manager;
  std::vector<std::string> order;             /* ids as added */
  std::set<std::string, std::less<>> stopped; /* by gpurtsp_camera_stop() */

  std::mutex signals_lock;
  std::map<std::string, std::shared_ptr<FrameSignal>, std::less<>>
      signals; /* guarded by signals_lock */

  /* Runs @function on the loop thread and returns its result; the caller
   * holds life shared and has checked closed. */
  template <typename Function>
  auto run(Function function) -> decltype(function()) {
    using Result = decltype(function());
    std::packaged_task<Result()> task(std::move(function));
    std::future<Result> result = task.get_future();
    GSource *source = g_idle_source_new();
    g_source_set_callback(
        source,
        [](gpointer task) -> gboolean {
          (*static_cast<std::packaged_task<Result()> *>(task))();
          return G_SOURCE_REMOVE;
        },
        &task, nullptr);
    g_source_attach(source, context);
    g_source_unref(source);
    return result.get();
  }

  std::shared_ptr<FrameSignal> signal(std::string_view id) {
    std::lock_guard guard(signals_lock);
    auto found = signals.find(id);
    return found == signals.end() ? nullptr : found->second;
  }

  /* Loop thread: adds @config, listening for its frames. */
  bool add(launch::CameraConfig config, std::string &error) {
    const std::string id = config.id;
    if (!manager->add(std::move(config), error))
      return false;
    auto frames = std::make_shared<FrameSignal>();
    manager->camera(id)->set_frame_listener([frames] { frames->notify(); });
    {
      std::lock_guard guard(signals_lock);
      signals[id] = frames;
    }
    order.push_back(id);
    return true;
  }
};

namespace {

gpointer run_loop(gpointer data) {
  auto cameras = static_cast<GpurtspCameras *>(data);
  g_main_context_push_thread_default(cameras->context);
  g_main_loop_run(cameras->loop);
  /* close() tore the core down on this thread before quitting. */
  g_main_context_pop_thread_default(cameras->context);
  return nullptr;
}

/* Calls @function(cameras) on the loop thread unless closed. */
template <typename Function>
auto with_core(GpurtspCameras *cameras, Function function, decltype(function()) if_closed)
    -> decltype(function()) {
  std::shared_lock life(cameras->life);
  if (cameras->closed)
    return if_closed;
  return cameras->run(std::move(function));
}

void set_log_level_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    /* The launcher's lines on stderr: warnings and errors unless asked. */
    const char *level = g_getenv("GPURTSP_LOG");
    launch::set_log_level(
        launch::parse_log_level(level ? level : "").value_or(launch::LogLevel::Warning));
  });
}

} // namespace

extern "C" {

GpurtspCameras *gpurtsp_cameras_new(int gpu, char *error, size_t error_size) {
  g_autoptr(GError) init_error = nullptr;
  if (!gst_init_check(nullptr, nullptr, &init_error)) {
    set_error(error, error_size, std::string("GStreamer: ") + init_error->message);
    return nullptr;
  }
  if (gpu < 0 || gpu > 63) {
    set_error(error, error_size, "gpu: " + std::to_string(gpu) + " is out of range (0 to 63)");
    return nullptr;
  }
  std::string why;
  if (!launch::ElementCatalog::have_element(launch::catalog::latestframesink::kFactory, why)) {
    set_error(error, error_size, why + " (is GST_PLUGIN_PATH set to gpurtsp's plugin?)");
    return nullptr;
  }
  set_log_level_once();
  /* As gpurtsp-launch: fewer syscalls for RTSP over TCP (rtsp-read-ahead.h). */
  if (std::string why; !launch::install_rtsp_read_ahead(why))
    g_debug("gpurtsp: rtsp read-ahead off: %s", why.c_str());
  else if (!why.empty())
    g_warning("gpurtsp: rtsp read-ahead: %s", why.c_str());

  auto cameras = new GpurtspCameras;
  cameras->gpu = gpu;
  cameras->context = g_main_context_new();
  cameras->loop = g_main_loop_new(cameras->context, FALSE);
  cameras->thread = g_thread_new("gpurtsp-cameras", run_loop, cameras);
  cameras->run([cameras] {
    cameras->elements = std::make_unique<launch::ElementCatalog>();
    cameras->gpus = std::make_unique<launch::GpuResources>();
#if GPURTSP_HAVE_CUDA
    /* The CUDA primary context, shared with PyTorch and CuPy. */
    cameras->gpus->set_context_factory([](int device) -> GstObject * {
      char why[256] = "";
      void *context = gpurtsp_capi_cuda_context(device, why, sizeof why);
      if (!context)
        LAUNCH_WARNING("GPU %d: %s", device, why);
      return static_cast<GstObject *>(context);
    });
#endif
    cameras->manager = std::make_unique<launch::CameraManager>(std::vector<launch::CameraConfig>(),
                                                               *cameras->elements, *cameras->gpus);
    cameras->manager->start(0);
    return 0;
  });
  return cameras;
}

void gpurtsp_cameras_close(GpurtspCameras *cameras) {
  if (!cameras)
    return;
  std::unique_lock life(cameras->life);
  if (cameras->closed)
    return;
  cameras->run([cameras] {
    /* Waits for every pipeline; frames handed out keep their buffers. */
    cameras->manager.reset();
    cameras->gpus.reset();
    cameras->elements.reset();
    g_main_loop_quit(cameras->loop);
    return 0;
  });
  g_thread_join(cameras->thread);
  cameras->thread = nullptr;
  cameras->closed = true;
  std::lock_guard guard(cameras->signals_lock);
  for (auto &[id, frames] : cameras->signals)
    frames->end();
  cameras->signals.clear();
}

void gpurtsp_cameras_free(GpurtspCameras *cameras) {
  if (!cameras)
    return;
  gpurtsp_cameras_close(cameras);
  g_main_loop_unref(cameras->loop);
  g_main_context_unref(cameras->context);
  delete cameras;
}

int gpurtsp_cameras_add(GpurtspCameras *cameras, const char *id, const char *camera,
                        const char *format, char *error, size_t error_size) {
  std::string message;
  const auto output = parse_format(format, message);
  if (!output) {
    set_error(error, error_size, message);
    return GPURTSP_CAPI_ERROR;
  }
  launch::CameraConfig config;
  try {
    /* As PUT /api/cameras/ID takes it: the file's checks and messages. */
    config =
        launch::parse_camera_request(camera ? camera : "", id ? id : "", nullptr, launch::Config());
  } catch (const launch::ConfigError &e) {
    /* "fps: 500 is out of range (0 to 120)": no file or line to name. */
    set_error(error, error_size,
              e.key().empty() || e.reason().empty() ? std::string(e.what())
                                                    : e.key() + ": " + e.reason());
    return GPURTSP_CAPI_ERROR;
  }
  config.settings.format = *output;
  if (!check_format(config, message)) {
    set_error(error, error_size, message);
    return GPURTSP_CAPI_ERROR;
  }
  const int result = with_core(
      cameras,
      [&] { return cameras->add(std::move(config), message) ? 0 : int(GPURTSP_CAPI_ERROR); },
      int(GPURTSP_CAPI_CLOSED));
  if (result == GPURTSP_CAPI_ERROR)
    set_error(error, error_size, "id: " + message);
  else if (result == GPURTSP_CAPI_CLOSED)
    set_error(error, error_size, "the cameras are closed");
  return result;
}

int gpurtsp_cameras_load(GpurtspCameras *cameras, const char *path, const char *format, char **ids,
                         char *error, size_t error_size) {
  std::string message;
  const auto output = parse_format(format, message);
  if (!output) {
    set_error(error, error_size, message);
    return GPURTSP_CAPI_ERROR;
  }
  launch::Config config;
  try {
    config = launch::load_config(path ? path : "");
  } catch (const launch::ConfigError &e) {
    set_error(error, error_size, e.what());
    return GPURTSP_CAPI_ERROR;
  }
  std::vector<std::string> added;
  for (launch::CameraConfig &camera : config.cameras) {
    camera.settings.format = *output;
    if (!check_format(camera, message)) {
      set_error(error, error_size, config.path + ": cameras: " + camera.id + ": " + message);
      return GPURTSP_CAPI_ERROR;
    }
    added.push_back(camera.id);
  }
  const int result = with_core(
      cameras,
      [&] {
        /* All or none: an id already taken refuses the whole file. */
        for (const launch::CameraConfig &camera : config.cameras)
          if (cameras->manager->camera(camera.id)) {
            message = config.path + ": id: duplicate id \"" + camera.id +
                      "\" (a camera with this id exists)";
            return int(GPURTSP_CAPI_ERROR);
          }
        for (launch::CameraConfig &camera : config.cameras)
          cameras->add(std::move(camera), message);
        return 0;
      },
      int(GPURTSP_CAPI_CLOSED));
  if (result != 0) {
    set_error(error, error_size,
              result == GPURTSP_CAPI_CLOSED ? std::string("the cameras are closed") : message);
    return result;
  }
  if (ids)
    *ids = json_ids(added);
  return 0;
}

int gpurtsp_cameras_remove(GpurtspCameras *cameras, const char *id, char *error,
                           size_t error_size) {
  std::string message;
  const std::string name = id ? id : "";
  const int result = with_core(
      cameras,
      [&] {
        if (!cameras->manager->remove(name, message))
          return int(GPURTSP_CAPI_NO_CAMERA);
        std::erase(cameras->order, name);
        cameras->stopped.erase(name);
        std::shared_ptr<FrameSignal> frames;
        {
          std::lock_guard guard(cameras->signals_lock);
          auto found = cameras->signals.find(name);
          frames = found->second;
          cameras->signals.erase(found);
        }
        frames->end();
        return 0;
      },
      int(GPURTSP_CAPI_CLOSED));
  if (result == GPURTSP_CAPI_NO_CAMERA)
    set_error(error, error_size, message);
  else if (result == GPURTSP_CAPI_CLOSED)
    set_error(error, error_size, "the cameras are closed");
  return result;
}

char *gpurtsp_cameras_list(GpurtspCameras *cameras) {
  return with_core(
      cameras, [&]() -> char * { return json_ids(cameras->order); }, nullptr);
}

} // extern "C"

namespace {

/* Runs @action(camera) on the loop thread for camera @id. */
template <typename Action>
int with_camera(GpurtspCameras *cameras, const char *id, Action action) {
  const std::string name = id ? id : "";
  return with_core(
      cameras,
      [&] {
        launch::Camera *camera = cameras->manager->camera(name);
        if (!camera)
          return int(GPURTSP_CAPI_NO_CAMERA);
        return action(*camera);
      },
      int(GPURTSP_CAPI_CLOSED));
}

void describe_code(int code, const char *id, char *error, size_t error_size) {
  if (code == GPURTSP_CAPI_NO_CAMERA)
    set_error(error, error_size, std::string("unknown camera \"") + (id ? id : "") + "\"");
  else if (code == GPURTSP_CAPI_CLOSED)
    set_error(error, error_size, "the cameras are closed");
  else if (code == GPURTSP_CAPI_NO_FRAME)
    set_error(error, error_size, std::string("camera \"") + id + "\" has no frame yet");
}

} // namespace

extern "C" {

int gpurtsp_camera_start(GpurtspCameras *cameras, const char *id, char *error, size_t error_size) {
  const int result = with_camera(cameras, id, [&](launch::Camera &camera) {
    /* A running camera keeps running: no reconnect. */
    if (cameras->stopped.erase(camera.id()))
      camera.start(0);
    return 0;
  });
  describe_code(result, id, error, error_size);
  return result;
}

int gpurtsp_camera_stop(GpurtspCameras *cameras, const char *id, char *error, size_t error_size) {
  const int result = with_camera(cameras, id, [&](launch::Camera &camera) {
    camera.stop();
    cameras->stopped.insert(camera.id());
    return 0;
  });
  describe_code(result, id, error, error_size);
  return result;
}

char *gpurtsp_camera_status(GpurtspCameras *cameras, const char *id, int *code, char *error,
                            size_t error_size) {
  char *json = nullptr;
  const int result = with_camera(cameras, id, [&](launch::Camera &camera) {
    const launch::CameraStatus status = camera.status();
    const launch::CameraSettings &settings = camera.config().settings;
    g_autoptr(JsonBuilder) builder = json_builder_new();
    json_builder_begin_object(builder);
    auto string = [&](const char *key, const std::string &value) {
      json_builder_set_member_name(builder, key);
      json_builder_add_string_value(builder, value.c_str());
    };
    auto integer = [&](const char *key, int64_t value) {
      json_builder_set_member_name(builder, key);
      json_builder_add_int_value(builder, value);
    };
    string("id", status.id);
    const bool stopped = cameras->stopped.contains(camera.id());
    string("state", stopped ? "stopped" : launch::camera_state_name(status.state));
    json_builder_set_member_name(builder, "fps");
    json_builder_add_double_value(builder, status.fps);
    integer("frames", int64_t(status.frames));
    json_builder_set_member_name(builder, "last_frame_age_ms");
    if (status.last_frame_age_ms >= 0)
      json_builder_add_int_value(builder, status.last_frame_age_ms);
    else
      json_builder_add_null_value(builder);
    integer("reconnects", int64_t(status.reconnects));
    string("last_error", status.last_error);
    integer("width", status.width);
    integer("height", status.height);
    string("codec", status.codec);
    string("decoder", status.decoder);
    json_builder_set_member_name(builder, "gpu");
    if (status.gpu >= 0)
      json_builder_add_int_value(builder, status.gpu);
    else
      json_builder_add_null_value(builder);
    string("format", launch::output_format_name(settings.format));
    json_builder_set_member_name(builder, "running");
    json_builder_add_boolean_value(builder, !stopped);
    integer("buffer_size", settings.buffer_size);
    json_builder_end_object(builder);
    g_autoptr(JsonNode) root = json_builder_get_root(builder);
    g_autofree char *text = json_to_string(root, FALSE);
    json = copy_string(text);
    return 0;
  });
  if (code)
    *code = result;
  describe_code(result, id, error, error_size);
  return json;
}

void *gpurtsp_camera_latest_sample(GpurtspCameras *cameras, const char *id, int *code) {
  GstSample *sample = nullptr;
  int result = with_camera(cameras, id, [&](launch::Camera &camera) {
    int64_t arrival_us = -1;
    sample = camera.latest_jpeg(arrival_us).release();
    return sample ? 0 : int(GPURTSP_CAPI_NO_FRAME);
  });
  if (code)
    *code = result;
  return sample;
}

int gpurtsp_camera_latest_samples(GpurtspCameras *cameras, const char *id, unsigned n,
                                  void **samples) {
  return with_camera(cameras, id, [&](launch::Camera &camera) {
    std::vector<gpurtsp::Sample> frames = camera.latest_samples(n);
    for (size_t i = 0; i < frames.size() && i < n; i++)
      samples[i] = frames[i].release();
    return int(std::min<size_t>(frames.size(), n));
  });
}

int gpurtsp_camera_latest_jpeg(GpurtspCameras *cameras, const char *id, int quality, void **jpeg,
                               size_t *size, char *error, size_t error_size) {
  int code = 0;
  gpurtsp::Sample sample(
      static_cast<GstSample *>(gpurtsp_camera_latest_sample(cameras, id, &code)));
  if (!sample) {
    describe_code(code, id, error, error_size);
    return code;
  }
  GstCaps *caps = gst_sample_get_caps(sample.get());
  const GstStructure *structure = caps ? gst_caps_get_structure(caps, 0) : nullptr;
  if (!structure) {
    set_error(error, error_size, "the frame has no caps");
    return GPURTSP_CAPI_ERROR;
  }
  if (!gst_structure_has_name(structure, "image/jpeg")) {
    GstCapsFeatures *features = gst_caps_get_features(caps, 0);
    if (features && gst_caps_features_contains(features, "memory:CUDAMemory")) {
      set_error(error, error_size, "the frame is in CUDA memory: use gpurtsp.encode_jpeg()");
      return GPURTSP_CAPI_CUDA_FRAME;
    }
    /* Host frames: a small jpegenc pipeline, on this (the caller's) thread. */
    g_autoptr(GstCaps) jpeg_caps = gst_caps_new_empty_simple("image/jpeg");
    g_autoptr(GError) convert_error = nullptr;
    (void)quality; /* gst_video_convert_sample() takes jpegenc's default */
    GstSample *converted =
        gst_video_convert_sample(sample.get(), jpeg_caps, 5 * GST_SECOND, &convert_error);
    if (!converted) {
      set_error(error, error_size,
                std::string("JPEG encoding failed: ") +
                    (convert_error ? convert_error->message : "unknown error"));
      return GPURTSP_CAPI_ERROR;
    }
    sample.reset(converted);
  }
  GstBuffer *buffer = gst_sample_get_buffer(sample.get());
  GstMapInfo map;
  if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    set_error(error, error_size, "cannot read the JPEG");
    return GPURTSP_CAPI_ERROR;
  }
  *jpeg = std::malloc(map.size ? map.size : 1);
  if (*jpeg)
    std::memcpy(*jpeg, map.data, map.size);
  *size = map.size;
  gst_buffer_unmap(buffer, &map);
  return *jpeg ? 0 : int(GPURTSP_CAPI_ERROR);
}

int64_t gpurtsp_camera_wait_frame(GpurtspCameras *cameras, const char *id, int64_t seen,
                                  int timeout_ms) {
  std::shared_ptr<FrameSignal> frames;
  {
    std::shared_lock life(cameras->life);
    if (cameras->closed)
      return GPURTSP_CAPI_CLOSED;
    frames = cameras->signal(id ? id : "");
  }
  if (!frames)
    return GPURTSP_CAPI_NO_CAMERA;
  std::unique_lock guard(frames->lock);
  frames->changed.wait_for(guard, std::chrono::milliseconds(timeout_ms),
                           [&] { return frames->gone || frames->frames > seen; });
  if (frames->gone)
    return GPURTSP_CAPI_NO_CAMERA;
  return frames->frames;
}

} // extern "C"
