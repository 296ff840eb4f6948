// SPDX-License-Identifier: MIT
#include "rtp/rtp-socket-filter.h"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace gpurtsp::rtp {

static_assert(sizeof(SocketFilterInstruction) == sizeof(struct sock_filter));

namespace {

/* UDP header, then the RTP fixed header. */
constexpr uint32_t kRtp = 8;
constexpr uint32_t kRtpFixedHeader = 12;
/* Bytes of payload the rules read: the NAL unit header's first byte for
 * every rule, and for slices an FU's two header bytes and the first byte
 * of the slice header. */
constexpr uint32_t kPayloadTypeRead = 1;
constexpr uint32_t kPayloadSliceRead = 3;
/* Scratch memory: the payload's offset, a byte kept for a second test. */
constexpr uint32_t kPayloadOffset = 0;
constexpr uint32_t kSaved = 1;

enum class Label {
  Accept,
  Drop,
  IsRtp,
  IsStream,
  CheckExtension,
  HasExtension,
  ExtensionHeaderFits,
  Payload,
  PayloadReadable,
  H264CheckFu,
  H264CheckSei,
  H264CheckDelimiter,
  H264Fragment,
  H264FragmentReadable,
  H264FragmentStart,
  H264StartSliceByte,
  H264Single,
  H264SingleReadable,
  H264SliceByte,
  H264FirstSlice,
  H264NotB,
  H264NotSp,
  H264NotP5,
  H264NotB6,
  H265Fragment,
  H265FragmentReadable,
  H265Single,
  H265NotSlice,
  H265CheckDelimiter,
  Unmarked,
};

/* Classic BPF with named jump targets, resolved at the end. */
class Assembler {
public:
  void emit(uint16_t code, uint32_t k = 0) { program_.push_back({code, 0, 0, k}); }
  /* A conditional jump: BPF_JMP | op | BPF_K or BPF_X. */
  void jump(uint16_t code, uint32_t k, Label if_true, Label if_false) {
    fixups_.push_back({program_.size(), if_true, if_false, false});
    emit(code, k);
  }
  void go_to(Label label) {
    fixups_.push_back({program_.size(), label, label, true});
    emit(BPF_JMP | BPF_JA);
  }
  void bind(Label label) { labels_[label] = program_.size(); }

  std::vector<SocketFilterInstruction> finish() {
    for (const Fixup &fixup : fixups_) {
      SocketFilterInstruction &at = program_[fixup.at];
      if (fixup.always) {
        at.k = uint32_t(distance(fixup.at, fixup.if_true));
      } else {
        at.jump_true = uint8_t(distance(fixup.at, fixup.if_true));
        at.jump_false = uint8_t(distance(fixup.at, fixup.if_false));
      }
    }
    return std::move(program_);
  }

private:
  struct Fixup {
    size_t at;
    Label if_true, if_false;
    bool always;
  };
  /* Jumps go forward only; conditional ones by at most 255 (the program is
   * far shorter). */
  size_t distance(size_t from, Label to) const { return labels_.at(to) - from - 1; }

  std::vector<SocketFilterInstruction> program_;
  std::vector<Fixup> fixups_;
  std::map<Label, size_t> labels_;
};

constexpr uint16_t kLoadLength = BPF_LD | BPF_W | BPF_LEN;
constexpr uint16_t kLoadByte = BPF_LD | BPF_B | BPF_ABS;
constexpr uint16_t kLoadByteAtX = BPF_LD | BPF_B | BPF_IND;
constexpr uint16_t kLoadHalfAtX = BPF_LD | BPF_H | BPF_IND;
constexpr uint16_t kLoadScratch = BPF_LD | BPF_MEM;
constexpr uint16_t kLoadScratchX = BPF_LDX | BPF_MEM;
constexpr uint16_t kStore = BPF_ST;
constexpr uint16_t kAToX = BPF_MISC | BPF_TAX;
constexpr uint16_t kXToA = BPF_MISC | BPF_TXA;
constexpr uint16_t kAnd = BPF_ALU | BPF_AND | BPF_K;
constexpr uint16_t kAdd = BPF_ALU | BPF_ADD | BPF_K;
constexpr uint16_t kAddX = BPF_ALU | BPF_ADD | BPF_X;
constexpr uint16_t kShiftLeft = BPF_ALU | BPF_LSH | BPF_K;
constexpr uint16_t kShiftRight = BPF_ALU | BPF_RSH | BPF_K;
constexpr uint16_t kEqual = BPF_JMP | BPF_JEQ | BPF_K;
constexpr uint16_t kAtLeast = BPF_JMP | BPF_JGE | BPF_K;
constexpr uint16_t kAtLeastX = BPF_JMP | BPF_JGE | BPF_X;
constexpr uint16_t kAnyBit = BPF_JMP | BPF_JSET | BPF_K;

/* Goes on to @readable with X = the payload's offset when the packet holds
 * @bytes of payload, else accepts it. */
void require_payload(Assembler &a, uint32_t bytes, Label readable) {
  a.emit(kLoadScratch, kPayloadOffset);
  a.emit(kAdd, bytes);
  a.emit(kAToX);
  a.emit(kLoadLength);
  a.jump(kAtLeastX, 0, readable, Label::Accept);
  a.bind(readable);
  a.emit(kLoadScratchX, kPayloadOffset);
}

/* A unit the classifier never keeps (an SEI or access unit delimiter):
 * dropped unless it carries the marker bit, with which it ends its picture,
 * perhaps a kept one, and tells the depayloader to push it. */
void unmarked_rule(Assembler &a) {
  a.bind(Label::Unmarked);
  a.emit(kLoadByte, kRtp + 1); /* M PT */
  a.jump(kAnyBit, 0x80, Label::Accept, Label::Drop);
}

/* A = a NAL unit type: the SEI (@sei) and the access unit delimiter
 * (@delimiter), the units an encoder sends ahead of a picture's first
 * slice, go to the unmarked rule; other types pass. Units that may come
 * after a kept picture's slices (filler, suffix SEI, end of sequence) are
 * left to the element: dropped here they would leave a gap inside a kept
 * picture, a keyframe cut short. @not_sei is the label between the tests. */
void leading_unit_types(Assembler &a, uint32_t sei, uint32_t delimiter, Label not_sei) {
  a.jump(kEqual, sei, Label::Unmarked, not_sei);
  a.bind(not_sei);
  a.jump(kEqual, delimiter, Label::Unmarked, Label::Accept);
}

/* From the RTP header to X = the payload's offset, packets that are not
 * this stream's RTP or too short to judge accepted on the way. A load past
 * the end would drop the packet, so every one is checked first. */
void rtp_header_rules(Assembler &a, uint8_t payload_type) {
  a.emit(kLoadLength);
  a.jump(kAtLeast, kRtp + kRtpFixedHeader + kPayloadTypeRead, Label::IsRtp, Label::Accept);
  a.bind(Label::IsRtp);
  a.emit(kLoadByte, kRtp); /* V P X CC */
  a.emit(kAnd, 0xc0);
  a.jump(kEqual, 0x80, Label::IsStream, Label::Accept);
  a.bind(Label::IsStream);
  a.emit(kLoadByte, kRtp + 1); /* M PT */
  a.emit(kAnd, 0x7f);
  a.jump(kEqual, payload_type, Label::CheckExtension, Label::Accept);

  a.bind(Label::CheckExtension);
  a.emit(BPF_LDX | BPF_B | BPF_MSH, kRtp); /* X = 4 * CC */
  a.emit(kXToA);
  a.emit(kAdd, kRtp + kRtpFixedHeader);
  a.emit(kStore, kPayloadOffset);
  a.emit(kLoadByte, kRtp);
  a.jump(kAnyBit, 0x10, Label::HasExtension, Label::Payload);
  a.bind(Label::HasExtension);
  /* The extension: 16-bit profile, 16-bit length in words, the words. */
  a.emit(kLoadScratch, kPayloadOffset);
  a.emit(kAdd, 4);
  a.emit(kAToX);
  a.emit(kLoadLength);
  a.jump(kAtLeastX, 0, Label::ExtensionHeaderFits, Label::Accept);
  a.bind(Label::ExtensionHeaderFits);
  a.emit(kLoadScratchX, kPayloadOffset);
  a.emit(kLoadHalfAtX, 2);
  a.emit(kShiftLeft, 2);
  a.emit(kAdd, 4);
  a.emit(kAToX);
  a.emit(kLoadScratch, kPayloadOffset);
  a.emit(kAddX);
  a.emit(kStore, kPayloadOffset);

  a.bind(Label::Payload);
  require_payload(a, kPayloadTypeRead, Label::PayloadReadable);
}

/* A = first byte of a non-IDR slice header: first_mb_in_slice, slice_type
 * (Exp-Golomb). Drops the first slice of a P, B or SP picture; I (2, 7),
 * SI (4, 9), SP (8, '0001001', rare) and every later slice pass. */
void h264_slice_rules(Assembler &a) {
  a.bind(Label::H264SliceByte);
  a.emit(kStore, kSaved);
  /* '1': first_mb_in_slice 0. A later slice's picture is unknown here. */
  a.jump(kAnyBit, 0x80, Label::H264FirstSlice, Label::Accept);
  a.bind(Label::H264FirstSlice);
  a.jump(kAnyBit, 0x40, Label::Drop, Label::H264NotB); /* '1': P (0) */
  a.bind(Label::H264NotB);
  a.emit(kAnd, 0x70);
  a.jump(kEqual, 0x20, Label::Drop, Label::H264NotSp); /* '010': B (1) */
  a.bind(Label::H264NotSp);
  a.emit(kLoadScratch, kSaved);
  a.emit(kAnd, 0x7c);
  a.jump(kEqual, 0x10, Label::Drop, Label::H264NotP5); /* '00100': SP (3) */
  a.bind(Label::H264NotP5);
  a.jump(kEqual, 0x18, Label::Drop, Label::H264NotB6); /* '00110': P (5) */
  a.bind(Label::H264NotB6);
  a.jump(kEqual, 0x1c, Label::Drop, Label::Accept); /* '00111': B (6) */
}

/* X = payload offset, at least kPayloadTypeRead bytes there. */
void h264_rules(Assembler &a) {
  a.emit(kLoadByteAtX, 0);
  a.emit(kAnd, 0x1f);
  a.jump(kEqual, 1, Label::H264Single, Label::H264CheckFu);
  a.bind(Label::H264CheckFu);
  a.jump(kEqual, 28, Label::H264Fragment, Label::H264CheckSei); /* FU-A */
  a.bind(Label::H264CheckSei);
  leading_unit_types(a, 6, 9, Label::H264CheckDelimiter);

  a.bind(Label::H264Fragment);
  require_payload(a, kPayloadSliceRead, Label::H264FragmentReadable);
  a.emit(kLoadByteAtX, 1); /* FU header: S E R type */
  a.emit(kStore, kSaved);
  a.emit(kAnd, 0x1f);
  a.jump(kEqual, 1, Label::H264FragmentStart, Label::Accept);
  a.bind(Label::H264FragmentStart);
  a.emit(kLoadScratch, kSaved);
  /* A continuation: its start was judged (see the header for the risk). */
  a.jump(kAnyBit, 0x80, Label::H264StartSliceByte, Label::Drop);
  a.bind(Label::H264StartSliceByte);
  a.emit(kLoadByteAtX, 2);
  a.go_to(Label::H264SliceByte);
  a.bind(Label::H264Single);
  require_payload(a, kPayloadSliceRead, Label::H264SingleReadable);
  a.emit(kLoadByteAtX, 1);
  h264_slice_rules(a);
}

/* X = payload offset, at least kPayloadTypeRead bytes there. */
void h265_rules(Assembler &a) {
  a.emit(kLoadByteAtX, 0);
  a.emit(kShiftRight, 1);
  a.emit(kAnd, 0x3f);
  a.jump(kEqual, 49, Label::H265Fragment, Label::H265Single);
  a.bind(Label::H265Fragment);
  require_payload(a, kPayloadSliceRead, Label::H265FragmentReadable);
  a.emit(kLoadByteAtX, 2); /* FU header: S E type */
  a.emit(kAnd, 0x3f);
  /* Types 0-9: trailing, sub-layer and leading pictures, never IRAP. A
   * fragment of another kind passes, whatever it is. */
  a.jump(kAtLeast, 10, Label::Accept, Label::Drop);

  a.bind(Label::H265Single);
  a.jump(kAtLeast, 10, Label::H265NotSlice, Label::Drop);
  a.bind(Label::H265NotSlice);
  leading_unit_types(a, 39, 35, Label::H265CheckDelimiter); /* prefix SEI, delimiter */
}

} // namespace

std::vector<SocketFilterInstruction> keyframe_socket_filter(VideoCodec codec,
                                                            uint8_t payload_type) {
  Assembler a;
  rtp_header_rules(a, payload_type);
  if (codec == VideoCodec::H264)
    h264_rules(a);
  else
    h265_rules(a);
  unmarked_rule(a);
  a.bind(Label::Accept);
  a.emit(BPF_RET | BPF_K, 0xffffffffu);
  a.bind(Label::Drop);
  a.emit(BPF_RET | BPF_K, 0);
  return a.finish();
}

bool attach_keyframe_socket_filter(int fd, VideoCodec codec, uint8_t payload_type,
                                   std::string &error) {
  std::vector<SocketFilterInstruction> program = keyframe_socket_filter(codec, payload_type);
  struct sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = reinterpret_cast<struct sock_filter *>(program.data());
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
    error = std::string("setsockopt(SO_ATTACH_FILTER): ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool detach_socket_filter(int fd, std::string &error) {
  int unused = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) != 0) {
    error = std::string("setsockopt(SO_DETACH_FILTER): ") + std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace gpurtsp::rtp
