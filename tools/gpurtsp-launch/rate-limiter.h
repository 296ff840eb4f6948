// SPDX-License-Identifier: MIT
/* Keeps @fps frames per second, judged by arrival time: frames are dropped
 * before the encoder, so frames not kept cost no encoding. Arrival time
 * rather than timestamps, so a camera whose RTP clock jumps is limited all
 * the same. The deadline advances by whole periods and a frame half a period
 * early is taken, so arrival jitter lowers neither the long-run rate of a
 * faster camera nor the frames of a camera already at @fps. One streaming
 * thread only. */
#pragma once

#include <cstdint>

namespace gpurtsp::launch {

class RateLimiter {
public:
  explicit RateLimiter(int fps) : period_us_(fps > 0 ? 1000000 / fps : 0) {}

  /* Whether the frame arriving at @now_us (monotonic) is kept. */
  bool admit(int64_t now_us) {
    if (period_us_ == 0)
      return true;
    if (next_us_ != kNone && now_us < next_us_ - period_us_ / 2)
      return false;
    /* After a gap longer than a period, start afresh instead of letting a
     * burst through to catch up. */
    next_us_ = next_us_ == kNone || now_us - next_us_ >= period_us_ ? now_us + period_us_
                                                                    : next_us_ + period_us_;
    return true;
  }

private:
  static constexpr int64_t kNone = INT64_MIN;
  const int64_t period_us_;
  int64_t next_us_ = kNone; /* earliest arrival of the next kept frame */
};

} // namespace gpurtsp::launch
