// SPDX-License-Identifier: MIT
#include "rtp/rtsp-interleaved-filter.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>
#include <string>

#include "rtp/ascii.h"
#include "rtp/byte-order.h"

namespace gpurtsp::rtp {

namespace {

bool icontains(std::string_view haystack, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); i++)
    if (ascii_iequals(haystack.substr(i, needle.size()), needle))
      return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/* The next space-separated token of @s, consumed. */
std::string_view next_token(std::string_view &s) {
  s = trim(s);
  const std::size_t end = std::min(s.find(' '), s.size());
  std::string_view token = s.substr(0, end);
  s.remove_prefix(end);
  return token;
}

std::optional<unsigned> parse_unsigned(std::string_view s) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc() || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return value;
}

/* Dynamic payload types. 64-95 are left out: RTCP's packet types 192-223
 * read as those with the marker bit set (RFC 5761). */
bool dynamic_payload_type(unsigned pt) {
  return pt >= 96 && pt <= 127;
}

/* Bytes of the fixed RTP header. */
constexpr std::size_t kRtpHeader = 12;

} // namespace

std::map<uint8_t, VideoCodec> keyframe_payload_types(std::string_view sdp) {
  std::map<uint8_t, VideoCodec> video;
  std::set<unsigned> excluded;
  bool in_video = false;
  auto exclude = [&](unsigned pt) {
    excluded.insert(pt);
    video.erase(uint8_t(pt));
  };
  while (!sdp.empty()) {
    const std::size_t eol = std::min(sdp.find('\n'), sdp.size());
    std::string_view line = trim(sdp.substr(0, eol));
    sdp.remove_prefix(std::min(eol + 1, sdp.size()));
    if (line.substr(0, 2) == "m=") {
      line.remove_prefix(2);
      in_video = next_token(line) == "video";
      next_token(line); /* port */
      next_token(line); /* protocol */
      if (!in_video)
        while (!line.empty())
          if (const auto pt = parse_unsigned(next_token(line)))
            exclude(*pt);
      continue;
    }
    if (line.substr(0, 9) != "a=rtpmap:")
      continue;
    line.remove_prefix(9);
    const auto pt = parse_unsigned(next_token(line));
    if (!pt)
      continue;
    const std::string_view encoding = trim(line).substr(0, trim(line).find('/'));
    const std::optional<VideoCodec> codec = video_codec_named(encoding);
    if (!in_video || !codec || !dynamic_payload_type(*pt) || excluded.count(*pt)) {
      exclude(*pt);
      continue;
    }
    const auto [it, inserted] = video.emplace(uint8_t(*pt), *codec);
    if (!inserted && it->second != *codec)
      exclude(*pt);
  }
  return video;
}

/* One interleaved channel's video stream. */
struct InterleavedKeyframeFilter::Channel {
  Channel(VideoCodec codec, uint32_t ssrc) : sequence(codec), ssrc(ssrc) {}
  KeyframeSequence sequence;
  uint32_t ssrc;
};

InterleavedKeyframeFilter::InterleavedKeyframeFilter() = default;
InterleavedKeyframeFilter::~InterleavedKeyframeFilter() = default;

std::size_t InterleavedKeyframeFilter::filter(uint8_t *data, std::size_t size,
                                              std::size_t &undecided) {
  std::size_t in = 0, out = 0;
  auto pass = [&](std::size_t n) {
    if (out != in)
      memmove(data + out, data + in, n);
    out += n;
    in += n;
  };
  while (in < size) {
    if (remaining_ > 0) {
      const std::size_t n = std::min(remaining_, size - in);
      if (dropping_)
        in += n;
      else
        pass(n);
      remaining_ -= n;
      continue;
    }
    if (gave_up_) {
      pass(size - in);
      break;
    }
    const Item item = judge(data + in, size - in);
    if (item.step == Step::NeedMore)
      break;
    remaining_ = item.size;
    dropping_ = item.step == Step::Drop;
  }
  undecided = size - in;
  if (undecided > 0 && out != in)
    memmove(data + out, data + in, undecided);
  return out;
}

InterleavedKeyframeFilter::Item InterleavedKeyframeFilter::judge(uint8_t *data, std::size_t size) {
  const uint8_t first = data[0];
  if (first == '$')
    return judge_packet(data, size);
  /* Line ends between messages: GstRTSPConnection skips them too. */
  if (first == '\r' || first == '\n')
    return {Step::Pass, 1};
  /* A reply ("RTSP/1.0 ...") or a server's request ("GET_PARAMETER ..."). */
  if (first >= 'A' && first <= 'Z')
    return judge_message(data, size);
  /* Not RTSP as we know it: pass everything on for the client to judge. */
  gave_up_ = true;
  return {Step::Pass, 0};
}

InterleavedKeyframeFilter::Item InterleavedKeyframeFilter::judge_packet(uint8_t *data,
                                                                        std::size_t size) {
  if (size < 4)
    return {Step::NeedMore};
  const std::size_t length = read_be16(data + 2);
  const Item pass{Step::Pass, 4 + length};
  if (payload_types_.empty() || length < kRtpHeader)
    return pass;
  if (size < 6)
    return {Step::NeedMore};
  uint8_t *rtp = data + 4;
  const auto codec = payload_types_.find(rtp[1] & 0x7f);
  if ((rtp[0] >> 6) != 2 || codec == payload_types_.end())
    return pass; /* not RTP, RTCP, or not a video payload type */
  /* Judged whole: an aggregation packet's units run to its end. */
  if (size < 4 + length)
    return {Step::NeedMore};

  std::size_t header = kRtpHeader + 4 * (rtp[0] & 0x0f);
  if (rtp[0] & 0x10) {
    if (header + 4 > length)
      return pass; /* an extension header cut short: malformed */
    header += 4 + 4 * std::size_t(read_be16(rtp + header + 2));
  }
  std::size_t payload = length >= header ? length - header : 0;
  if ((rtp[0] & 0x20) && payload > 0)
    payload = rtp[length - 1] <= payload ? payload - rtp[length - 1] : 0;
  if (header >= length || payload == 0)
    return pass; /* malformed: the depayloader judges it */

  const uint8_t channel_id = data[1];
  const uint16_t seq = read_be16(rtp + 2);
  const uint32_t timestamp = read_be32(rtp + 4);
  const uint32_t ssrc = read_be32(rtp + 8);
  std::unique_ptr<Channel> &channel = channels_[channel_id];
  /* A new source (the server restarted the stream) numbers afresh. */
  if (!channel || channel->ssrc != ssrc || channel->sequence.codec() != codec->second)
    channel = std::make_unique<Channel>(codec->second, ssrc);
  /* A gap in the numbers here is the server dropping packets for a slow
   * reader; KeyframeSequence keeps it a gap. */
  const std::optional<uint16_t> renumbered =
      channel->sequence.keep(seq, rtp + header, payload, timestamp, rtp[1] & 0x80);
  if (!renumbered) {
    packets_dropped_++;
    return {Step::Drop, 4 + length};
  }
  if (*renumbered != seq) {
    rtp[2] = uint8_t(*renumbered >> 8);
    rtp[3] = uint8_t(*renumbered & 0xff);
  }
  return pass;
}

InterleavedKeyframeFilter::Item InterleavedKeyframeFilter::judge_message(const uint8_t *data,
                                                                         std::size_t size) {
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  const std::size_t head_end = text.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    return {Step::NeedMore};
  const std::size_t head_size = head_end + 4;
  std::string_view head = text.substr(0, head_end);
  std::size_t body_size = 0;
  bool sdp = false;
  while (!head.empty()) {
    const std::size_t eol = std::min(head.find("\r\n"), head.size());
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(std::min(eol + 2, head.size()));
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (ascii_iequals(name, "Content-Length")) {
      const auto length = parse_unsigned(value);
      if (!length) {
        /* The client decides what to make of it; we cannot frame past it. */
        gave_up_ = true;
        return {Step::Pass, 0};
      }
      body_size = *length;
    } else if (ascii_iequals(name, "Content-Type")) {
      sdp = icontains(value, "application/sdp");
    }
  }
  if (sdp && body_size <= kMaxPacketBytes) {
    if (size < head_size + body_size)
      return {Step::NeedMore};
    /* A new description: a new session's streams. */
    payload_types_ = keyframe_payload_types(text.substr(head_size, body_size));
    for (auto &channel : channels_)
      channel.reset();
  }
  return {Step::Pass, head_size + body_size};
}

} // namespace gpurtsp::rtp
