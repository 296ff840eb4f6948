// SPDX-License-Identifier: MIT
/* The JSON of /api/cameras and /api/cameras/{id}. */
#pragma once

#include <string>
#include <vector>

#include "camera-registry.h"
#include "shard.h"

namespace gpurtsp::launch::http {

/* {"id": ..., "state": ..., "frames": ..., "fps": ..., "last_frame_age_ms": ...,
 * "width", "height", "codec", "decoder", "gpu", "reconnects", "last_error"}.
 * last_frame_age_ms, codec and last_error are null while unknown. */
std::string camera_json(const CameraStatus &status);

/* A JSON array of camera_json() objects, in registry order. */
std::string cameras_json(const std::vector<CameraStatus> &statuses);

/* /api/shard: {"index", "count", "cameras" (served here), "config_cameras"}. */
std::string shard_json(const ShardInfo &shard, size_t cameras);
/* /api/shard?id=ID: {"id", "shard" (the one serving it), "count", "here"}. */
std::string shard_of_json(const ShardInfo &shard, const std::string &id);

} // namespace gpurtsp::launch::http
