// SPDX-License-Identifier: MIT
/* The read buffer under GstRTSPConnection (rtsp-read-ahead.h): the stream
 * alone, and a real GstRTSPConnection reading interleaved packets and
 * requests cut at every possible place, a receive timeout, a flush that
 * interrupts a blocked receive, and which URLs it applies to. */
#include <gio/gio.h>
#include <gst/rtsp/rtsp.h>
#include <sys/socket.h>

#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rtsp-read-ahead.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using namespace gpurtsp::launch;

namespace {

std::vector<guint8> pattern(size_t size) {
  std::vector<guint8> bytes(size);
  for (size_t i = 0; i < size; i++)
    bytes[i] = guint8(i * 7 + i / 251);
  return bytes;
}

GInputStream *memory_stream(const std::vector<guint8> &bytes) {
  return g_memory_input_stream_new_from_data(g_memdup2(bytes.data(), bytes.size()), bytes.size(),
                                             g_free);
}

void install_or_fail() {
  std::string why;
  fail_unless(install_rtsp_read_ahead(why), "not installed: %s", why.c_str());
}

/* One interleaved RTP packet as it goes over the wire. */
std::string interleaved(guint8 channel, const std::vector<guint8> &payload) {
  std::string wire = {'$', char(channel), char(payload.size() >> 8), char(payload.size() & 0xff)};
  wire.append(payload.begin(), payload.end());
  return wire;
}

/* How a Server writes: random pieces with a pause now and then (reads end
 * mid-packet), or pieces of one size with a pause after each. */
struct Pacing {
  size_t piece = 0; /* 0: random pieces */
  gulong pause_us = 0;
};

/* A server on 127.0.0.1 that accepts one client and writes @wire to it in
 * pieces, by default random ones, pausing now and then so that reads end
 * mid-packet. */
class Server {
public:
  explicit Server(std::string wire, bool hold_open = false, Pacing pacing = {})
      : wire_(std::move(wire)), hold_open_(hold_open), pacing_(pacing) {
    listener_ = g_socket_listener_new();
    port_ = g_socket_listener_add_any_inet_port(listener_, nullptr, nullptr);
    fail_unless(port_ != 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~Server() {
    g_cancellable_cancel(done_);
    thread_.join();
    g_socket_listener_close(listener_);
    g_object_unref(listener_);
    g_object_unref(done_);
  }
  std::string url() const { return "rtsp://127.0.0.1:" + std::to_string(port_) + "/stream"; }

private:
  void serve() {
    GSocketConnection *client = g_socket_listener_accept(listener_, nullptr, done_, nullptr);
    if (!client)
      return;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(client));
    std::mt19937 random(7);
    for (size_t at = 0; at < wire_.size();) {
      const size_t piece =
          std::min<size_t>(wire_.size() - at, pacing_.piece ? pacing_.piece : 1 + random() % 3000);
      if (!g_output_stream_write_all(out, wire_.data() + at, piece, nullptr, nullptr, nullptr))
        break;
      at += piece;
      if (pacing_.piece)
        g_usleep(pacing_.pause_us);
      else if (random() % 4 == 0)
        g_usleep(500);
    }
    if (hold_open_) /* until the test ends */
      while (!g_cancellable_is_cancelled(done_))
        g_usleep(10000);
    g_io_stream_close(G_IO_STREAM(client), nullptr, nullptr);
    g_object_unref(client);
  }

  std::string wire_;
  bool hold_open_;
  Pacing pacing_;
  GSocketListener *listener_ = nullptr;
  guint16 port_ = 0;
  GCancellable *done_ = g_cancellable_new();
  std::thread thread_;
};

/* Connected within @timeout_s, which is also the socket's read timeout. */
GstRTSPConnection *connect_to(const std::string &url, int timeout_s = 5) {
  GstRTSPUrl *parsed = nullptr;
  fail_unless_equals_int(gst_rtsp_url_parse(url.c_str(), &parsed), GST_RTSP_OK);
  GstRTSPConnection *conn = nullptr;
  fail_unless_equals_int(gst_rtsp_connection_create(parsed, &conn), GST_RTSP_OK);
  gst_rtsp_url_free(parsed);
  fail_unless_equals_int(gst_rtsp_connection_connect_usec(conn, timeout_s * G_USEC_PER_SEC),
                         GST_RTSP_OK);
  return conn;
}

} // namespace

GST_START_TEST(test_small_reads_come_from_one_base_read) {
  const std::vector<guint8> bytes = pattern(20000);
  GInputStream *base = memory_stream(bytes);
  GInputStream *stream = rtsp_read_ahead_stream_new(base);
  const size_t reads_before = rtsp_read_ahead_base_reads();
  std::vector<guint8> got;
  const size_t pieces[] = {1, 3, 1400, 4, 1, 9000};
  for (size_t i = 0; got.size() < bytes.size(); i++) {
    guint8 chunk[9000];
    const gssize n =
        g_input_stream_read(stream, chunk, pieces[i % G_N_ELEMENTS(pieces)], nullptr, nullptr);
    fail_unless(n > 0, "read %zd at %zu", n, got.size());
    got.insert(got.end(), chunk, chunk + n);
  }
  fail_unless(got == bytes, "the bytes read differ from the bytes written");
  /* 20,000 bytes < 64 KiB: one read of the base stream served them all. */
  fail_unless_equals_uint64(rtsp_read_ahead_base_reads() - reads_before, 1);
  guint8 more;
  fail_unless_equals_int(g_input_stream_read(stream, &more, 1, nullptr, nullptr), 0);
  g_object_unref(stream);
  g_object_unref(base);
}
GST_END_TEST;

GST_START_TEST(test_large_read_goes_straight_through) {
  const std::vector<guint8> bytes = pattern(3 * kRtspReadAheadBytes);
  GInputStream *base = memory_stream(bytes);
  GInputStream *stream = rtsp_read_ahead_stream_new(base);
  std::vector<guint8> got(2 * kRtspReadAheadBytes);
  fail_unless_equals_int64(g_input_stream_read(stream, got.data(), got.size(), nullptr, nullptr),
                           gssize(got.size()));
  fail_unless(std::equal(got.begin(), got.end(), bytes.begin()));
  g_object_unref(stream);
  g_object_unref(base);
}
GST_END_TEST;

GST_START_TEST(test_buffered_bytes_are_readable_now) {
  const std::vector<guint8> bytes = pattern(100);
  GInputStream *base = memory_stream(bytes);
  GInputStream *stream = rtsp_read_ahead_stream_new(base);
  auto pollable = G_POLLABLE_INPUT_STREAM(stream);
  fail_unless(g_pollable_input_stream_can_poll(pollable));
  guint8 head[10];
  GError *error = nullptr;
  fail_unless_equals_int64(
      g_pollable_input_stream_read_nonblocking(pollable, head, 10, nullptr, &error), 10);
  /* The memory stream is drained; 90 bytes wait in our buffer. */
  fail_unless(g_pollable_input_stream_is_readable(pollable));
  GSource *source = g_pollable_input_stream_create_source(pollable, nullptr);
  bool fired = false;
  g_source_set_callback(source, G_SOURCE_FUNC(+[](GObject *, gpointer data) -> gboolean {
                          *static_cast<bool *>(data) = true;
                          return G_SOURCE_REMOVE;
                        }),
                        &fired, nullptr);
  GMainContext *context = g_main_context_new();
  g_source_attach(source, context);
  for (int i = 0; i < 100 && !fired; i++)
    g_main_context_iteration(context, FALSE);
  fail_unless(fired, "the source of a stream with buffered bytes did not fire");
  g_source_destroy(source);
  g_source_unref(source);
  g_main_context_unref(context);
  g_object_unref(stream);
  g_object_unref(base);
}
GST_END_TEST;

GST_START_TEST(test_which_urls_go_through_it) {
  install_or_fail();
  GProxyResolver *resolver = g_proxy_resolver_get_default();
  const struct {
    const char *uri;
    const char *proxy;
  } cases[] = {
      {"rtsp://camera.example:554/stream", "gpurtsp-read-ahead://camera.example:554"},
      {"rtsp://[::1]:8554/cam0", "gpurtsp-read-ahead://[::1]:8554"},
      /* TLS reads whole records already. */
      {"rtsps://camera.example:322/stream", "direct://"},
      {"http://camera.example:80/", "direct://"},
  };
  for (const auto &c : cases) {
    gchar **proxies = g_proxy_resolver_lookup(resolver, c.uri, nullptr, nullptr);
    fail_unless(proxies && proxies[0], "no answer for %s", c.uri);
    fail_unless_equals_string(proxies[0], c.proxy);
    g_strfreev(proxies);
  }
}
GST_END_TEST;

/* install_rtsp_read_ahead() with @name=@value in the environment, and
 * whether it was installed as @installed says; its why. Installing is once
 * a process, so each test calling this needs a process of its own (CK_FORK,
 * the default); nullopt where this one installed it already. */
static std::optional<std::string> install_with_env(const char *name, const char *value,
                                                   bool installed) {
  if (rtsp_read_ahead_installed())
    return std::nullopt;
  g_setenv(name, value, TRUE);
  std::string why;
  fail_unless_equals_int(install_rtsp_read_ahead(why), installed);
  fail_unless_equals_int(rtsp_read_ahead_installed(), installed);
  g_unsetenv(name);
  return why;
}

GST_START_TEST(test_switched_off) {
  if (const auto why = install_with_env("GPURTSP_RTSP_READ_AHEAD", "0", false))
    fail_unless_equals_string(why->c_str(), "GPURTSP_RTSP_READ_AHEAD=0");
}
GST_END_TEST;

/* Interleaved packets of every size class, with RTSP requests between them,
 * cut into random pieces on the wire: every message comes out whole and in
 * order, and with far fewer reads of the socket than messages. */
GST_START_TEST(test_connection_reads_messages_whole) {
  install_or_fail();
  std::mt19937 random(3);
  std::string wire;
  std::vector<std::vector<guint8>> payloads;
  const int kPackets = 600;
  for (int i = 0; i < kPackets; i++) {
    const size_t size = i % 50 == 0 ? 60000 : 1 + random() % 1500;
    std::vector<guint8> payload = pattern(size);
    payload[0] = guint8(i);
    wire += interleaved(guint8(i % 4), payload);
    payloads.push_back(std::move(payload));
    if (i % 100 == 99)
      wire += "SET_PARAMETER rtsp://127.0.0.1/stream RTSP/1.0\r\nCSeq: " + std::to_string(i) +
              "\r\nContent-Type: text/parameters\r\nContent-Length: 12\r\n\r\nposition: 1\n";
  }
  Server server(wire);
  GstRTSPConnection *conn = connect_to(server.url());
  const size_t reads_before = rtsp_read_ahead_base_reads();
  int packets = 0, requests = 0;
  while (packets < kPackets || requests < kPackets / 100) {
    GstRTSPMessage message = {};
    const GstRTSPResult res = gst_rtsp_connection_receive_usec(conn, &message, 5 * G_USEC_PER_SEC);
    fail_unless(res == GST_RTSP_OK, "after %d packets and %d requests: %s", packets, requests,
                gst_rtsp_strresult(res));
    if (message.type == GST_RTSP_MESSAGE_DATA) {
      guint8 channel = 0;
      gst_rtsp_message_parse_data(&message, &channel);
      guint8 *data = nullptr;
      guint size = 0;
      gst_rtsp_message_get_body(&message, &data, &size);
      fail_unless_equals_int(channel, packets % 4);
      /* GstRTSPConnection adds a NUL after a body (rtspsrc strips it). */
      fail_unless(size == payloads[packets].size() + 1 &&
                      memcmp(data, payloads[packets].data(), size - 1) == 0,
                  "packet %d: %u bytes, not the %zu written + 1", packets, size,
                  payloads[packets].size());
      packets++;
    } else {
      /* A request of the server's, as keep-alives and parameters come. */
      fail_unless_equals_int(message.type, GST_RTSP_MESSAGE_REQUEST);
      gchar *cseq = nullptr;
      gst_rtsp_message_get_header(&message, GST_RTSP_HDR_CSEQ, &cseq, 0);
      const std::string expected_cseq = std::to_string(packets - 1);
      fail_unless_equals_string(cseq, expected_cseq.c_str());
      guint8 *body = nullptr;
      guint size = 0;
      gst_rtsp_message_get_body(&message, &body, &size);
      fail_unless(size == 13 && memcmp(body, "position: 1\n", 12) == 0);
      requests++;
    }
    gst_rtsp_message_unset(&message);
  }
  fail_unless_equals_int(requests, kPackets / 100);
  const size_t reads = rtsp_read_ahead_base_reads() - reads_before;
  g_print("%d packets and %d requests in %zu reads of the socket\n", packets, requests, reads);
  /* Without the buffer: at least 3 reads a packet. */
  fail_unless(reads > 0 && reads < size_t(kPackets), "%zu reads for %d packets", reads, kPackets);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

GST_START_TEST(test_receive_times_out) {
  install_or_fail();
  Server server("", true);
  /* The socket's timeout, 1 s from the connect, bounds a receive: as without
   * the buffer, GstRTSPConnection only ever raises it. */
  GstRTSPConnection *conn = connect_to(server.url(), 1);
  GstRTSPMessage message = {};
  const gint64 started = g_get_monotonic_time();
  fail_unless_equals_int(gst_rtsp_connection_receive_usec(conn, &message, 300000),
                         GST_RTSP_ETIMEOUT);
  const gint64 waited = g_get_monotonic_time() - started;
  fail_unless(waited >= 900000 && waited < 2 * G_USEC_PER_SEC, "waited %" G_GINT64_FORMAT " us",
              waited);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* A receive of @conn (30 s timeout) on a thread of its own, flushed after
 * @after_us: how long the receive went on after the flush. It must have
 * ended interrupted. */
static gint64 flush_blocked_receive(GstRTSPConnection *conn, gulong after_us) {
  GstRTSPResult res = GST_RTSP_OK;
  std::thread receiver([&] {
    GstRTSPMessage message = {};
    res = gst_rtsp_connection_receive_usec(conn, &message, 30 * G_USEC_PER_SEC);
    gst_rtsp_message_unset(&message);
  });
  g_usleep(after_us);
  const gint64 flushed = g_get_monotonic_time();
  gst_rtsp_connection_flush(conn, TRUE);
  receiver.join();
  const gint64 took = g_get_monotonic_time() - flushed;
  fail_unless_equals_int(res, GST_RTSP_EINTR);
  return took;
}

GST_START_TEST(test_flush_interrupts_a_blocked_receive) {
  install_or_fail();
  Server server("", true);
  GstRTSPConnection *conn = connect_to(server.url());
  const gint64 took = flush_blocked_receive(conn, 200000);
  fail_unless(took < G_USEC_PER_SEC, "the flush took %" G_GINT64_FORMAT " us", took);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* Receives @count interleaved packets of @conn; fails on anything else. */
static void receive_packets(GstRTSPConnection *conn, int count) {
  for (int i = 0; i < count; i++) {
    GstRTSPMessage message = {};
    const GstRTSPResult res = gst_rtsp_connection_receive_usec(conn, &message, 5 * G_USEC_PER_SEC);
    fail_unless(res == GST_RTSP_OK, "packet %d: %s", i, gst_rtsp_strresult(res));
    fail_unless_equals_int(message.type, GST_RTSP_MESSAGE_DATA);
    gst_rtsp_message_unset(&message);
  }
}

/* Packets that trickle in (one every 5 ms, as a camera's frames do every
 * 33 ms) are read together: after a read that emptied the socket the next
 * one waits out the interval, so the reads are at most one per interval
 * however the host is loaded (none fills the buffer). Without it each
 * packet is a read of its own (printed, as a load can merge them). */
GST_START_TEST(test_trickling_packets_read_together) {
  install_or_fail();
  const int kPackets = 100;
  std::string wire;
  for (int i = 0; i < kPackets; i++)
    wire += interleaved(0, pattern(200));
  const size_t packet_size = wire.size() / kPackets;
  for (const unsigned interval_ms : {0u, 50u}) {
    set_rtsp_read_ahead_coalesce_ms(interval_ms);
    fail_unless_equals_int(rtsp_read_ahead_coalesce_ms(), interval_ms);
    Server server(wire, true, Pacing{packet_size, 5000});
    GstRTSPConnection *conn = connect_to(server.url());
    const size_t reads_before = rtsp_read_ahead_base_reads();
    const gint64 started = g_get_monotonic_time();
    receive_packets(conn, kPackets);
    const double elapsed_ms = double(g_get_monotonic_time() - started) / 1000;
    const size_t reads = rtsp_read_ahead_base_reads() - reads_before;
    g_print("interval %u ms: %d packets in %zu reads over %.0f ms\n", interval_ms, kPackets, reads,
            elapsed_ms);
    if (interval_ms > 0)
      fail_unless(double(reads) <= elapsed_ms / interval_ms + 2,
                  "%zu reads in %.0f ms at one per %u ms at most", reads, elapsed_ms, interval_ms);
    gst_rtsp_connection_free(conn);
  }
  /* Capped: a second's wait is the most a read is ever held back. */
  set_rtsp_read_ahead_coalesce_ms(60000);
  fail_unless_equals_int(rtsp_read_ahead_coalesce_ms(), kMaxRtspCoalesceMs);
}
GST_END_TEST;

/* A fast stream through a receive window smaller than the buffer: no read
 * fills the buffer, but none is small, so none waits (waiting after each
 * would hold the stream to a window a second here). */
GST_START_TEST(test_fast_stream_never_waits) {
  install_or_fail();
  set_rtsp_read_ahead_coalesce_ms(kMaxRtspCoalesceMs);
  const int kPackets = 3000;
  std::string wire;
  for (int i = 0; i < kPackets; i++)
    wire += interleaved(0, pattern(1400));
  Server server(wire, true, Pacing{kRtspReadAheadBytes, 0});
  GstRTSPConnection *conn = connect_to(server.url());
  GSocket *socket = gst_rtsp_connection_get_read_socket(conn);
  fail_unless(g_socket_set_option(socket, SOL_SOCKET, SO_RCVBUF, 24 * 1024, nullptr));
  const size_t reads_before = rtsp_read_ahead_base_reads();
  const gint64 started = g_get_monotonic_time();
  for (int i = 0; i < kPackets; i++) {
    receive_packets(conn, 1);
    fail_unless(g_get_monotonic_time() - started < 20 * G_USEC_PER_SEC,
                "%d of %d packets after 20 s: reads wait", i, kPackets);
  }
  g_print("%d packets (%zu bytes) in %zu reads over %.0f ms\n", kPackets, wire.size(),
          rtsp_read_ahead_base_reads() - reads_before,
          double(g_get_monotonic_time() - started) / 1000);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* A flush ends the wait between reads as it ends a blocked receive. */
GST_START_TEST(test_flush_interrupts_the_wait_between_reads) {
  install_or_fail();
  Server server(interleaved(0, pattern(100)), true);
  GstRTSPConnection *conn = connect_to(server.url());
  receive_packets(conn, 1); /* a small read: the next one waits */
  set_rtsp_read_ahead_coalesce_ms(kMaxRtspCoalesceMs);
  const gint64 took = flush_blocked_receive(conn, 100000);
  fail_unless(took < kMaxRtspCoalesceMs * 1000 / 2, "the flush took %" G_GINT64_FORMAT " us", took);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* A keyframe camera's stream: a description naming H.264 on payload type
 * 96, then keyframes (SPS + IDR) with @deltas P-slice packets after each,
 * @keyframes times; RTP sequence numbers from 0. The description comes in
 * a server's ANNOUNCE, which GstRTSPConnection parses without having sent
 * a request (the filter reads any message's SDP; rtspsrc gets it in the
 * DESCRIBE reply, as the launcher tests over TCP show). */
static std::string keyframe_camera_wire(int keyframes, int deltas) {
  const std::string sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
  std::string wire = "ANNOUNCE rtsp://127.0.0.1/stream RTSP/1.0\r\nCSeq: 2\r\n"
                     "Content-Type: application/sdp\r\nContent-Length: " +
                     std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
  guint16 seq = 0;
  guint32 timestamp = 0;
  auto add = [&](std::vector<guint8> payload) {
    std::vector<guint8> rtp = {0x80,
                               96,
                               guint8(seq >> 8),
                               guint8(seq),
                               guint8(timestamp >> 24),
                               guint8(timestamp >> 16),
                               guint8(timestamp >> 8),
                               guint8(timestamp),
                               1,
                               2,
                               3,
                               4};
    rtp.insert(rtp.end(), payload.begin(), payload.end());
    wire += interleaved(0, rtp);
    seq++;
  };
  for (int k = 0; k < keyframes; k++) {
    add({0x67, 0x42, 0x00, 0x1f}); /* SPS */
    add({0x65, 0x88, 0x84, 0x21}); /* IDR slice */
    for (int d = 0; d < deltas; d++) {
      timestamp += 3000;
      add({0x41, 0xe0, 0x11, 0x22}); /* P slice */
    }
    timestamp += 3000;
  }
  return wire;
}

/* The RTP packets @conn receives until @count came or the stream went
 * quiet: their sequence numbers and first payload bytes (NAL headers). */
static std::vector<std::pair<guint16, guint8>> receive_rtp(GstRTSPConnection *conn, size_t count) {
  std::vector<std::pair<guint16, guint8>> got;
  while (got.size() < count) {
    GstRTSPMessage message = {};
    const GstRTSPResult res = gst_rtsp_connection_receive_usec(conn, &message, G_USEC_PER_SEC);
    if (res != GST_RTSP_OK)
      break;
    if (message.type == GST_RTSP_MESSAGE_DATA) {
      guint8 *data = nullptr;
      guint size = 0;
      gst_rtsp_message_get_body(&message, &data, &size);
      fail_unless(size > 12);
      got.emplace_back(guint16((data[2] << 8) | data[3]), data[12]);
    }
    gst_rtsp_message_unset(&message);
  }
  return got;
}

/* Connections to a keyframe camera's server drop the P slices' packets
 * before GstRTSPConnection parses them, renumber the rest gaplessly and
 * count the drops; the resolver asks the proxy for it by the user name. */
GST_START_TEST(test_keyframe_camera_drops_delta_packets) {
  install_or_fail();
  const int kKeyframes = 5, kDeltas = 29;
  Server server(keyframe_camera_wire(kKeyframes, kDeltas), true);
  RtspUrlUse camera(server.url(), true);
  const std::string server_uri = server.url().substr(0, server.url().rfind('/'));
  gchar **proxies =
      g_proxy_resolver_lookup(g_proxy_resolver_get_default(), server_uri.c_str(), nullptr, nullptr);
  fail_unless(proxies && g_str_has_prefix(proxies[0], "gpurtsp-read-ahead://keyframes@127.0.0.1:"),
              "%s", proxies ? proxies[0] : "no answer");
  g_strfreev(proxies);
  const std::uint64_t dropped_before = rtsp_read_ahead_packets_dropped();

  GstRTSPConnection *conn = connect_to(server.url());
  const auto got = receive_rtp(conn, 2 * kKeyframes + 1);
  fail_unless_equals_uint64(got.size(), 2 * kKeyframes);
  for (size_t i = 0; i < got.size(); i++) {
    fail_unless_equals_int(got[i].first, int(i));
    fail_unless_equals_int(got[i].second, i % 2 ? 0x65 : 0x67);
  }
  fail_unless_equals_uint64(rtsp_read_ahead_packets_dropped() - dropped_before,
                            kKeyframes * kDeltas);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* Every packet comes when a camera that decodes them all uses the same
 * server (the resolver cannot tell the cameras' connections apart), when
 * the filter is switched off, and for a camera that is not keyframe-only. */
GST_START_TEST(test_keyframe_filter_only_where_safe) {
  install_or_fail();
  const int kKeyframes = 2, kDeltas = 10;
  const size_t all = kKeyframes * (2 + kDeltas);
  for (int round = 0; round < 3; round++) {
    Server server(keyframe_camera_wire(kKeyframes, kDeltas), true);
    std::optional<RtspUrlUse> keyframes, full;
    if (round != 2)
      keyframes.emplace(server.url(), true);
    if (round != 1)
      full.emplace(server.url(), false);
    set_rtsp_read_ahead_filters_keyframes(round != 1);
    const std::uint64_t dropped_before = rtsp_read_ahead_packets_dropped();
    GstRTSPConnection *conn = connect_to(server.url());
    fail_unless_equals_uint64(receive_rtp(conn, all).size(), all);
    fail_unless_equals_uint64(rtsp_read_ahead_packets_dropped(), dropped_before);
    gst_rtsp_connection_free(conn);
  }
  set_rtsp_read_ahead_filters_keyframes(true);
}
GST_END_TEST;

/* A keyframe camera's reader waits between reads only after reads whose
 * packets it dropped: the description before them comes in pieces 5 ms
 * apart without a wait, the P slices that trickle after it (one every 5
 * ms) in at most one read per interval, and the keyframe after them. */
GST_START_TEST(test_keyframe_reader_waits_between_dropped_packets) {
  install_or_fail();
  const unsigned kIntervalMs = 400;
  set_rtsp_read_ahead_keyframe_coalesce_ms(kIntervalMs);
  fail_unless_equals_int(rtsp_read_ahead_keyframe_coalesce_ms(), kIntervalMs);
  /* Every packet of it is 20 bytes: a piece each. */
  const std::string wire = keyframe_camera_wire(1, 0);
  const size_t description = wire.size() - 2 * 20;
  std::string paced = wire.substr(0, description);
  const std::string delta = keyframe_camera_wire(1, 1).substr(wire.size(), 20);
  const int kDeltas = 100;
  for (int i = 0; i < kDeltas; i++)
    paced += delta;
  paced += wire.substr(description);
  Server server(paced, true, Pacing{20, 5000});
  RtspUrlUse camera(server.url(), true);
  GstRTSPConnection *conn = connect_to(server.url());

  const gint64 started = g_get_monotonic_time();
  GstRTSPMessage message = {};
  fail_unless_equals_int(gst_rtsp_connection_receive_usec(conn, &message, 5 * G_USEC_PER_SEC),
                         GST_RTSP_OK);
  fail_unless_equals_int(message.type, GST_RTSP_MESSAGE_REQUEST);
  gst_rtsp_message_unset(&message);
  const gint64 description_us = g_get_monotonic_time() - started;
  fail_unless(description_us < kIntervalMs * 1000,
              "the description took %" G_GINT64_FORMAT " us in %zu pieces", description_us,
              description / 20 + 1);

  const size_t reads_before = rtsp_read_ahead_base_reads();
  const gint64 trickle_started = g_get_monotonic_time();
  /* The keyframe's two packets, after the dropped ones. */
  const auto got = receive_rtp(conn, 2);
  fail_unless_equals_uint64(got.size(), 2);
  const double elapsed_ms = double(g_get_monotonic_time() - trickle_started) / 1000;
  const size_t reads = rtsp_read_ahead_base_reads() - reads_before;
  g_print("keyframe reader: %d dropped packets 5 ms apart in %zu reads over %.0f ms\n", kDeltas,
          reads, elapsed_ms);
  fail_unless(double(reads) <= elapsed_ms / kIntervalMs + 3, "%zu reads in %.0f ms", reads,
              elapsed_ms);
  set_rtsp_read_ahead_keyframe_coalesce_ms(kDefaultRtspKeyframeCoalesceMs);
  gst_rtsp_connection_free(conn);
}
GST_END_TEST;

/* A camera's location and the URI GSocketClient asks the resolver about
 * ("rtsp://host:port") name the same server: credentials, the host's case,
 * rtspt://, the default port and the path do not matter. */
GST_START_TEST(test_camera_urls_match_request_uris) {
  install_or_fail();
  const struct {
    const char *location;
    const char *request_uri;
    bool filtered;
  } cases[] = {
      {"rtsp://admin:secret@Camera.Example:8554/live?ch=1", "rtsp://camera.example:8554", true},
      {"rtspt://camera.example/live", "rtsp://camera.example:554", true},
      {"rtsp://camera.example:8554/live", "rtsp://camera.example:8555", false},
      {"rtsp://camera.example:8554/live", "rtsp://other.example:8554", false},
      {"not a url", "rtsp://camera.example:554", false},
  };
  for (const auto &c : cases) {
    RtspUrlUse camera(c.location, true);
    gchar **proxies =
        g_proxy_resolver_lookup(g_proxy_resolver_get_default(), c.request_uri, nullptr, nullptr);
    fail_unless(proxies && proxies[0]);
    fail_unless_equals_int(strstr(proxies[0], "://keyframes@") != nullptr, c.filtered);
    g_strfreev(proxies);
  }
}
GST_END_TEST;

/* A value that is not a number of milliseconds in range is ignored, said,
 * and the default stays. */
GST_START_TEST(test_bad_interval_ignored) {
  if (const auto why = install_with_env("GPURTSP_RTSP_COALESCE_MS", "5s", true)) {
    fail_unless(why->find("GPURTSP_RTSP_COALESCE_MS=5s ignored") == 0, "%s", why->c_str());
    fail_unless_equals_int(rtsp_read_ahead_coalesce_ms(), kDefaultRtspCoalesceMs);
  }
}
GST_END_TEST;

GST_START_TEST(test_interval_from_environment) {
  if (const auto why = install_with_env("GPURTSP_RTSP_COALESCE_MS", "20", true)) {
    fail_unless_equals_string(why->c_str(), "");
    fail_unless_equals_int(rtsp_read_ahead_coalesce_ms(), 20);
  }
}
GST_END_TEST;

static Suite *rtsp_read_ahead_suite() {
  Suite *s = suite_create("rtsp-read-ahead");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_small_reads_come_from_one_base_read);
  tcase_add_test(tc, test_large_read_goes_straight_through);
  tcase_add_test(tc, test_keyframe_camera_drops_delta_packets);
  tcase_add_test(tc, test_keyframe_filter_only_where_safe);
  tcase_add_test(tc, test_camera_urls_match_request_uris);
  tcase_add_test(tc, test_keyframe_reader_waits_between_dropped_packets);
  tcase_add_test(tc, test_buffered_bytes_are_readable_now);
  tcase_add_test(tc, test_which_urls_go_through_it);
  tcase_add_test(tc, test_switched_off);
  tcase_add_test(tc, test_connection_reads_messages_whole);
  tcase_add_test(tc, test_receive_times_out);
  tcase_add_test(tc, test_flush_interrupts_a_blocked_receive);
  tcase_add_test(tc, test_trickling_packets_read_together);
  tcase_add_test(tc, test_fast_stream_never_waits);
  tcase_add_test(tc, test_flush_interrupts_the_wait_between_reads);
  tcase_add_test(tc, test_bad_interval_ignored);
  tcase_add_test(tc, test_interval_from_environment);
  return s;
}

GST_CHECK_MAIN(rtsp_read_ahead)
