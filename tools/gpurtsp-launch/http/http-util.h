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

/* {"error": "<message>"} with @message escaped. */
std::string error_json(std::string_view message);

/* {"error": @message, "key": @key, "reason": @reason}; key and reason left
 * out when empty. */
std::string change_error_json(std::string_view message, std::string_view key,
                              std::string_view reason);

} // namespace gpurtsp::launch::http
