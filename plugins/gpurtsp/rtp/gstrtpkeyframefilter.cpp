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
 * gaps from the network stay gaps. With gaps-are-drops, a kernel socket
 * filter on the UDP socket (rtp-socket-filter.h, attached by the launcher)
 * already dropped most delta packets: the gaps it leaves close up at once
 * where no kept packet can be missing, and a keyframe found cut short is
 * posted so that the filter can be taken off. */
#include "rtp/gstrtpkeyframefilter.h"

#include <gpurtsp/rtpkeyframefilter.hpp>

#include <gst/rtp/rtp.h>

#include <atomic>
#include <map>
#include <optional>

#include "rtp/rtp-keyframe-classifier.h"

GST_DEBUG_CATEGORY_STATIC(gst_rtp_keyframe_filter_debug);
#define GST_CAT_DEFAULT gst_rtp_keyframe_filter_debug

using gpurtsp::rtp::KeyframeSequence;
using gpurtsp::rtp::VideoCodec;
namespace property = gpurtsp::rtpkeyframefilter::property;

namespace {

constexpr bool kDefaultRenumber = true;
constexpr bool kDefaultGapsAreDrops = false;
constexpr guint kDefaultReorderWindow = 0;
constexpr guint kMaxReorderWindow = 1024;

enum {
  PROP_0,
  PROP_RENUMBER,
  PROP_REORDER_WINDOW,
  PROP_PACKETS_PASSED,
  PROP_PACKETS_DROPPED,
  PROP_GAPS_ARE_DROPS,
  PROP_KEYFRAMES_CUT,
};

/* The codec named by RTP caps, or none (then every packet passes). */
std::optional<VideoCodec> codec_of(GstCaps *caps) {
  const GstStructure *s =
      caps && !gst_caps_is_empty(caps) ? gst_caps_get_structure(caps, 0) : nullptr;
  const char *name = s ? gst_structure_get_string(s, "encoding-name") : nullptr;
  return name ? gpurtsp::rtp::video_codec_named(name) : std::nullopt;
}

} // namespace

struct GstRtpKeyframeFilterPrivate {
  std::atomic<bool> renumber{kDefaultRenumber};
  std::atomic<guint> reorder_window{kDefaultReorderWindow};
  std::atomic<bool> gaps_are_drops{kDefaultGapsAreDrops};

  /* Streaming thread only (chain and serialized events are never concurrent
   * on one pad). */
  /* Made at the first H.264/H.265 caps; its numbering outlives a change of
   * codec, as the stream's does. Used only while @filtering, else every
   * packet passes. */
  std::optional<KeyframeSequence> sequence;
  bool filtering = false;
  /* reorder-window: packets that came before an earlier one (owned refs),
   * by extended sequence number: the sequence's last_seq() has
   * @extended_last. */
  gint64 extended_last = 0;
  std::map<gint64, GstBuffer *> waiting;

  /* Written by the streaming thread, read by property getters. */
  std::atomic<guint64> packets_passed{0};
  std::atomic<guint64> packets_dropped{0};
  std::atomic<guint64> keyframes_cut{0};
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
static GstFlowReturn release_waiting(GstRtpKeyframeFilter *self, bool give_up);

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
      object_class, PROP_REORDER_WINDOW,
      g_param_spec_uint(property::kReorderWindow, "Reorder window",
                        "Packets that may arrive before an earlier one (UDP): up to this many "
                        "wait for the missing one, which then takes its place; past that it "
                        "counts as lost. 0: a packet out of order counts as lost at once",
                        0, kMaxReorderWindow, kDefaultReorderWindow, flags));
  g_object_class_install_property(
      object_class, PROP_PACKETS_PASSED,
      g_param_spec_uint64(property::kPacketsPassed, "Packets passed",
                          "Packets pushed downstream: parameter sets, keyframes, other codecs", 0,
                          G_MAXUINT64, 0, stat));
  g_object_class_install_property(
      object_class, PROP_PACKETS_DROPPED,
      g_param_spec_uint64(property::kPacketsDropped, "Packets dropped",
                          "Packets of delta frames, SEI and delimiters dropped (with "
                          "gaps-are-drops, also those missing in gaps closed up)",
                          0, G_MAXUINT64, 0, stat));
  g_object_class_install_property(
      object_class, PROP_GAPS_ARE_DROPS,
      g_param_spec_boolean(property::kGapsAreDrops, "Gaps are drops",
                           "Packets missing upstream were dropped on purpose (a keyframe socket "
                           "filter on the UDP socket): a gap after a picture's end, before a "
                           "unit's start, closes up at once instead of waiting or counting as "
                           "a loss; a keyframe cut short posts a "
                           "\"rtpkeyframefilter-keyframe-cut\" element message",
                           kDefaultGapsAreDrops,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      object_class, PROP_KEYFRAMES_CUT,
      g_param_spec_uint64(property::kKeyframesCut, "Keyframes cut",
                          "Gaps found inside a kept picture: keyframes cut short by a loss, or "
                          "by a socket filter that dropped what they need",
                          0, G_MAXUINT64, 0, stat));

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

static void drop_waiting(GstRtpKeyframeFilterPrivate *priv) {
  for (auto &[distance, buffer] : priv->waiting)
    gst_buffer_unref(buffer);
  priv->waiting.clear();
}

static void gst_rtp_keyframe_filter_finalize(GObject *object) {
  drop_waiting(GST_RTP_KEYFRAME_FILTER(object)->priv);
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
  case PROP_REORDER_WINDOW:
    priv->reorder_window = g_value_get_uint(value);
    break;
  case PROP_GAPS_ARE_DROPS:
    priv->gaps_are_drops = g_value_get_boolean(value);
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
  case PROP_REORDER_WINDOW:
    g_value_set_uint(value, priv->reorder_window);
    break;
  case PROP_PACKETS_PASSED:
    g_value_set_uint64(value, priv->packets_passed);
    break;
  case PROP_PACKETS_DROPPED:
    g_value_set_uint64(value, priv->packets_dropped);
    break;
  case PROP_GAPS_ARE_DROPS:
    g_value_set_boolean(value, priv->gaps_are_drops);
    break;
  case PROP_KEYFRAMES_CUT:
    g_value_set_uint64(value, priv->keyframes_cut);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

/* Forgets the stream's numbering and the unit in progress. */
static void reset_stream(GstRtpKeyframeFilterPrivate *priv) {
  drop_waiting(priv);
  if (priv->sequence)
    priv->sequence->reset();
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
    if (codec != (priv->filtering ? std::optional(priv->sequence->codec()) : std::nullopt)) {
      GST_INFO_OBJECT(self, "%s", codec ? "filtering for keyframes" : "passing every packet");
      priv->filtering = codec.has_value();
      if (codec && priv->sequence)
        priv->sequence->set_codec(*codec);
      else if (codec)
        priv->sequence.emplace(*codec);
    }
    break;
  }
  case GST_EVENT_EOS:
    /* What waited for a missing packet goes out before the end. */
    while (!priv->waiting.empty())
      release_waiting(self, true);
    break;
  case GST_EVENT_FLUSH_STOP:
  case GST_EVENT_STREAM_START:
    reset_stream(priv);
    break;
  default:
    break;
  }
  return gst_pad_event_default(pad, parent, event);
}

/* Classifies one packet in sequence order and pushes or drops it. */
static GstFlowReturn process_packet(GstRtpKeyframeFilter *self, GstBuffer *buffer) {
  auto priv = self->priv;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) {
    priv->packets_passed++;
    return gst_pad_push(self->srcpad, buffer);
  }
  const guint16 seq = gst_rtp_buffer_get_seq(&rtp);
  KeyframeSequence &sequence = *priv->sequence;
  const uint64_t closed_before = sequence.closed_gap_packets();
  const uint64_t cut_before = sequence.cut_units();
  const std::optional<uint16_t> renumbered =
      sequence.keep(seq, static_cast<const uint8_t *>(gst_rtp_buffer_get_payload(&rtp)),
                    gst_rtp_buffer_get_payload_len(&rtp), gst_rtp_buffer_get_timestamp(&rtp),
                    gst_rtp_buffer_get_marker(&rtp));
  gst_rtp_buffer_unmap(&rtp);
  priv->packets_dropped += sequence.closed_gap_packets() - closed_before;
  if (sequence.cut_units() != cut_before) {
    const guint64 cut = priv->keyframes_cut += sequence.cut_units() - cut_before;
    GST_DEBUG_OBJECT(self, "a keyframe cut short before seq %u (%" G_GUINT64_FORMAT " so far)", seq,
                     cut);
    if (sequence.gaps_are_drops())
      gst_element_post_message(
          GST_ELEMENT(self),
          gst_message_new_element(GST_OBJECT(self),
                                  gst_structure_new(gpurtsp::rtpkeyframefilter::kKeyframeCutMessage,
                                                    property::kKeyframesCut, G_TYPE_UINT64, cut,
                                                    nullptr)));
  }

  if (!renumbered) {
    priv->packets_dropped++;
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  if (priv->renumber && *renumbered != seq) {
    buffer = gst_buffer_make_writable(buffer);
    if (gst_rtp_buffer_map(buffer, GST_MAP_WRITE, &rtp)) {
      gst_rtp_buffer_set_seq(&rtp, *renumbered);
      gst_rtp_buffer_unmap(&rtp);
    }
  }
  priv->packets_passed++;
  return gst_pad_push(self->srcpad, buffer);
}

/* With gaps-are-drops: whether @buffer, after a gap, closes it up, so it
 * need not wait for the missing packets (a socket filter dropped them). */
static bool closes_gap(GstRtpKeyframeFilter *self, GstBuffer *buffer) {
  auto priv = self->priv;
  if (!priv->sequence->gaps_are_drops())
    return false;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp))
    return false;
  const bool closes = priv->sequence->closes_gap(
      static_cast<const uint8_t *>(gst_rtp_buffer_get_payload(&rtp)),
      gst_rtp_buffer_get_payload_len(&rtp), gst_rtp_buffer_get_timestamp(&rtp));
  gst_rtp_buffer_unmap(&rtp);
  return closes;
}

/* Processes the waiting packets that follow on without a gap; with
 * @give_up, the oldest one first whatever the gap before it. */
static GstFlowReturn release_waiting(GstRtpKeyframeFilter *self, bool give_up) {
  auto priv = self->priv;
  GstFlowReturn flow = GST_FLOW_OK;
  while (!priv->waiting.empty() &&
         (give_up || priv->waiting.begin()->first == priv->extended_last + 1)) {
    give_up = false;
    priv->extended_last = priv->waiting.begin()->first;
    GstBuffer *buffer = priv->waiting.begin()->second;
    priv->waiting.erase(priv->waiting.begin());
    const GstFlowReturn pushed = process_packet(self, buffer);
    if (pushed != GST_FLOW_OK && flow == GST_FLOW_OK)
      flow = pushed;
  }
  return flow;
}

static GstFlowReturn gst_rtp_keyframe_filter_chain(GstPad *, GstObject *parent, GstBuffer *buffer) {
  auto self = GST_RTP_KEYFRAME_FILTER(parent);
  auto priv = self->priv;
  if (!priv->filtering) {
    priv->packets_passed++;
    return gst_pad_push(self->srcpad, buffer);
  }

  /* The property may change while playing; the sequence follows it here,
   * the one place packets enter. */
  priv->sequence->set_gaps_are_drops(priv->gaps_are_drops);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) {
    /* Not RTP: the session downstream counts and drops it. */
    priv->packets_passed++;
    return gst_pad_push(self->srcpad, buffer);
  }
  const guint16 seq = gst_rtp_buffer_get_seq(&rtp);
  gst_rtp_buffer_unmap(&rtp);
  const std::optional<uint16_t> last_seq = priv->sequence->last_seq();
  if (!last_seq) {
    priv->extended_last = 0;
    return process_packet(self, buffer);
  }
  /* A duplicate, or a packet overtaken on the way (UDP) whose place is
   * given up: the numbering has moved past it. Passing it would give it the
   * number of a packet kept since, and the jitterbuffer would drop that one
   * as its duplicate, leaving no gap to show a packet was lost. Dropped, it
   * leaves a gap where it belonged, which the depayloader sees as a loss. */
  const gint16 distance = gint16(guint16(seq - *last_seq));
  const gint64 extended = priv->extended_last + distance;
  if (distance <= 0 || priv->waiting.count(extended)) {
    priv->packets_dropped++;
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  const guint window = priv->reorder_window;
  if (distance == 1 || window == 0 || (priv->waiting.empty() && closes_gap(self, buffer))) {
    priv->extended_last = extended;
    GstFlowReturn flow = process_packet(self, buffer);
    const GstFlowReturn released = release_waiting(self, false);
    return flow != GST_FLOW_OK ? flow : released;
  }
  /* Ahead of a missing packet: wait for it, up to the window. */
  priv->waiting.emplace(extended, buffer);
  GstFlowReturn flow = GST_FLOW_OK;
  while (priv->waiting.size() > window && flow == GST_FLOW_OK)
    flow = release_waiting(self, true);
  return flow;
}
