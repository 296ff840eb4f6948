// SPDX-License-Identifier: MIT
#include "variables.h"

#include <glib.h>

#include <fstream>

namespace gpurtsp::launch {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || g_ascii_isdigit(name.front()))
    return false;
  for (char c : name)
    if (!g_ascii_isalnum(c) && c != '_')
      return false;
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && g_ascii_isspace(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && g_ascii_isspace(text.back()))
    text.remove_suffix(1);
  return text;
}

/* The value part of a .env line; nullopt on an unterminated quote. */
std::optional<std::string> dotenv_value(std::string_view raw) {
  raw = trim(raw);
  if (raw.empty())
    return std::string();
  const char quote = raw.front();
  if (quote != '"' && quote != '\'') {
    /* Unquoted: a " #" starts a comment. */
    const size_t comment = raw.find(" #");
    return std::string(trim(raw.substr(0, comment)));
  }
  const size_t end = raw.find(quote, 1);
  if (end == std::string_view::npos)
    return std::nullopt;
  const std::string_view rest = trim(raw.substr(end + 1));
  if (!rest.empty() && rest.front() != '#')
    return std::nullopt;
  std::string value(raw.substr(1, end - 1));
  if (quote == '"') {
    /* The escapes people expect from shells; nothing else. */
    std::string unescaped;
    for (size_t i = 0; i < value.size(); i++) {
      if (value[i] == '\\' && i + 1 < value.size() &&
          std::string_view("\\\"$n").find(value[i + 1]) != std::string_view::npos) {
        unescaped += value[i + 1] == 'n' ? '\n' : value[i + 1];
        i++;
      } else {
        unescaped += value[i];
      }
    }
    value = std::move(unescaped);
  }
  return value;
}

/* $CREDENTIALS_DIRECTORY/@name (systemd's LoadCredential=/SetCredential=);
 * nullopt when unset or absent. @name is a valid name, so it cannot leave
 * the directory. One trailing newline goes: `echo pw >file` writes one. */
std::optional<std::string> credential(const std::string &name) {
  const char *dir = g_getenv("CREDENTIALS_DIRECTORY");
  if (!dir || !*dir)
    return std::nullopt;
  g_autofree char *path = g_build_filename(dir, name.c_str(), nullptr);
  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return std::nullopt;
  g_autofree char *contents = nullptr;
  gsize length = 0;
  g_autoptr(GError) error = nullptr;
  if (!g_file_get_contents(path, &contents, &length, &error))
    throw VariableError("credential " + name + ": " + error->message);
  std::string value(contents, length);
  if (value.ends_with('\n'))
    value.pop_back();
  if (value.ends_with('\r'))
    value.pop_back();
  return value;
}

} // namespace

Variables Variables::with_dotenv(const std::string &dotenv_path) {
  Variables variables;
  variables.dotenv_path_ = dotenv_path;
  std::ifstream file(dotenv_path);
  if (!file)
    return variables;
  variables.dotenv_found_ = true;
  std::string line;
  for (int number = 1; std::getline(file, line); number++) {
    std::string_view text = trim(line);
    if (text.empty() || text.front() == '#')
      continue;
    if (text.starts_with("export ") || text.starts_with("export\t"))
      text = trim(text.substr(7));
    const size_t equals = text.find('=');
    const std::string where = dotenv_path + ":" + std::to_string(number) + ": ";
    if (equals == std::string_view::npos)
      throw VariableError(where + "expected KEY=VALUE");
    const std::string name(trim(text.substr(0, equals)));
    if (!valid_name(name))
      throw VariableError(where + "invalid variable name \"" + name + "\"");
    auto value = dotenv_value(text.substr(equals + 1));
    if (!value)
      throw VariableError(where + name + ": unterminated quote");
    variables.dotenv_[name] = std::move(*value);
  }
  return variables;
}

std::optional<std::string> Variables::lookup(const std::string &name) const {
  if (auto found = overrides_.find(name); found != overrides_.end())
    return found->second;
  if (const char *value = g_getenv(name.c_str()))
    return std::string(value);
  if (auto found = dotenv_.find(name); found != dotenv_.end())
    return found->second;
  return credential(name);
}

std::string Variables::expand(std::string_view text, bool percent_encode) const {
  std::string result;
  size_t at = 0;
  while (at < text.size()) {
    const size_t dollar = text.find('$', at);
    if (dollar == std::string_view::npos) {
      result += text.substr(at);
      break;
    }
    result += text.substr(at, dollar - at);
    if (text.substr(dollar).starts_with("$${")) {
      result += "${";
      at = dollar + 3;
      continue;
    }
    if (!text.substr(dollar).starts_with("${")) {
      result += '$';
      at = dollar + 1;
      continue;
    }
    const size_t close = text.find('}', dollar + 2);
    if (close == std::string_view::npos)
      throw VariableError("unterminated \"${\" (write \"$${\" for a literal \"${\")");
    const std::string name(text.substr(dollar + 2, close - dollar - 2));
    if (!valid_name(name))
      throw VariableError("invalid variable name \"" + name + "\" in \"${" + name + "}\"");
    auto value = lookup(name);
    if (!value) {
      std::string where;
      if (!dotenv_path_.empty())
        where = dotenv_found_ ? " (nor in " + dotenv_path_ + ")"
                              : " (and there is no " + dotenv_path_ + ")";
      if (const char *dir = g_getenv("CREDENTIALS_DIRECTORY"); dir && *dir)
        where += std::string(" (nor a credential in ") + dir + ")";
      throw VariableError("environment variable " + name + " is not set" + where);
    }
    if (percent_encode) {
      g_autofree char *escaped = g_uri_escape_string(value->c_str(), nullptr, FALSE);
      result += escaped;
    } else {
      result += *value;
    }
    at = close + 1;
  }
  return result;
}

} // namespace gpurtsp::launch
