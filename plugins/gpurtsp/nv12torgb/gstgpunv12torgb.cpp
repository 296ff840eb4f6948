// SPDX-License-Identifier: MIT
/**
 * SECTION:element-gpunv12torgb
 * @title: gpunv12torgb
 *
 * Converts NV12 or I420 frames in CUDA memory (NVDEC's output) into RGB,
 * BGR, RGBA, BGRA, RGBx, BGRx or planar RGBP, still in CUDA memory, and
 * resizes in the same pass when the output size differs. The YUV matrix,
 * range and chroma siting come from the input caps (GStreamer's defaults
 * where they are missing); the `matrix` property can force the matrix.
 *
 * When downstream accepts no RGB format but takes the input's own format at
 * the same size (upstream nvjpegenc takes CUDA NV12 and I420), the element
 * is a passthrough: frames go through untouched, no kernel runs. Where it
 * takes I420 but not NV12 (nvjpegenc when GStreamer's NVRTC kernels are
 * unavailable), NV12 becomes I420 at the same size, the chroma
 * de-interleaved. Whenever downstream accepts an RGB format, RGB is chosen.
 * YUV output at another size, or I420 -> NV12, does not negotiate.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=cam.h264 ! h264parse ! nvh264dec ! \
 *     gpunv12torgb ! "video/x-raw(memory:CUDAMemory),format=RGBA,width=640,height=360" ! \
 *     cudadownload ! pngenc ! multifilesink location=frame-%05d.png
 * ]|
 * Passthrough, nvjpegenc taking NVDEC's NV12 as it is:
 * |[
 * gst-launch-1.0 filesrc location=cam.h264 ! h264parse ! nvh264dec ! \
 *     gpunv12torgb ! nvjpegenc ! multifilesink location=frame-%05d.jpg
 * ]|
 */
#include "nv12torgb/gstgpunv12torgb.h"

#include <gpurtsp/gpunv12torgb.hpp>

#include <gst/video/video.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/gpurtsp-cuda.h"
#include "nv12torgb/nv12torgb-config.h"
#include "nv12torgb/nv12torgb-kernels.h"

GST_DEBUG_CATEGORY_STATIC(gst_gpu_nv12_to_rgb_debug);
#define GST_CAT_DEFAULT gst_gpu_nv12_to_rgb_debug

namespace rgb = gpurtsp::rgb;

typedef enum {
  GST_GPU_NV12_TO_RGB_MATRIX_AUTO,
  GST_GPU_NV12_TO_RGB_MATRIX_BT601,
  GST_GPU_NV12_TO_RGB_MATRIX_BT709,
  GST_GPU_NV12_TO_RGB_MATRIX_BT2020,
} GstGpuNv12ToRgbMatrix;

#define GST_TYPE_GPU_NV12_TO_RGB_MATRIX (gst_gpu_nv12_to_rgb_matrix_get_type())
static GType gst_gpu_nv12_to_rgb_matrix_get_type() {
  static const GEnumValue values[] = {
      {GST_GPU_NV12_TO_RGB_MATRIX_AUTO,
       "From the caps' colorimetry; when absent, BT.709 above 576 lines, BT.601 otherwise", "auto"},
      {GST_GPU_NV12_TO_RGB_MATRIX_BT601, "ITU-R BT.601", "bt601"},
      {GST_GPU_NV12_TO_RGB_MATRIX_BT709, "ITU-R BT.709", "bt709"},
      {GST_GPU_NV12_TO_RGB_MATRIX_BT2020, "ITU-R BT.2020", "bt2020"},
      {0, nullptr, nullptr},
  };
  static const GType type = g_enum_register_static("GstGpuNv12ToRgbMatrix", values);
  return type;
}

static rgb::MatrixChoice to_choice(GstGpuNv12ToRgbMatrix matrix) {
  switch (matrix) {
  case GST_GPU_NV12_TO_RGB_MATRIX_BT601:
    return rgb::MatrixChoice::Bt601;
  case GST_GPU_NV12_TO_RGB_MATRIX_BT709:
    return rgb::MatrixChoice::Bt709;
  case GST_GPU_NV12_TO_RGB_MATRIX_BT2020:
    return rgb::MatrixChoice::Bt2020;
  case GST_GPU_NV12_TO_RGB_MATRIX_AUTO:
    break;
  }
  return rgb::MatrixChoice::Auto;
}

enum { PROP_0, PROP_CUDA_DEVICE_ID, PROP_MATRIX };

constexpr GstGpuNv12ToRgbMatrix kDefaultMatrix = GST_GPU_NV12_TO_RGB_MATRIX_AUTO;

/* Sizes as far as rgb::kMaxDimension. */
#define GPU_NV12_TO_RGB_CAPS(formats)                                                              \
  "video/x-raw(" GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY "), format = (string) " formats               \
  ", width = (int) [ 1, 32768 ], height = (int) [ 1, 32768 ], framerate = " GST_VIDEO_FPS_RANGE
static_assert(rgb::kMaxDimension == 32768);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GPU_NV12_TO_RGB_CAPS("{ NV12, I420 }")));

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS(GPU_NV12_TO_RGB_CAPS(
                                "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, RGBP, NV12, I420 }")));

namespace {

/* What the streaming thread uses, built in start() and set_caps(), dropped
 * in stop(); GstBaseTransform serialises those with the allocation queries
 * and transform(). */
struct StreamState {
  explicit StreamState(GstCudaContext *ctx)
      : context(static_cast<GstCudaContext *>(gst_object_ref(ctx))) {}
  ~StreamState() { gst_object_unref(context); }
  StreamState(const StreamState &) = delete;
  StreamState &operator=(const StreamState &) = delete;

  GstCudaContext *const context;               /* owned ref: the context every buffer must be in */
  std::shared_ptr<gpurtsp::CudaStream> stream; /* one of the context's shared streams */
  rgb::Nv12ToRgbKernels kernels;
  rgb::Nv12ToI420Kernel split_kernel; /* loaded only for NV12 -> I420 */

  /* From set_caps(). */
  bool chroma_split = false; /* negotiated NV12 -> I420 */
  GstVideoInfo in_info = {};
  GstVideoInfo out_info = {};
  rgb::ConvertParams params = {};
  GstGpuNv12ToRgbMatrix params_matrix = kDefaultMatrix; /* the setting params was built with */
};

} // namespace

struct GstGpuNv12ToRgbPrivate {
  /* cuda-device-id and the CUDA context; its lock is never held with ours. */
  gpurtsp::CudaElementCore cuda;

  /* Properties, set by the application, read by the streaming thread. */
  std::mutex settings_lock;
  GstGpuNv12ToRgbMatrix matrix = kDefaultMatrix; /* guarded by settings_lock */

  /* Streaming thread only (between start() and stop()). */
  std::unique_ptr<StreamState> state;
};

struct _GstGpuNv12ToRgb {
  GstBaseTransform parent;
  GstGpuNv12ToRgbPrivate *priv;
};

#define gst_gpu_nv12_to_rgb_parent_class parent_class
G_DEFINE_TYPE(GstGpuNv12ToRgb, gst_gpu_nv12_to_rgb, GST_TYPE_BASE_TRANSFORM)

static void gst_gpu_nv12_to_rgb_finalize(GObject *object) {
  delete GST_GPU_NV12_TO_RGB(object)->priv;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_gpu_nv12_to_rgb_set_property(GObject *object, guint prop_id, const GValue *value,
                                             GParamSpec *pspec) {
  auto priv = GST_GPU_NV12_TO_RGB(object)->priv;
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.set_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_MATRIX:
    /* transform() picks the new matrix up with the next frame. */
    priv->matrix = static_cast<GstGpuNv12ToRgbMatrix>(g_value_get_enum(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void gst_gpu_nv12_to_rgb_get_property(GObject *object, guint prop_id, GValue *value,
                                             GParamSpec *pspec) {
  auto priv = GST_GPU_NV12_TO_RGB(object)->priv;
  if (prop_id == PROP_CUDA_DEVICE_ID) {
    priv->cuda.get_device_id(value);
    return;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_MATRIX:
    g_value_set_enum(value, priv->matrix);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static GstGpuNv12ToRgbMatrix matrix_setting(GstGpuNv12ToRgb *self) {
  std::lock_guard<std::mutex> guard(self->priv->settings_lock);
  return self->priv->matrix;
}

static void gst_gpu_nv12_to_rgb_set_context(GstElement *element, GstContext *context) {
  GST_GPU_NV12_TO_RGB(element)->priv->cuda.set_context(element, context);
  GST_ELEMENT_CLASS(parent_class)->set_context(element, context);
}

/* GstBaseTransform has no open()/close(): the context is found or made at
 * NULL->READY, as the encoder's and decoder's open() do. */
static GstStateChangeReturn gst_gpu_nv12_to_rgb_change_state(GstElement *element,
                                                             GstStateChange transition) {
  return GST_GPU_NV12_TO_RGB(element)->priv->cuda.change_state(
      element, transition, GST_ELEMENT_CLASS(parent_class)->change_state);
}

static gboolean gst_gpu_nv12_to_rgb_start(GstBaseTransform *trans) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  auto priv = self->priv;
  GstCudaContext *ctx = priv->cuda.context();
  if (!ctx) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("No CUDA context"), (nullptr));
    return FALSE;
  }
  auto state = std::make_unique<StreamState>(ctx);
  /* Not the legacy default stream, on which the kernels of the hundreds of
   * converters sharing the context would queue behind every other blocking
   * stream's work; nor a stream each, ~560 KiB of VRAM per camera: one of
   * the context's few shared non-blocking streams. */
  gpurtsp::GpuError error;
  state->stream = gpurtsp::CudaStream::shared(state->context, error);
  if (!state->stream) {
    GPURTSP_GPU_ELEMENT_ERROR(self, RESOURCE, FAILED, error);
    return FALSE;
  }
  priv->state = std::move(state);
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_stop(GstBaseTransform *trans) {
  GST_GPU_NV12_TO_RGB(trans)->priv->state.reset();
  return TRUE;
}

static GstCaps *gst_gpu_nv12_to_rgb_transform_caps(GstBaseTransform *trans,
                                                   GstPadDirection direction, GstCaps *caps,
                                                   GstCaps *filter) {
  GstCaps *result = rgb::transform_caps(direction, caps, filter);
  GST_DEBUG_OBJECT(trans, "%s caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                   direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

static GstCaps *gst_gpu_nv12_to_rgb_fixate_caps(GstBaseTransform *trans, GstPadDirection direction,
                                                GstCaps *caps, GstCaps *othercaps) {
  GstCaps *result = rgb::fixate_caps(direction, caps, othercaps);
  GST_DEBUG_OBJECT(trans, "fixated to %" GST_PTR_FORMAT, result);
  return result;
}

static bool build_params(GstGpuNv12ToRgb *self, GstGpuNv12ToRgbMatrix matrix) {
  StreamState &st = *self->priv->state;
  std::string error;
  auto params = rgb::make_convert_params(st.in_info, st.out_info, to_choice(matrix), error);
  if (!params) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("%s", error.c_str()));
    return false;
  }
  st.params = *params;
  st.params_matrix = matrix;
  return true;
}

static gboolean gst_gpu_nv12_to_rgb_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                             GstCaps *outcaps) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  if (!self->priv->state) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (nullptr), ("caps set before start"));
    return FALSE;
  }
  StreamState &st = *self->priv->state;
  if (!rgb::video_info_from_caps(st.in_info, incaps) ||
      !gst_video_info_from_caps(&st.out_info, outcaps)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                      ("invalid caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  if (rgb::is_passthrough(st.in_info, st.out_info)) {
    /* Only the caps fields downstream added may differ (GstBaseTransform
     * turned passthrough off then): the frames are the same either way. */
    gst_base_transform_set_passthrough(trans, TRUE);
    GST_INFO_OBJECT(self, "passthrough: %s %dx%d", GST_VIDEO_INFO_NAME(&st.in_info),
                    GST_VIDEO_INFO_WIDTH(&st.in_info), GST_VIDEO_INFO_HEIGHT(&st.in_info));
    return TRUE;
  }
  gst_base_transform_set_passthrough(trans, FALSE);
  st.chroma_split = rgb::is_chroma_split(st.in_info, st.out_info);
  if (st.chroma_split) {
    gpurtsp::GpuError error;
    if (!st.split_kernel.load(st.context, error)) {
      GPURTSP_GPU_ELEMENT_ERROR(self, RESOURCE, FAILED, error);
      return FALSE;
    }
    GST_INFO_OBJECT(self, "NV12 -> I420 %dx%d (chroma de-interleaved)",
                    GST_VIDEO_INFO_WIDTH(&st.in_info), GST_VIDEO_INFO_HEIGHT(&st.in_info));
    return TRUE;
  }
  if (!build_params(self, matrix_setting(self)))
    return FALSE;

  const bool nv12 = GST_VIDEO_INFO_FORMAT(&st.in_info) == GST_VIDEO_FORMAT_NV12;
  const rgb::RgbLayout layout = *rgb::rgb_layout(GST_VIDEO_INFO_FORMAT(&st.out_info));
  gpurtsp::GpuError error;
  if (!st.kernels.load(st.context, nv12, layout, error)) {
    GPURTSP_GPU_ELEMENT_ERROR(self, RESOURCE, FAILED, error);
    return FALSE;
  }
  GST_INFO_OBJECT(self, "%s %dx%d -> %s %dx%d", GST_VIDEO_INFO_NAME(&st.in_info),
                  GST_VIDEO_INFO_WIDTH(&st.in_info), GST_VIDEO_INFO_HEIGHT(&st.in_info),
                  GST_VIDEO_INFO_NAME(&st.out_info), GST_VIDEO_INFO_WIDTH(&st.out_info),
                  GST_VIDEO_INFO_HEIGHT(&st.out_info));
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_query(GstBaseTransform *trans, GstPadDirection direction,
                                          GstQuery *query) {
  return GST_GPU_NV12_TO_RGB(trans)->priv->cuda.handle_query(GST_ELEMENT(trans), query) ||
         GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

static gboolean gst_gpu_nv12_to_rgb_propose_allocation(GstBaseTransform *trans,
                                                       GstQuery *decide_query, GstQuery *query) {
  auto priv = GST_GPU_NV12_TO_RGB(trans)->priv;
  if (!GST_BASE_TRANSFORM_CLASS(parent_class)->propose_allocation(trans, decide_query, query))
    return FALSE;
  if (!decide_query) /* passthrough: the downstream answer was forwarded */
    return TRUE;

  GstCaps *caps = nullptr;
  gst_query_parse_allocation(query, &caps, nullptr);
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps(&info, caps) || !priv->state)
    return FALSE;
  if (gst_query_get_n_allocation_pools(query) == 0 &&
      !priv->cuda.propose_pool(GST_ELEMENT(trans), query, caps))
    return FALSE;
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_decide_allocation(GstBaseTransform *trans, GstQuery *query) {
  return GST_GPU_NV12_TO_RGB(trans)->priv->cuda.decide_pool(
             GST_ELEMENT(trans), query, gpurtsp::CudaElementCore::PoolCounts::Downstream) &&
         GST_BASE_TRANSFORM_CLASS(parent_class)->decide_allocation(trans, query);
}

static GstFlowReturn gst_gpu_nv12_to_rgb_transform(GstBaseTransform *trans, GstBuffer *inbuf,
                                                   GstBuffer *outbuf) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  StreamState &st = *self->priv->state;

  /* Never called in passthrough: GstBaseTransform pushes the input. */
  const GstGpuNv12ToRgbMatrix matrix = matrix_setting(self);
  if (!st.chroma_split && matrix != st.params_matrix && !build_params(self, matrix))
    return GST_FLOW_NOT_NEGOTIATED;

  gpurtsp::MappedVideoFrame in, out;
  if (const char *why = in.map_cuda(inbuf, st.in_info, GST_MAP_READ, st.context)) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, (nullptr), ("Unusable input buffer: %s", why));
    return GST_FLOW_ERROR;
  }
  if (const char *why = out.map_cuda(outbuf, st.out_info, GST_MAP_WRITE, st.context)) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, (nullptr), ("Unusable output buffer: %s", why));
    return GST_FLOW_ERROR;
  }
  const rgb::YuvSource src = rgb::make_source(st.in_info, in.planes(), in.strides());
  const rgb::RgbTarget dst = rgb::make_target(st.out_info, out.planes(), out.strides());

  gpurtsp::CudaContextScope scope(st.context);
  if (!scope.pushed()) {
    GPURTSP_CUDA_PUSH_ERROR(self);
    return GST_FLOW_ERROR;
  }
  /* GStreamer 1.22: CUDA memory has no stream, upstream finished writing the
   * input before pushing it. 1.24+: upstream (nvh264dec) may still be writing
   * it on its own stream; wait for that stream unless it is ours. Under both
   * rules downstream reads the output as soon as we return, without looking
   * for a stream, and the input goes back to upstream's pool on return, so
   * the kernel must be complete here. */
  gpurtsp::sync_producer_stream(gst_buffer_peek_memory(inbuf, 0), st.stream->get());
  CUresult result = st.chroma_split ? st.split_kernel.launch(src, dst, st.stream->get())
                                    : st.kernels.launch(src, dst, st.params, st.stream->get());
  if (result != CUDA_SUCCESS) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuLaunchKernel", result);
    return GST_FLOW_ERROR;
  }
  result = CuStreamSynchronize(st.stream->get());
  if (result != CUDA_SUCCESS) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuStreamSynchronize", result);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void gst_gpu_nv12_to_rgb_class_init(GstGpuNv12ToRgbClass *klass) {
  auto object_class = G_OBJECT_CLASS(klass);
  auto element_class = GST_ELEMENT_CLASS(klass);
  auto trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  object_class->finalize = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_finalize);
  object_class->set_property = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_set_property);
  object_class->get_property = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_get_property);

  gpurtsp::CudaElementCore::install_device_id_property(object_class, PROP_CUDA_DEVICE_ID);
  g_object_class_install_property(
      object_class, PROP_MATRIX,
      g_param_spec_enum(gpurtsp::gpunv12torgb::property::kMatrix, "Matrix", "YUV to RGB matrix",
                        GST_TYPE_GPU_NV12_TO_RGB_MATRIX, kDefaultMatrix,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                                                 G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "NV12 to RGB (CUDA)", "Filter/Converter/Video/Scaler/Hardware",
      "Converts NV12/I420 CUDA frames to RGB formats on the GPU, resizing in the same pass",
      "gpurtsp developers");
  element_class->set_context = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_set_context);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_change_state);

  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->start = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_stop);
  trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_fixate_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_set_caps);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_query);
  trans_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_propose_allocation);
  trans_class->decide_allocation = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_decide_allocation);
  trans_class->transform = GST_DEBUG_FUNCPTR(gst_gpu_nv12_to_rgb_transform);

  gst_type_mark_as_plugin_api(GST_TYPE_GPU_NV12_TO_RGB_MATRIX, static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(gst_gpu_nv12_to_rgb_debug, "gpunv12torgb", 0,
                          "CUDA NV12/I420 to RGB converter");
}

static void gst_gpu_nv12_to_rgb_init(GstGpuNv12ToRgb *self) {
  self->priv = new GstGpuNv12ToRgbPrivate();
}
