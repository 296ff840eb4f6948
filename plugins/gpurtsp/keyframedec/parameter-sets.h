// SPDX-License-Identifier: MIT
/* A camera's H.264 / H.265 parameter sets, remembered so that each keyframe
 * can be parsed on its own by a parser other cameras use too.
 *
 * gpukeyframedec's cuvid parsers are pooled (one per keyframe in flight, not
 * one per camera: an H.265 parser holds ~3.1 MiB, docs/scale.md). A pooled
 * parser knows the parameter sets of whichever camera it parsed last, so
 * every keyframe must carry its own camera's. Most cameras send them with
 * every keyframe; for those that send them once (or only some kinds again),
 * the ones an access unit lacks are put back in from the last ones seen.
 * Pure logic over Annex B byte streams, no GStreamer, no CUDA. */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gpurtsp {

class ParameterSetCache {
public:
  enum class Codec { H264, H265 };

  explicit ParameterSetCache(Codec codec) : codec_(codec) {}

  /* Returns the access unit @au (Annex B, one picture) to parse: @au itself
   * when it carries every kind of parameter set the stream has sent so far,
   * else a copy in @scratch with the remembered sets of the kinds it lacks
   * put back: its delimiters, then VPS, SPS, PPS (its own or remembered),
   * then its other units. The sets that @au carries before its first slice
   * replace the remembered ones of their kind. */
  std::span<const uint8_t> complete(std::span<const uint8_t> au, std::vector<uint8_t> &scratch);

  /* Whether any parameter set has been seen. */
  bool empty() const;

private:
  /* VPS (H.265 only), SPS, PPS: the order they are put back in. */
  enum Kind { kVps, kSps, kPps, kKinds };
  enum class Nal { ParameterSet, Delimiter, Slice, Other };
  Nal classify(uint8_t first_byte, Kind &kind) const;

  Codec codec_;
  /* By kind: the NAL units of the last access unit that carried that kind,
   * each with a 4-byte start code. */
  std::array<std::vector<uint8_t>, kKinds> sets_;
};

} // namespace gpurtsp
