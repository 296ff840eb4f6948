#include "nvjpeg-encoder.h"

#include "weak-cache.hpp"

namespace gpurtsp {

using namespace nvjpeg;

namespace {

/* One handle per context while any encoder uses it. */
WeakCache<GstCudaContext *, NvjpegHandle> handle_cache;

bool check(nvjpegStatus_t status, const char *call, CallFailure &failure) {
  if (status == NVJPEG_STATUS_SUCCESS)
    return true;
  failure = {call, status_name(status)};
  return false;
}

bool check(CUresult result, const char *call, CallFailure &failure) {
  if (result == CUDA_SUCCESS)
    return true;
  failure = {call, cuda_error_name(result)};
  return false;
}

/* Bitstream buffer growth: a quarter of headroom in 64 KiB steps, so frames
 * that vary a little in size don't reallocate pinned memory. */
size_t bitstream_capacity(size_t length) {
  constexpr size_t step = 64 * 1024;
  return (length + length / 4 + step - 1) / step * step;
}

} // namespace

std::shared_ptr<NvjpegHandle> NvjpegHandle::get(GstCudaContext *ctx, const Api &api,
                                                CallFailure &failure) {
  return handle_cache.get(ctx, [&]() -> std::shared_ptr<NvjpegHandle> {
    CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      failure = {"cuCtxPushCurrent", "the CUDA context could not be made current"};
      return nullptr;
    }
    nvjpegHandle_t raw = nullptr;
    if (!check(api.nvjpegCreateSimple(&raw), "nvjpegCreateSimple", failure))
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
                                                     CallFailure &failure) {
  std::unique_ptr<NvjpegEncoder> encoder(
      new NvjpegEncoder(static_cast<GstCudaContext *>(gst_object_ref(ctx)), api));
  encoder->handle_ = NvjpegHandle::get(ctx, api, failure);
  if (!encoder->handle_ || !check(encoder->stream_.create(ctx), "cuStreamCreate", failure))
    return nullptr;

  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    failure = {"cuCtxPushCurrent", "the CUDA context could not be made current"};
    return nullptr;
  }
  const auto handle = encoder->handle_->get();
  const auto stream = encoder->stream();
  if (!check(api.nvjpegEncoderStateCreate(handle, &encoder->state_, stream),
             "nvjpegEncoderStateCreate", failure) ||
      !check(api.nvjpegEncoderParamsCreate(handle, &encoder->params_, stream),
             "nvjpegEncoderParamsCreate", failure) ||
      !check(api.nvjpegEncoderParamsSetSamplingFactors(encoder->params_, NVJPEG_CSS_420, stream),
             "nvjpegEncoderParamsSetSamplingFactors", failure))
    return nullptr;
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

bool NvjpegEncoder::set_quality(int quality, CallFailure &failure) {
  if (quality == quality_)
    return true;
  if (!check(api_.nvjpegEncoderParamsSetQuality(params_, quality, stream()),
             "nvjpegEncoderParamsSetQuality", failure))
    return false;
  quality_ = quality;
  return true;
}

bool NvjpegEncoder::encode_yuv420(const nvjpegImage_t &planar, int width, int height,
                                  CallFailure &failure) {
  return check(api_.nvjpegEncodeYUV(handle_->get(), state_, params_, &planar, NVJPEG_CSS_420, width,
                                    height, stream()),
               "nvjpegEncodeYUV", failure);
}

bool NvjpegEncoder::encode_nv12(const nvjpegImage_t &semi_planar, int width, int height,
                                CallFailure &failure) {
  return check(api_.nvjpegEncode(handle_->get(), state_, params_, &semi_planar, NVJPEG_CSS_420,
                                 NVJPEG_INPUT_NV12, width, height, stream()),
               "nvjpegEncode", failure);
}

bool NvjpegEncoder::encode_rgb(const nvjpegImage_t &source, nvjpegInputFormat_t format, int width,
                               int height, CallFailure &failure) {
  return check(api_.nvjpegEncodeImage(handle_->get(), state_, params_, &source, format, width,
                                      height, stream()),
               "nvjpegEncodeImage", failure);
}

bool NvjpegEncoder::retrieve(const guint8 *&data, size_t &size, CallFailure &failure) {
  /* nvJPEG's documented sequence: ask the length, synchronise, fetch. The
   * fetch goes to pinned memory so it is one DMA, then a second synchronise
   * makes the bytes visible to the host. */
  size_t length = 0;
  if (!check(api_.nvjpegEncodeRetrieveBitstream(handle_->get(), state_, nullptr, &length, stream()),
             "nvjpegEncodeRetrieveBitstream", failure) ||
      !check(CuStreamSynchronize(stream()), "cuStreamSynchronize", failure))
    return false;
  if (bitstream_.size() < length &&
      !check(bitstream_.ensure(ctx_, bitstream_capacity(length)), "cuMemAllocHost", failure))
    return false;
  if (!check(api_.nvjpegEncodeRetrieveBitstream(handle_->get(), state_, bitstream_.data(), &length,
                                                stream()),
             "nvjpegEncodeRetrieveBitstream", failure) ||
      !check(CuStreamSynchronize(stream()), "cuStreamSynchronize", failure))
    return false;
  data = bitstream_.data();
  size = length;
  return true;
}

} // namespace gpurtsp
