// SPDX-License-Identifier: MIT
/* gpujpegenc: encoder slots shared by every gpujpegenc of a CUDA context.
 *
 * A camera encodes a few JPEGs a second, a fraction of a millisecond each, so
 * an encoder of its own (tens of MiB of nvJPEG state) would sit idle almost
 * always. Elements instead borrow a slot for one encode, copy the JPEG out
 * and give it back; a context holds at most max-encoders slots whatever the
 * number of cameras (docs/gpujpegenc.md). */
#pragma once

#include "jpegenc/jpegenc-frame.h"
#include "jpegenc/nvjpeg-encoder.h"
#include "core/session-pool.hpp"

#include <memory>
#include <string>

namespace gpurtsp {

/* Any slot serves any frame: sizes, formats and quality are per encode. */
struct AnyFrame {
  bool serves(const AnyFrame &) const { return true; }
};

/* Everything one encode uses on the device, reused by whichever element
 * borrows it next: nvJPEG's encoder (state, parameters, stream, pinned
 * bitstream buffer) and the scratch memory for uploads and 4:2:0 layouts,
 * which grows to the largest frame it has seen. */
class JpegEncodeSlot {
public:
  static std::unique_ptr<JpegEncodeSlot> create(GstCudaContext *ctx, const nvjpeg::Api &api,
                                                std::string &why);
  const AnyFrame &key() const { return key_; }

  NvjpegEncoder &encoder() { return *encoder_; }
  FrameUploader &uploader() { return uploader_; }
  Yuv420Planes &yuv420() { return yuv420_; }

private:
  explicit JpegEncodeSlot(std::unique_ptr<NvjpegEncoder> encoder) : encoder_(std::move(encoder)) {}

  const AnyFrame key_{};
  FrameUploader uploader_;
  Yuv420Planes yuv420_;
  /* Declared last, destroyed first: its destructor waits for its stream,
   * which uses the scratch memory, before that is freed. */
  std::unique_ptr<NvjpegEncoder> encoder_;
};

/* When the pool grows and shrinks (docs/gpujpegenc.md). An encode holds a
 * slot 0.15-0.6 ms (720p-1080p); a frame that waited 2 ms for one is behind
 * several others: the GPU is busy enough for another slot (34-52 MiB) to
 * pay. Cameras that merely overlap share one. Slots idle for 30 s go, down
 * to one; and one every 30 s while no frame waited, or would have waited
 * with a slot fewer, 1 ms (session-pool.hpp). */
inline constexpr SessionPoolPolicy kSlotPolicy = {
    .grow_after = std::chrono::milliseconds(2),
    .idle_timeout = std::chrono::seconds(30),
    .keep = 1,
};

/* The slots of one GstCudaContext. */
class JpegEncoderPool {
public:
  using Slots = SessionPool<AnyFrame, JpegEncodeSlot>;

  /* Returns the pool of @ctx, creating it on first use with at most
   * @max_slots slots (made as borrowers need them); a later caller asking
   * for more raises the cap. */
  static std::shared_ptr<JpegEncoderPool> get(GstCudaContext *ctx, const nvjpeg::Api &api,
                                              unsigned max_slots);
  ~JpegEncoderPool();
  JpegEncoderPool(const JpegEncoderPool &) = delete;
  JpegEncoderPool &operator=(const JpegEncoderPool &) = delete;

  Slots &slots() { return slots_; }

private:
  JpegEncoderPool(GstCudaContext *ctx, const nvjpeg::Api &api, unsigned max_slots);

  GstCudaContext *const ctx_; /* owned ref */
  Slots slots_;
};

} // namespace gpurtsp
