// SPDX-License-Identifier: MIT
/* gpurtsp: CPU reference of gpunv12torgb, for tests and benchmarks. It runs
 * the per-pixel maths of colorspace.h that the CUDA kernels run, so its
 * output is what the GPU must produce, bit for bit. Slow: not for pipelines. */
#pragma once

#include <gst/video/video.h>

#include "nv12torgb/colorspace.h"
#include "nv12torgb/nv12torgb-config.h"

namespace gpurtsp::rgb {

/* Converts @src into @dst (any size: resizes when they differ). */
void convert_reference(const YuvSource &src, const RgbTarget &dst, RgbLayout layout,
                       const ConvertParams &params);

/* Converts mapped system-memory frames, deriving the parameters from their
 * infos exactly as the element derives them from caps. Returns false (with
 * @error set) for what the element would refuse. */
bool convert_reference(const GstVideoFrame &in, GstVideoFrame &out, MatrixChoice choice,
                       std::string &error);

} // namespace gpurtsp::rgb
