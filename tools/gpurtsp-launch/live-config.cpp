// SPDX-License-Identifier: MIT
#include "live-config.h"

#include <glib/gstdio.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "log.h"

namespace gpurtsp::launch {

namespace {

/* Closes a file descriptor on scope exit. */
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      close(fd);
  }
};

CameraEditor::Result failure(unsigned status, std::string error) {
  CameraEditor::Result result;
  result.status = status;
  result.error = std::move(error);
  return result;
}

} // namespace

void keep_shard_cameras(Config &config, const Shard &shard) {
  if (shard.count == 1)
    return;
  std::erase_if(config.cameras, [&](const CameraConfig &camera) {
    return shard_of(camera.id, shard.count) != shard.index;
  });
}

bool write_file_atomically(const std::string &path, const std::string &text, std::string &error) {
  std::string temporary = path + ".XXXXXX";
  Fd file{g_mkstemp_full(temporary.data(), O_WRONLY | O_CLOEXEC, 0600)};
  const auto fail = [&](const std::string &what, int code) {
    error = what + ": " + g_strerror(code);
    if (file.fd >= 0)
      g_unlink(temporary.c_str());
    return false;
  };
  if (file.fd < 0)
    return fail("cannot create " + temporary, errno);
  for (size_t written = 0; written < text.size();) {
    const ssize_t n = write(file.fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("cannot write " + temporary, errno);
    written += size_t(n);
  }
  if (fsync(file.fd) != 0)
    return fail("cannot sync " + temporary, errno);
  if (rename(temporary.c_str(), path.c_str()) != 0)
    return fail("cannot rename " + temporary + " to " + path, errno);
  close(std::exchange(file.fd, -1));
  /* The rename itself is durable only once the directory is. */
  g_autofree char *dir = g_path_get_dirname(path.c_str());
  Fd directory{open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (directory.fd < 0 || fsync(directory.fd) != 0) {
    error = std::string("cannot sync ") + dir + ": " + g_strerror(errno);
    return false;
  }
  return true;
}

LiveConfig::LiveConfig(Config config, Shard shard, CameraManager &manager)
    : config_(std::move(config)), shard_(shard), manager_(manager) {}

bool LiveConfig::persist(const std::vector<CameraConfig> &cameras, std::string &error) {
  return write_file_atomically(overlay_path(config_.path), overlay_text(config_, cameras), error);
}

CameraEditor::Result LiveConfig::put(const std::string &id, std::string_view body, bool patch) {
  if (shard_.count > 1)
    return failure(403, "changes through the API need an unsharded launcher (every shard would "
                        "write the same overlay): edit the config and send SIGHUP");
  std::vector<CameraConfig> cameras = manager_.configs();
  auto found = std::find_if(cameras.begin(), cameras.end(),
                            [&](const CameraConfig &camera) { return camera.id == id; });
  if (patch && found == cameras.end())
    return failure(404, "unknown camera");
  CameraConfig camera;
  try {
    camera = parse_camera_request(body, id, patch ? &*found : nullptr, config_);
  } catch (const ConfigError &e) {
    Result result;
    result.status = 400;
    result.key = e.key();
    result.reason = e.reason().empty() ? e.what() : e.reason();
    result.error = result.key.empty() ? result.reason : result.key + ": " + result.reason;
    return result;
  }
  const bool created = found == cameras.end();
  if (created && cameras.size() >= kMaxCameras)
    return failure(400, "already " + std::to_string(cameras.size()) + " cameras, the maximum");
  if (created)
    cameras.push_back(camera);
  else
    *found = camera;

  std::string error;
  if (!persist(cameras, error)) {
    LAUNCH_ERROR("http: %s camera %s not saved, nothing changed: %s", patch ? "PATCH" : "PUT",
                 id.c_str(), error.c_str());
    return failure(500, "cannot save the change: " + error);
  }
  const bool applied =
      created ? manager_.add(std::move(camera), error) : manager_.replace(std::move(camera), error);
  if (!applied) /* checked above: a bug */
    return failure(500, error);
  LAUNCH_INFO("http: camera %s %s", id.c_str(), created ? "added" : "changed");
  return Result{created ? 201u : 200u, {}, {}, {}};
}

CameraEditor::Result LiveConfig::remove(const std::string &id) {
  if (shard_.count > 1)
    return failure(403, "changes through the API need an unsharded launcher (every shard would "
                        "write the same overlay): edit the config and send SIGHUP");
  std::vector<CameraConfig> cameras = manager_.configs();
  const size_t before = cameras.size();
  std::erase_if(cameras, [&](const CameraConfig &camera) { return camera.id == id; });
  if (cameras.size() == before)
    return failure(404, "unknown camera");
  std::string error;
  if (!persist(cameras, error)) {
    LAUNCH_ERROR("http: removing camera %s not saved, nothing changed: %s", id.c_str(),
                 error.c_str());
    return failure(500, "cannot save the change: " + error);
  }
  if (!manager_.remove(id, error))
    return failure(500, error);
  LAUNCH_INFO("http: camera %s removed", id.c_str());
  return Result{204, {}, {}, {}};
}

bool LiveConfig::reload() {
  Config fresh;
  try {
    fresh = load_config(config_.path);
  } catch (const ConfigError &e) {
    LAUNCH_ERROR("reload refused, the cameras stay as they were: %s", e.what());
    return false;
  }
  if (fresh.http.listen.to_string() != config_.http.listen.to_string() ||
      fresh.http.token != config_.http.token)
    LAUNCH_WARNING("reload: http changes take effect at the next start");
  fresh.http = config_.http;
  keep_shard_cameras(fresh, shard_);
  std::string error;
  const auto changes = manager_.apply(fresh.cameras, error);
  if (!changes) {
    LAUNCH_ERROR("reload refused, the cameras stay as they were: %s", error.c_str());
    return false;
  }
  config_ = std::move(fresh);
  LAUNCH_INFO("reload: %zu added, %zu changed, %zu removed, %zu unchanged", changes->added.size(),
              changes->changed.size(), changes->removed.size(), changes->unchanged);
  for (const auto &[what, ids] :
       {std::pair{"added", &changes->added}, std::pair{"changed", &changes->changed},
        std::pair{"removed", &changes->removed}})
    for (const std::string &id : *ids)
      LAUNCH_DEBUG("reload: %s %s", what, id.c_str());
  return true;
}

} // namespace gpurtsp::launch
