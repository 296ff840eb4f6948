// SPDX-License-Identifier: MIT
#include "jpegenc/nvjpeg-encoder.h"

#include "core/weak-cache.hpp"

namespace gpurtsp {

bool check(nvjpeg::nvjpegStatus_t status, const char *call, GpuError &error) {
  if (status == nvjpeg::NVJPEG_STATUS_SUCCESS)
    return true;
  error = {call, nvjpeg::status_name(status), {}};
  return false;
}

using namespace nvjpeg;

namespace {

/* One handle per context while any encoder uses it. */
WeakCache<GstCudaContext *, NvjpegHandle> handle_cache;

/* Bitstream buffer growth: a quarter of headroom in 64 KiB steps, so frames
 * that vary a little in size don't reallocate pinned memory. */
size_t bitstream_capacity(size_t length) {
  constexpr size_t step = 64 * 1024;
  return (length + length / 4 + step - 1) / step * step;
}

} // namespace

std::shared_ptr<NvjpegHandle> NvjpegHandle::get(GstCudaContext *ctx, const Api &api,
                                                GpuError &error) {
  return handle_cache.get(ctx, [&]() -> std::shared_ptr<NvjpegHandle> {
    CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      error = GpuError::context_push();
      return nullptr;
    }
    nvjpegHandle_t raw = nullptr;
    if (!check(api.nvjpegCreateSimple(&raw), "nvjpegCreateSimple", error))
      return nullptr;
    return std::shared_ptr<NvjpegHandle>(
        new NvjpegHandle(static_cast<GstCudaContext *>(gst_object_ref(ctx)), api, raw));
  });
}

NvjpegHandle::~NvjpegHandle() {
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      api_.nvjpegDestroy(handle_);
  }
  gst_object_unref(ctx_);
}

std::unique_ptr<NvjpegEncoder> NvjpegEncoder::create(GstCudaContext *ctx, const Api &api,
                                                     GpuError &error) {
  std::unique_ptr<NvjpegEncoder> encoder(
      new NvjpegEncoder(static_cast<GstCudaContext *>(gst_object_ref(ctx)), api));
  encoder->handle_ = NvjpegHandle::get(ctx, api, error);
  if (!encoder->handle_ || !encoder->stream_.create(ctx, error))
    return nullptr;

  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    error = GpuError::context_push();
    return nullptr;
  }
  const auto handle = encoder->handle_->get();
  const auto stream = encoder->stream();
  if (!check(api.nvjpegEncoderStateCreate(handle, &encoder->state_, stream),
             "nvjpegEncoderStateCreate", error) ||
      !check(api.nvjpegEncoderParamsCreate(handle, &encoder->params_, stream),
             "nvjpegEncoderParamsCreate", error) ||
      !check(api.nvjpegEncoderParamsSetSamplingFactors(encoder->params_, NVJPEG_CSS_420, stream),
             "nvjpegEncoderParamsSetSamplingFactors", error))
    return nullptr;
  encoder->one_call_ = api.nvjpegEncodeGetBufferSize != nullptr;
  return encoder;
}

NvjpegEncoder::~NvjpegEncoder() {
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed()) {
      /* An encode that failed half-way may still be reading the state. */
      if (stream_.get())
        CuStreamSynchronize(stream_.get());
      if (params_)
        api_.nvjpegEncoderParamsDestroy(params_);
      if (state_)
        api_.nvjpegEncoderStateDestroy(state_);
    }
  }
  gst_object_unref(ctx_);
}

bool NvjpegEncoder::set_quality(int quality, GpuError &error) {
  if (quality == quality_)
    return true;
  if (!check(api_.nvjpegEncoderParamsSetQuality(params_, quality, stream()),
             "nvjpegEncoderParamsSetQuality", error))
    return false;
  quality_ = quality;
  return true;
}

bool NvjpegEncoder::set_sampling(nvjpegChromaSubsampling_t sampling, GpuError &error) {
  if (sampling == sampling_)
    return true;
  if (!check(api_.nvjpegEncoderParamsSetSamplingFactors(params_, sampling, stream()),
             "nvjpegEncoderParamsSetSamplingFactors", error))
    return false;
  sampling_ = sampling;
  return true;
}

bool NvjpegEncoder::encode_yuv420(const nvjpegImage_t &planar, int width, int height,
                                  GpuError &error) {
  return check(api_.nvjpegEncodeYUV(handle_->get(), state_, params_, &planar, NVJPEG_CSS_420, width,
                                    height, stream()),
               "nvjpegEncodeYUV", error);
}

bool NvjpegEncoder::encode_nv12(const nvjpegImage_t &semi_planar, int width, int height,
                                GpuError &error) {
  return check(api_.nvjpegEncode(handle_->get(), state_, params_, &semi_planar, NVJPEG_CSS_420,
                                 NVJPEG_INPUT_NV12, width, height, stream()),
               "nvjpegEncode", error);
}

bool NvjpegEncoder::encode_rgb(const nvjpegImage_t &source, nvjpegInputFormat_t format, int width,
                               int height, GpuError &error) {
  return check(api_.nvjpegEncodeImage(handle_->get(), state_, params_, &source, format, width,
                                      height, stream()),
               "nvjpegEncodeImage", error);
}

bool NvjpegEncoder::retrieve(int width, int height, const guint8 *&data, size_t &size,
                             GpuError &error) {
  if (one_call_) {
    /* One call, one wait: the buffer holds the largest JPEG this size and
     * quality can give, so nvJPEG copies the bitstream at once (the length
     * it needs is read inside the call) and one synchronise makes it
     * visible. The bound is a host-side computation, redone only when the
     * size or quality changes. */
    if (width != bound_width_ || height != bound_height_ || quality_ != bound_quality_ ||
        sampling_ != bound_sampling_) {
      size_t bound = 0;
      if (!check(api_.nvjpegEncodeGetBufferSize(handle_->get(), params_, width, height, &bound),
                 "nvjpegEncodeGetBufferSize", error))
        return false;
      bound_ = bound;
      bound_width_ = width;
      bound_height_ = height;
      bound_quality_ = quality_;
      bound_sampling_ = sampling_;
    }
    if (bitstream_.size() < bound_ && !bitstream_.ensure(ctx_, bitstream_capacity(bound_), error))
      return false;
    size_t length = bitstream_.size();
    const nvjpegStatus_t status = api_.nvjpegEncodeRetrieveBitstream(
        handle_->get(), state_, bitstream_.data(), &length, stream());
    if (status == NVJPEG_STATUS_SUCCESS) {
      if (!check(CuStreamSynchronize(stream()), "cuStreamSynchronize", error))
        return false;
      data = bitstream_.data();
      size = length;
      return true;
    }
    if (status != NVJPEG_STATUS_INVALID_PARAMETER)
      return check(status, "nvjpegEncodeRetrieveBitstream", error);
    /* The library wanted more than its own bound: ask the length from now
     * on, starting with this frame (nothing was fetched). */
    one_call_ = false;
  }
  /* nvJPEG's documented sequence: ask the length, synchronise, fetch. The
   * fetch goes to pinned memory so it is one DMA, then a second synchronise
   * makes the bytes visible to the host. */
  size_t length = 0;
  if (!check(api_.nvjpegEncodeRetrieveBitstream(handle_->get(), state_, nullptr, &length, stream()),
             "nvjpegEncodeRetrieveBitstream", error) ||
      !check(CuStreamSynchronize(stream()), "cuStreamSynchronize", error))
    return false;
  if (bitstream_.size() < length && !bitstream_.ensure(ctx_, bitstream_capacity(length), error))
    return false;
  if (!check(api_.nvjpegEncodeRetrieveBitstream(handle_->get(), state_, bitstream_.data(), &length,
                                                stream()),
             "nvjpegEncodeRetrieveBitstream", error) ||
      !check(CuStreamSynchronize(stream()), "cuStreamSynchronize", error))
    return false;
  data = bitstream_.data();
  size = length;
  return true;
}

} // namespace gpurtsp
