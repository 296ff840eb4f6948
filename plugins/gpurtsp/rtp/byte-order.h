// SPDX-License-Identifier: MIT
/* Network-order reads for the packet rules (no GStreamer here, so no
 * GST_READ_UINT16_BE). */
#pragma once

#include <cstdint>

namespace gpurtsp::rtp {

inline uint16_t read_be16(const uint8_t *data) {
  return uint16_t((data[0] << 8) | data[1]);
}

inline uint32_t read_be32(const uint8_t *data) {
  return (uint32_t(data[0]) << 24) | (uint32_t(data[1]) << 16) | (uint32_t(data[2]) << 8) | data[3];
}

} // namespace gpurtsp::rtp
