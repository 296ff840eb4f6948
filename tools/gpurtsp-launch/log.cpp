// SPDX-License-Identifier: MIT
#include "log.h"

#include <atomic>
#include <cstdio>

namespace gpurtsp::launch {

namespace {

std::atomic<LogLevel> threshold{LogLevel::Info};

const char *level_name(LogLevel level) {
  switch (level) {
  case LogLevel::Error:
    return "error";
  case LogLevel::Warning:
    return "warning";
  case LogLevel::Info:
    return "info";
  case LogLevel::Debug:
    return "debug";
  }
  return "?";
}

} // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (LogLevel level : {LogLevel::Error, LogLevel::Warning, LogLevel::Info, LogLevel::Debug})
    if (name == level_name(level))
      return level;
  return std::nullopt;
}

void set_log_level(LogLevel level) {
  threshold = level;
}

bool log_enabled(LogLevel level) {
  return level <= threshold.load(std::memory_order_relaxed);
}

void log_message(LogLevel level, const char *format, ...) {
  va_list args;
  va_start(args, format);
  g_autofree char *text = g_strdup_vprintf(format, args);
  va_end(args);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
  /* One fprintf per line so lines from several threads never interleave. */
  std::fprintf(stderr, "%s.%03dZ %s %s\n", stamp, g_date_time_get_microsecond(now) / 1000,
               level_name(level), text);
}

} // namespace gpurtsp::launch
