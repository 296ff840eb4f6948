// SPDX-License-Identifier: MIT
/* The launcher's own log lines on stderr: "2026-01-02T03:04:05.678Z info lobby: streaming".
 * GStreamer's log stays separate (GST_DEBUG). Used from the main thread and
 * the pipeline worker threads. */
#pragma once

#include <glib.h>

#include <optional>
#include <string_view>

namespace gpurtsp::launch {

enum class LogLevel { Error, Warning, Info, Debug };

/* "error", "warning", "info", "debug"; nullopt for anything else. */
std::optional<LogLevel> parse_log_level(std::string_view name);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

void log_message(LogLevel level, const char *format, ...) G_GNUC_PRINTF(2, 3);

} // namespace gpurtsp::launch

#define LAUNCH_LOG(level, ...)                                                                     \
  do {                                                                                             \
    if (gpurtsp::launch::log_enabled(level))                                                       \
      gpurtsp::launch::log_message(level, __VA_ARGS__);                                            \
  } while (0)
#define LAUNCH_ERROR(...) LAUNCH_LOG(gpurtsp::launch::LogLevel::Error, __VA_ARGS__)
#define LAUNCH_WARNING(...) LAUNCH_LOG(gpurtsp::launch::LogLevel::Warning, __VA_ARGS__)
#define LAUNCH_INFO(...) LAUNCH_LOG(gpurtsp::launch::LogLevel::Info, __VA_ARGS__)
#define LAUNCH_DEBUG(...) LAUNCH_LOG(gpurtsp::launch::LogLevel::Debug, __VA_ARGS__)
