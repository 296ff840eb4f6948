// SPDX-License-Identifier: MIT
/* libgpurtsp-capi: the C ABI the Python package loads with ctypes. */
#pragma once

#include <stddef.h>

#define GPURTSP_CAPI __attribute__((visibility("default")))

#ifdef __cplusplus
#include <cstdio>
#include <string>

namespace gpurtsp::capi {
/* Writes @message into the caller's @error buffer (may be null), truncated. */
inline void set_error(char *error, size_t error_size, const std::string &message) {
  if (error && error_size > 0)
    std::snprintf(error, error_size, "%s", message.c_str());
}
} // namespace gpurtsp::capi
#endif
