// SPDX-License-Identifier: MIT
/* No JPEG from a damaged picture. The guard watches the RTP packets that go
 * into the depayloader (after the jitterbuffer: in order, duplicates gone,
 * lost packets left as sequence gaps) and the access units that come out,
 * and says which access units to drop:
 *   - a unit with a packet missing: a gap inside it, its marker packet lost
 *     (the next unit begins without one), or its beginning lost (the packet
 *     after a gap does not start an access unit: a fragment's middle, a slice
 *     other than the picture's first);
 *   - every delta unit after a damaged or wholly lost unit, until the next
 *     intact keyframe: a picture that references a damaged one is damaged.
 * Units are matched by timestamp: the depayloaders stamp a unit with the
 * PTS of one of its packets, which the jitterbuffer gives every packet of an
 * RTP timestamp alike unless packets of other timestamps came in between
 * (reordering): every PTS of a unit's packets is kept. A unit matching none
 * is dropped as damaged: it cannot be vouched for.
 * With decode: keyframes every unit is a keyframe, so only damaged ones go.
 * Pure logic, no GStreamer: CameraPipeline feeds it from pad probes. */
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace gpurtsp::launch {

class AccessUnitGuard {
public:
  enum class Codec { H264, H265 };

  explicit AccessUnitGuard(Codec codec) : codec_(codec) {}

  /* One RTP packet going into the depayloader. @pts: its buffer's PTS. */
  void packet(uint16_t seq, uint32_t rtp_timestamp, uint64_t pts, bool marker,
              const uint8_t *payload, size_t size);

  /* One access unit out of the depayloader: whether it may go on. A unit
   * held back before the first keyframe of a stream is not counted as
   * damaged (the decoder could not have used it either). */
  bool pass(uint64_t pts, bool keyframe);

  /* Units dropped because they or a picture they reference lost packets,
   * and damaged ones the depayloader discarded itself. */
  uint64_t dropped() const { return dropped_; }

  /* Units out of the depayloader that matched no unit going in. */
  uint64_t unmatched() const { return unmatched_; }

  /* A flush or a new stream: forget the numbering, wait for a keyframe. */
  void reset();

  /* Whether a packet with this payload begins an access unit (parameter
   * sets, delimiter, SEI, or the first slice of a picture; for fragments,
   * the first fragment of such a unit). */
  static bool starts_access_unit(Codec codec, const uint8_t *payload, size_t size);

private:
  struct Unit {
    std::vector<uint64_t> pts; /* of its packets, each once */
    uint64_t index = 0;        /* counts units seen on the input */
    bool damaged = false;      /* a packet of it is missing */
    bool gap_before = false;   /* packets lost between it and the previous unit */
  };
  Unit *find(uint64_t pts);

  Codec codec_;
  /* Input side. */
  bool have_packet_ = false;
  uint16_t last_seq_ = 0;
  bool last_marker_ = true;
  bool have_unit_ = false;
  uint32_t unit_timestamp_ = 0;
  uint64_t next_index_ = 0;
  std::deque<Unit> units_; /* the newest last; a few dozen at most */
  /* Output side. */
  bool have_output_ = false;
  uint64_t last_output_index_ = 0;
  bool need_keyframe_ = true;
  bool seen_keyframe_ = false;
  uint64_t dropped_ = 0;
  uint64_t unmatched_ = 0;
};

} // namespace gpurtsp::launch
