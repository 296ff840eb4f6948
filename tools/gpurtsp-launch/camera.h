// SPDX-License-Identifier: MIT
/* One camera: its state, its current pipeline, reconnects with backoff, and
 * what it reports. Main thread only.
 *
 *   connecting --first frame--> streaming --error/EOS/stall--> reconnecting
 *   reconnecting --backoff (1 s doubling to 30 s), new pipeline, frame--> streaming
 *   connecting/reconnecting --no NVDEC decoder slot left--> reconnecting (no pipeline)
 *   any --RTSP 401--> unauthorized --60 s, new pipeline--> ...
 *   any --rtsps certificate refused--> untrusted --60 s, new pipeline--> ...
 *   any --missing element, unsupported codec, no usable GPU--> failed (for good)
 *   (a camera describing no video stream at all is retried in reconnecting)
 *
 * The newest frame stays served while the camera reconnects: the last
 * sample of a torn-down pipeline is kept until the next one has a frame. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backoff.h"
#include "camera-pipeline.h"
#include "camera-registry.h"
#include "config.h"
#include "element-catalog.h"
#include "frame-rate-meter.h"
#include "gpu-resources.h"
#include "pipeline-worker.h"

namespace gpurtsp::launch {

class Camera {
public:
  /* unauthorized and untrusted: a person must change something (password,
   * certificate, config); until then a retry a minute costs the camera
   * nothing and notices the fix. */
  static constexpr int64_t kUnauthorizedRetryMs = 60000;
  /* Streaming this long counts as a connection that worked: backoff restarts
   * from its first delay. A camera that drops every few seconds backs off. */
  static constexpr int64_t kStableStreamingUs = 10 * G_USEC_PER_SEC;
  /* The stall watchdog's limit before an attempt's first frame, when
   * stall_timeout_s is shorter: connecting and creating a decoder under load. */
  static constexpr int kFirstFrameTimeoutS = 30;
  /* How long the stall watchdog waits for a frame, in seconds. */
  static constexpr int stall_limit_s(int stall_timeout_s, bool attempt_had_frame) {
    return attempt_had_frame
               ? stall_timeout_s
               : (stall_timeout_s > kFirstFrameTimeoutS ? stall_timeout_s : kFirstFrameTimeoutS);
  }

  Camera(CameraConfig config, ElementCatalog &elements, GpuResources &gpus, PipelineWorker &worker);
  ~Camera();
  Camera(const Camera &) = delete;
  Camera &operator=(const Camera &) = delete;

  const std::string &id() const { return config_.id; }
  /* The config as given, before gpu: auto was placed: what a reload
   * compares. */
  const CameraConfig &config() const { return requested_; }
  /* The same settings written otherwise (config() == the new config): only
   * what the overlay writes back changes. */
  void set_keys(CameraKeys keys) { requested_.keys = std::move(keys); }

  /* Connects after @delay_ms; cameras are staggered so a thousand do not
   * DESCRIBE at once. */
  void start(unsigned delay_ms);
  /* Tears the pipeline down and cancels retries; the newest frame stays. */
  void stop();

  /* Once a second: streaming detection, stall detection, frame rate. */
  void tick(int64_t now_us);

  CameraStatus status() const;
  /* The newest frame: a JPEG, or a raw frame where settings.format says so. */
  Sample latest_jpeg(int64_t &arrival_us) const;
  /* The newest thumbnail; nullptr before the first or without thumbnails. */
  Sample latest_thumbnail(int64_t &arrival_us) const;
  /* Up to @n of the newest frames, newest first (only the held one while
   * reconnecting). */
  std::vector<Sample> latest_samples(unsigned n) const;

  /* Called on a streaming thread after each frame the sink stores, from the
   * next connect on; it must return quickly (the Python API wakes a thread).
   * Main thread. */
  void set_frame_listener(std::function<void()> listener) { frame_listener_ = std::move(listener); }

  /* The GPU it decodes on; -1 for software decoding. */
  int gpu() const { return decoder_ == Decoder::Nvidia ? config_.settings.gpu : -1; }
  /* See CameraPipeline::keyframe_decoder_stats(); nullopt between attempts. */
  std::optional<gpukeyframedec::Stats> keyframe_decoder_stats() const {
    return pipeline_ ? pipeline_->keyframe_decoder_stats() : std::nullopt;
  }
  /* See CameraPipeline::jpeg_encoder_stats(); nullopt between attempts. */
  std::optional<gpujpegenc::Stats> jpeg_encoder_stats() const {
    return pipeline_ ? pipeline_->jpeg_encoder_stats() : std::nullopt;
  }
  /* See CameraPipeline::rtp_filter_counters(); nullopt between attempts. */
  std::optional<rtpkeyframefilter::Counters> rtp_filter_counters() const {
    return pipeline_ ? pipeline_->rtp_filter_counters() : std::nullopt;
  }

  /* The pipeline running now, nullptr between attempts (tests). */
  GstElement *pipeline() const { return pipeline_ ? pipeline_->pipeline() : nullptr; }

private:
  void connect();
  void schedule_connect(int64_t delay_ms);
  /* Drops the pipeline, counts a reconnect and retries after @delay_ms, in
   * @state. */
  void retry(CameraState state, const std::string &error, int64_t delay_ms);
  /* Says why and tries again after @delay_ms, in @state; an attempt that
   * never started (no decoder slot) is no reconnect. */
  void wait(CameraState state, const std::string &error, int64_t delay_ms);
  /* Retries in reconnecting after the backoff delay. */
  void reconnect(const std::string &error);
  void fail(const std::string &error);
  void drop_pipeline();
  void handle_error(GstMessage *message);
  /* The pipeline's first frame reached its sink: streaming from @now_us. */
  void note_streaming(int64_t now_us);

  /* Errors, warnings, EOS and the first frame only: CameraPipeline's bus sync handler drops
   * every other message before it would wake the main thread. */
  static gboolean on_bus_message(GstBus *bus, GstMessage *message, gpointer self);

  CameraConfig requested_;    /* as given */
  const CameraConfig config_; /* placed: gpu: auto decided */
  ElementCatalog &elements_;
  GpuResources &gpus_;
  PipelineWorker &worker_;
  std::optional<Decoder> decoder_; /* nullopt: nvidia requested but unusable */
  std::string decoder_error_;
  std::function<void()> frame_listener_; /* empty: none */

  CameraState state_ = CameraState::Connecting;
  std::shared_ptr<CameraPipeline> pipeline_; /* nullptr between attempts */
  guint retry_source_ = 0;                   /* pending connect(), 0 if none */
  Backoff backoff_;
  int64_t attempt_started_us_ = 0;
  unsigned context_generation_ = 0; /* of the CUDA context the pipeline was given */
  bool placed_ = false;             /* counted on config_.settings.gpu by GpuResources::place() */
  int64_t streaming_since_us_ = -1; /* -1 unless streaming */

  FrameRateMeter rate_;
  uint64_t earlier_frames_ = 0;  /* frames of pipelines already torn down */
  uint64_t earlier_decoded_ = 0; /* decoded frames of those pipelines */
  uint64_t earlier_corrupt_ = 0; /* corrupt_frames_dropped of pipelines gone */
  uint64_t reconnects_ = 0;
  std::string last_error_;
  std::string codec_;
  int width_ = 0;
  int height_ = 0;

  /* The newest frame of the last torn-down pipeline, served until the new one
   * has its own. */
  Sample held_frame_;
  int64_t held_arrival_us_ = -1;
  Sample held_thumbnail_;
  int64_t held_thumbnail_us_ = -1;
};

} // namespace gpurtsp::launch
