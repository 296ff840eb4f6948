// SPDX-License-Identifier: MIT
#include "stats-line.h"

#include <glib.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace gpurtsp::launch {

namespace {

constexpr std::array kStates = {CameraState::Connecting,   CameraState::Streaming,
                                CameraState::Reconnecting, CameraState::Unauthorized,
                                CameraState::Untrusted,    CameraState::Failed};

/* Nearest-rank quantile of sorted, non-empty @values. */
std::int64_t quantile(const std::vector<std::int64_t> &values, double q) {
  const size_t rank = size_t(q * double(values.size()) + 0.999999);
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

/* The shared pool's fields, after a comma. */
std::string pool_json(const SharedPoolTotals &pool) {
  return ",\"pool_users\":" + std::to_string(pool.users) +
         ",\"pool_sessions\":" + std::to_string(pool.sessions) +
         ",\"pool_max_sessions\":" + std::to_string(pool.max_sessions) +
         ",\"pool_creation_failures\":" + std::to_string(pool.creation_failures) +
         ",\"pool_waits\":" + std::to_string(pool.waits) +
         ",\"pool_timeouts\":" + std::to_string(pool.timeouts);
}

std::string keyframe_json(const KeyframeDecoderTotals &k) {
  return "{\"instances\":" + std::to_string(k.instances) +
         ",\"decoded\":" + std::to_string(k.decoded) +
         ",\"dropped_busy\":" + std::to_string(k.dropped_busy) +
         ",\"dropped_non_intra\":" + std::to_string(k.dropped_non_intra) + pool_json(k.pool) +
         ",\"pool_output_frames\":" + std::to_string(k.pool_output_frames) + "}";
}

std::string jpeg_json(const JpegEncoderTotals &j) {
  return "{\"instances\":" + std::to_string(j.instances) +
         ",\"encodes\":" + std::to_string(j.encodes) +
         ",\"dropped_busy\":" + std::to_string(j.dropped_busy) + pool_json(j.pool) + "}";
}

} // namespace

std::string stats_line(const std::vector<CameraStatus> &cameras, double elapsed_s,
                       const Totals &totals) {
  const KeyframeDecoderTotals &keyframe_decoders = totals.keyframe_decoders;
  const JpegEncoderTotals &jpeg_encoders = totals.jpeg_encoders;
  const RtpFilterTotals &rtp_filters = totals.rtp_filters;
  std::array<size_t, kStates.size()> in_state{};
  std::uint64_t reconnects = 0, frames = 0, decoded = 0;
  double fps = 0.0;
  std::vector<std::int64_t> ages;
  for (const CameraStatus &camera : cameras) {
    in_state[size_t(camera.state)]++;
    reconnects += camera.reconnects;
    frames += camera.frames;
    decoded += camera.decoded_frames;
    fps += camera.fps;
    if (camera.state == CameraState::Streaming && camera.last_frame_age_ms >= 0)
      ages.push_back(camera.last_frame_age_ms);
  }

  /* Locale-independent numbers: JSON wants a '.' whatever LC_NUMERIC says. */
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  std::string line = "{\"t\":";
  line += g_ascii_formatd(number, sizeof number, "%.3f", elapsed_s);
  line += ",\"cameras\":" + std::to_string(cameras.size());
  for (CameraState state : kStates)
    line += std::string(",\"") + camera_state_name(state) +
            "\":" + std::to_string(in_state[size_t(state)]);
  line += ",\"reconnects\":" + std::to_string(reconnects);
  line += ",\"frames\":" + std::to_string(frames);
  line += ",\"decoded_frames\":" + std::to_string(decoded);
  line += ",\"fps\":";
  line += g_ascii_formatd(number, sizeof number, "%.2f", fps);
  if (ages.empty()) {
    line += ",\"age_ms\":null";
  } else {
    std::sort(ages.begin(), ages.end());
    line += ",\"age_ms\":{\"p50\":" + std::to_string(quantile(ages, 0.50)) +
            ",\"p99\":" + std::to_string(quantile(ages, 0.99)) +
            ",\"max\":" + std::to_string(ages.back()) + "}";
  }
  if (keyframe_decoders.instances > 0)
    line += ",\"keyframe_decoder\":" + keyframe_json(keyframe_decoders);
  if (jpeg_encoders.instances > 0)
    line += ",\"jpeg_encoder\":" + jpeg_json(jpeg_encoders);
  if (rtp_filters.instances > 0)
    line += ",\"rtp_filter\":{\"instances\":" + std::to_string(rtp_filters.instances) +
            ",\"packets_passed\":" + std::to_string(rtp_filters.packets_passed) +
            ",\"packets_dropped\":" + std::to_string(rtp_filters.packets_dropped) +
            ",\"keyframes_cut\":" + std::to_string(rtp_filters.keyframes_cut) +
            ",\"socket_filters\":" + std::to_string(rtp_filters.socket_filters) +
            ",\"socket_filters_removed\":" + std::to_string(rtp_filters.socket_filters_removed) +
            "}";
  if (!totals.gpus.empty()) {
    line += ",\"gpus\":[";
    for (size_t i = 0; i < totals.gpus.size(); i++) {
      const GpuTotals &gpu = totals.gpus[i];
      line += std::string(i ? "," : "") + "{\"gpu\":" + std::to_string(gpu.gpu) +
              ",\"cameras\":" + std::to_string(gpu.cameras) +
              ",\"keyframe_cameras\":" + std::to_string(gpu.keyframe_cameras) +
              ",\"decoders_in_use\":" + std::to_string(gpu.decoders_in_use);
      if (gpu.cuda_stack)
        line += ",\"cuda_stack_bytes\":" + std::to_string(gpu.cuda_stack->bytes) +
                ",\"cuda_stack_trims\":" + std::to_string(gpu.cuda_stack->trims);
      if (gpu.keyframe_decoders.instances > 0)
        line += ",\"keyframe_decoder\":" + keyframe_json(gpu.keyframe_decoders);
      if (gpu.jpeg_encoders.instances > 0)
        line += ",\"jpeg_encoder\":" + jpeg_json(gpu.jpeg_encoders);
      line += "}";
    }
    line += "]";
  }
  return line + "}";
}

} // namespace gpurtsp::launch
