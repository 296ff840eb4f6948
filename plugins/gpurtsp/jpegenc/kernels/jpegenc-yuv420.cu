// SPDX-License-Identifier: MIT
/* gpujpegenc: lays a 4:2:0 frame out as the three planes nvjpegEncodeYUV
 * takes, in JFIF's full-range BT.601. One thread per chroma sample: it reads
 * Cb and Cr (interleaved for NV12, planar for I420: @c_step is the distance
 * between a row's samples), converts them, and converts the up to four luma
 * samples above it. Odd widths and heights give the last chroma column/row a
 * single luma column/row: chroma planes are (width + 1) / 2 by
 * (height + 1) / 2. */
#include "jpegenc/jpegenc-colour.h"

namespace {

__device__ __forceinline__ unsigned char to_byte(float value) {
  return static_cast<unsigned char>(__float2int_rn(fminf(fmaxf(value, 0.0f), 255.0f)));
}

} // namespace

/* @out_y may be NULL when the transform is the identity: the encoder then
 * reads luma from the source frame and only chroma is de-interleaved. */
extern "C" __global__ void
gpurtsp_jpegenc_yuv420_to_jfif(const unsigned char *y, int y_stride, const unsigned char *cb,
                               const unsigned char *cr, int c_stride, int c_step,
                               unsigned char *out_y, unsigned char *out_cb, unsigned char *out_cr,
                               int out_pitch, int width, int height, gpurtsp::JfifTransform t) {
  const int cx = blockIdx.x * blockDim.x + threadIdx.x;
  const int cy = blockIdx.y * blockDim.y + threadIdx.y;
  if (cx >= (width + 1) / 2 || cy >= (height + 1) / 2)
    return;

  const size_t c_in = static_cast<size_t>(cy) * c_stride + static_cast<size_t>(cx) * c_step;
  const float u = cb[c_in];
  const float v = cr[c_in];
  const size_t c_out = static_cast<size_t>(cy) * out_pitch + cx;
  out_cb[c_out] = to_byte(t.cb_from_cb * u + t.cb_from_cr * v + t.cb_offset);
  out_cr[c_out] = to_byte(t.cr_from_cb * u + t.cr_from_cr * v + t.cr_offset);

  if (!out_y)
    return;
  const float y_from_chroma = t.y_from_cb * u + t.y_from_cr * v + t.y_offset;
  const int x_end = min(2 * cx + 2, width);
  const int y_end = min(2 * cy + 2, height);
  for (int row = 2 * cy; row < y_end; row++) {
    for (int col = 2 * cx; col < x_end; col++) {
      const float luma = y[static_cast<size_t>(row) * y_stride + col];
      out_y[static_cast<size_t>(row) * out_pitch + col] =
          to_byte(t.y_from_y * luma + y_from_chroma);
    }
  }
}
