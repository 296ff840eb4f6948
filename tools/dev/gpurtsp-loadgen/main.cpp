// SPDX-License-Identifier: MIT
/* gpurtsp-loadgen: serves up to thousands of synthetic RTSP cameras from one
 * pre-encoded clip (camsim clip mode) and prints what it sends. */
#include <gst/gst.h>
#include <glib-unix.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "camsim.hpp"

namespace camsim = gpurtsp::camsim;

namespace {

/* File descriptors one camera can need: its client's RTSP connection, UDP
 * RTP/RTCP socket pairs (IPv4 and IPv6) and the pipeline's wakeup fds. */
constexpr rlim_t kFdsPerCamera = 8;

/* Raises the soft open-file limit to the hard one; every camera needs a few
 * descriptors and the usual soft limit of 1024 runs out near 150 cameras. */
void raise_fd_limit(unsigned cameras) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
      std::perror("gpurtsp-loadgen: setrlimit(RLIMIT_NOFILE)");
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < cameras * kFdsPerCamera)
    std::fprintf(stderr,
                 "gpurtsp-loadgen: warning: open-file limit %llu may be too low for %u cameras "
                 "(raise the hard limit: ulimit -Hn)\n",
                 static_cast<unsigned long long>(limit.rlim_cur), cameras);
}

double cpu_seconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

bool ends_with_any(const std::string &text, std::initializer_list<const char *> suffixes) {
  for (const char *suffix : suffixes) {
    if (g_str_has_suffix(text.c_str(), suffix))
      return true;
  }
  return false;
}

/* Prints what happened since the previous report, and the frames sent since
 * the start (a running count, for benchmarks that compare windows). */
class Reporter {
public:
  explicit Reporter(const camsim::Server &server)
      : server_(server), clip_(server.options().source == camsim::Source::Clip),
        shared_(server.options().share_media > 1) {}

  void report() {
    camsim::Stats now = server_.stats();
    gint64 wall = g_get_monotonic_time();
    double cpu = cpu_seconds();
    double seconds = double(wall - last_wall_) / G_USEC_PER_SEC;
    double cpu_percent = 100.0 * (cpu - last_cpu_) / seconds;
    g_autofree gchar *frames =
        clip_ ? g_strdup_printf(
                    "  frames %.0f/s (%llu dropped, %llu sent)",
                    double(now.frames_sent - last_.frames_sent) / seconds,
                    static_cast<unsigned long long>(now.frames_dropped - last_.frames_dropped),
                    static_cast<unsigned long long>(now.frames_sent))
              : g_strdup("");
    /* Shared media: how many pipelines serve those streams. */
    g_autofree gchar *medias =
        shared_ ? g_strdup_printf("  medias %llu", static_cast<unsigned long long>(now.medias))
                : g_strdup("");
    std::printf("[%6.0fs] clients %llu  streams %llu%s  rtp %.0f pkt/s  %.1f Mbit/s%s  "
                "cpu %.1f%% of a core, %.3f%% per stream\n",
                double(wall - start_) / G_USEC_PER_SEC,
                static_cast<unsigned long long>(now.clients),
                static_cast<unsigned long long>(now.streams), medias,
                double(now.rtp_packets - last_.rtp_packets) / seconds,
                8.0 * double(now.rtp_bytes - last_.rtp_bytes) / seconds / 1e6, frames, cpu_percent,
                now.streams ? cpu_percent / double(now.streams) : 0.0);
    std::fflush(stdout);
    last_ = now;
    last_wall_ = wall;
    last_cpu_ = cpu;
  }

private:
  const camsim::Server &server_;
  const bool clip_;   /* frame counters exist in clip mode only */
  const bool shared_; /* --share-media > 1 */
  const gint64 start_ = g_get_monotonic_time();
  camsim::Stats last_;
  gint64 last_wall_ = start_;
  double last_cpu_ = cpu_seconds();
};

/* --flap: every @every_s seconds the next @percent % of the mounts (in turn,
 * so every mount gets its turn) are taken away and brought back @down_s
 * seconds later: cameras rebooting in batches, for soak tests. Each change
 * is one line, "[   12.3s] flap: stopped mounts 0-99", on stdout. */
class Flapper {
public:
  Flapper(camsim::Server &server, double percent, unsigned every_s, unsigned down_s)
      : server_(server),
        batch_(std::max<size_t>(1, size_t(double(server.size()) * percent / 100.0 + 0.5))),
        down_s_(down_s) {
    source_ = g_timeout_add_seconds(every_s, on_flap, this);
  }
  ~Flapper() {
    g_source_remove(source_);
    if (restore_)
      g_source_remove(restore_);
  }
  Flapper(const Flapper &) = delete;
  Flapper &operator=(const Flapper &) = delete;

private:
  static gboolean on_flap(gpointer data) {
    auto self = static_cast<Flapper *>(data);
    if (self->restore_) /* the last batch is still down: --flap-down >= --flap-every */
      return G_SOURCE_CONTINUE;
    self->down_.clear();
    for (size_t i = 0; i < self->batch_ && i < self->server_.size(); i++)
      self->down_.push_back((self->next_ + i) % self->server_.size());
    self->next_ = (self->next_ + self->batch_) % self->server_.size();
    for (size_t index : self->down_)
      self->server_.stop_mount(index);
    self->print("stopped");
    self->restore_ = g_timeout_add_seconds(self->down_s_, on_restore, self);
    return G_SOURCE_CONTINUE;
  }

  static gboolean on_restore(gpointer data) {
    auto self = static_cast<Flapper *>(data);
    for (size_t index : self->down_)
      self->server_.start_mount(index);
    self->print("started");
    self->restore_ = 0;
    return G_SOURCE_REMOVE;
  }

  /* "0-99" or "950-999,0-49": the batch wraps at most once. */
  void print(const char *what) const {
    std::string ranges;
    for (size_t i = 0; i < down_.size();) {
      size_t j = i;
      while (j + 1 < down_.size() && down_[j + 1] == down_[j] + 1)
        j++;
      ranges += (ranges.empty() ? "" : ",") + std::to_string(down_[i]) +
                (j > i ? "-" + std::to_string(down_[j]) : "");
      i = j + 1;
    }
    std::printf("[%8.1fs] flap: %s mounts %s\n", double(g_get_monotonic_time() - start_) / 1e6,
                what, ranges.c_str());
    std::fflush(stdout);
  }

  camsim::Server &server_;
  const size_t batch_;
  const unsigned down_s_;
  const gint64 start_ = g_get_monotonic_time();
  size_t next_ = 0;
  std::vector<size_t> down_; /* the batch taken away last */
  guint source_ = 0;
  guint restore_ = 0; /* pending on_restore, 0 if none */
};

} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);

  camsim::Options options;
  options.source = camsim::Source::Clip;
  options.cameras = 16;
  options.port = 8554;
  std::string codec = "h264";
  std::vector<std::string> protocols = {"tcp", "udp"};
  std::string make_clip;
  unsigned interval = 10;
  unsigned duration = 0;
  bool live = false;
  double flap_percent = 0;
  unsigned flap_every = 30;
  unsigned flap_down = 5;
  std::string auth = "basic";
  std::string tls_cert, tls_key;

  CLI::App app{"Serves synthetic RTSP cameras (/cam0 ... /camN-1) looping one pre-encoded clip, "
               "and prints per-interval statistics."};
  app.add_option("--cameras", options.cameras, "Number of mounts")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  auto codec_option = app.add_option("--codec", codec, "Video codec")
                          ->check(CLI::IsMember({"h264", "h265"}))
                          ->capture_default_str();
  app.add_option("--width", options.width, "Frame width")->capture_default_str();
  app.add_option("--height", options.height, "Frame height")->capture_default_str();
  app.add_option("--fps", options.fps, "Frames per second")->capture_default_str();
  app.add_option("--gop", options.gop, "Frames from one keyframe to the next")
      ->capture_default_str();
  app.add_option("--bitrate", options.bitrate_kbps, "Clip bitrate in kbit/s")
      ->capture_default_str();
  app.add_option("--address", options.address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "RTSP port (0: any free port)")->capture_default_str();
  auto user_option = app.add_option("--user", options.user, "Require this user (Basic auth)");
  app.add_option("--password", options.password, "Password of --user")->needs(user_option);
  app.add_option("--auth", auth, "How --user authenticates")
      ->check(CLI::IsMember({"basic", "digest"}))
      ->needs(user_option)
      ->capture_default_str();
  auto cert_option = app.add_option("--tls-cert", tls_cert,
                                    "Serve rtsps:// with this PEM certificate (needs --tls-key)")
                         ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile)
      ->needs(cert_option);
  cert_option->needs("--tls-key");
  app.add_option("--protocols", protocols, "Lower transports clients may use")
      ->delimiter(',')
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();
  app.add_option("--clip", options.clip_file,
                 "Annex-B H.264/H.265 file to loop instead of generating one (no B-frames); "
                 "the codec follows a .h265/.hevc/.265 name unless --codec says otherwise")
      ->check(CLI::ExistingFile);
  app.add_option("--clip-seconds", options.clip_seconds, "Length of a generated clip")
      ->capture_default_str();
  app.add_option("--cache-dir", options.cache_dir,
                 "Where generated clips are kept (default $XDG_CACHE_HOME/gpurtsp)");
  app.add_option("--make-clip", make_clip,
                 "Encode the clip for these parameters to FILE and exit (to carry it to a host "
                 "without the encoder, for --clip)");
  app.add_flag("--live", live, "Encode every mount live instead of looping a clip (costly)");
  app.add_option("--threads", options.service_threads,
                 "Threads for RTSP requests and for media control")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--stats-interval", interval, "Seconds between statistics lines")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--duration", duration, "Exit after this many seconds (0: at SIGINT/SIGTERM)")
      ->capture_default_str();
  app.add_option("--flap", flap_percent,
                 "Every --flap-every seconds take this percentage of the mounts away (the next "
                 "ones in turn) for --flap-down seconds; each change is printed")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--flap-every", flap_every, "Seconds between --flap batches")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--flap-down", flap_down, "Seconds a --flap batch stays away")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--share-media", options.share_media,
                 "Serve mounts in groups of K consecutive ones (cam0..camK-1, ...), each group "
                 "from one media pipeline: the per-frame pipeline work is paid once per group, "
                 "only the send per client. All clients of a group get the same stream (SSRC, "
                 "sequence numbers, keyframes); counters count per client. Clip mode only; "
                 "not with --flap")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (options.share_media > 1 && flap_percent > 0)
    return app.exit(CLI::ValidationError(
        "--share-media", "cannot be combined with --flap: a mount's media serves its group"));
  if (options.share_media > 1 && live)
    return app.exit(CLI::ValidationError(
        "--share-media", "cannot be combined with --live: live mounts show their own name"));

  if (codec_option->count() == 0 && ends_with_any(options.clip_file, {".h265", ".hevc", ".265"}))
    codec = "h265";
  options.codec = codec == "h265" ? camsim::Codec::H265 : camsim::Codec::H264;
  options.source = live ? camsim::Source::Live : camsim::Source::Clip;
  options.auth = auth == "digest" ? camsim::AuthMethod::Digest : camsim::AuthMethod::Basic;
  options.tls_cert_file = tls_cert;
  options.tls_key_file = tls_key;
  options.transports.tcp = std::find(protocols.begin(), protocols.end(), "tcp") != protocols.end();
  options.transports.udp = std::find(protocols.begin(), protocols.end(), "udp") != protocols.end();

  try {
    if (!make_clip.empty()) {
      camsim::generate_clip(options, make_clip);
      std::printf("gpurtsp-loadgen: wrote %s\n", make_clip.c_str());
      return 0;
    }

    raise_fd_limit(options.cameras);
    camsim::Server server(options);
    if (!live && options.clip_file.empty())
      std::printf("gpurtsp-loadgen: clip %s\n", camsim::ensure_clip(options).c_str());
    server.start();

    std::string first = server.url_with_credentials(0);
    std::string pattern =
        first.substr(0, first.size() - 1) + "{0.." + std::to_string(options.cameras - 1) + "}";
    const char *codec_name = codec == "h265" ? "H.265" : "H.264";
    if (!live && !options.clip_file.empty())
      /* The clip's own size, rate and GOP, not the options' defaults. */
      std::printf("gpurtsp-loadgen: %u %s cameras looping %s as it is\n", options.cameras,
                  codec_name, options.clip_file.c_str());
    else
      std::printf("gpurtsp-loadgen: %u %s cameras %dx%d@%d, GOP %d, %d kbit/s, %s\n",
                  options.cameras, codec_name, options.width, options.height, options.fps,
                  options.gop, options.bitrate_kbps, live ? "live encoders" : "looped clip");
    if (options.share_media > 1)
      std::printf("gpurtsp-loadgen: mounts share media in groups of %u (%u pipelines): the "
                  "clients of a group get identical streams (same SSRC, sequence numbers, "
                  "keyframe instants)\n",
                  options.share_media,
                  (options.cameras + options.share_media - 1) / options.share_media);
    std::printf("gpurtsp-loadgen: URL pattern %s\n", pattern.c_str());
    std::fflush(stdout);

    g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
    auto quit = [](gpointer data) -> gboolean {
      g_main_loop_quit(static_cast<GMainLoop *>(data));
      return G_SOURCE_CONTINUE; /* removed below, with the others */
    };
    Reporter reporter(server);
    std::vector<guint> sources = {
        g_unix_signal_add(SIGINT, quit, loop),
        g_unix_signal_add(SIGTERM, quit, loop),
        g_timeout_add_seconds(
            interval,
            [](gpointer data) -> gboolean {
              static_cast<Reporter *>(data)->report();
              return G_SOURCE_CONTINUE;
            },
            &reporter),
    };
    if (duration)
      sources.push_back(g_timeout_add_seconds(duration, quit, loop));
    std::optional<Flapper> flapper;
    if (flap_percent > 0)
      flapper.emplace(server, flap_percent, flap_every, flap_down);
    g_main_loop_run(loop);
    flapper.reset();
    for (guint source : sources)
      g_source_remove(source);
    std::printf("gpurtsp-loadgen: stopping\n");
    server.stop();
  } catch (const camsim::Error &error) {
    std::fprintf(stderr, "gpurtsp-loadgen: %s\n", error.what());
    return 1;
  }
  return 0;
}
