// SPDX-License-Identifier: MIT
/* Which RTP packets of an H.264 (RFC 6184) or H.265 (RFC 7798) stream a
 * keyframe-only consumer needs: the parameter sets and every packet of an
 * access unit whose first slice is intra. Everything else (predicted
 * slices, SEI, access unit delimiters) can be dropped before the
 * jitterbuffer. Pure logic, no GStreamer: rtpkeyframefilter applies it. */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gpurtsp::rtp {

enum class VideoCodec { H264, H265 };

/* The codec of an RTP encoding name (SDP rtpmap, caps' encoding-name):
 * "H264" or "H265" in any case; nullopt for any other. */
std::optional<VideoCodec> video_codec_named(std::string_view encoding_name);

/* One instance per stream. Packets must be given in sequence order; the
 * decision for a fragment follows the decision for its first fragment, and
 * the decision for a slice follows the first slice of its access unit
 * (packets with the same RTP timestamp). */
class KeyframeClassifier {
public:
  explicit KeyframeClassifier(VideoCodec codec) : codec_(codec) {}

  /* True when the packet with this payload and RTP timestamp is needed. */
  bool keep(const uint8_t *payload, size_t size, uint32_t rtp_timestamp);

  /* Forgets the access unit and fragment in progress (after a flush or a
   * packet lost on the wire, where a fragment's start may be missing). */
  void reset();

  VideoCodec codec() const { return codec_; }

  /* Whether this payload begins a NAL unit (not an FU continuation). */
  bool starts_unit(const uint8_t *payload, size_t size) const;
  /* Whether this payload begins a picture's first slice (H.264
   * first_mb_in_slice 0, H.265 first_slice_segment_in_pic_flag), alone or
   * as an FU's start. */
  bool starts_picture(const uint8_t *payload, size_t size) const;
  /* Whether the access unit with @rtp_timestamp was judged, and kept. */
  std::optional<bool> access_unit_kept(uint32_t rtp_timestamp) const {
    if (!have_access_unit_ || access_unit_timestamp_ != rtp_timestamp)
      return std::nullopt;
    return keep_access_unit_;
  }

private:
  enum class Nal { ParameterSet, IntraSlice, PredictedSlice, Other };

  Nal classify_h264(const uint8_t *nal, size_t size) const;
  Nal classify_h265(const uint8_t *nal, size_t size) const;
  Nal classify(const uint8_t *nal, size_t size) const {
    return codec_ == VideoCodec::H264 ? classify_h264(nal, size) : classify_h265(nal, size);
  }
  /* Whether a packet carrying a NAL unit of @kind is kept. */
  bool keep_nal(Nal kind, uint32_t rtp_timestamp);
  /* Aggregation packets (STAP-A, AP): kept when any unit inside is. */
  bool keep_aggregate(const uint8_t *payload, size_t size, size_t header_size,
                      uint32_t rtp_timestamp);

  VideoCodec codec_;
  /* The access unit whose first slice decided for all of its slices. */
  bool have_access_unit_ = false;
  uint32_t access_unit_timestamp_ = 0;
  bool keep_access_unit_ = false;
  /* The fragmented NAL unit in progress: its start was seen and kept. */
  bool keep_fragments_ = false;
};

/* One stream's packets, in sequence order, through a KeyframeClassifier:
 * which to keep, and the kept ones renumbered to close up over the dropped
 * ones, so a jitterbuffer neither waits for nor reports them. A gap in the
 * numbers (a loss on the wire) stays a gap, and the classifier forgets the
 * unit in progress, whose start may be missing; unless gaps are drops (a
 * socket filter upstream dropped packets on purpose) and closes_gap() says
 * none of the missing packets can have been one to keep. rtpkeyframefilter
 * and the launcher's TCP read buffer both number their streams with it. */
class KeyframeSequence {
public:
  explicit KeyframeSequence(VideoCodec codec) : classifier_(codec) {}

  /* The number to give the packet with this sequence number, payload and
   * RTP timestamp if it is kept; nullopt when it is dropped. A packet with
   * the marker bit of a kept access unit is kept whatever it carries (an
   * H.265 suffix SEI): the depayloader pushes the picture at the marker. */
  std::optional<uint16_t> keep(uint16_t seq, const uint8_t *payload, size_t size,
                               uint32_t rtp_timestamp, bool marker);

  /* Packets missing before this one were dropped upstream on purpose
   * (rtp-socket-filter.h); a gap closes up where closes_gap() says so. */
  void set_gaps_are_drops(bool gaps_are_drops) { gaps_are_drops_ = gaps_are_drops; }
  bool gaps_are_drops() const { return gaps_are_drops_; }
  /* With gaps as drops: whether a gap before this packet closes up. That
   * needs the packet to begin a NAL unit, and the missing packets to be
   * past the end of the last access unit (its marker was seen), part of
   * one that is dropped anyway, or units sent ahead of this packet's
   * picture before its first slice (SEI, delimiters: this packet is that
   * first slice, and no slice of its picture came before). */
  bool closes_gap(const uint8_t *payload, size_t size, uint32_t rtp_timestamp) const;

  /* Packets missing in gaps closed up so far (counted as dropped). */
  uint64_t closed_gap_packets() const { return closed_gap_packets_; }
  /* Gaps found inside a kept access unit: keyframes cut short, by a loss
   * or by a socket filter that dropped what the classifier keeps. */
  uint64_t cut_units() const { return cut_units_; }

  /* Forgets the numbering and the unit in progress (a flush, a new
   * stream). */
  void reset();

  /* Judges by @codec from the next packet on; the numbering goes on. */
  void set_codec(VideoCodec codec) { classifier_ = KeyframeClassifier(codec); }
  VideoCodec codec() const { return classifier_.codec(); }

  /* The sequence number of the last packet given, kept or not. */
  std::optional<uint16_t> last_seq() const { return last_seq_; }

private:
  KeyframeClassifier classifier_;
  std::optional<uint16_t> last_seq_;
  uint16_t seq_offset_ = 0; /* packets dropped so far, modulo 2^16 */
  bool gaps_are_drops_ = false;
  /* The packet of last_seq_. */
  uint32_t last_timestamp_ = 0;
  bool last_marker_ = false;
  bool last_kept_ = false;
  uint64_t closed_gap_packets_ = 0;
  uint64_t cut_units_ = 0;
};

} // namespace gpurtsp::rtp
