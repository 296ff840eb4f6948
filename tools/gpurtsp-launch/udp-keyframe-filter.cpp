// SPDX-License-Identifier: MIT
#include "udp-keyframe-filter.h"

#include <atomic>
#include <cstring>
#include <optional>

#include "element-catalog.h"
#include "log.h"
#include "rtp/rtp-socket-filter.h"

namespace gpurtsp::launch {

namespace {

std::atomic<std::size_t> active_filters{0};
std::atomic<std::uint64_t> removed_filters{0};

constexpr char kUdpSrcFactory[] = "udpsrc";
constexpr char kCapsProperty[] = "caps";
constexpr char kUsedSocketProperty[] = "used-socket";

/* The codec and payload type of video RTP caps, if H.264/H.265. */
std::optional<std::pair<rtp::VideoCodec, uint8_t>> video_stream(GstCaps *caps) {
  const GstStructure *s =
      caps && !gst_caps_is_empty(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  if (!s || !gst_structure_has_name(s, "application/x-rtp"))
    return std::nullopt;
  const char *media = gst_structure_get_string(s, catalog::rtspsrc::caps_field::kMedia);
  const char *encoding = gst_structure_get_string(s, catalog::rtspsrc::caps_field::kEncodingName);
  int payload = -1;
  if (g_strcmp0(media, "video") != 0 || !encoding ||
      !gst_structure_get_int(s, catalog::rtspsrc::caps_field::kPayload, &payload) || payload < 0 ||
      payload > 127)
    return std::nullopt;
  const std::optional<rtp::VideoCodec> codec = rtp::video_codec_named(encoding);
  if (!codec)
    return std::nullopt;
  return std::pair(*codec, uint8_t(payload));
}

void delete_weak(gpointer data) {
  delete static_cast<std::weak_ptr<UdpKeyframeFilters> *>(data);
}

} // namespace

bool udp_keyframe_filter_enabled() {
  static const bool enabled = g_strcmp0(g_getenv("GPURTSP_UDP_KEYFRAME_FILTER"), "0") != 0;
  return enabled;
}

std::size_t udp_keyframe_filters_active() {
  return active_filters.load(std::memory_order_relaxed);
}

std::uint64_t udp_keyframe_filters_removed() {
  return removed_filters.load(std::memory_order_relaxed);
}

UdpKeyframeFilters::~UdpKeyframeFilters() {
  std::lock_guard guard(lock_);
  active_filters -= sockets_.size();
  for (GSocket *socket : sockets_)
    g_object_unref(socket);
}

void UdpKeyframeFilters::watch(const std::shared_ptr<UdpKeyframeFilters> &self, GstElement *rtspsrc,
                               std::function<void()> before_attach) {
  self->before_attach_ = std::move(before_attach);
  /* rtspsrc adds its udpsrcs to itself (a bin) when it sets up UDP. */
  g_signal_connect_data(
      rtspsrc, "element-added", G_CALLBACK(+[](GstBin *, GstElement *element, gpointer weak) {
        GstElementFactory *factory = gst_element_get_factory(element);
        if (!factory || std::strcmp(GST_OBJECT_NAME(factory), kUdpSrcFactory) != 0)
          return;
        g_autoptr(GstPad) pad = gst_element_get_static_pad(element, "src");
        if (!pad)
          return;
        gst_pad_add_probe(
            pad, GST_PAD_PROBE_TYPE_BUFFER,
            +[](GstPad *pad, GstPadProbeInfo *, gpointer weak) -> GstPadProbeReturn {
              if (auto filters = static_cast<std::weak_ptr<UdpKeyframeFilters> *>(weak)->lock()) {
                g_autoptr(GstElement) udpsrc = gst_pad_get_parent_element(pad);
                if (udpsrc)
                  filters->attach(udpsrc);
              }
              return GST_PAD_PROBE_REMOVE;
            },
            new std::weak_ptr<UdpKeyframeFilters>(
                *static_cast<std::weak_ptr<UdpKeyframeFilters> *>(weak)),
            delete_weak);
      }),
      new std::weak_ptr<UdpKeyframeFilters>(self),
      [](gpointer data, GClosure *) { delete_weak(data); }, GConnectFlags(0));
}

void UdpKeyframeFilters::attach(GstElement *udpsrc) {
  g_autoptr(GstCaps) caps = nullptr;
  g_autoptr(GSocket) socket = nullptr;
  g_object_get(udpsrc, kCapsProperty, &caps, kUsedSocketProperty, &socket, nullptr);
  const auto stream = video_stream(caps);
  if (!stream || !socket)
    return; /* RTCP, audio, another codec */
  std::lock_guard guard(lock_);
  if (given_up_)
    return;
  if (before_attach_)
    before_attach_();
  std::string error;
  if (!rtp::attach_keyframe_socket_filter(g_socket_get_fd(socket), stream->first, stream->second,
                                          error)) {
    LAUNCH_WARNING("%s: UDP packets are filtered after the socket: %s", camera_id_.c_str(),
                   error.c_str());
    return;
  }
  sockets_.push_back(G_SOCKET(g_steal_pointer(&socket)));
  active_filters++;
}

bool UdpKeyframeFilters::on_keyframe_cut(std::int64_t now_us) {
  {
    std::lock_guard guard(lock_);
    if (given_up_ || sockets_.empty())
      return false;
    std::erase_if(cuts_us_, [&](std::int64_t cut_us) { return now_us - cut_us >= kCutWindowUs; });
    cuts_us_.push_back(now_us);
    if (cuts_us_.size() < kCutsToGiveUp)
      return false;
  }
  return give_up();
}

bool UdpKeyframeFilters::give_up() {
  std::lock_guard guard(lock_);
  given_up_ = true;
  if (sockets_.empty())
    return false;
  for (GSocket *socket : sockets_) {
    std::string error;
    if (!rtp::detach_socket_filter(g_socket_get_fd(socket), error))
      LAUNCH_WARNING("%s: %s", camera_id_.c_str(), error.c_str());
    g_object_unref(socket);
  }
  active_filters -= sockets_.size();
  removed_filters += sockets_.size();
  sockets_.clear();
  return true;
}

std::size_t UdpKeyframeFilters::active() const {
  std::lock_guard guard(lock_);
  return sockets_.size();
}

} // namespace gpurtsp::launch
