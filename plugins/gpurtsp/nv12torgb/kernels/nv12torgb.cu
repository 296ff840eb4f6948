// SPDX-License-Identifier: MIT
/* gpunv12torgb kernels: 8-bit YUV 4:2:0 (NV12, I420) -> RGB, BGR, RGBA, BGRA,
 * RGBP. The maths is colorspace.h's; this file only maps threads to pixels
 * and moves bytes.
 *
 *  <in>_to_<out>_block:  same size. One thread per 4x2 luma block (one 2x1
 *                        pair of chroma samples): 32-bit luma and NV12 chroma
 *                        loads, 12- or 16-byte stores per row; a warp reads
 *                        and writes contiguous rows. Needs the alignment
 *                        block_kernel_aligned() checks.
 *  yuv420_to_<out>_scaled: any size, any alignment. One thread per output
 *                        pixel, tent-filtered (bilinear when upscaling). */
#include "nv12torgb/colorspace.h"

using namespace gpurtsp::rgb;

namespace {

__device__ __forceinline__ uint32_t load_u32(const uint8_t *p) {
  return __ldg(reinterpret_cast<const unsigned int *>(p));
}

__device__ __forceinline__ uint32_t load_u16(const uint8_t *p) {
  return __ldg(reinterpret_cast<const unsigned short *>(p));
}

__device__ __forceinline__ uint32_t pack4(uint32_t b0, uint32_t b1, uint32_t b2, uint32_t b3) {
  return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
}

__device__ __forceinline__ void unpack4(uint32_t word, float out[4]) {
  for (int k = 0; k < 4; k++)
    out[k] = static_cast<float>((word >> (8 * k)) & 0xff);
}

/* Chroma neighbourhood of block (bx, by) into b.cb / b.cr (see Block4x2). For
 * a full block, columns 2bx and 2bx+1 are inside the plane; only the outer
 * two columns and rows need clamping. */
template <bool kNv12>
__device__ __forceinline__ void load_chroma(const YuvSource &src, int bx, int by, Block4x2 &b) {
  const int cx = 2 * bx;
  const int left = cx > 0 ? cx - 1 : 0;
  const int right = min(cx + 2, src.cb.width - 1);
  const int rows[3] = {max(by - 1, 0), by, min(by + 1, src.cb.height - 1)};
  for (int r = 0; r < 3; r++) {
    if constexpr (kNv12) {
      const uint8_t *uv = src.cb.data + static_cast<ptrdiff_t>(rows[r]) * src.cb.stride;
      const uint32_t mid = load_u32(uv + 2 * cx); /* U V U V of columns cx, cx+1 */
      const uint32_t l = load_u16(uv + 2 * left), rt = load_u16(uv + 2 * right);
      b.cb[r][0] = static_cast<float>(l & 0xff);
      b.cr[r][0] = static_cast<float>(l >> 8);
      b.cb[r][1] = static_cast<float>(mid & 0xff);
      b.cr[r][1] = static_cast<float>((mid >> 8) & 0xff);
      b.cb[r][2] = static_cast<float>((mid >> 16) & 0xff);
      b.cr[r][2] = static_cast<float>(mid >> 24);
      b.cb[r][3] = static_cast<float>(rt & 0xff);
      b.cr[r][3] = static_cast<float>(rt >> 8);
    } else {
      const uint8_t *u = src.cb.data + static_cast<ptrdiff_t>(rows[r]) * src.cb.stride;
      const uint8_t *v = src.cr.data + static_cast<ptrdiff_t>(rows[r]) * src.cr.stride;
      const uint32_t um = load_u16(u + cx), vm = load_u16(v + cx);
      b.cb[r][0] = __ldg(u + left);
      b.cb[r][1] = static_cast<float>(um & 0xff);
      b.cb[r][2] = static_cast<float>(um >> 8);
      b.cb[r][3] = __ldg(u + right);
      b.cr[r][0] = __ldg(v + left);
      b.cr[r][1] = static_cast<float>(vm & 0xff);
      b.cr[r][2] = static_cast<float>(vm >> 8);
      b.cr[r][3] = __ldg(v + right);
    }
  }
}

template <RgbLayout L>
__device__ __forceinline__ void store_block(const RgbTarget &t, int x0, int y0,
                                            const uint8_t rgb[2][4][3]) {
  for (int r = 0; r < 2; r++) {
    const ptrdiff_t y = y0 + r;
    if constexpr (L == RgbLayout::RGBP) {
      for (int c = 0; c < 3; c++)
        *reinterpret_cast<uint32_t *>(t.data[c] + y * t.stride[c] + x0) =
            pack4(rgb[r][0][c], rgb[r][1][c], rgb[r][2][c], rgb[r][3][c]);
    } else if constexpr (bytes_per_pixel(L) == 4) {
      constexpr int c0 = packed_channel(L, 0), c2 = packed_channel(L, 2);
      uint4 v;
      v.x = pack4(rgb[r][0][c0], rgb[r][0][1], rgb[r][0][c2], 255);
      v.y = pack4(rgb[r][1][c0], rgb[r][1][1], rgb[r][1][c2], 255);
      v.z = pack4(rgb[r][2][c0], rgb[r][2][1], rgb[r][2][c2], 255);
      v.w = pack4(rgb[r][3][c0], rgb[r][3][1], rgb[r][3][c2], 255);
      *reinterpret_cast<uint4 *>(t.data[0] + y * t.stride[0] + 4 * x0) = v;
    } else {
      constexpr int c0 = packed_channel(L, 0), c2 = packed_channel(L, 2);
      /* 4 pixels = 12 bytes = 3 words, 4-byte aligned since x0 % 4 == 0. */
      uint32_t *out = reinterpret_cast<uint32_t *>(t.data[0] + y * t.stride[0] + 3 * x0);
      out[0] = pack4(rgb[r][0][c0], rgb[r][0][1], rgb[r][0][c2], rgb[r][1][c0]);
      out[1] = pack4(rgb[r][1][1], rgb[r][1][c2], rgb[r][2][c0], rgb[r][2][1]);
      out[2] = pack4(rgb[r][2][c2], rgb[r][3][c0], rgb[r][3][1], rgb[r][3][c2]);
    }
  }
}

template <bool kNv12, RgbLayout L>
__device__ __forceinline__ void convert_blocks(const YuvSource &src, const RgbTarget &dst,
                                               const ConvertParams &p) {
  const int bx = blockIdx.x * blockDim.x + threadIdx.x;
  const int by = blockIdx.y * blockDim.y + threadIdx.y;
  const int x0 = 4 * bx, y0 = 2 * by;
  if (x0 >= dst.width || y0 >= dst.height)
    return;
  if (x0 + 4 > dst.width || y0 + 2 > dst.height) {
    /* Right or bottom edge of an odd-sized frame: a few threads go pixel by
     * pixel, with the same numbers. */
    for (int y = y0; y < min(y0 + 2, dst.height); y++)
      for (int x = x0; x < min(x0 + 4, dst.width); x++) {
        uint8_t rgb[3];
        convert_pixel(src, p, x, y, rgb);
        store_pixel<L>(dst, x, y, rgb);
      }
    return;
  }

  Block4x2 b;
  const uint8_t *luma = src.y.data + static_cast<ptrdiff_t>(y0) * src.y.stride + x0;
  unpack4(load_u32(luma), b.y[0]);
  unpack4(load_u32(luma + src.y.stride), b.y[1]);
  load_chroma<kNv12>(src, bx, by, b);

  uint8_t rgb[2][4][3];
  convert_block(b, p, rgb);
  store_block<L>(dst, x0, y0, rgb);
}

template <RgbLayout L>
__device__ __forceinline__ void convert_scaled(const YuvSource &src, const RgbTarget &dst,
                                               const ConvertParams &p) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dst.width || y >= dst.height)
    return;
  uint8_t rgb[3];
  convert_pixel(src, p, x, y, rgb);
  store_pixel<L>(dst, x, y, rgb);
}

} // namespace

/* No __launch_bounds__: with it ptxas squeezes the block kernels into 40
 * registers and spills; left alone they take 48 and none. */
#define GPURTSP_RGB_KERNELS(name, layout)                                                          \
  extern "C" __global__ void nv12_to_##name##_block(YuvSource src, RgbTarget dst,                  \
                                                    ConvertParams p) {                             \
    convert_blocks<true, layout>(src, dst, p);                                                     \
  }                                                                                                \
  extern "C" __global__ void i420_to_##name##_block(YuvSource src, RgbTarget dst,                  \
                                                    ConvertParams p) {                             \
    convert_blocks<false, layout>(src, dst, p);                                                    \
  }                                                                                                \
  extern "C" __global__ void yuv420_to_##name##_scaled(YuvSource src, RgbTarget dst,               \
                                                       ConvertParams p) {                          \
    convert_scaled<layout>(src, dst, p);                                                           \
  }

GPURTSP_RGB_KERNELS(rgb, RgbLayout::RGB)
GPURTSP_RGB_KERNELS(bgr, RgbLayout::BGR)
GPURTSP_RGB_KERNELS(rgba, RgbLayout::RGBA)
GPURTSP_RGB_KERNELS(bgra, RgbLayout::BGRA)
GPURTSP_RGB_KERNELS(rgbp, RgbLayout::RGBP)

/* NV12 -> I420 at the same size, for YUV-only downstreams that take no NV12
 * (nvjpegenc where NVRTC is missing): the same samples, chroma de-interleaved.
 * dst.data[0..2] are the Y, U and V planes. One thread per chroma sample and
 * the up to four luma samples over it (odd sizes: chroma is (w+1)/2 x (h+1)/2). */
extern "C" __global__ void yuv420_to_i420(YuvSource src, RgbTarget dst) {
  const int cx = blockIdx.x * blockDim.x + threadIdx.x;
  const int cy = blockIdx.y * blockDim.y + threadIdx.y;
  if (cx >= src.cb.width || cy >= src.cb.height)
    return;
  const ptrdiff_t c_in = static_cast<ptrdiff_t>(cy) * src.cb.stride;
  dst.data[1][static_cast<ptrdiff_t>(cy) * dst.stride[1] + cx] =
      src.cb.data[c_in + cx * src.cb.step];
  dst.data[2][static_cast<ptrdiff_t>(cy) * dst.stride[2] + cx] =
      src.cr.data[static_cast<ptrdiff_t>(cy) * src.cr.stride + cx * src.cr.step];
  for (int y = 2 * cy; y < min(2 * cy + 2, dst.height); y++)
    for (int x = 2 * cx; x < min(2 * cx + 2, dst.width); x++)
      dst.data[0][static_cast<ptrdiff_t>(y) * dst.stride[0] + x] =
          src.y.data[static_cast<ptrdiff_t>(y) * src.y.stride + x];
}
