// SPDX-License-Identifier: MIT
/* Small pure functions of the HTTP layer, kept apart so tests reach them
 * without a server. */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gpurtsp::launch::http {

/* True when @presented equals @secret. The time taken depends only on
 * @presented's length, never on where the first difference is or on
 * @secret's length, so a client cannot guess the token byte by byte. */
bool constant_time_equals(std::string_view secret, std::string_view presented);

/* The token of an "Authorization: Bearer <token>" header; nullopt when the
 * header is absent or uses another scheme. */
std::optional<std::string_view> bearer_token(const char *authorization);

/* Decodes %XX escapes; nullopt for a malformed escape or an encoded NUL. */
std::optional<std::string> percent_decode(std::string_view text);

/* The most ?width= frame.jpg takes. */
constexpr int kMaxFrameWidth = 7680;

/* frame.jpg's query, @query ("width=320", escapes undone): the width asked
 * for, 1 to kMaxFrameWidth; nullopt and a one-line @error for anything
 * else (another parameter, a repeated one, not a whole number). */
std::optional<int> parse_frame_width(std::string_view query, std::string &error);

/* {"error": "<message>"} with @message escaped. */
std::string error_json(std::string_view message);

/* {"error": @message, "key": @key, "reason": @reason}; key and reason left
 * out when empty. */
std::string change_error_json(std::string_view message, std::string_view key,
                              std::string_view reason);

} // namespace gpurtsp::launch::http
