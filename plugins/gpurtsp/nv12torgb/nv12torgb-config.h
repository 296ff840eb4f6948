// SPDX-License-Identifier: MIT
/* gpurtsp: what gpunv12torgb decides from caps, without CUDA: colorimetry
 * rules, kernel parameters, caps transformation and fixation. Free functions,
 * so the tests check them on machines without a GPU (where the element does
 * not register). */
#pragma once

#include <gst/video/video.h>

#include <optional>
#include <string>

#include "nv12torgb/colorspace.h"

namespace gpurtsp::rgb {

/* Largest width or height accepted: keeps kernel grids and 32-bit offsets in
 * range. */
inline constexpr int kMaxDimension = 32768;

/* The element's `matrix` property: caps (and GStreamer's defaults), or a
 * forced matrix for cameras whose streams say the wrong thing. */
enum class MatrixChoice { Auto, Bt601, Bt709, Bt2020 };

/* How an input is read. */
struct InputColour {
  GstVideoColorMatrix matrix;
  GstVideoColorRange range;
  bool h_cosited; /* chroma sample k at luma column 2k (else 2k + 0.5) */
  bool v_cosited; /* chroma sample k at luma row 2k (else 2k + 0.5) */
};

/* gst_video_info_from_caps(), keeping the caps' chroma-site, which
 * GStreamer 1.22.0 replaces with its size default when the caps carry no
 * colorimetry. */
bool video_info_from_caps(GstVideoInfo &info, const GstCaps *caps);

/* Colorimetry from @in, with GStreamer's rules where the caps leave something
 * out (gst_video_info_from_caps): matrix BT.709 above 576 lines, BT.601 up
 * to that; limited range; chroma siting "mpeg2" (horizontally co-sited)
 * above 576 lines, "jpeg" (centred) up to that. @choice replaces the
 * matrix. */
InputColour resolve_input_colour(const GstVideoInfo &in, MatrixChoice choice);

/* Coefficients of @matrix for @in_range YUV to @out_range RGB. */
ColorMatrix make_color_matrix(GstVideoColorMatrix matrix, GstVideoColorRange in_range,
                              GstVideoColorRange out_range);

/* Kernel layout of an output format; nullopt when the element cannot write
 * @format. */
std::optional<RgbLayout> rgb_layout(GstVideoFormat format);

/* Everything the kernels need besides frame pointers. On failure returns
 * nullopt and says why in @error. */
std::optional<ConvertParams> make_convert_params(const GstVideoInfo &in, const GstVideoInfo &out,
                                                 MatrixChoice choice, std::string &error);

/* Plane views of frames laid out as @info says, with plane pointers and
 * strides from wherever the caller found them (GstVideoMeta, GstCudaMemory's
 * info, a mapped GstVideoFrame). */
YuvSource make_source(const GstVideoInfo &in, const guint8 *const planes[], const gint strides[]);
RgbTarget make_target(const GstVideoInfo &out, guint8 *const planes[], const gint strides[]);

/* GstBaseTransform::transform_caps and ::fixate_caps of gpunv12torgb:
 * format and colorimetry change across the element, size may (with
 * pixel-aspect-ratio kept consistent), the same size is preferred. The
 * input's own format, size and colorimetry are also offered, last, as a
 * passthrough output for downstreams that take no RGB (nvjpegenc), and
 * after it, for NV12 input, I420 at the same size; fixation picks YUV only
 * when downstream accepts no RGB format at all, and a YUV output at another
 * size, or I420 -> NV12, never negotiates. */
GstCaps *transform_caps(GstPadDirection direction, GstCaps *caps, GstCaps *filter);
GstCaps *fixate_caps(GstPadDirection direction, GstCaps *caps, GstCaps *othercaps);

/* Whether negotiated @in -> @out is the passthrough (same YUV format and
 * size: buffers go through untouched) rather than a conversion. */
bool is_passthrough(const GstVideoInfo &in, const GstVideoInfo &out);

/* Whether negotiated @in -> @out is NV12 -> I420 at the same size: the same
 * samples with the chroma de-interleaved (Nv12ToI420Kernel), for YUV-only
 * peers without NV12 (nvjpegenc where GStreamer's NVRTC kernels are missing). */
bool is_chroma_split(const GstVideoInfo &in, const GstVideoInfo &out);

} // namespace gpurtsp::rgb
