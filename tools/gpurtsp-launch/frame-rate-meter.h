// SPDX-License-Identifier: MIT
/* Frames per second over the last few seconds, from a frame counter sampled
 * once a second: no per-frame work. */
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

namespace gpurtsp::launch {

class FrameRateMeter {
public:
  static constexpr int64_t kWindowUs = 5 * 1000000;

  /* @frames: total frames counted so far, at @now_us (monotonic). */
  void sample(int64_t now_us, uint64_t frames) {
    samples_.emplace_back(now_us, frames);
    while (samples_.size() > 2 && now_us - samples_[1].first >= kWindowUs)
      samples_.pop_front();
  }

  double rate() const {
    if (samples_.size() < 2)
      return 0.0;
    const auto &[first_us, first_frames] = samples_.front();
    const auto &[last_us, last_frames] = samples_.back();
    if (last_us <= first_us || last_frames < first_frames)
      return 0.0;
    return double(last_frames - first_frames) * 1e6 / double(last_us - first_us);
  }

  void clear() { samples_.clear(); }

private:
  std::deque<std::pair<int64_t, uint64_t>> samples_;
};

} // namespace gpurtsp::launch
