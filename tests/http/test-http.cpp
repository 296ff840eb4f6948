// SPDX-License-Identifier: MIT
/* The launcher's HTTP server against a fake CameraRegistry: every route,
 * authentication, limits, metrics syntax and MJPEG flow control. The server
 * runs on its own thread and main context; the test thread is the client,
 * talking raw HTTP/1.1 over blocking sockets so nothing is normalised away. */
/* Standard headers first: gstcheck.h defines a fail() macro. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gio/gio.h>
#include <gst/check/gstcheck.h>
#include <json-glib/json-glib.h>

#include "camera-json.h"
#include "http-server.h"
#include "http-util.h"
#include "metrics.h"

using namespace gpurtsp::launch;
using namespace gpurtsp::launch::http;

/* Like fail_unless_equals_string, for std::string expressions (whose
 * temporaries that macro would keep pointers into). */
#define assert_strings_equal(actual, expected)                                                     \
  do {                                                                                             \
    const std::string actual_ = (actual);                                                          \
    const std::string expected_ = (expected);                                                      \
    fail_unless(actual_ == expected_, "'%s' is '%s', expected '%s'", #actual, actual_.c_str(),     \
                expected_.c_str());                                                                \
  } while (0)

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

namespace {

/* Cameras whose status and newest frame the test sets from its thread. */
class FakeRegistry final : public CameraRegistry {
public:
  void add(CameraStatus status) {
    std::lock_guard lock(mutex_);
    cameras_.push_back({std::move(status), nullptr, nullptr, -1});
  }
  /* Makes @bytes camera @id's newest JPEG (@thumbnail: thumbnail), arrived
   * now. */
  void set_frame(const std::string &id, const std::string &bytes, bool thumbnail = false) {
    GstBuffer *buffer = gst_buffer_new_memdup(bytes.data(), bytes.size());
    GstCaps *caps = gst_caps_new_empty_simple("image/jpeg");
    gpurtsp::Sample sample(gst_sample_new(buffer, caps, nullptr, nullptr));
    gst_buffer_unref(buffer);
    gst_caps_unref(caps);
    std::lock_guard lock(mutex_);
    for (Entry &entry : cameras_)
      if (entry.status.id == id) {
        (thumbnail ? entry.thumbnail : entry.frame) = std::move(sample);
        entry.arrival_us = g_get_monotonic_time();
      }
  }

  std::vector<CameraStatus> list() const override {
    std::lock_guard lock(mutex_);
    std::vector<CameraStatus> statuses;
    for (const Entry &entry : cameras_)
      statuses.push_back(entry.status);
    return statuses;
  }
  std::optional<CameraStatus> find(std::string_view id) const override {
    std::lock_guard lock(mutex_);
    for (const Entry &entry : cameras_)
      if (entry.status.id == id)
        return entry.status;
    return std::nullopt;
  }
  gpurtsp::Sample latest_jpeg(std::string_view id, std::int64_t &arrival_us) const override {
    std::lock_guard lock(mutex_);
    for (const Entry &entry : cameras_)
      if (entry.status.id == id && entry.frame) {
        arrival_us = entry.arrival_us;
        return gpurtsp::Sample(gst_sample_ref(entry.frame.get()));
      }
    return nullptr;
  }
  gpurtsp::Sample latest_thumbnail(std::string_view id, std::int64_t &arrival_us) const override {
    std::lock_guard lock(mutex_);
    for (const Entry &entry : cameras_)
      if (entry.status.id == id && entry.thumbnail) {
        arrival_us = entry.arrival_us;
        return gpurtsp::Sample(gst_sample_ref(entry.thumbnail.get()));
      }
    return nullptr;
  }

private:
  struct Entry {
    CameraStatus status;
    gpurtsp::Sample frame;
    gpurtsp::Sample thumbnail;
    std::int64_t arrival_us;
  };
  mutable std::mutex mutex_; /* guards cameras_ */
  std::vector<Entry> cameras_;
};

CameraStatus status(const std::string &id, CameraState state = CameraState::Streaming) {
  CameraStatus status;
  status.id = id;
  status.state = state;
  status.frames = 10;
  status.fps = 5.0;
  status.last_frame_age_ms = 120;
  status.width = 640;
  status.height = 360;
  status.codec = "h264";
  status.decoder = "software";
  status.reconnects = 2;
  status.last_error = "stalled";
  return status;
}

/* An HttpServer on its own thread and main context. */
class TestServer {
public:
  TestServer(const CameraRegistry &registry, HttpServerOptions options) {
    options.listen.host = "127.0.0.1";
    options.listen.port = 0;
    thread_ = std::thread([this, &registry, options] { run(registry, options); });
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return server_ != nullptr; });
  }
  ~TestServer() {
    call([this] { g_main_loop_quit(loop_); });
    thread_.join();
  }

  std::uint16_t port() const { return port_; }

  /* Runs @function on the server's thread and waits for it. */
  void call(std::function<void()> function) {
    std::promise<void> done;
    auto task = [&] {
      function();
      done.set_value();
    };
    g_main_context_invoke(
        context_,
        [](gpointer data) -> gboolean {
          (*static_cast<decltype(task) *>(data))();
          return G_SOURCE_REMOVE;
        },
        &task);
    done.get_future().wait();
  }
  MjpegStreamer::Stats stream_stats() {
    MjpegStreamer::Stats stats;
    call([&] { stats = server_->stream_stats(); });
    return stats;
  }

private:
  void run(const CameraRegistry &registry, HttpServerOptions options) {
    context_ = g_main_context_new();
    g_main_context_push_thread_default(context_);
    loop_ = g_main_loop_new(context_, FALSE);
    {
      HttpServer server(registry, std::move(options));
      server.start();
      {
        std::lock_guard lock(mutex_);
        port_ = server.port();
        server_ = &server;
      }
      ready_.notify_all();
      g_main_loop_run(loop_);
    }
    while (g_main_context_iteration(context_, FALSE))
      ;
    g_main_loop_unref(loop_);
    g_main_context_pop_thread_default(context_);
    g_main_context_unref(context_);
  }

  std::thread thread_;
  std::mutex mutex_; /* guards server_ and port_ until ready_ */
  std::condition_variable ready_;
  HttpServer *server_ = nullptr;
  std::uint16_t port_ = 0;
  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers; /* names lower-cased */
  std::string body;
  std::string header(const std::string &name) const {
    auto found = headers.find(name);
    return found == headers.end() ? "" : found->second;
  }
};

GSocketConnection *connect_to(std::uint16_t port) {
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_socket_client_set_timeout(client, 20);
  GError *error = nullptr;
  GSocketConnection *connection =
      g_socket_client_connect_to_host(client, "127.0.0.1", port, nullptr, &error);
  fail_unless(connection, "connect: %s", error ? error->message : "?");
  return connection;
}

void send_all(GSocketConnection *connection, const std::string &data) {
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
  fail_unless(g_output_stream_write_all(out, data.data(), data.size(), nullptr, nullptr, nullptr));
}

/* Status line and headers from @text; returns the offset of the body. */
size_t parse_head(const std::string &text, Reply &reply) {
  const size_t end = text.find("\r\n\r\n");
  fail_unless(end != std::string::npos, "no end of headers in: %s", text.c_str());
  fail_unless(sscanf(text.c_str(), "HTTP/1.1 %d", &reply.status) == 1, "bad status line");
  size_t line = text.find("\r\n") + 2;
  while (line < end) {
    const size_t next = text.find("\r\n", line);
    const std::string header = text.substr(line, next - line);
    const size_t colon = header.find(':');
    std::string name = header.substr(0, colon);
    for (char &c : name)
      c = g_ascii_tolower(c);
    reply.headers[name] = header.substr(header.find_first_not_of(' ', colon + 1));
    line = next + 2;
  }
  return end + 4;
}

std::string read_to_end(GSocketConnection *connection) {
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
  std::string text;
  char buffer[65536];
  gssize n;
  while ((n = g_input_stream_read(in, buffer, sizeof(buffer), nullptr, nullptr)) > 0)
    text.append(buffer, n);
  return text;
}

Reply request(std::uint16_t port, const std::string &method, const std::string &path,
              const std::string &extra_headers = "") {
  g_autoptr(GSocketConnection) connection = connect_to(port);
  send_all(connection, method + " " + path +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
                           "\r\n");
  const std::string text = read_to_end(connection);
  Reply reply;
  reply.body = text.substr(parse_head(text, reply));
  return reply;
}

Reply get(std::uint16_t port, const std::string &path, const std::string &extra_headers = "") {
  return request(port, "GET", path, extra_headers);
}

/* The "error" member of a JSON error body; fails the test when not one. */
std::string error_of(const Reply &reply) {
  fail_unless(reply.header("content-type") == "application/json", "not JSON: %s",
              reply.header("content-type").c_str());
  g_autoptr(JsonParser) parser = json_parser_new();
  fail_unless(json_parser_load_from_data(parser, reply.body.c_str(), -1, nullptr));
  JsonObject *object = json_node_get_object(json_parser_get_root(parser));
  fail_unless(object && json_object_has_member(object, "error"), "no error in %s",
              reply.body.c_str());
  return json_object_get_string_member(object, "error");
}

JsonNode *parse_json(const std::string &text) {
  g_autoptr(JsonParser) parser = json_parser_new();
  fail_unless(json_parser_load_from_data(parser, text.c_str(), -1, nullptr), "bad JSON: %s",
              text.c_str());
  return json_node_copy(json_parser_get_root(parser));
}

} // namespace

GST_START_TEST(test_constant_time_equals) {
  fail_unless(constant_time_equals("s3cret", "s3cret"));
  fail_if(constant_time_equals("s3cret", "s3creT"));
  fail_if(constant_time_equals("s3cret", "x3cret"));
  fail_if(constant_time_equals("s3cret", "s3cre"));
  fail_if(constant_time_equals("s3cret", "s3crets"));
  fail_if(constant_time_equals("s3cret", "s3crets3cret"));
  fail_if(constant_time_equals("s3cret", ""));
  fail_if(constant_time_equals("", "x"));
  fail_unless(constant_time_equals("", ""));
  fail_unless(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  fail_if(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}
GST_END_TEST;

GST_START_TEST(test_parsing_helpers) {
  fail_unless(bearer_token("Bearer abc") == "abc");
  fail_unless(bearer_token("bearer  abc ") == "abc");
  fail_unless(!bearer_token("Basic YWJjOmRlZg=="));
  fail_unless(!bearer_token("Bearer"));
  fail_unless(!bearer_token(nullptr));

  fail_unless(is_valid_camera_id("lobby-1_A"));
  fail_unless(is_valid_camera_id(std::string(64, 'a')));
  fail_if(is_valid_camera_id(std::string(65, 'a')));
  fail_if(is_valid_camera_id(""));
  fail_if(is_valid_camera_id(".."));
  fail_if(is_valid_camera_id("a/b"));
  fail_if(is_valid_camera_id("a b"));

  fail_unless(percent_decode("a%2Fb") == "a/b");
  fail_unless(percent_decode("%41%62") == "Ab");
  fail_unless(!percent_decode("a%2"));
  fail_unless(!percent_decode("a%"));
  fail_unless(!percent_decode("%zz"));
  fail_unless(!percent_decode("a%00b"));

  assert_strings_equal(error_json("say \"hi\""), "{\"error\":\"say \\\"hi\\\"\"}");
}
GST_END_TEST;

GST_START_TEST(test_camera_list_and_one) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  registry.add(status("door", CameraState::Unauthorized));
  TestServer server(registry, {});

  Reply reply = get(server.port(), "/api/cameras");
  fail_unless_equals_int(reply.status, 200);
  assert_strings_equal(reply.header("content-type"), "application/json");
  assert_strings_equal(reply.header("cache-control"), "no-store");
  g_autoptr(JsonNode) root = parse_json(reply.body);
  JsonArray *cameras = json_node_get_array(root);
  fail_unless(cameras);
  fail_unless_equals_int(json_array_get_length(cameras), 2);
  JsonObject *lobby = json_array_get_object_element(cameras, 0);
  assert_strings_equal(json_object_get_string_member(lobby, "id"), "lobby");
  assert_strings_equal(json_object_get_string_member(lobby, "state"), "streaming");
  fail_unless_equals_int(json_object_get_int_member(lobby, "frames"), 10);
  fail_unless_equals_int(json_object_get_int_member(lobby, "last_frame_age_ms"), 120);
  fail_unless_equals_int(json_object_get_int_member(lobby, "width"), 640);
  fail_unless_equals_int(json_object_get_int_member(lobby, "height"), 360);
  assert_strings_equal(json_object_get_string_member(lobby, "codec"), "h264");
  assert_strings_equal(json_object_get_string_member(lobby, "decoder"), "software");
  fail_unless_equals_int(json_object_get_int_member(lobby, "gpu"), -1);
  fail_unless_equals_int(json_object_get_int_member(lobby, "reconnects"), 2);
  assert_strings_equal(json_object_get_string_member(lobby, "last_error"), "stalled");
  fail_unless(json_object_has_member(lobby, "fps"));
  fail_unless_equals_int(json_object_get_int_member(lobby, "corrupt_frames_dropped"), 0);
  fail_unless_equals_int(json_object_get_int_member(lobby, "thumbnail_width"), 0);
  fail_unless_equals_int(json_object_get_size(lobby), 14);
  assert_strings_equal(
      json_object_get_string_member(json_array_get_object_element(cameras, 1), "state"),
      "unauthorized");

  reply = get(server.port(), "/api/cameras/door");
  fail_unless_equals_int(reply.status, 200);
  g_autoptr(JsonNode) door = parse_json(reply.body);
  assert_strings_equal(json_object_get_string_member(json_node_get_object(door), "id"), "door");

  reply = get(server.port(), "/api/cameras/garage");
  fail_unless_equals_int(reply.status, 404);
  assert_strings_equal(error_of(reply), "unknown camera");
  reply = get(server.port(), "/api/cameras/garage/frame.jpg");
  fail_unless_equals_int(reply.status, 404);
  assert_strings_equal(error_of(reply), "unknown camera");
}
GST_END_TEST;

GST_START_TEST(test_camera_json_nulls) {
  CameraStatus fresh;
  fresh.id = "new";
  fresh.decoder = "nvidia";
  fresh.gpu = 1;
  g_autoptr(JsonNode) root = parse_json(camera_json(fresh));
  JsonObject *object = json_node_get_object(root);
  fail_unless(json_object_get_null_member(object, "last_frame_age_ms"));
  fail_unless(json_object_get_null_member(object, "codec"));
  fail_unless(json_object_get_null_member(object, "last_error"));
  assert_strings_equal(json_object_get_string_member(object, "state"), "connecting");
  fail_unless_equals_int(json_object_get_int_member(object, "gpu"), 1);
}
GST_END_TEST;

GST_START_TEST(test_frame_jpg) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  TestServer server(registry, {});

  Reply reply = get(server.port(), "/api/cameras/lobby/frame.jpg");
  fail_unless_equals_int(reply.status, 503);
  assert_strings_equal(error_of(reply), "no frame yet");
  assert_strings_equal(reply.header("retry-after"), "1");

  const std::string jpeg = "\xff\xd8 not really a JPEG \xff\xd9";
  registry.set_frame("lobby", jpeg);
  g_usleep(30 * 1000);
  reply = get(server.port(), "/api/cameras/lobby/frame.jpg");
  fail_unless_equals_int(reply.status, 200);
  assert_strings_equal(reply.header("content-type"), "image/jpeg");
  assert_strings_equal(reply.header("cache-control"), "no-store");
  fail_unless(reply.body == jpeg);
  const std::string age = reply.header("x-frame-age-ms");
  fail_if(age.empty());
  const long age_ms = std::stol(age);
  fail_unless(age_ms >= 30 && age_ms < 5000, "age %ld", age_ms);
}
GST_END_TEST;

GST_START_TEST(test_frame_jpg_width) {
  FakeRegistry registry;
  CameraStatus lobby = status("lobby");
  lobby.thumbnail_width = 320;
  registry.add(lobby);
  registry.add(status("door")); /* makes no thumbnails */
  TestServer server(registry, {});
  const std::string full = "\xff\xd8 full \xff\xd9", small = "\xff\xd8 thumbnail \xff\xd9";
  registry.set_frame("lobby", full);
  registry.set_frame("door", full);

  /* No thumbnail yet: the full frame, whatever the width. */
  fail_unless(get(server.port(), "/api/cameras/lobby/frame.jpg?width=320").body == full);
  registry.set_frame("lobby", small, true);
  /* Any width up to the thumbnail's gets the thumbnail; wider, the frame. */
  for (const char *width : {"1", "160", "320", "0320"}) {
    const Reply reply =
        get(server.port(), std::string("/api/cameras/lobby/frame.jpg?width=") + width);
    fail_unless_equals_int(reply.status, 200);
    fail_unless(reply.body == small, "width=%s: %s", width, reply.body.c_str());
    assert_strings_equal(reply.header("content-type"), "image/jpeg");
    fail_if(reply.header("x-frame-age-ms").empty());
  }
  for (const char *path :
       {"/api/cameras/lobby/frame.jpg?width=321", "/api/cameras/lobby/frame.jpg?width=7680",
        "/api/cameras/lobby/frame.jpg", "/api/cameras/lobby/frame.jpg?",
        "/api/cameras/door/frame.jpg?width=160"})
    fail_unless(get(server.port(), path).body == full, "%s", path);

  /* Bad queries: 400 and what is wrong. */
  const std::string range = "width: expected a whole number of pixels from 1 to 7680";
  const std::pair<const char *, std::string> bad[] = {
      {"width=0", range},
      {"width=7681", range},
      {"width=-5", range},
      {"width=32x", range},
      {"width=", range},
      {"width", range},
      {"width=99999999999", range},
      {"width=%33%32%30%00", range},
      {"width=320&width=160", "width given twice"},
      {"size=320", "unknown query parameter \"size\" (frame.jpg takes only width)"},
      {"width=320&t=1", "unknown query parameter \"t\" (frame.jpg takes only width)"},
  };
  for (const auto &[query, error] : bad) {
    const Reply reply = get(server.port(), std::string("/api/cameras/lobby/frame.jpg?") + query);
    fail_unless_equals_int(reply.status, 400);
    assert_strings_equal(error_of(reply), error.c_str());
  }
  /* Percent-encoded digits are digits. */
  fail_unless(get(server.port(), "/api/cameras/lobby/frame.jpg?%77idth=%33%32%30").body == small);
}
GST_END_TEST;

GST_START_TEST(test_bad_paths) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  registry.set_frame("lobby", "jpeg");
  TestServer server(registry, {});

  for (const char *path :
       {"/api/cameras/..%2F..%2Fetc", "/api/cameras/..%2F..%2Fetc%2Fpasswd/frame.jpg",
        "/api/cameras/a%00b", "/api/cameras/lobby%20", "/api/cameras/lobby%2Fframe.jpg"}) {
    Reply reply = get(server.port(), path);
    fail_unless(reply.status == 400, "%s: %d", path, reply.status);
    fail_unless(error_of(reply).starts_with("invalid camera id"), "%s", path);
  }
  /* A malformed escape fails libsoup's URI parsing: a 400 without a body. */
  fail_unless_equals_int(get(server.port(), "/api/cameras/lob%ZZby/frame.jpg").status, 400);
  /* GUri may resolve the escaped dots as a dot segment: either way, no camera. */
  Reply dots = get(server.port(), "/api/cameras/%2e%2e/frame.jpg");
  fail_unless(dots.status == 400 || dots.status == 404, "%d", dots.status);
  error_of(dots);
  const std::string long_id = "/api/cameras/" + std::string(65, 'a');
  fail_unless_equals_int(get(server.port(), long_id).status, 400);

  for (const char *path : {"/api/cameras/../../etc/passwd", "/api/cameras/lobby/../../etc",
                           "/api/cameras/lobby/frame.jpg/x", "/api/cameras/lobby/x",
                           "/api/cameras/", "/api", "/etc/passwd", "/index.html", "/metricsx"}) {
    Reply reply = get(server.port(), path);
    fail_unless_equals_int(reply.status, 404);
    assert_strings_equal(error_of(reply), "not found");
  }
}
GST_END_TEST;

GST_START_TEST(test_methods) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  TestServer server(registry, {});
  for (const char *method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
    for (const char *path : {"/api/cameras", "/api/cameras/lobby/frame.jpg", "/metrics", "/"}) {
      Reply reply = request(server.port(), method, path, "Content-Length: 0\r\n");
      fail_unless_equals_int(reply.status, 405);
      assert_strings_equal(reply.header("allow"), "GET");
      assert_strings_equal(error_of(reply), "method not allowed");
    }
  fail_unless_equals_int(request(server.port(), "POST", "/nowhere", "Content-Length: 0\r\n").status,
                         404);
}
GST_END_TEST;

GST_START_TEST(test_auth) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  registry.set_frame("lobby", "jpeg");
  HttpServerOptions options;
  options.token = "s3cret-token";
  TestServer server(registry, options);

  for (const char *path : {"/api/cameras", "/api/cameras/lobby", "/api/cameras/lobby/frame.jpg",
                           "/api/cameras/lobby/stream.mjpg", "/metrics"}) {
    Reply reply = get(server.port(), path);
    fail_unless_equals_int(reply.status, 401);
    assert_strings_equal(reply.header("www-authenticate"), "Bearer realm=\"gpurtsp\"");
    assert_strings_equal(error_of(reply), "missing bearer token");

    reply = get(server.port(), path, "Authorization: Bearer s3cret-tokeN\r\n");
    fail_unless_equals_int(reply.status, 401);
    fail_unless(reply.header("www-authenticate").find("invalid_token") != std::string::npos);
    assert_strings_equal(error_of(reply), "invalid token");

    reply = get(server.port(), path, "Authorization: Basic czNjcmV0LXRva2Vu\r\n");
    fail_unless_equals_int(reply.status, 401);
  }
  Reply reply = get(server.port(), "/api/cameras", "Authorization: Bearer s3cret-token\r\n");
  fail_unless_equals_int(reply.status, 200);
  reply =
      get(server.port(), "/api/cameras/lobby/frame.jpg", "Authorization: Bearer s3cret-token\r\n");
  fail_unless_equals_int(reply.status, 200);
  fail_unless(reply.body == "jpeg");
  reply = get(server.port(), "/metrics", "authorization: bearer s3cret-token\r\n");
  fail_unless_equals_int(reply.status, 200);

  /* Open: health checks, and the page that asks for the token. */
  fail_unless_equals_int(get(server.port(), "/healthz").status, 200);
  fail_unless_equals_int(get(server.port(), "/").status, 200);
  /* Unknown paths do not reveal whether they would need the token. */
  fail_unless_equals_int(get(server.port(), "/secret").status, 404);
}
GST_END_TEST;

GST_START_TEST(test_healthz_and_wall) {
  FakeRegistry registry;
  TestServer server(registry, {});
  Reply reply = get(server.port(), "/healthz");
  fail_unless_equals_int(reply.status, 200);
  assert_strings_equal(reply.body, "{\"status\":\"ok\"}");

  reply = get(server.port(), "/");
  fail_unless_equals_int(reply.status, 200);
  assert_strings_equal(reply.header("content-type"), "text/html; charset=utf-8");
  fail_unless(reply.header("content-security-policy").find("default-src 'self'") !=
              std::string::npos);
  fail_unless(reply.body.find("<script src=\"wall.js\"") != std::string::npos);
  reply = get(server.port(), "/wall.js");
  fail_unless_equals_int(reply.status, 200);
  fail_unless(reply.header("content-type").starts_with("text/javascript"));
  fail_unless(reply.body.find("api/cameras") != std::string::npos);
  fail_unless(reply.body.find("frame.jpg") != std::string::npos);
  reply = get(server.port(), "/wall.css");
  fail_unless_equals_int(reply.status, 200);
  fail_unless(reply.header("content-type").starts_with("text/css"));
}
GST_END_TEST;

/* Every line a comment (# HELP / # TYPE) or a sample "name{labels} value",
 * every sample of a family declared by # TYPE before it. Returns the samples
 * by "name{labels}". */
std::map<std::string, double> parse_prometheus(const std::string &text) {
  static const char *kSample =
      "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(?:\\\\.|[^\"\\\\])*\""
      "(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:\\\\.|[^\"\\\\])*\")*\\})? "
      "([-+]?(?:[0-9]+(?:\\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|NaN|Inf))$";
  g_autoptr(GRegex) sample = g_regex_new(kSample, G_REGEX_OPTIMIZE, GRegexMatchFlags(0), nullptr);
  g_autoptr(GRegex) help = g_regex_new("^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \\S.*$",
                                       GRegexCompileFlags(0), GRegexMatchFlags(0), nullptr);
  g_autoptr(GRegex) type =
      g_regex_new("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                  GRegexCompileFlags(0), GRegexMatchFlags(0), nullptr);
  fail_unless(sample && help && type);
  fail_unless(!text.empty() && text.back() == '\n', "metrics must end with a newline");

  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  g_auto(GStrv) lines = g_strsplit(text.c_str(), "\n", -1);
  for (guint i = 0; lines[i + 1]; i++) {
    const char *line = lines[i];
    g_autoptr(GMatchInfo) match = nullptr;
    if (g_regex_match(type, line, GRegexMatchFlags(0), &match)) {
      g_autofree char *name = g_match_info_fetch(match, 1);
      fail_if(types.contains(name), "TYPE of %s twice", name);
      types[name] = "declared";
      continue;
    }
    if (g_regex_match(help, line, GRegexMatchFlags(0), nullptr))
      continue;
    g_clear_pointer(&match, g_match_info_free);
    fail_unless(g_regex_match(sample, line, GRegexMatchFlags(0), &match),
                "not a Prometheus line: '%s'", line);
    g_autofree char *name = g_match_info_fetch(match, 1);
    g_autofree char *labels = g_match_info_fetch(match, 2);
    g_autofree char *value = g_match_info_fetch(match, 3);
    fail_unless(types.contains(name), "sample of %s before its TYPE", name);
    const std::string key = std::string(name) + labels;
    fail_if(samples.contains(key), "duplicate sample %s", key.c_str());
    samples[key] = g_ascii_strtod(value, nullptr);
  }
  return samples;
}

GST_START_TEST(test_metrics) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  CameraStatus fresh;
  fresh.id = "new";
  registry.add(fresh);
  TestServer server(registry, {});

  Reply reply = get(server.port(), "/metrics");
  fail_unless_equals_int(reply.status, 200);
  fail_unless(reply.header("content-type").starts_with("text/plain; version=0.0.4"));
  const auto samples = parse_prometheus(reply.body);
  fail_unless_equals_float(samples.at("gpurtsp_camera_frames_total{camera=\"lobby\"}"), 10);
  fail_unless_equals_float(samples.at("gpurtsp_camera_reconnects_total{camera=\"lobby\"}"), 2);
  fail_unless_equals_float(samples.at("gpurtsp_camera_state{camera=\"lobby\",state=\"streaming\"}"),
                           1);
  fail_unless_equals_float(samples.at("gpurtsp_camera_state{camera=\"lobby\",state=\"failed\"}"),
                           0);
  fail_unless_equals_float(samples.at("gpurtsp_camera_state{camera=\"new\",state=\"connecting\"}"),
                           1);
  fail_unless_equals_float(samples.at("gpurtsp_camera_last_frame_age_seconds{camera=\"lobby\"}"),
                           0.12);
  fail_if(samples.contains("gpurtsp_camera_last_frame_age_seconds{camera=\"new\"}"));
  fail_unless(samples.at("process_resident_memory_bytes") > 1e6);
  fail_unless(samples.at("process_cpu_seconds_total") >= 0);
  fail_unless(samples.at("gpurtsp_http_connections") >= 1);

  /* GPU lines, with a name that needs escaping. */
  std::vector<GpuMemory> gpus = {{0, "NVIDIA \"H100\" \\ 80GB", 1 << 30, 80ull << 30, 37, 5},
                                 {1, "L4", 0, 24ull << 30, std::nullopt, std::nullopt}};
  ProcessStats process{1.5, 4096};
  /* Per-GPU totals as the camera manager sums them; one shard of four. */
  Totals totals;
  totals.rtp_filters = {.instances = 2,
                        .packets_passed = 30,
                        .packets_dropped = 430,
                        .keyframes_cut = 4,
                        .socket_filters = 1};
  KeyframeDecoderTotals keyframes{.instances = 3,
                                  .decoded = 40,
                                  .dropped_busy = 2,
                                  .dropped_non_intra = 9,
                                  .pool = {.users = 3,
                                           .sessions = 2,
                                           .max_sessions = 8,
                                           .creation_failures = 1,
                                           .waits = 7,
                                           .timeouts = 1},
                                  .pool_output_frames = 12};
  totals.gpus = {{.gpu = 0,
                  .cameras = 5,
                  .keyframe_cameras = 3,
                  .decoders_in_use = 2,
                  .keyframe_decoders = keyframes,
                  .jpeg_encoders = {.instances = 4,
                                    .encodes = 900,
                                    .dropped_busy = 5,
                                    .pool = {.users = 6,
                                             .sessions = 2,
                                             .max_sessions = 4,
                                             .creation_failures = 1,
                                             .waits = 11,
                                             .timeouts = 0}}},
                 {.gpu = 1, .cameras = 1, .keyframe_cameras = 0, .decoders_in_use = 1}};
  const ShardInfo shard{{2, 4}, 17};
  const auto text = metrics_text(registry.list(), process, gpus, HttpStats{3, 1}, shard, totals);
  const auto offline = parse_prometheus(text);
  fail_unless_equals_float(offline.at("gpurtsp_gpu_cameras{gpu=\"0\"}"), 5);
  fail_unless_equals_float(offline.at("gpurtsp_gpu_keyframe_cameras{gpu=\"0\"}"), 3);
  fail_unless_equals_float(offline.at("gpurtsp_gpu_decoders_in_use{gpu=\"1\"}"), 1);
  fail_unless_equals_float(offline.at("gpurtsp_keyframe_pool_sessions{gpu=\"0\"}"), 2);
  fail_unless_equals_float(offline.at("gpurtsp_keyframe_decoder_dropped_busy_total{gpu=\"0\"}"), 2);
  fail_unless_equals_float(offline.at("gpurtsp_keyframe_pool_creation_failures_total{gpu=\"0\"}"),
                           1);
  fail_unless_equals_float(offline.at("gpurtsp_keyframe_pool_waits_total{gpu=\"0\"}"), 7);
  fail_unless_equals_float(offline.at("gpurtsp_keyframe_pool_timeouts_total{gpu=\"0\"}"), 1);
  /* A GPU without keyframe cameras has no pool figures. */
  fail_if(offline.contains("gpurtsp_keyframe_pool_sessions{gpu=\"1\"}"));
  /* gpujpegenc's encoder pool, likewise only where a camera has one. */
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_users{gpu=\"0\"}"), 6);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_sessions{gpu=\"0\"}"), 2);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_max_sessions{gpu=\"0\"}"), 4);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_creation_failures_total{gpu=\"0\"}"), 1);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_waits_total{gpu=\"0\"}"), 11);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_pool_timeouts_total{gpu=\"0\"}"), 0);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_encodes_total{gpu=\"0\"}"), 900);
  fail_unless_equals_float(offline.at("gpurtsp_jpeg_dropped_busy_total{gpu=\"0\"}"), 5);
  fail_if(offline.contains("gpurtsp_jpeg_pool_sessions{gpu=\"1\"}"));
  fail_unless(text.find("# TYPE gpurtsp_jpeg_encodes_total counter\n") != std::string::npos);
  fail_unless(text.find("# TYPE gpurtsp_jpeg_pool_sessions gauge\n") != std::string::npos);
  fail_unless_equals_float(offline.at("gpurtsp_rtp_filter_packets_total{result=\"dropped\"}"), 430);
  fail_unless_equals_float(offline.at("gpurtsp_rtp_filter_keyframes_cut_total"), 4);
  fail_unless_equals_float(offline.at("gpurtsp_rtp_socket_filters"), 1);
  fail_unless_equals_float(offline.at("gpurtsp_gpu_decoder_utilization_ratio{gpu=\"0\",name="
                                      "\"NVIDIA \\\"H100\\\" \\\\ 80GB\"}"),
                           0.37);
  fail_if(offline.contains("gpurtsp_gpu_jpeg_utilization_ratio{gpu=\"1\",name=\"L4\"}"));
  fail_unless_equals_float(offline.at("gpurtsp_shard_info{index=\"2\",count=\"4\"}"), 1);
  fail_unless_equals_float(offline.at("gpurtsp_shard_config_cameras"), 17);
  /* Without shards or GPU cameras, none of those families appear. */
  fail_if(samples.contains("gpurtsp_shard_cameras"));
  fail_if(text.find("gpurtsp_gpu_cameras{") == std::string::npos);
  fail_unless_equals_float(
      offline.at("gpurtsp_gpu_memory_used_bytes{gpu=\"0\",name=\"NVIDIA \\\"H100\\\" \\\\ 80GB\"}"),
      1 << 30);
  fail_unless_equals_float(offline.at("gpurtsp_gpu_memory_total_bytes{gpu=\"1\",name=\"L4\"}"),
                           double(24ull << 30));
  fail_unless_equals_float(offline.at("process_cpu_seconds_total"), 1.5);
  fail_unless_equals_float(offline.at("gpurtsp_http_mjpeg_streams"), 1);

  /* The parser itself rejects what it must. */
  for (const char *bad :
       {"metric 1", "metric{x=1} 2\n", "1metric 2\n", "# TYPE m counter\nm 1 2 3\n",
        "# TYPE m counter\nm{a=\"b} 1\n", "# TYPE m counter\nm abc\n"}) {
    /* Each is checked in a child so the expected failure does not end the test. */
    const pid_t child = fork();
    if (child == 0) {
      freopen("/dev/null", "w", stderr);
      parse_prometheus(bad);
      _exit(0);
    }
    int wait_status = 0;
    waitpid(child, &wait_status, 0);
    fail_if(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0, "parser accepted: %s", bad);
  }
}
GST_END_TEST;

GST_START_TEST(test_request_limits) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  TestServer server(registry, {});

  Reply reply = get(server.port(), "/api/cameras?" + std::string(3000, 'x'));
  fail_unless_equals_int(reply.status, 414);
  assert_strings_equal(error_of(reply), "request URI too long");

  reply = get(server.port(), "/api/cameras", "X-Big: " + std::string(20000, 'y') + "\r\n");
  fail_unless_equals_int(reply.status, 431);
  assert_strings_equal(error_of(reply), "request headers too large");

  reply = request(server.port(), "GET", "/api/cameras", "Content-Length: 5\r\n\r\nhello");
  fail_unless_equals_int(reply.status, 413);
  assert_strings_equal(error_of(reply), "request body not accepted");
  assert_strings_equal(reply.header("connection"), "close");

  fail_unless_equals_int(get(server.port(), "/api/cameras").status, 200);
}
GST_END_TEST;

GST_START_TEST(test_connection_limit) {
  FakeRegistry registry;
  HttpServerOptions options;
  options.max_connections = 3;
  TestServer server(registry, options);

  std::vector<GSocketConnection *> idle;
  for (int i = 0; i < 3; i++)
    idle.push_back(connect_to(server.port()));
  g_usleep(200 * 1000); /* accepted by the server thread */
  Reply reply = get(server.port(), "/healthz");
  fail_unless_equals_int(reply.status, 503);
  assert_strings_equal(error_of(reply), "too many connections");

  g_io_stream_close(G_IO_STREAM(idle.back()), nullptr, nullptr);
  g_object_unref(idle.back());
  idle.pop_back();
  g_usleep(200 * 1000); /* the server notices the close */
  fail_unless_equals_int(get(server.port(), "/healthz").status, 200);
  for (GSocketConnection *connection : idle)
    g_object_unref(connection);
}
GST_END_TEST;

namespace {

/* Reads a stream.mjpg response incrementally: de-chunks the body and splits
 * the multipart parts. */
class MjpegReader {
public:
  MjpegReader(std::uint16_t port, const std::string &path) : connection_(connect_to(port)) {
    send_all(connection_, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
  ~MjpegReader() { g_object_unref(connection_); }

  /* Reads until the headers are in; returns them. */
  Reply head() {
    while (raw_.find("\r\n\r\n") == std::string::npos)
      fill();
    Reply reply;
    raw_.erase(0, parse_head(raw_, reply));
    return reply;
  }

  /* The next part's JPEG bytes. */
  std::string next_part() {
    for (;;) {
      const size_t end = body_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::string head = body_.substr(0, end);
        fail_unless(head.starts_with(std::string("--") + MjpegStreamer::kBoundary + "\r\n"),
                    "part starts with %s", head.substr(0, 40).c_str());
        fail_unless(head.find("Content-Type: image/jpeg") != std::string::npos);
        const size_t at = head.find("Content-Length: ");
        fail_unless(at != std::string::npos);
        const size_t length = std::stoul(head.substr(at + 16));
        if (body_.size() >= end + 4 + length + 2) {
          std::string jpeg = body_.substr(end + 4, length);
          fail_unless(body_.compare(end + 4 + length, 2, "\r\n") == 0);
          body_.erase(0, end + 4 + length + 2);
          return jpeg;
        }
      }
      dechunk();
    }
  }

private:
  void fill() {
    char buffer[65536];
    const gssize n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(connection_)),
                                         buffer, sizeof(buffer), nullptr, nullptr);
    fail_unless(n > 0, "stream ended");
    raw_.append(buffer, n);
  }
  /* Moves one chunk from raw_ to body_. */
  void dechunk() {
    size_t line_end;
    while ((line_end = raw_.find("\r\n")) == std::string::npos)
      fill();
    const size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
    fail_unless(size > 0, "stream ended");
    while (raw_.size() < line_end + 2 + size + 2)
      fill();
    body_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
  }

  GSocketConnection *connection_;
  std::string raw_;  /* as received */
  std::string body_; /* de-chunked, not yet split into parts */
};

/* Sets a new, numbered frame of @size bytes every @period_ms until stopped. */
class FrameProducer {
public:
  FrameProducer(FakeRegistry &registry, std::string id, size_t size, unsigned period_ms)
      : thread_([this, &registry, id, size, period_ms] {
          while (!stop_) {
            std::string frame(size, 'j');
            const std::string number = std::to_string(frames_++);
            frame.replace(0, number.size(), number);
            registry.set_frame(id, frame);
            g_usleep(period_ms * 1000);
          }
        }) {}
  ~FrameProducer() {
    stop_ = true;
    thread_.join();
  }
  unsigned frames() const { return frames_; }

private:
  std::atomic<bool> stop_ = false;
  std::atomic<unsigned> frames_ = 0;
  std::thread thread_;
};

} // namespace

GST_START_TEST(test_mjpeg_parts) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  TestServer server(registry, {});
  FrameProducer producer(registry, "lobby", 1000, 30);

  MjpegReader reader(server.port(), "/api/cameras/lobby/stream.mjpg");
  Reply head = reader.head();
  fail_unless_equals_int(head.status, 200);
  assert_strings_equal(head.header("content-type"),
                       "multipart/x-mixed-replace; boundary=gpurtspframe");
  assert_strings_equal(head.header("cache-control"), "no-store");
  std::string previous;
  for (int i = 0; i < 5; i++) {
    const std::string part = reader.next_part();
    fail_unless_equals_int(part.size(), 1000);
    fail_unless(part != previous, "part %d repeats the previous frame", i);
    previous = part;
  }
  fail_unless_equals_int(server.stream_stats().streams, 1);
}
GST_END_TEST;

GST_START_TEST(test_mjpeg_stream_cap) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  registry.set_frame("lobby", "jpeg");
  HttpServerOptions options;
  options.max_streams = 2;
  TestServer server(registry, options);
  MjpegReader reader_a(server.port(), "/api/cameras/lobby/stream.mjpg");
  MjpegReader reader_b(server.port(), "/api/cameras/lobby/stream.mjpg");
  fail_unless_equals_int(reader_a.head().status, 200);
  fail_unless_equals_int(reader_b.head().status, 200);
  Reply reply = get(server.port(), "/api/cameras/lobby/stream.mjpg");
  fail_unless_equals_int(reply.status, 503);
  assert_strings_equal(error_of(reply), "too many streams");
  fail_unless(reader_a.next_part() == "jpeg");
}
GST_END_TEST;

/* A client that never reads: the server keeps at most one part queued for
 * it, skips the frames it cannot take, and keeps serving everyone else. */
GST_START_TEST(test_mjpeg_stalled_client) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  TestServer server(registry, {});
  constexpr size_t kFrameBytes = 512 * 1024;
  FrameProducer producer(registry, "lobby", kFrameBytes, 5);

  g_autoptr(GSocketConnection) stalled = connect_to(server.port());
  g_socket_set_option(g_socket_connection_get_socket(stalled), SOL_SOCKET, SO_RCVBUF, 4096,
                      nullptr);
  send_all(stalled, "GET /api/cameras/lobby/stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n");

  MjpegReader reader(server.port(), "/api/cameras/lobby/stream.mjpg");
  fail_unless_equals_int(reader.head().status, 200);
  const std::uint64_t rss_before = read_process_stats()->resident_bytes;
  /* Every part the reader gets was offered to the stalled client too:
   * 250 parts are 128 MB the stalled client must not pile up. */
  unsigned parts = 0;
  size_t max_queued = 0;
  while (parts < 250) {
    fail_unless_equals_int(reader.next_part().size(), kFrameBytes);
    parts++;
    max_queued = std::max(max_queued, server.stream_stats().queued_bytes);
  }
  const auto stats = server.stream_stats();
  fail_unless_equals_int(stats.streams, 2);
  fail_unless(stats.frames_skipped > 200, "only %" G_GUINT64_FORMAT " frames skipped",
              stats.frames_skipped);
  /* At most one part per client is ever queued. */
  fail_unless(max_queued <= 2 * (kFrameBytes + 256), "%zu bytes queued", max_queued);
  /* And nothing else holds the frames the stalled client skipped. ASan keeps
   * freed blocks in a quarantine of 256 MB, so RSS says nothing there. */
  const std::uint64_t rss_after = read_process_stats()->resident_bytes;
  if (!kUnderAddressSanitizer)
    fail_unless(rss_after < rss_before + 48 * 1024 * 1024,
                "RSS grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, rss_before, rss_after);

  /* The server still answers promptly. */
  const gint64 before = g_get_monotonic_time();
  fail_unless_equals_int(get(server.port(), "/healthz").status, 200);
  fail_unless(g_get_monotonic_time() - before < G_USEC_PER_SEC);
}
GST_END_TEST;

GST_START_TEST(test_many_clients) {
  FakeRegistry registry;
  registry.add(status("lobby"));
  const std::string jpeg(20000, 'q');
  registry.set_frame("lobby", jpeg);
  TestServer server(registry, {});

  constexpr int kClients = 200;
  std::vector<GSocketConnection *> connections;
  for (int i = 0; i < kClients; i++)
    connections.push_back(connect_to(server.port()));
  for (int i = 0; i < kClients; i++)
    send_all(connections[i], std::string("GET ") +
                                 (i % 2 ? "/api/cameras/lobby/frame.jpg" : "/api/cameras") +
                                 " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (int i = 0; i < kClients; i++) {
    const std::string text = read_to_end(connections[i]);
    Reply reply;
    reply.body = text.substr(parse_head(text, reply));
    fail_unless_equals_int(reply.status, 200);
    if (i % 2)
      fail_unless(reply.body == jpeg);
    else
      fail_unless(reply.body.starts_with("[{\"id\":\"lobby\""));
    g_object_unref(connections[i]);
  }
}
GST_END_TEST;

GST_START_TEST(test_exposure_check) {
  ListenAddress address;
  for (const char *host : {"127.0.0.1", "localhost", "::1", "127.0.0.2"}) {
    address.host = host;
    fail_if(HttpServer::exposes_beyond_loopback(address), "%s", host);
  }
  for (const char *host : {"*", "0.0.0.0", "::", "192.168.1.10"}) {
    address.host = host;
    fail_unless(HttpServer::exposes_beyond_loopback(address), "%s", host);
  }
}
GST_END_TEST;

static Suite *http_suite() {
  Suite *suite = suite_create("http");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(suite, tc);
  tcase_add_test(tc, test_constant_time_equals);
  tcase_add_test(tc, test_parsing_helpers);
  tcase_add_test(tc, test_camera_list_and_one);
  tcase_add_test(tc, test_camera_json_nulls);
  tcase_add_test(tc, test_frame_jpg);
  tcase_add_test(tc, test_frame_jpg_width);
  tcase_add_test(tc, test_bad_paths);
  tcase_add_test(tc, test_methods);
  tcase_add_test(tc, test_auth);
  tcase_add_test(tc, test_healthz_and_wall);
  tcase_add_test(tc, test_metrics);
  tcase_add_test(tc, test_request_limits);
  tcase_add_test(tc, test_connection_limit);
  tcase_add_test(tc, test_mjpeg_parts);
  tcase_add_test(tc, test_mjpeg_stream_cap);
  tcase_add_test(tc, test_mjpeg_stalled_client);
  tcase_add_test(tc, test_many_clients);
  tcase_add_test(tc, test_exposure_check);
  return suite;
}

GST_CHECK_MAIN(http);
