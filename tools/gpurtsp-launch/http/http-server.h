// SPDX-License-Identifier: MIT
/* The launcher's HTTP server (docs/http-api.md): the camera API, MJPEG
 * streams, /metrics, /healthz and the camera wall, served from a
 * CameraRegistry on the thread-default main context of whoever calls
 * start(). Routing, authentication and limits live here; the responses
 * themselves come from camera-json.h, metrics.h and MjpegStreamer. */
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "camera-registry.h"
#include "config.h"
#include "metrics.h"
#include "mjpeg-streamer.h"

namespace gpurtsp::launch::http {

struct HttpServerOptions {
  ListenAddress listen;
  std::optional<std::string> token; /* bearer token for /api and /metrics; none: open */
  unsigned max_connections = 512;   /* more are answered 503 and closed */
  unsigned max_streams = 64;        /* concurrent stream.mjpg responses */
  unsigned stream_poll_ms = 20;     /* how often streams look for new frames */
  std::size_t max_uri_bytes = 2048;
  std::size_t max_header_bytes = 16384; /* all request headers together */
  ShardInfo shard;                      /* which cameras this process serves */
  /* PUT, PATCH and DELETE /api/cameras/{id}; nullptr: refused (403). */
  CameraEditor *editor = nullptr;
  std::size_t max_body_bytes = 65536; /* of a PUT or PATCH */
};

class HttpServer {
public:
  HttpServer(const CameraRegistry &registry, HttpServerOptions options);
  /* Closes every connection. */
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  /* Binds the listen address and starts serving. Throws std::runtime_error
   * naming the address when it cannot bind. */
  void start();

  /* After start(): the bound port (the chosen one for port 0) and the URL
   * to print, e.g. "http://127.0.0.1:8080/". */
  std::uint16_t port() const { return port_; }
  std::string url() const;

  /* True for addresses reachable from other hosts ("*", non-loopback IPs). */
  static bool exposes_beyond_loopback(const ListenAddress &listen);

  HttpStats stats() const;
  MjpegStreamer::Stats stream_stats() const { return streamer_.stats(); }

private:
  void handle(SoupServerMessage *msg);
  bool authorized(SoupServerMessage *msg) const;
  void serve_static(SoupServerMessage *msg, std::string_view path);
  void serve_camera(SoupServerMessage *msg, std::string_view rest);
  void change_camera(SoupServerMessage *msg, std::string_view method, const std::string &id);
  void serve_shard(SoupServerMessage *msg);
  /* frame.jpg: the full frame, or with ?width= no more than the camera's
   * thumbnail width, the thumbnail (docs/http-api.md). */
  void serve_frame(SoupServerMessage *msg, const CameraStatus &status);
  unsigned prune_connections();

  static void on_early(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                       gpointer self);
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                         gpointer self);
  static gboolean on_incoming(GSocketService *, GSocketConnection *connection, GObject *,
                              gpointer self);

  template <typename T>
  struct Unref {
    void operator()(T *object) const { g_object_unref(object); }
  };

  const CameraRegistry &registry_;
  const HttpServerOptions options_;
  /* Accepts connections, counts them, and hands them to server_. */
  std::unique_ptr<GSocketService, Unref<GSocketService>> service_;
  /* Accepted connections; closed ones are pruned on the next accept. */
  std::vector<std::unique_ptr<GSocketConnection, Unref<GSocketConnection>>> connections_;
  std::unique_ptr<SoupServer, Unref<SoupServer>> server_;
  std::uint16_t port_ = 0;
  Nvml nvml_;
  /* Declared after server_: streams end before the server closes connections. */
  MjpegStreamer streamer_;
};

} // namespace gpurtsp::launch::http
