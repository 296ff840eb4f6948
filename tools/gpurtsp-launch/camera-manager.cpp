// SPDX-License-Identifier: MIT
#include "camera-manager.h"

#include <algorithm>

namespace gpurtsp::launch {

CameraManager::CameraManager(const std::vector<CameraConfig> &cameras, ElementCatalog &elements,
                             GpuResources &gpus)
    : gpus_(gpus) {
  for (const CameraConfig &config : cameras) {
    cameras_.push_back(std::make_unique<Camera>(config, elements, gpus, worker_));
    by_id_.emplace(config.id, cameras_.back().get());
  }
}

CameraManager::~CameraManager() {
  stop();
  cameras_.clear();
}

unsigned CameraManager::default_start_window_ms(size_t cameras) {
  return unsigned(std::min<size_t>(cameras * 10, 10000));
}

void CameraManager::start(unsigned window_ms) {
  started_at_us_ = g_get_monotonic_time() + int64_t(window_ms) * 1000;
  const size_t count = cameras_.size();
  for (size_t i = 0; i < count; i++)
    cameras_[i]->start(unsigned(uint64_t(i) * window_ms / count));
  tick_source_ = g_timeout_add(
      kTickMs,
      [](gpointer self) -> gboolean {
        const int64_t now_us = g_get_monotonic_time();
        for (auto &camera : static_cast<CameraManager *>(self)->cameras_)
          camera->tick(now_us);
        return G_SOURCE_CONTINUE;
      },
      this);
}

void CameraManager::stop() {
  if (tick_source_) {
    g_source_remove(tick_source_);
    tick_source_ = 0;
  }
  for (auto &camera : cameras_)
    camera->stop();
}

bool CameraManager::started() const {
  return started_at_us_ >= 0 && g_get_monotonic_time() >= started_at_us_;
}

const Camera *CameraManager::camera(std::string_view id) const {
  auto found = by_id_.find(id);
  return found == by_id_.end() ? nullptr : found->second;
}

std::vector<CameraStatus> CameraManager::list() const {
  std::vector<CameraStatus> statuses;
  statuses.reserve(cameras_.size());
  for (const auto &camera : cameras_)
    statuses.push_back(camera->status());
  return statuses;
}

std::optional<CameraStatus> CameraManager::find(std::string_view id) const {
  const Camera *found = camera(id);
  return found ? std::optional<CameraStatus>(found->status()) : std::nullopt;
}

Sample CameraManager::latest_jpeg(std::string_view id, std::int64_t &arrival_us) const {
  const Camera *found = camera(id);
  return found ? found->latest_jpeg(arrival_us) : nullptr;
}

Totals CameraManager::totals() const {
  Totals totals;
  /* Each GPU has its own keyframe pool: add up per GPU first. */
  std::map<int, KeyframeDecoderTotals> keyframes;
  for (const auto &camera : cameras_) {
    if (const auto stats = camera->keyframe_decoder_stats())
      keyframes[camera->gpu()].add(*stats);
    if (const auto counters = camera->rtp_filter_counters()) {
      totals.rtp_filters.instances++;
      totals.rtp_filters.packets_passed += counters->packets_passed;
      totals.rtp_filters.packets_dropped += counters->packets_dropped;
    }
  }
  for (const auto &[gpu, per_gpu] : keyframes)
    totals.keyframe_decoders.merge(per_gpu);
  for (const GpuResources::GpuFigures &figures : gpus_.figures())
    totals.gpus.push_back({figures.gpu, figures.cameras, figures.keyframe_cameras,
                           figures.decoders_in_use, keyframes[figures.gpu]});
  return totals;
}

} // namespace gpurtsp::launch
