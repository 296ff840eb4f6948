// SPDX-License-Identifier: MIT
/* libFuzzer target: camera URL parsing, credential scrubbing and ${VAR}
 * substitution (tools/gpurtsp-launch/camera-url.h, variables.h).
 *
 * The input is a secret (a length-prefixed string) followed by the text.
 * Checked beyond "no crash":
 *  - a parsed URL's location is itself a valid URL without user info, and
 *    parses back to the same location;
 *  - its masked form does not show the password;
 *  - scrub_credentials() leaves no copy of the secret;
 *  - expand() throws nothing but VariableError. */
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "camera-url.h"
#include "variables.h"

using namespace gpurtsp::launch;

namespace {

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

void check_url(const std::string &text) {
  std::string error;
  const auto url = parse_camera_url(text, error);
  if (!url)
    return;
  const auto again = parse_camera_url(url->location, error);
  if (!again || !again->user.empty() || !again->password.empty() ||
      again->location != url->location)
    std::abort();
  if (!url->password.empty() && !contains(url->location, url->password) &&
      !contains(url->user, url->password) && contains(url->masked(), url->password))
    std::abort();
}

void check_scrub(const std::string &text, const std::string &secret) {
  const std::string scrubbed = scrub_credentials(text, secret);
  /* The mask "***" itself could complete a secret holding '*'. */
  if (!secret.empty() && secret.find('*') == std::string::npos && contains(scrubbed, secret))
    std::abort();
}

void check_expand(const std::string &text) {
  static const Variables variables = [] {
    Variables v;
    v.set("CAM_USER", "viewer");
    v.set("CAM_PASSWORD", "p@ss:w/rd%${X}");
    v.set("EMPTY", "");
    return v;
  }();
  for (bool percent_encode : {false, true}) {
    try {
      const std::string expanded = variables.expand(text, percent_encode);
      /* With nothing to substitute the text comes back unchanged. */
      if (text.find('$') == std::string::npos && expanded != text)
        std::abort();
    } catch (const VariableError &) {
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string secret = input.ConsumeRandomLengthString(64);
  const std::string text = input.ConsumeRemainingBytesAsString();
  check_url(text);
  check_scrub(text, secret);
  check_expand(text);
  return 0;
}
