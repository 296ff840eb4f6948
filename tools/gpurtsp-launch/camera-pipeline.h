// SPDX-License-Identifier: MIT
/* One camera's GStreamer pipeline, built from pipeline-description.h:
 * rtspsrc and the output part from the start, depay/parse/decoder when
 * rtspsrc's pad appears and its caps name the codec.
 *
 * Lifetime: owned through std::shared_ptr by the camera and by the worker
 * jobs that start and stop it. Streaming-thread callbacks hold only weak
 * references. play() and shutdown() belong on a PipelineWorker thread; the
 * last owner must have called shutdown(), which a worker job does, so the
 * destructor never runs a state change on a streaming thread. */
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/gpukeyframedec.hpp>
#include <gpurtsp/latestframesink.hpp>
#include <gpurtsp/rtpkeyframefilter.hpp>

#include "config.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "pipeline-description.h"
#include "rtsp-read-ahead.h"
#include "udp-keyframe-filter.h"

namespace gpurtsp::launch {

struct GuardedDepay; /* camera-pipeline.cpp: AccessUnitGuard and its count */

class CameraPipeline {
public:
  /* The application message posted once the sink stored its first frame,
   * so that the camera is streaming from then, not from the next 1 s tick. */
  static constexpr char kFirstFrameMessage[] = "gpurtsp-first-frame";

  /* Builds the pipeline of @camera decoding with @decoder, with the elements
   * @elements chooses; @cuda_context is the GPU's shared context for nvidia,
   * nullptr for software. @decoder_slot
   * (empty where the camera owns no NVDEC decoder) is held as long as the
   * pipeline exists. On failure (a missing element) returns nullptr and
   * says why in @error; the slot is given back. */
  static std::shared_ptr<CameraPipeline> create(const CameraConfig &camera, Decoder decoder,
                                                GstContext *cuda_context, ElementCatalog &elements,
                                                GpuResources &gpus,
                                                GpuResources::DecoderSlot decoder_slot,
                                                std::string &error);
  ~CameraPipeline();
  CameraPipeline(const CameraPipeline &) = delete;
  CameraPipeline &operator=(const CameraPipeline &) = delete;

  GstElement *pipeline() const { return pipeline_; }

  /* Worker thread: sets the pipeline PLAYING, unless shutdown() or
   * abandon() came first. */
  void play();
  /* Any thread, before queueing shutdown(): a play() still queued does
   * nothing and a late pad-added links nothing. A busy worker pool then
   * spends no time starting pipelines that are about to go. */
  void abandon() { stopping_ = true; }
  /* Worker thread: sets the pipeline NULL for good. Idempotent. */
  void shutdown();

  /* What the sink has; thread-safe. */
  uint64_t frames() const;
  /* Frames the decoder produced, the rate limit's drops included. */
  uint64_t decoded_frames() const { return decoded_frames_.load(std::memory_order_relaxed); }
  /* g_get_monotonic_time() of the newest frame; -1 before the first. */
  int64_t last_frame_us() const;
  /* The newest JPEG and when it arrived; nullptr before the first. */
  Sample latest(int64_t &arrival_us) const;
  /* The newest thumbnail (thumbnail_width) and when it arrived; nullptr
   * before the first or where the camera makes none. Thread-safe. */
  Sample latest_thumbnail(int64_t &arrival_us) const;
  /* Up to @n of the newest frames, newest first; thread-safe. */
  std::vector<Sample> samples(unsigned n) const { return sink_->samples(n); }
  /* Calls @notify on the streaming thread after each stored frame (it must
   * return quickly). Main thread, before play(). */
  void notify_frames(std::function<void()> notify);
  /* Size of the JPEGs; 0x0 before caps are known. */
  void frame_size(int &width, int &height) const;

  /* Access units dropped after packet loss (damaged, or referencing a
   * damaged picture): see access-unit-guard.h. Thread-safe. */
  uint64_t corrupt_frames_dropped() const;

  /* gpukeyframedec's statistics, nullopt when the camera decodes otherwise
   * or is not linked yet. Thread-safe. */
  std::optional<gpukeyframedec::Stats> keyframe_decoder_stats() const;
  /* gpujpegenc's statistics, its frames' and its thumbnails' encoders
   * together (counts summed; they share the GPU's pool); nullopt when the
   * camera has no gpujpegenc (software, nvjpegenc, raw output). Thread-safe. */
  std::optional<gpujpegenc::Stats> jpeg_encoder_stats() const;
  /* rtpkeyframefilter's packet counts (decode: keyframes); nullopt when the
   * camera has none (yet). Thread-safe. */
  std::optional<rtpkeyframefilter::Counters> rtp_filter_counters() const;

  /* The codec of the stream once rtspsrc's pad appeared. */
  std::optional<Codec> codec() const;
  /* When the camera offers no video we can decode: what it offers instead
   * ("MP4V-ES"), for the error message; empty otherwise. */
  std::string rejected_video() const;
  /* When the camera offers no video at all: what it offers ("audio PCMU"),
   * for the error message; empty otherwise. */
  std::string offered_without_video() const;
  /* rtsps: why the camera's certificate was refused ("unknown certificate
   * authority"); empty when it was accepted or not checked yet. */
  std::string tls_rejection() const;

private:
  /* output_elements() with the JPEG encoder ElementCatalog chose for us. */
  std::vector<ElementSpec> output_specs() const;

  CameraPipeline(const CameraConfig &camera, Decoder decoder, GstContext *cuda_context,
                 ElementCatalog &elements, GpuResources &gpus,
                 GpuResources::DecoderSlot decoder_slot);

  bool build(std::string &error);
  /* Keeps the gpujpegencs among @elements, made from @specs by add_chain(). */
  void keep_jpeg_encoders(const std::vector<ElementSpec> &specs,
                          const std::vector<GstElement *> &elements);
  /* decode: keyframes: drop delta frames' packets where they enter rtpbin. */
  void filter_keyframes_in_rtpbin();
  GstElement *make_rtp_filter();
  /* rtpkeyframefilter found a keyframe cut short: the UDP kernel filter
   * comes off (from the posting streaming thread). */
  void on_keyframe_cut(GstElement *filter);
  bool select_stream(GstCaps *caps);
  void link_stream(GstPad *pad);
  /* Drops what AccessUnitGuard says between @depay and the parser. */
  void guard_depayloader(GstElement *depay, Codec codec);
  void post_error(GQuark domain, gint code, const std::string &message);
  /* latestframesink::new-frame, once: posts kFirstFrameMessage. */
  static void post_first_frame(GstElement *sink, gpointer);
  /* rtsps: tls-database from tls_ca_file, and the certificate check. */
  bool set_up_tls(std::string &error);

  /* Streaming threads: answers CUDA context queries, passes errors,
   * warnings and EOS to the camera's bus watch and drops the rest. */
  static GstBusSyncReply on_bus_sync(GstBus *bus, GstMessage *message, gpointer self);

  /* Declared first, so given back last: after the destructor has set the
   * pipeline to NULL and dropped it, when its NVDEC session is closed. The
   * last owner may be a worker or a streaming thread; the count is
   * thread-safe. */
  GpuResources::DecoderSlot decoder_slot_;
  const CameraConfig camera_;
  const Decoder decoder_;
  ElementCatalog &elements_;
  GpuResources &gpus_;
  GstContext *const cuda_context_; /* owned ref; nullptr for software */

  /* Set in build(), constant afterwards. */
  GstElement *pipeline_ = nullptr; /* owned */
  GstElement *source_ = nullptr;   /* owned ref: rtspsrc */
  GstElement *output_ = nullptr;   /* owned ref: first element after the decoder */
  std::optional<LatestFrameSink> sink_;
  std::optional<LatestFrameSink> thumbnail_sink_; /* none without thumbnails */
  std::unique_ptr<RtspUrlUse> url_use_;           /* the camera's URL, for the read buffer */
  /* Keyframe cameras' kernel filters on UDP sockets; none otherwise. Lock
   * order: its lock before stream_lock_. */
  std::shared_ptr<UdpKeyframeFilters> udp_filters_;

  std::mutex state_lock_;  /* serialises play() and shutdown() */
  bool shut_down_ = false; /* guarded by state_lock_ */
  /* Set by abandon() or before shutdown's state change: play() and a late
   * pad-added then do nothing. */
  std::atomic<bool> stopping_{false};

  std::atomic<int> codec_{-1}; /* Codec once linked, else -1 */
  /* GTlsCertificateFlags of a refused certificate, 0 if none was refused. */
  std::atomic<unsigned> tls_errors_{0};
  std::atomic<uint64_t> decoded_frames_{0};
  mutable std::mutex stream_lock_;
  bool stream_selected_ = false;           /* guarded by stream_lock_ */
  std::string rejected_;                   /* guarded by stream_lock_ */
  std::string other_media_;                /* guarded by stream_lock_: non-video streams offered */
  GstElement *keyframe_decoder_ = nullptr; /* owned ref; guarded by stream_lock_ */
  std::shared_ptr<GuardedDepay> guard_;    /* guarded by stream_lock_ */
  GstElement *rtp_filter_ = nullptr;       /* owned ref; guarded by stream_lock_ */
  /* The gpujpegencs, owned refs; guarded by stream_lock_. */
  std::vector<GstElement *> jpeg_encoders_;
  std::weak_ptr<CameraPipeline> self_;
  std::function<void()> notify_frame_; /* set before play(), then constant */
};

} // namespace gpurtsp::launch
