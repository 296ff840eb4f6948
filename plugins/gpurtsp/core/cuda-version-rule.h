// SPDX-License-Identifier: MIT
/* gpurtsp: whether the CUDA elements, built against one GStreamer's gst-cuda,
 * may run inside the GStreamer loaded at run time. Plain C++, so tests check
 * it without CUDA or a GPU. */
#pragma once

#include <string>

namespace gpurtsp {

/* gst-cuda 1.24 changed how CUDA memory is handed over: producers such as
 * nvh264dec stopped synchronising before pushing and leave consumers to wait
 * on the memory's stream (gst_cuda_memory_sync, new in 1.24). A build
 * against an older gst-cuda cannot make that call, so inside GStreamer >=
 * 1.24 its elements would read frames still being written.
 *
 * Returns "" when a build against GStreamer 1.@built_minor may run inside
 * @run_major.@run_minor, else why not (for the plugin's missing-element
 * report). Running older than the build is GStreamer's own check. */
inline std::string cuda_version_mismatch(unsigned built_minor, unsigned run_major,
                                         unsigned run_minor) {
  constexpr unsigned kStreamRules = 24; /* 1.24: CUDA memory carries its stream */
  const bool runs_stream_rules = run_major > 1 || run_minor >= kStreamRules;
  if (built_minor >= kStreamRules || !runs_stream_rules)
    return "";
  return "built against GStreamer 1." + std::to_string(built_minor) + "'s gst-cuda, running " +
         std::to_string(run_major) + "." + std::to_string(run_minor) +
         ": rebuild gpurtsp for this GStreamer";
}

} // namespace gpurtsp
