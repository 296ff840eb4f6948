/* Every camera of the config: starts them staggered, drives them from one
 * once-a-second timer (no thread or timer per camera while it streams), and
 * answers the HTTP layer through CameraRegistry. Main thread only. */
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "camera-registry.h"
#include "camera.h"
#include "config.h"
#include "gpu-resources.h"
#include "pipeline-worker.h"

namespace gpurtsp::launch {

class CameraManager final : public CameraRegistry {
public:
  /* Spacing of first connects: a thousand cameras start over 20 s. */
  static constexpr unsigned kStaggerMs = 20;
  static constexpr unsigned kTickMs = 1000;

  CameraManager(const std::vector<CameraConfig> &cameras, GpuResources &gpus);
  /* Stops every camera and waits until every pipeline is down. */
  ~CameraManager() override;
  CameraManager(const CameraManager &) = delete;
  CameraManager &operator=(const CameraManager &) = delete;

  void start();
  /* Tears every pipeline down (on worker threads); the newest frames stay.
   * Idempotent. */
  void stop();

  std::vector<CameraStatus> list() const override;
  std::optional<CameraStatus> find(std::string_view id) const override;
  SamplePtr latest_jpeg(std::string_view id, std::int64_t &arrival_us) const override;

  /* Tests: the CUDA contexts the elements of all running pipelines use. */
  std::set<GstObject *> cuda_contexts_in_use() const;

private:
  const Camera *camera(std::string_view id) const;

  /* Declared first, destroyed last: waits for the pipelines cameras hand it. */
  PipelineWorker worker_;
  std::vector<std::unique_ptr<Camera>> cameras_; /* in config order */
  std::map<std::string, Camera *, std::less<>> by_id_;
  guint tick_source_ = 0;
};

} // namespace gpurtsp::launch
