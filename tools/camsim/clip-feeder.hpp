// SPDX-License-Identifier: MIT
/* camsim (internal): one thread that plays a clip in real time into every
 * registered appsrc. */
#pragma once

#include <gst/app/gstappsrc.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "clip.hpp"

namespace gpurtsp::camsim {

/* Every frame period the feeder hands the next access unit of the clip to
 * every appsrc whose pipeline plays. The bytes are shared: each push is a new
 * GstBuffer header over the clip's memory, stamped with the pipeline's running
 * time of that tick, so timestamps stay continuous across loops and nothing
 * is encoded or copied per mount. A mount starts at the clip's first keyframe
 * when its pipeline starts playing. A pipeline that falls behind (its appsrc
 * queue full) loses frames up to the next keyframe instead of stalling the
 * other mounts. */
class ClipFeeder {
public:
  explicit ClipFeeder(std::shared_ptr<const Clip> clip);
  /* Stops the thread; the appsrcs are released. */
  ~ClipFeeder();
  ClipFeeder(const ClipFeeder &) = delete;
  ClipFeeder &operator=(const ClipFeeder &) = delete;

  /* How many a frame pushed (or dropped) now counts for: the clients a
   * shared media reaches. Called on the feeder thread, with the feeder's lock
   * held, at every tick its pipeline plays. */
  using Weight = std::function<uint64_t()>;

  /* Configures @src (caps, live, time format, never blocking) and feeds it
   * from the next tick on where it plays. Its frames count once each, or
   * @weight() times. */
  void add(GstAppSrc *src, Weight weight = {});
  void remove(GstAppSrc *src);

  uint64_t frames_sent() const { return frames_sent_.load(std::memory_order_relaxed); }
  uint64_t frames_dropped() const { return frames_dropped_.load(std::memory_order_relaxed); }

private:
  struct Feed {
    ObjectPtr<GstAppSrc> src;
    size_t next = 0;            /* index of the next access unit */
    bool started = false;       /* pushed since the pipeline went to PLAYING */
    bool need_keyframe = false; /* dropped a frame; resume at a keyframe */
    Weight weight;              /* empty: 1 */
  };

  void run();
  void feed(Feed &feed, GstClockTime now);

  const std::shared_ptr<const Clip> clip_;
  /* Queued frames per appsrc beyond which a pipeline counts as lagging. Large
   * enough to ride over a media's prepare, when rtsp-server blocks the stream
   * until the client sends PLAY; cheap because queued frames share memory. */
  const guint max_queued_;
  GstClock *const clock_; /* owned ref; the clock media pipelines use */
  /* The next tick's single-shot id, re-armed every period; unscheduled to
   * stop the thread. Periodic ids log errors in 1.22 once a wait was late. */
  GstClockID const tick_;
  std::mutex tick_lock_;
  bool stopping_ = false; /* guarded by tick_lock_ */

  std::mutex lock_;
  std::vector<Feed> feeds_; /* guarded by lock_ */

  std::atomic<uint64_t> frames_sent_{0};
  std::atomic<uint64_t> frames_dropped_{0};
  std::thread thread_;
};

} // namespace gpurtsp::camsim
