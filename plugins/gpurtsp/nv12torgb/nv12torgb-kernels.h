// SPDX-License-Identifier: MIT
/* gpurtsp: launches gpunv12torgb's CUDA kernels (kernels/nv12torgb.cu). Used
 * by the element and by the benchmark, so both run the same launches. */
#pragma once

#include "nv12torgb/colorspace.h"
#include "core/gpurtsp-cuda.h"

#include <memory>

namespace gpurtsp::rgb {

class Nv12ToRgbKernels {
public:
  /* Looks up the kernels converting NV12 (@nv12) or I420 into @layout in
   * the plugin's module shared by every user of @ctx; false and @error when
   * the module or a kernel cannot be loaded. */
  bool load(GstCudaContext *ctx, bool nv12, RgbLayout layout, GpuError &error);
  void reset();

  /* Whether launch() takes the same-size 4x2-block kernel (else the
   * per-pixel scaling kernel). */
  bool uses_block_kernel(const YuvSource &src, const RgbTarget &dst) const;

  /* Enqueues one conversion on @stream and returns without waiting. The
   * context must be current. */
  CUresult launch(const YuvSource &src, const RgbTarget &dst, const ConvertParams &params,
                  CUstream stream) const;

private:
  std::shared_ptr<CudaModule> module_;
  CUfunction block_ = nullptr;
  CUfunction scaled_ = nullptr;
  bool nv12_ = true;
  RgbLayout layout_ = RgbLayout::RGBA;
};

/* NV12 -> I420 at the same size (kernels/nv12torgb.cu, yuv420_to_i420): the
 * same samples, chroma de-interleaved. */
class Nv12ToI420Kernel {
public:
  /* Looks up the kernel in the plugin's module shared by every user of
   * @ctx; false and @error when the module or the kernel cannot be loaded. */
  bool load(GstCudaContext *ctx, GpuError &error);
  void reset();

  /* Enqueues the copy of @src into @dst's Y, U and V planes on @stream and
   * returns without waiting. The context must be current. */
  CUresult launch(const YuvSource &src, const RgbTarget &dst, CUstream stream) const;

private:
  std::shared_ptr<CudaModule> module_;
  CUfunction kernel_ = nullptr;
};

} // namespace gpurtsp::rgb
