// SPDX-License-Identifier: MIT
/* gpujpegenc: the YCbCr that a JPEG holds.
 *
 * JFIF defines a JPEG's YCbCr as full-range BT.601, and every decoder reads
 * it so. Video decoders (NVDEC included) mostly give limited-range BT.709 or
 * BT.601: encoded verbatim, those frames would decode with grey blacks, dull
 * whites and shifted hues. JfifTransform maps the input's YCbCr to JFIF's in
 * one affine step, which the yuv420 kernel applies while it lays the planes
 * out for nvJPEG. Transfer function and primaries are left as they are. */
#pragma once

namespace gpurtsp {

/* out = from_y * Y + from_cb * Cb + from_cr * Cr + offset, on 8-bit values.
 * Changing range and matrix keeps grey grey, so chroma never depends on Y:
 * the chroma rows have no Y term, which lets 4:2:0 chroma be converted on
 * its own grid. Plain data: the kernel takes it as a parameter. */
struct JfifTransform {
  float y_from_y, y_from_cb, y_from_cr, y_offset;
  float cb_from_cb, cb_from_cr, cb_offset;
  float cr_from_cb, cr_from_cr, cr_offset;
};

} // namespace gpurtsp

#ifndef __CUDACC__
#include <gst/video/video.h>

namespace gpurtsp {

/* Sets @transform to the map from 8-bit YCbCr described by @colorimetry's
 * range and matrix to JFIF's. Returns false when that map is the identity:
 * the input already is full-range BT.601 and can be encoded as it is. An
 * unknown range counts as limited (what video uses), an unknown matrix as
 * BT.601. */
bool jfif_transform(const GstVideoColorimetry &colorimetry, JfifTransform &transform);

} // namespace gpurtsp
#endif
