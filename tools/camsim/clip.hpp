// SPDX-License-Identifier: MIT
/* camsim (internal): a pre-encoded clip held in memory as access units. */
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

#include "camsim.hpp"
#include "util.hpp"

namespace gpurtsp::camsim {

/* Immutable once loaded, so any number of mounts can share one clip and its
 * buffers from any thread. */
struct Clip {
  /* Parses the Annex-B elementary stream at @path into access units. Each
   * keyframe gets its parameter sets in front; anything before the first
   * keyframe is dropped. The frame rate comes from the stream (VUI) or, when
   * it has none, from @fallback_fps. Throws Error. */
  static std::shared_ptr<const Clip> load(const std::string &path, Codec codec, int fallback_fps);

  CapsPtr caps; /* byte-stream, alignment=au, with size and frame rate */
  std::vector<BufferPtr> frames;
  GstClockTime frame_duration = GST_CLOCK_TIME_NONE;
};

/* Where ensure_clip() keeps the clip for @options (not necessarily made yet). */
std::string cached_clip_path(const Options &options);

} // namespace gpurtsp::camsim
