// SPDX-License-Identifier: MIT
#include "nv12torgb/nv12torgb-reference.h"

namespace gpurtsp::rgb {

namespace {

template <RgbLayout L>
void convert_all(const YuvSource &src, const RgbTarget &dst, const ConvertParams &params) {
  for (int y = 0; y < dst.height; y++)
    for (int x = 0; x < dst.width; x++) {
      uint8_t rgb[3];
      convert_pixel(src, params, x, y, rgb);
      store_pixel<L>(dst, x, y, rgb);
    }
}

} // namespace

void convert_reference(const YuvSource &src, const RgbTarget &dst, RgbLayout layout,
                       const ConvertParams &params) {
  switch (layout) {
  case RgbLayout::RGB:
    return convert_all<RgbLayout::RGB>(src, dst, params);
  case RgbLayout::BGR:
    return convert_all<RgbLayout::BGR>(src, dst, params);
  case RgbLayout::RGBA:
    return convert_all<RgbLayout::RGBA>(src, dst, params);
  case RgbLayout::BGRA:
    return convert_all<RgbLayout::BGRA>(src, dst, params);
  case RgbLayout::RGBP:
    return convert_all<RgbLayout::RGBP>(src, dst, params);
  }
}

bool convert_reference(const GstVideoFrame &in, GstVideoFrame &out, MatrixChoice choice,
                       std::string &error) {
  const auto params = make_convert_params(in.info, out.info, choice, error);
  if (!params)
    return false;
  const guint8 *in_planes[GST_VIDEO_MAX_PLANES];
  guint8 *out_planes[GST_VIDEO_MAX_PLANES];
  for (guint i = 0; i < GST_VIDEO_MAX_PLANES; i++) {
    in_planes[i] = static_cast<const guint8 *>(in.data[i]);
    out_planes[i] = static_cast<guint8 *>(out.data[i]);
  }
  convert_reference(make_source(in.info, in_planes, in.info.stride),
                    make_target(out.info, out_planes, out.info.stride),
                    *rgb_layout(GST_VIDEO_INFO_FORMAT(&out.info)), *params);
  return true;
}

} // namespace gpurtsp::rgb
