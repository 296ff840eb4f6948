// SPDX-License-Identifier: MIT
#include "http-server.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "camera-json.h"
extern "C" {
#include "gpurtsp-wall-resources.h"
}
#include "http-util.h"
#include "log.h"

namespace gpurtsp::launch::http {

namespace {

constexpr const char *kJson = "application/json";
constexpr const char *kInvalidCameraId = "invalid camera id (expected 1 to 64 of A-Z a-z 0-9 _ -)";
constexpr const char *kResourcePrefix = "/org/gpurtsp/launch/wall";
constexpr std::string_view kIndex = "index.html"; /* served as "/" only */
constexpr std::string_view kCamerasPrefix = "/api/cameras/";
constexpr std::string_view kChangeMethods[] = {"PUT", "PATCH", "DELETE"};
/* RFC 6585; libsoup names no constant for it. */
constexpr guint kStatusHeaderFieldsTooLarge = 431;

void respond(SoupServerMessage *msg, guint status, const char *content_type, GBytes *body) {
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace(headers, "Referrer-Policy", "no-referrer");
  if (!soup_message_headers_get_one(headers, "Cache-Control"))
    soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_server_message_set_status(
      msg, status,
      status == kStatusHeaderFieldsTooLarge ? "Request Header Fields Too Large" : nullptr);
  /* What soup_server_message_set_response() does, without copying @body. */
  soup_message_headers_replace(headers, "Content-Type", content_type);
  if (g_bytes_get_size(body) > 0) /* append_bytes() refuses empty bytes */
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), body);
}

void respond(SoupServerMessage *msg, guint status, const char *content_type,
             std::string_view body) {
  g_autoptr(GBytes) bytes = g_bytes_new(body.data(), body.size());
  respond(msg, status, content_type, bytes);
}

void respond_error(SoupServerMessage *msg, guint status, std::string_view message) {
  respond(msg, status, kJson, error_json(message));
}

std::int64_t age_ms(std::int64_t arrival_us) {
  return std::max<std::int64_t>(0, (g_get_monotonic_time() - arrival_us) / 1000);
}

/* The URL paths of the wall's files, as the GResource lists them. */
const std::set<std::string, std::less<>> &static_paths() {
  static const std::set<std::string, std::less<>> paths = [] {
    std::set<std::string, std::less<>> found{"/"};
    g_auto(GStrv) names = g_resource_enumerate_children(
        gpurtsp_wall_get_resource(), kResourcePrefix, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
    for (char **name = names; name && *name; name++)
      if (*name != kIndex)
        found.insert(std::string("/") + *name);
    return found;
  }();
  return paths;
}

/* A frame's buffer, mapped for reading while a response sends it. */
struct MappedFrame {
  Sample sample;
  GstMapInfo map;

  static void unmap(gpointer data) {
    std::unique_ptr<MappedFrame> frame(static_cast<MappedFrame *>(data));
    gst_buffer_unmap(gst_sample_get_buffer(frame->sample.get()), &frame->map);
  }
};

/* @sample's data as bytes that keep it mapped (no copy) until released;
 * nullptr when there is no buffer or it cannot be mapped. */
GBytes *map_sample(Sample sample) {
  GstBuffer *buffer = sample ? gst_sample_get_buffer(sample.get()) : nullptr;
  auto frame = std::make_unique<MappedFrame>();
  if (!buffer || !gst_buffer_map(buffer, &frame->map, GST_MAP_READ))
    return nullptr;
  frame->sample = std::move(sample);
  const GstMapInfo &map = frame->map;
  return g_bytes_new_with_free_func(map.data, map.size, MappedFrame::unmap, frame.release());
}

} // namespace

HttpServer::HttpServer(const CameraRegistry &registry, HttpServerOptions options)
    : registry_(registry), options_(std::move(options)),
      server_(soup_server_new("server-header", "gpurtsp-launch/" GPURTSP_VERSION " ",
                              /* Paths as sent: ids are decoded and checked here, so
                               * "..%2F" never reaches a lookup as a separator. */
                              "raw-paths", TRUE, nullptr)),
      streamer_(registry, options_.max_streams, options_.stream_poll_ms) {
  soup_server_add_early_handler(server_.get(), nullptr, on_early, this, nullptr);
  soup_server_add_handler(server_.get(), nullptr, on_request, this, nullptr);
}

HttpServer::~HttpServer() {
  if (service_) {
    g_socket_service_stop(service_.get());
    g_socket_listener_close(G_SOCKET_LISTENER(service_.get()));
    g_signal_handlers_disconnect_by_data(service_.get(), this);
  }
}

bool HttpServer::exposes_beyond_loopback(const ListenAddress &listen) {
  if (listen.host == "localhost")
    return false;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string(listen.host.c_str());
  return !address || !g_inet_address_get_is_loopback(address);
}

void HttpServer::start() {
  service_.reset(g_socket_service_new());
  GSocketListener *listener = G_SOCKET_LISTENER(service_.get());
  /* GLib's default of 10 pending connections resets clients when a few
   * dozen connect at once (a camera wall, scripts changing cameras). */
  g_socket_listener_set_backlog(listener, int(std::min(options_.max_connections, 4096u)));
  g_autoptr(GError) error = nullptr;
  const ListenAddress &listen = options_.listen;
  if (listen.host == "*") {
    if (listen.port == 0)
      port_ = g_socket_listener_add_any_inet_port(listener, nullptr, &error);
    else if (g_socket_listener_add_inet_port(listener, listen.port, nullptr, &error))
      port_ = listen.port;
  } else {
    const char *host = listen.host == "localhost" ? "127.0.0.1" : listen.host.c_str();
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(host);
    if (!inet)
      throw std::runtime_error("http: invalid listen address " + listen.to_string());
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(inet, listen.port);
    g_autoptr(GSocketAddress) bound = nullptr;
    if (g_socket_listener_add_address(listener, address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, nullptr, &bound, &error))
      port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  }
  if (error)
    throw std::runtime_error("http: cannot listen on " + listen.to_string() + ": " +
                             error->message);
  g_signal_connect(service_.get(), "incoming", G_CALLBACK(on_incoming), this);
  g_socket_service_start(service_.get());

  LAUNCH_INFO("http: listening on %s", url().c_str());
  if (!options_.token && exposes_beyond_loopback(listen))
    LAUNCH_WARNING("http: %s is reachable from other hosts and http.token is not set: "
                   "anyone who can connect sees every camera",
                   listen.to_string().c_str());
}

std::string HttpServer::url() const {
  const std::string &host = options_.listen.host;
  std::string shown = host == "*" ? "0.0.0.0" : host;
  if (shown.find(':') != std::string::npos)
    shown = "[" + shown + "]";
  return "http://" + shown + ":" + std::to_string(port_) + "/";
}

unsigned HttpServer::prune_connections() {
  std::erase_if(connections_, [](const auto &connection) {
    return g_io_stream_is_closed(G_IO_STREAM(connection.get()));
  });
  return unsigned(connections_.size());
}

HttpStats HttpServer::stats() const {
  HttpStats stats;
  stats.connections =
      unsigned(std::count_if(connections_.begin(), connections_.end(), [](const auto &connection) {
        return !g_io_stream_is_closed(G_IO_STREAM(connection.get()));
      }));
  stats.mjpeg_streams = streamer_.stats().streams;
  return stats;
}

gboolean HttpServer::on_incoming(GSocketService *, GSocketConnection *connection, GObject *,
                                 gpointer data) {
  auto *self = static_cast<HttpServer *>(data);
  if (self->prune_connections() >= self->options_.max_connections) {
    /* Best effort: the reply fits any socket buffer, so a non-blocking send
     * either delivers it or the client was gone anyway. */
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: 31\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        "{\"error\":\"too many connections\"}";
    GSocket *socket = g_socket_connection_get_socket(connection);
    g_socket_set_blocking(socket, FALSE);
    g_socket_send(socket, kBusy.data(), kBusy.size(), nullptr, nullptr);
    g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
    LAUNCH_DEBUG("http: connection refused: %u open", self->options_.max_connections);
    return TRUE;
  }
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(connection, nullptr);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, nullptr);
  if (!local || !remote) {
    g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
    return TRUE;
  }
  self->connections_.emplace_back(G_SOCKET_CONNECTION(g_object_ref(connection)));
  soup_server_accept_iostream(self->server_.get(), G_IO_STREAM(connection), local, remote, nullptr);
  return TRUE;
}

/* After the request headers, before any body: limits. A GET has no body, so
 * one is refused unread (its bytes are discarded, not accumulated). */
void HttpServer::on_early(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                          gpointer data) {
  auto *self = static_cast<HttpServer *>(data);
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);

  g_autofree char *uri = g_uri_to_string(soup_server_message_get_uri(msg));
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  std::size_t header_bytes = 0;
  SoupMessageHeadersIter iter;
  soup_message_headers_iter_init(&iter, headers);
  const char *name, *value;
  while (soup_message_headers_iter_next(&iter, &name, &value))
    header_bytes += strlen(name) + strlen(value) + 4;

  /* Only a change to a camera has a body, of a known, small length. */
  const std::string_view method = soup_server_message_get_method(msg);
  const std::string_view path = g_uri_get_path(soup_server_message_get_uri(msg));
  const bool takes_body = (method == "PUT" || method == "PATCH") &&
                          path.starts_with(kCamerasPrefix) &&
                          path.find('/', kCamerasPrefix.size()) == std::string_view::npos;

  const char *reason = nullptr;
  guint status = 0;
  if (strlen(uri) > self->options_.max_uri_bytes) {
    status = SOUP_STATUS_REQUEST_URI_TOO_LONG;
    reason = "request URI too long";
  } else if (header_bytes > self->options_.max_header_bytes) {
    status = kStatusHeaderFieldsTooLarge;
    reason = "request headers too large";
  } else if (takes_body) {
    if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH) {
      status = SOUP_STATUS_LENGTH_REQUIRED;
      reason = "Content-Length required";
    } else if (std::size_t(soup_message_headers_get_content_length(headers)) >
               self->options_.max_body_bytes) {
      status = SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
      reason = "request body too large";
    } else {
      soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), TRUE);
    }
  } else if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CHUNKED ||
             soup_message_headers_get_content_length(headers) > 0) {
    status = SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
    reason = "request body not accepted";
  }
  if (status) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                 "close");
    respond_error(msg, status, reason);
  }
}

void HttpServer::on_request(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *,
                            gpointer data) {
  static_cast<HttpServer *>(data)->handle(msg);
}

bool HttpServer::authorized(SoupServerMessage *msg) const {
  if (!options_.token)
    return true;
  const char *header =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  const auto presented = bearer_token(header);
  if (presented && constant_time_equals(*options_.token, *presented))
    return true;
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                               presented ? "Bearer realm=\"gpurtsp\", error=\"invalid_token\""
                                         : "Bearer realm=\"gpurtsp\"");
  respond_error(msg, SOUP_STATUS_UNAUTHORIZED,
                presented ? "invalid token" : "missing bearer token");
  return false;
}

void HttpServer::handle(SoupServerMessage *msg) {
  const std::string_view path = g_uri_get_path(soup_server_message_get_uri(msg));
  const bool is_get = std::string_view(soup_server_message_get_method(msg)) == SOUP_METHOD_GET;
  const bool is_static = static_paths().contains(path);
  const bool is_probe = path == "/healthz" || path == "/readyz";
  const bool is_api = path == "/metrics" || path == "/api/cameras" || path == "/api/shard" ||
                      (path.starts_with(kCamerasPrefix) && path.size() > kCamerasPrefix.size());
  if (!is_probe && !is_static && !is_api) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
    return;
  }
  /* /api/cameras/{id} itself also takes changes. */
  const std::string_view method = soup_server_message_get_method(msg);
  const bool is_camera = path.starts_with(kCamerasPrefix) &&
                         path.find('/', kCamerasPrefix.size()) == std::string_view::npos;
  const bool is_change =
      is_camera && std::find(std::begin(kChangeMethods), std::end(kChangeMethods), method) !=
                       std::end(kChangeMethods);
  if (!is_get && !is_change) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                 is_camera ? "GET, PUT, PATCH, DELETE" : "GET");
    respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
    return;
  }
  if (is_change) {
    /* Changes are never open to anyone who can connect. */
    if (!options_.token) {
      respond_error(msg, SOUP_STATUS_FORBIDDEN,
                    "changes need a token: set http.token in the config");
      return;
    }
    if (!authorized(msg))
      return;
    const std::optional<std::string> id = percent_decode(path.substr(kCamerasPrefix.size()));
    if (!id || !is_valid_camera_id(*id)) {
      respond_error(msg, SOUP_STATUS_BAD_REQUEST, kInvalidCameraId);
      return;
    }
    change_camera(msg, method, *id);
    return;
  }
  if (path == "/healthz") {
    respond(msg, SOUP_STATUS_OK, kJson, "{\"status\":\"ok\"}");
    return;
  }
  /* Ready once every camera has been started: a Kubernetes readiness probe
   * then sends traffic only to shards that serve all their cameras. */
  if (path == "/readyz") {
    if (registry_.started())
      respond(msg, SOUP_STATUS_OK, kJson, "{\"status\":\"ready\"}");
    else
      respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, kJson, "{\"status\":\"starting\"}");
    return;
  }
  /* The page and its script hold no camera data; they ask for the token. */
  if (is_static) {
    serve_static(msg, path);
    return;
  }
  if (!authorized(msg))
    return;
  if (path == "/metrics") {
    respond(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
            metrics_text(registry_.list(), read_process_stats(), nvml_.memory(), stats(),
                         options_.shard, registry_.totals()));
  } else if (path == "/api/cameras") {
    const std::vector<CameraStatus> cameras = registry_.list();
    if (options_.shard.shard.count > 1) {
      SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
      soup_message_headers_replace(headers, "X-Gpurtsp-Shard",
                                   options_.shard.shard.to_string().c_str());
      soup_message_headers_replace(headers, "X-Gpurtsp-Shard-Cameras",
                                   std::to_string(cameras.size()).c_str());
    }
    respond(msg, SOUP_STATUS_OK, kJson, cameras_json(cameras));
  } else if (path == "/api/shard") {
    serve_shard(msg);
  } else {
    serve_camera(msg, path.substr(kCamerasPrefix.size()));
  }
}

void HttpServer::serve_shard(SoupServerMessage *msg) {
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  if (!query) {
    respond(msg, SOUP_STATUS_OK, kJson, shard_json(options_.shard, registry_.list().size()));
    return;
  }
  g_autoptr(GHashTable) params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, nullptr);
  const char *id = params ? static_cast<const char *>(g_hash_table_lookup(params, "id")) : nullptr;
  if (!params || !id || g_hash_table_size(params) != 1) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "expected no query or ?id=CAMERA_ID");
    return;
  }
  if (!is_valid_camera_id(id)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, kInvalidCameraId);
    return;
  }
  respond(msg, SOUP_STATUS_OK, kJson, shard_of_json(options_.shard, id));
}

void HttpServer::serve_static(SoupServerMessage *msg, std::string_view path) {
  const std::string name = path == "/" ? "/" + std::string(kIndex) : std::string(path);
  const std::string resource_path = kResourcePrefix + name;
  g_autoptr(GBytes) bytes = g_resource_lookup_data(
      gpurtsp_wall_get_resource(), resource_path.c_str(), G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!bytes) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
    return;
  }
  const char *type = name.ends_with(".html") ? "text/html; charset=utf-8"
                     : name.ends_with(".js") ? "text/javascript; charset=utf-8"
                                             : "text/css; charset=utf-8";
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Content-Security-Policy",
                               "default-src 'self'; img-src 'self' blob:; "
                               "frame-ancestors 'none'");
  soup_message_headers_replace(headers, "Cache-Control", "no-cache");
  gsize size = 0;
  const auto *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  respond(msg, SOUP_STATUS_OK, type, std::string_view(data, size));
}

void HttpServer::serve_camera(SoupServerMessage *msg, std::string_view rest) {
  /* {id}, {id}/frame.jpg or {id}/stream.mjpg, the id percent-decoded. */
  const size_t slash = rest.find('/');
  const std::string_view raw_id = rest.substr(0, slash);
  const std::string_view resource =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (slash != std::string_view::npos && resource != "frame.jpg" && resource != "stream.mjpg") {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
    return;
  }
  const std::optional<std::string> id = percent_decode(raw_id);
  if (!id || !is_valid_camera_id(*id)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, kInvalidCameraId);
    return;
  }
  const std::optional<CameraStatus> status = registry_.find(*id);
  if (!status) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "unknown camera");
    return;
  }
  if (resource.empty()) {
    respond(msg, SOUP_STATUS_OK, kJson, camera_json(*status));
  } else if (resource == "frame.jpg") {
    serve_frame(msg, *status);
  } else if (streamer_.full()) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many streams");
  } else {
    streamer_.add(msg, *id);
  }
}

void HttpServer::change_camera(SoupServerMessage *msg, std::string_view method,
                               const std::string &id) {
  if (!options_.editor) {
    respond_error(msg, SOUP_STATUS_FORBIDDEN,
                  "changes need a launcher run with --config and without --shard");
    return;
  }
  CameraEditor::Result result;
  if (method == SOUP_METHOD_DELETE) {
    result = options_.editor->remove(id);
  } else {
    g_autoptr(GBytes) body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    gsize size = 0;
    const auto *data = static_cast<const char *>(g_bytes_get_data(body, &size));
    result = options_.editor->put(id, std::string_view(data ? data : "", size), method == "PATCH");
  }
  if (result.status >= 400) {
    respond(msg, result.status, kJson, change_error_json(result.error, result.key, result.reason));
    return;
  }
  if (result.status == SOUP_STATUS_NO_CONTENT) {
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
    return;
  }
  const std::optional<CameraStatus> status = registry_.find(id);
  respond(msg, result.status, kJson, status ? camera_json(*status) : "{}");
}

void HttpServer::serve_frame(SoupServerMessage *msg, const CameraStatus &status) {
  std::optional<int> width;
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  if (query && *query) {
    std::string error;
    width = parse_frame_width(query, error);
    if (!width) {
      respond_error(msg, SOUP_STATUS_BAD_REQUEST, error);
      return;
    }
  }
  std::int64_t arrival_us = -1;
  g_autoptr(GBytes) jpeg = nullptr;
  /* A thumbnail for any width it covers; the full frame for a wider one,
   * and where the camera makes no thumbnail (yet). */
  if (width && *width <= status.thumbnail_width)
    jpeg = map_sample(registry_.latest_thumbnail(status.id, arrival_us));
  if (!jpeg)
    jpeg = map_sample(registry_.latest_jpeg(status.id, arrival_us));
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  if (!jpeg) {
    soup_message_headers_replace(headers, "Retry-After", "1");
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "no frame yet");
    return;
  }
  soup_message_headers_replace(headers, "X-Frame-Age-Ms",
                               std::to_string(age_ms(arrival_us)).c_str());
  respond(msg, SOUP_STATUS_OK, "image/jpeg", jpeg);
}

} // namespace gpurtsp::launch::http
