/* gpurtsp-launch: runs the cameras of a cameras.yaml, or N synthetic ones.
 * Reference: docs/launcher.md. Exit codes: 0 ok (also after SIGINT/SIGTERM),
 * 1 runtime failure, 2 bad config or usage. */
#include <gst/gst.h>
#include <glib-unix.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>

#include "camera-manager.h"
#include "config.h"
#include "demo-cameras.h"
#include "gpu-resources.h"
#include "http-server.h"
#include "log.h"
#include "pipeline-description.h"

using namespace gpurtsp::launch;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

struct Options {
  std::string config_path;
  unsigned demo = 0;
  bool check = false;
  bool print_pipelines = false;
  std::string listen;
  std::string log_level = "info";
};

/* Every camera holds sockets (RTSP, and RTP/RTCP over UDP) and every pipeline
 * a bus; the default soft limit of 1024 would stop at a few hundred cameras. */
void raise_open_files_limit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
    LAUNCH_DEBUG("open files limit raised from %llu to %llu", (unsigned long long)before,
                 (unsigned long long)limit.rlim_max);
}

std::string summary(const Config &config) {
  size_t by_decoder[3] = {};
  for (const CameraConfig &camera : config.cameras)
    by_decoder[size_t(camera.settings.decoder)]++;
  std::string text = config.path + ": OK: " + std::to_string(config.cameras.size()) +
                     (config.cameras.size() == 1 ? " camera" : " cameras") + " (decoder";
  const char *separator = " ";
  for (auto choice : {DecoderChoice::Auto, DecoderChoice::Nvidia, DecoderChoice::Software})
    if (by_decoder[size_t(choice)]) {
      text += separator + std::string(decoder_choice_name(choice)) + ": " +
              std::to_string(by_decoder[size_t(choice)]);
      separator = ", ";
    }
  return text + "), http " + config.http.listen.to_string() +
         (config.http.token ? " with token" : " without token");
}

void print_pipelines(const std::vector<CameraConfig> &cameras, GpuResources &gpus) {
  for (const CameraConfig &camera : cameras) {
    const CameraSettings &settings = camera.settings;
    std::string why;
    const auto decoder = gpus.resolve(settings.decoder, settings.gpu, settings.width > 0, why);
    if (!decoder) {
      std::printf("# %s: fails: decoder nvidia: %s\n", camera.id.c_str(), why.c_str());
      continue;
    }
    std::string note = std::string(decoder_name(*decoder)) + " decoder";
    if (settings.decoder == DecoderChoice::Auto && !why.empty())
      note += " (auto: " + why + ")";
    const Codec codec = settings.codec == CodecChoice::H265 ? Codec::H265 : Codec::H264;
    if (settings.codec == CodecChoice::Auto) {
      const std::string h265 = gpus.decoder_factory(*decoder, Codec::H265, settings.gpu);
      note += "; codec auto, shown for H.264, H.265 uses rtph265depay ! h265parse ! " +
              (h265.empty() ? std::string("(no decoder)") : h265);
    }
    std::string factory = gpus.decoder_factory(*decoder, codec, settings.gpu);
    if (factory.empty())
      factory = "(no " + std::string(codec_name(codec)) + " decoder)";
    std::printf("# %s: %s\n%s\n", camera.id.c_str(), note.c_str(),
                launch_line(camera, codec, *decoder, factory).c_str());
  }
}

gboolean on_stop_signal(gpointer loop) {
  if (g_main_loop_is_running(static_cast<GMainLoop *>(loop))) {
    LAUNCH_INFO("stopping");
    g_main_loop_quit(static_cast<GMainLoop *>(loop));
  }
  return G_SOURCE_CONTINUE;
}

/* Runs the cameras until SIGINT or SIGTERM; returns with every pipeline down. */
void run_cameras(const Config &config, GpuResources &gpus) {
  CameraManager manager(config.cameras, gpus);
  /* The API, metrics and camera wall, on this thread's main loop. */
  http::HttpServerOptions http_options;
  http_options.listen = config.http.listen;
  http_options.token = config.http.token;
  http::HttpServer http_server(manager, std::move(http_options));
  try {
    http_server.start();
  } catch (const std::runtime_error &e) {
    LAUNCH_ERROR("%s", e.what());
    return kExitRuntime;
  }

  g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
  const guint sigint = g_unix_signal_add(SIGINT, on_stop_signal, loop);
  const guint sigterm = g_unix_signal_add(SIGTERM, on_stop_signal, loop);
  LAUNCH_INFO("starting %zu cameras", config.cameras.size());
  manager.start();
  g_main_loop_run(loop);
  /* A second signal while pipelines go down now ends the process. */
  g_source_remove(sigint);
  g_source_remove(sigterm);

  manager.stop();
}

int run(const Config &config, GpuResources &gpus) {
  raise_open_files_limit();
  run_cameras(config, gpus);
  /* The manager waited for its worker threads: the CUDA contexts may go. */
  LAUNCH_DEBUG("every pipeline is down");
  return kExitOk;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Runs RTSP cameras through GPU decoding into newest-frame JPEG sinks.",
               "gpurtsp-launch"};
  Options options;
  auto config_option =
      app.add_option("--config", options.config_path, "cameras.yaml to run")->type_name("FILE");
  app.add_option("--demo", options.demo,
                 "Run N synthetic cameras from an in-process RTSP server instead of a config")
      ->type_name("N")
      ->check(CLI::Range(1u, DemoCameras::kMaxCameras))
      ->excludes(config_option);
  app.add_flag("--check", options.check, "Validate the config, print a one-line summary and exit")
      ->needs(config_option);
  app.add_flag("--print-pipelines", options.print_pipelines,
               "Print each camera's gst-launch-1.0 line (passwords masked) and exit");
  app.add_option("--listen", options.listen, "HTTP address, overriding http.listen")
      ->type_name("ADDR:PORT");
  app.add_option("--log-level", options.log_level, "error, warning, info (default) or debug")
      ->check(CLI::IsMember({"error", "warning", "info", "debug"}));
  app.set_version_flag("--version", "gpurtsp-launch " GPURTSP_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::fprintf(stderr, "gpurtsp-launch: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  if (options.config_path.empty() && options.demo == 0) {
    std::fprintf(stderr, "gpurtsp-launch: --config FILE or --demo N is required (see --help)\n");
    return kExitUsage;
  }
  set_log_level(*parse_log_level(options.log_level));

  Config config;
  if (!options.config_path.empty()) {
    try {
      config = load_config(options.config_path);
    } catch (const ConfigError &e) {
      std::fprintf(stderr, "%s\n", e.what());
      return kExitUsage;
    }
  }
  if (!options.listen.empty()) {
    std::string error;
    auto listen = parse_listen_address(options.listen, error);
    if (!listen) {
      std::fprintf(stderr, "gpurtsp-launch: --listen: %s\n", error.c_str());
      return kExitUsage;
    }
    config.http.listen = *listen;
  }
  if (options.check) {
    std::printf("%s\n", summary(config).c_str());
    return kExitOk;
  }

  gst_init(nullptr, nullptr);
  /* Destroyed last: pipelines must be down before the CUDA contexts go. */
  GpuResources gpus;
  std::unique_ptr<DemoCameras> demo;
  if (options.demo > 0) {
    try {
      demo = std::make_unique<DemoCameras>(options.demo);
    } catch (const std::runtime_error &e) {
      LAUNCH_ERROR("demo cameras: %s", e.what());
      return kExitRuntime;
    }
    config.path = "--demo";
    config.cameras = demo->cameras();
  }
  if (options.print_pipelines) {
    print_pipelines(config.cameras, gpus);
    return kExitOk;
  }
  return run(config, gpus);
}
