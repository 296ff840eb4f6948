// SPDX-License-Identifier: MIT
/* libFuzzer target: the cameras.yaml parser, gpurtsp::launch::parse_config().
 *
 * Every input must either parse or throw ConfigError; any other exception,
 * a crash or a sanitizer report is a bug. A parsed camera's masked URL must
 * not show its password. */
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config.h"

using namespace gpurtsp::launch;

namespace {

/* Only what the seed corpus refers to; the environment is not consulted for
 * these names because overrides win. */
Variables fuzz_variables() {
  Variables variables;
  variables.set("CAM_USER", "viewer");
  variables.set("CAM_PASSWORD", "s3cret:p@ss/word%");
  variables.set("CAM_HOST", "192.0.2.10");
  variables.set("API_TOKEN", "token-1234");
  return variables;
}

void check_password_masked(const CameraConfig &camera) {
  const CameraUrl &url = camera.url;
  if (url.password.empty() || url.location.find(url.password) != std::string::npos ||
      url.user.find(url.password) != std::string::npos)
    return; /* the password also appears where it is not a secret */
  if (url.masked().find(url.password) != std::string::npos)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const Variables variables = fuzz_variables();
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  try {
    const Config config = parse_config(text, "fuzz.yaml", variables);
    for (const CameraConfig &camera : config.cameras)
      check_password_masked(camera);
  } catch (const ConfigError &) {
  }
  return 0;
}
