// SPDX-License-Identifier: MIT
#include "rtsp-read-ahead.h"

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "rtp/rtsp-interleaved-filter.h"

namespace gpurtsp::launch {
namespace {

std::atomic<std::size_t> base_reads{0};
std::atomic<bool> installed{false};
std::atomic<unsigned> coalesce_ms{gpurtsp::launch::kDefaultRtspCoalesceMs};
std::atomic<unsigned> keyframe_coalesce_ms{gpurtsp::launch::kDefaultRtspKeyframeCoalesceMs};
std::atomic<bool> filters_keyframes{true};

std::atomic<std::uint64_t> keyframe_packets_dropped{0};

/* How many cameras use each RTSP server (url_key()), and of those how many
 * need every packet. */
struct ServerUsers {
  unsigned keyframes_only = 0;
  unsigned all_packets = 0;
};
std::mutex server_users_lock;
std::map<std::string, ServerUsers> server_users; /* guarded by server_users_lock */

/* The user name of a proxy URI that asks for the keyframe filter. */
constexpr const char *kKeyframesUser = "keyframes";

/* "host:port" of an RTSP URL: the same for a camera's location
 * (credentials, rtspt://, no port) and the URI GSocketClient asks the
 * resolver about ("rtsp://host:port", no path); empty when @uri is no RTSP
 * URL. */
std::string url_key(const char *uri) {
  GUri *parsed = g_uri_parse(uri, G_URI_FLAGS_ENCODED, nullptr);
  if (!parsed)
    return {};
  std::string key;
  const char *scheme = g_uri_get_scheme(parsed);
  const char *host = g_uri_get_host(parsed);
  if (host && *host &&
      (g_ascii_strcasecmp(scheme, "rtsp") == 0 || g_ascii_strcasecmp(scheme, "rtspt") == 0 ||
       g_ascii_strcasecmp(scheme, "rtspu") == 0)) {
    gchar *lower = g_ascii_strdown(host, -1);
    const int port = g_uri_get_port(parsed);
    key = std::string(lower) + ":" + std::to_string(port > 0 ? port : 554);
    g_free(lower);
  }
  g_uri_unref(parsed);
  return key;
}

/* Whether connections to @uri's server drop delta frames' packets: only
 * when every camera using that server is keyframe-only, since a connection
 * cannot be told from another camera's on the same server. */
bool keyframes_only(const char *uri) {
  if (!filters_keyframes.load())
    return false;
  const std::string key = url_key(uri);
  std::lock_guard lock(server_users_lock);
  const auto users = server_users.find(key);
  return users != server_users.end() && users->second.keyframes_only > 0 &&
         users->second.all_packets == 0;
}

} // namespace
} // namespace gpurtsp::launch

using gpurtsp::launch::kRtspReadAheadBytes;
using gpurtsp::rtp::InterleavedKeyframeFilter;

/* The buffer of a filtering stream holds the longest interleaved packet
 * undecided and still has room to read. */
static constexpr gsize kFilteringBufferBytes =
    MAX(kRtspReadAheadBytes, InterleavedKeyframeFilter::kMaxPacketBytes + 1);

/* ---- The input stream: a read buffer over the connection's input ---- */

#define GPURTSP_TYPE_READ_AHEAD_INPUT (gpurtsp_read_ahead_input_get_type())
G_DECLARE_FINAL_TYPE(GpurtspReadAheadInput, gpurtsp_read_ahead_input, GPURTSP, READ_AHEAD_INPUT,
                     GInputStream)

struct _GpurtspReadAheadInput {
  GInputStream parent;
  GInputStream *base; /* owned; pollable where the socket's is */
  GSocket *socket;    /* owned; base's socket, for waits of our own; may be null */
  /* The last cancellable a blocking read was given, with its wakeup fd kept
   * open: GIO makes and closes an eventfd at every wait otherwise. */
  GCancellable *held_cancellable;
  /* kRtspReadAheadBytes (kFilteringBufferBytes with a filter), made on the
   * first read. */
  guint8 *buffer;
  gsize start; /* buffered bytes: buffer[start, end) */
  gsize end;
  /* Keyframe cameras: drops delta frames' packets; owned, else null. Bytes
   * it has not judged yet follow the buffered ones: buffer[end, end +
   * pending). */
  InterleavedKeyframeFilter *filter;
  gsize pending;
  /* Monotonic time of the last blocking read if it was small (the next one
   * waits out the coalescing interval from it), else 0. */
  gint64 trickle_read_at_us;
};

static void gpurtsp_read_ahead_input_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(GpurtspReadAheadInput, gpurtsp_read_ahead_input, G_TYPE_INPUT_STREAM,
                              G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                                    gpurtsp_read_ahead_input_pollable_init))

/* Up to @count buffered bytes into @out. */
static gssize take_buffered(GpurtspReadAheadInput *self, void *out, gsize count) {
  const gsize n = MIN(count, self->end - self->start);
  memcpy(out, self->buffer + self->start, n);
  self->start += n;
  return gssize(n);
}

static void hold_cancellable(GpurtspReadAheadInput *self, GCancellable *cancellable) {
  if (cancellable == self->held_cancellable)
    return;
  if (self->held_cancellable) {
    g_cancellable_release_fd(self->held_cancellable);
    g_clear_object(&self->held_cancellable);
  }
  GPollFD unused;
  if (cancellable && g_cancellable_make_pollfd(cancellable, &unused))
    self->held_cancellable = G_CANCELLABLE(g_object_ref(cancellable));
}

/* One recv() that does not wait: what the socket holds, or -1 with
 * @would_block set when it holds nothing. */
static gssize receive_now(GpurtspReadAheadInput *self, void *out, gsize count,
                          GCancellable *cancellable, bool &would_block, GError **error) {
  GError *again = nullptr;
  const gssize got = g_socket_receive_with_blocking(self->socket, static_cast<gchar *>(out), count,
                                                    FALSE, cancellable, &again);
  would_block = got < 0 && g_error_matches(again, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  if (would_block)
    g_error_free(again);
  else if (again)
    g_propagate_error(error, again);
  return got;
}

/* Waits until @until (monotonic) or until @cancellable is cancelled; false
 * when @until has passed already. The cancellable's wakeup fd is held open
 * (hold_cancellable), so this makes none. */
static bool sleep_until(GCancellable *cancellable, gint64 until) {
  const gint64 now = g_get_monotonic_time();
  if (until <= now)
    return false;
  GPollFD fd;
  if (cancellable && g_cancellable_make_pollfd(cancellable, &fd)) {
    g_poll(&fd, 1, int((until - now + 999) / 1000));
    g_cancellable_release_fd(cancellable);
  } else {
    g_usleep(gulong(until - now));
  }
  return true;
}

/* A blocking read of the socket, with the buffer drained.
 *   - After a small read (a trickle: the socket had less than
 *     kRtspCoalesceBelowBytes), first sleep out the coalescing interval from
 *     that read: what arrives meanwhile comes in this one read instead of a
 *     wakeup a frame, and the thread that would wake ~30 times a second
 *     wakes ~20 times at 50 ms.
 *   - Then wait and read. The socket is almost always dry here without the
 *     sleep, so polling first saves the recv() that would fail with EAGAIN.
 * The socket's timeout (set by GstRTSPConnection for each receive) bounds
 * the wait; a flush (the cancellable) ends the sleep and the wait. */
static gssize receive_blocking(GpurtspReadAheadInput *self, void *out, gsize count,
                               GCancellable *cancellable, GError **error) {
  hold_cancellable(self, cancellable);
  const std::atomic<unsigned> &interval_ms =
      self->filter ? gpurtsp::launch::keyframe_coalesce_ms : gpurtsp::launch::coalesce_ms;
  const gint64 interval_us = gint64(interval_ms.load(std::memory_order_relaxed)) * 1000;
  bool would_block = true;
  gssize got = -1;
  /* A trickle that stopped for longer than the interval goes straight to
   * the wait: a recv() now would only fail with EAGAIN. */
  if (interval_us > 0 && self->trickle_read_at_us > 0 &&
      sleep_until(cancellable, self->trickle_read_at_us + interval_us))
    got = receive_now(self, out, count, cancellable, would_block, error); /* fails if flushed */
  while (would_block) {
    if (!g_socket_condition_timed_wait(self->socket, G_IO_IN, -1, cancellable, error))
      return -1;
    got = receive_now(self, out, count, cancellable, would_block, error); /* may be dry again */
  }
  /* Only a trickle waits. A large read may have left more behind, and
   * where the TCP window is smaller than the buffer no read is ever full:
   * waiting after those would cap a high-rate camera at a window per
   * interval. */
  self->trickle_read_at_us =
      got >= 0 && gsize(got) < MIN(count, gpurtsp::launch::kRtspCoalesceBelowBytes)
          ? g_get_monotonic_time()
          : 0;
  return got;
}

/* One read of the base stream into @out: @blocking or not. */
static gssize read_base(GpurtspReadAheadInput *self, void *out, gsize count, bool blocking,
                        GCancellable *cancellable, GError **error) {
  gpurtsp::launch::base_reads.fetch_add(1, std::memory_order_relaxed);
  if (!blocking)
    return g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base), out, count,
                                                    cancellable, error);
  if (self->socket)
    return receive_blocking(self, out, count, cancellable, error);
  return g_input_stream_read(self->base, out, count, cancellable, error);
}

/* One read of the base stream into the empty buffer. */
static gssize refill(GpurtspReadAheadInput *self, bool blocking, GCancellable *cancellable,
                     GError **error) {
  if (!self->buffer)
    self->buffer = static_cast<guint8 *>(g_malloc(kRtspReadAheadBytes));
  const gssize got =
      read_base(self, self->buffer, kRtspReadAheadBytes, blocking, cancellable, error);
  self->start = 0;
  self->end = got > 0 ? gsize(got) : 0;
  return got;
}

/* Reads and filters until some bytes pass. A blocking read gives up after
 * the socket's timeout even while dropped packets keep coming, so that
 * rtspsrc still wakes up to send its keep-alives. */
static gssize read_filtered(GpurtspReadAheadInput *self, void *out, gsize count, bool blocking,
                            GCancellable *cancellable, GError **error) {
  if (!self->buffer)
    self->buffer = static_cast<guint8 *>(g_malloc(kFilteringBufferBytes));
  const guint timeout_s = blocking && self->socket ? g_socket_get_timeout(self->socket) : 0;
  const gint64 deadline = timeout_s ? g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC : 0;
  for (;;) {
    memmove(self->buffer, self->buffer + self->end, self->pending);
    self->start = self->end = 0;
    gsize size = self->pending;
    if (size == kFilteringBufferBytes) {
      self->filter->give_up(); /* a message head or SDP larger than the buffer */
    } else {
      const gssize got = read_base(self, self->buffer + size, kFilteringBufferBytes - size,
                                   blocking, cancellable, error);
      if (got < 0)
        return got;
      if (got == 0) {
        if (size == 0)
          return 0;
        self->filter->give_up(); /* the end: what was undecided goes as it is */
      }
      size += gsize(got);
    }
    const std::uint64_t dropped_before = self->filter->packets_dropped();
    self->end = self->filter->filter(self->buffer, size, self->pending);
    if (const std::uint64_t dropped = self->filter->packets_dropped() - dropped_before)
      gpurtsp::launch::keyframe_packets_dropped.fetch_add(dropped, std::memory_order_relaxed);
    else
      self->trickle_read_at_us = 0; /* set-up, a keyframe: the next read waits for nothing */
    if (self->end > 0)
      return take_buffered(self, out, count);
    if (deadline && g_get_monotonic_time() >= deadline) {
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Socket I/O timed out");
      return -1;
    }
  }
}

static gssize read_ahead(GpurtspReadAheadInput *self, void *out, gsize count, bool blocking,
                         GCancellable *cancellable, GError **error) {
  if (self->end > self->start)
    return take_buffered(self, out, count);
  if (self->filter)
    return read_filtered(self, out, count, blocking, cancellable, error);
  /* A read as large as the buffer gains nothing from it. */
  if (count >= kRtspReadAheadBytes)
    return read_base(self, out, count, blocking, cancellable, error);
  const gssize got = refill(self, blocking, cancellable, error);
  if (got <= 0)
    return got; /* end of stream, would block, or an error */
  return take_buffered(self, out, count);
}

static gssize gpurtsp_read_ahead_input_read(GInputStream *stream, void *buffer, gsize count,
                                            GCancellable *cancellable, GError **error) {
  return read_ahead(GPURTSP_READ_AHEAD_INPUT(stream), buffer, count, true, cancellable, error);
}

static gboolean gpurtsp_read_ahead_input_close(GInputStream *, GCancellable *, GError **) {
  /* The connection (GpurtspReadAheadConnection) closes the base stream. */
  return TRUE;
}

static void gpurtsp_read_ahead_input_finalize(GObject *object) {
  auto self = GPURTSP_READ_AHEAD_INPUT(object);
  hold_cancellable(self, nullptr);
  g_clear_object(&self->socket);
  g_clear_object(&self->base);
  g_free(self->buffer);
  delete self->filter;
  G_OBJECT_CLASS(gpurtsp_read_ahead_input_parent_class)->finalize(object);
}

static void gpurtsp_read_ahead_input_class_init(GpurtspReadAheadInputClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gpurtsp_read_ahead_input_finalize;
  G_INPUT_STREAM_CLASS(klass)->read_fn = gpurtsp_read_ahead_input_read;
  G_INPUT_STREAM_CLASS(klass)->close_fn = gpurtsp_read_ahead_input_close;
}

static void gpurtsp_read_ahead_input_init(GpurtspReadAheadInput *) {}

static gboolean gpurtsp_read_ahead_input_can_poll(GPollableInputStream *stream) {
  auto self = GPURTSP_READ_AHEAD_INPUT(stream);
  return G_IS_POLLABLE_INPUT_STREAM(self->base) &&
         g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(self->base));
}

static gboolean gpurtsp_read_ahead_input_is_readable(GPollableInputStream *stream) {
  auto self = GPURTSP_READ_AHEAD_INPUT(stream);
  return self->end > self->start ||
         g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(self->base));
}

static GSource *gpurtsp_read_ahead_input_create_source(GPollableInputStream *stream,
                                                       GCancellable *cancellable) {
  auto self = GPURTSP_READ_AHEAD_INPUT(stream);
  /* Buffered bytes are readable now, whatever the socket says. */
  GSource *base_source =
      self->end > self->start
          ? g_timeout_source_new(0)
          : g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(self->base), nullptr);
  GSource *source = g_pollable_source_new_full(stream, base_source, cancellable);
  g_source_unref(base_source);
  return source;
}

static gssize gpurtsp_read_ahead_input_read_nonblocking(GPollableInputStream *stream, void *buffer,
                                                        gsize count, GError **error) {
  return read_ahead(GPURTSP_READ_AHEAD_INPUT(stream), buffer, count, false, nullptr, error);
}

static void gpurtsp_read_ahead_input_pollable_init(GPollableInputStreamInterface *iface) {
  iface->can_poll = gpurtsp_read_ahead_input_can_poll;
  iface->is_readable = gpurtsp_read_ahead_input_is_readable;
  iface->create_source = gpurtsp_read_ahead_input_create_source;
  iface->read_nonblocking = gpurtsp_read_ahead_input_read_nonblocking;
}

/* ---- The connection: the TCP connection with the buffered input ---- */

#define GPURTSP_TYPE_READ_AHEAD_CONNECTION (gpurtsp_read_ahead_connection_get_type())
G_DECLARE_FINAL_TYPE(GpurtspReadAheadConnection, gpurtsp_read_ahead_connection, GPURTSP,
                     READ_AHEAD_CONNECTION, GIOStream)

struct _GpurtspReadAheadConnection {
  GIOStream parent;
  GIOStream *base;     /* the TCP connection; owned */
  GInputStream *input; /* GpurtspReadAheadInput over base's input; owned */
};

G_DEFINE_FINAL_TYPE(GpurtspReadAheadConnection, gpurtsp_read_ahead_connection, G_TYPE_IO_STREAM)

static GInputStream *gpurtsp_read_ahead_connection_get_input(GIOStream *stream) {
  return GPURTSP_READ_AHEAD_CONNECTION(stream)->input;
}

static GOutputStream *gpurtsp_read_ahead_connection_get_output(GIOStream *stream) {
  return g_io_stream_get_output_stream(GPURTSP_READ_AHEAD_CONNECTION(stream)->base);
}

static gboolean gpurtsp_read_ahead_connection_close(GIOStream *stream, GCancellable *cancellable,
                                                    GError **error) {
  auto self = GPURTSP_READ_AHEAD_CONNECTION(stream);
  g_input_stream_close(self->input, nullptr, nullptr);
  return g_io_stream_close(self->base, cancellable, error);
}

static void gpurtsp_read_ahead_connection_finalize(GObject *object) {
  auto self = GPURTSP_READ_AHEAD_CONNECTION(object);
  g_clear_object(&self->input);
  g_clear_object(&self->base);
  G_OBJECT_CLASS(gpurtsp_read_ahead_connection_parent_class)->finalize(object);
}

static void gpurtsp_read_ahead_connection_class_init(GpurtspReadAheadConnectionClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gpurtsp_read_ahead_connection_finalize;
  G_IO_STREAM_CLASS(klass)->get_input_stream = gpurtsp_read_ahead_connection_get_input;
  G_IO_STREAM_CLASS(klass)->get_output_stream = gpurtsp_read_ahead_connection_get_output;
  G_IO_STREAM_CLASS(klass)->close_fn = gpurtsp_read_ahead_connection_close;
}

static void gpurtsp_read_ahead_connection_init(GpurtspReadAheadConnection *) {}

/* With @keyframes_only, the input drops delta frames' packets. */
static GIOStream *read_ahead_connection_new(GIOStream *base, bool keyframes_only) {
  auto self =
      GPURTSP_READ_AHEAD_CONNECTION(g_object_new(GPURTSP_TYPE_READ_AHEAD_CONNECTION, nullptr));
  self->base = G_IO_STREAM(g_object_ref(base));
  self->input = gpurtsp::launch::rtsp_read_ahead_stream_new(g_io_stream_get_input_stream(base));
  if (keyframes_only)
    GPURTSP_READ_AHEAD_INPUT(self->input)->filter = new InterleavedKeyframeFilter();
  if (G_IS_SOCKET_CONNECTION(base))
    GPURTSP_READ_AHEAD_INPUT(self->input)->socket =
        G_SOCKET(g_object_ref(g_socket_connection_get_socket(G_SOCKET_CONNECTION(base))));
  return G_IO_STREAM(self);
}

/* ---- The GProxy: "connects" by wrapping the TCP connection ---- */

#define GPURTSP_TYPE_READ_AHEAD_PROXY (gpurtsp_read_ahead_proxy_get_type())
G_DECLARE_FINAL_TYPE(GpurtspReadAheadProxy, gpurtsp_read_ahead_proxy, GPURTSP, READ_AHEAD_PROXY,
                     GObject)

struct _GpurtspReadAheadProxy {
  GObject parent;
};

static void gpurtsp_read_ahead_proxy_iface_init(GProxyInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(GpurtspReadAheadProxy, gpurtsp_read_ahead_proxy, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_PROXY,
                                                    gpurtsp_read_ahead_proxy_iface_init))

static void gpurtsp_read_ahead_proxy_class_init(GpurtspReadAheadProxyClass *) {}
static void gpurtsp_read_ahead_proxy_init(GpurtspReadAheadProxy *) {}

/* Whether the resolver asked for the keyframe filter (read_ahead_proxy_uri). */
static bool asks_for_keyframes(GProxyAddress *address) {
  return g_strcmp0(g_proxy_address_get_username(address), gpurtsp::launch::kKeyframesUser) == 0;
}

static GIOStream *gpurtsp_read_ahead_proxy_connect(GProxy *, GIOStream *connection,
                                                   GProxyAddress *address, GCancellable *,
                                                   GError **) {
  return read_ahead_connection_new(connection, asks_for_keyframes(address));
}

static void gpurtsp_read_ahead_proxy_connect_async(GProxy *proxy, GIOStream *connection,
                                                   GProxyAddress *address,
                                                   GCancellable *cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer user_data) {
  GTask *task = g_task_new(proxy, cancellable, callback, user_data);
  g_task_return_pointer(task, read_ahead_connection_new(connection, asks_for_keyframes(address)),
                        g_object_unref);
  g_object_unref(task);
}

static GIOStream *gpurtsp_read_ahead_proxy_connect_finish(GProxy *, GAsyncResult *result,
                                                          GError **error) {
  return static_cast<GIOStream *>(g_task_propagate_pointer(G_TASK(result), error));
}

static gboolean gpurtsp_read_ahead_proxy_supports_hostname(GProxy *) {
  return TRUE;
}

static void gpurtsp_read_ahead_proxy_iface_init(GProxyInterface *iface) {
  iface->connect = gpurtsp_read_ahead_proxy_connect;
  iface->connect_async = gpurtsp_read_ahead_proxy_connect_async;
  iface->connect_finish = gpurtsp_read_ahead_proxy_connect_finish;
  iface->supports_hostname = gpurtsp_read_ahead_proxy_supports_hostname;
}

/* ---- The resolver: rtsp:// URLs to the proxy, the rest as before ---- */

#define GPURTSP_TYPE_READ_AHEAD_RESOLVER (gpurtsp_read_ahead_resolver_get_type())
G_DECLARE_FINAL_TYPE(GpurtspReadAheadResolver, gpurtsp_read_ahead_resolver, GPURTSP,
                     READ_AHEAD_RESOLVER, GObject)

struct _GpurtspReadAheadResolver {
  GObject parent;
  std::once_flag *system_once;
  GProxyResolver *system; /* the resolver GIO would have chosen; may be null */
};

static void gpurtsp_read_ahead_resolver_iface_init(GProxyResolverInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(GpurtspReadAheadResolver, gpurtsp_read_ahead_resolver, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_PROXY_RESOLVER,
                                                    gpurtsp_read_ahead_resolver_iface_init))

static void gpurtsp_read_ahead_resolver_finalize(GObject *object) {
  auto self = GPURTSP_READ_AHEAD_RESOLVER(object);
  g_clear_object(&self->system);
  delete self->system_once;
  G_OBJECT_CLASS(gpurtsp_read_ahead_resolver_parent_class)->finalize(object);
}

static void gpurtsp_read_ahead_resolver_class_init(GpurtspReadAheadResolverClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gpurtsp_read_ahead_resolver_finalize;
}

static void gpurtsp_read_ahead_resolver_init(GpurtspReadAheadResolver *self) {
  self->system_once = new std::once_flag;
}

/* What g_proxy_resolver_get_default() would have returned without us: the
 * supported implementation of highest priority (GIO modules are loaded by
 * the time a lookup comes, by that very call). */
static GProxyResolver *system_resolver(GpurtspReadAheadResolver *self) {
  std::call_once(*self->system_once, [self] {
    GIOExtensionPoint *point = g_io_extension_point_lookup(G_PROXY_RESOLVER_EXTENSION_POINT_NAME);
    for (GList *l = point ? g_io_extension_point_get_extensions(point) : nullptr; l; l = l->next) {
      const GType type = g_io_extension_get_type(static_cast<GIOExtension *>(l->data));
      if (type == GPURTSP_TYPE_READ_AHEAD_RESOLVER)
        continue;
      auto resolver = G_PROXY_RESOLVER(g_object_new(type, nullptr));
      if (g_proxy_resolver_is_supported(resolver)) {
        self->system = resolver;
        return;
      }
      g_object_unref(resolver);
    }
  });
  return self->system;
}

static gchar **direct() {
  gchar **proxies = g_new0(gchar *, 2);
  proxies[0] = g_strdup("direct://");
  return proxies;
}

/* "gpurtsp-read-ahead://HOST:PORT" for a plain rtsp:// @uri with a port,
 * "gpurtsp-read-ahead://keyframes@HOST:PORT" when connections to it drop
 * delta frames' packets (GIO hands the proxy the user name); else
 * nullptr. */
static gchar *read_ahead_proxy_uri(const gchar *uri) {
  GUri *parsed = g_uri_parse(uri, G_URI_FLAGS_NONE, nullptr);
  if (!parsed)
    return nullptr;
  gchar *proxy = nullptr;
  if (g_ascii_strcasecmp(g_uri_get_scheme(parsed), "rtsp") == 0 && g_uri_get_host(parsed) &&
      g_uri_get_port(parsed) > 0) {
    proxy =
        g_uri_join(G_URI_FLAGS_NONE, gpurtsp::launch::kRtspReadAheadProtocol,
                   gpurtsp::launch::keyframes_only(uri) ? gpurtsp::launch::kKeyframesUser : nullptr,
                   g_uri_get_host(parsed), g_uri_get_port(parsed), "", nullptr, nullptr);
  }
  g_uri_unref(parsed);
  return proxy;
}

static gchar **gpurtsp_read_ahead_resolver_lookup(GProxyResolver *resolver, const gchar *uri,
                                                  GCancellable *cancellable, GError **error) {
  GProxyResolver *system = system_resolver(GPURTSP_READ_AHEAD_RESOLVER(resolver));
  gchar **proxies = system ? g_proxy_resolver_lookup(system, uri, cancellable, error) : direct();
  if (!proxies)
    return nullptr;
  /* A real proxy for this URL: the system's answer stands. */
  if (!proxies[0] || proxies[1] || strcmp(proxies[0], "direct://") != 0)
    return proxies;
  if (gchar *read_ahead = read_ahead_proxy_uri(uri)) {
    g_free(proxies[0]);
    proxies[0] = read_ahead;
  }
  return proxies;
}

static void gpurtsp_read_ahead_resolver_lookup_async(GProxyResolver *resolver, const gchar *uri,
                                                     GCancellable *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer user_data) {
  /* The system resolvers answer from settings, not the network. */
  GTask *task = g_task_new(resolver, cancellable, callback, user_data);
  GError *error = nullptr;
  gchar **proxies = gpurtsp_read_ahead_resolver_lookup(resolver, uri, cancellable, &error);
  if (proxies)
    g_task_return_pointer(task, proxies, reinterpret_cast<GDestroyNotify>(g_strfreev));
  else
    g_task_return_error(task, error);
  g_object_unref(task);
}

static gchar **gpurtsp_read_ahead_resolver_lookup_finish(GProxyResolver *, GAsyncResult *result,
                                                         GError **error) {
  return static_cast<gchar **>(g_task_propagate_pointer(G_TASK(result), error));
}

static gboolean gpurtsp_read_ahead_resolver_is_supported(GProxyResolver *) {
  return TRUE;
}

static void gpurtsp_read_ahead_resolver_iface_init(GProxyResolverInterface *iface) {
  iface->is_supported = gpurtsp_read_ahead_resolver_is_supported;
  iface->lookup = gpurtsp_read_ahead_resolver_lookup;
  iface->lookup_async = gpurtsp_read_ahead_resolver_lookup_async;
  iface->lookup_finish = gpurtsp_read_ahead_resolver_lookup_finish;
}

namespace gpurtsp::launch {

GInputStream *rtsp_read_ahead_stream_new(GInputStream *base_input) {
  auto self = GPURTSP_READ_AHEAD_INPUT(g_object_new(GPURTSP_TYPE_READ_AHEAD_INPUT, nullptr));
  self->base = G_INPUT_STREAM(g_object_ref(base_input));
  return G_INPUT_STREAM(self);
}

std::size_t rtsp_read_ahead_base_reads() {
  return base_reads.load(std::memory_order_relaxed);
}

unsigned rtsp_read_ahead_coalesce_ms() {
  return coalesce_ms.load();
}

void set_rtsp_read_ahead_coalesce_ms(unsigned ms) {
  coalesce_ms = MIN(ms, kMaxRtspCoalesceMs);
}

unsigned rtsp_read_ahead_keyframe_coalesce_ms() {
  return keyframe_coalesce_ms.load();
}

void set_rtsp_read_ahead_keyframe_coalesce_ms(unsigned ms) {
  keyframe_coalesce_ms = MIN(ms, kMaxRtspCoalesceMs);
}

bool rtsp_read_ahead_installed() {
  return installed.load();
}

bool rtsp_read_ahead_filters_keyframes() {
  return filters_keyframes.load();
}

void set_rtsp_read_ahead_filters_keyframes(bool on) {
  filters_keyframes = on;
}

std::uint64_t rtsp_read_ahead_packets_dropped() {
  return keyframe_packets_dropped.load(std::memory_order_relaxed);
}

RtspUrlUse::RtspUrlUse(const std::string &location, bool keyframes_only)
    : key_(url_key(location.c_str())), keyframes_only_(keyframes_only) {
  if (key_.empty())
    return;
  std::lock_guard lock(server_users_lock);
  ServerUsers &users = server_users[key_];
  (keyframes_only_ ? users.keyframes_only : users.all_packets)++;
}

RtspUrlUse::~RtspUrlUse() {
  if (key_.empty())
    return;
  std::lock_guard lock(server_users_lock);
  const auto users = server_users.find(key_);
  if (users == server_users.end())
    return;
  (keyframes_only_ ? users->second.keyframes_only : users->second.all_packets)--;
  if (users->second.keyframes_only == 0 && users->second.all_packets == 0)
    server_users.erase(users);
}

bool install_rtsp_read_ahead(std::string &why) {
  static std::once_flag once;
  static std::string refused;
  static std::string ignored;
  std::call_once(once, [] {
    auto interval_from_env = [](const char *name, void (*set)(unsigned)) {
      const char *env = g_getenv(name);
      guint64 ms = 0;
      if (!env)
        return;
      if (g_ascii_string_to_unsigned(env, 10, 0, kMaxRtspCoalesceMs, &ms, nullptr))
        set(unsigned(ms));
      else
        ignored += std::string(ignored.empty() ? "" : "; ") + name + "=" + env +
                   " ignored: not 0 to " + std::to_string(kMaxRtspCoalesceMs) + " (ms)";
    };
    interval_from_env("GPURTSP_RTSP_COALESCE_MS", set_rtsp_read_ahead_coalesce_ms);
    interval_from_env("GPURTSP_RTSP_KEYFRAME_COALESCE_MS",
                      set_rtsp_read_ahead_keyframe_coalesce_ms);
    if (const char *env = g_getenv("GPURTSP_RTSP_KEYFRAME_FILTER"); env && strcmp(env, "0") == 0)
      set_rtsp_read_ahead_filters_keyframes(false);
    if (const char *env = g_getenv("GPURTSP_RTSP_READ_AHEAD"); env && strcmp(env, "0") == 0) {
      refused = "GPURTSP_RTSP_READ_AHEAD=0";
      return;
    }
    if (const char *env = g_getenv("GIO_USE_PROXY_RESOLVER"); env && *env) {
      refused = std::string("GIO_USE_PROXY_RESOLVER=") + env + " chooses the proxy resolver";
      return;
    }
    /* Registering a point that exists returns it; GIO's own registration
     * later finds ours. */
    g_io_extension_point_register(G_PROXY_EXTENSION_POINT_NAME);
    g_io_extension_point_register(G_PROXY_RESOLVER_EXTENSION_POINT_NAME);
    g_io_extension_point_implement(G_PROXY_EXTENSION_POINT_NAME, GPURTSP_TYPE_READ_AHEAD_PROXY,
                                   kRtspReadAheadProtocol, 0);
    /* Above every resolver GIO or glib-networking brings (at most 100). */
    g_io_extension_point_implement(G_PROXY_RESOLVER_EXTENSION_POINT_NAME,
                                   GPURTSP_TYPE_READ_AHEAD_RESOLVER, kRtspReadAheadProtocol, 1000);
    /* GIO picks its resolver once: too late if a connection came first. */
    if (!GPURTSP_IS_READ_AHEAD_RESOLVER(g_proxy_resolver_get_default())) {
      refused = "GIO had chosen its proxy resolver before";
      return;
    }
    installed = true;
  });
  why = installed.load() ? ignored : refused;
  return installed.load();
}

} // namespace gpurtsp::launch
