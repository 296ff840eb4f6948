// SPDX-License-Identifier: MIT
/* What the gpurtsp plugin recorded about itself in the registry cache: which
 * elements it left out and why (no CUDA device, nvJPEG missing, ...).
 * Readable without loading the plugin, so an application can explain a
 * missing element. Header-only, needs gstreamer-1.0 only. */
#pragma once

#include <gst/gst.h>

#include <string>

namespace gpurtsp::plugin_status {

/* The plugin's name in the registry (GST_PLUGIN_DEFINE's). */
inline constexpr char kPlugin[] = "gpurtsp";
/* The cache data structure (gst_plugin_get_cache_data). */
inline constexpr char kName[] = "gpurtsp-status";
/* string: "NAME[, NAME...] not registered: WHY" entries joined by "; ". */
inline constexpr char kMissing[] = "missing";

/* The kMissing text of the registry's gpurtsp plugin; empty if it recorded
 * none or is not in the registry. */
inline std::string missing() {
  GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), kPlugin);
  if (!plugin)
    return "";
  const GstStructure *status = gst_plugin_get_cache_data(plugin);
  const char *text = status ? gst_structure_get_string(status, kMissing) : nullptr;
  std::string result = text ? text : "";
  gst_object_unref(plugin);
  return result;
}

} // namespace gpurtsp::plugin_status
