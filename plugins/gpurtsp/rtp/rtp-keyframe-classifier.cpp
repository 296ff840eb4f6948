// SPDX-License-Identifier: MIT
#include "rtp/rtp-keyframe-classifier.h"

#include <optional>

#include "rtp/ascii.h"
#include "rtp/byte-order.h"

namespace gpurtsp::rtp {

namespace {

/* Reads Exp-Golomb codes from the start of a NAL unit's payload, skipping
 * emulation prevention bytes (00 00 03). Enough for the first fields of a
 * slice header; no need to unescape the whole unit. */
class BitReader {
public:
  BitReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}

  std::optional<uint32_t> read_ue() {
    int leading_zeros = 0;
    for (;;) {
      std::optional<int> bit = read_bit();
      if (!bit)
        return std::nullopt;
      if (*bit)
        break;
      if (++leading_zeros > 31)
        return std::nullopt;
    }
    uint32_t value = 0;
    for (int i = 0; i < leading_zeros; i++) {
      std::optional<int> bit = read_bit();
      if (!bit)
        return std::nullopt;
      value = (value << 1) | uint32_t(*bit);
    }
    return (uint32_t(1) << leading_zeros) - 1 + value;
  }

private:
  std::optional<int> read_bit() {
    if (bits_left_ == 0) {
      if (position_ >= size_)
        return std::nullopt;
      uint8_t byte = data_[position_++];
      if (zeros_ >= 2 && byte == 0x03) {
        zeros_ = 0;
        if (position_ >= size_)
          return std::nullopt;
        byte = data_[position_++];
      }
      zeros_ = byte == 0 ? zeros_ + 1 : 0;
      current_ = byte;
      bits_left_ = 8;
    }
    bits_left_--;
    return (current_ >> bits_left_) & 1;
  }

  const uint8_t *data_;
  size_t size_;
  size_t position_ = 0;
  int zeros_ = 0;
  uint8_t current_ = 0;
  int bits_left_ = 0;
};

/* RFC 6184 payload types beyond single NAL units. */
constexpr unsigned kH264StapA = 24;
constexpr unsigned kH264FuA = 28;
constexpr unsigned kH264FuB = 29;
/* RFC 7798. */
constexpr unsigned kH265Aggregation = 48;
constexpr unsigned kH265Fragment = 49;
constexpr unsigned kH265Paci = 50;

constexpr uint8_t kFragmentStart = 0x80;

} // namespace

KeyframeClassifier::Nal KeyframeClassifier::classify_h264(const uint8_t *nal, size_t size) const {
  if (size < 1)
    return Nal::Other;
  switch (nal[0] & 0x1f) {
  case 5: /* IDR slice */
    return Nal::IntraSlice;
  case 1: /* non-IDR slice */
  case 2: /* slice data partition A */ {
    /* Open-GOP cameras send I slices without IDR; h264parse calls those
     * keyframes too, so keep them. first_mb_in_slice, then slice_type. */
    BitReader reader(nal + 1, size - 1);
    std::optional<uint32_t> first_mb = reader.read_ue();
    std::optional<uint32_t> slice_type = first_mb ? reader.read_ue() : std::nullopt;
    /* A header too short to read: keep rather than lose a keyframe. */
    if (!slice_type)
      return Nal::IntraSlice;
    unsigned kind = *slice_type % 5;
    return kind == 2 || kind == 4 ? Nal::IntraSlice : Nal::PredictedSlice; /* I or SI */
  }
  case 3: /* partitions B and C follow their partition A's access unit */
  case 4:
    return Nal::PredictedSlice;
  case 7:  /* SPS */
  case 8:  /* PPS */
  case 13: /* SPS extension */
  case 15: /* subset SPS */
    return Nal::ParameterSet;
  default: /* SEI, access unit delimiter, filler, ... */
    return Nal::Other;
  }
}

KeyframeClassifier::Nal KeyframeClassifier::classify_h265(const uint8_t *nal, size_t size) const {
  if (size < 2)
    return Nal::Other;
  unsigned type = (nal[0] >> 1) & 0x3f;
  if (type >= 16 && type <= 23) /* IRAP: BLA, IDR, CRA */
    return Nal::IntraSlice;
  if (type < 32) /* other slices; their type would need the PPS to find */
    return Nal::PredictedSlice;
  if (type <= 34) /* VPS, SPS, PPS */
    return Nal::ParameterSet;
  return Nal::Other;
}

bool KeyframeClassifier::keep_nal(Nal kind, uint32_t rtp_timestamp) {
  switch (kind) {
  case Nal::ParameterSet:
    return true;
  case Nal::Other:
    return false;
  case Nal::IntraSlice:
  case Nal::PredictedSlice:
    break;
  }
  /* The first slice of an access unit decides for all of them, so a picture
   * is never kept in part. */
  if (!have_access_unit_ || rtp_timestamp != access_unit_timestamp_) {
    have_access_unit_ = true;
    access_unit_timestamp_ = rtp_timestamp;
    keep_access_unit_ = kind == Nal::IntraSlice;
  }
  return keep_access_unit_;
}

bool KeyframeClassifier::keep_aggregate(const uint8_t *payload, size_t size, size_t header_size,
                                        uint32_t rtp_timestamp) {
  bool keep = false;
  size_t offset = header_size;
  while (offset + 2 <= size) {
    size_t unit_size = read_be16(payload + offset);
    offset += 2;
    /* Malformed: let the depayloader judge it rather than lose data here. */
    if (unit_size == 0 || offset + unit_size > size)
      return true;
    keep |= keep_nal(classify(payload + offset, unit_size), rtp_timestamp);
    offset += unit_size;
  }
  return keep;
}

bool KeyframeClassifier::keep(const uint8_t *payload, size_t size, uint32_t rtp_timestamp) {
  if (codec_ == VideoCodec::H264) {
    if (size < 1)
      return false;
    unsigned type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23)
      return keep_nal(classify_h264(payload, size), rtp_timestamp);
    if (type == kH264StapA)
      return keep_aggregate(payload, size, 1, rtp_timestamp);
    if (type == kH264FuA || type == kH264FuB) {
      if (size < 2)
        return false;
      if (!(payload[1] & kFragmentStart))
        return keep_fragments_;
      /* FU-B carries a 16-bit DON before the fragment. */
      size_t header = type == kH264FuB ? 4 : 2;
      if (size < header)
        return keep_fragments_ = false;
      /* The unit's own header byte, rebuilt from the FU indicator and header,
       * then the start of its payload. */
      uint8_t nal[16];
      size_t copied = 0;
      nal[copied++] = uint8_t((payload[0] & 0xe0) | (payload[1] & 0x1f));
      for (size_t i = header; i < size && copied < sizeof(nal); i++)
        nal[copied++] = payload[i];
      return keep_fragments_ = keep_nal(classify_h264(nal, copied), rtp_timestamp);
    }
    /* STAP-B and MTAP (interleaved mode, rare): pass them on untouched. */
    return type >= 25 && type <= 27;
  }

  if (size < 2)
    return false;
  unsigned type = (payload[0] >> 1) & 0x3f;
  if (type == kH265Aggregation)
    return keep_aggregate(payload, size, 2, rtp_timestamp);
  if (type == kH265Fragment) {
    if (size < 3)
      return false;
    if (!(payload[2] & kFragmentStart))
      return keep_fragments_;
    /* The unit's type is in the FU header; its 2-byte header is rebuilt. */
    const uint8_t nal[2] = {uint8_t((payload[0] & 0x81) | ((payload[2] & 0x3f) << 1)), payload[1]};
    return keep_fragments_ = keep_nal(classify_h265(nal, sizeof(nal)), rtp_timestamp);
  }
  if (type == kH265Paci)
    return true;
  return keep_nal(classify_h265(payload, size), rtp_timestamp);
}

void KeyframeClassifier::reset() {
  have_access_unit_ = false;
  keep_access_unit_ = false;
  keep_fragments_ = false;
}

std::optional<VideoCodec> video_codec_named(std::string_view encoding_name) {
  if (ascii_iequals(encoding_name, "H264"))
    return VideoCodec::H264;
  if (ascii_iequals(encoding_name, "H265"))
    return VideoCodec::H265;
  return std::nullopt;
}

bool KeyframeClassifier::starts_unit(const uint8_t *payload, size_t size) const {
  if (codec_ == VideoCodec::H264) {
    if (size < 1)
      return false;
    const unsigned type = payload[0] & 0x1f;
    if (type == kH264FuA || type == kH264FuB)
      return size >= 2 && (payload[1] & kFragmentStart);
    return type >= 1 && type <= 24;
  }
  if (size < 2)
    return false;
  const unsigned type = (payload[0] >> 1) & 0x3f;
  if (type == kH265Fragment)
    return size >= 3 && (payload[2] & kFragmentStart);
  return type != kH265Paci;
}

bool KeyframeClassifier::starts_picture(const uint8_t *payload, size_t size) const {
  if (codec_ == VideoCodec::H264) {
    if (size < 2)
      return false;
    unsigned type = payload[0] & 0x1f;
    size_t slice = 1;
    if (type == kH264FuA) {
      if (size < 3 || !(payload[1] & kFragmentStart))
        return false;
      type = payload[1] & 0x1f;
      slice = 2;
    }
    /* first_mb_in_slice 0 is Exp-Golomb '1'. */
    return (type == 1 || type == 2 || type == 5) && (payload[slice] & 0x80);
  }
  if (size < 3)
    return false;
  unsigned type = (payload[0] >> 1) & 0x3f;
  size_t slice = 2;
  if (type == kH265Fragment) {
    if (size < 4 || !(payload[2] & kFragmentStart))
      return false;
    type = payload[2] & 0x3f;
    slice = 3;
  }
  return type < 32 && (payload[slice] & 0x80);
}

bool KeyframeSequence::closes_gap(const uint8_t *payload, size_t size,
                                  uint32_t rtp_timestamp) const {
  if (!gaps_are_drops_ || !last_seq_ || !classifier_.starts_unit(payload, size))
    return false;
  const std::optional<bool> last_unit_kept = classifier_.access_unit_kept(last_timestamp_);
  if (rtp_timestamp != last_timestamp_)
    return last_marker_ || (!last_kept_ && last_unit_kept != true);
  /* The same picture: one that is dropped anyway, or one whose first slice
   * this is. */
  return last_unit_kept == false || (!last_unit_kept && classifier_.starts_picture(payload, size));
}

std::optional<uint16_t> KeyframeSequence::keep(uint16_t seq, const uint8_t *payload, size_t size,
                                               uint32_t rtp_timestamp, bool marker) {
  if (last_seq_ && seq != uint16_t(*last_seq_ + 1)) {
    const uint16_t missing = uint16_t(seq - *last_seq_ - 1);
    if (closes_gap(payload, size, rtp_timestamp)) {
      seq_offset_ = uint16_t(seq_offset_ + missing);
      closed_gap_packets_ += missing;
    } else if (!last_marker_ &&
               (last_kept_ || classifier_.access_unit_kept(last_timestamp_) == true)) {
      cut_units_++;
    }
    classifier_.reset();
  }
  last_seq_ = seq;
  last_timestamp_ = rtp_timestamp;
  last_marker_ = marker;
  last_kept_ = classifier_.keep(payload, size, rtp_timestamp) ||
               (marker && classifier_.access_unit_kept(rtp_timestamp) == true);
  if (!last_kept_) {
    seq_offset_++;
    return std::nullopt;
  }
  return uint16_t(seq - seq_offset_);
}

void KeyframeSequence::reset() {
  classifier_.reset();
  last_seq_.reset();
  seq_offset_ = 0;
  last_marker_ = last_kept_ = false;
}

} // namespace gpurtsp::rtp
