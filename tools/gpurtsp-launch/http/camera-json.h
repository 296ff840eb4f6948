/* The JSON of /api/cameras and /api/cameras/{id}. */
#pragma once

#include <string>
#include <vector>

#include "camera-registry.h"

namespace gpurtsp::launch::http {

/* {"id": ..., "state": ..., "frames": ..., "fps": ..., "last_frame_age_ms": ...,
 * "width", "height", "codec", "decoder", "gpu", "reconnects", "last_error"}.
 * last_frame_age_ms, codec and last_error are null while unknown. */
std::string camera_json(const CameraStatus &status);

/* A JSON array of camera_json() objects, in registry order. */
std::string cameras_json(const std::vector<CameraStatus> &statuses);

} // namespace gpurtsp::launch::http
