// SPDX-License-Identifier: MIT
#include "keyframedec/nvdec-session-pool.h"

#include "core/weak-cache.hpp"
#include "keyframedec/counting-frame-pool.h"

#include <algorithm>

GST_DEBUG_CATEGORY_STATIC(gpurtsp_nvdec_debug);
#define GST_CAT_DEFAULT gpurtsp_nvdec_debug

namespace gpurtsp {

namespace {

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(gpurtsp_nvdec_debug, "gpurtspnvdec", 0, "gpurtsp NVDEC sessions");
  });
}

const char *codec_name(cudaVideoCodec codec) {
  return codec == cudaVideoCodec_HEVC ? "H.265" : "H.264";
}

} // namespace

CUVIDDECODECREATEINFO nvdec_create_info(const NvdecFormat &format, bool intra_only,
                                        unsigned output_surfaces) {
  CUVIDDECODECREATEINFO info{};
  info.ulWidth = format.coded_width;
  info.ulHeight = format.coded_height;
  info.ulNumDecodeSurfaces = format.num_decode_surfaces;
  info.CodecType = format.codec;
  info.ChromaFormat = cudaVideoChromaFormat_420;
  info.ulCreationFlags = cudaVideoCreate_Default;
  info.bitDepthMinus8 = 0;
  info.ulIntraDecodeOnly = intra_only ? 1 : 0;
  info.display_area = {0, 0, static_cast<short>(format.coded_width),
                       static_cast<short>(format.coded_height)};
  info.OutputFormat = cudaVideoSurfaceFormat_NV12;
  info.DeinterlaceMode = cudaVideoDeinterlaceMode_Weave;
  /* The whole coded picture is mapped and each camera copies out its own
   * crop, so cameras with one coded size share sessions whatever they crop. */
  info.ulTargetWidth = format.coded_width;
  info.ulTargetHeight = format.coded_height;
  info.ulNumOutputSurfaces = output_surfaces;
  return info;
}

CUVIDPARSERPARAMS nvdec_keyframe_parser_params(cudaVideoCodec codec, void *user_data,
                                               PFNVIDSEQUENCECALLBACK on_sequence,
                                               PFNVIDDECODECALLBACK on_decode,
                                               PFNVIDDISPLAYCALLBACK on_display) {
  CUVIDPARSERPARAMS params{};
  params.CodecType = codec;
  params.ulMaxNumDecodeSurfaces = 1;
  params.ulErrorThreshold = 100;
  params.ulMaxDisplayDelay = 0;
  params.pUserData = user_data;
  params.pfnSequenceCallback = on_sequence;
  params.pfnDecodePicture = on_decode;
  params.pfnDisplayPicture = on_display;
  return params;
}

std::unique_ptr<PooledParser> PooledParser::create(const nvcuvid::Api *api, const ParserKey &key,
                                                   GpuError &error) {
  std::unique_ptr<PooledParser> parser(new PooledParser(api, key));
  CUVIDPARSERPARAMS params =
      nvdec_keyframe_parser_params(key.codec, parser.get(), &PooledParser::on_sequence,
                                   &PooledParser::on_decode, &PooledParser::on_display);
  if (!check(api->cuvidCreateVideoParser(&parser->parser_, &params), "cuvidCreateVideoParser",
             error)) {
    parser->parser_ = nullptr;
    return nullptr;
  }
  return parser;
}

PooledParser::~PooledParser() {
  if (parser_)
    api_->cuvidDestroyVideoParser(parser_);
}

bool PooledParser::parse(const ParserBorrower &borrower, const uint8_t *data, size_t size,
                         GpuError &error) {
  CUVIDSOURCEDATAPACKET packet{};
  /* One access unit: decoded without waiting for the next start code. */
  packet.flags = CUVID_PKT_ENDOFPICTURE;
  packet.payload = data;
  packet.payload_size = size;
  borrower_ = &borrower;
  sequence_told_ = false;
  const bool parsed =
      check(api_->cuvidParseVideoData(parser_, &packet), "cuvidParseVideoData", error);
  borrower_ = nullptr;
  return parsed;
}

int CUDAAPI PooledParser::on_sequence(void *user_data, CUVIDEOFORMAT *format) {
  auto self = static_cast<PooledParser *>(user_data);
  self->sequence_ = *format;
  self->have_sequence_ = true;
  self->sequence_told_ = true;
  return self->borrower_->on_sequence(self->borrower_->user_data, format);
}

int CUDAAPI PooledParser::on_decode(void *user_data, CUVIDPICPARAMS *params) {
  auto self = static_cast<PooledParser *>(user_data);
  const ParserBorrower &borrower = *self->borrower_;
  if (!self->sequence_told_ && self->have_sequence_) {
    /* The parser saw this sequence for an earlier borrower. */
    self->sequence_told_ = true;
    CUVIDEOFORMAT sequence = self->sequence_;
    if (!borrower.on_sequence(borrower.user_data, &sequence))
      return 0;
  }
  return borrower.on_decode(borrower.user_data, params);
}

std::unique_ptr<NvdecSession> NvdecSession::create(GstCudaContext *ctx, const nvcuvid::Api *api,
                                                   const NvdecFormat &format, GpuError &error) {
  std::unique_ptr<NvdecSession> session(new NvdecSession(ctx, api, format));
  if (!session->stream_.create(ctx, error))
    return nullptr;

  CUVIDDECODECREATEINFO info = nvdec_create_info(format, true);

  {
    CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      error = GpuError::context_push();
      return nullptr;
    }
    if (!check(api->cuvidCreateDecoder(&session->decoder_, &info), "cuvidCreateDecoder", error)) {
      session->decoder_ = nullptr;
      return nullptr;
    }
  }
  init_debug();
  GST_INFO("created NVDEC session %p: %s %ux%u, %u decode surfaces", session->decoder_,
           codec_name(format.codec), format.coded_width, format.coded_height,
           format.num_decode_surfaces);
  return session;
}

NvdecSession::~NvdecSession() {
  if (decoder_) {
    GST_INFO("destroying NVDEC session %p", decoder_);
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      api_->cuvidDestroyDecoder(decoder_);
  }
  gst_object_unref(ctx_);
}

bool NvdecSession::decode(CUVIDPICPARAMS *params, const CropRect &crop, GstVideoFrame *dst,
                          GpuError &error) {
  if (!check(api_->cuvidDecodePicture(decoder_, params), "cuvidDecodePicture", error))
    return false;

  CUVIDPROCPARAMS proc{};
  proc.progressive_frame = 1;
  proc.output_stream = stream_.get();
  unsigned long long surface = 0;
  unsigned int pitch = 0;
  if (!check(api_->cuvidMapVideoFrame64(decoder_, params->CurrPicIdx, &surface, &pitch, &proc),
             "cuvidMapVideoFrame64", error))
    return false;

  /* The mapped NV12 surface is target-sized (the coded size): luma rows, then
   * interleaved chroma rows from the (even) coded height on. */
  const CUdeviceptr chroma = surface + static_cast<CUdeviceptr>(pitch) * format_.coded_height;
  CUDA_MEMCPY2D copy{};
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcPitch = pitch;
  bool copied = true;
  for (guint plane = 0; plane < 2 && copied; plane++) {
    const unsigned row = plane == 0 ? crop.top : crop.top / 2;
    copy.srcDevice =
        (plane == 0 ? surface : chroma) + static_cast<CUdeviceptr>(row) * pitch + crop.left;
    copy.dstDevice = reinterpret_cast<CUdeviceptr>(GST_VIDEO_FRAME_PLANE_DATA(dst, plane));
    copy.dstPitch = GST_VIDEO_FRAME_PLANE_STRIDE(dst, plane);
    copy.WidthInBytes =
        GST_VIDEO_FRAME_COMP_WIDTH(dst, plane) * GST_VIDEO_FRAME_COMP_PSTRIDE(dst, plane);
    copy.Height = GST_VIDEO_FRAME_COMP_HEIGHT(dst, plane);
    copied = check(CuMemcpy2DAsync(&copy, stream_.get()), "cuMemcpy2DAsync", error);
  }
  copied = copied && check(CuStreamSynchronize(stream_.get()), "cuStreamSynchronize", error);
  /* Unmapped only once the copy is done: the surface is the session's. The
   * first failure is the one reported. */
  GpuError unmap_error;
  const bool unmapped =
      check(api_->cuvidUnmapVideoFrame64(decoder_, surface), "cuvidUnmapVideoFrame64", unmap_error);
  if (!copied)
    return false;
  if (!unmapped) {
    error = unmap_error;
    return false;
  }
  return true;
}

namespace {
/* One pool per context while any gpukeyframedec uses it. */
WeakCache<GstCudaContext *, NvdecSessionPool> pool_cache;

std::chrono::milliseconds frame_trim_window() {
  const char *value = g_getenv("GPURTSP_KEYFRAME_FRAME_TRIM_MS");
  if (!value)
    return kDefaultFrameTrimWindow;
  char *end = nullptr;
  const guint64 ms = g_ascii_strtoull(value, &end, 10);
  if (end == value || *end || ms < 1 || ms > 3600 * 1000) {
    GST_WARNING("GPURTSP_KEYFRAME_FRAME_TRIM_MS=%s is not 1 to 3600000: using %lld ms", value,
                static_cast<long long>(kDefaultFrameTrimWindow.count()));
    return kDefaultFrameTrimWindow;
  }
  return std::chrono::milliseconds(ms);
}
} // namespace

NvdecSessionPool::NvdecSessionPool(GstCudaContext *ctx, const nvcuvid::Api *api,
                                   unsigned max_sessions)
    : ctx_(static_cast<GstCudaContext *>(gst_object_ref(ctx))), api_(api),
      sessions_(
          max_sessions,
          [this](const NvdecFormat &wanted, std::string &why) {
            GpuError error;
            auto session = NvdecSession::create(ctx_, api_, wanted, error);
            if (!session)
              why = error.message();
            return session;
          },
          kSessionPolicy),
      parsers_(
          kMaxParsers,
          [this](const ParserKey &wanted, std::string &why) {
            GpuError error;
            auto parser = PooledParser::create(api_, wanted, error);
            if (!parser)
              why = error.message();
            return parser;
          },
          kParserPolicy),
      frame_trim_window_(frame_trim_window()) {}

NvdecSessionPool::~NvdecSessionPool() {
  for (auto &[size, frames] : output_frames_)
    retired_pools_.push_back(frames.pool);
  for (GstBufferPool *pool : retired_pools_) {
    gst_buffer_pool_set_active(pool, FALSE);
    gst_object_unref(pool);
  }
  gst_object_unref(ctx_);
}

GstBufferPool *NvdecSessionPool::new_output_pool(unsigned width, unsigned height,
                                                 std::string &why) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_NV12, width, height);
  GstCaps *caps = gst_video_info_to_caps(&info);
  gst_caps_set_features(caps, 0,
                        gst_caps_features_new(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, nullptr));
  GstBufferPool *pool = counting_frame_pool_new(ctx_);
  GstStructure *config = gst_buffer_pool_get_config(pool);
  /* Nothing preallocated: it grows to the most frames in flight at once,
   * up to the cap, and keeps them for the next keyframes. */
  gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(info.size), 0,
                                    kMaxFramesInFlight);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_caps_unref(caps);
  if (!gst_buffer_pool_set_config(pool, config) || !gst_buffer_pool_set_active(pool, TRUE)) {
    why = "the shared CUDA frame pool for " + std::to_string(width) + "x" + std::to_string(height) +
          " NV12 refused its configuration";
    gst_object_unref(pool);
    return nullptr;
  }
  return pool;
}

void NvdecSessionPool::prune_retired_pools() {
  std::erase_if(retired_pools_, [](GstBufferPool *pool) {
    if (counting_frame_pool_held(pool) > 0)
      return false;
    gst_object_unref(pool);
    return true;
  });
}

GstFlowReturn NvdecSessionPool::acquire_output_frame(unsigned width, unsigned height,
                                                     GstBuffer **frame, std::string &why) {
  std::lock_guard<std::mutex> guard(frames_lock_);
  const auto now = std::chrono::steady_clock::now();
  OutputFrames &frames = output_frames_[{width, height}];
  if (!frames.pool) {
    frames.pool = new_output_pool(width, height, why);
    if (!frames.pool) {
      output_frames_.erase({width, height});
      return GST_FLOW_ERROR;
    }
    frames.window_start = now;
    GST_INFO("shared %ux%u NV12 output frames for CUDA context %p", width, height, ctx_);
  } else if (now - frames.window_start >= frame_trim_window_) {
    const unsigned held = counting_frame_pool_held(frames.pool);
    if (held > frames.window_peak + kSpareOutputFrames) {
      std::string ignored;
      if (GstBufferPool *fresh = new_output_pool(width, height, ignored)) {
        GST_INFO("%ux%u output frames: %u held, at most %u in flight in the last %lld ms: "
                 "idle ones freed",
                 width, height, held, frames.window_peak,
                 static_cast<long long>(frame_trim_window_.count()));
        gst_buffer_pool_set_active(frames.pool, FALSE);
        retired_pools_.push_back(frames.pool);
        frames.pool = fresh;
      }
    }
    frames.window_start = now;
    frames.window_peak = counting_frame_pool_in_flight(frames.pool);
  }
  /* After any swap: a pool retired with nothing in flight is empty now. */
  prune_retired_pools();

  /* Waiting would stall this camera's streaming thread behind other
   * cameras' encoders; the caller drops the keyframe instead. */
  GstBufferPoolAcquireParams params = {};
  params.flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT;
  GstFlowReturn ret = gst_buffer_pool_acquire_buffer(frames.pool, frame, &params);
  if (ret == GST_FLOW_OK)
    frames.window_peak = std::max(frames.window_peak, counting_frame_pool_in_flight(frames.pool));
  return ret;
}

unsigned NvdecSessionPool::output_frames_held() {
  std::lock_guard<std::mutex> guard(frames_lock_);
  prune_retired_pools();
  unsigned held = 0;
  for (auto &[size, frames] : output_frames_)
    held += counting_frame_pool_held(frames.pool);
  for (GstBufferPool *pool : retired_pools_)
    held += counting_frame_pool_held(pool);
  return held;
}

std::shared_ptr<NvdecSessionPool>
NvdecSessionPool::get(GstCudaContext *ctx, const nvcuvid::Api *api, unsigned max_sessions) {
  init_debug();
  auto pool = pool_cache.get(ctx, [&] {
    GST_INFO("NVDEC session pool for CUDA context %p, at most %u sessions", ctx, max_sessions);
    return std::shared_ptr<NvdecSessionPool>(new NvdecSessionPool(ctx, api, max_sessions));
  });
  pool->sessions_.raise_max_sessions(max_sessions);
  return pool;
}

bool NvdecSessionPool::supports(const NvdecFormat &format, GpuError &error) {
  std::lock_guard<std::mutex> guard(caps_lock_);
  auto it = caps_.find(format.codec);
  if (it == caps_.end()) {
    CUVIDDECODECAPS caps{};
    caps.eCodecType = format.codec;
    caps.eChromaFormat = cudaVideoChromaFormat_420;
    caps.nBitDepthMinus8 = 0;
    CudaContextScope scope(ctx_);
    if (!scope.pushed()) {
      error = GpuError::context_push();
      return false;
    }
    if (!check(api_->cuvidGetDecoderCaps(&caps), "cuvidGetDecoderCaps", error))
      return false;
    it = caps_.emplace(format.codec, caps).first;
  }
  const CUVIDDECODECAPS &caps = it->second;
  if (!caps.bIsSupported) {
    error = {"", "",
             std::string("this GPU's NVDEC cannot decode 8-bit 4:2:0 ") + codec_name(format.codec)};
    return false;
  }
  const unsigned w = format.coded_width, h = format.coded_height;
  if (w < caps.nMinWidth || h < caps.nMinHeight || w > caps.nMaxWidth || h > caps.nMaxHeight ||
      w * h / 256 > caps.nMaxMBCount) {
    error = {"", "",
             std::string("coded size ") + std::to_string(w) + "x" + std::to_string(h) +
                 " is outside what NVDEC decodes (" + std::to_string(caps.nMinWidth) + "x" +
                 std::to_string(caps.nMinHeight) + " to " + std::to_string(caps.nMaxWidth) + "x" +
                 std::to_string(caps.nMaxHeight) + ", " + std::to_string(caps.nMaxMBCount) +
                 " macroblocks)"};
    return false;
  }
  return true;
}

} // namespace gpurtsp
