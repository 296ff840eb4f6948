// SPDX-License-Identifier: MIT
/**
 * SECTION:element-gpukeyframedec
 * @title: gpukeyframedec
 *
 * Decodes only the keyframes of H.264 / H.265 streams, on NVDEC sessions
 * shared by every instance of a CUDA context.
 *
 * A keyframe references no other picture, so a camera needs no decoder of its
 * own: each instance keeps its camera's parameter sets, borrows a CPU-only
 * cuvid parser per keyframe from a pool of the context (or keeps one of its
 * own with #GstGpuKeyframeDec:share-parsers off), and borrows a pooled NVDEC
 * session per keyframe to decode, map and copy it into an NV12 CUDA buffer.
 * Whole access units in byte-stream form are all it needs: after an RTP
 * depayloader, no parser element is required. Delta units are always
 * dropped: without their references a shared session could not decode them.
 * A keyframe that finds every session (or shared parser) busy for
 * #GstGpuKeyframeDec:session-timeout is dropped.
 *
 * libnvcuvid is loaded at run time; without it the element is not registered
 * and the plugin says why.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://camera/stream ! rtph264depay ! \
 *     video/x-h264,stream-format=byte-stream,alignment=au ! gpukeyframedec ! \
 *     gpujpegenc ! multifilesink location=keyframe-%05d.jpg
 * ]|
 */
#include "keyframedec/gstgpukeyframedec.h"

#include <gpurtsp/gpukeyframedec.hpp>

#include "core/gpurtsp-cuda.h"
#include "core/pool-stats.h"
#include "keyframedec/nvdec-session-pool.h"
#include "keyframedec/parameter-sets.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(gst_gpu_keyframe_dec_debug);
#define GST_CAT_DEFAULT gst_gpu_keyframe_dec_debug

using gpurtsp::NvdecFormat;
using gpurtsp::NvdecSessionPool;
namespace property = gpurtsp::gpukeyframedec::property;
namespace stats_field = gpurtsp::gpukeyframedec::stats_field;
namespace nvcuvid = gpurtsp::nvcuvid;

enum {
  PROP_0,
  PROP_CUDA_DEVICE_ID,
  PROP_MAX_SESSIONS,
  PROP_SESSION_TIMEOUT,
  PROP_SHARE_PARSERS,
  PROP_STATS,
};

/* One session per NVDEC engine (an H100 has 7) plus one. */
constexpr guint kDefaultMaxSessions = 8;
/* A keyframe waiting longer is dropped: the camera's next one is due. */
constexpr guint kDefaultSessionTimeoutMs = 1000;
/* A parser per camera is 0.76 MiB of RSS for H.264 and 3.1 MiB for H.265;
 * shared, 1,000 cameras measured 0.98 / 1.07 MiB a camera in all on an H100
 * host, decoding as many keyframes (docs/nvdec-sessions.md). */
constexpr gboolean kDefaultShareParsers = TRUE;

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-h264, stream-format = (string) byte-stream, alignment = (string) au; "
                    "video/x-h265, stream-format = (string) byte-stream, alignment = (string) au"));

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE_WITH_FEATURES(
                                GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, "NV12")));

namespace {

/* What the streaming thread uses, built in start() and set_format(),
 * dropped in stop(). */
struct StreamState {
  StreamState() = default;
  ~StreamState() { g_clear_pointer(&input_state, gst_video_codec_state_unref); }
  StreamState(const StreamState &) = delete;
  StreamState &operator=(const StreamState &) = delete;

  /* With share-parsers the parser is borrowed per keyframe from the pool,
   * else this instance's own; the camera's parameter sets are kept here and
   * go with every keyframe either way. */
  bool share_parsers = kDefaultShareParsers;
  std::unique_ptr<gpurtsp::PooledParser> own_parser;
  bool have_codec = false;
  cudaVideoCodec codec = cudaVideoCodec_H264;
  gpurtsp::ParameterSetCache parameter_sets{gpurtsp::ParameterSetCache::Codec::H264};
  std::vector<uint8_t> access_unit; /* a keyframe with parameter sets put back */
  GstVideoCodecState *input_state = nullptr;
  std::chrono::milliseconds session_timeout{kDefaultSessionTimeoutMs};

  /* From the parser's sequence callback. */
  NvdecFormat format;
  gpurtsp::CropRect crop;
  guint32 vui = 0; /* the colour description the output caps were made from */
  bool have_output = false;

  /* The keyframe being parsed, and what its callbacks made of it. */
  GstVideoCodecFrame *frame = nullptr;
  GstFlowReturn flow = GST_FLOW_OK;
};

} // namespace

struct GstGpuKeyframeDecPrivate {
  /* cuda-device-id and the CUDA context; its lock is never held with ours. */
  gpurtsp::CudaElementCore cuda;

  std::mutex settings_lock;
  guint max_sessions = kDefaultMaxSessions;            /* guarded by settings_lock */
  guint session_timeout_ms = kDefaultSessionTimeoutMs; /* guarded by settings_lock */
  gboolean share_parsers = kDefaultShareParsers;       /* guarded by settings_lock */

  const nvcuvid::Api *api = nullptr; /* loaded in open() */

  /* Streaming thread only (between start() and stop()). */
  std::unique_ptr<StreamState> state;

  /* Made in set_format(), dropped in stop(). The streaming thread reads it
   * without the lock; it takes pool_lock to change it, so the stats property
   * can read it from any thread. */
  std::mutex pool_lock;
  std::shared_ptr<NvdecSessionPool> pool;

  std::atomic<guint64> decoded{0};
  std::atomic<guint64> dropped_delta{0};
  std::atomic<guint64> dropped_non_intra{0};
  std::atomic<guint64> dropped_busy{0};
};

struct _GstGpuKeyframeDec {
  GstVideoDecoder parent;
  GstGpuKeyframeDecPrivate *priv;
};

G_DEFINE_TYPE(GstGpuKeyframeDec, gst_gpu_keyframe_dec, GST_TYPE_VIDEO_DECODER)

static void gst_gpu_keyframe_dec_finalize(GObject *object) {
  auto self = GST_GPU_KEYFRAME_DEC(object);
  delete self->priv;
  G_OBJECT_CLASS(gst_gpu_keyframe_dec_parent_class)->finalize(object);
}

static GstStructure *gst_gpu_keyframe_dec_stats(GstGpuKeyframeDec *self) {
  auto priv = self->priv;
  GstStructure *s = gst_structure_new(
      stats_field::kName, stats_field::kDecoded, G_TYPE_UINT64, priv->decoded.load(),
      stats_field::kDroppedDelta, G_TYPE_UINT64, priv->dropped_delta.load(),
      stats_field::kDroppedNonIntra, G_TYPE_UINT64, priv->dropped_non_intra.load(),
      stats_field::kDroppedBusy, G_TYPE_UINT64, priv->dropped_busy.load(), nullptr);
  std::lock_guard<std::mutex> lk(priv->pool_lock);
  if (priv->pool) {
    gpurtsp::set_pool_stats(s, priv->pool->sessions().stats(),
                            static_cast<unsigned>(priv->pool.use_count()));
    gst_structure_set(s, stats_field::kPoolOutputFrames, G_TYPE_UINT64,
                      static_cast<guint64>(priv->pool->output_frames_held()),
                      stats_field::kPoolParsers, G_TYPE_UINT64,
                      static_cast<guint64>(priv->pool->parsers().stats().sessions), nullptr);
  }
  return s;
}

static void gst_gpu_keyframe_dec_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec) {
  auto priv = GST_GPU_KEYFRAME_DEC(object)->priv;
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.set_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> lk(priv->settings_lock);
  switch (prop_id) {
  case PROP_MAX_SESSIONS:
    priv->max_sessions = g_value_get_uint(value);
    break;
  case PROP_SESSION_TIMEOUT:
    priv->session_timeout_ms = g_value_get_uint(value);
    break;
  case PROP_SHARE_PARSERS:
    priv->share_parsers = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_gpu_keyframe_dec_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec) {
  auto self = GST_GPU_KEYFRAME_DEC(object);
  auto priv = self->priv;
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, gst_gpu_keyframe_dec_stats(self));
    return;
  }
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.get_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> lk(priv->settings_lock);
  switch (prop_id) {
  case PROP_MAX_SESSIONS:
    g_value_set_uint(value, priv->max_sessions);
    break;
  case PROP_SESSION_TIMEOUT:
    g_value_set_uint(value, priv->session_timeout_ms);
    break;
  case PROP_SHARE_PARSERS:
    g_value_set_boolean(value, priv->share_parsers);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_gpu_keyframe_dec_set_context(GstElement *element, GstContext *context) {
  GST_GPU_KEYFRAME_DEC(element)->priv->cuda.set_context(element, context);
  GST_ELEMENT_CLASS(gst_gpu_keyframe_dec_parent_class)->set_context(element, context);
}

static bool gst_gpu_keyframe_dec_load_api(GstGpuKeyframeDec *self) {
  std::string why;
  self->priv->api = nvcuvid::api(why);
  if (!self->priv->api)
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, (nullptr), ("%s", why.c_str()));
  return self->priv->api != nullptr;
}

static gboolean gst_gpu_keyframe_dec_open(GstVideoDecoder *decoder) {
  auto self = GST_GPU_KEYFRAME_DEC(decoder);
  return gst_gpu_keyframe_dec_load_api(self) && self->priv->cuda.open(GST_ELEMENT(self));
}

static gboolean gst_gpu_keyframe_dec_close(GstVideoDecoder *decoder) {
  GST_GPU_KEYFRAME_DEC(decoder)->priv->cuda.close();
  return TRUE;
}

static gboolean gst_gpu_keyframe_dec_start(GstVideoDecoder *decoder) {
  auto priv = GST_GPU_KEYFRAME_DEC(decoder)->priv;
  priv->state = std::make_unique<StreamState>();
  priv->decoded = 0;
  priv->dropped_delta = 0;
  priv->dropped_non_intra = 0;
  priv->dropped_busy = 0;
  return TRUE;
}

static gboolean gst_gpu_keyframe_dec_stop(GstVideoDecoder *decoder) {
  auto priv = GST_GPU_KEYFRAME_DEC(decoder)->priv;
  priv->state.reset();
  std::lock_guard<std::mutex> lk(priv->pool_lock);
  priv->pool.reset();
  return TRUE;
}

/* Output caps: the displayed size, variable frame rate (keyframes only), the
 * colour description of the stream's VUI where it has one. */
static bool gst_gpu_keyframe_dec_update_output(GstGpuKeyframeDec *self, const CUVIDEOFORMAT *format,
                                               const gpurtsp::CropRect &crop) {
  StreamState &st = *self->priv->state;
  auto decoder = GST_VIDEO_DECODER(self);
  GstVideoCodecState *state = gst_video_decoder_set_output_state(
      decoder, GST_VIDEO_FORMAT_NV12, crop.width, crop.height, st.input_state);
  GstVideoInfo *info = &state->info;
  info->fps_n = 0;
  info->fps_d = 1;
  const auto &vui = format->video_signal_description;
  GstVideoColorimetry *color = &info->colorimetry;
  color->range =
      vui.video_full_range_flag ? GST_VIDEO_COLOR_RANGE_0_255 : GST_VIDEO_COLOR_RANGE_16_235;
  if (auto matrix = gst_video_color_matrix_from_iso(vui.matrix_coefficients);
      matrix != GST_VIDEO_COLOR_MATRIX_UNKNOWN)
    color->matrix = matrix;
  if (auto transfer = gst_video_transfer_function_from_iso(vui.transfer_characteristics);
      transfer != GST_VIDEO_TRANSFER_UNKNOWN)
    color->transfer = transfer;
  if (auto primaries = gst_video_color_primaries_from_iso(vui.color_primaries);
      primaries != GST_VIDEO_COLOR_PRIMARIES_UNKNOWN)
    color->primaries = primaries;
  state->caps = gst_video_info_to_caps(info);
  gst_caps_set_features(state->caps, 0,
                        gst_caps_features_new(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, nullptr));
  gst_video_codec_state_unref(state);
  return gst_video_decoder_negotiate(decoder);
}

/* Parser callback: a (new) sequence header. Returns the number of picture
 * indices the parser may use: the decode surfaces a session needs. */
static int gst_gpu_keyframe_dec_on_sequence(void *user_data, CUVIDEOFORMAT *format) {
  auto self = GST_GPU_KEYFRAME_DEC(user_data);
  auto priv = self->priv;
  StreamState &st = *priv->state;
  if (format->chroma_format != cudaVideoChromaFormat_420 || format->bit_depth_luma_minus8 ||
      format->bit_depth_chroma_minus8) {
    GST_ELEMENT_ERROR(
        self, STREAM, NOT_IMPLEMENTED, ("gpukeyframedec decodes 8-bit 4:2:0 video only"),
        ("stream has %u-bit luma, chroma format %d", 8u + format->bit_depth_luma_minus8,
         static_cast<int>(format->chroma_format)));
    st.flow = GST_FLOW_NOT_NEGOTIATED;
    return 0;
  }

  NvdecFormat wanted;
  wanted.codec = st.codec;
  wanted.coded_width = format->coded_width;
  wanted.coded_height = format->coded_height;
  wanted.num_decode_surfaces = MAX(1u, format->min_num_decode_surfaces);
  gpurtsp::GpuError error;
  if (!priv->pool->supports(wanted, error)) {
    GST_ELEMENT_ERROR(self, STREAM, NOT_IMPLEMENTED, ("Stream not decodable by NVDEC"),
                      ("%s", error.message().c_str()));
    st.flow = GST_FLOW_NOT_NEGOTIATED;
    return 0;
  }

  const auto &area = format->display_area;
  gpurtsp::CropRect crop;
  /* 4:2:0 crops start on even rows and columns; clamp to the coded size. */
  crop.left = static_cast<unsigned>(CLAMP(area.left, 0, (int)format->coded_width)) & ~1u;
  crop.top = static_cast<unsigned>(CLAMP(area.top, 0, (int)format->coded_height)) & ~1u;
  const int right = CLAMP(area.right, (int)crop.left, (int)format->coded_width);
  const int bottom = CLAMP(area.bottom, (int)crop.top, (int)format->coded_height);
  crop.width = right - crop.left;
  crop.height = bottom - crop.top;
  if (crop.width == 0 || crop.height == 0) {
    GST_ELEMENT_ERROR(self, STREAM, DECODE, ("Invalid picture size"),
                      ("display area %d,%d-%d,%d of a %ux%u picture", area.left, area.top,
                       area.right, area.bottom, format->coded_width, format->coded_height));
    st.flow = GST_FLOW_ERROR;
    return 0;
  }

  GST_INFO_OBJECT(self, "sequence: coded %ux%u, shown %ux%u at %u,%u, %u decode surfaces",
                  wanted.coded_width, wanted.coded_height, crop.width, crop.height, crop.left,
                  crop.top, wanted.num_decode_surfaces);
  guint32 vui;
  static_assert(sizeof(vui) == sizeof(format->video_signal_description));
  memcpy(&vui, &format->video_signal_description, sizeof(vui));
  const bool output_changed = !st.have_output || crop.width != st.crop.width ||
                              crop.height != st.crop.height || vui != st.vui;
  st.format = wanted;
  st.crop = crop;
  st.vui = vui;
  if (output_changed) {
    if (!gst_gpu_keyframe_dec_update_output(self, format, crop)) {
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                        ("downstream refused NV12 CUDA memory of %ux%u", crop.width, crop.height));
      st.flow = GST_FLOW_NOT_NEGOTIATED;
      return 0;
    }
    st.have_output = true;
  }
  return static_cast<int>(wanted.num_decode_surfaces);
}

/* Parser callback: a picture is ready to decode. Only intra frame pictures
 * get a session; the rest are skipped. */
static int gst_gpu_keyframe_dec_on_decode(void *user_data, CUVIDPICPARAMS *params) {
  auto self = GST_GPU_KEYFRAME_DEC(user_data);
  auto priv = self->priv;
  StreamState &st = *priv->state;
  GstVideoCodecFrame *frame = st.frame;
  if (!frame || !st.have_output)
    return 1;
  if (params->field_pic_flag) {
    GST_ELEMENT_ERROR(self, STREAM, NOT_IMPLEMENTED,
                      ("Field-coded (interlaced) pictures are not supported"),
                      ("use nvh264dec / nvh265dec for interlaced cameras"));
    st.flow = GST_FLOW_NOT_SUPPORTED;
    return 0;
  }
  if (!params->intra_pic_flag || frame->output_buffer) {
    /* A "keyframe" with inter slices (recovery point) or a second picture
     * in one access unit: neither decodes on a shared session. */
    priv->dropped_non_intra++;
    GST_DEBUG_OBJECT(self, "skipping a picture that is not a lone intra picture");
    return 1;
  }

  NvdecSessionPool::Sessions::Lease session;
  std::string why;
  switch (priv->pool->sessions().acquire(st.format, st.session_timeout, session, why)) {
  case NvdecSessionPool::Sessions::Status::Ok:
    break;
  case NvdecSessionPool::Sessions::Status::Timeout:
    priv->dropped_busy++;
    GST_WARNING_OBJECT(self, "no NVDEC session free within %lld ms, keyframe dropped",
                       static_cast<long long>(st.session_timeout.count()));
    return 1;
  case NvdecSessionPool::Sessions::Status::Failed:
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("No NVDEC session"), ("%s", why.c_str()));
    st.flow = GST_FLOW_ERROR;
    return 0;
  }

  /* From the frames every instance shares, not a pool per camera: a camera
   * costs VRAM only while its frame is in flight. Taken once a session is,
   * so cameras waiting for one hold no frame. */
  GstFlowReturn ret =
      priv->pool->acquire_output_frame(st.crop.width, st.crop.height, &frame->output_buffer, why);
  if (ret == GST_FLOW_ERROR) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("No CUDA frame pool"), ("%s", why.c_str()));
    st.flow = GST_FLOW_ERROR;
    return 0;
  }
  if (ret == GST_FLOW_EOS) {
    priv->dropped_busy++;
    GST_WARNING_OBJECT(self, "%u shared output frames already downstream, keyframe dropped",
                       gpurtsp::kMaxFramesInFlight);
    return 1;
  }
  if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT(self, "no output buffer: %s", gst_flow_get_name(ret));
    st.flow = ret;
    return 0;
  }

  /* decode() copies on the session's stream and synchronises it before
   * returning, so the frame is complete when pushed: what GStreamer 1.22's
   * consumers assume, and under 1.24+'s rules (memory may carry a stream
   * and NEED_SYNC) there is nothing left for a consumer to wait for. The
   * shared frame pool has no stream, so its memory carries none either. */
  gpurtsp::GpuError error;
  bool ok;
  {
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_NV12, st.crop.width, st.crop.height);
    gpurtsp::MappedVideoFrame out;
    if (const char *problem =
            out.map_cuda(frame->output_buffer, info, GST_MAP_WRITE, priv->pool->context())) {
      GST_ELEMENT_ERROR(self, RESOURCE, WRITE, (nullptr),
                        ("cannot map the output buffer for CUDA: %s", problem));
      st.flow = GST_FLOW_ERROR;
      return 0;
    }
    ok = session->decode(params, st.crop, out.frame(), error);
  }
  if (!ok) {
    /* A session that failed once is not trusted again. */
    session.discard();
    gst_clear_buffer(&frame->output_buffer);
    GST_VIDEO_DECODER_ERROR(self, 1, STREAM, DECODE, ("Keyframe decoding failed"),
                            ("%s", error.message().c_str()), st.flow);
    return st.flow == GST_FLOW_OK ? 1 : 0;
  }
  priv->decoded++;
  return 1;
}

static gboolean gst_gpu_keyframe_dec_set_format(GstVideoDecoder *decoder,
                                                GstVideoCodecState *state) {
  auto self = GST_GPU_KEYFRAME_DEC(decoder);
  auto priv = self->priv;
  StreamState &st = *priv->state;
  GstStructure *s = gst_caps_get_structure(state->caps, 0);
  /* The parsers say what the SPS holds; refuse early what NVDEC output in
   * NV12 cannot carry (the sequence callback checks again without them). */
  const char *chroma = gst_structure_get_string(s, "chroma-format");
  guint depth = 8;
  gst_structure_get_uint(s, "bit-depth-luma", &depth);
  if ((chroma && strcmp(chroma, "4:2:0") != 0) || depth != 8) {
    GST_ELEMENT_ERROR(self, STREAM, NOT_IMPLEMENTED,
                      ("gpukeyframedec decodes 8-bit 4:2:0 video only"),
                      ("stream is %u-bit %s", depth, chroma ? chroma : "4:2:0"));
    return FALSE;
  }
  const cudaVideoCodec codec =
      gst_structure_has_name(s, "video/x-h265") ? cudaVideoCodec_HEVC : cudaVideoCodec_H264;
  g_clear_pointer(&st.input_state, gst_video_codec_state_unref);
  st.input_state = gst_video_codec_state_ref(state);

  guint max_sessions;
  {
    std::lock_guard<std::mutex> lk(priv->settings_lock);
    max_sessions = priv->max_sessions;
    st.session_timeout = std::chrono::milliseconds(priv->session_timeout_ms);
    st.share_parsers = priv->share_parsers;
  }
  if (!priv->pool) {
    GstCudaContext *ctx = priv->cuda.context();
    if (!ctx) {
      GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (nullptr), ("no CUDA context"));
      return FALSE;
    }
    auto pool = NvdecSessionPool::get(ctx, priv->api, max_sessions);
    std::lock_guard<std::mutex> lk(priv->pool_lock);
    priv->pool = std::move(pool);
  }

  if (st.have_codec && codec == st.codec)
    return TRUE;
  st.have_codec = true;
  st.codec = codec;
  st.have_output = false;
  st.own_parser.reset();
  st.parameter_sets = gpurtsp::ParameterSetCache(codec == cudaVideoCodec_HEVC
                                                     ? gpurtsp::ParameterSetCache::Codec::H265
                                                     : gpurtsp::ParameterSetCache::Codec::H264);
  return TRUE;
}

static GstFlowReturn gst_gpu_keyframe_dec_handle_frame(GstVideoDecoder *decoder,
                                                       GstVideoCodecFrame *frame) {
  auto self = GST_GPU_KEYFRAME_DEC(decoder);
  auto priv = self->priv;
  StreamState &st = *priv->state;
  if (!GST_VIDEO_CODEC_FRAME_IS_SYNC_POINT(frame)) {
    priv->dropped_delta++;
    gst_video_decoder_release_frame(decoder, frame);
    return GST_FLOW_OK;
  }

  bool pushed;
  bool parsed = false;
  gpurtsp::GpuError error;
  {
    gpurtsp::MappedBuffer input(frame->input_buffer, GST_MAP_READ);
    if (!input.mapped()) {
      GST_ELEMENT_ERROR(self, RESOURCE, READ, (nullptr), ("cannot map the input buffer"));
      gst_video_decoder_release_frame(decoder, frame);
      return GST_FLOW_ERROR;
    }
    const auto access_unit = st.parameter_sets.complete(
        std::span<const uint8_t>(input.info().data, input.info().size), st.access_unit);

    NvdecSessionPool::Parsers::Lease lease;
    gpurtsp::PooledParser *parser = nullptr;
    if (!st.share_parsers) {
      if (!st.own_parser)
        st.own_parser = gpurtsp::PooledParser::create(priv->api, {st.codec}, error);
      if (!st.own_parser) {
        GPURTSP_GPU_ELEMENT_ERROR(self, RESOURCE, FAILED, error);
        gst_video_decoder_release_frame(decoder, frame);
        return GST_FLOW_ERROR;
      }
      parser = st.own_parser.get();
    } else {
      std::string why;
      switch (priv->pool->parsers().acquire({st.codec}, st.session_timeout, lease, why)) {
      case NvdecSessionPool::Parsers::Status::Ok:
        parser = &*lease;
        break;
      case NvdecSessionPool::Parsers::Status::Timeout:
        priv->dropped_busy++;
        GST_WARNING_OBJECT(self, "no parser free within %lld ms, keyframe dropped",
                           static_cast<long long>(st.session_timeout.count()));
        gst_video_decoder_release_frame(decoder, frame);
        return GST_FLOW_OK;
      case NvdecSessionPool::Parsers::Status::Failed:
        GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("No cuvid parser"), ("%s", why.c_str()));
        gst_video_decoder_release_frame(decoder, frame);
        return GST_FLOW_ERROR;
      }
    }
    const gpurtsp::ParserBorrower borrower{self, gst_gpu_keyframe_dec_on_sequence,
                                           gst_gpu_keyframe_dec_on_decode};
    st.frame = frame;
    st.flow = GST_FLOW_OK;
    gpurtsp::CudaContextScope scope(priv->pool->context());
    pushed = scope.pushed();
    if (pushed)
      parsed = parser->parse(borrower, access_unit.data(), access_unit.size(), error);
    st.frame = nullptr;
  }
  if (!pushed) {
    GPURTSP_CUDA_PUSH_ERROR(self);
    gst_video_decoder_release_frame(decoder, frame);
    return GST_FLOW_ERROR;
  }

  GstFlowReturn flow = st.flow;
  if (flow == GST_FLOW_OK && !parsed) {
    GPURTSP_GPU_ELEMENT_ERROR(self, RESOURCE, FAILED, error);
    flow = GST_FLOW_ERROR;
  }
  if (flow != GST_FLOW_OK || !frame->output_buffer) {
    gst_video_decoder_release_frame(decoder, frame);
    return flow;
  }
  /* Streams without PTS (raw files) would get PTS interpolated as if every
   * frame were output; a keyframe's decode time is the better guess. */
  if (!GST_CLOCK_TIME_IS_VALID(frame->pts))
    frame->pts = frame->dts;
  return gst_video_decoder_finish_frame(decoder, frame);
}

/* Frames come from the context's shared pool (on_decode), so the pool the
 * base class insists on must cost nothing: no preallocation. */
static gboolean gst_gpu_keyframe_dec_decide_allocation(GstVideoDecoder *decoder, GstQuery *query) {
  return GST_GPU_KEYFRAME_DEC(decoder)->priv->cuda.decide_pool(
      GST_ELEMENT(decoder), query, gpurtsp::CudaElementCore::PoolCounts::None);
}

static gboolean gst_gpu_keyframe_dec_sink_query(GstVideoDecoder *decoder, GstQuery *query) {
  return GST_GPU_KEYFRAME_DEC(decoder)->priv->cuda.handle_query(GST_ELEMENT(decoder), query) ||
         GST_VIDEO_DECODER_CLASS(gst_gpu_keyframe_dec_parent_class)->sink_query(decoder, query);
}

static gboolean gst_gpu_keyframe_dec_src_query(GstVideoDecoder *decoder, GstQuery *query) {
  return GST_GPU_KEYFRAME_DEC(decoder)->priv->cuda.handle_query(GST_ELEMENT(decoder), query) ||
         GST_VIDEO_DECODER_CLASS(gst_gpu_keyframe_dec_parent_class)->src_query(decoder, query);
}

static void gst_gpu_keyframe_dec_class_init(GstGpuKeyframeDecClass *klass) {
  auto object_class = G_OBJECT_CLASS(klass);
  auto element_class = GST_ELEMENT_CLASS(klass);
  auto decoder_class = GST_VIDEO_DECODER_CLASS(klass);

  object_class->finalize = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_finalize);
  object_class->set_property = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_set_property);
  object_class->get_property = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_get_property);

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                           GST_PARAM_MUTABLE_READY);
  gpurtsp::CudaElementCore::install_device_id_property(object_class, PROP_CUDA_DEVICE_ID);
  g_object_class_install_property(
      object_class, PROP_MAX_SESSIONS,
      g_param_spec_uint(property::kMaxSessions, "Max sessions",
                        "NVDEC sessions the CUDA context's shared pool may hold (every "
                        "gpukeyframedec of the context shares it; the largest value wins)",
                        1, 1024, kDefaultMaxSessions, rw));
  g_object_class_install_property(
      object_class, PROP_SESSION_TIMEOUT,
      g_param_spec_uint(property::kSessionTimeout, "Session timeout",
                        "Milliseconds a keyframe waits for a free NVDEC session before it is "
                        "dropped",
                        0, 60000, kDefaultSessionTimeoutMs, rw));
  g_object_class_install_property(
      object_class, PROP_SHARE_PARSERS,
      g_param_spec_boolean(property::kShareParsers, "Share parsers",
                           "Borrow a cuvid parser per keyframe from the CUDA context's pool "
                           "instead of keeping one per instance (0.8 MiB of RSS for H.264, "
                           "3.1 MiB for H.265)",
                           kDefaultShareParsers, rw));
  g_object_class_install_property(
      object_class, PROP_STATS,
      g_param_spec_boxed(property::kStats, "Statistics",
                         "Keyframes decoded and dropped by this instance; sessions and output "
                         "frames of the shared pool",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  element_class->set_context = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_set_context);
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "GPU keyframe decoder", "Codec/Decoder/Video/Hardware",
      "Decodes the keyframes of H.264/H.265 streams on NVDEC sessions shared by all instances "
      "of a CUDA context; delta frames are dropped",
      "gpurtsp developers");

  decoder_class->open = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_open);
  decoder_class->close = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_close);
  decoder_class->start = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_start);
  decoder_class->stop = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_stop);
  decoder_class->set_format = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_set_format);
  decoder_class->handle_frame = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_handle_frame);
  decoder_class->decide_allocation = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_decide_allocation);
  decoder_class->sink_query = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_sink_query);
  decoder_class->src_query = GST_DEBUG_FUNCPTR(gst_gpu_keyframe_dec_src_query);

  GST_DEBUG_CATEGORY_INIT(gst_gpu_keyframe_dec_debug, "gpukeyframedec", 0, "GPU keyframe decoder");
}

static void gst_gpu_keyframe_dec_init(GstGpuKeyframeDec *self) {
  self->priv = new GstGpuKeyframeDecPrivate();
  auto decoder = GST_VIDEO_DECODER(self);
  gst_video_decoder_set_packetized(decoder, TRUE);
  gst_video_decoder_set_needs_format(decoder, TRUE);
  /* Snapshots are wanted however late they are. */
  g_object_set(self, "qos", FALSE, nullptr);
}
