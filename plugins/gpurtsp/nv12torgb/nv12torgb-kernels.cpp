// SPDX-License-Identifier: MIT
#include "nv12torgb/nv12torgb-kernels.h"

#include <string>

#include "nv12torgb/nv12torgb-fatbin.h"

namespace gpurtsp::rgb {

namespace {

constexpr unsigned kBlockWidth = 32, kBlockHeight = 8;

const char *layout_name(RgbLayout layout) {
  switch (layout) {
  case RgbLayout::RGB:
    return "rgb";
  case RgbLayout::BGR:
    return "bgr";
  case RgbLayout::RGBA:
    return "rgba";
  case RgbLayout::BGRA:
    return "bgra";
  case RgbLayout::RGBP:
    return "rgbp";
  }
  return "rgba";
}

unsigned blocks(int size, unsigned per_block) {
  return (static_cast<unsigned>(size) + per_block - 1) / per_block;
}

} // namespace

bool Nv12ToRgbKernels::load(GstCudaContext *ctx, bool nv12, RgbLayout layout, GpuError &error) {
  reset();
  auto module = CudaModule::get(ctx, gpurtsp_nv12torgb_fatbin, error);
  if (!module)
    return false;
  const std::string out = layout_name(layout);
  const std::string block_name = std::string(nv12 ? "nv12" : "i420") + "_to_" + out + "_block";
  const std::string scaled_name = "yuv420_to_" + out + "_scaled";
  CUfunction block = module->function(block_name.c_str(), error);
  if (!block)
    return false;
  CUfunction scaled = module->function(scaled_name.c_str(), error);
  if (!scaled)
    return false;
  module_ = std::move(module);
  block_ = block;
  scaled_ = scaled;
  nv12_ = nv12;
  layout_ = layout;
  return true;
}

void Nv12ToRgbKernels::reset() {
  module_.reset();
  block_ = scaled_ = nullptr;
}

bool Nv12ToRgbKernels::uses_block_kernel(const YuvSource &src, const RgbTarget &dst) const {
  return src.y.width == dst.width && src.y.height == dst.height &&
         block_kernel_aligned(src, nv12_, dst, layout_);
}

CUresult Nv12ToRgbKernels::launch(const YuvSource &src, const RgbTarget &dst,
                                  const ConvertParams &params, CUstream stream) const {
  if (!module_)
    return CUDA_ERROR_NOT_INITIALIZED;
  /* cuLaunchKernel copies the arguments before returning. */
  YuvSource src_arg = src;
  RgbTarget dst_arg = dst;
  ConvertParams params_arg = params;
  void *args[] = {&src_arg, &dst_arg, &params_arg};
  if (uses_block_kernel(src, dst)) {
    /* One thread per 4x2 luma block. */
    return CuLaunchKernel(block_, blocks(blocks(dst.width, 4), kBlockWidth),
                          blocks(blocks(dst.height, 2), kBlockHeight), 1, kBlockWidth, kBlockHeight,
                          1, 0, stream, args, nullptr);
  }
  return CuLaunchKernel(scaled_, blocks(dst.width, kBlockWidth), blocks(dst.height, kBlockHeight),
                        1, kBlockWidth, kBlockHeight, 1, 0, stream, args, nullptr);
}

bool Nv12ToI420Kernel::load(GstCudaContext *ctx, GpuError &error) {
  reset();
  auto module = CudaModule::get(ctx, gpurtsp_nv12torgb_fatbin, error);
  if (!module)
    return false;
  CUfunction kernel = module->function("yuv420_to_i420", error);
  if (!kernel)
    return false;
  module_ = std::move(module);
  kernel_ = kernel;
  return true;
}

void Nv12ToI420Kernel::reset() {
  module_.reset();
  kernel_ = nullptr;
}

CUresult Nv12ToI420Kernel::launch(const YuvSource &src, const RgbTarget &dst,
                                  CUstream stream) const {
  if (!module_)
    return CUDA_ERROR_NOT_INITIALIZED;
  YuvSource src_arg = src;
  RgbTarget dst_arg = dst;
  void *args[] = {&src_arg, &dst_arg};
  /* One thread per chroma sample. */
  return CuLaunchKernel(kernel_, blocks(src.cb.width, kBlockWidth),
                        blocks(src.cb.height, kBlockHeight), 1, kBlockWidth, kBlockHeight, 1, 0,
                        stream, args, nullptr);
}

} // namespace gpurtsp::rgb
