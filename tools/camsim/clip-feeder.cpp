// SPDX-License-Identifier: MIT
/* camsim: the clip feeder, one real-time thread for every clip mount. */
#include "clip-feeder.hpp"

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(camsim_debug);
#define GST_CAT_DEFAULT camsim_debug

namespace gpurtsp::camsim {

namespace {

/* A tick this late is skipped rather than sent: after a stall (a stopped
 * process, an overloaded host) the mounts resume with a gap, like a camera
 * that froze, instead of bursting the backlog. */
constexpr GstClockTimeDiff kMaxTickLateness = GST_SECOND;

} // namespace

ClipFeeder::ClipFeeder(std::shared_ptr<const Clip> clip)
    : clip_(std::move(clip)),
      max_queued_(std::max<guint>(2, 2 * GST_SECOND / clip_->frame_duration)),
      clock_(gst_system_clock_obtain()),
      tick_(gst_clock_new_single_shot_id(clock_, gst_clock_get_time(clock_))) {
  thread_ = std::thread(&ClipFeeder::run, this);
}

ClipFeeder::~ClipFeeder() {
  {
    std::lock_guard guard(tick_lock_);
    stopping_ = true;
  }
  gst_clock_id_unschedule(tick_);
  thread_.join();
  gst_clock_id_unref(tick_);
  gst_object_unref(clock_);
}

void ClipFeeder::add(GstAppSrc *src, Weight weight) {
  gst_app_src_set_caps(src, clip_->caps.get());
  /* Never block the feeder: queue depth is bounded by feed() instead. */
  g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", FALSE, "block",
               FALSE, "max-bytes", guint64(0), "max-buffers", guint64(0), "max-time", guint64(0),
               "emit-signals", FALSE, nullptr);
  /* The queue can hold anything, so say so: basesrc would claim a live
   * source buffers nothing and the sinks would warn about their processing
   * deadline. */
  gst_app_src_set_latency(src, 0, GST_CLOCK_TIME_NONE);
  std::lock_guard guard(lock_);
  feeds_.push_back(Feed{.src = ObjectPtr<GstAppSrc>(GST_APP_SRC(gst_object_ref(src))),
                        .weight = std::move(weight)});
}

void ClipFeeder::remove(GstAppSrc *src) {
  std::lock_guard guard(lock_);
  std::erase_if(feeds_, [src](const Feed &feed) { return feed.src.get() == src; });
}

void ClipFeeder::run() {
  GstClockTime tick_time = gst_clock_id_get_time(tick_);
  for (;;) {
    {
      std::lock_guard guard(tick_lock_);
      if (stopping_)
        break;
      gst_clock_single_shot_id_reinit(clock_, tick_, tick_time);
    }
    GstClockTimeDiff lateness = 0;
    if (gst_clock_id_wait(tick_, &lateness) == GST_CLOCK_UNSCHEDULED)
      break;
    if (lateness <= kMaxTickLateness) {
      std::lock_guard guard(lock_);
      for (Feed &feed : feeds_)
        this->feed(feed, tick_time);
    }
    tick_time += clip_->frame_duration;
  }
}

void ClipFeeder::feed(Feed &feed, GstClockTime now) {
  GstElement *element = GST_ELEMENT(feed.src.get());
  GST_OBJECT_LOCK(element);
  bool playing = GST_STATE(element) == GST_STATE_PLAYING;
  GstClockTime base_time = element->base_time;
  GST_OBJECT_UNLOCK(element);
  if (!playing || now < base_time) {
    /* Start over at the first keyframe when it plays (again). */
    feed.next = 0;
    feed.started = false;
    feed.need_keyframe = false;
    return;
  }

  /* Before the push, so a shared media's RTP counters weigh its packets with
   * the clients this frame goes to. */
  const uint64_t weight = feed.weight ? feed.weight() : 1;
  GstBuffer *frame = clip_->frames[feed.next].get();
  feed.next = (feed.next + 1) % clip_->frames.size();
  bool keyframe = !GST_BUFFER_FLAG_IS_SET(frame, GST_BUFFER_FLAG_DELTA_UNIT);
  bool lagging = gst_app_src_get_current_level_buffers(feed.src.get()) >= max_queued_;
  if (lagging || (feed.need_keyframe && !keyframe)) {
    feed.need_keyframe = true;
    frames_dropped_.fetch_add(weight, std::memory_order_relaxed);
    return;
  }
  feed.need_keyframe = false;

  GstBuffer *out = gst_buffer_copy_region(
      frame, GstBufferCopyFlags(GST_BUFFER_COPY_MEMORY | GST_BUFFER_COPY_FLAGS), 0, -1);
  GST_BUFFER_PTS(out) = GST_BUFFER_DTS(out) = now - base_time;
  GST_BUFFER_DURATION(out) = clip_->frame_duration;
  if (!feed.started) {
    GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
    feed.started = true;
  }
  if (gst_app_src_push_buffer(feed.src.get(), out) == GST_FLOW_OK)
    frames_sent_.fetch_add(weight, std::memory_order_relaxed);
}

} // namespace gpurtsp::camsim
