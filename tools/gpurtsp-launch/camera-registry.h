// SPDX-License-Identifier: MIT
/* The seam between the launcher's cameras and whoever reports on them (HTTP
 * API, metrics, camera wall). The camera manager implements it; tests of the
 * HTTP layer use a fake. */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gpurtsp/latestframesink.hpp> /* Sample: an owned GstSample */

#include "totals.h"

namespace gpurtsp::launch {

enum class CameraState {
  Connecting,   /* first connection in progress */
  Streaming,    /* frames arriving */
  Reconnecting, /* error, EOS or stall; waiting for backoff or reconnecting */
  Unauthorized, /* RTSP 401: credentials wrong; retried slowly */
  Untrusted,    /* rtsps: the camera's TLS certificate did not validate; retried slowly */
  Failed,       /* cannot work as configured (bad URL, missing element); not retried */
};

/* "connecting", "streaming", ... as used in JSON and metrics. */
const char *camera_state_name(CameraState state);

struct CameraStatus {
  std::string id;
  CameraState state = CameraState::Connecting;
  std::uint64_t frames = 0;         /* JPEG frames stored since start */
  std::uint64_t decoded_frames = 0; /* frames out of the decoder, before the rate limit */
  /* Frames not served because packets of theirs, or of a picture they
   * reference, were lost (access-unit-guard.h) */
  std::uint64_t corrupt_frames_dropped = 0;
  double fps = 0.0;                    /* JPEG frames/s over the last seconds */
  std::int64_t last_frame_age_ms = -1; /* -1 until the first frame */
  int width = 0;                       /* of the newest JPEG; 0 until known */
  int height = 0;
  int thumbnail_width = 0; /* of the thumbnails made; 0: none */
  std::string codec;       /* "h264", "h265"; empty until known */
  std::string decoder;     /* "nvidia" or "software" */
  int gpu = -1;            /* CUDA device, -1 for software decoding */
  std::uint64_t reconnects = 0;
  std::string last_error; /* human readable; never holds credentials */
};

/* Read access to every camera. Called from the main loop's thread only. */
class CameraRegistry {
public:
  virtual ~CameraRegistry() = default;

  virtual std::vector<CameraStatus> list() const = 0;
  virtual std::optional<CameraStatus> find(std::string_view id) const = 0;

  /* The newest JPEG of camera @id (a sample with image/jpeg caps), and the
   * g_get_monotonic_time() at which it arrived; nullptr if none yet or no
   * such camera. */
  virtual Sample latest_jpeg(std::string_view id, std::int64_t &arrival_us) const = 0;
  /* The newest thumbnail of camera @id (CameraStatus::thumbnail_width
   * wide), made in its pipeline; nullptr if none yet, none made or no such
   * camera. */
  virtual Sample latest_thumbnail(std::string_view, std::int64_t &) const { return nullptr; }

  /* Whether every camera has made its first connect attempt (the start
   * window is over): /readyz answers 200 from then on. */
  virtual bool started() const { return true; }

  /* The element statistics summed per GPU and in all (totals.h). */
  virtual Totals totals() const { return {}; }
};

/* Changes to the running cameras: PUT, PATCH and DELETE /api/cameras/{id}.
 * Called from the main loop's thread only. */
class CameraEditor {
public:
  virtual ~CameraEditor() = default;

  struct Result {
    unsigned status = 200; /* HTTP status: 200, 201, 204, 400, 404, 500 */
    std::string error;     /* for status >= 400: one line, never a credential */
    std::string key;       /* for 400: the key at fault ("url"), empty if none */
    std::string reason;    /* for 400: @error without the key */
  };

  /* Creates (201) or replaces (200) camera @id from @body, a JSON object
   * with the keys of a camera in cameras.yaml; @patch: keys not in @body
   * keep their values (404 for an unknown camera). */
  virtual Result put(const std::string &id, std::string_view body, bool patch) = 0;
  /* Removes camera @id: 204, or 404. */
  virtual Result remove(const std::string &id) = 0;
};

} // namespace gpurtsp::launch
