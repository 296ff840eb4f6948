// SPDX-License-Identifier: MIT
/* Keyframe cameras over UDP: rtp-socket-filter.h's kernel filter on the RTP
 * socket of rtspsrc's udpsrc, so that the delta frames' packets (~94 %) are
 * dropped before they are queued. Over UDP nothing of ours runs before
 * udpsrc, which does a poll() and a recvmsg() for every packet: ~2 of the
 * 3.25 cores at 1,000 UDP keyframe cameras (docs/scale.md). The filter goes
 * on at the stream's first packet (when udpsrc's caps and socket are
 * final); rtpkeyframefilter, told that gaps are drops, closes up the gaps
 * it leaves. Keyframes found cut short (an open-GOP camera's I slices,
 * whose continuations the kernel cannot judge, or losses inside keyframes)
 * take the filter off again for the pipeline's life once they come often:
 * kCutsToGiveUp within kCutWindowUs. One loss now and then in a keyframe
 * (it would have cut that keyframe without the filter too) leaves it on.
 * GPURTSP_UDP_KEYFRAME_FILTER=0 leaves every socket unfiltered. */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gpurtsp::launch {

/* Whether the filter is wanted (GPURTSP_UDP_KEYFRAME_FILTER, default on). */
bool udp_keyframe_filter_enabled();
/* RTP sockets of the process filtered now, and filters taken off because
 * a keyframe arrived cut short, since the start. */
std::size_t udp_keyframe_filters_active();
std::uint64_t udp_keyframe_filters_removed();

/* One camera pipeline's filtered sockets. */
class UdpKeyframeFilters {
public:
  static constexpr unsigned kCutsToGiveUp = 3;
  static constexpr std::int64_t kCutWindowUs = 60 * G_USEC_PER_SEC;

  explicit UdpKeyframeFilters(std::string camera_id) : camera_id_(std::move(camera_id)) {}
  ~UdpKeyframeFilters();
  UdpKeyframeFilters(const UdpKeyframeFilters &) = delete;
  UdpKeyframeFilters &operator=(const UdpKeyframeFilters &) = delete;

  /* Filters the H.264/H.265 video RTP udpsrcs that @rtspsrc adds from now
   * on, at their first packet; @before_attach runs just before each
   * filter goes on (to tell rtpkeyframefilter that gaps are drops). */
  static void watch(const std::shared_ptr<UdpKeyframeFilters> &self, GstElement *rtspsrc,
                    std::function<void()> before_attach);

  /* A keyframe came cut short at @now_us (monotonic): true when that made
   * it kCutsToGiveUp within kCutWindowUs and the filters came off. */
  bool on_keyframe_cut(std::int64_t now_us);

  /* Every filter of this pipeline comes off, and none goes on any more.
   * False if none was on. */
  bool give_up();

  std::size_t active() const;

private:
  /* At a udpsrc's first packet: the filter on its socket when it carries
   * H.264/H.265 video RTP. */
  void attach(GstElement *udpsrc);

  const std::string camera_id_;
  std::function<void()> before_attach_; /* set by watch(), then constant */
  mutable std::mutex lock_;
  std::vector<GSocket *> sockets_;    /* owned refs, filtered; guarded by lock_ */
  bool given_up_ = false;             /* guarded by lock_ */
  std::vector<std::int64_t> cuts_us_; /* within the window; guarded by lock_ */
};

} // namespace gpurtsp::launch
