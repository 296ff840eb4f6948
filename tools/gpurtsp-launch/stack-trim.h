// SPDX-License-Identifier: MIT
/* When the launcher gives back the CUDA stack a kernel raised.
 *
 * The launcher's contexts start with the stack its own kernels need
 * (core/gpurtsp-cuda.h, docs/scale.md); a kernel that needs more (nvJPEG's,
 * NVDEC's post-processing, a plugin's) raises the context's per-thread limit
 * at its launch, and the driver keeps the new limit, and the VRAM it reserves
 * for every thread the GPU holds (1 KiB: ~270 MiB on an H100), after that
 * kernel's work is gone. So a GPU checks its limit now and then and lowers
 * it back; a kernel that still needs it raises it again at its next launch,
 * which waits for the context's earlier work once. A limit that keeps coming
 * back is checked less and less often (up to once an hour), so a kernel
 * that runs all the time costs one wait an hour, and a burst of such work
 * (cameras added and removed) gives its VRAM back within a minute of the
 * first check after it ends.
 *
 * Pure (no CUDA), so the schedule is unit-tested anywhere
 * (tests/launcher/test-launch-stack-trim.cpp). */
#pragma once

#include <algorithm>
#include <cstdint>

namespace gpurtsp::launch {

class StackTrimSchedule {
public:
  static constexpr int64_t kFirstIntervalUs = 60'000'000;
  static constexpr int64_t kMaxIntervalUs = 3'600'000'000;

  explicit StackTrimSchedule(int64_t now_us) : next_us_(now_us + kFirstIntervalUs) {}

  /* Whether to look at the limit at @now_us. */
  bool due(int64_t now_us) const { return now_us >= next_us_; }

  /* At a due check: whether the limit was above ours (@raised) and whether
   * it was lowered (@lowered). Returns the interval to the next check. */
  int64_t checked(int64_t now_us, bool raised, bool lowered) {
    if (!raised) {
      interval_us_ = kFirstIntervalUs;
    } else if (lowered_last_) {
      /* Raised again since the last check lowered it: it is still needed. */
      interval_us_ = std::min(interval_us_ * 2, kMaxIntervalUs);
    }
    lowered_last_ = raised && lowered;
    next_us_ = now_us + interval_us_;
    return interval_us_;
  }

private:
  int64_t interval_us_ = kFirstIntervalUs;
  int64_t next_us_;
  bool lowered_last_ = false;
};

} // namespace gpurtsp::launch
