// SPDX-License-Identifier: MIT
/* The config the cameras run, changed while running: by the HTTP API, each
 * change written to the overlay file before it is answered, and by reload()
 * (SIGHUP, --watch-config), which reads the config and overlay again and
 * applies the difference camera by camera. Main thread only. */
#pragma once

#include <string>
#include <vector>

#include "camera-manager.h"
#include "camera-registry.h"
#include "config.h"
#include "shard.h"

namespace gpurtsp::launch {

/* Keeps the cameras of @config that hash to @shard. */
void keep_shard_cameras(Config &config, const Shard &shard);

/* Writes @text to @path so that a crash at any moment leaves the old file
 * or the new one, whole: a temporary file beside it, fsync, rename, fsync
 * of the directory. Mode 0600: it may hold credentials. False and @error
 * on failure, the old file untouched. */
bool write_file_atomically(const std::string &path, const std::string &text, std::string &error);

class LiveConfig final : public CameraEditor {
public:
  /* @config as loaded (load_config(), shard applied); @manager runs its
   * cameras. */
  LiveConfig(Config config, Shard shard, CameraManager &manager);

  Result put(const std::string &id, std::string_view body, bool patch) override;
  Result remove(const std::string &id) override;

  /* Reads the config and its overlay again and applies the difference. An
   * invalid config changes nothing: false, logged with file:line. */
  bool reload();

  const Config &config() const { return config_; }

private:
  /* Writes the overlay for @cameras (every shard's cameras when sharded). */
  bool persist(const std::vector<CameraConfig> &cameras, std::string &error);

  Config config_;
  const Shard shard_;
  CameraManager &manager_;
};

} // namespace gpurtsp::launch
