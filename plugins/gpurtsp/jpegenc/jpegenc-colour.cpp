// SPDX-License-Identifier: MIT
#include "jpegenc/jpegenc-colour.h"

#include <array>
#include <cmath>

namespace gpurtsp {

namespace {

using Matrix = std::array<std::array<double, 3>, 3>;

Matrix multiply(const Matrix &a, const Matrix &b) {
  Matrix product{};
  for (int row = 0; row < 3; row++)
    for (int col = 0; col < 3; col++)
      for (int k = 0; k < 3; k++)
        product[row][col] += a[row][k] * b[k][col];
  return product;
}

/* Normalised Y'PbPr (Y' in [0, 1], Pb/Pr in [-0.5, 0.5]) to R'G'B'. */
Matrix ypbpr_to_rgb(double kr, double kb) {
  const double kg = 1.0 - kr - kb;
  return {{{1.0, 0.0, 2.0 * (1.0 - kr)},
           {1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg},
           {1.0, 2.0 * (1.0 - kb), 0.0}}};
}

/* R'G'B' to normalised Y'PbPr. */
Matrix rgb_to_ypbpr(double kr, double kb) {
  const double kg = 1.0 - kr - kb;
  return {{{kr, kg, kb},
           {-kr / (2.0 * (1.0 - kb)), -kg / (2.0 * (1.0 - kb)), 0.5},
           {0.5, -kg / (2.0 * (1.0 - kr)), -kb / (2.0 * (1.0 - kr))}}};
}

void range_offsets(GstVideoColorRange range, int offset[GST_VIDEO_MAX_COMPONENTS],
                   int scale[GST_VIDEO_MAX_COMPONENTS]) {
  gst_video_color_range_offsets(range == GST_VIDEO_COLOR_RANGE_0_255 ? range
                                                                     : GST_VIDEO_COLOR_RANGE_16_235,
                                gst_video_format_get_info(GST_VIDEO_FORMAT_I420), offset, scale);
}

} // namespace

bool jfif_transform(const GstVideoColorimetry &colorimetry, JfifTransform &transform) {
  gdouble kr_in, kb_in, kr_jfif, kb_jfif;
  if (!gst_video_color_matrix_get_Kr_Kb(colorimetry.matrix, &kr_in, &kb_in))
    gst_video_color_matrix_get_Kr_Kb(GST_VIDEO_COLOR_MATRIX_BT601, &kr_in, &kb_in);
  gst_video_color_matrix_get_Kr_Kb(GST_VIDEO_COLOR_MATRIX_BT601, &kr_jfif, &kb_jfif);

  int in_offset[GST_VIDEO_MAX_COMPONENTS], in_scale[GST_VIDEO_MAX_COMPONENTS];
  int out_offset[GST_VIDEO_MAX_COMPONENTS], out_scale[GST_VIDEO_MAX_COMPONENTS];
  range_offsets(colorimetry.range, in_offset, in_scale);
  range_offsets(GST_VIDEO_COLOR_RANGE_0_255, out_offset, out_scale);

  /* 8-bit in -> normalised Y'PbPr -> R'G'B' -> JFIF Y'PbPr -> 8-bit out. */
  Matrix normalise{};
  Matrix denormalise{};
  for (int c = 0; c < 3; c++) {
    normalise[c][c] = 1.0 / in_scale[c];
    denormalise[c][c] = out_scale[c];
  }
  const Matrix m = multiply(denormalise, multiply(rgb_to_ypbpr(kr_jfif, kb_jfif),
                                                  multiply(ypbpr_to_rgb(kr_in, kb_in), normalise)));
  double offset[3];
  for (int row = 0; row < 3; row++) {
    offset[row] = out_offset[row];
    for (int col = 0; col < 3; col++)
      offset[row] -= m[row][col] * in_offset[col];
  }

  transform = {
      float(m[0][0]), float(m[0][1]),   float(m[0][2]), float(offset[0]), float(m[1][1]),
      float(m[1][2]), float(offset[1]), float(m[2][1]), float(m[2][2]),   float(offset[2]),
  };

  bool identity = true;
  for (int row = 0; row < 3; row++) {
    for (int col = 0; col < 3; col++)
      identity = identity && std::abs(m[row][col] - (row == col ? 1.0 : 0.0)) < 1e-6;
    identity = identity && std::abs(offset[row]) < 1e-3;
  }
  return !identity;
}

} // namespace gpurtsp
