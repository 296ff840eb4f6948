// SPDX-License-Identifier: MIT
/* camsim: checking options and naming mounts. */
#include <set>

#include "camsim.hpp"
#include "util.hpp"

namespace gpurtsp::camsim {

namespace {

bool valid_mount_path(const std::string &path) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/')
    return false;
  for (size_t i = 1; i < path.size(); i++) {
    char c = path[i];
    if (c == '/' ? path[i - 1] == '/' : !(g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

} // namespace

std::vector<std::string> mount_paths(const Options &options) {
  std::vector<std::string> paths;
  if (options.mounts.empty()) {
    for (unsigned i = 0; i < options.cameras; i++)
      paths.push_back("/cam" + std::to_string(i));
  }
  for (const std::string &name : options.mounts)
    paths.push_back(name.starts_with('/') ? name : "/" + name);
  return paths;
}

void check_video_options(const Options &options) {
  if (options.width < 16 || options.height < 16 || options.width % 2 || options.height % 2)
    throw Error(strprintf("camsim: bad size %dx%d: width and height must be even and >= 16",
                          options.width, options.height));
  if (options.fps < 1 || options.fps > 240)
    throw Error(strprintf("camsim: bad fps %d: use 1 to 240", options.fps));
  if (options.gop < 1)
    throw Error(strprintf("camsim: bad GOP %d: at least one frame", options.gop));
  if (options.bitrate_kbps < 1)
    throw Error(strprintf("camsim: bad bitrate %d kbit/s", options.bitrate_kbps));
  if (options.clip_seconds < 1)
    throw Error(strprintf("camsim: bad clip length %d s", options.clip_seconds));
}

void check_options(const Options &options, const std::vector<std::string> &paths) {
  check_video_options(options);
  if (paths.empty())
    throw Error("camsim: no mounts (cameras is 0 and no mount names)");
  std::set<std::string> seen;
  for (const std::string &path : paths) {
    if (!valid_mount_path(path))
      throw Error(strprintf("camsim: invalid mount \"%s\": use letters, digits, '.', '_', '-' "
                            "and '/' between segments",
                            path.c_str()));
    if (!seen.insert(path).second)
      throw Error(strprintf("camsim: mount \"%s\" given twice", path.c_str()));
  }
  if (options.user.empty() != options.password.empty())
    throw Error("camsim: set both user and password, or neither");
  if (options.user.find(':') != std::string::npos)
    throw Error("camsim: the user name cannot contain ':' (Basic authentication)");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    throw Error("camsim: set both tls_cert_file and tls_key_file, or neither");
  if (!options.transports.udp && !options.transports.tcp)
    throw Error("camsim: allow at least one transport (UDP or TCP)");
  if (options.service_threads < 1)
    throw Error("camsim: service_threads must be at least 1");
  if (options.share_media < 1)
    throw Error("camsim: share_media must be at least 1 (mounts per media)");
  /* Live mounts burn their own name into the picture. */
  if (options.share_media > 1 && options.source != Source::Clip)
    throw Error("camsim: share_media > 1 needs the clip source");
}

} // namespace gpurtsp::camsim
