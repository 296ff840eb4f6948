// SPDX-License-Identifier: MIT
/* gpujpegenc: nvJPEG encoding on one CUDA stream.
 *
 * nvJPEG's library handle is thread-safe and holds no per-image state, so one
 * per CUDA context serves every encoder in the process (NvjpegHandle). An
 * encoder state must not be shared by concurrent encodes, so each encoder
 * (NvjpegEncoder) has one, with its parameters, its stream and a pinned
 * buffer the bitstream is copied into; encoders are lent to elements one
 * encode at a time (jpegenc-pool.h). */
#pragma once

#include "core/gpurtsp-cuda.h"
#include "jpegenc/nvjpeg-loader.h"

#include <memory>
#include <string>

namespace gpurtsp {

/* GpuError's check() for nvJPEG: true for success; otherwise fills @error
 * with @call and the status's name. */
bool check(nvjpeg::nvjpegStatus_t status, const char *call, GpuError &error);

/* The nvJPEG library handle of one CUDA context. nvJPEG binds handles to the
 * context current at creation, so the share is per context; gpurtsp uses one
 * context per GPU, which makes it one handle per GPU. */
class NvjpegHandle {
public:
  /* The context's handle, created on first use. Thread-safe. */
  static std::shared_ptr<NvjpegHandle> get(GstCudaContext *ctx, const nvjpeg::Api &api,
                                           GpuError &error);
  ~NvjpegHandle();
  NvjpegHandle(const NvjpegHandle &) = delete;
  NvjpegHandle &operator=(const NvjpegHandle &) = delete;

  nvjpeg::nvjpegHandle_t get() const { return handle_; }

private:
  NvjpegHandle(GstCudaContext *ctx, const nvjpeg::Api &api, nvjpeg::nvjpegHandle_t handle)
      : ctx_(ctx), api_(api), handle_(handle) {}

  GstCudaContext *const ctx_; /* owned ref */
  const nvjpeg::Api &api_;
  const nvjpeg::nvjpegHandle_t handle_;
};

/* One encoder: state, parameters (4:2:0 output), stream and bitstream
 * buffer. Used by one thread at a time; every method but create()
 * and the destructor expects the context to be current. */
class NvjpegEncoder {
public:
  static std::unique_ptr<NvjpegEncoder> create(GstCudaContext *ctx, const nvjpeg::Api &api,
                                               GpuError &error);
  ~NvjpegEncoder();
  NvjpegEncoder(const NvjpegEncoder &) = delete;
  NvjpegEncoder &operator=(const NvjpegEncoder &) = delete;

  CUstream stream() const { return stream_.get(); }

  /* Applies to the next encode; a no-op when @quality is already set. */
  bool set_quality(int quality, GpuError &error);
  /* The JPEG's chroma sampling from the next encode on (4:2:0 until set);
   * a no-op when already set. 4:2:0 input always needs 4:2:0. */
  bool set_sampling(nvjpeg::nvjpegChromaSubsampling_t sampling, GpuError &error);

  /* Queue the encode of one image on stream(). The source must stay valid
   * until retrieve() returns. */
  bool encode_yuv420(const nvjpeg::nvjpegImage_t &planar, int width, int height, GpuError &error);
  bool encode_nv12(const nvjpeg::nvjpegImage_t &semi_planar, int width, int height,
                   GpuError &error);
  bool encode_rgb(const nvjpeg::nvjpegImage_t &source, nvjpeg::nvjpegInputFormat_t format,
                  int width, int height, GpuError &error);

  /* Waits for the queued encode of a @width x @height image and copies its
   * JPEG into host memory, where it stays valid until the next call. */
  bool retrieve(int width, int height, const guint8 *&data, size_t &size, GpuError &error);

private:
  NvjpegEncoder(GstCudaContext *ctx, const nvjpeg::Api &api) : ctx_(ctx), api_(api) {}

  GstCudaContext *const ctx_; /* owned ref */
  const nvjpeg::Api &api_;
  std::shared_ptr<NvjpegHandle> handle_;
  CudaStream stream_;
  nvjpeg::nvjpegEncoderState_t state_ = nullptr;
  nvjpeg::nvjpegEncoderParams_t params_ = nullptr;
  int quality_ = 0; /* what params_ holds; 0 = nvJPEG's default */
  nvjpeg::nvjpegChromaSubsampling_t sampling_ = nvjpeg::NVJPEG_CSS_420; /* likewise */
  /* Reused for every frame: grows to the largest bound (or JPEG) seen,
   * never per frame. */
  PinnedBuffer bitstream_;
  /* One nvjpegEncodeRetrieveBitstream per frame, into a buffer of
   * nvjpegEncodeGetBufferSize's bound, instead of asking the length, waiting
   * and fetching; off where the library lacks the bound or refused it. */
  bool one_call_ = false;
  /* The bound and what it was computed for. */
  size_t bound_ = 0;
  int bound_width_ = 0, bound_height_ = 0, bound_quality_ = -1;
  nvjpeg::nvjpegChromaSubsampling_t bound_sampling_ = nvjpeg::NVJPEG_CSS_420;
};

} // namespace gpurtsp
