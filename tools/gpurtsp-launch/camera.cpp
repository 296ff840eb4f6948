// SPDX-License-Identifier: MIT
#include "camera.h"

#include <algorithm>

#include "log.h"
#include "main-context.h"

namespace gpurtsp::launch {

namespace {

/* "Could not open resource for reading. (Failed to connect.)": the message
 * and the last line of the debug text, which names the actual cause. */
std::string describe_error(const GError *error, const char *debug) {
  std::string text = error->message;
  if (debug && *debug) {
    const char *last_line = strrchr(debug, '\n');
    g_autofree char *cause = g_strstrip(g_strdup(last_line ? last_line + 1 : debug));
    if (*cause && text.find(cause) == std::string::npos)
      text += std::string(" (") + cause + ")";
  }
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

/* gpu: auto is decided before anything asks for the GPU's context or
 * elements; a camera that decodes on the CPU holds no GPU. */
CameraConfig with_gpu_placed(CameraConfig config, ElementCatalog &elements, GpuResources &gpus) {
  if (config.settings.decoder != DecoderChoice::Software)
    config.settings.gpu =
        gpus.place(config.settings, elements.on_keyframe_sessions(config.settings));
  return config;
}

} // namespace

Camera::Camera(CameraConfig config, ElementCatalog &elements, GpuResources &gpus,
               PipelineWorker &worker)
    : requested_(std::move(config)), config_(with_gpu_placed(requested_, elements, gpus)),
      elements_(elements), gpus_(gpus), worker_(worker),
      placed_(config_.settings.decoder != DecoderChoice::Software) {
  std::string why;
  decoder_ = elements_.resolve(config_.settings, gpus_, why);
  if (!decoder_)
    decoder_error_ = "decoder nvidia: " + why;
  if (placed_ && decoder_ != Decoder::Nvidia) {
    gpus_.unplace(config_.settings.gpu, elements_.on_keyframe_sessions(config_.settings));
    placed_ = false;
  }
}

Camera::~Camera() {
  stop();
  if (placed_)
    gpus_.unplace(config_.settings.gpu, elements_.on_keyframe_sessions(config_.settings));
}

void Camera::start(unsigned delay_ms) {
  if (!decoder_) {
    fail(decoder_error_);
    return;
  }
  schedule_connect(delay_ms);
}

void Camera::schedule_connect(int64_t delay_ms) {
  retry_source_ = add_timeout(
      guint(delay_ms),
      [](gpointer self) -> gboolean {
        static_cast<Camera *>(self)->retry_source_ = 0;
        static_cast<Camera *>(self)->connect();
        return G_SOURCE_REMOVE;
      },
      this);
}

void Camera::stop() {
  if (retry_source_) {
    remove_source(retry_source_);
    retry_source_ = 0;
  }
  drop_pipeline();
}

void Camera::connect() {
  attempt_started_us_ = g_get_monotonic_time();
  GstContext *cuda_context =
      *decoder_ == Decoder::Nvidia ? gpus_.pipeline_context(config_.settings.gpu) : nullptr;
  context_generation_ = gpus_.context_generation(config_.settings.gpu);
  std::string error;
  GpuResources::DecoderSlot slot;
  if (elements_.owns_decoder(*decoder_, config_.settings)) {
    slot = gpus_.take_decoder_slot(config_.settings.gpu, error);
    if (!slot) {
      /* No pipeline, so no stall: waits until another camera's pipeline is
       * gone, retrying on the backoff (at most every 30 s + jitter). */
      wait(CameraState::Reconnecting,
           error + (config_.settings.decode == DecodeMode::All
                        ? ": decode: keyframes needs none per camera"
                        : std::string(": ") + catalog::gpukeyframedec::kFactory +
                              " (one decoder for all cameras) is not available"),
           backoff_.next_delay_ms());
      return;
    }
  }
  /* The pipeline holds the slot until it is destroyed, on a worker thread
   * after drop_pipeline(); given back at once if create() fails. */
  pipeline_ = CameraPipeline::create(config_, *decoder_, cuda_context, elements_, gpus_,
                                     std::move(slot), error);
  if (!pipeline_) {
    fail(error);
    return;
  }
  if (frame_listener_)
    pipeline_->notify_frames(frame_listener_);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_->pipeline());
  gst_bus_add_watch(bus, on_bus_message, this);
  worker_.run([pipeline = pipeline_] { pipeline->play(); });
  LAUNCH_DEBUG("%s: connecting to %s", id().c_str(), config_.url.masked().c_str());
}

void Camera::drop_pipeline() {
  if (!pipeline_)
    return;
  int64_t arrival_us = -1;
  if (Sample frame = pipeline_->latest(arrival_us)) {
    held_frame_ = std::move(frame);
    held_arrival_us_ = arrival_us;
  }
  if (Sample thumbnail = pipeline_->latest_thumbnail(arrival_us)) {
    held_thumbnail_ = std::move(thumbnail);
    held_thumbnail_us_ = arrival_us;
  }
  earlier_frames_ += pipeline_->frames();
  earlier_decoded_ += pipeline_->decoded_frames();
  earlier_corrupt_ += pipeline_->corrupt_frames_dropped();
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline_->pipeline());
  gst_bus_remove_watch(bus);
  pipeline_->abandon();
  worker_.run_teardown([pipeline = std::move(pipeline_)]() mutable {
    pipeline->shutdown();
    pipeline.reset();
  });
  streaming_since_us_ = -1;
}

void Camera::retry(CameraState state, const std::string &error, int64_t delay_ms) {
  drop_pipeline();
  reconnects_++;
  wait(state, error, delay_ms);
}

void Camera::wait(CameraState state, const std::string &error, int64_t delay_ms) {
  std::string scrubbed = scrub_credentials(error, config_.url.password);
  /* The same failure again (744 cameras waiting for a decoder, a host still
   * down) is logged once, at the change, not at every attempt. */
  const bool repeated = state == state_ && scrubbed == last_error_;
  last_error_ = std::move(scrubbed);
  state_ = state;
  LAUNCH_LOG(repeated ? LogLevel::Debug : LogLevel::Info, "%s: %s, retrying in %.1f s: %s",
             id().c_str(), camera_state_name(state), double(delay_ms) / 1000.0,
             last_error_.c_str());
  schedule_connect(delay_ms);
}

void Camera::fail(const std::string &error) {
  last_error_ = scrub_credentials(error, config_.url.password);
  drop_pipeline();
  state_ = CameraState::Failed;
  LAUNCH_ERROR("%s: failed: %s", id().c_str(), last_error_.c_str());
}

void Camera::handle_error(GstMessage *message) {
  g_autoptr(GError) error = nullptr;
  g_autofree char *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  const std::string text = describe_error(error, debug);
  /* A lost CUDA context is the GPU's problem, not this camera's: the GPU
   * gets a new one for every camera's next attempt. */
  if (decoder_ == Decoder::Nvidia)
    gpus_.report_pipeline_error(config_.settings.gpu, context_generation_,
                                text + " " + (debug ? debug : ""));

  if (const std::string why = pipeline_->tls_rejection(); !why.empty()) {
    retry(CameraState::Untrusted,
          "TLS certificate refused: " + why +
              (config_.settings.tls_ca_file.empty()
                   ? std::string(" (checked against the system's CAs; set tls_ca_file to the "
                                 "camera's CA, or tls_validation: none)")
                   : " (checked against the system's CAs and tls_ca_file " +
                         config_.settings.tls_ca_file + ")"),
          kUnauthorizedRetryMs);
  } else if (const std::string offered = pipeline_->rejected_video(); !offered.empty()) {
    if (config_.settings.codec == CodecChoice::Auto)
      fail("the camera offers no H.264 or H.265 video (it offers " + offered + ")");
    else
      fail(std::string("codec is ") + codec_choice_name(config_.settings.codec) +
           " but the camera offers " + offered);
  } else if (const std::string other = pipeline_->offered_without_video(); !other.empty()) {
    /* Cameras booting or being reconfigured may describe their streams
     * without video for a while: retried, unlike a codec we cannot decode. */
    reconnect("the camera offers no video (it offers " + other + ")");
  } else if (error->domain == GST_RESOURCE_ERROR &&
             error->code == GST_RESOURCE_ERROR_NOT_AUTHORIZED) {
    retry(CameraState::Unauthorized, text, kUnauthorizedRetryMs);
  } else if ((error->domain == GST_CORE_ERROR && error->code == GST_CORE_ERROR_MISSING_PLUGIN) ||
             (error->domain == GST_STREAM_ERROR &&
              error->code == GST_STREAM_ERROR_CODEC_NOT_FOUND)) {
    fail(text);
  } else {
    reconnect(text);
  }
}

void Camera::reconnect(const std::string &error) {
  if (streaming_since_us_ >= 0 &&
      g_get_monotonic_time() - streaming_since_us_ >= kStableStreamingUs)
    backoff_.reset();
  retry(CameraState::Reconnecting, error, backoff_.next_delay_ms());
}

gboolean Camera::on_bus_message(GstBus *, GstMessage *message, gpointer data) {
  auto self = static_cast<Camera *>(data);
  switch (GST_MESSAGE_TYPE(message)) {
  case GST_MESSAGE_ERROR:
    self->handle_error(message);
    break;
  case GST_MESSAGE_EOS:
    self->reconnect("the camera ended the stream");
    break;
  case GST_MESSAGE_APPLICATION:
    if (gst_message_has_name(message, CameraPipeline::kFirstFrameMessage))
      self->note_streaming(g_get_monotonic_time());
    break;
  case GST_MESSAGE_WARNING: {
    g_autoptr(GError) warning = nullptr;
    g_autofree char *debug = nullptr;
    gst_message_parse_warning(message, &warning, &debug);
    LAUNCH_DEBUG(
        "%s: %s", self->id().c_str(),
        scrub_credentials(describe_error(warning, debug), self->config_.url.password).c_str());
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

void Camera::tick(int64_t now_us) {
  const uint64_t frames = pipeline_ ? pipeline_->frames() : 0;
  rate_.sample(now_us, earlier_frames_ + frames);
  if (!pipeline_)
    return;

  if (auto codec = pipeline_->codec())
    codec_ = codec_name(*codec);
  if (frames > 0) {
    pipeline_->frame_size(width_, height_);
    note_streaming(now_us);
  }

  /* Measured from the newest frame of this pipeline, or from its start. An
   * attempt's first frame gets longer: NVDEC sessions are created one at a
   * time (~50 ms each on an H100), so in a start-up storm of 256 cameras the
   * last ones legitimately wait more than 10 s, and restarting them only
   * queues more session creations (docs/scale.md). */
  const int64_t last_frame_us = pipeline_->last_frame_us();
  const int64_t since_us = std::max(attempt_started_us_, last_frame_us);
  const int limit_s = stall_limit_s(config_.settings.stall_timeout_s, frames > 0);
  if (now_us - since_us > int64_t(limit_s) * G_USEC_PER_SEC)
    reconnect(frames > 0 ? "no frame for " + std::to_string(limit_s) + " s"
                         : "no first frame within " + std::to_string(limit_s) + " s");
}

void Camera::note_streaming(int64_t now_us) {
  if (!pipeline_ || state_ == CameraState::Streaming)
    return;
  if (auto codec = pipeline_->codec())
    codec_ = codec_name(*codec);
  pipeline_->frame_size(width_, height_);
  state_ = CameraState::Streaming;
  streaming_since_us_ = now_us;
  LAUNCH_INFO("%s: streaming %dx%d %s, %s decoder", id().c_str(), width_, height_, codec_.c_str(),
              decoder_name(*decoder_));
}

CameraStatus Camera::status() const {
  CameraStatus status;
  status.id = config_.id;
  status.state = state_;
  status.frames = earlier_frames_ + (pipeline_ ? pipeline_->frames() : 0);
  status.decoded_frames = earlier_decoded_ + (pipeline_ ? pipeline_->decoded_frames() : 0);
  status.corrupt_frames_dropped =
      earlier_corrupt_ + (pipeline_ ? pipeline_->corrupt_frames_dropped() : 0);
  status.fps = rate_.rate();
  int64_t last_frame_us = pipeline_ ? pipeline_->last_frame_us() : -1;
  if (last_frame_us < 0)
    last_frame_us = held_arrival_us_;
  if (last_frame_us >= 0)
    status.last_frame_age_ms = (g_get_monotonic_time() - last_frame_us) / 1000;
  status.width = width_;
  status.height = height_;
  status.thumbnail_width = thumbnail_width(config_);
  status.codec = codec_;
  const Decoder decoder = decoder_.value_or(Decoder::Nvidia);
  status.decoder = decoder_name(decoder);
  status.gpu = decoder == Decoder::Nvidia ? config_.settings.gpu : -1;
  status.reconnects = reconnects_;
  status.last_error = last_error_;
  return status;
}

std::vector<Sample> Camera::latest_samples(unsigned n) const {
  if (pipeline_)
    if (std::vector<Sample> frames = pipeline_->samples(n); !frames.empty())
      return frames;
  std::vector<Sample> frames;
  if (held_frame_ && n > 0)
    frames.emplace_back(gst_sample_ref(held_frame_.get()));
  return frames;
}

Sample Camera::latest_jpeg(int64_t &arrival_us) const {
  if (pipeline_)
    if (Sample frame = pipeline_->latest(arrival_us))
      return frame;
  if (!held_frame_)
    return nullptr;
  arrival_us = held_arrival_us_;
  return Sample(gst_sample_ref(held_frame_.get()));
}

Sample Camera::latest_thumbnail(int64_t &arrival_us) const {
  if (pipeline_)
    if (Sample thumbnail = pipeline_->latest_thumbnail(arrival_us))
      return thumbnail;
  if (!held_thumbnail_)
    return nullptr;
  arrival_us = held_thumbnail_us_;
  return Sample(gst_sample_ref(held_thumbnail_.get()));
}

} // namespace gpurtsp::launch
