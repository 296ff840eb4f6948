// SPDX-License-Identifier: MIT
/* gpurtsp: NVDEC decoder sessions shared by every gpukeyframedec of a CUDA
 * context.
 *
 * A keyframe needs no reference picture, so any session of the right codec and
 * coded size can decode any camera's keyframe: cameras borrow one session per
 * picture instead of owning one (docs/nvdec-sessions.md). */
#pragma once

#include "core/gpurtsp-cuda.h"
#include "keyframedec/nvcuvid-loader.h"
#include "core/session-pool.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gpurtsp {

/* What a session was created for; also what a picture needs. */
struct NvdecFormat {
  cudaVideoCodec codec = cudaVideoCodec_H264;
  unsigned coded_width = 0;
  unsigned coded_height = 0;
  /* Decode surfaces: the parser's picture indices run below this. */
  unsigned num_decode_surfaces = 0;

  bool serves(const NvdecFormat &wanted) const {
    return codec == wanted.codec && coded_width == wanted.coded_width &&
           coded_height == wanted.coded_height && num_decode_surfaces >= wanted.num_decode_surfaces;
  }
};

/* The create info of an 8-bit 4:2:0 decoder for @format with NV12 output of
 * the whole coded picture. @intra_only: keyframes only, so no motion-vector
 * buffers (what the shared sessions use; the NVDEC probe compares both). */
CUVIDDECODECREATEINFO nvdec_create_info(const NvdecFormat &format, bool intra_only,
                                        unsigned output_surfaces = 1);

/* Parser parameters for decoding keyframes as soon as they are parsed: the
 * sequence callback raises the surface count, and skipped delta frames must
 * not make the parser give up (a high error threshold). */
CUVIDPARSERPARAMS nvdec_keyframe_parser_params(cudaVideoCodec codec, void *user_data,
                                               PFNVIDSEQUENCECALLBACK on_sequence,
                                               PFNVIDDECODECALLBACK on_decode,
                                               PFNVIDDISPLAYCALLBACK on_display);

/* What a pooled parser is made for: any parser of the codec serves. */
struct ParserKey {
  cudaVideoCodec codec = cudaVideoCodec_H264;
  bool serves(const ParserKey &wanted) const { return codec == wanted.codec; }
};

/* The callbacks of the instance a pooled parser parses for. */
struct ParserBorrower {
  void *user_data = nullptr;
  PFNVIDSEQUENCECALLBACK on_sequence = nullptr;
  PFNVIDDECODECALLBACK on_decode = nullptr;
};

/* A cuvid parser (CPU only) that parses one access unit at a time for
 * whichever gpukeyframedec borrowed it, instead of one parser per camera
 * (an H.265 parser holds ~3.1 MiB, an H.264 one ~0.8: docs/scale.md). The
 * access unit must carry its camera's parameter sets (ParameterSetCache).
 * The parser calls its sequence callback only when the sequence changes, so
 * a borrower whose picture has the sequence an earlier borrower announced
 * is told it before its first picture. */
class PooledParser {
public:
  static std::unique_ptr<PooledParser> create(const nvcuvid::Api *api, const ParserKey &key,
                                              GpuError &error);
  ~PooledParser();
  PooledParser(const PooledParser &) = delete;
  PooledParser &operator=(const PooledParser &) = delete;

  const ParserKey &key() const { return key_; }

  /* Parses the access unit @data for @borrower, whose callbacks run on this
   * thread before it returns. */
  bool parse(const ParserBorrower &borrower, const uint8_t *data, size_t size, GpuError &error);

private:
  PooledParser(const nvcuvid::Api *api, const ParserKey &key) : api_(api), key_(key) {}
  static int CUDAAPI on_sequence(void *self, CUVIDEOFORMAT *format);
  static int CUDAAPI on_decode(void *self, CUVIDPICPARAMS *params);
  static int CUDAAPI on_display(void *, CUVIDPARSERDISPINFO *) { return 1; }

  const nvcuvid::Api *const api_;
  const ParserKey key_;
  CUvideoparser parser_ = nullptr;
  /* During parse() only. */
  const ParserBorrower *borrower_ = nullptr;
  bool sequence_told_ = false; /* the borrower knows the parser's sequence */
  /* The sequence the parser last announced, and whether there was one. */
  CUVIDEOFORMAT sequence_{};
  bool have_sequence_ = false;
};

/* Parsers of a context: one per keyframe being parsed at once, up to this
 * many of all codecs (a keyframe holds its parser while it waits for a
 * session: 32 is 4 per session at the default cap); idle ones go after a
 * minute, down to one. */
inline constexpr unsigned kMaxParsers = 32;
inline constexpr SessionPoolPolicy kParserPolicy = {
    .grow_after = std::chrono::microseconds(0),
    .idle_timeout = std::chrono::seconds(60),
    .keep = 1,
};

/* The displayed part of a coded picture (even left/top, as 4:2:0 crops are). */
struct CropRect {
  unsigned left = 0, top = 0, width = 0, height = 0;
};

/* One NVDEC decoder (8-bit 4:2:0, intra pictures only, one output surface)
 * with its own CUDA stream. Used by one borrower at a time; decode() needs
 * the session's context current. */
class NvdecSession {
public:
  /* Creates a decoder for @format in @ctx; nullptr and @error on failure. */
  static std::unique_ptr<NvdecSession> create(GstCudaContext *ctx, const nvcuvid::Api *api,
                                              const NvdecFormat &format, GpuError &error);
  ~NvdecSession();
  NvdecSession(const NvdecSession &) = delete;
  NvdecSession &operator=(const NvdecSession &) = delete;

  const NvdecFormat &key() const { return format_; }

  /* Decodes the intra picture @params (from a parser whose indices fit this
   * session) and copies its @crop into the NV12 @dst, mapped for CUDA. On
   * failure @error names the failed call. */
  bool decode(CUVIDPICPARAMS *params, const CropRect &crop, GstVideoFrame *dst, GpuError &error);

private:
  NvdecSession(GstCudaContext *ctx, const nvcuvid::Api *api, const NvdecFormat &format)
      : ctx_(static_cast<GstCudaContext *>(gst_object_ref(ctx))), api_(api), format_(format) {}

  GstCudaContext *const ctx_; /* owned ref */
  const nvcuvid::Api *const api_;
  const NvdecFormat format_;
  CUvideodecoder decoder_ = nullptr;
  CudaStream stream_;
};

/* When the pool grows and shrinks (docs/nvdec-sessions.md). A keyframe holds
 * a session ~0.85 ms (720p); one that waited 5 ms for a session of its format
 * is behind several others, and only then is another session (7.6 MiB, 50 ms
 * to create) made. A format no session serves gets one at once. Sessions
 * idle for 60 s go, down to one; and one a minute while no keyframe waited,
 * or would have waited with a session fewer, 2.5 ms (session-pool.hpp). */
inline constexpr SessionPoolPolicy kSessionPolicy = {
    .grow_after = std::chrono::milliseconds(5),
    .idle_timeout = std::chrono::seconds(60),
    .keep = 1,
};

/* The most shared output frames of one size in flight at once (88 MiB at
 * 720p, 200 MiB at 1080p). Frames wait downstream only while encoders fall
 * behind (1,000 cameras at 1 keyframe/s keep ~22 in flight); past the cap a
 * keyframe is dropped and counted, not queued in VRAM: at 2,000 cameras an
 * uncapped pool grew to one frame per camera. */
inline constexpr unsigned kMaxFramesInFlight = 64;

/* GstBufferPool frees nothing while active, so the shared frames would stay
 * at the most ever in flight (64 after one burst: 88 MiB at 720p). Over
 * each window (60 s; GPURTSP_KEYFRAME_FRAME_TRIM_MS) the pool of a size
 * notes the most frames in flight at once; holding more than that plus
 * kSpareOutputFrames at the window's end, it is swapped for a new one and
 * deactivated: its idle frames are freed, the rest when they come back. */
inline constexpr unsigned kSpareOutputFrames = 4;
inline constexpr std::chrono::milliseconds kDefaultFrameTrimWindow = std::chrono::seconds(60);

/* The sessions of one GstCudaContext, shared by all its gpukeyframedecs. */
class NvdecSessionPool {
public:
  using Sessions = SessionPool<NvdecFormat, NvdecSession>;
  using Parsers = SessionPool<ParserKey, PooledParser>;

  /* Returns the pool of @ctx, creating it on first use with at most
   * @max_sessions sessions; a later caller asking for more raises the cap. */
  static std::shared_ptr<NvdecSessionPool> get(GstCudaContext *ctx, const nvcuvid::Api *api,
                                               unsigned max_sessions);
  ~NvdecSessionPool();
  NvdecSessionPool(const NvdecSessionPool &) = delete;
  NvdecSessionPool &operator=(const NvdecSessionPool &) = delete;

  Sessions &sessions() { return sessions_; }
  Parsers &parsers() { return parsers_; }
  GstCudaContext *context() const { return ctx_; }

  /* Whether the GPU decodes @format (8-bit 4:2:0); @error says why not:
   * a failed cuvidGetDecoderCaps (or context push), or no failed call and
   * what the GPU lacks. */
  bool supports(const NvdecFormat &format, GpuError &error);

  /* Acquires, without waiting, an NV12 @width x @height CUDA frame from the
   * frames every gpukeyframedec of the context decodes into: frames return
   * when downstream lets go, so VRAM follows the frames in flight, not the
   * cameras. GST_FLOW_EOS when kMaxFramesInFlight of them are downstream;
   * GST_FLOW_ERROR and @why when the frames cannot be set up. */
  GstFlowReturn acquire_output_frame(unsigned width, unsigned height, GstBuffer **frame,
                                     std::string &why);
  /* Frames allocated and not yet freed, all sizes. */
  unsigned output_frames_held();

private:
  NvdecSessionPool(GstCudaContext *ctx, const nvcuvid::Api *api, unsigned max_sessions);

  GstCudaContext *const ctx_; /* owned ref */
  const nvcuvid::Api *const api_;
  Sessions sessions_;
  Parsers parsers_;
  std::mutex caps_lock_;
  std::map<cudaVideoCodec, CUVIDDECODECAPS> caps_; /* guarded by caps_lock_ */

  struct OutputFrames {
    GstBufferPool *pool = nullptr; /* owned ref, active */
    std::chrono::steady_clock::time_point window_start;
    unsigned window_peak = 0; /* most in flight at once since window_start */
  };
  GstBufferPool *new_output_pool(unsigned width, unsigned height, std::string &why);
  void prune_retired_pools();

  const std::chrono::milliseconds frame_trim_window_;
  std::mutex frames_lock_;
  /* Guarded by frames_lock_. Every pool is deactivated by the destructor:
   * frames still downstream then free themselves on return. */
  std::map<std::pair<unsigned, unsigned>, OutputFrames> output_frames_;
  /* Swapped-out pools, inactive, until their last frame is freed. */
  std::vector<GstBufferPool *> retired_pools_;
};

} // namespace gpurtsp
