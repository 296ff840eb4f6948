// SPDX-License-Identifier: MIT
/* Helpers of the gpunv12torgb tests: system-memory frames with guard bytes,
 * and the textbook Y'CbCr equations, written independently of colorspace.h
 * so that they can judge it. */
#pragma once

#include <gst/video/video.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "nv12torgb/colorspace.h"
#include "nv12torgb/nv12torgb-config.h"

namespace testutil {

using gpurtsp::rgb::ConvertParams;
using gpurtsp::rgb::RgbLayout;
using gpurtsp::rgb::RgbTarget;
using gpurtsp::rgb::YuvSource;

/* Kr and Kb from the ITU-R recommendations. */
inline std::array<double, 2> kr_kb(GstVideoColorMatrix matrix) {
  switch (matrix) {
  case GST_VIDEO_COLOR_MATRIX_BT601:
    return {0.299, 0.114};
  case GST_VIDEO_COLOR_MATRIX_BT2020:
    return {0.2627, 0.0593};
  default:
    return {0.2126, 0.0722};
  }
}

/* R'G'B' in 0..1 to 8-bit Y'CbCr code values. */
inline std::array<int, 3> rgb_to_ycbcr(const std::array<double, 3> &rgb, GstVideoColorMatrix matrix,
                                       bool full_range) {
  const auto [kr, kb] = kr_kb(matrix);
  const double y = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2];
  const double pb = (rgb[2] - y) / (2 * (1 - kb));
  const double pr = (rgb[0] - y) / (2 * (1 - kr));
  auto code = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
  if (full_range)
    return {code(255 * y), code(128 + 255 * pb), code(128 + 255 * pr)};
  return {code(16 + 219 * y), code(128 + 224 * pb), code(128 + 224 * pr)};
}

/* 8-bit Y'CbCr code values (fractional allowed) to R'G'B' in 0..255 units,
 * unclamped: E'Y and E'Pb/E'Pr first, then the definition of E'Y solved for
 * G'. */
inline std::array<double, 3> ycbcr_to_rgb(double y, double cb, double cr,
                                          GstVideoColorMatrix matrix, bool full_range) {
  const auto [kr, kb] = kr_kb(matrix);
  const double ey = full_range ? y / 255 : (y - 16) / 219;
  const double pb = (cb - 128) / (full_range ? 255 : 224);
  const double pr = (cr - 128) / (full_range ? 255 : 224);
  const double r = ey + 2 * (1 - kr) * pr;
  const double b = ey + 2 * (1 - kb) * pb;
  const double g = (ey - kr * r - kb * b) / (1 - kr - kb);
  return {255 * r, 255 * g, 255 * b};
}

/* What an 8-bit output should hold for @v. */
inline int expected_code(double v) {
  return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0)));
}

/* Conversion parameters as the element derives them from caps. */
inline ConvertParams params_for(int in_w, int in_h, int out_w, int out_h,
                                GstVideoColorMatrix matrix, GstVideoColorRange range,
                                GstVideoChromaSite site,
                                GstVideoColorRange out_range = GST_VIDEO_COLOR_RANGE_0_255) {
  GstVideoInfo in, out;
  gst_video_info_set_format(&in, GST_VIDEO_FORMAT_NV12, in_w, in_h);
  in.colorimetry.matrix = matrix;
  in.colorimetry.range = range;
  in.chroma_site = site;
  gst_video_info_set_format(&out, GST_VIDEO_FORMAT_RGBA, out_w, out_h);
  out.colorimetry.range = out_range;
  std::string error;
  return *gpurtsp::rgb::make_convert_params(in, out, gpurtsp::rgb::MatrixChoice::Auto, error);
}

inline constexpr uint8_t kCanary = 0xa5;
inline constexpr int kPadding = 8; /* bytes after every row, rows after every plane */

/* 8-bit 4:2:0 frame, NV12 or I420, with padded rows. */
class YuvFrame {
public:
  YuvFrame(int width, int height, bool nv12)
      : width_(width), height_(height), cw_((width + 1) / 2), ch_((height + 1) / 2), nv12_(nv12),
        y_stride_(width + kPadding), c_stride_((nv12 ? 2 * cw_ : cw_) + kPadding),
        y_(static_cast<size_t>(y_stride_) * height, kCanary),
        u_(static_cast<size_t>(c_stride_) * ch_, kCanary),
        v_(nv12 ? 0 : static_cast<size_t>(c_stride_) * ch_, kCanary) {}

  int width() const { return width_; }
  int height() const { return height_; }
  int chroma_width() const { return cw_; }
  int chroma_height() const { return ch_; }

  void set_y(int x, int y, uint8_t value) { y_[static_cast<size_t>(y) * y_stride_ + x] = value; }
  void set_cb(int x, int y, uint8_t value) { *cb(x, y) = value; }
  void set_cr(int x, int y, uint8_t value) { *cr(x, y) = value; }
  void fill(uint8_t y, uint8_t cb, uint8_t cr) {
    for (int j = 0; j < height_; j++)
      for (int i = 0; i < width_; i++)
        set_y(i, j, y);
    for (int j = 0; j < ch_; j++)
      for (int i = 0; i < cw_; i++) {
        set_cb(i, j, cb);
        set_cr(i, j, cr);
      }
  }

  YuvSource source() const {
    YuvSource src{};
    src.y = {y_.data(), y_stride_, 1, width_, height_};
    if (nv12_) {
      src.cb = {u_.data(), c_stride_, 2, cw_, ch_};
      src.cr = {u_.data() + 1, c_stride_, 2, cw_, ch_};
    } else {
      src.cb = {u_.data(), c_stride_, 1, cw_, ch_};
      src.cr = {v_.data(), c_stride_, 1, cw_, ch_};
    }
    return src;
  }

private:
  uint8_t *cb(int x, int y) {
    return u_.data() + static_cast<size_t>(y) * c_stride_ + (nv12_ ? 2 * x : x);
  }
  uint8_t *cr(int x, int y) {
    return nv12_ ? cb(x, y) + 1 : v_.data() + static_cast<size_t>(y) * c_stride_ + x;
  }

  int width_, height_, cw_, ch_;
  bool nv12_;
  int y_stride_, c_stride_;
  std::vector<uint8_t> y_, u_, v_;
};

/* Output frame of any layout, canary-filled, so writes outside the picture
 * (row padding, rows after the last) are caught. */
class RgbFrame {
public:
  RgbFrame(int width, int height, RgbLayout layout)
      : width_(width), height_(height), layout_(layout),
        bpp_(gpurtsp::rgb::bytes_per_pixel(layout)), stride_(width * bpp_ + kPadding),
        planes_(layout == RgbLayout::RGBP ? 3 : 1) {
    for (auto &plane : planes_)
      plane.assign(static_cast<size_t>(stride_) * (height + kPadding), kCanary);
  }

  RgbTarget target() {
    RgbTarget t{};
    for (size_t i = 0; i < planes_.size(); i++) {
      t.data[i] = planes_[i].data();
      t.stride[i] = stride_;
    }
    t.width = width_;
    t.height = height_;
    return t;
  }

  /* R, G, B of pixel (x, y) whatever the layout. */
  std::array<int, 3> rgb(int x, int y) const {
    if (layout_ == RgbLayout::RGBP)
      return {at(0, x, y, 0), at(1, x, y, 0), at(2, x, y, 0)};
    const bool bgr = layout_ == RgbLayout::BGR || layout_ == RgbLayout::BGRA;
    return {at(0, x, y, bgr ? 2 : 0), at(0, x, y, 1), at(0, x, y, bgr ? 0 : 2)};
  }
  int fourth_byte(int x, int y) const { return at(0, x, y, 3); }
  const std::vector<uint8_t> &plane(int i) const { return planes_[i]; }

  bool guard_bytes_intact() const {
    for (const auto &plane : planes_)
      for (int y = 0; y < height_ + kPadding; y++)
        for (int x = (y < height_ ? width_ * bpp_ : 0); x < stride_; x++)
          if (plane[static_cast<size_t>(y) * stride_ + x] != kCanary)
            return false;
    return true;
  }

private:
  int at(int plane, int x, int y, int byte) const {
    return planes_[plane][static_cast<size_t>(y) * stride_ + static_cast<size_t>(x) * bpp_ + byte];
  }

  int width_, height_;
  RgbLayout layout_;
  int bpp_, stride_;
  std::vector<std::vector<uint8_t>> planes_;
};

} // namespace testutil
