// SPDX-License-Identifier: MIT
/* Case-blind comparison for the packet rules' names (RTSP headers, media
 * types, RTP encoding names): ASCII letters fold, nothing else does, so a
 * control byte never matches a punctuation mark. No locale, no GLib. */
#pragma once

#include <algorithm>
#include <string_view>

namespace gpurtsp::rtp {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c | 0x20) : c;
}

inline bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

} // namespace gpurtsp::rtp
