// SPDX-License-Identifier: MIT
/* Every camera of the config: starts them staggered, drives them from one
 * once-a-second timer (no thread or timer per camera while it streams),
 * adds, replaces and removes cameras while running, and answers the HTTP
 * layer through CameraRegistry. Main thread only. */
#pragma once

#include <map>
#include <memory>
#include <optional>
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
  /* The start window's pace: 10 ms a camera. */
  static constexpr unsigned kStartSpacingMs = 10;

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

  /* Run-time changes, before or after start(). Cameras not named are never
   * touched: no frame gap, no reconnect, their counters go on. A camera
   * whose config changed is stopped and made anew (counters from 0); a
   * removed one stops, gives back its GPU placement (its pipeline its
   * NVDEC slot or keyframe pool share, on the worker) and leaves list(). Once
   * started, cameras connect one per kStartSpacingMs at most, however many
   * come at once. Each returns false with a one-line @error and changes
   * nothing when refused: */
  /* Refused: a duplicate or invalid id, more than kMaxCameras. */
  bool add(CameraConfig camera, std::string &error);
  /* Refused: an unknown id. The same config again leaves the camera running. */
  bool replace(CameraConfig camera, std::string &error);
  /* Refused: an unknown id. */
  bool remove(std::string_view id, std::string &error);

  /* What apply() did, ids in the new config's order. */
  struct Changes {
    std::vector<std::string> added, changed, removed;
    size_t unchanged = 0;
  };
  /* Makes @cameras the running set, camera by camera (by id), in their
   * order. Refused: duplicate or invalid ids, more than kMaxCameras. */
  std::optional<Changes> apply(std::vector<CameraConfig> cameras, std::string &error);

  /* The cameras' configs as given (gpu: auto stays auto), in order. */
  std::vector<CameraConfig> configs() const;

  std::vector<CameraStatus> list() const override;
  std::optional<CameraStatus> find(std::string_view id) const override;
  Sample latest_jpeg(std::string_view id, std::int64_t &arrival_us) const override;
  Sample latest_thumbnail(std::string_view id, std::int64_t &arrival_us) const override;
  bool started() const override;

  Totals totals() const override;

  /* The camera @id, nullptr if none; tests reach its pipeline through it. */
  const Camera *camera(std::string_view id) const;
  Camera *camera(std::string_view id);

private:
  /* A camera of @config, connecting at the next start slot once started. */
  std::unique_ptr<Camera> make_camera(CameraConfig config);
  /* Checks ids of a whole new set; false and @error when one is bad. */
  static bool check_ids(const std::vector<CameraConfig> &cameras, std::string &error);

  /* Declared first, destroyed last: waits for the pipelines cameras hand it. */
  PipelineWorker worker_;
  ElementCatalog &elements_;
  GpuResources &gpus_;
  std::vector<std::unique_ptr<Camera>> cameras_; /* in config order */
  std::map<std::string, Camera *, std::less<>> by_id_;
  guint tick_source_ = 0;
  int64_t started_at_us_ = -1; /* when the last first connect is due; -1 before start() */
  bool running_ = false;       /* between start() and stop() */
  int64_t next_start_us_ = 0;  /* earliest first connect of a camera added while running */
};

} // namespace gpurtsp::launch
