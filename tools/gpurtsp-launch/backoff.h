// SPDX-License-Identifier: MIT
/* Reconnect delays: 1 s doubling to 30 s, each with +-20 % jitter so cameras
 * that failed together (a switch rebooting) do not retry in lockstep. */
#pragma once

#include <cstdint>
#include <random>

namespace gpurtsp::launch {

class Backoff {
public:
  static constexpr int64_t kFirstMs = 1000;
  static constexpr int64_t kMaxMs = 30000;
  static constexpr double kJitter = 0.2;

  /* The delay before the next attempt, in ms; grows with each call. */
  int64_t next_delay_ms() {
    const int64_t base = current_ms_;
    current_ms_ = current_ms_ * 2 > kMaxMs ? kMaxMs : current_ms_ * 2;
    std::uniform_real_distribution<double> jitter(1.0 - kJitter, 1.0 + kJitter);
    return int64_t(double(base) * jitter(random_));
  }

  /* After a connection that worked: start again from the first delay. */
  void reset() { current_ms_ = kFirstMs; }

private:
  int64_t current_ms_ = kFirstMs;
  std::minstd_rand random_{std::random_device{}()};
};

} // namespace gpurtsp::launch
