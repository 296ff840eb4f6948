// SPDX-License-Identifier: MIT
/* KeyframeClassifier's cheapest rules as a classic BPF socket filter, for a
 * UDP socket that receives one H.264/H.265 RTP stream: the kernel drops the
 * delta frames' packets before they are queued, so the reader wakes only for
 * what a keyframe-only consumer needs. No state lives in a socket filter, so
 * it drops only packets it can judge alone:
 *  - H.264: a non-IDR slice (alone or as the start of an FU-A) that is the
 *    first slice of its picture and P, B or SP; every continuation fragment
 *    of a non-IDR slice (its start decided above, or passed);
 *  - H.265: slices that are not IRAP (types 0-9), alone or fragmented;
 *  - both: SEI (H.265: prefix SEI) and access unit delimiters sent alone
 *    without the marker bit, which come ahead of a picture's first slice
 *    (a camera that sends a delimiter before every picture would wake the
 *    reader 30 times a second for it). With the marker bit such a unit may
 *    end a kept picture, and passes; so do the units that may follow a kept
 *    picture's slices (filler, suffix SEI, end of sequence), whose drop
 *    would leave a gap inside the picture.
 * Everything else passes: RTCP, other payload types, parameter sets,
 * aggregates, I slices, later slices of a picture, malformed packets.
 * Its one blind spot is the continuation of a non-IDR I slice (open-GOP
 * H.264) or of a P slice that shares its picture with an I slice: the
 * filter drops it while the classifier would keep it. KeyframeSequence
 * counts that as a keyframe cut short (cut_units()), and whoever attached
 * the filter takes it off again. No GStreamer here. */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rtp/rtp-keyframe-classifier.h"

namespace gpurtsp::rtp {

/* One classic BPF instruction, laid out as the kernel's struct sock_filter. */
struct SocketFilterInstruction {
  uint16_t code;
  uint8_t jump_true;
  uint8_t jump_false;
  uint32_t k;
};

/* The program for a stream of @codec with RTP payload type @payload_type;
 * packets of any other payload type pass. Offsets start at the UDP header,
 * as the kernel runs filters of UDP sockets. */
std::vector<SocketFilterInstruction> keyframe_socket_filter(VideoCodec codec, uint8_t payload_type);

/* Attaches keyframe_socket_filter() to the UDP socket @fd (SO_ATTACH_FILTER,
 * no privileges needed); false with @error ("setsockopt(SO_ATTACH_FILTER):
 * ...") otherwise. It replaces any filter there. */
bool attach_keyframe_socket_filter(int fd, VideoCodec codec, uint8_t payload_type,
                                   std::string &error);

/* Takes the filter off @fd again; packets queued meanwhile stay filtered. */
bool detach_socket_filter(int fd, std::string &error);

} // namespace gpurtsp::rtp
