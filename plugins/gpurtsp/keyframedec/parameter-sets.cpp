// SPDX-License-Identifier: MIT
#include "keyframedec/parameter-sets.h"

#include <algorithm>
#include <cstring>

namespace gpurtsp {

namespace {

constexpr uint8_t kStartCode[] = {0, 0, 0, 1};

/* Offset of the first byte after the next 00 00 01 at or after @from, or
 * @size when there is none. */
size_t next_nal(const uint8_t *data, size_t size, size_t from) {
  for (size_t i = from; i + 3 <= size; i++) {
    const auto p = static_cast<const uint8_t *>(memchr(data + i, 1, size - i));
    if (!p)
      return size;
    i = static_cast<size_t>(p - data);
    if (i >= from + 2 && data[i - 1] == 0 && data[i - 2] == 0)
      return i + 1;
  }
  return size;
}

/* Where the NAL unit whose header is at @header ends: at the zeros of the
 * next start code (trailing zero bytes belong to neither unit). */
size_t nal_end(const uint8_t *data, size_t header, size_t next_header, size_t size) {
  size_t end = next_header == size ? size : next_header - 3;
  while (end > header && data[end - 1] == 0)
    end--;
  return end;
}

} // namespace

ParameterSetCache::Nal ParameterSetCache::classify(uint8_t first_byte, Kind &kind) const {
  if (codec_ == Codec::H264) {
    switch (first_byte & 0x1f) {
    case 7:
      kind = kSps;
      return Nal::ParameterSet;
    case 8:
      kind = kPps;
      return Nal::ParameterSet;
    case 9:
      return Nal::Delimiter;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      return Nal::Slice;
    default:
      return Nal::Other;
    }
  }
  const unsigned type = (first_byte >> 1) & 0x3f;
  if (type < 32)
    return Nal::Slice;
  switch (type) {
  case 32:
    kind = kVps;
    return Nal::ParameterSet;
  case 33:
    kind = kSps;
    return Nal::ParameterSet;
  case 34:
    kind = kPps;
    return Nal::ParameterSet;
  case 35:
    return Nal::Delimiter;
  default:
    return Nal::Other;
  }
}

bool ParameterSetCache::empty() const {
  return std::all_of(sets_.begin(), sets_.end(), [](const auto &s) { return s.empty(); });
}

std::span<const uint8_t> ParameterSetCache::complete(std::span<const uint8_t> au,
                                                     std::vector<uint8_t> &scratch) {
  const uint8_t *data = au.data();
  const size_t size = au.size();
  std::array<bool, kKinds> carried{};
  std::array<std::vector<uint8_t>, kKinds> fresh;
  /* The NAL units before the first slice that are no parameter sets, each
   * with a start code: delimiters first, then the rest in order. */
  std::vector<uint8_t> delimiters, others;
  /* Offset of the first slice's start code. */
  size_t first_slice = size;

  for (size_t header = next_nal(data, size, 0); header < size;) {
    const size_t next = next_nal(data, size, header + 1);
    Kind kind = kSps;
    const Nal nal = classify(data[header], kind);
    if (nal == Nal::Slice) {
      /* Back to the start of its start code (3 or 4 bytes). Sets after the
       * first slice belong to the next picture. */
      first_slice = header - 3;
      if (first_slice > 0 && data[first_slice - 1] == 0)
        first_slice--;
      break;
    }
    std::vector<uint8_t> &to = nal == Nal::ParameterSet ? fresh[kind]
                               : nal == Nal::Delimiter  ? delimiters
                                                        : others;
    if (nal == Nal::ParameterSet)
      carried[kind] = true;
    to.insert(to.end(), std::begin(kStartCode), std::end(kStartCode));
    to.insert(to.end(), data + header, data + nal_end(data, header, next, size));
    header = next;
  }

  bool lacking = false;
  for (int k = 0; k < kKinds; k++) {
    if (carried[k])
      sets_[k] = std::move(fresh[k]);
    else if (!sets_[k].empty())
      lacking = true;
  }
  if (!lacking || first_slice == size)
    return au;

  /* Delimiters, every kind of set in its order, the rest. */
  scratch.clear();
  scratch.insert(scratch.end(), delimiters.begin(), delimiters.end());
  for (const auto &sets : sets_)
    scratch.insert(scratch.end(), sets.begin(), sets.end());
  scratch.insert(scratch.end(), others.begin(), others.end());
  scratch.insert(scratch.end(), data + first_slice, data + size);
  return scratch;
}

} // namespace gpurtsp
