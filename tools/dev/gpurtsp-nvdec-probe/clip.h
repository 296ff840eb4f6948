// SPDX-License-Identifier: MIT
/* gpurtsp-nvdec-probe: H.264 / H.265 keyframes for the decode tests, read from
 * an Annex-B file with GStreamer's parsers, or encoded on the spot. */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace probe {

struct Clip {
  std::string codec; /* "h264" or "h265" */
  /* Keyframe access units, each with its parameter sets in front. */
  std::vector<std::vector<uint8_t>> keyframes;
  size_t frames = 0; /* access units in the file, keyframes included */
};

/* Reads the keyframes of the Annex-B elementary stream in @path. */
bool read_clip(const std::string &path, const std::string &codec, Clip &clip, std::string &why);

/* Encodes @frames frames of scrolling videotestsrc @pattern at @width x @height, one
 * keyframe every @keyint frames, into the Annex-B file @path with the first
 * software encoder installed (x264enc, openh264enc; x265enc). */
bool make_clip(const std::string &path, const std::string &codec, int width, int height, int frames,
               int keyint, const std::string &pattern, std::string &why);

} // namespace probe
