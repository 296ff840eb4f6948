// SPDX-License-Identifier: MIT
#include "demo-cameras.h"

#include "camsim.hpp"

namespace gpurtsp::launch {

DemoCameras::DemoCameras(unsigned count) {
  camsim::Options options;
  /* Live test patterns show each camera's name and clock on the wall; at
   * this size a handful of encoders costs little. */
  options.source = camsim::Source::Live;
  options.cameras = count;
  options.width = 640;
  options.height = 360;
  options.fps = 10;
  options.gop = 10;
  server_ = std::make_unique<camsim::Server>(options);
  server_->start();
}

DemoCameras::~DemoCameras() = default;

std::vector<CameraConfig> DemoCameras::cameras() const {
  std::vector<CameraConfig> cameras;
  for (size_t i = 0; i < server_->size(); i++) {
    std::string error;
    CameraConfig camera;
    camera.id = "demo" + std::to_string(i);
    camera.url = *parse_camera_url(server_->url(i), error);
    cameras.push_back(std::move(camera));
  }
  return cameras;
}

} // namespace gpurtsp::launch
