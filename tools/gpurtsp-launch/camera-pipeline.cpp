// SPDX-License-Identifier: MIT
#include "camera-pipeline.h"

#include <gio/gio.h>

#include <map>
#include <mutex>
#include <vector>

#include <gst/rtp/rtp.h>

#include "access-unit-guard.h"
#include "log.h"
#include "rate-limiter.h"

namespace gpurtsp::launch {

namespace {

namespace rtspsrc = catalog::rtspsrc;

/* rtpkeyframefilter's reorder-window, in packets. */
constexpr guint kUdpReorderWindow = 24;

/* A new element made and configured from @spec; nullptr and @error when the
 * element or one of its properties does not exist or a value is invalid. */
GstElement *make_element(const ElementSpec &spec, std::string &error) {
  GstElement *element = gst_element_factory_make(spec.factory.c_str(), nullptr);
  if (!element) {
    error = "element " + spec.factory + " is not available (plugin not installed?)";
    return nullptr;
  }
  gst_object_ref_sink(element);
  for (const PropertySpec &property : spec.properties) {
    GParamSpec *pspec =
        g_object_class_find_property(G_OBJECT_GET_CLASS(element), property.name.c_str());
    GValue value = G_VALUE_INIT;
    if (pspec)
      g_value_init(&value, pspec->value_type);
    if (!pspec || !gst_value_deserialize_with_pspec(&value, property.value.c_str(), pspec)) {
      error = spec.factory + (pspec ? " rejects " + property.name + "=" +
                                          (property.secret ? "***" : property.value)
                                    : " has no property " + property.name);
      if (pspec)
        g_value_unset(&value);
      gst_object_unref(element);
      return nullptr;
    }
    g_object_set_property(G_OBJECT(element), property.name.c_str(), &value);
    g_value_unset(&value);
  }
  return element;
}

/* The guard of one depayloader, shared by its two pad probes and the
 * pipeline (which reads the count). The guard itself is used by the
 * streaming thread only. */
} // namespace

struct GuardedDepay {
  explicit GuardedDepay(AccessUnitGuard::Codec codec) : guard(codec) {}
  AccessUnitGuard guard;
  std::atomic<uint64_t> dropped{0};
};

namespace {

using GuardRef = std::shared_ptr<GuardedDepay>;

void guard_packet(GuardedDepay &depay, GstBuffer *buffer) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp))
    return;
  depay.guard.packet(gst_rtp_buffer_get_seq(&rtp), gst_rtp_buffer_get_timestamp(&rtp),
                     GST_BUFFER_PTS(buffer), gst_rtp_buffer_get_marker(&rtp),
                     static_cast<const uint8_t *>(gst_rtp_buffer_get_payload(&rtp)),
                     gst_rtp_buffer_get_payload_len(&rtp));
  gst_rtp_buffer_unmap(&rtp);
}

GstPadProbeReturn on_depay_input(GstPad *, GstPadProbeInfo *info, gpointer data) {
  GuardedDepay &depay = **static_cast<GuardRef *>(data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    guard_packet(depay, GST_PAD_PROBE_INFO_BUFFER(info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); i++)
      guard_packet(depay, gst_buffer_list_get(list, i));
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    const GstEventType type = GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info));
    if (type == GST_EVENT_FLUSH_STOP || type == GST_EVENT_STREAM_START)
      depay.guard.reset();
  }
  return GST_PAD_PROBE_OK;
}

bool guard_pass(GuardedDepay &depay, GstBuffer *unit) {
  const bool pass = depay.guard.pass(GST_BUFFER_PTS(unit),
                                     !GST_BUFFER_FLAG_IS_SET(unit, GST_BUFFER_FLAG_DELTA_UNIT));
  depay.dropped.store(depay.guard.dropped(), std::memory_order_relaxed);
  return pass;
}

GstPadProbeReturn on_depay_output(GstPad *, GstPadProbeInfo *info, gpointer data) {
  GuardedDepay &depay = **static_cast<GuardRef *>(data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    return guard_pass(depay, GST_PAD_PROBE_INFO_BUFFER(info)) ? GST_PAD_PROBE_OK
                                                              : GST_PAD_PROBE_DROP;
  GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
  GST_PAD_PROBE_INFO_DATA(info) = list;
  for (guint i = 0; i < gst_buffer_list_length(list);) {
    if (guard_pass(depay, gst_buffer_list_get(list, i)))
      i++;
    else
      gst_buffer_list_remove(list, i, 1);
  }
  return gst_buffer_list_length(list) > 0 ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

void delete_guard_ref(gpointer data) {
  delete static_cast<GuardRef *>(data);
}

/* Links @upstream's "src" pad (or a new "src_%u" request pad: tee) to
 * @downstream's "sink" pad checking the pads' templates only, without
 * gst_element_link's caps queries: those run through the whole chain at
 * every link and were half of the main thread's time while 1,000 cameras
 * started. The caps are negotiated when data flows; a mismatch then fails
 * the camera with not-negotiated. Elements without those pads take
 * gst_element_link. */
bool link_elements(GstElement *upstream, GstElement *downstream) {
  g_autoptr(GstPad) sink = gst_element_get_static_pad(downstream, catalog::kSinkPad);
  g_autoptr(GstPad) src = gst_element_get_static_pad(upstream, catalog::kSrcPad);
  /* A tee's pad is requested only once the link can use it. */
  if (!src && sink)
    src = gst_element_request_pad_simple(upstream, catalog::kRequestSrcPad);
  if (!src || !sink)
    return gst_element_link(upstream, downstream);
  return GST_PAD_LINK_SUCCESSFUL(gst_pad_link_full(src, sink, GST_PAD_LINK_CHECK_TEMPLATE_CAPS));
}

/* Makes @specs, adds them to @bin and links them in a chain. Returns the
 * elements (references owned by @bin), or an empty list and @error. */
std::vector<GstElement *> add_chain(GstBin *bin, const std::vector<ElementSpec> &specs,
                                    std::string &error) {
  std::vector<GstElement *> elements;
  for (const ElementSpec &spec : specs) {
    GstElement *element = make_element(spec, error);
    if (!element) {
      for (GstElement *added : elements)
        gst_bin_remove(bin, added);
      return {};
    }
    gst_bin_add(bin, element);
    gst_object_unref(element);
    if (!elements.empty() && !link_elements(elements.back(), element)) {
      error = "cannot link " + specs[elements.size() - 1].factory + " to " + spec.factory;
      elements.push_back(element);
      for (GstElement *added : elements)
        gst_bin_remove(bin, added);
      return {};
    }
    elements.push_back(element);
  }
  return elements;
}

GstPadProbeReturn limit_rate(GstPad *, GstPadProbeInfo *, gpointer limiter) {
  return static_cast<RateLimiter *>(limiter)->admit(g_get_monotonic_time()) ? GST_PAD_PROBE_OK
                                                                            : GST_PAD_PROBE_DROP;
}

std::optional<Codec> codec_of_encoding(const char *encoding) {
  if (!encoding)
    return std::nullopt;
  if (g_ascii_strcasecmp(encoding, "H264") == 0)
    return Codec::H264;
  if (g_ascii_strcasecmp(encoding, "H265") == 0)
    return Codec::H265;
  return std::nullopt;
}

/* Calls @function with the CameraPipeline that a signal handler's weak
 * reference names, if it still exists. */
template <typename Function>
void with_pipeline(gpointer weak, Function function) {
  if (auto self = static_cast<std::weak_ptr<CameraPipeline> *>(weak)->lock())
    function(*self);
}

void delete_weak(gpointer weak, GClosure *) {
  delete static_cast<std::weak_ptr<CameraPipeline> *>(weak);
}

/* The GTlsDatabase of a tls_ca_file, read once: a thousand cameras
 * reconnecting share one. Bounded by the files the config names. */
GTlsDatabase *tls_database(const std::string &path, std::string &error) {
  static std::mutex lock;
  static std::map<std::string, GTlsDatabase *> databases; /* guarded by lock; never freed */
  std::lock_guard guard(lock);
  if (auto found = databases.find(path); found != databases.end())
    return found->second;
  g_autoptr(GError) gerror = nullptr;
  GTlsDatabase *database = g_tls_file_database_new(path.c_str(), &gerror);
  if (!database) {
    error = "tls_ca_file " + path + ": " + gerror->message;
    return nullptr;
  }
  databases.emplace(path, database);
  return database;
}

/* "unknown certificate authority, expired": what GLib found wrong. */
std::string describe_tls_errors(unsigned flags) {
  static constexpr std::pair<GTlsCertificateFlags, const char *> kNames[] = {
      {G_TLS_CERTIFICATE_UNKNOWN_CA, "signed by an unknown certificate authority"},
      {G_TLS_CERTIFICATE_BAD_IDENTITY, "issued for another host name"},
      {G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet"},
      {G_TLS_CERTIFICATE_EXPIRED, "expired"},
      {G_TLS_CERTIFICATE_REVOKED, "revoked"},
      {G_TLS_CERTIFICATE_INSECURE, "insecure algorithm"},
      {G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid"},
  };
  std::string text;
  for (const auto &[flag, name] : kNames)
    if (flags & flag)
      text += (text.empty() ? "" : ", ") + std::string(name);
  return text.empty() ? "invalid" : text;
}

} // namespace

CameraPipeline::CameraPipeline(const CameraConfig &camera, Decoder decoder,
                               GstContext *cuda_context, ElementCatalog &elements,
                               GpuResources &gpus, GpuResources::DecoderSlot decoder_slot)
    : decoder_slot_(std::move(decoder_slot)), camera_(camera), decoder_(decoder),
      elements_(elements), gpus_(gpus),
      cuda_context_(cuda_context ? gst_context_ref(cuda_context) : nullptr) {}

std::shared_ptr<CameraPipeline> CameraPipeline::create(const CameraConfig &camera, Decoder decoder,
                                                       GstContext *cuda_context,
                                                       ElementCatalog &elements, GpuResources &gpus,
                                                       GpuResources::DecoderSlot decoder_slot,
                                                       std::string &error) {
  std::shared_ptr<CameraPipeline> pipeline(
      new CameraPipeline(camera, decoder, cuda_context, elements, gpus, std::move(decoder_slot)));
  pipeline->self_ = pipeline;
  if (!pipeline->build(error))
    return nullptr;
  return pipeline;
}

std::vector<ElementSpec> CameraPipeline::output_specs() const {
  return output_elements(camera_, decoder_,
                         decoder_ == Decoder::Nvidia &&
                                 camera_.settings.format == OutputFormat::Jpeg
                             ? elements_.jpeg_encoder(camera_.settings).factory
                             : std::string());
}

bool CameraPipeline::build(std::string &error) {
  const std::string name = "camera-" + camera_.id;
  pipeline_ = GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new(name.c_str())));
  /* Every element added later inherits the CUDA context from the bin; the
   * sync handler answers whoever asks anyway. */
  if (cuda_context_)
    gst_element_set_context(pipeline_, cuda_context_);
  {
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, on_bus_sync, this, nullptr);
  }

  source_ = make_element(source_element(camera_), error);
  if (!source_)
    return false;
  /* Told to the read buffer under RTSP over TCP: for decode: keyframes it
   * drops delta frames' packets before rtspsrc reads them. */
  url_use_ = std::make_unique<RtspUrlUse>(camera_.url.location,
                                          camera_.settings.decode == DecodeMode::Keyframes);
  gst_bin_add(GST_BIN(pipeline_), source_);
  if (camera_.url.tls() && !set_up_tls(error))
    return false;

  /* The thumbnail's encoder: nvidia cameras without one (no gpujpegenc or
   * gpunv12torgb) go without thumbnails, frame.jpg?width= then serving the
   * full frame. */
  std::string thumbnail_encoder;
  if (decoder_ == Decoder::Nvidia && thumbnail_width(camera_) > 0) {
    const ElementChoice chosen = elements_.thumbnail_encoder(camera_.settings);
    thumbnail_encoder = chosen.factory;
    if (chosen.factory.empty())
      LAUNCH_WARNING("%s: no thumbnails: %s", camera_.id.c_str(), chosen.reason.c_str());
  }
  const std::vector<ElementSpec> thumbnail_specs =
      thumbnail_elements(camera_, decoder_, thumbnail_encoder);
  std::vector<ElementSpec> output_chain = output_specs();
  if (!thumbnail_specs.empty())
    output_chain.insert(output_chain.begin(), ElementSpec{catalog::kTee, {}});
  const auto output = add_chain(GST_BIN(pipeline_), output_chain, error);
  if (output.empty())
    return false;
  keep_jpeg_encoders(output_chain, output);
  output_ = GST_ELEMENT(gst_object_ref(output.front()));
  GstElement *sink = output.back();
  if (!thumbnail_specs.empty()) {
    const auto branch = add_chain(GST_BIN(pipeline_), thumbnail_specs, error);
    if (branch.empty())
      return false;
    keep_jpeg_encoders(thumbnail_specs, branch);
    if (!link_elements(output_, branch.front())) {
      error = "cannot link tee to " + thumbnail_specs.front().factory;
      return false;
    }
    g_autoptr(GstPad) branch_pad = gst_element_get_static_pad(branch.front(), catalog::kSinkPad);
    gst_pad_add_probe(branch_pad, GST_PAD_PROBE_TYPE_BUFFER, limit_rate,
                      new RateLimiter(kThumbnailFps),
                      [](gpointer limiter) { delete static_cast<RateLimiter *>(limiter); });
    thumbnail_sink_ = LatestFrameSink::wrap(branch.back());
  }
  /* What LatestFrameSink relies on, checked once here: an older gpurtsp
   * then fails the camera with a reason instead of GObject warnings. */
  namespace sink_property = catalog::latestframesink::property;
  for (const char *property : {sink_property::kFramesReceived, sink_property::kLastFrameTime})
    if (!g_object_class_find_property(G_OBJECT_GET_CLASS(sink), property)) {
      error = std::string("latestframesink has no property ") + property + " (gpurtsp too old?)";
      return false;
    }
  const char *latest_signal = catalog::latestframesink::signal_name::kGetLatestSample;
  if (!g_signal_lookup(latest_signal, G_OBJECT_TYPE(sink))) {
    error = std::string("latestframesink has no ") + latest_signal + " signal";
    return false;
  }
  sink_ = LatestFrameSink::wrap(sink);
  if (!sink_) {
    error = std::string(G_OBJECT_TYPE_NAME(sink)) + " is not a latestframesink";
    return false;
  }

  /* After the sink stored the frame, so that a camera read as streaming
   * has a JPEG to serve; once, then the handler goes (new-frame with no
   * handler costs a flag test a frame). */
  g_object_set(sink, catalog::latestframesink::property::kEmitSignals, TRUE, nullptr);
  g_signal_connect(sink, catalog::latestframesink::signal_name::kNewFrame,
                   G_CALLBACK(post_first_frame), nullptr);

  g_autoptr(GstPad) output_pad = gst_element_get_static_pad(output_, catalog::kSinkPad);
  /* Added first, so it counts what the rate limit drops too. */
  gst_pad_add_probe(
      output_pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *, gpointer counter) {
        static_cast<std::atomic<uint64_t> *>(counter)->fetch_add(1, std::memory_order_relaxed);
        return GST_PAD_PROBE_OK;
      },
      &decoded_frames_, nullptr);
  if (camera_.settings.fps > 0) {
    gst_pad_add_probe(output_pad, GST_PAD_PROBE_TYPE_BUFFER, limit_rate,
                      new RateLimiter(camera_.settings.fps),
                      [](gpointer limiter) { delete static_cast<RateLimiter *>(limiter); });
  }

  g_signal_connect_data(
      source_, rtspsrc::signal_name::kSelectStream,
      G_CALLBACK(+[](GstElement *, guint, GstCaps *caps, gpointer weak) -> gboolean {
        gboolean selected = FALSE;
        with_pipeline(weak, [&](CameraPipeline &self) { selected = self.select_stream(caps); });
        return selected;
      }),
      new std::weak_ptr<CameraPipeline>(self_), delete_weak, GConnectFlags(0));
  g_signal_connect_data(source_, catalog::kPadAddedSignal,
                        G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer weak) {
                          with_pipeline(weak, [&](CameraPipeline &self) { self.link_stream(pad); });
                        }),
                        new std::weak_ptr<CameraPipeline>(self_), delete_weak, GConnectFlags(0));
  if (camera_.settings.decode == DecodeMode::Keyframes)
    filter_keyframes_in_rtpbin();
  return true;
}

bool CameraPipeline::set_up_tls(std::string &error) {
  if (!camera_.settings.tls_ca_file.empty()) {
    GTlsDatabase *database = tls_database(camera_.settings.tls_ca_file, error);
    if (!database)
      return false;
    g_object_set(source_, rtspsrc::property::kTlsDatabase, database, nullptr);
  }
  /* Asked only about a certificate that failed validation (against the
   * system's CAs, then tls_ca_file's): strict refuses it and keeps why. */
  g_signal_connect_data(source_, rtspsrc::signal_name::kAcceptCertificate,
                        G_CALLBACK(+[](GstElement *, GTlsConnection *, GTlsCertificate *,
                                       GTlsCertificateFlags errors, gpointer weak) -> gboolean {
                          gboolean accept = FALSE;
                          with_pipeline(weak, [&](CameraPipeline &self) {
                            if (self.camera_.settings.tls_validation == TlsValidation::None)
                              accept = TRUE;
                            else
                              self.tls_errors_ = unsigned(errors)
                                                     ? unsigned(errors)
                                                     : unsigned(G_TLS_CERTIFICATE_GENERIC_ERROR);
                          });
                          return accept;
                        }),
                        new std::weak_ptr<CameraPipeline>(self_), delete_weak, GConnectFlags(0));
  return true;
}

std::string CameraPipeline::tls_rejection() const {
  const unsigned errors = tls_errors_;
  return errors ? describe_tls_errors(errors) : std::string();
}

void CameraPipeline::filter_keyframes_in_rtpbin() {
  const char *filter_factory = catalog::rtpkeyframefilter::kFactory;
  g_autoptr(GstElementFactory) factory = gst_element_factory_find(filter_factory);
  if (!factory) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      LAUNCH_WARNING("%s is not available (gpurtsp plugin too old?): decode: keyframes "
                     "receives every packet through the jitterbuffer",
                     filter_factory);
    });
    return;
  }
  /* rtspsrc makes its rtpbin when it sets the streams up, again after a
   * transport fallback; each one gets the filter as its RTP "decoder", the
   * hook rtpbin has in front of the RTP session. */
  g_signal_connect_data(
      source_, rtspsrc::signal_name::kNewManager,
      G_CALLBACK(+[](GstElement *, GstElement *manager, gpointer weak) {
        /* After rtspsrc's own handler, which answers for SRTP streams only:
         * the first element returned wins. */
        g_signal_connect_data(
            manager, catalog::rtpbin::signal_name::kRequestRtpDecoder,
            G_CALLBACK(+[](GstElement *, guint, gpointer weak) -> GstElement * {
              GstElement *filter = nullptr;
              with_pipeline(weak, [&](CameraPipeline &self) { filter = self.make_rtp_filter(); });
              return filter;
            }),
            new std::weak_ptr<CameraPipeline>(*static_cast<std::weak_ptr<CameraPipeline> *>(weak)),
            delete_weak, G_CONNECT_AFTER);
      }),
      new std::weak_ptr<CameraPipeline>(self_), delete_weak, GConnectFlags(0));

  if (udp_keyframe_filter_enabled()) {
    udp_filters_ = std::make_shared<UdpKeyframeFilters>(camera_.id);
    /* Over UDP the kernel drops most delta packets: rtpkeyframefilter
     * closes up the gaps that leaves instead of waiting for them. */
    UdpKeyframeFilters::watch(udp_filters_, source_, [this] {
      std::lock_guard lock(stream_lock_);
      if (rtp_filter_ &&
          g_object_class_find_property(G_OBJECT_GET_CLASS(rtp_filter_),
                                       catalog::rtpkeyframefilter::property::kGapsAreDrops))
        g_object_set(rtp_filter_, catalog::rtpkeyframefilter::property::kGapsAreDrops, TRUE,
                     nullptr);
    });
  }
}

void CameraPipeline::on_keyframe_cut(GstElement *filter) {
  if (!udp_filters_ || !udp_filters_->on_keyframe_cut(g_get_monotonic_time()))
    return;
  g_object_set(filter, catalog::rtpkeyframefilter::property::kGapsAreDrops, FALSE, nullptr);
  LAUNCH_WARNING("%s: %u keyframes arrived cut short within %lld s with UDP delta packets "
                 "dropped in the kernel (I frames without IDR, or losses): they are dropped after "
                 "the socket from now on",
                 camera_.id.c_str(), UdpKeyframeFilters::kCutsToGiveUp,
                 static_cast<long long>(UdpKeyframeFilters::kCutWindowUs / G_USEC_PER_SEC));
}

GstElement *CameraPipeline::make_rtp_filter() {
  /* Floating: rtpbin sinks it and owns it. Only H.264/H.265 caps make it
   * filter; any other session passes through it untouched. */
  GstElement *filter = gst_element_factory_make(catalog::rtpkeyframefilter::kFactory, nullptr);
  if (!filter)
    return nullptr;
  /* Over UDP packets can overtake each other, and the filter sits before
   * the jitterbuffer that would put them back in order: it waits for a
   * missing packet while this many later ones arrive (~0.15 s at 2 Mbit/s)
   * before it counts it lost. Over TCP it costs nothing (nothing is ever
   * missing) and covers a relay that reorders. */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(filter),
                                   catalog::rtpkeyframefilter::property::kReorderWindow))
    g_object_set(filter, catalog::rtpkeyframefilter::property::kReorderWindow, kUdpReorderWindow,
                 nullptr);
  std::lock_guard lock(stream_lock_);
  gst_clear_object(&rtp_filter_);
  rtp_filter_ = GST_ELEMENT(gst_object_ref(filter));
  return filter;
}

CameraPipeline::~CameraPipeline() {
  shutdown();
  if (pipeline_) {
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  }
  gst_clear_object(&keyframe_decoder_);
  for (GstElement *encoder : jpeg_encoders_)
    gst_object_unref(encoder);
  gst_clear_object(&rtp_filter_);
  sink_.reset();
  thumbnail_sink_.reset();
  gst_clear_object(&output_);
  gst_clear_object(&source_);
  gst_clear_object(&pipeline_);
  if (cuda_context_)
    gst_context_unref(cuda_context_);
}

void CameraPipeline::play() {
  std::lock_guard lock(state_lock_);
  if (shut_down_ || stopping_)
    return;
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    post_error(GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE, "the pipeline failed to start");
}

void CameraPipeline::shutdown() {
  std::lock_guard lock(state_lock_);
  if (shut_down_ || !pipeline_)
    return;
  shut_down_ = true;
  stopping_ = true;
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  /* Elements a pad-added racing with the first call brought up: NULL to
   * NULL sets every child to NULL again. */
  gst_element_set_state(pipeline_, GST_STATE_NULL);
}

bool CameraPipeline::select_stream(GstCaps *caps) {
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const char *media = gst_structure_get_string(s, rtspsrc::caps_field::kMedia);
  const char *encoding = gst_structure_get_string(s, rtspsrc::caps_field::kEncodingName);
  if (g_strcmp0(media, "video") != 0) {
    std::lock_guard lock(stream_lock_);
    other_media_ += std::string(other_media_.empty() ? "" : ", ") + (media ? media : "unknown") +
                    " " + (encoding ? encoding : "unknown");
    return false;
  }
  const auto codec = codec_of_encoding(encoding);
  const CodecChoice wanted = camera_.settings.codec;
  const bool acceptable = codec && (wanted == CodecChoice::Auto ||
                                    (wanted == CodecChoice::H264) == (*codec == Codec::H264));
  std::lock_guard lock(stream_lock_);
  if (stream_selected_)
    return false;
  if (!acceptable) {
    rejected_ += std::string(rejected_.empty() ? "" : ", ") + (encoding ? encoding : "unknown");
    return false;
  }
  stream_selected_ = true;
  return true;
}

void CameraPipeline::link_stream(GstPad *pad) {
  if (stopping_ || codec_ >= 0)
    return;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps)
    caps = gst_pad_query_caps(pad, nullptr);
  const auto codec = codec_of_encoding(gst_structure_get_string(
      gst_caps_get_structure(caps, 0), rtspsrc::caps_field::kEncodingName));
  if (!codec) {
    post_error(GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND,
               "rtspsrc offered a stream that is neither H.264 nor H.265");
    return;
  }

  const std::string factory =
      elements_.decoder_factory(decoder_, *codec, camera_.settings.gpu, camera_.settings.decode);
  if (factory.empty()) {
    post_error(GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
               std::string("no NVDEC ") + (*codec == Codec::H265 ? "H.265" : "H.264") +
                   " decoder element for GPU " + std::to_string(camera_.settings.gpu));
    return;
  }
  std::vector<ElementSpec> specs = depayload_elements(*codec, factory);
  for (auto &spec : decode_elements(camera_, decoder_, factory))
    specs.push_back(std::move(spec));

  std::string error;
  const auto chain = add_chain(GST_BIN(pipeline_), specs, error);
  if (chain.empty()) {
    post_error(GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, error);
    return;
  }
  if (!link_elements(chain.back(), output_)) {
    post_error(GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
               "cannot link " + factory + " to " + output_specs()[0].factory);
    return;
  }
  /* Downstream first, so nothing pushes into an element not yet running. */
  for (auto element = chain.rbegin(); element != chain.rend(); ++element)
    gst_element_sync_state_with_parent(*element);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad(chain.front(), catalog::kSinkPad);
  if (GST_PAD_LINK_FAILED(gst_pad_link(pad, sink_pad))) {
    post_error(GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
               "cannot link rtspsrc to " + specs.front().factory);
    return;
  }
  /* Before anything flows: rtspsrc's pad is linked but the chain's first
   * buffer comes from this thread's caller at the earliest. */
  guard_depayloader(chain.front(), *codec);
  if (factory == catalog::gpukeyframedec::kFactory) {
    std::lock_guard lock(stream_lock_);
    keyframe_decoder_ = GST_ELEMENT(gst_object_ref(chain.back()));
  }
  codec_ = int(*codec);
  LAUNCH_DEBUG("%s: %s stream linked to %s", camera_.id.c_str(), codec_name(*codec),
               factory.c_str());
}

void CameraPipeline::post_error(GQuark domain, gint code, const std::string &message) {
  g_autoptr(GError) error = g_error_new_literal(domain, code, message.c_str());
  gst_element_post_message(source_, gst_message_new_error(GST_OBJECT(source_), error, nullptr));
}

void CameraPipeline::post_first_frame(GstElement *sink, gpointer) {
  gst_element_post_message(
      sink,
      gst_message_new_application(GST_OBJECT(sink), gst_structure_new_empty(kFirstFrameMessage)));
  g_signal_handlers_disconnect_by_func(sink, reinterpret_cast<gpointer>(post_first_frame), nullptr);
}

GstBusSyncReply CameraPipeline::on_bus_sync(GstBus *, GstMessage *message, gpointer data) {
  auto self = static_cast<CameraPipeline *>(data);
  const char *type = nullptr;
  switch (GST_MESSAGE_TYPE(message)) {
  case GST_MESSAGE_ERROR:
  case GST_MESSAGE_WARNING:
  case GST_MESSAGE_EOS:
    return GST_BUS_PASS; /* Camera::on_bus_message, on the main thread */
  case GST_MESSAGE_APPLICATION:
    if (gst_message_has_name(message, kFirstFrameMessage))
      return GST_BUS_PASS;
    break;
  case GST_MESSAGE_ELEMENT:
    if (gst_message_has_name(message, catalog::rtpkeyframefilter::kKeyframeCutMessage))
      self->on_keyframe_cut(GST_ELEMENT(GST_MESSAGE_SRC(message)));
    break;
  case GST_MESSAGE_NEED_CONTEXT:
    if (self->cuda_context_ && gst_message_parse_context_type(message, &type) &&
        g_strcmp0(type, kCudaContextType) == 0)
      gst_element_set_context(GST_ELEMENT(GST_MESSAGE_SRC(message)), self->cuda_context_);
    break;
  case GST_MESSAGE_HAVE_CONTEXT: {
    GstContext *context = nullptr;
    gst_message_parse_have_context(message, &context);
    if (context && g_strcmp0(gst_context_get_context_type(context), kCudaContextType) == 0)
      self->gpus_.note_element_context();
    if (context)
      gst_context_unref(context);
    break;
  }
  default:
    break;
  }
  /* Nobody reads the rest (state changes, stream status, latency, QoS: ~50
   * messages a camera start), and each one the main thread dispatches costs
   * it O(cameras): GLib unlinks and re-inserts the bus watch's fd in a list
   * of every watched fd. At 2,000 cameras that alone kept the main thread
   * busy for minutes (docs/scale.md, "2,000 cameras"). A handler that
   * drops a message owns it (each one holds a reference to its source), so
   * every drop goes through here. */
  gst_message_unref(message);
  return GST_BUS_DROP;
}

uint64_t CameraPipeline::frames() const {
  return sink_->frames_received();
}

int64_t CameraPipeline::last_frame_us() const {
  const guint64 time_ns = sink_->last_frame_time();
  return time_ns == 0 ? -1 : int64_t(time_ns / 1000);
}

Sample CameraPipeline::latest(int64_t &arrival_us) const {
  /* Read first: if a frame lands in between, the age shown errs on the old
   * side by one frame, never on the young one. */
  arrival_us = last_frame_us();
  Sample sample = sink_->latest();
  if (sample && arrival_us < 0)
    arrival_us = last_frame_us();
  return sample;
}

Sample CameraPipeline::latest_thumbnail(int64_t &arrival_us) const {
  if (!thumbnail_sink_)
    return nullptr;
  const guint64 time_ns = thumbnail_sink_->last_frame_time();
  arrival_us = time_ns == 0 ? -1 : int64_t(time_ns / 1000);
  Sample sample = thumbnail_sink_->latest();
  if (sample && arrival_us < 0)
    arrival_us = int64_t(thumbnail_sink_->last_frame_time() / 1000);
  return sample;
}

void CameraPipeline::notify_frames(std::function<void()> notify) {
  notify_frame_ = std::move(notify);
  g_object_set(sink_->element(), catalog::latestframesink::property::kEmitSignals, TRUE, nullptr);
  /* The handler reads notify_frame_ of a pipeline that may be going: it
   * holds only a weak reference, like the rtspsrc handlers. */
  g_signal_connect_data(sink_->element(), catalog::latestframesink::signal_name::kNewFrame,
                        G_CALLBACK(+[](GstElement *, gpointer weak) {
                          with_pipeline(weak, [](CameraPipeline &self) { self.notify_frame_(); });
                        }),
                        new std::weak_ptr<CameraPipeline>(self_), delete_weak, GConnectFlags(0));
}

void CameraPipeline::frame_size(int &width, int &height) const {
  width = height = 0;
  g_autoptr(GstPad) pad = gst_element_get_static_pad(sink_->element(), catalog::kSinkPad);
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps)
    return;
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  gst_structure_get_int(s, catalog::video_caps_field::kWidth, &width);
  gst_structure_get_int(s, catalog::video_caps_field::kHeight, &height);
}

void CameraPipeline::guard_depayloader(GstElement *depay, Codec codec) {
  auto guarded = std::make_shared<GuardedDepay>(
      codec == Codec::H265 ? AccessUnitGuard::Codec::H265 : AccessUnitGuard::Codec::H264);
  g_autoptr(GstPad) sink_pad = gst_element_get_static_pad(depay, catalog::kSinkPad);
  g_autoptr(GstPad) src_pad = gst_element_get_static_pad(depay, "src");
  gst_pad_add_probe(sink_pad,
                    GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                    GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                    on_depay_input, new GuardRef(guarded), delete_guard_ref);
  gst_pad_add_probe(src_pad,
                    GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    on_depay_output, new GuardRef(guarded), delete_guard_ref);
  std::lock_guard lock(stream_lock_);
  guard_ = std::move(guarded);
}

uint64_t CameraPipeline::corrupt_frames_dropped() const {
  std::lock_guard lock(stream_lock_);
  return guard_ ? guard_->dropped.load(std::memory_order_relaxed) : 0;
}

std::optional<gpukeyframedec::Stats> CameraPipeline::keyframe_decoder_stats() const {
  std::lock_guard lock(stream_lock_);
  return gpukeyframedec::Stats::read(keyframe_decoder_);
}

void CameraPipeline::keep_jpeg_encoders(const std::vector<ElementSpec> &specs,
                                        const std::vector<GstElement *> &elements) {
  std::lock_guard lock(stream_lock_);
  for (size_t i = 0; i < specs.size() && i < elements.size(); i++)
    if (specs[i].factory == catalog::gpujpegenc::kFactory)
      jpeg_encoders_.push_back(GST_ELEMENT(gst_object_ref(elements[i])));
}

std::optional<gpujpegenc::Stats> CameraPipeline::jpeg_encoder_stats() const {
  std::lock_guard lock(stream_lock_);
  std::optional<gpujpegenc::Stats> total;
  for (GstElement *encoder : jpeg_encoders_) {
    const auto stats = gpujpegenc::Stats::read(encoder);
    if (!stats)
      continue;
    if (!total) {
      total = stats;
      continue;
    }
    total->encodes += stats->encodes;
    total->dropped_busy += stats->dropped_busy;
    if (!total->pool) /* the same pool: one encoder's view of it is enough */
      total->pool = stats->pool;
  }
  return total;
}

std::optional<rtpkeyframefilter::Counters> CameraPipeline::rtp_filter_counters() const {
  std::lock_guard lock(stream_lock_);
  return rtpkeyframefilter::Counters::read(rtp_filter_);
}

std::optional<Codec> CameraPipeline::codec() const {
  const int codec = codec_;
  return codec < 0 ? std::nullopt : std::optional<Codec>(Codec(codec));
}

std::string CameraPipeline::rejected_video() const {
  std::lock_guard lock(stream_lock_);
  return stream_selected_ ? std::string() : rejected_;
}

std::string CameraPipeline::offered_without_video() const {
  std::lock_guard lock(stream_lock_);
  return stream_selected_ || !rejected_.empty() ? std::string() : other_media_;
}

} // namespace gpurtsp::launch
