// SPDX-License-Identifier: MIT
#include "camera-url.h"

#include <glib.h>

namespace gpurtsp::launch {

namespace {

constexpr std::string_view kMask = "***";

/* Path, query and fragment stay as written (a camera's path may hold escapes
 * it expects back verbatim); user and password are decoded for rtspsrc's
 * user-id and user-pw. */
constexpr auto kParseFlags = GUriFlags(G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH |
                                       G_URI_FLAGS_ENCODED_QUERY | G_URI_FLAGS_ENCODED_FRAGMENT);
constexpr auto kJoinFlags =
    GUriFlags(G_URI_FLAGS_ENCODED_PATH | G_URI_FLAGS_ENCODED_QUERY | G_URI_FLAGS_ENCODED_FRAGMENT);

std::string join(GUri *uri, const char *userinfo) {
  /* userinfo is already percent-encoded where it matters (or "user:***"). */
  const auto flags = userinfo ? GUriFlags(kJoinFlags | G_URI_FLAGS_ENCODED) : kJoinFlags;
  g_autofree char *text =
      g_uri_join(flags, g_uri_get_scheme(uri), userinfo, g_uri_get_host(uri), g_uri_get_port(uri),
                 g_uri_get_path(uri), g_uri_get_query(uri), g_uri_get_fragment(uri));
  return text;
}

const char *uri_error_reason(const GError *error) {
  switch (error->code) {
  case G_URI_ERROR_BAD_SCHEME:
    return "bad scheme";
  case G_URI_ERROR_BAD_USER:
  case G_URI_ERROR_BAD_PASSWORD:
  case G_URI_ERROR_BAD_AUTH_PARAMS:
    return "bad user or password (percent-encode reserved characters)";
  case G_URI_ERROR_BAD_HOST:
    return "bad host";
  case G_URI_ERROR_BAD_PORT:
    return "bad port (expected 1 to 65535)";
  case G_URI_ERROR_BAD_PATH:
  case G_URI_ERROR_BAD_QUERY:
  case G_URI_ERROR_BAD_FRAGMENT:
    return "bad path";
  default:
    return "malformed";
  }
}

/* A DNS name (labels of letters, digits, '-' and '_') or an IP literal. */
bool valid_host(const char *host) {
  if (g_hostname_is_ip_address(host))
    return true;
  std::string_view name(host);
  if (name.empty() || name.size() > 253)
    return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
    } else if (g_ascii_isalnum(c) || c == '-' || c == '_') {
      if (++label > 63)
        return false;
    } else {
      return false;
    }
  }
  return label > 0 || name.back() == '.';
}

void replace_all(std::string &text, std::string_view from, std::string_view to) {
  if (from.empty())
    return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

} // namespace

std::string CameraUrl::masked() const {
  if (user.empty() && password.empty())
    return location;
  g_autoptr(GUri) uri = g_uri_parse(location.c_str(), kParseFlags, nullptr);
  if (!uri)
    return location;
  g_autofree char *escaped_user = g_uri_escape_string(user.c_str(), nullptr, FALSE);
  std::string userinfo = escaped_user;
  if (!password.empty())
    userinfo += ":" + std::string(kMask);
  return join(uri, userinfo.c_str());
}

bool CameraUrl::tls() const {
  return g_ascii_strncasecmp(location.c_str(), "rtsps:", 6) == 0;
}

std::optional<CameraUrl> parse_camera_url(std::string_view text, std::string &error) {
  /* GLib parses up to a NUL, and no URL holds raw control characters: a
   * location that silently drops them would not be the URL configured. */
  for (size_t i = 0; i < text.size(); i++) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char detail[96];
      g_snprintf(detail, sizeof detail,
                 "control character 0x%02X at offset %zu (percent-encode it: %%%02X)", c, i, c);
      error = detail;
      return std::nullopt;
    }
  }
  const std::string url(text);
  const std::string shown = "\"" + mask_url_passwords(url) + "\"";
  g_autoptr(GError) parse_error = nullptr;
  g_autoptr(GUri) uri = g_uri_parse(url.c_str(), kParseFlags, &parse_error);
  if (!uri) {
    /* GLib's own message may quote the password; ours never does. */
    error = std::string("not a valid URL: ") + uri_error_reason(parse_error) + " in " + shown;
    return std::nullopt;
  }
  const char *scheme = g_uri_get_scheme(uri);
  if (g_ascii_strcasecmp(scheme, "rtsp") != 0 && g_ascii_strcasecmp(scheme, "rtsps") != 0) {
    error = std::string("unsupported scheme \"") + scheme + "\" (expected rtsp or rtsps)";
    return std::nullopt;
  }
  const char *host = g_uri_get_host(uri);
  if (!host || !*host) {
    error = "missing host in " + shown;
    return std::nullopt;
  }
  if (!valid_host(host)) {
    error = std::string("invalid host \"") + host + "\"";
    return std::nullopt;
  }
  const int port = g_uri_get_port(uri);
  if (port == 0) {
    error = "port 0 is out of range (1 to 65535)";
    return std::nullopt;
  }
  const char *user = g_uri_get_user(uri);
  const char *password = g_uri_get_password(uri);
  if ((!user || !*user) && password && *password) {
    error = "password without a user name in " + shown;
    return std::nullopt;
  }
  CameraUrl result;
  result.location = join(uri, nullptr);
  result.user = user ? user : "";
  result.password = password ? password : "";
  return result;
}

std::string mask_url_passwords(std::string_view text) {
  std::string result(text);
  size_t from = 0;
  for (size_t scheme_end; (scheme_end = result.find("://", from)) != std::string::npos;) {
    const size_t authority = scheme_end + 3;
    /* The user info ends at the last '@' of the URL: a password in text we
     * failed to parse may hold '@', ':' or '/'. This masks too much rather
     * than too little when the path has an '@'. */
    size_t authority_end = result.find_first_of(" \t\r\n\"'<>", authority);
    if (authority_end == std::string::npos)
      authority_end = result.size();
    const size_t at = result.rfind('@', authority_end);
    from = authority;
    if (at == std::string::npos || at < authority)
      continue;
    const size_t colon = result.find(':', authority);
    if (colon == std::string::npos || colon > at)
      continue;
    result.replace(colon + 1, at - colon - 1, kMask);
    from = colon + 1 + kMask.size();
  }
  return result;
}

std::string scrub_credentials(std::string_view text, const std::string &secret) {
  std::string result = mask_url_passwords(text);
  if (!secret.empty()) {
    replace_all(result, secret, kMask);
    g_autofree char *escaped = g_uri_escape_string(secret.c_str(), nullptr, FALSE);
    replace_all(result, escaped, kMask);
  }
  return result;
}

} // namespace gpurtsp::launch
