// SPDX-License-Identifier: MIT
/* libFuzzer target: what an RTSP server sends over TCP, through the read
 * buffer's keyframe filter (rtp/rtsp-interleaved-filter.h) in pieces whose
 * sizes the input's first byte chooses, undecided bytes given again as the
 * launcher's read buffer does. The filter must never pass more than it was
 * given, never ask to hold more than the longest packet, and pass
 * everything when no SDP names a video payload type. */
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <vector>

#include "rtp/rtsp-interleaved-filter.h"

using gpurtsp::rtp::InterleavedKeyframeFilter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const size_t piece = 1 + data[0] * 16;
  data++;
  size--;
  std::vector<uint8_t> lower(data, data + size);
  for (uint8_t &c : lower)
    c = c >= 'A' && c <= 'Z' ? c | 0x20 : c;
  const bool has_sdp = memmem(lower.data(), size, "application/sdp", 15) != nullptr;
  InterleavedKeyframeFilter filter;
  std::vector<uint8_t> out, buffer;
  for (size_t at = 0; at < size || !buffer.empty();) {
    const size_t n = std::min(piece, size - at);
    if (n == 0)
      filter.give_up(); /* the end: what is undecided passes */
    buffer.insert(buffer.end(), data + at, data + at + n);
    at += n;
    size_t undecided = 0;
    const size_t passed = filter.filter(buffer.data(), buffer.size(), undecided);
    if (passed + undecided > buffer.size() ||
        undecided > InterleavedKeyframeFilter::kMaxPacketBytes + 1 + piece)
      abort();
    out.insert(out.end(), buffer.begin(), buffer.begin() + passed);
    buffer.erase(buffer.begin(), buffer.begin() + passed);
    buffer.resize(undecided);
    if (n == 0 && !buffer.empty())
      abort(); /* after give_up() nothing stays undecided */
  }
  if (out.size() > size || (!has_sdp && (out.size() != size || memcmp(out.data(), data, size))))
    abort();
  return 0;
}
