// SPDX-License-Identifier: MIT
/**
 * SECTION:element-gpujpegenc
 * @title: gpujpegenc
 *
 * Encodes raw video to JPEG on an NVIDIA GPU with nvJPEG, one JPEG per frame.
 * Frames in CUDA memory are read where they are: NV12 and I420 are encoded
 * from their own 4:2:0 planes (the JPEG's layout, no RGB round trip), RGB,
 * BGR, RGBP and BGRP through nvJPEG's colour conversion. Frames in system
 * memory, or in another CUDA context, are uploaded first.
 *
 * JPEG's YCbCr is full-range BT.601 (JFIF); 4:2:0 input in any other range
 * or matrix (NVDEC gives limited-range BT.709 or BT.601) is converted on the
 * GPU while its planes are laid out for nvJPEG.
 *
 * Encoders are shared: every gpujpegenc of a CUDA context borrows an encoder
 * slot (nvJPEG state, stream, pinned bitstream buffer, scratch memory) from
 * the context's pool for one frame, so VRAM grows with #GstGpuJpegEnc:max-encoders,
 * not with the number of instances. A frame that finds every slot busy for
 * #GstGpuJpegEnc:encoder-timeout is dropped.
 *
 * nvJPEG is loaded at run time (libnvjpeg.so.13, .12 or .11); without it the
 * element is not registered and the plugin says why.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.h264 ! h264parse ! nvh264dec ! gpujpegenc quality=90 !
 * multifilesink location=frame-%05d.jpg
 * ]|
 */
#include "jpegenc/gstgpujpegenc.h"

#include <gpurtsp/gpujpegenc.hpp>

#include "core/gpurtsp-cuda.h"
#include "core/pool-stats.h"
#include "jpegenc/jpegenc-colour.h"
#include "jpegenc/jpegenc-frame.h"
#include "jpegenc/jpegenc-pool.h"
#include "jpegenc/nvjpeg-encoder.h"
#include "jpegenc/nvjpeg-loader.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

GST_DEBUG_CATEGORY_STATIC(gst_gpu_jpeg_enc_debug);
#define GST_CAT_DEFAULT gst_gpu_jpeg_enc_debug

using gpurtsp::GpuError;
using gpurtsp::JpegEncoderPool;
namespace nvjpeg = gpurtsp::nvjpeg;
namespace property = gpurtsp::gpujpegenc::property;
namespace stats_field = gpurtsp::gpujpegenc::stats_field;

enum {
  PROP_0,
  PROP_CUDA_DEVICE_ID,
  PROP_QUALITY,
  PROP_MAX_ENCODERS,
  PROP_ENCODER_TIMEOUT,
  PROP_RGB_444,
  PROP_STATS,
};

constexpr guint kDefaultQuality = 85;
/* Four encodes in flight saturate one GPU's JPEG throughput: on the H100
 * a cap of 4 gave more JPEG/s than 8 or 16, at 2.2 MiB per pipeline for 64
 * pipelines (docs/gpujpegenc.md). The pool reaches the cap only under
 * sustained contention. */
constexpr guint kDefaultMaxEncoders = 4;
constexpr guint kDefaultEncoderTimeoutMs = 1000;

/* JPEG stores width and height in 16 bits. */
#define JPEG_SIZE "width = (int) [ 1, 65535 ], height = (int) [ 1, 65535 ]"
#define SINK_FORMATS "format = (string) { NV12, I420, RGB, BGR, RGBP, BGRP }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-raw(" GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY "), " SINK_FORMATS
                    ", " JPEG_SIZE ", framerate = " GST_VIDEO_FPS_RANGE "; "
                    "video/x-raw, " SINK_FORMATS ", " JPEG_SIZE
                    ", framerate = " GST_VIDEO_FPS_RANGE));

/* One complete baseline JPEG per buffer. */
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("image/jpeg, parsed = (boolean) true, sof-marker = (int) 0, " JPEG_SIZE
                    ", framerate = " GST_VIDEO_FPS_RANGE));

namespace {

/* How a negotiated input format reaches nvJPEG. */
enum class InputPath {
  RGB_INTERLEAVED, /* RGB, BGR: nvjpegEncodeImage */
  RGB_PLANAR,      /* RGBP, BGRP: nvjpegEncodeImage, planes in R, G, B order */
  YUV420_PLANAR,   /* JFIF I420: nvjpegEncodeYUV on the frame's own planes */
  NV12,            /* JFIF NV12: nvjpegEncode, where the library has it */
  YUV420_KERNEL,   /* otherwise: the yuv420 kernel, then nvjpegEncodeYUV */
};

const char *path_name(InputPath path) {
  switch (path) {
  case InputPath::RGB_INTERLEAVED:
    return "interleaved RGB through nvjpegEncodeImage";
  case InputPath::RGB_PLANAR:
    return "planar RGB through nvjpegEncodeImage";
  case InputPath::YUV420_PLANAR:
    return "the frame's own YUV planes through nvjpegEncodeYUV";
  case InputPath::NV12:
    return "NV12 through nvjpegEncode";
  case InputPath::YUV420_KERNEL:
    return "planes laid out by the yuv420 kernel through nvjpegEncodeYUV";
  }
  return "?";
}

/* Everything the streaming thread uses, built in start() and set_format(),
 * dropped in stop(). Device resources are not here: they are borrowed from
 * the context's JpegEncoderPool for each frame. */
struct StreamState {
  StreamState(GstCudaContext *ctx, const nvjpeg::Api &nvjpeg_api, std::chrono::milliseconds timeout)
      : context(static_cast<GstCudaContext *>(gst_object_ref(ctx))), api(nvjpeg_api),
        encoder_timeout(timeout) {}
  ~StreamState() { gst_object_unref(context); }
  StreamState(const StreamState &) = delete;
  StreamState &operator=(const StreamState &) = delete;

  GstCudaContext *const context;
  const nvjpeg::Api &api;
  const std::chrono::milliseconds encoder_timeout;

  /* From set_format(). */
  GstVideoInfo info;
  InputPath path = InputPath::YUV420_KERNEL;
  bool convert_colour = false;
  gpurtsp::JfifTransform transform = {};
};

} // namespace

struct GstGpuJpegEncPrivate {
  /* cuda-device-id and the CUDA context; its lock is never held with ours. */
  gpurtsp::CudaElementCore cuda;

  /* Properties, guarded by settings_lock. */
  std::mutex settings_lock;
  guint quality = kDefaultQuality;
  guint max_encoders = kDefaultMaxEncoders;
  guint encoder_timeout_ms = kDefaultEncoderTimeoutMs;
  gboolean rgb_444 = FALSE;

  /* Streaming thread only (between start() and stop()). */
  std::unique_ptr<StreamState> state;

  /* Set in start(), dropped in stop(). The streaming thread reads it without
   * the lock; start() and stop() take pool_lock to change it, so the stats
   * property can read it from any thread. */
  std::mutex pool_lock;
  std::shared_ptr<JpegEncoderPool> pool;

  std::atomic<guint64> encodes{0};
  std::atomic<guint64> dropped_busy{0};
};

struct _GstGpuJpegEnc {
  GstVideoEncoder parent;
  GstGpuJpegEncPrivate *priv;
};

G_DEFINE_TYPE(GstGpuJpegEnc, gst_gpu_jpeg_enc, GST_TYPE_VIDEO_ENCODER)

static GstStructure *gst_gpu_jpeg_enc_stats(GstGpuJpegEnc *self) {
  auto priv = self->priv;
  GstStructure *s = gst_structure_new(stats_field::kName, stats_field::kEncodes, G_TYPE_UINT64,
                                      priv->encodes.load(), stats_field::kDroppedBusy,
                                      G_TYPE_UINT64, priv->dropped_busy.load(), nullptr);
  std::lock_guard<std::mutex> guard(priv->pool_lock);
  if (priv->pool)
    gpurtsp::set_pool_stats(s, priv->pool->slots().stats(),
                            static_cast<unsigned>(priv->pool.use_count()));
  return s;
}

static void gst_gpu_jpeg_enc_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec) {
  auto priv = GST_GPU_JPEG_ENC(object)->priv;
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.set_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_QUALITY:
    priv->quality = g_value_get_uint(value);
    break;
  case PROP_MAX_ENCODERS:
    priv->max_encoders = g_value_get_uint(value);
    break;
  case PROP_ENCODER_TIMEOUT:
    priv->encoder_timeout_ms = g_value_get_uint(value);
    break;
  case PROP_RGB_444:
    priv->rgb_444 = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_gpu_jpeg_enc_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec) {
  auto self = GST_GPU_JPEG_ENC(object);
  auto priv = self->priv;
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, gst_gpu_jpeg_enc_stats(self));
    return;
  }
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.get_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_QUALITY:
    g_value_set_uint(value, priv->quality);
    break;
  case PROP_MAX_ENCODERS:
    g_value_set_uint(value, priv->max_encoders);
    break;
  case PROP_ENCODER_TIMEOUT:
    g_value_set_uint(value, priv->encoder_timeout_ms);
    break;
  case PROP_RGB_444:
    g_value_set_boolean(value, priv->rgb_444);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_gpu_jpeg_enc_set_context(GstElement *element, GstContext *context) {
  GST_GPU_JPEG_ENC(element)->priv->cuda.set_context(element, context);
  GST_ELEMENT_CLASS(gst_gpu_jpeg_enc_parent_class)->set_context(element, context);
}

static gboolean gst_gpu_jpeg_enc_open(GstVideoEncoder *encoder) {
  return GST_GPU_JPEG_ENC(encoder)->priv->cuda.open(GST_ELEMENT(encoder));
}

static gboolean gst_gpu_jpeg_enc_close(GstVideoEncoder *encoder) {
  GST_GPU_JPEG_ENC(encoder)->priv->cuda.close();
  return TRUE;
}

static gboolean gst_gpu_jpeg_enc_start(GstVideoEncoder *encoder) {
  auto self = GST_GPU_JPEG_ENC(encoder);
  auto priv = self->priv;
  std::string why;
  const nvjpeg::Api *api = nvjpeg::api(why);
  if (!api) {
    /* Unreachable in practice: the element is only registered with nvJPEG. */
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("nvJPEG is not available"), ("%s", why.c_str()));
    return FALSE;
  }
  guint max_encoders;
  std::chrono::milliseconds timeout;
  {
    std::lock_guard<std::mutex> guard(priv->settings_lock);
    max_encoders = priv->max_encoders;
    timeout = std::chrono::milliseconds(priv->encoder_timeout_ms);
  }
  GstCudaContext *ctx = priv->cuda.context();
  if (!ctx) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("No CUDA context"), (nullptr));
    return FALSE;
  }
  priv->state = std::make_unique<StreamState>(ctx, *api, timeout);

  /* Slots are made as frames need them: nothing on the device yet. */
  auto pool = JpegEncoderPool::get(priv->state->context, *api, max_encoders);
  {
    std::lock_guard<std::mutex> guard(priv->pool_lock);
    priv->pool = std::move(pool);
  }
  GST_INFO_OBJECT(self, "nvJPEG %d.%d.%d from %s; CUDA context %p's pool of at most %u encoders",
                  api->version[0], api->version[1], api->version[2], api->library.c_str(),
                  priv->state->context, priv->pool->slots().max_sessions());
  return TRUE;
}

static gboolean gst_gpu_jpeg_enc_stop(GstVideoEncoder *encoder) {
  auto priv = GST_GPU_JPEG_ENC(encoder)->priv;
  priv->state.reset();
  std::lock_guard<std::mutex> guard(priv->pool_lock);
  priv->pool.reset();
  return TRUE;
}

static gboolean gst_gpu_jpeg_enc_sink_query(GstVideoEncoder *encoder, GstQuery *query) {
  return GST_GPU_JPEG_ENC(encoder)->priv->cuda.handle_query(GST_ELEMENT(encoder), query) ||
         GST_VIDEO_ENCODER_CLASS(gst_gpu_jpeg_enc_parent_class)->sink_query(encoder, query);
}

static gboolean gst_gpu_jpeg_enc_src_query(GstVideoEncoder *encoder, GstQuery *query) {
  return GST_GPU_JPEG_ENC(encoder)->priv->cuda.handle_query(GST_ELEMENT(encoder), query) ||
         GST_VIDEO_ENCODER_CLASS(gst_gpu_jpeg_enc_parent_class)->src_query(encoder, query);
}

/* Offers upstream a CUDA pool in our context, so frames arrive where nvJPEG
 * reads them; system-memory upstreams keep their own allocation. */
static gboolean gst_gpu_jpeg_enc_propose_allocation(GstVideoEncoder *encoder, GstQuery *query) {
  GstCaps *caps = nullptr;
  gst_query_parse_allocation(query, &caps, nullptr);
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps(&info, caps))
    return FALSE;
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  if (gst_caps_features_contains(gst_caps_get_features(caps, 0),
                                 GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY))
    GST_GPU_JPEG_ENC(encoder)->priv->cuda.propose_pool(GST_ELEMENT(encoder), query, caps);
  return TRUE;
}

/* Called for the first caps and again whenever caps change mid-stream; no
 * frame is ever held, so there is nothing to drain first. */
static gboolean gst_gpu_jpeg_enc_set_format(GstVideoEncoder *encoder, GstVideoCodecState *state) {
  auto self = GST_GPU_JPEG_ENC(encoder);
  StreamState &st = *self->priv->state;
  st.info = state->info;
  st.convert_colour = false;

  switch (GST_VIDEO_INFO_FORMAT(&st.info)) {
  case GST_VIDEO_FORMAT_RGB:
  case GST_VIDEO_FORMAT_BGR:
    st.path = InputPath::RGB_INTERLEAVED;
    break;
  case GST_VIDEO_FORMAT_RGBP:
  case GST_VIDEO_FORMAT_BGRP:
    st.path = InputPath::RGB_PLANAR;
    break;
  case GST_VIDEO_FORMAT_I420:
  case GST_VIDEO_FORMAT_NV12:
    st.convert_colour = gpurtsp::jfif_transform(st.info.colorimetry, st.transform);
    if (st.convert_colour)
      st.path = InputPath::YUV420_KERNEL;
    else if (GST_VIDEO_INFO_FORMAT(&st.info) == GST_VIDEO_FORMAT_I420)
      st.path = InputPath::YUV420_PLANAR;
    else
      st.path = st.api.nvjpegEncode ? InputPath::NV12 : InputPath::YUV420_KERNEL;
    break;
  default:
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                      ("unexpected input format %s",
                       gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&st.info))));
    return FALSE;
  }
  GST_INFO_OBJECT(self, "%s %dx%d: %s%s", GST_VIDEO_INFO_NAME(&st.info),
                  GST_VIDEO_INFO_WIDTH(&st.info), GST_VIDEO_INFO_HEIGHT(&st.info),
                  path_name(st.path), st.convert_colour ? ", converted to full-range BT.601" : "");

  GstVideoCodecState *output = gst_video_encoder_set_output_state(
      encoder,
      gst_caps_new_simple("image/jpeg", "parsed", G_TYPE_BOOLEAN, TRUE, "sof-marker", G_TYPE_INT, 0,
                          nullptr),
      state);
  /* What the JPEG holds (JFIF), not what came in: the base class puts this
   * on the output caps. */
  output->info.colorimetry.range = GST_VIDEO_COLOR_RANGE_0_255;
  output->info.colorimetry.matrix = GST_VIDEO_COLOR_MATRIX_BT601;
  output->info.chroma_site = GST_VIDEO_CHROMA_SITE_JPEG;
  gst_video_codec_state_unref(output);

  /* Each frame leaves before the next one enters: nothing is queued. */
  gst_video_encoder_set_latency(encoder, 0, 0);
  return TRUE;
}

/* Queues the encode of @frame's planes on @slot as @st.path says. */
static bool gst_gpu_jpeg_enc_queue(StreamState &st, gpurtsp::JpegEncodeSlot &slot,
                                   const gpurtsp::DeviceFrame &frame, GpuError &failure) {
  auto &encoder = slot.encoder();
  const int width = GST_VIDEO_INFO_WIDTH(&st.info);
  const int height = GST_VIDEO_INFO_HEIGHT(&st.info);
  nvjpeg::nvjpegImage_t image = {};
  switch (st.path) {
  case InputPath::RGB_INTERLEAVED:
    image.channel[0] = frame.plane[0];
    image.pitch[0] = frame.stride[0];
    return encoder.encode_rgb(image,
                              GST_VIDEO_INFO_FORMAT(&st.info) == GST_VIDEO_FORMAT_RGB
                                  ? nvjpeg::NVJPEG_INPUT_RGBI
                                  : nvjpeg::NVJPEG_INPUT_BGRI,
                              width, height, failure);
  case InputPath::RGB_PLANAR:
    /* Components are R, G, B whatever the planes' order. */
    for (int c = 0; c < 3; c++) {
      image.channel[c] = frame.component(c);
      image.pitch[c] = frame.component_stride(c);
    }
    return encoder.encode_rgb(image, nvjpeg::NVJPEG_INPUT_RGB, width, height, failure);
  case InputPath::YUV420_PLANAR:
    for (int c = 0; c < 3; c++) {
      image.channel[c] = frame.component(c);
      image.pitch[c] = frame.component_stride(c);
    }
    return encoder.encode_yuv420(image, width, height, failure);
  case InputPath::NV12:
    for (int p = 0; p < 2; p++) {
      image.channel[p] = frame.plane[p];
      image.pitch[p] = frame.stride[p];
    }
    return encoder.encode_nv12(image, width, height, failure);
  case InputPath::YUV420_KERNEL:
    return slot.yuv420().convert(st.context, frame, st.convert_colour ? &st.transform : nullptr,
                                 encoder.stream(), image, failure) &&
           encoder.encode_yuv420(image, width, height, failure);
  }
  return false;
}

/* Encodes @input on @slot; on success @jpeg points at the JPEG in the slot's
 * pinned buffer. Needs the stream state's context current. */
static bool gst_gpu_jpeg_enc_encode(GstGpuJpegEnc *self, gpurtsp::JpegEncodeSlot &slot,
                                    GstBuffer *input, guint quality, bool rgb_444,
                                    const guint8 *&jpeg, size_t &size, GpuError &failure) {
  StreamState &st = *self->priv->state;
  const CUstream stream = slot.encoder().stream();
  const bool rgb_input = st.path == InputPath::RGB_INTERLEAVED || st.path == InputPath::RGB_PLANAR;
  /* The slot's previous borrower may have asked for another quality or
   * sampling. */
  if (!slot.encoder().set_quality(static_cast<int>(quality), failure) ||
      !slot.encoder().set_sampling(
          rgb_input && rgb_444 ? nvjpeg::NVJPEG_CSS_444 : nvjpeg::NVJPEG_CSS_420, failure))
    return false;

  gpurtsp::MappedVideoFrame mapped;
  gpurtsp::DeviceFrame device;
  if (gpurtsp::is_cuda_buffer_of(input, st.context)) {
    if (const char *why = mapped.map_cuda(input, st.info, GST_MAP_READ, st.context)) {
      failure = {"gst_video_frame_map", "",
                 std::string("the CUDA frame could not be mapped: ") + why};
      return false;
    }
    device = gpurtsp::DeviceFrame::from_mapped(*mapped.frame());
    /* GStreamer 1.24+: the producer may still be writing the frame on its
     * own stream (1.22's producers finished before pushing). retrieve()
     * synchronises the slot's stream, so our reads end before the frame is
     * unmapped and handed back. */
    for (guint i = 0; i < gst_buffer_n_memory(input); i++)
      gpurtsp::sync_producer_stream(gst_buffer_peek_memory(input, i), stream);
  } else {
    GST_LOG_OBJECT(self, "uploading a frame that is not in this element's CUDA context");
    if (!mapped.map(input, st.info, GST_MAP_READ)) {
      failure = {"gst_video_frame_map", "", "the frame could not be mapped"};
      return false;
    }
    if (!slot.uploader().upload(st.context, *mapped.frame(), stream, device, failure))
      return false;
  }

  const bool done = gst_gpu_jpeg_enc_queue(st, slot, device, failure) &&
                    slot.encoder().retrieve(GST_VIDEO_INFO_WIDTH(&st.info),
                                            GST_VIDEO_INFO_HEIGHT(&st.info), jpeg, size, failure);
  if (!done) {
    /* Work queued before the failure may still read the input: finish it
     * before the frame is unmapped and handed back upstream. */
    CuStreamSynchronize(stream);
  }
  return done;
}

static GstFlowReturn gst_gpu_jpeg_enc_handle_frame(GstVideoEncoder *encoder,
                                                   GstVideoCodecFrame *frame) {
  auto self = GST_GPU_JPEG_ENC(encoder);
  auto priv = self->priv;
  StreamState &st = *priv->state;
  guint quality;
  bool rgb_444;
  {
    std::lock_guard<std::mutex> guard(priv->settings_lock);
    quality = priv->quality;
    rgb_444 = priv->rgb_444;
  }

  JpegEncoderPool::Slots::Lease slot;
  std::string why;
  switch (priv->pool->slots().acquire(gpurtsp::AnyFrame{}, st.encoder_timeout, slot, why)) {
  case JpegEncoderPool::Slots::Status::Ok:
    break;
  case JpegEncoderPool::Slots::Status::Timeout:
    /* A camera's newest frame matters, not every frame: drop this one
     * rather than stall the pipeline behind a busy GPU. */
    priv->dropped_busy++;
    GST_WARNING_OBJECT(self, "no encoder free within %lld ms (max-encoders %u), frame dropped",
                       static_cast<long long>(st.encoder_timeout.count()),
                       priv->pool->slots().max_sessions());
    return gst_video_encoder_finish_frame(encoder, frame);
  case JpegEncoderPool::Slots::Status::Failed:
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("Could not set up an nvJPEG encoder"),
                      ("%s", why.c_str()));
    gst_video_encoder_finish_frame(encoder, frame);
    return GST_FLOW_ERROR;
  }

  const guint8 *jpeg = nullptr;
  size_t size = 0;
  GpuError failure;
  bool encoded;
  {
    gpurtsp::CudaContextScope scope(st.context);
    if (!scope.pushed()) {
      GPURTSP_CUDA_PUSH_ERROR(self);
      gst_video_encoder_finish_frame(encoder, frame);
      return GST_FLOW_ERROR;
    }
    encoded = gst_gpu_jpeg_enc_encode(self, *slot, frame->input_buffer, quality, rgb_444, jpeg,
                                      size, failure);
  }
  if (!encoded) {
    /* A slot that failed once is not trusted again. */
    slot.discard();
    GPURTSP_GPU_ELEMENT_ERROR(self, STREAM, ENCODE, failure);
    gst_video_encoder_finish_frame(encoder, frame);
    return GST_FLOW_ERROR;
  }

  /* A copy out of the slot's pinned buffer (tens of microseconds for a
   * frame's JPEG) lets the slot go back to the pool at once, before the
   * JPEG is pushed downstream; see docs/gpujpegenc.md. */
  frame->output_buffer = gst_video_encoder_allocate_output_buffer(encoder, size);
  if (!frame->output_buffer) {
    slot.reset();
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, (nullptr),
                      ("could not allocate a %" G_GSIZE_FORMAT "-byte output buffer", size));
    gst_video_encoder_finish_frame(encoder, frame);
    return GST_FLOW_ERROR;
  }
  gst_buffer_fill(frame->output_buffer, 0, jpeg, size);
  slot.reset();
  priv->encodes++;
  frame->dts = frame->pts;
  GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT(frame);
  return gst_video_encoder_finish_frame(encoder, frame);
}

static void gst_gpu_jpeg_enc_finalize(GObject *object) {
  delete GST_GPU_JPEG_ENC(object)->priv;
  G_OBJECT_CLASS(gst_gpu_jpeg_enc_parent_class)->finalize(object);
}

static void gst_gpu_jpeg_enc_class_init(GstGpuJpegEncClass *klass) {
  auto object_class = G_OBJECT_CLASS(klass);
  auto element_class = GST_ELEMENT_CLASS(klass);
  auto encoder_class = GST_VIDEO_ENCODER_CLASS(klass);

  object_class->set_property = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_set_property);
  object_class->get_property = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_get_property);
  object_class->finalize = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_finalize);

  gpurtsp::CudaElementCore::install_device_id_property(object_class, PROP_CUDA_DEVICE_ID);
  g_object_class_install_property(
      object_class, PROP_QUALITY,
      g_param_spec_uint(property::kQuality, "Quality",
                        "JPEG quality (1-100); a change applies from the next frame", 1, 100,
                        kDefaultQuality,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                                                 G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_RGB_444,
      g_param_spec_boolean(property::kRgb444, "RGB 4:4:4",
                           "Keep every pixel's chroma (4:4:4 JPEG) for RGB input: about twice the "
                           "bytes, no chroma averaging; 4:2:0 input always gives 4:2:0",
                           FALSE,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                                                    G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_MAX_ENCODERS,
      g_param_spec_uint(property::kMaxEncoders, "Max encoders",
                        "Encoders (nvJPEG state, stream, buffers) the CUDA context's shared pool "
                        "may hold; every gpujpegenc of the context borrows one per frame, and the "
                        "largest value among them wins",
                        1, 1024, kDefaultMaxEncoders,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
                                                 G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_ENCODER_TIMEOUT,
      g_param_spec_uint(property::kEncoderTimeout, "Encoder timeout",
                        "Milliseconds a frame waits for a free encoder of the shared pool before "
                        "it is dropped",
                        0, 60000, kDefaultEncoderTimeoutMs,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
                                                 G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_STATS,
      g_param_spec_boxed(property::kStats, "Statistics",
                         "Frames this instance encoded and dropped for want of a free encoder; "
                         "encoders, waits and users of the context's shared pool",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "GPU JPEG encoder", "Codec/Encoder/Image/Hardware",
      "Encodes video frames to JPEG with NVIDIA nvJPEG", "gpurtsp developers");

  element_class->set_context = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_set_context);

  encoder_class->open = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_open);
  encoder_class->close = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_close);
  encoder_class->start = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_start);
  encoder_class->stop = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_stop);
  encoder_class->sink_query = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_sink_query);
  encoder_class->src_query = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_src_query);
  encoder_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_propose_allocation);
  encoder_class->set_format = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_set_format);
  encoder_class->handle_frame = GST_DEBUG_FUNCPTR(gst_gpu_jpeg_enc_handle_frame);

  GST_DEBUG_CATEGORY_INIT(gst_gpu_jpeg_enc_debug, "gpujpegenc", 0, "GPU JPEG encoder");
}

static void gst_gpu_jpeg_enc_init(GstGpuJpegEnc *self) {
  self->priv = new GstGpuJpegEncPrivate();
}
