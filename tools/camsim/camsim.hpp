// SPDX-License-Identifier: MIT
/* camsim: synthetic RTSP IP cameras for tests, the launcher's --demo mode and
 * load generation.
 *
 * A Server serves N mounts (/cam0 ... /cam{N-1}, or named ones) from one
 * gst-rtsp-server running on its own GMainContext and thread, so it works the
 * same inside a test, inside an application with its own main loop, or alone.
 *
 *   gpurtsp::camsim::Options options;
 *   options.cameras = 8;
 *   gpurtsp::camsim::Server server(options);
 *   server.start();                      // throws camsim::Error
 *   std::string url = server.url(0);     // rtsp://127.0.0.1:<port>/cam0
 *
 * The caller must have called gst_init(). */
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpurtsp::camsim {

/* Every failure to start a server or to make or read a clip. */
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class Codec { H264, H265 };

enum class Source {
  /* One live encoder per mount: moving test pattern with the camera name, the
   * wall clock and the running time burnt in. Costs a real encoder per mount. */
  Live,
  /* One clip encoded once (cached on disk), held in memory as access units and
   * looped in real time to every mount without re-encoding: for many mounts. */
  Clip,
};

/* How the server answers. New hostile variants (garbage replies, connections
 * closed mid-request, SDP without video) belong here. */
enum class Behavior {
  Normal,
  /* Every request gets 401 Unauthorized, whatever the credentials: a camera
   * whose password was changed behind our back. */
  Unauthorized,
};

/* How a server with a user and password asks for them (RFC 2617): Basic
 * sends the password in every request, Digest (MD5, what most IP cameras
 * ask for) a hash over a server nonce. */
enum class AuthMethod { Basic, Digest };

/* Lower transports a client may SETUP; a client asking only for a disabled one
 * gets 461 Unsupported Transport. */
struct Transports {
  bool udp = true;
  bool tcp = true;
};

struct Options {
  Source source = Source::Live;
  Codec codec = Codec::H264;

  /* Mounts /cam0 ... /cam{cameras-1}, unless @mounts names them (e.g.
   * "front", "Streaming/Channels/101"; letters, digits, '.', '_', '-' and
   * '/' between segments). */
  unsigned cameras = 1;
  std::vector<std::string> mounts;

  /* Where to listen. Port 0 picks a free port on the first start(); later
   * starts reuse the port actually bound. */
  std::string address = "127.0.0.1";
  uint16_t port = 0;

  int width = 1280;
  int height = 720;
  int fps = 30;
  int gop = 30; /* frames from one keyframe to the next */
  int bitrate_kbps = 2000;

  /* Both set: clients must authenticate (@auth); wrong credentials get 401. */
  std::string user;
  std::string password;
  AuthMethod auth = AuthMethod::Basic;

  /* Both set: serve RTSP over TLS (rtsps://) with this PEM certificate and
   * its PEM private key. Needs GLib's TLS backend (glib-networking). */
  std::string tls_cert_file;
  std::string tls_key_file;

  Transports transports;
  Behavior behavior = Behavior::Normal;

  /* Clip mode: an Annex-B H.264/H.265 elementary stream to loop instead of
   * generating one (it must not use B-frames). */
  std::string clip_file;
  /* Clip mode: where generated clips are kept; empty means
   * $XDG_CACHE_HOME/gpurtsp. */
  std::string cache_dir;
  /* Clip mode: length of a generated clip; rounded up to whole GOPs. */
  int clip_seconds = 10;

  /* Threads answering RTSP requests, and threads driving media pipelines
   * (bus, state changes), each shared by all mounts. DESCRIBE waits for a
   * first frame, so a few threads keep mass connects from queueing. */
  int service_threads = 4;

  /* Clip mode: mounts i*K ... i*K+K-1 share one media pipeline (appsrc and
   * payloader), so the per-frame pipeline work is paid once per group of K
   * and only the send once per client. Every client of a group then gets the
   * same stream: same SSRC, sequence numbers and keyframe instants. 1: a
   * pipeline per mount. stop_mount()/start_mount() need 1. */
  unsigned share_media = 1;
};

/* Counters since the last start(). With share_media 1, frames, bytes and
 * packets are counted once per mount, before fan-out to the clients of a
 * mount. With share_media > 1 they are counted once per client playing the
 * group's media when the frame is pushed (one client per mount, as load
 * tests have it, counts the same either way). */
struct Stats {
  uint64_t clients = 0;        /* RTSP connections open now */
  uint64_t streams = 0;        /* mounts with a running pipeline now; with
                                * share_media > 1, clients playing now */
  uint64_t medias = 0;         /* media pipelines running now */
  uint64_t rtp_packets = 0;    /* RTP packets payloaded */
  uint64_t rtp_bytes = 0;      /* bytes of those packets */
  uint64_t frames_sent = 0;    /* clip mode: access units handed to pipelines */
  uint64_t frames_dropped = 0; /* clip mode: skipped because a pipeline lagged */
};

class Server {
public:
  /* Checks the options; throws Error when they cannot work. Starts nothing. */
  explicit Server(Options options);
  /* Stops the server if it runs. */
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  /* Makes or loads the clip (clip mode, first start only), binds the port and
   * starts serving; returns once the port accepts connections. Throws Error. */
  void start();
  /* Closes the listening socket and every client connection and tears all
   * media down. Idempotent; start() may follow, on the same port. */
  void stop();
  bool running() const;

  /* The bound port; before the first start(), the configured one (0: not
   * chosen yet). */
  uint16_t port() const;
  size_t size() const;
  /* "/cam0" or the named mount. */
  const std::string &mount(size_t index) const;
  /* rtsp://HOST:PORT/MOUNT (rtsps:// with TLS), without credentials. */
  std::string url(size_t index) const;
  /* rtsp://USER:PASSWORD@HOST:PORT/MOUNT (the configured credentials;
   * rtsps:// with TLS). */
  std::string url_with_credentials(size_t index) const;

  /* Takes one mount away (404 for new requests, its clients disconnected) or
   * brings it back, while the server runs. Throw Error with share_media > 1,
   * where a mount's media also serves the rest of its group. */
  void stop_mount(size_t index);
  void start_mount(size_t index);

  Stats stats() const;
  const Options &options() const;

private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/* The clip a clip-mode server with @options would loop: @options.clip_file, or
 * a cached clip made for the options' codec, size, fps, GOP, bitrate and
 * length (made now if missing). Returns its path; throws Error. */
std::string ensure_clip(const Options &options);

/* Encodes a clip for @options to @path (replacing it) with videotestsrc and
 * x264enc/x265enc: keyframe every GOP with SPS/PPS (and VPS) in front, no
 * B-frames. Throws Error naming a missing encoder. */
void generate_clip(const Options &options, const std::string &path);

} // namespace gpurtsp::camsim
