// SPDX-License-Identifier: MIT
#include "camera-manager.h"

#include <algorithm>
#include <set>

#include "main-context.h"
#include "rtsp-read-ahead.h"
#include "udp-keyframe-filter.h"

namespace gpurtsp::launch {

CameraManager::CameraManager(const std::vector<CameraConfig> &cameras, ElementCatalog &elements,
                             GpuResources &gpus)
    : elements_(elements), gpus_(gpus) {
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
  next_start_us_ = started_at_us_;
  running_ = true;
  const size_t count = cameras_.size();
  for (size_t i = 0; i < count; i++)
    cameras_[i]->start(unsigned(uint64_t(i) * window_ms / count));
  tick_source_ = add_timeout(
      kTickMs,
      [](gpointer self) -> gboolean {
        const int64_t now_us = g_get_monotonic_time();
        auto *manager = static_cast<CameraManager *>(self);
        for (auto &camera : manager->cameras_)
          camera->tick(now_us);
        manager->gpus_.trim_cuda_stacks(now_us);
        return G_SOURCE_CONTINUE;
      },
      this);
}

void CameraManager::stop() {
  running_ = false;
  if (tick_source_) {
    remove_source(tick_source_);
    tick_source_ = 0;
  }
  for (auto &camera : cameras_)
    camera->stop();
}

std::unique_ptr<Camera> CameraManager::make_camera(CameraConfig config) {
  auto camera = std::make_unique<Camera>(std::move(config), elements_, gpus_, worker_);
  if (running_) {
    const int64_t now_us = g_get_monotonic_time();
    const int64_t at_us = std::max(now_us, next_start_us_);
    next_start_us_ = at_us + int64_t(kStartSpacingMs) * 1000;
    camera->start(unsigned((at_us - now_us) / 1000));
  }
  return camera;
}

bool CameraManager::check_ids(const std::vector<CameraConfig> &cameras, std::string &error) {
  if (cameras.size() > kMaxCameras) {
    error = std::to_string(cameras.size()) + " cameras, more than the maximum of " +
            std::to_string(kMaxCameras);
    return false;
  }
  std::set<std::string_view> ids;
  for (const CameraConfig &camera : cameras) {
    if (!is_valid_camera_id(camera.id)) {
      error = "invalid id \"" + camera.id + "\" (expected 1 to 64 of A-Z a-z 0-9 _ -)";
      return false;
    }
    if (!ids.insert(camera.id).second) {
      error = "duplicate id \"" + camera.id + "\"";
      return false;
    }
  }
  return true;
}

bool CameraManager::add(CameraConfig camera, std::string &error) {
  if (!is_valid_camera_id(camera.id)) {
    error = "invalid id \"" + camera.id + "\" (expected 1 to 64 of A-Z a-z 0-9 _ -)";
    return false;
  }
  if (by_id_.contains(camera.id)) {
    error = "duplicate id \"" + camera.id + "\" (a camera with this id exists)";
    return false;
  }
  if (cameras_.size() >= kMaxCameras) {
    error = "already " + std::to_string(cameras_.size()) + " cameras, the maximum";
    return false;
  }
  cameras_.push_back(make_camera(std::move(camera)));
  by_id_.emplace(cameras_.back()->id(), cameras_.back().get());
  return true;
}

bool CameraManager::replace(CameraConfig camera, std::string &error) {
  auto found = std::find_if(cameras_.begin(), cameras_.end(),
                            [&](const auto &existing) { return existing->id() == camera.id; });
  if (found == cameras_.end()) {
    error = "unknown camera \"" + camera.id + "\"";
    return false;
  }
  if ((*found)->config() == camera) {
    (*found)->set_keys(std::move(camera.keys));
    return true;
  }
  by_id_.erase(camera.id);
  /* The old one goes first: its GPU placement is free for the new one. */
  found->reset();
  *found = make_camera(std::move(camera));
  by_id_.emplace((*found)->id(), found->get());
  return true;
}

bool CameraManager::remove(std::string_view id, std::string &error) {
  auto found = std::find_if(cameras_.begin(), cameras_.end(),
                            [&](const auto &existing) { return existing->id() == id; });
  if (found == cameras_.end()) {
    error = "unknown camera \"" + std::string(id) + "\"";
    return false;
  }
  by_id_.erase(by_id_.find(id));
  cameras_.erase(found);
  return true;
}

std::optional<CameraManager::Changes> CameraManager::apply(std::vector<CameraConfig> cameras,
                                                           std::string &error) {
  if (!check_ids(cameras, error))
    return std::nullopt;
  std::map<std::string_view, const CameraConfig *> wanted;
  for (const CameraConfig &camera : cameras)
    wanted.emplace(camera.id, &camera);

  /* Removed and changed cameras go first, so that their GPU placements are
   * free for the cameras made next. */
  Changes changes;
  std::set<std::string, std::less<>> before;
  std::map<std::string, std::unique_ptr<Camera>, std::less<>> kept;
  for (auto &camera : cameras_) {
    before.insert(camera->id());
    auto found = wanted.find(camera->id());
    if (found == wanted.end())
      changes.removed.push_back(camera->id());
    else if (*found->second == camera->config())
      kept.emplace(camera->id(), std::move(camera));
  }
  cameras_.clear();
  by_id_.clear();

  for (CameraConfig &camera : cameras) {
    if (auto found = kept.find(camera.id); found != kept.end()) {
      found->second->set_keys(std::move(camera.keys));
      cameras_.push_back(std::move(found->second));
      changes.unchanged++;
    } else {
      (before.contains(camera.id) ? changes.changed : changes.added).push_back(camera.id);
      cameras_.push_back(make_camera(std::move(camera)));
    }
    by_id_.emplace(cameras_.back()->id(), cameras_.back().get());
  }
  return changes;
}

std::vector<CameraConfig> CameraManager::configs() const {
  std::vector<CameraConfig> configs;
  configs.reserve(cameras_.size());
  for (const auto &camera : cameras_)
    configs.push_back(camera->config());
  return configs;
}

bool CameraManager::started() const {
  return started_at_us_ >= 0 && g_get_monotonic_time() >= started_at_us_;
}

Camera *CameraManager::camera(std::string_view id) {
  auto found = by_id_.find(id);
  return found == by_id_.end() ? nullptr : found->second;
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

Sample CameraManager::latest_thumbnail(std::string_view id, std::int64_t &arrival_us) const {
  const Camera *found = camera(id);
  return found ? found->latest_thumbnail(arrival_us) : nullptr;
}

Totals CameraManager::totals() const {
  Totals totals;
  /* Each GPU has its own keyframe and JPEG encoder pools: add up per GPU
   * first. */
  std::map<int, KeyframeDecoderTotals> keyframes;
  std::map<int, JpegEncoderTotals> jpeg_encoders;
  for (const auto &camera : cameras_) {
    if (const auto stats = camera->keyframe_decoder_stats())
      keyframes[camera->gpu()].add(*stats);
    if (const auto stats = camera->jpeg_encoder_stats())
      jpeg_encoders[camera->gpu()].add(*stats);
    if (const auto counters = camera->rtp_filter_counters()) {
      totals.rtp_filters.instances++;
      totals.rtp_filters.packets_passed += counters->packets_passed;
      totals.rtp_filters.packets_dropped += counters->packets_dropped;
      totals.rtp_filters.keyframes_cut += counters->keyframes_cut;
    }
  }
  /* Dropped before rtspsrc, so before any camera's filter saw them. */
  if (totals.rtp_filters.instances > 0) {
    totals.rtp_filters.packets_dropped += rtsp_read_ahead_packets_dropped();
    totals.rtp_filters.socket_filters = udp_keyframe_filters_active();
    totals.rtp_filters.socket_filters_removed = udp_keyframe_filters_removed();
  }
  for (const auto &[gpu, per_gpu] : keyframes)
    totals.keyframe_decoders.merge(per_gpu);
  for (const auto &[gpu, per_gpu] : jpeg_encoders)
    totals.jpeg_encoders.merge(per_gpu);
  for (const GpuResources::GpuFigures &figures : gpus_.figures())
    totals.gpus.push_back({figures.gpu, figures.cameras, figures.keyframe_cameras,
                           figures.decoders_in_use, keyframes[figures.gpu],
                           jpeg_encoders[figures.gpu], gpus_.cuda_stack(figures.gpu)});
  return totals;
}

} // namespace gpurtsp::launch
