// SPDX-License-Identifier: MIT
#include "http-util.h"

#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstdint>

namespace gpurtsp::launch::http {

bool constant_time_equals(std::string_view secret, std::string_view presented) {
  /* Every presented byte is compared with some secret byte; the lengths enter
   * the result without branching on them. */
  uint64_t difference = uint64_t(secret.size()) ^ uint64_t(presented.size());
  if (secret.empty())
    return presented.empty();
  for (size_t i = 0; i < presented.size(); i++)
    difference |= uint8_t(presented[i]) ^ uint8_t(secret[i % secret.size()]);
  return difference == 0;
}

std::optional<std::string_view> bearer_token(const char *authorization) {
  if (!authorization)
    return std::nullopt;
  std::string_view header(authorization);
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), header.begin(),
                  [](char a, char b) { return a == g_ascii_tolower(b); }))
    return std::nullopt;
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ')
    header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ')
    header.remove_suffix(1);
  return header;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int high = g_ascii_xdigit_value(text[i + 1]);
    const int low = g_ascii_xdigit_value(text[i + 2]);
    if (high < 0 || low < 0 || (high == 0 && low == 0))
      return std::nullopt;
    decoded += char(high << 4 | low);
    i += 2;
  }
  return decoded;
}

std::optional<int> parse_frame_width(std::string_view query, std::string &error) {
  const std::string range =
      "expected a whole number of pixels from 1 to " + std::to_string(kMaxFrameWidth);
  std::optional<int> width;
  size_t start = 0;
  while (start <= query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string_view parameter = query.substr(start, end - start);
    start = end + 1;
    const size_t equals = parameter.find('=');
    const std::optional<std::string> name = percent_decode(parameter.substr(0, equals));
    if (!name || *name != "width") {
      error = "unknown query parameter \"" + (name ? name->substr(0, 32) : std::string("?")) +
              "\" (frame.jpg takes only width)";
      return std::nullopt;
    }
    if (width) {
      error = "width given twice";
      return std::nullopt;
    }
    const std::optional<std::string> value = equals == std::string_view::npos
                                                 ? std::nullopt
                                                 : percent_decode(parameter.substr(equals + 1));
    int number = 0;
    bool valid = value && !value->empty() && value->size() <= 4;
    for (char c : valid ? *value : std::string()) {
      valid = valid && g_ascii_isdigit(c);
      number = number * 10 + (c - '0');
    }
    if (!valid || number < 1 || number > kMaxFrameWidth) {
      error = "width: " + range;
      return std::nullopt;
    }
    width = number;
  }
  return width;
}

std::string error_json(std::string_view message) {
  return change_error_json(message, {}, {});
}

std::string change_error_json(std::string_view message, std::string_view key,
                              std::string_view reason) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  for (const auto &[name, value] :
       {std::pair{"error", message}, std::pair{"key", key}, std::pair{"reason", reason}}) {
    if (value.empty() && std::string_view(name) != "error")
      continue;
    json_builder_set_member_name(builder, name);
    const std::string text(value);
    json_builder_add_string_value(builder, text.c_str());
  }
  json_builder_end_object(builder);
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autofree char *json = json_to_string(root, FALSE);
  return json;
}

} // namespace gpurtsp::launch::http
