// SPDX-License-Identifier: MIT
/**
 * SECTION:element-rtpkeyframefilter
 * @title: rtpkeyframefilter
 *
 * Drops the RTP packets of H.264/H.265 delta frames, for keyframe-only
 * consumers, and renumbers the kept packets to a gapless sequence. CPU only.
 * Reference documentation: docs/rtpkeyframefilter.md.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 udpsrc port=5000 \
 *     caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=H264" ! \
 *     rtpkeyframefilter ! rtpjitterbuffer ! rtph264depay ! h264parse ! fakesink
 * ]|
 */
/* A 2 Mbit/s camera with a 1 s GOP sends ~230 packets a second of which
 * ~15 carry its keyframe. Dropping the rest where they enter rtpbin (as its
 * "RTP decoder", see the launcher) spares the RTP session, the
 * jitterbuffer's thread hop, the depayloader and the parser for ~94 % of
 * the packets. The kept packets are renumbered to a gapless sequence so the
 * jitterbuffer does not wait for, nor report, packets dropped on purpose;
 * gaps from the network stay gaps. */
#include "rtp/gstrtpkeyframefilter.h"

#include <gpurtsp/rtpkeyframefilter.hpp>

#include <gst/rtp/rtp.h>

#include <atomic>
#include <optional>

#include "rtp/rtp-keyframe-classifier.h"

GST_DEBUG_CATEGORY_STATIC(gst_rtp_keyframe_filter_debug);
#define GST_CAT_DEFAULT gst_rtp_keyframe_filter_debug

using gpurtsp::rtp::KeyframeClassifier;
using gpurtsp::rtp::VideoCodec;
namespace property = gpurtsp::rtpkeyframefilter::property;

namespace {

constexpr bool kDefaultRenumber = true;

enum {
  PROP_0,
  PROP_RENUMBER,
  PROP_PACKETS_PASSED,
  PROP_PACKETS_DROPPED,
};

/* The codec named by RTP caps, or none (then every packet passes). */
std::optional<VideoCodec> codec_of(GstCaps *caps) {
  const GstStructure *s =
      caps && !gst_caps_is_empty(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  const char *name = s ? gst_structure_get_string(s, "encoding-name") : nullptr;
  if (!name)
    return std::nullopt;
  if (g_ascii_strcasecmp(name, "H264") == 0)
    return VideoCodec::H264;
  if (g_ascii_strcasecmp(name, "H265") == 0)
    return VideoCodec::H265;
  return std::nullopt;
}

} // namespace

struct GstRtpKeyframeFilterPrivate {
  std::atomic<bool> renumber{kDefaultRenumber};

  /* Streaming thread only (chain and serialized events are never concurrent
   * on one pad). */
  std::optional<KeyframeClassifier> classifier; /* none: pass everything */
  bool have_last_seq = false;
  guint16 last_seq = 0;   /* of the last packet received, kept or not */
  guint16 seq_offset = 0; /* packets dropped so far, modulo 2^16 */

  /* Written by the streaming thread, read by property getters. */
  std::atomic<guint64> packets_passed{0};
  std::atomic<guint64> packets_dropped{0};
};

struct _GstRtpKeyframeFilter {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;
  GstRtpKeyframeFilterPrivate *priv;
};

#define gst_rtp_keyframe_filter_parent_class parent_class
G_DEFINE_TYPE(GstRtpKeyframeFilter, gst_rtp_keyframe_filter, GST_TYPE_ELEMENT)

/* rtp_sink / rtp_src: the pad names rtpbin wants of an element returned
 * from its request-rtp-decoder signal. */
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "rtp_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-rtp"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "rtp_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-rtp"));

static void gst_rtp_keyframe_filter_finalize(GObject *object);
static void gst_rtp_keyframe_filter_set_property(GObject *object, guint prop_id,
                                                 const GValue *value, GParamSpec *pspec);
static void gst_rtp_keyframe_filter_get_property(GObject *object, guint prop_id, GValue *value,
                                                 GParamSpec *pspec);
static GstFlowReturn gst_rtp_keyframe_filter_chain(GstPad *pad, GstObject *parent,
                                                   GstBuffer *buffer);
static gboolean gst_rtp_keyframe_filter_sink_event(GstPad *pad, GstObject *parent, GstEvent *event);

static void gst_rtp_keyframe_filter_class_init(GstRtpKeyframeFilterClass *klass) {
  auto object_class = G_OBJECT_CLASS(klass);
  auto element_class = GST_ELEMENT_CLASS(klass);

  object_class->finalize = GST_DEBUG_FUNCPTR(gst_rtp_keyframe_filter_finalize);
  object_class->set_property = GST_DEBUG_FUNCPTR(gst_rtp_keyframe_filter_set_property);
  object_class->get_property = GST_DEBUG_FUNCPTR(gst_rtp_keyframe_filter_get_property);

  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_MUTABLE_READY);
  auto stat = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      object_class, PROP_RENUMBER,
      g_param_spec_boolean(property::kRenumber, "Renumber",
                           "Give the kept packets consecutive sequence numbers, so a "
                           "jitterbuffer downstream sees the dropped ones neither as lost nor "
                           "waits for them (packets must arrive in order: TCP, or UDP without "
                           "reordering)",
                           kDefaultRenumber, flags));
  g_object_class_install_property(
      object_class, PROP_PACKETS_PASSED,
      g_param_spec_uint64(property::kPacketsPassed, "Packets passed",
                          "Packets pushed downstream: parameter sets, keyframes, other codecs", 0,
                          G_MAXUINT64, 0, stat));
  g_object_class_install_property(
      object_class, PROP_PACKETS_DROPPED,
      g_param_spec_uint64(property::kPacketsDropped, "Packets dropped",
                          "Packets of delta frames, SEI and delimiters dropped", 0, G_MAXUINT64, 0,
                          stat));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "RTP keyframe filter", "Filter/Network/RTP",
      "Drops the RTP packets of H.264/H.265 delta frames, SEI and delimiters before the "
      "jitterbuffer, for keyframe-only decoding",
      "gpurtsp developers");

  GST_DEBUG_CATEGORY_INIT(gst_rtp_keyframe_filter_debug, "rtpkeyframefilter", 0,
                          "RTP keyframe filter");
}

static void gst_rtp_keyframe_filter_init(GstRtpKeyframeFilter *self) {
  self->priv = new GstRtpKeyframeFilterPrivate();

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "rtp_sink");
  gst_pad_set_chain_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_rtp_keyframe_filter_chain));
  gst_pad_set_event_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_rtp_keyframe_filter_sink_event));
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "rtp_src");
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}

static void gst_rtp_keyframe_filter_finalize(GObject *object) {
  delete GST_RTP_KEYFRAME_FILTER(object)->priv;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_rtp_keyframe_filter_set_property(GObject *object, guint prop_id,
                                                 const GValue *value, GParamSpec *pspec) {
  auto priv = GST_RTP_KEYFRAME_FILTER(object)->priv;
  switch (prop_id) {
  case PROP_RENUMBER:
    priv->renumber = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_rtp_keyframe_filter_get_property(GObject *object, guint prop_id, GValue *value,
                                                 GParamSpec *pspec) {
  auto priv = GST_RTP_KEYFRAME_FILTER(object)->priv;
  switch (prop_id) {
  case PROP_RENUMBER:
    g_value_set_boolean(value, priv->renumber);
    break;
  case PROP_PACKETS_PASSED:
    g_value_set_uint64(value, priv->packets_passed);
    break;
  case PROP_PACKETS_DROPPED:
    g_value_set_uint64(value, priv->packets_dropped);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

/* Forgets the stream's numbering and the unit in progress. */
static void reset_stream(GstRtpKeyframeFilterPrivate *priv) {
  priv->have_last_seq = false;
  priv->seq_offset = 0;
  if (priv->classifier)
    priv->classifier->reset();
}

static gboolean gst_rtp_keyframe_filter_sink_event(GstPad *pad, GstObject *parent,
                                                   GstEvent *event) {
  auto self = GST_RTP_KEYFRAME_FILTER(parent);
  auto priv = self->priv;
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gst_event_parse_caps(event, &caps);
    std::optional<VideoCodec> codec = codec_of(caps);
    if (codec != (priv->classifier ? std::optional(priv->classifier->codec()) : std::nullopt)) {
      GST_INFO_OBJECT(self, "%s", codec ? "filtering for keyframes" : "passing every packet");
      priv->classifier.reset();
      if (codec)
        priv->classifier.emplace(*codec);
    }
    break;
  }
  case GST_EVENT_FLUSH_STOP:
  case GST_EVENT_STREAM_START:
    reset_stream(priv);
    break;
  default:
    break;
  }
  return gst_pad_event_default(pad, parent, event);
}

static GstFlowReturn gst_rtp_keyframe_filter_chain(GstPad *, GstObject *parent, GstBuffer *buffer) {
  auto self = GST_RTP_KEYFRAME_FILTER(parent);
  auto priv = self->priv;
  if (!priv->classifier) {
    priv->packets_passed++;
    return gst_pad_push(self->srcpad, buffer);
  }

  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) {
    /* Not RTP: the session downstream counts and drops it. */
    priv->packets_passed++;
    return gst_pad_push(self->srcpad, buffer);
  }
  guint16 seq = gst_rtp_buffer_get_seq(&rtp);
  /* After a loss on the wire a fragment's start may be missing. */
  if (priv->have_last_seq && seq != guint16(priv->last_seq + 1))
    priv->classifier->reset();
  priv->have_last_seq = true;
  priv->last_seq = seq;
  bool keep = priv->classifier->keep(static_cast<const uint8_t *>(gst_rtp_buffer_get_payload(&rtp)),
                                     gst_rtp_buffer_get_payload_len(&rtp),
                                     gst_rtp_buffer_get_timestamp(&rtp));
  gst_rtp_buffer_unmap(&rtp);

  if (!keep) {
    priv->packets_dropped++;
    priv->seq_offset++;
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  if (priv->renumber && priv->seq_offset != 0) {
    buffer = gst_buffer_make_writable(buffer);
    if (gst_rtp_buffer_map(buffer, GST_MAP_WRITE, &rtp)) {
      gst_rtp_buffer_set_seq(&rtp, guint16(seq - priv->seq_offset));
      gst_rtp_buffer_unmap(&rtp);
    }
  }
  priv->packets_passed++;
  return gst_pad_push(self->srcpad, buffer);
}
