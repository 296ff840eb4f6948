// SPDX-License-Identifier: MIT
/* Drops the RTP packets of H.264/H.265 delta frames from what an RTSP
 * server sends over TCP (RFC 2326 10.12: '$'-framed interleaved packets
 * between RTSP messages), before any RTSP client parses them.
 *
 * Why: for a keyframe-only camera ~94 % of the packets are dropped anyway
 * (rtpkeyframefilter in rtpbin), but each one first costs GStreamer 1.22's
 * GstRTSPConnection and rtspsrc a message, a buffer and a push into rtpbin.
 * Cut out of the read buffer (tools/gpurtsp-launch/rtsp-read-ahead.h), they
 * cost a look at their header.
 *
 * What passes, unchanged: RTSP replies and server requests, RTCP, packets
 * of payload types the SDP does not map to H.264/H.265 video only, and
 * everything after bytes it does not understand (it then gives up for the
 * rest of the connection). Of video packets, KeyframeClassifier's choice,
 * renumbered to a gapless sequence per channel so the jitterbuffer neither
 * waits for nor reports the dropped ones; a gap on the wire stays a gap.
 * Only drops what rtpkeyframefilter would drop, which stays behind it.
 *
 * Pure logic on bytes, no GStreamer, no I/O. */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "rtp/rtp-keyframe-classifier.h"

namespace gpurtsp::rtp {

/* H.264/H.265 video payload types of an SDP: those mapped by a=rtpmap in
 * m=video sections only, and not mapped to anything else anywhere (a
 * payload type shared with audio is not filtered). */
std::map<uint8_t, VideoCodec> keyframe_payload_types(std::string_view sdp);

class InterleavedKeyframeFilter {
public:
  InterleavedKeyframeFilter();
  ~InterleavedKeyframeFilter();

  /* Filters data[0, size) in place: returns how many bytes at the front are
   * ready to pass on, and sets @undecided to the count right after them
   * that start an item not yet complete enough to judge. Give those again
   * at the front of the next call, followed by the next bytes. */
  std::size_t filter(uint8_t *data, std::size_t size, std::size_t &undecided);

  /* Passes everything from now on (the caller cannot hold more undecided
   * bytes, or the stream ended). */
  void give_up() { gave_up_ = true; }
  bool gave_up() const { return gave_up_; }

  /* The most undecided bytes it asks a caller to hold: the longest
   * interleaved packet (a video packet is judged whole). A longer RTSP
   * message head or SDP makes the caller give up. */
  static constexpr std::size_t kMaxPacketBytes = 4 + 65535;

  uint64_t packets_dropped() const { return packets_dropped_; }

private:
  struct Channel;
  enum class Step { NeedMore, Pass, Drop };
  struct Item {
    Step step;
    std::size_t size = 0;
  };

  /* The item starting at @data: its size and fate. */
  Item judge(uint8_t *data, std::size_t size);
  Item judge_packet(uint8_t *data, std::size_t size);
  Item judge_message(const uint8_t *data, std::size_t size);

  std::map<uint8_t, VideoCodec> payload_types_;
  std::array<std::unique_ptr<Channel>, 256> channels_;
  /* The item being passed or dropped: its bytes still to come. */
  std::size_t remaining_ = 0;
  bool dropping_ = false;
  bool gave_up_ = false;
  uint64_t packets_dropped_ = 0;
};

} // namespace gpurtsp::rtp
