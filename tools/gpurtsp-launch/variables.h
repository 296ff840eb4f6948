// SPDX-License-Identifier: MIT
/* ${VAR} substitution in config values, from the environment, a .env file
 * beside the config, and systemd credentials. Lookup order: the environment,
 * then .env (the environment wins, as with docker compose: an operator can
 * override a deployed file at launch), then the file
 * $CREDENTIALS_DIRECTORY/NAME (systemd's LoadCredential=, as go2rtc reads
 * it), whose one trailing newline is dropped. */
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gpurtsp::launch {

/* A malformed .env line, a reference to an unset variable, a bad ${...}. */
class VariableError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class Variables {
public:
  /* Only the process environment. */
  Variables() = default;

  /* Reads KEY=VALUE lines from @dotenv_path when it exists: '#' comments,
   * blank lines, an optional "export " prefix, values optionally in single
   * (literal) or double quotes. Throws VariableError "FILE:LINE: why". */
  static Variables with_dotenv(const std::string &dotenv_path);

  /* Variables set here win over the environment and .env (tests). */
  void set(std::string name, std::string value) { overrides_[std::move(name)] = std::move(value); }

  /* Throws VariableError when a credential file exists but cannot be read. */
  std::optional<std::string> lookup(const std::string &name) const;

  /* @text with every ${NAME} replaced; "$${" stands for a literal "${".
   * @percent_encode: values are percent-encoded (all but unreserved
   * characters), for the user info of a URL. Throws VariableError naming the
   * unset variable or the bad reference. */
  std::string expand(std::string_view text, bool percent_encode = false) const;

private:
  std::map<std::string, std::string> overrides_;
  std::map<std::string, std::string> dotenv_;
  std::string dotenv_path_; /* where .env was looked for; empty: nowhere */
  bool dotenv_found_ = false;
};

} // namespace gpurtsp::launch
