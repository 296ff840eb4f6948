// SPDX-License-Identifier: MIT
/* --demo N: synthetic cameras (camsim) served in-process, and the camera
 * configs that point at them. */
#pragma once

#include <memory>
#include <vector>

#include "config.h"

namespace gpurtsp::camsim {
class Server;
}

namespace gpurtsp::launch {

class DemoCameras {
public:
  static constexpr unsigned kMaxCameras = 64;

  /* Starts @count live test-pattern cameras on a free loopback port.
   * Throws std::runtime_error when the server cannot start. */
  explicit DemoCameras(unsigned count);
  ~DemoCameras();
  DemoCameras(const DemoCameras &) = delete;
  DemoCameras &operator=(const DemoCameras &) = delete;

  /* demo0 ... demo{N-1}, with default settings. */
  std::vector<CameraConfig> cameras() const;

private:
  std::unique_ptr<camsim::Server> server_;
};

} // namespace gpurtsp::launch
