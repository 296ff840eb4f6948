// SPDX-License-Identifier: MIT
/* Camera URLs: strict parsing, and keeping the credentials out of everything
 * the launcher prints, logs or hands to GStreamer as a location. */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gpurtsp::launch {

struct CameraUrl {
  std::string location; /* the URL without user info: rtspsrc's location */
  std::string user;     /* percent-decoded; empty when the URL has none */
  std::string password; /* percent-decoded; empty when the URL has none */

  /* The URL as shown to people: "rtsp://viewer:***@192.0.2.10/stream1". */
  std::string masked() const;
  /* rtsps://: RTSP over TLS. */
  bool tls() const;

  bool operator==(const CameraUrl &) const = default;
};

/* Parses an rtsp:// or rtsps:// URL with a host and, optionally, a port
 * (1-65535) and user info. On failure returns nullopt and says why in @error,
 * which quotes the URL with its password masked. */
std::optional<CameraUrl> parse_camera_url(std::string_view text, std::string &error);

/* @text with the password of every "scheme://user:password@" in it replaced
 * by "***": for text that may quote URLs we could not parse. */
std::string mask_url_passwords(std::string_view text);

/* @text with every occurrence of @secret (as is and percent-encoded) replaced
 * by "***", and URL passwords masked: for error messages from GStreamer. */
std::string scrub_credentials(std::string_view text, const std::string &secret);

} // namespace gpurtsp::launch
