// SPDX-License-Identifier: MIT
/* gpurtsp: the per-pixel maths of gpunv12torgb (8-bit YUV 4:2:0 -> R'G'B',
 * chroma upsampling, resize), written once for the CUDA kernels and for the
 * CPU reference that the tests and benchmarks compare them with.
 *
 * GPU and CPU results are bit-identical: every multiply-add is an explicit
 * fmaf(), the one division goes through div_rn(), and nothing else can be
 * contracted differently by nvcc (which fuses a*b+c by default) and the host
 * compiler (which usually does not). */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define GPURTSP_HD __host__ __device__
#else
#define GPURTSP_HD
#endif

namespace gpurtsp::rgb {

/* What the kernels write. RGBx and BGRx use the RGBA and BGRA layouts: the
 * padding byte is written as 255, like alpha. */
enum class RgbLayout : int32_t { RGB, BGR, RGBA, BGRA, RGBP };

/* One 8-bit plane; NV12's interleaved chroma is two planes with step 2. */
struct Plane {
  const uint8_t *data;
  int32_t stride; /* bytes between rows */
  int32_t step;   /* bytes between samples of a row */
  int32_t width;  /* samples */
  int32_t height;
};

struct YuvSource {
  Plane y, cb, cr;
};

struct RgbTarget {
  uint8_t *data[3]; /* packed layouts: data[0]; RGBP: the R, G and B planes */
  int32_t stride[3];
  int32_t width, height;
};

/* R'G'B' in 0..255 units, before rounding:
 *   R = y_gain Y + bias + r_cr (Cr - 128)
 *   G = y_gain Y + bias + g_cb (Cb - 128) + g_cr (Cr - 128)
 *   B = y_gain Y + bias + b_cb (Cb - 128)
 * Input range, matrix and output range are all folded in (see
 * nv12torgb-config.h), so the kernels do five FMAs per pixel. */
struct ColorMatrix {
  float y_gain, bias;
  float r_cr, g_cb, g_cr, b_cb;
};

/* Where the output pixels of one axis sample the source. Output pixel i is
 * centred on source luma position (i + 0.5) * scale - 0.5. Chroma sample k
 * sits at luma position 2k + chroma_offset (0: co-sited, 0.5: centred). The
 * filter is a tent of the given half-width in source samples: 1 is bilinear;
 * it widens with the downscale factor so that downscaling averages every
 * source pixel instead of aliasing. */
struct Axis {
  float scale;
  float luma_radius, luma_inv_radius;
  float chroma_offset;
  float chroma_radius, chroma_inv_radius;
};

struct ConvertParams {
  ColorMatrix matrix;
  Axis x, y;
};

GPURTSP_HD inline float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b); /* correctly rounded even under --use_fast_math */
#else
  return a / b;
#endif
}

GPURTSP_HD inline float lerp(float a, float b, float t) {
  return fmaf(t, b - a, a);
}

GPURTSP_HD inline int clamp_index(int i, int size) {
  return i < 0 ? 0 : (i >= size ? size - 1 : i);
}

/* Sample (x, y) of @p, edges replicated. */
GPURTSP_HD inline float sample(const Plane &p, int x, int y) {
  const uint8_t *ptr = p.data + static_cast<ptrdiff_t>(clamp_index(y, p.height)) * p.stride +
                       static_cast<ptrdiff_t>(clamp_index(x, p.width)) * p.step;
#ifdef __CUDA_ARCH__
  return __ldg(ptr);
#else
  return *ptr;
#endif
}

GPURTSP_HD inline float tent_weight(int tap, float centre, float inv_radius) {
  return fmaxf(fmaf(-fabsf(static_cast<float>(tap) - centre), inv_radius, 1.0f), 0.0f);
}

/* Tent-filtered value of @p at (cx, cy), normalised by the weights. Taps
 * strictly inside the tent only: at scale 1 a luma sample is one tap, a
 * chroma sample one or two per axis. */
GPURTSP_HD inline float filter(const Plane &p, float cx, float rx, float inv_rx, float cy, float ry,
                               float inv_ry) {
  const int x0 = static_cast<int>(floorf(cx - rx)) + 1, x1 = static_cast<int>(ceilf(cx + rx)) - 1;
  const int y0 = static_cast<int>(floorf(cy - ry)) + 1, y1 = static_cast<int>(ceilf(cy + ry)) - 1;
  float wx_sum = 0.0f;
  for (int i = x0; i <= x1; i++)
    wx_sum += tent_weight(i, cx, inv_rx);
  float acc = 0.0f, wy_sum = 0.0f;
  for (int j = y0; j <= y1; j++) {
    const float wy = tent_weight(j, cy, inv_ry);
    float row = 0.0f;
    for (int i = x0; i <= x1; i++)
      row = fmaf(tent_weight(i, cx, inv_rx), sample(p, i, j), row);
    acc = fmaf(wy, row, acc);
    wy_sum += wy;
  }
  return div_rn(acc, wx_sum * wy_sum);
}

GPURTSP_HD inline uint8_t to_u8(float v) {
  return static_cast<uint8_t>(static_cast<int>(fminf(fmaxf(v, 0.0f), 255.0f) + 0.5f));
}

GPURTSP_HD inline void yuv_to_rgb(const ColorMatrix &m, float y, float cb, float cr,
                                  uint8_t rgb[3]) {
  const float luma = fmaf(m.y_gain, y, m.bias);
  const float u = cb - 128.0f, v = cr - 128.0f;
  rgb[0] = to_u8(fmaf(m.r_cr, v, luma));
  rgb[1] = to_u8(fmaf(m.g_cr, v, fmaf(m.g_cb, u, luma)));
  rgb[2] = to_u8(fmaf(m.b_cb, u, luma));
}

/* Output pixel (ox, oy), any scale: the reference, and the GPU's scaling
 * kernel. */
GPURTSP_HD inline void convert_pixel(const YuvSource &src, const ConvertParams &p, int ox, int oy,
                                     uint8_t rgb[3]) {
  const float lx = fmaf(static_cast<float>(ox) + 0.5f, p.x.scale, -0.5f);
  const float ly = fmaf(static_cast<float>(oy) + 0.5f, p.y.scale, -0.5f);
  const float y = filter(src.y, lx, p.x.luma_radius, p.x.luma_inv_radius, ly, p.y.luma_radius,
                         p.y.luma_inv_radius);
  const float cx = (lx - p.x.chroma_offset) * 0.5f;
  const float cy = (ly - p.y.chroma_offset) * 0.5f;
  const float cb = filter(src.cb, cx, p.x.chroma_radius, p.x.chroma_inv_radius, cy,
                          p.y.chroma_radius, p.y.chroma_inv_radius);
  const float cr = filter(src.cr, cx, p.x.chroma_radius, p.x.chroma_inv_radius, cy,
                          p.y.chroma_radius, p.y.chroma_inv_radius);
  yuv_to_rgb(p.matrix, y, cb, cr, rgb);
}

/* Index into an (R, G, B) triple of byte k of a packed pixel (k < 3). */
GPURTSP_HD constexpr int packed_channel(RgbLayout layout, int k) {
  return (layout == RgbLayout::BGR || layout == RgbLayout::BGRA) ? 2 - k : k;
}

GPURTSP_HD constexpr int bytes_per_pixel(RgbLayout layout) {
  return layout == RgbLayout::RGB || layout == RgbLayout::BGR ? 3
         : layout == RgbLayout::RGBP                          ? 1
                                                              : 4;
}

template <RgbLayout L>
GPURTSP_HD inline void store_pixel(const RgbTarget &t, int x, int y, const uint8_t rgb[3]) {
  if constexpr (L == RgbLayout::RGBP) {
    for (int c = 0; c < 3; c++)
      t.data[c][static_cast<ptrdiff_t>(y) * t.stride[c] + x] = rgb[c];
  } else {
    uint8_t *px = t.data[0] + static_cast<ptrdiff_t>(y) * t.stride[0] +
                  static_cast<ptrdiff_t>(x) * bytes_per_pixel(L);
    for (int k = 0; k < 3; k++)
      px[k] = rgb[packed_channel(L, k)];
    if constexpr (bytes_per_pixel(L) == 4)
      px[3] = 255;
  }
}

/* The GPU's same-size fast path converts 4x2 luma pixels per thread, the
 * block whose top-left pixel is (4 bx, 2 by). Its chroma neighbourhood is
 * rows by-1 .. by+1 and columns 2bx-1 .. 2bx+2, edge-clamped. With 8-bit
 * samples and weights in quarters every value below is exact in float, so
 * the block path and convert_pixel() at scale 1 agree to the bit (the tests
 * check this on the CPU). */
struct Block4x2 {
  float y[2][4];
  float cb[3][4];
  float cr[3][4];
};

/* Scalar form of the loads the fast kernel does with vector instructions. */
GPURTSP_HD inline void load_block(const YuvSource &src, int bx, int by, Block4x2 &b) {
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 4; c++)
      b.y[r][c] = sample(src.y, 4 * bx + c, 2 * by + r);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) {
      b.cb[r][c] = sample(src.cb, 2 * bx - 1 + c, by - 1 + r);
      b.cr[r][c] = sample(src.cr, 2 * bx - 1 + c, by - 1 + r);
    }
}

/* Chroma at the block's 4x2 luma positions from its 3x4 neighbourhood @n. */
GPURTSP_HD inline void upsample_block(const float n[3][4], bool h_cosited, bool v_cosited,
                                      float out[2][4]) {
  float h[3][4];
  for (int r = 0; r < 3; r++) {
    if (h_cosited) {
      h[r][0] = n[r][1];
      h[r][1] = lerp(n[r][1], n[r][2], 0.5f);
      h[r][2] = n[r][2];
      h[r][3] = lerp(n[r][2], n[r][3], 0.5f);
    } else {
      h[r][0] = lerp(n[r][1], n[r][0], 0.25f);
      h[r][1] = lerp(n[r][1], n[r][2], 0.25f);
      h[r][2] = lerp(n[r][2], n[r][1], 0.25f);
      h[r][3] = lerp(n[r][2], n[r][3], 0.25f);
    }
  }
  for (int c = 0; c < 4; c++) {
    if (v_cosited) {
      out[0][c] = h[1][c];
      out[1][c] = lerp(h[1][c], h[2][c], 0.5f);
    } else {
      out[0][c] = lerp(h[1][c], h[0][c], 0.25f);
      out[1][c] = lerp(h[1][c], h[2][c], 0.25f);
    }
  }
}

GPURTSP_HD inline void convert_block(const Block4x2 &b, const ConvertParams &p,
                                     uint8_t rgb[2][4][3]) {
  const bool h_cosited = p.x.chroma_offset == 0.0f, v_cosited = p.y.chroma_offset == 0.0f;
  float cb[2][4], cr[2][4];
  upsample_block(b.cb, h_cosited, v_cosited, cb);
  upsample_block(b.cr, h_cosited, v_cosited, cr);
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 4; c++)
      yuv_to_rgb(p.matrix, b.y[r][c], cb[r][c], cr[r][c], rgb[r][c]);
}

/* Whether the fast kernel's vector loads and stores are aligned for these
 * planes: 4-byte luma and NV12 chroma words, 2-byte I420 chroma pairs, 16-byte
 * RGBA/BGRA stores, 4-byte RGB/BGR/RGBP stores. CUDA pitch allocations always
 * qualify; anything else takes the scaling kernel, which reads bytes. */
inline bool block_kernel_aligned(const YuvSource &src, bool nv12, const RgbTarget &dst,
                                 RgbLayout layout) {
  auto aligned = [](const void *ptr, int32_t stride, unsigned to) {
    return reinterpret_cast<uintptr_t>(ptr) % to == 0 && static_cast<unsigned>(stride) % to == 0;
  };
  if (!aligned(src.y.data, src.y.stride, 4))
    return false;
  if (nv12 ? !aligned(src.cb.data, src.cb.stride, 4)
           : !aligned(src.cb.data, src.cb.stride, 2) || !aligned(src.cr.data, src.cr.stride, 2))
    return false;
  if (layout == RgbLayout::RGBP) {
    for (int c = 0; c < 3; c++)
      if (!aligned(dst.data[c], dst.stride[c], 4))
        return false;
    return true;
  }
  return aligned(dst.data[0], dst.stride[0], bytes_per_pixel(layout) == 4 ? 16 : 4);
}

} // namespace gpurtsp::rgb
