// SPDX-License-Identifier: MIT
#include "camera-registry.h"

namespace gpurtsp::launch {

const char *camera_state_name(CameraState state) {
  switch (state) {
  case CameraState::Connecting:
    return "connecting";
  case CameraState::Streaming:
    return "streaming";
  case CameraState::Reconnecting:
    return "reconnecting";
  case CameraState::Unauthorized:
    return "unauthorized";
  case CameraState::Untrusted:
    return "untrusted";
  case CameraState::Failed:
    return "failed";
  }
  return "unknown";
}

} // namespace gpurtsp::launch
