// SPDX-License-Identifier: MIT
/* Every camera of the config: starts them staggered, drives them from one
 * once-a-second timer (no thread or timer per camera while it streams), and
 * answers the HTTP layer through CameraRegistry. Main thread only. */
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "camera-registry.h"
#include "camera.h"
#include "config.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "pipeline-worker.h"
#include "totals.h"

namespace gpurtsp::launch {

class CameraManager final : public CameraRegistry {
public:
  static constexpr unsigned kTickMs = 1000;

  /* First connects are spread evenly over a start window so a thousand
   * cameras do not DESCRIBE at once: by default 10 ms a camera, at most 10 s. */
  static unsigned default_start_window_ms(size_t cameras);

  CameraManager(const std::vector<CameraConfig> &cameras, ElementCatalog &elements,
                GpuResources &gpus);
  /* Stops every camera and waits until every pipeline is down. */
  ~CameraManager() override;
  CameraManager(const CameraManager &) = delete;
  CameraManager &operator=(const CameraManager &) = delete;

  void start() { start(default_start_window_ms(cameras_.size())); }
  void start(unsigned window_ms);
  /* Tears every pipeline down (on worker threads); the newest frames stay.
   * Idempotent. */
  void stop();

  std::vector<CameraStatus> list() const override;
  std::optional<CameraStatus> find(std::string_view id) const override;
  Sample latest_jpeg(std::string_view id, std::int64_t &arrival_us) const override;
  bool started() const override;

  Totals totals() const override;

  /* The camera @id, nullptr if none; tests reach its pipeline through it. */
  const Camera *camera(std::string_view id) const;

private:
  /* Declared first, destroyed last: waits for the pipelines cameras hand it. */
  PipelineWorker worker_;
  GpuResources &gpus_;
  std::vector<std::unique_ptr<Camera>> cameras_; /* in config order */
  std::map<std::string, Camera *, std::less<>> by_id_;
  guint tick_source_ = 0;
  int64_t started_at_us_ = -1; /* when the last first connect is due; -1 before start() */
};

} // namespace gpurtsp::launch
