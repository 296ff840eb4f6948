// SPDX-License-Identifier: MIT
/* camsim: the RTSP server, its mounts and their media. */
#include "camsim.hpp"

#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "clip-feeder.hpp"
#include "clip.hpp"
#include "shared-factory.hpp"
#include "thread-pool.hpp"
#include "util.hpp"

GST_DEBUG_CATEGORY(camsim_debug);
#define GST_CAT_DEFAULT camsim_debug

namespace gpurtsp::camsim {

namespace {

/* Name of the appsrc in a clip mount's pipeline. */
constexpr const char *kClipSourceName = "camsimsrc";
/* The one role of authenticated users; it may see and build every mount. */
constexpr const char *kUserRole = "camsim-user";
/* Listen backlog: thousands of clients may connect at once. */
constexpr int kListenBacklog = 1024;

GQuark mount_index_quark() {
  static GQuark quark = g_quark_from_static_string("camsim-mount-index");
  return quark;
}

const char *scheme(const Options &options) {
  return options.tls_cert_file.empty() ? "rtsp" : "rtsps";
}

const char *payloader_name(Codec codec) {
  return codec == Codec::H264 ? "rtph264pay" : "rtph265pay";
}

void require_elements(const Options &options) {
  const char *good = "install gstreamer1.0-plugins-good";
  require_element(payloader_name(options.codec), good);
  if (options.source == Source::Clip) {
    require_element("appsrc", "install gstreamer1.0-plugins-base");
  } else {
    require_element("videotestsrc", "install gstreamer1.0-plugins-base");
    if (options.codec == Codec::H264)
      require_element("x264enc", "install gstreamer1.0-plugins-ugly");
    else
      require_element("x265enc", "install gstreamer1.0-plugins-bad");
  }
}

/* A live mount: moving pattern, its name, the wall clock and the running time
 * burnt in (overlays are skipped where pango is not installed), encoded for
 * low latency with parameter sets in front of every keyframe. */
std::string live_launch(const Options &options, const std::string &path) {
  std::string overlays;
  if (has_element("textoverlay"))
    overlays += strprintf("textoverlay text=\"%s\" valignment=top halignment=left "
                          "shaded-background=true ! ",
                          path.c_str() + 1);
  if (has_element("clockoverlay"))
    overlays += "clockoverlay valignment=top halignment=right shaded-background=true "
                "time-format=\"%Y-%m-%d %H:%M:%S\" ! ";
  if (has_element("timeoverlay"))
    overlays += "timeoverlay valignment=bottom halignment=right shaded-background=true ! ";
  std::string encoder =
      options.codec == Codec::H264
          ? strprintf("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d "
                      "bitrate=%d",
                      options.gop, options.bitrate_kbps)
          : strprintf("x265enc tune=zerolatency speed-preset=ultrafast key-int-max=%d "
                      "bitrate=%d option-string=open-gop=0",
                      options.gop, options.bitrate_kbps);
  return strprintf("( videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
                   "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s%s ! "
                   "%s name=pay0 pt=96 config-interval=-1 )",
                   options.width, options.height, options.fps, overlays.c_str(), encoder.c_str(),
                   payloader_name(options.codec));
}

std::string clip_launch(const Options &options) {
  return strprintf("( appsrc name=%s ! %s name=pay0 pt=96 )", kClipSourceName,
                   payloader_name(options.codec));
}

std::string url_host(const std::string &address) {
  if (address == "0.0.0.0")
    return "127.0.0.1";
  if (address == "::")
    return "[::1]";
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

/* Runs @fn on the thread that runs @context and waits for it. */
template <typename F>
void invoke_and_wait(GMainContext *context, F &&fn) {
  std::promise<void> done;
  auto call = [&] {
    fn();
    done.set_value();
  };
  using Call = decltype(call);
  g_main_context_invoke(
      context,
      [](gpointer data) -> gboolean {
        (*static_cast<Call *>(data))();
        return G_SOURCE_REMOVE;
      },
      &call);
  done.get_future().wait();
}

/* The clients a shared (share_media > 1) media reaches, for the counters.
 *
 * gst-rtsp-server adds a client's transport to the media's stream at its PLAY
 * and removes it at PAUSE, TEARDOWN, the end of its session, or when it drops
 * a TCP client too slow to keep up: the stream's transports are exactly where
 * its next packets go. So the feeder counts them before every frame it pushes
 * into the media (one lock and a list as long as the group, per frame of the
 * group: little next to the K pipelines a group saves), and the RTP probe,
 * which must not lock, multiplies by the last count. Client signals
 * (play/teardown/closed) would miss sessions that time out and slow clients
 * that get dropped. */
struct Audience {
  /* The media's only stream; the media holds it, and count() runs only while
   * the media is tracked (TrackedMedia holds the media). */
  GstRTSPStream *const stream;
  std::atomic<uint64_t> last{0}; /* at the last count() */

  uint64_t count() {
    GList *transports = gst_rtsp_stream_transport_filter(stream, nullptr, nullptr);
    uint64_t n = g_list_length(transports);
    g_list_free_full(transports, g_object_unref);
    last.store(n, std::memory_order_relaxed);
    return n;
  }
};

struct TrackedMedia {
  ObjectPtr<GstRTSPMedia> media;
  size_t mount;                       /* its first mount (of its group) */
  std::shared_ptr<Audience> audience; /* share_media > 1 only */
};

/* What the signal handlers of the server, its clients and its media reach.
 * Every handler holds a reference, so this outlives a handler still running
 * on some rtsp-server thread while its Runtime goes away. */
struct Shared {
  std::atomic<uint64_t> clients{0};
  std::atomic<uint64_t> rtp_packets{0};
  std::atomic<uint64_t> rtp_bytes{0};

  std::mutex lock;
  bool closed = false;                /* guarded by lock: stopping, track no new media */
  std::unique_ptr<ClipFeeder> feeder; /* guarded by lock; clip mode only */
  std::vector<TrackedMedia> medias;   /* guarded by lock: every prepared media */
};
using SharedRef = std::shared_ptr<Shared>;

gpointer hold(const SharedRef &shared) {
  return new SharedRef(shared);
}
void release(gpointer data) {
  delete static_cast<SharedRef *>(data);
}
void release_closure(gpointer data, GClosure *) {
  release(data);
}
const SharedRef &shared_ref(gpointer data) {
  return *static_cast<SharedRef *>(data);
}

/* Stops feeding @media and stops tracking it. Call with shared.lock held;
 * the returned ref is dropped by the caller outside the lock. */
ObjectPtr<GstRTSPMedia> forget_media(Shared &shared, GstRTSPMedia *media) {
  ObjectPtr<GstRTSPMedia> found;
  auto it = std::find_if(shared.medias.begin(), shared.medias.end(),
                         [media](const TrackedMedia &t) { return t.media.get() == media; });
  if (it == shared.medias.end())
    return found;
  found = std::move(it->media);
  shared.medias.erase(it);
  if (shared.feeder) {
    g_autoptr(GstElement) bin = gst_rtsp_media_get_element(media);
    g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(bin), kClipSourceName);
    if (src)
      shared.feeder->remove(GST_APP_SRC(src));
  }
  return found;
}

/* What a payloader's probe counts into. It must not own the Audience's
 * stream: the stream holds the payloader, whose pad holds this. */
struct ProbeData {
  SharedRef shared;
  std::shared_ptr<Audience> audience; /* share_media > 1 only */
};

GstPadProbeReturn count_rtp(GstPad *, GstPadProbeInfo *info, gpointer data) {
  const ProbeData &probe = *static_cast<ProbeData *>(data);
  Shared &shared = *probe.shared;
  const uint64_t weight = probe.audience ? probe.audience->last.load(std::memory_order_relaxed) : 1;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    shared.rtp_packets.fetch_add(weight * gst_buffer_list_length(list), std::memory_order_relaxed);
    shared.rtp_bytes.fetch_add(weight * gst_buffer_list_calculate_size(list),
                               std::memory_order_relaxed);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    shared.rtp_packets.fetch_add(weight, std::memory_order_relaxed);
    shared.rtp_bytes.fetch_add(weight * gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info)),
                               std::memory_order_relaxed);
  }
  return GST_PAD_PROBE_OK;
}

void media_unprepared(GstRTSPMedia *media, gpointer data) {
  Shared &shared = *shared_ref(data);
  ObjectPtr<GstRTSPMedia> forgotten;
  std::lock_guard guard(shared.lock);
  forgotten = forget_media(shared, media);
}

/* From the client thread that builds a mount's (or a group's) media, before
 * it prepares. */
void media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer data) {
  const SharedRef &ref = shared_ref(data);
  size_t mount = GPOINTER_TO_SIZE(g_object_get_qdata(G_OBJECT(factory), mount_index_quark())) - 1;
  g_autoptr(GstElement) bin = gst_rtsp_media_get_element(media);
  g_autoptr(GstElement) payloader = gst_bin_get_by_name(GST_BIN(bin), "pay0");
  g_autoptr(GstPad) pad = payloader ? gst_element_get_static_pad(payloader, "src") : nullptr;
  std::shared_ptr<Audience> audience;
  GstRTSPStream *stream = gst_rtsp_media_get_stream(media, 0);
  if (CAMSIM_IS_SHARED_FACTORY(factory) && stream)
    audience.reset(new Audience{stream});

  std::lock_guard guard(ref->lock);
  if (ref->closed)
    return;
  if (pad)
    gst_pad_add_probe(pad,
                      GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      count_rtp, new ProbeData{ref, audience},
                      [](gpointer probe) { delete static_cast<ProbeData *>(probe); });
  if (ref->feeder) {
    g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(bin), kClipSourceName);
    ClipFeeder::Weight weight;
    if (audience)
      weight = [audience] { return audience->count(); };
    ref->feeder->add(GST_APP_SRC(src), std::move(weight));
  }
  g_signal_connect_data(media, "unprepared", G_CALLBACK(media_unprepared), hold(ref),
                        release_closure, GConnectFlags(0));
  ref->medias.push_back(
      {ObjectPtr<GstRTSPMedia>(GST_RTSP_MEDIA(g_object_ref(media))), mount, audience});
  GST_DEBUG("mount %zu: media %p configured", mount, media);
}

void client_closed(GstRTSPClient *, gpointer data) {
  shared_ref(data)->clients.fetch_sub(1, std::memory_order_relaxed);
}

void client_connected(GstRTSPServer *, GstRTSPClient *client, gpointer data) {
  const SharedRef &ref = shared_ref(data);
  ref->clients.fetch_add(1, std::memory_order_relaxed);
  g_signal_connect_data(client, "closed", G_CALLBACK(client_closed), hold(ref), release_closure,
                        GConnectFlags(0));
}

bool session_plays(GstRTSPSession *session, const std::set<GstRTSPMedia *> &medias) {
  GList *session_medias = gst_rtsp_session_filter(session, nullptr, nullptr);
  bool plays = false;
  for (GList *l = session_medias; l; l = l->next)
    plays |= medias.contains(gst_rtsp_session_media_get_media(GST_RTSP_SESSION_MEDIA(l->data)));
  g_list_free_full(session_medias, g_object_unref);
  return plays;
}

bool client_plays(GstRTSPClient *client, const std::set<GstRTSPMedia *> &medias) {
  GList *sessions = gst_rtsp_client_session_filter(
      client, [](GstRTSPClient *, GstRTSPSession *, gpointer) { return GST_RTSP_FILTER_REF; },
      nullptr);
  bool plays = false;
  for (GList *l = sessions; l; l = l->next)
    plays |= session_plays(GST_RTSP_SESSION(l->data), medias);
  g_list_free_full(sessions, g_object_unref);
  return plays;
}

/* Media, sessions and client connections that a disconnect takes down. */
struct Doomed {
  bool everything;
  std::set<GstRTSPMedia *> medias;
};

} // namespace

/* One started server: its thread and main loop, the rtsp-server objects and,
 * in clip mode, the feeder. Construction starts serving; destruction tears
 * everything down. */
class Runtime {
public:
  Runtime(const Options &options, const std::vector<std::string> &mounts,
          const std::vector<bool> &enabled, std::shared_ptr<const Clip> clip, uint16_t port);
  ~Runtime();
  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

  uint16_t port() const { return port_; }
  void stop_mount(size_t index);
  void start_mount(size_t index);
  Stats stats() const;

private:
  /* Closes the connections of the clients that play the chosen media (all
   * clients when everything goes), ends their sessions and unprepares the
   * media. */
  void disconnect(std::optional<size_t> mount);

  const std::vector<std::string> &mounts_;
  const SharedRef shared_ = std::make_shared<Shared>();
  const ContextPtr context_{g_main_context_new()};
  const LoopPtr loop_{g_main_loop_new(context_.get(), FALSE)};
  ObjectPtr<GstRTSPServer> server_{gst_rtsp_server_new()};
  ObjectPtr<GstRTSPMountPoints> mount_points_{gst_rtsp_mount_points_new()};
  ObjectPtr<GstRTSPThreadPool> thread_pool_;
  /* One per mount; with share_media > 1, the group's factory at each of its
   * mounts. */
  std::vector<ObjectPtr<GstRTSPMediaFactory>> factories_;
  GSource *listener_ = nullptr; /* owned ref */
  uint16_t port_ = 0;
  std::thread thread_;
};

Runtime::Runtime(const Options &options, const std::vector<std::string> &mounts,
                 const std::vector<bool> &enabled, std::shared_ptr<const Clip> clip, uint16_t port)
    : mounts_(mounts), thread_pool_(camsim_thread_pool_new(options.service_threads)) {
  if (clip)
    shared_->feeder = std::make_unique<ClipFeeder>(std::move(clip));

  GstRTSPServer *server = server_.get();
  gst_rtsp_server_set_address(server, options.address.c_str());
  gst_rtsp_server_set_service(server, std::to_string(port).c_str());
  gst_rtsp_server_set_backlog(server, kListenBacklog);
  gst_rtsp_server_set_mount_points(server, mount_points_.get());
  gst_rtsp_server_set_thread_pool(server, thread_pool_.get());
  g_signal_connect_data(server, "client-connected", G_CALLBACK(client_connected), hold(shared_),
                        release_closure, GConnectFlags(0));

  const bool tls = !options.tls_cert_file.empty();
  const bool auth_required = options.behavior == Behavior::Unauthorized || !options.user.empty();
  if (auth_required || tls) {
    ObjectPtr<GstRTSPAuth> auth(gst_rtsp_auth_new());
    g_autoptr(GstRTSPToken) token =
        gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, kUserRole, nullptr);
    /* Unauthorized: no user at all, so every request gets 401. */
    if (options.behavior == Behavior::Normal && !options.user.empty()) {
      if (options.auth == AuthMethod::Digest) {
        gst_rtsp_auth_set_supported_methods(auth.get(), GST_RTSP_AUTH_DIGEST);
        gst_rtsp_auth_add_digest(auth.get(), options.user.c_str(), options.password.c_str(), token);
      } else {
        g_autofree gchar *basic =
            gst_rtsp_auth_make_basic(options.user.c_str(), options.password.c_str());
        gst_rtsp_auth_add_basic(auth.get(), basic, token);
      }
    } else if (!auth_required) {
      /* TLS alone: everybody may watch. */
      gst_rtsp_auth_set_default_token(auth.get(), token);
    }
    if (tls) {
      g_autoptr(GError) error = nullptr;
      g_autoptr(GTlsCertificate) certificate = g_tls_certificate_new_from_files(
          options.tls_cert_file.c_str(), options.tls_key_file.c_str(), &error);
      if (!certificate)
        throw Error(strprintf("camsim: cannot load the TLS certificate %s (key %s): %s",
                              options.tls_cert_file.c_str(), options.tls_key_file.c_str(),
                              error->message));
      gst_rtsp_auth_set_tls_certificate(auth.get(), certificate);
    }
    gst_rtsp_server_set_auth(server, auth.get());
  }
  const bool roles = auth_required || tls;

  GstRTSPLowerTrans protocols =
      GstRTSPLowerTrans((options.transports.udp ? GST_RTSP_LOWER_TRANS_UDP : 0) |
                        (options.transports.tcp ? GST_RTSP_LOWER_TRANS_TCP : 0));
  g_autoptr(GstClock) clock = gst_system_clock_obtain();
  const size_t share = options.share_media;
  for (size_t i = 0; i < mounts.size(); i++) {
    if (i % share) {
      /* The rest of a group: the same factory object, so requests for any of
       * its paths find the media it caches (see shared-factory.hpp). */
      GstRTSPMediaFactory *factory = factories_.back().get();
      factories_.emplace_back(GST_RTSP_MEDIA_FACTORY(g_object_ref(factory)));
      if (enabled[i])
        gst_rtsp_mount_points_add_factory(mount_points_.get(), mounts[i].c_str(),
                                          GST_RTSP_MEDIA_FACTORY(g_object_ref(factory)));
      continue;
    }
    GstRTSPMediaFactory *factory =
        share > 1 ? camsim_shared_factory_new() : gst_rtsp_media_factory_new();
    factories_.emplace_back(factory);
    std::string launch =
        options.source == Source::Clip ? clip_launch(options) : live_launch(options, mounts[i]);
    gst_rtsp_media_factory_set_launch(factory, launch.c_str());
    /* One pipeline per mount (per group), however many clients watch it. */
    gst_rtsp_media_factory_set_shared(factory, TRUE);
    gst_rtsp_media_factory_set_protocols(factory, protocols);
    /* The feeder stamps frames against this clock. */
    gst_rtsp_media_factory_set_clock(factory, clock);
    if (roles)
      gst_rtsp_media_factory_add_role(factory, kUserRole, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS,
                                      G_TYPE_BOOLEAN, TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
                                      G_TYPE_BOOLEAN, TRUE, nullptr);
    g_object_set_qdata(G_OBJECT(factory), mount_index_quark(), GSIZE_TO_POINTER(i + 1));
    g_signal_connect_data(factory, "media-configure", G_CALLBACK(media_configure), hold(shared_),
                          release_closure, GConnectFlags(0));
    if (enabled[i])
      gst_rtsp_mount_points_add_factory(mount_points_.get(), mounts[i].c_str(),
                                        GST_RTSP_MEDIA_FACTORY(g_object_ref(factory)));
  }

  g_autoptr(GError) error = nullptr;
  listener_ = gst_rtsp_server_create_source(server, nullptr, &error);
  if (!listener_)
    throw Error(strprintf("camsim: cannot listen on %s port %u: %s", options.address.c_str(), port,
                          error ? error->message : "unknown error"));
  port_ = uint16_t(gst_rtsp_server_get_bound_port(server));
  g_source_attach(listener_, context_.get());
  thread_ = std::thread([this] {
    g_main_context_push_thread_default(context_.get());
    g_main_loop_run(loop_.get());
    g_main_context_pop_thread_default(context_.get());
  });
  GST_INFO("serving %zu mounts on %s port %u", mounts.size(), options.address.c_str(), port_);
}

Runtime::~Runtime() {
  /* On the server thread, so no connection is being accepted meanwhile. The
   * listening socket closes with the source. */
  invoke_and_wait(context_.get(), [this] { g_source_destroy(listener_); });
  {
    std::lock_guard guard(shared_->lock);
    shared_->closed = true;
  }
  disconnect(std::nullopt);
  g_main_loop_quit(loop_.get());
  thread_.join();

  std::unique_ptr<ClipFeeder> feeder;
  {
    std::lock_guard guard(shared_->lock);
    feeder = std::move(shared_->feeder);
  }
  feeder.reset();
  camsim_thread_pool_release_threads(thread_pool_.get());
  g_source_unref(listener_);
  /* Dispatch what the loop left behind (destroy notifies of idle sources). */
  while (g_main_context_iteration(context_.get(), FALSE)) {
  }
  GST_INFO("stopped serving on port %u", port_);
}

void Runtime::disconnect(std::optional<size_t> mount) {
  std::vector<ObjectPtr<GstRTSPMedia>> medias;
  Doomed doomed{!mount.has_value(), {}};
  {
    std::lock_guard guard(shared_->lock);
    std::vector<GstRTSPMedia *> chosen;
    for (const TrackedMedia &tracked : shared_->medias) {
      if (!mount || tracked.mount == *mount)
        chosen.push_back(tracked.media.get());
    }
    for (GstRTSPMedia *media : chosen) {
      doomed.medias.insert(media);
      medias.push_back(forget_media(*shared_, media));
    }
  }

  GList *kept = gst_rtsp_server_client_filter(
      server_.get(),
      [](GstRTSPServer *, GstRTSPClient *client, gpointer data) {
        auto doomed = static_cast<const Doomed *>(data);
        return doomed->everything || client_plays(client, doomed->medias) ? GST_RTSP_FILTER_REMOVE
                                                                          : GST_RTSP_FILTER_KEEP;
      },
      &doomed);
  g_list_free_full(kept, g_object_unref);

  g_autoptr(GstRTSPSessionPool) pool = gst_rtsp_server_get_session_pool(server_.get());
  kept = gst_rtsp_session_pool_filter(
      pool,
      [](GstRTSPSessionPool *, GstRTSPSession *session, gpointer data) {
        auto doomed = static_cast<const Doomed *>(data);
        return doomed->everything || session_plays(session, doomed->medias) ? GST_RTSP_FILTER_REMOVE
                                                                            : GST_RTSP_FILTER_KEEP;
      },
      &doomed);
  g_list_free_full(kept, g_object_unref);

  for (const ObjectPtr<GstRTSPMedia> &media : medias)
    gst_rtsp_media_unprepare(media.get());
}

void Runtime::stop_mount(size_t index) {
  gst_rtsp_mount_points_remove_factory(mount_points_.get(), mounts_[index].c_str());
  disconnect(index);
}

void Runtime::start_mount(size_t index) {
  GstRTSPMediaFactory *factory = factories_[index].get();
  gst_rtsp_mount_points_add_factory(mount_points_.get(), mounts_[index].c_str(),
                                    GST_RTSP_MEDIA_FACTORY(g_object_ref(factory)));
}

Stats Runtime::stats() const {
  Stats stats;
  stats.clients = shared_->clients.load(std::memory_order_relaxed);
  stats.rtp_packets = shared_->rtp_packets.load(std::memory_order_relaxed);
  stats.rtp_bytes = shared_->rtp_bytes.load(std::memory_order_relaxed);
  std::lock_guard guard(shared_->lock);
  stats.medias = shared_->medias.size();
  for (const TrackedMedia &tracked : shared_->medias)
    stats.streams += tracked.audience ? tracked.audience->count() : 1;
  if (shared_->feeder) {
    stats.frames_sent = shared_->feeder->frames_sent();
    stats.frames_dropped = shared_->feeder->frames_dropped();
  }
  return stats;
}

class Server::Impl {
public:
  explicit Impl(Options opts)
      : options(std::move(opts)), mounts(mount_paths(options)), enabled(mounts.size(), true),
        port(options.port) {
    check_options(options, mounts);
  }

  const Options options;
  const std::vector<std::string> mounts;

  mutable std::mutex lock;
  std::vector<bool> enabled;        /* guarded by lock */
  std::shared_ptr<const Clip> clip; /* guarded by lock; loaded by the first start() */
  uint16_t port;                    /* guarded by lock; the bound port once started */
  std::unique_ptr<Runtime> runtime; /* guarded by lock; set while serving */
};

Server::Server(Options options) {
  if (!gst_is_initialized())
    gst_init(nullptr, nullptr);
  static std::once_flag debug_once;
  std::call_once(debug_once, [] {
    GST_DEBUG_CATEGORY_INIT(camsim_debug, "camsim", 0, "gpurtsp synthetic RTSP cameras");
  });
  impl_ = std::make_unique<Impl>(std::move(options));
}

Server::~Server() {
  stop();
}

void Server::start() {
  std::lock_guard guard(impl_->lock);
  if (impl_->runtime)
    return;
  const Options &options = impl_->options;
  require_elements(options);
  if (options.source == Source::Clip && !impl_->clip)
    impl_->clip = Clip::load(ensure_clip(options), options.codec, options.fps);
  impl_->runtime =
      std::make_unique<Runtime>(options, impl_->mounts, impl_->enabled, impl_->clip, impl_->port);
  impl_->port = impl_->runtime->port();
}

void Server::stop() {
  std::lock_guard guard(impl_->lock);
  impl_->runtime.reset();
}

bool Server::running() const {
  std::lock_guard guard(impl_->lock);
  return impl_->runtime != nullptr;
}

uint16_t Server::port() const {
  std::lock_guard guard(impl_->lock);
  return impl_->port;
}

size_t Server::size() const {
  return impl_->mounts.size();
}

const std::string &Server::mount(size_t index) const {
  return impl_->mounts.at(index);
}

std::string Server::url(size_t index) const {
  return strprintf("%s://%s:%u%s", scheme(impl_->options), url_host(impl_->options.address).c_str(),
                   port(), mount(index).c_str());
}

std::string Server::url_with_credentials(size_t index) const {
  const Options &options = impl_->options;
  if (options.user.empty())
    return url(index);
  g_autofree gchar *user = g_uri_escape_string(options.user.c_str(), nullptr, FALSE);
  g_autofree gchar *password = g_uri_escape_string(options.password.c_str(), nullptr, FALSE);
  return strprintf("%s://%s:%s@%s:%u%s", scheme(options), user, password,
                   url_host(options.address).c_str(), port(), mount(index).c_str());
}

void Server::stop_mount(size_t index) {
  if (impl_->options.share_media > 1)
    throw Error("camsim: stop_mount() needs share_media 1: a mount's media serves its group");
  std::lock_guard guard(impl_->lock);
  if (!impl_->enabled.at(index))
    return;
  impl_->enabled[index] = false;
  if (impl_->runtime)
    impl_->runtime->stop_mount(index);
}

void Server::start_mount(size_t index) {
  if (impl_->options.share_media > 1)
    throw Error("camsim: start_mount() needs share_media 1: a mount's media serves its group");
  std::lock_guard guard(impl_->lock);
  if (impl_->enabled.at(index))
    return;
  impl_->enabled[index] = true;
  if (impl_->runtime)
    impl_->runtime->start_mount(index);
}

Stats Server::stats() const {
  std::lock_guard guard(impl_->lock);
  return impl_->runtime ? impl_->runtime->stats() : Stats{};
}

const Options &Server::options() const {
  return impl_->options;
}

} // namespace gpurtsp::camsim
