// SPDX-License-Identifier: MIT
#include "access-unit-guard.h"

namespace gpurtsp::launch {

namespace {

/* Units remembered between the depayloader's input and output: it holds
 * back at most the unit in progress, so a few are plenty. */
constexpr size_t kUnitsKept = 32;

bool h264_nal_starts_unit(const uint8_t *nal, size_t size) {
  if (size < 1)
    return false;
  const unsigned type = nal[0] & 0x1f;
  switch (type) {
  case 6: /* SEI */
  case 7: /* SPS */
  case 8: /* PPS */
  case 9: /* access unit delimiter */
    return true;
  case 1: /* slice */
  case 5: /* IDR slice: first_mb_in_slice is ue(v); 0 is the single bit 1 */
    return size >= 2 && (nal[1] & 0x80);
  default:
    return false;
  }
}

bool h265_nal_starts_unit(const uint8_t *nal, size_t size) {
  if (size < 2)
    return false;
  const unsigned type = (nal[0] >> 1) & 0x3f;
  if (type <= 31) /* slice segment: first_slice_segment_in_pic_flag */
    return size >= 3 && (nal[2] & 0x80);
  return type == 32 || type == 33 || type == 34 || type == 35 || type == 39;
}

} // namespace

bool AccessUnitGuard::starts_access_unit(Codec codec, const uint8_t *p, size_t size) {
  if (codec == Codec::H264) {
    if (size < 1)
      return false;
    const unsigned type = p[0] & 0x1f;
    if (type >= 1 && type <= 23)
      return h264_nal_starts_unit(p, size);
    if (type == 24) /* STAP-A: header, 16-bit size, first unit */
      return size > 3 && h264_nal_starts_unit(p + 3, size - 3);
    if (type == 28) { /* FU-A: indicator, header (S bit, type) */
      if (size < 3 || !(p[1] & 0x80))
        return false;
      const uint8_t nal[2] = {uint8_t((p[0] & 0xe0) | (p[1] & 0x1f)), p[2]};
      return h264_nal_starts_unit(nal, 2);
    }
    return false;
  }
  if (size < 2)
    return false;
  const unsigned type = (p[0] >> 1) & 0x3f;
  if (type == 48) /* AP: 2-byte header, 16-bit size, first unit */
    return size > 4 && h265_nal_starts_unit(p + 4, size - 4);
  if (type == 49) { /* FU: header, FU header (S bit, type) */
    if (size < 4 || !(p[2] & 0x80))
      return false;
    const uint8_t nal[3] = {uint8_t((p[0] & 0x81) | ((p[2] & 0x3f) << 1)), p[1], p[3]};
    return h265_nal_starts_unit(nal, 3);
  }
  if (type > 47)
    return false;
  return h265_nal_starts_unit(p, size);
}

void AccessUnitGuard::reset() {
  have_packet_ = false;
  last_marker_ = true;
  have_unit_ = false;
  units_.clear();
  have_output_ = false;
  need_keyframe_ = true;
  seen_keyframe_ = false;
}

AccessUnitGuard::Unit *AccessUnitGuard::find(uint64_t pts) {
  for (auto unit = units_.rbegin(); unit != units_.rend(); ++unit)
    for (uint64_t unit_pts : unit->pts)
      if (unit_pts == pts)
        return &*unit;
  return nullptr;
}

void AccessUnitGuard::packet(uint16_t seq, uint32_t rtp_timestamp, uint64_t pts, bool marker,
                             const uint8_t *payload, size_t size) {
  /* The first packet of a stream counts as one after a gap: the stream may
   * begin in the middle of a unit. */
  const bool gap = !have_packet_ || seq != uint16_t(last_seq_ + 1);
  const bool new_unit = !have_unit_ || rtp_timestamp != unit_timestamp_;
  if (new_unit) {
    /* The unit before ended without its marker packet: its end was lost. */
    if (have_unit_ && gap && !last_marker_ && !units_.empty())
      units_.back().damaged = true;
    Unit unit;
    unit.pts.push_back(pts);
    unit.index = next_index_++;
    unit.gap_before = gap;
    unit.damaged = gap && !starts_access_unit(codec_, payload, size);
    units_.push_back(unit);
    if (units_.size() > kUnitsKept)
      units_.pop_front();
    have_unit_ = true;
    unit_timestamp_ = rtp_timestamp;
  } else if (!units_.empty()) {
    Unit &unit = units_.back();
    if (gap)
      unit.damaged = true;
    if (unit.pts.back() != pts && unit.pts.size() < 64)
      unit.pts.push_back(pts);
  }
  have_packet_ = true;
  last_seq_ = seq;
  last_marker_ = marker;
}

bool AccessUnitGuard::pass(uint64_t pts, bool keyframe) {
  const Unit *unit = find(pts);
  /* Not seen going in: nothing vouches for it. */
  if (!unit)
    unmatched_++;
  const bool damaged = !unit || unit->damaged;
  const bool lost_before =
      unit && (unit->gap_before || (have_output_ && unit->index != last_output_index_ + 1));
  if (unit) {
    /* Damaged units the depayloader discarded itself (a fragmented unit
     * without its start) never come out: count them as dropped here. */
    if (have_output_ && seen_keyframe_)
      for (const Unit &skipped : units_)
        if (skipped.index > last_output_index_ && skipped.index < unit->index && skipped.damaged)
          dropped_++;
    have_output_ = true;
    last_output_index_ = unit->index;
  }
  if (damaged || (lost_before && seen_keyframe_))
    need_keyframe_ = true;
  if (!damaged && keyframe)
    need_keyframe_ = false;
  if (!damaged && !need_keyframe_) {
    seen_keyframe_ = seen_keyframe_ || keyframe;
    return true;
  }
  /* Before the stream's first keyframe nothing was served: not a drop of
   * a damaged picture, just the start. */
  if (seen_keyframe_)
    dropped_++;
  return false;
}

} // namespace gpurtsp::launch
