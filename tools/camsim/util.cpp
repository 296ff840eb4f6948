// SPDX-License-Identifier: MIT
/* camsim: small helpers. */
#include "util.hpp"

#include <cstdarg>

#include "camsim.hpp"

namespace gpurtsp::camsim {

std::string strprintf(const char *format, ...) {
  va_list args;
  va_start(args, format);
  g_autofree gchar *text = g_strdup_vprintf(format, args);
  va_end(args);
  return text;
}

bool has_element(const char *factory) {
  g_autoptr(GstElementFactory) found = gst_element_factory_find(factory);
  return found != nullptr;
}

void require_element(const char *factory, const char *hint) {
  if (!has_element(factory))
    throw Error(strprintf("GStreamer element %s is missing: %s", factory, hint));
}

} // namespace gpurtsp::camsim
