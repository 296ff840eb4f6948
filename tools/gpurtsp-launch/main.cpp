// SPDX-License-Identifier: MIT
/* gpurtsp-launch: runs the cameras of a cameras.yaml, or N synthetic ones.
 * Reference: docs/launcher.md. Exit codes: 0 ok (also after SIGINT/SIGTERM),
 * 1 runtime failure, 2 bad config or usage. */
#include <gst/gst.h>
#include <glib-unix.h>
#include <malloc.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>

#include "camera-manager.h"
#include "config.h"
#include "demo-cameras.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "http-server.h"
#include "live-config.h"
#include "log.h"
#include "pipeline-description.h"
#include "rtsp-read-ahead.h"
#include "udp-keyframe-filter.h"
#include "shard.h"
#include "stats-line.h"

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
  bool watch_config = false;
  std::string listen;
  std::string log_level = "info";
  std::optional<double> start_window_s;
  double stats_interval_s = 0.0;
  unsigned max_decoders_per_gpu = GpuResources::kDefaultMaxDecodersPerGpu;
  std::string shard; /* INDEX/COUNT; empty: GPURTSP_SHARD, else every camera */
};

/* The environment variable a StatefulSet sets from the pod index. */
constexpr const char *kShardVariable = "GPURTSP_SHARD";

/* What a camera holds at most, measured with 32 cameras (docs/scale.md):
 * over TCP 6 descriptors and 4 threads (rtspsrc's connection task, the
 * jitterbuffer's task and timer, the RTP session's RTCP thread), over UDP 16
 * and 7 (udpsrc tasks for RTP and RTCP, the NAT-opening fakesrc); plus
 * some headroom. */
constexpr rlim_t kFdsPerCamera = 20;
constexpr rlim_t kThreadsPerCamera = 8;

/* Raises @resource's soft limit to the hard one, says what it got and warns
 * when @cameras may need more (@per_camera each); @how says how to raise it.
 * The default soft limits (1024 open files) stop at a few hundred cameras. */
void raise_limit(int resource, const char *name, const char *how, rlim_t per_camera,
                 size_t cameras) {
  struct rlimit limit;
  if (getrlimit(resource, &limit) != 0) {
    LAUNCH_WARNING("getrlimit(%s) failed: %s", name, g_strerror(errno));
    return;
  }
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(resource, &limit) != 0) {
      LAUNCH_WARNING("setrlimit(%s, %llu) failed: %s", name, (unsigned long long)limit.rlim_max,
                     g_strerror(errno));
      limit.rlim_cur = before;
    }
  }
  const auto shown = [](rlim_t value) {
    return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
  };
  LAUNCH_INFO("%s %s (was %s, hard limit %s)", name, shown(limit.rlim_cur).c_str(),
              shown(before).c_str(), shown(limit.rlim_max).c_str());
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < cameras * per_camera)
    LAUNCH_WARNING("%s %s may be too low for %zu cameras: raise the hard limit (%s) to %llu", name,
                   shown(limit.rlim_cur).c_str(), cameras, how,
                   (unsigned long long)(cameras * per_camera));
}

void raise_limits(size_t cameras) {
  raise_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", "ulimit -Hn, LimitNOFILE=", kFdsPerCamera, cameras);
  /* Counts every thread of the user, other processes' too. */
  raise_limit(RLIMIT_NPROC, "RLIMIT_NPROC", "ulimit -Hu, LimitNPROC=", kThreadsPerCamera, cameras);
}

/* glibc's malloc gives a thread that finds the arenas busy a new one, up to
 * 8 per core (128 on 16 cores), and an arena keeps the pages of its peak.
 * A thousand cameras are ~4,000 threads that allocate packets in one thread
 * and free them in another: a few arenas serve them, and many add RSS per
 * camera (docs/scale.md). MALLOC_ARENA_MAX in the environment wins. */
constexpr int kMallocArenas = 4;

/* Called first in main(), before any thread exists. */
void limit_malloc_arenas() {
  if (!g_getenv("MALLOC_ARENA_MAX"))
    mallopt(M_ARENA_MAX, kMallocArenas);
}

void log_malloc_arenas() {
  if (const char *value = g_getenv("MALLOC_ARENA_MAX"))
    LAUNCH_INFO("malloc arenas: at most %s (MALLOC_ARENA_MAX)", value);
  else
    LAUNCH_INFO("malloc arenas: at most %d (set MALLOC_ARENA_MAX to change)", kMallocArenas);
}

/* Prints stats_line() every interval while the main loop runs. */
class StatsPrinter {
public:
  StatsPrinter(const CameraManager &cameras, double interval_s) : cameras_(cameras) {
    source_ = g_timeout_add(guint(interval_s * 1000.0), on_timeout, this);
  }
  ~StatsPrinter() { g_source_remove(source_); }
  StatsPrinter(const StatsPrinter &) = delete;
  StatsPrinter &operator=(const StatsPrinter &) = delete;

private:
  static gboolean on_timeout(gpointer data) {
    auto self = static_cast<StatsPrinter *>(data);
    const double elapsed_s = double(g_get_monotonic_time() - self->start_us_) / G_USEC_PER_SEC;
    const std::string line = stats_line(self->cameras_.list(), elapsed_s, self->cameras_.totals());
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return G_SOURCE_CONTINUE;
  }

  const CameraManager &cameras_;
  const gint64 start_us_ = g_get_monotonic_time();
  guint source_ = 0;
};

std::string summary(const Config &config, const Shard &shard, size_t config_cameras) {
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
  text += "), http " + config.http.listen.to_string() +
          (config.http.token ? " with token" : " without token");
  if (shard.count > 1)
    text += ", shard " + shard.to_string() + " of " + std::to_string(config_cameras) + " cameras";
  return text;
}

/* One "# id: note" line per camera, saying which decoder and JPEG encoder it
 * got and why, then its gst-launch-1.0 line. */
void print_pipelines(const std::vector<CameraConfig> &cameras, ElementCatalog &elements,
                     GpuResources &gpus) {
  for (CameraConfig camera : cameras) {
    CameraSettings &settings = camera.settings;
    const bool automatic = settings.gpu == kAutoGpu;
    const bool keyframe_sessions = elements.on_keyframe_sessions(settings);
    if (settings.decoder != DecoderChoice::Software)
      settings.gpu = gpus.place(settings, keyframe_sessions);
    std::string why;
    const auto decoder = elements.resolve(settings, gpus, why);
    if (settings.decoder != DecoderChoice::Software && decoder != Decoder::Nvidia)
      gpus.unplace(settings.gpu, keyframe_sessions);
    if (!decoder) {
      std::printf("# %s: fails: decoder nvidia: %s\n", camera.id.c_str(), why.c_str());
      continue;
    }
    std::string note = std::string(decoder_name(*decoder)) + " decoder";
    if (*decoder == Decoder::Nvidia)
      note += " on GPU " + std::to_string(settings.gpu) + (automatic ? " (gpu: auto)" : "");
    if (settings.decoder == DecoderChoice::Auto && !why.empty())
      note += " (auto: " + why + ")";
    const Codec codec = settings.codec == CodecChoice::H265 ? Codec::H265 : Codec::H264;
    const ElementChoice chosen =
        elements.decoder_choice(*decoder, codec, settings.gpu, settings.decode);
    note += "; decoder " + chosen.reason;
    std::string jpeg_encoder;
    std::string thumbnail_encoder = catalog::jpegenc::kFactory;
    if (*decoder == Decoder::Nvidia) {
      const ElementChoice encoder = elements.jpeg_encoder(settings);
      jpeg_encoder = encoder.factory;
      note += "; jpeg encoder " + encoder.reason;
      if (thumbnail_width(camera) > 0) {
        const ElementChoice thumbnail = elements.thumbnail_encoder(settings);
        thumbnail_encoder = thumbnail.factory;
        if (thumbnail.factory.empty())
          note += "; no thumbnail: " + thumbnail.reason;
      }
    } else {
      note += "; jpeg encoder jpegenc: software decoding encodes on the CPU";
      if (settings.jpeg_encoder != JpegEncoderChoice::Auto)
        note += std::string(" (jpeg_encoder: ") + jpeg_encoder_choice_name(settings.jpeg_encoder) +
                " is for nvidia decoding)";
    }
    if (settings.codec == CodecChoice::Auto) {
      const std::string h265 =
          elements.decoder_factory(*decoder, Codec::H265, settings.gpu, settings.decode);
      note += std::string("; codec auto, shown for H.264, H.265 uses ") + catalog::kRtpH265Depay +
              " ! " + catalog::kH265Parse + " ! " +
              (h265.empty() ? std::string("(no decoder)") : h265);
    }
    if (settings.decode == DecodeMode::Keyframes)
      note += std::string("; ") + catalog::rtpkeyframefilter::kFactory +
              " inside rtspsrc, before its jitterbuffer (rtpbin's " +
              catalog::rtpbin::signal_name::kRequestRtpDecoder + ")";
    std::string factory = chosen.factory;
    if (factory.empty())
      factory = "(no " + std::string(codec_name(codec)) + " decoder)";
    std::printf(
        "# %s: %s\n%s\n", camera.id.c_str(), note.c_str(),
        launch_line(camera, codec, *decoder, factory, jpeg_encoder, thumbnail_encoder).c_str());
  }
}

gboolean on_stop_signal(gpointer loop) {
  if (g_main_loop_is_running(static_cast<GMainLoop *>(loop))) {
    LAUNCH_INFO("stopping");
    g_main_loop_quit(static_cast<GMainLoop *>(loop));
  }
  return G_SOURCE_CONTINUE;
}

/* SIGHUP: read the config again and apply the difference. Without a
 * config (--demo) there is nothing to read: say so, keep running (SIGHUP's
 * default action would end the process). */
gboolean on_hangup(gpointer data) {
  auto *live = static_cast<LiveConfig *>(data);
  if (!live) {
    LAUNCH_WARNING("SIGHUP: --demo cameras have no config to reload");
    return G_SOURCE_CONTINUE;
  }
  LAUNCH_INFO("SIGHUP: reloading %s", live->config().path.c_str());
  live->reload();
  return G_SOURCE_CONTINUE;
}

/* --watch-config: reloads when the config file changes, once its writer is
 * done (editors write a temporary file and rename it over the config, which
 * the directory monitor behind g_file_monitor_file() sees too). */
class ConfigWatch {
public:
  static constexpr guint kSettleMs = 500;

  ConfigWatch(LiveConfig &live) : live_(live) {
    g_autoptr(GFile) file = g_file_new_for_path(live.config().path.c_str());
    g_autoptr(GError) error = nullptr;
    monitor_ = g_file_monitor_file(file, G_FILE_MONITOR_WATCH_MOVES, nullptr, &error);
    if (!monitor_) {
      LAUNCH_WARNING("--watch-config: cannot watch %s: %s", live.config().path.c_str(),
                     error->message);
      return;
    }
    g_signal_connect(monitor_, "changed", G_CALLBACK(on_changed), this);
    LAUNCH_INFO("watching %s for changes", live.config().path.c_str());
  }
  ~ConfigWatch() {
    if (settle_)
      g_source_remove(settle_);
    if (monitor_) {
      g_signal_handlers_disconnect_by_data(monitor_, this);
      g_file_monitor_cancel(monitor_);
      g_object_unref(monitor_);
    }
  }
  ConfigWatch(const ConfigWatch &) = delete;
  ConfigWatch &operator=(const ConfigWatch &) = delete;

private:
  static void on_changed(GFileMonitor *, GFile *, GFile *, GFileMonitorEvent event, gpointer data) {
    auto *self = static_cast<ConfigWatch *>(data);
    if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED || event == G_FILE_MONITOR_EVENT_DELETED ||
        event == G_FILE_MONITOR_EVENT_MOVED_OUT || event == G_FILE_MONITOR_EVENT_PRE_UNMOUNT ||
        event == G_FILE_MONITOR_EVENT_UNMOUNTED)
      return;
    /* A burst of writes is one reload, after it settled. */
    if (self->settle_)
      g_source_remove(self->settle_);
    self->settle_ = g_timeout_add(
        kSettleMs,
        [](gpointer watch) -> gboolean {
          auto *me = static_cast<ConfigWatch *>(watch);
          me->settle_ = 0;
          LAUNCH_INFO("%s changed: reloading", me->live_.config().path.c_str());
          me->live_.reload();
          return G_SOURCE_REMOVE;
        },
        self);
  }

  LiveConfig &live_;
  GFileMonitor *monitor_ = nullptr; /* owned */
  guint settle_ = 0;
};

/* Runs the cameras until SIGINT or SIGTERM; returns with every pipeline down. */
int run_cameras(const Config &config, ElementCatalog &elements, GpuResources &gpus,
                const Options &options, const ShardInfo &shard) {
  CameraManager manager(config.cameras, elements, gpus);
  /* Without a config file (--demo) there is nothing to change or reload. */
  std::optional<LiveConfig> live;
  if (options.demo == 0)
    live.emplace(config, shard.shard, manager);
  /* The API, metrics and camera wall, on this thread's main loop. */
  http::HttpServerOptions http_options;
  http_options.listen = config.http.listen;
  http_options.token = config.http.token;
  http_options.shard = shard;
  http_options.editor = live ? &*live : nullptr;
  /* Before the server says it listens: a supervisor may stop the process
   * as soon as it reads that line. */
  g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
  const guint sigint = g_unix_signal_add(SIGINT, on_stop_signal, loop);
  const guint sigterm = g_unix_signal_add(SIGTERM, on_stop_signal, loop);
  const guint sighup = g_unix_signal_add(SIGHUP, on_hangup, live ? &*live : nullptr);
  http::HttpServer http_server(manager, std::move(http_options));
  try {
    http_server.start();
  } catch (const std::runtime_error &e) {
    LAUNCH_ERROR("%s", e.what());
    for (const guint source : {sigint, sigterm, sighup})
      g_source_remove(source);
    return kExitRuntime;
  }

  std::optional<ConfigWatch> watch;
  if (options.watch_config && live)
    watch.emplace(*live);
  const unsigned window_ms = options.start_window_s
                                 ? unsigned(*options.start_window_s * 1000.0)
                                 : CameraManager::default_start_window_ms(config.cameras.size());
  LAUNCH_INFO("starting %zu cameras over %.2f s", config.cameras.size(), window_ms / 1000.0);
  manager.start(window_ms);
  std::optional<StatsPrinter> stats;
  if (options.stats_interval_s > 0)
    stats.emplace(manager, options.stats_interval_s);
  g_main_loop_run(loop);
  stats.reset();
  watch.reset();
  /* A second signal while pipelines go down now ends the process. */
  g_source_remove(sigint);
  g_source_remove(sigterm);
  g_source_remove(sighup);

  manager.stop();
  return kExitOk;
}

int run(const Config &config, ElementCatalog &elements, GpuResources &gpus, const Options &options,
        const ShardInfo &shard) {
  raise_limits(config.cameras.size());
  log_malloc_arenas();
  if (std::string why; install_rtsp_read_ahead(why)) {
    if (!why.empty())
      LAUNCH_WARNING("rtsp read-ahead: %s", why.c_str());
    const unsigned coalesce_ms = rtsp_read_ahead_coalesce_ms();
    const std::string when = coalesce_ms
                                 ? std::to_string(coalesce_ms) + " ms after a read under " +
                                       std::to_string(kRtspCoalesceBelowBytes / 1024) + " KiB"
                                 : std::string("as soon as bytes arrive");
    const std::string keyframe_note =
        rtsp_read_ahead_filters_keyframes()
            ? "keyframe cameras' delta frames are dropped there, their reader waiting " +
                  std::to_string(rtsp_read_ahead_keyframe_coalesce_ms()) +
                  " ms after a read of only those (GPURTSP_RTSP_KEYFRAME_FILTER=0 keeps them "
                  "for rtpkeyframefilter; GPURTSP_RTSP_KEYFRAME_COALESCE_MS)"
            : std::string("keyframe cameras' delta frames pass to rtpkeyframefilter "
                          "(GPURTSP_RTSP_KEYFRAME_FILTER=0)");
    LAUNCH_INFO("rtsp read-ahead: RTSP over TCP reads up to %zu KiB a recv(), %s "
                "(GPURTSP_RTSP_COALESCE_MS; GPURTSP_RTSP_READ_AHEAD=0 turns it off); %s",
                kRtspReadAheadBytes / 1024, when.c_str(), keyframe_note.c_str());
  } else {
    LAUNCH_INFO("rtsp read-ahead: off (%s)", why.c_str());
  }
  LAUNCH_INFO("%s", udp_keyframe_filter_enabled()
                        ? "udp: keyframe cameras' delta frames are dropped in the kernel, by a "
                          "socket filter (GPURTSP_UDP_KEYFRAME_FILTER=0 keeps them for "
                          "rtpkeyframefilter)"
                        : "udp: keyframe cameras' delta frames pass to rtpkeyframefilter "
                          "(GPURTSP_UDP_KEYFRAME_FILTER=0)");
  std::string ignored;
  if (const auto encoders = jpeg_max_encoders(&ignored))
    LAUNCH_INFO("gpujpegenc: up to %u nvJPEG encoders per GPU (GPURTSP_JPEG_MAX_ENCODERS)",
                *encoders);
  else if (!ignored.empty())
    LAUNCH_WARNING("%s", ignored.c_str());
  const int status = run_cameras(config, elements, gpus, options, shard);
  /* The manager waited for its worker threads: the CUDA contexts may go. */
  LAUNCH_DEBUG("every pipeline is down");
  return status;
}

} // namespace

int main(int argc, char **argv) {
  limit_malloc_arenas();
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
  app.add_flag("--watch-config", options.watch_config,
               "Reload the config when its file changes, as SIGHUP does")
      ->needs(config_option);
  app.add_option("--listen", options.listen, "HTTP address, overriding http.listen")
      ->type_name("ADDR:PORT");
  app.add_option("--start-window", options.start_window_s,
                 "Spread the cameras' first connects over this many seconds (default: 10 ms a "
                 "camera, at most 10 s)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--stats-interval", options.stats_interval_s,
                 "Print a JSON line summing up all cameras to stdout this often")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--max-decoders-per-gpu", options.max_decoders_per_gpu,
                 "Cameras owning an NVDEC decoder (decode: all) per GPU; more wait with an "
                 "error. NVDEC has ~288 sessions per GPU (default 256, 0: no limit)")
      ->type_name("N")
      ->check(CLI::Range(0u, 100000u));
  app.add_option("--shard", options.shard,
                 "Serve only the cameras whose id hashes to shard INDEX of COUNT (rendezvous "
                 "hashing; default: $GPURTSP_SHARD, else every camera)")
      ->type_name("INDEX/COUNT");
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

  Shard shard;
  {
    const char *from_env = g_getenv(kShardVariable);
    const std::string text = !options.shard.empty() ? options.shard : from_env ? from_env : "";
    std::string error;
    if (!text.empty()) {
      auto parsed = parse_shard(text, error);
      if (!parsed) {
        std::fprintf(stderr, "gpurtsp-launch: %s: %s\n",
                     options.shard.empty() ? kShardVariable : "--shard", error.c_str());
        return kExitUsage;
      }
      shard = *parsed;
    }
  }
  if (shard.count > 1 && options.demo > 0) {
    std::fprintf(stderr, "gpurtsp-launch: shards split a --config, not --demo cameras\n");
    return kExitUsage;
  }

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
  const size_t config_cameras = config.cameras.size();
  keep_shard_cameras(config, shard);
  if (options.check) {
    std::printf("%s\n", summary(config, shard, config_cameras).c_str());
    return kExitOk;
  }
  if (shard.count > 1)
    LAUNCH_INFO("shard %s: serving %zu of the config's %zu cameras", shard.to_string().c_str(),
                config.cameras.size(), config_cameras);

  gst_init(nullptr, nullptr);
  /* Destroyed last: pipelines must be down before the CUDA contexts go. */
  GpuResources gpus;
  ElementCatalog elements;
  gpus.set_max_decoders_per_gpu(options.max_decoders_per_gpu);
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
    print_pipelines(config.cameras, elements, gpus);
    return kExitOk;
  }
  return run(config, elements, gpus, options,
             ShardInfo{shard, options.demo > 0 ? config.cameras.size() : config_cameras});
}
