// SPDX-License-Identifier: MIT
#include "jpegenc/jpegenc-pool.h"

#include "core/weak-cache.hpp"

namespace gpurtsp {

std::unique_ptr<JpegEncodeSlot> JpegEncodeSlot::create(GstCudaContext *ctx, const nvjpeg::Api &api,
                                                       std::string &why) {
  GpuError error;
  auto encoder = NvjpegEncoder::create(ctx, api, error);
  if (!encoder) {
    why = error.message();
    return nullptr;
  }
  return std::unique_ptr<JpegEncodeSlot>(new JpegEncodeSlot(std::move(encoder)));
}

namespace {
/* One pool per context while any gpujpegenc uses it. */
WeakCache<GstCudaContext *, JpegEncoderPool> pool_cache;
} // namespace

JpegEncoderPool::JpegEncoderPool(GstCudaContext *ctx, const nvjpeg::Api &api, unsigned max_slots)
    : ctx_(static_cast<GstCudaContext *>(gst_object_ref(ctx))),
      slots_(
          max_slots,
          [this, &api](const AnyFrame &, std::string &why) {
            return JpegEncodeSlot::create(ctx_, api, why);
          },
          kSlotPolicy) {}

JpegEncoderPool::~JpegEncoderPool() {
  gst_object_unref(ctx_);
}

std::shared_ptr<JpegEncoderPool> JpegEncoderPool::get(GstCudaContext *ctx, const nvjpeg::Api &api,
                                                      unsigned max_slots) {
  auto pool = pool_cache.get(ctx, [&] {
    return std::shared_ptr<JpegEncoderPool>(new JpegEncoderPool(ctx, api, max_slots));
  });
  pool->slots_.raise_max_sessions(max_slots);
  return pool;
}

} // namespace gpurtsp
