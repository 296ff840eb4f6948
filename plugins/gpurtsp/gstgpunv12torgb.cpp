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
#include "gstgpunv12torgb.h"

#include <gst/video/video.h>

#include <mutex>
#include <string>

#include "gpurtsp-cuda.h"
#include "nv12torgb-config.h"
#include "nv12torgb-kernels.h"

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

enum { PROP_0, PROP_DEVICE_ID, PROP_MATRIX };

#define DEFAULT_DEVICE_ID -1
#define DEFAULT_MATRIX GST_GPU_NV12_TO_RGB_MATRIX_AUTO

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

/* Device view of a video buffer made of one GstCudaMemory. Plane offsets and
 * strides come from the buffer's GstVideoMeta, else from the memory's own
 * GstVideoInfo: CUDA memory is pitch-allocated, so the caps' default strides
 * would be wrong. */
class MappedCudaFrame {
public:
  MappedCudaFrame() = default;
  ~MappedCudaFrame() {
    if (mem_)
      gst_memory_unmap(mem_, &map_);
  }
  MappedCudaFrame(const MappedCudaFrame &) = delete;
  MappedCudaFrame &operator=(const MappedCudaFrame &) = delete;

  /* Returns nullptr on success, else what is wrong with @buffer. */
  const char *map(GstBuffer *buffer, const GstVideoInfo &info, GstMapFlags flags,
                  GstCudaContext *context) {
    if (gst_buffer_n_memory(buffer) != 1)
      return "it does not hold exactly one memory";
    GstMemory *mem = gst_buffer_peek_memory(buffer, 0);
    if (!gst_is_cuda_memory(mem))
      return "it is not CUDA memory";
    GstCudaMemory *cmem = GST_CUDA_MEMORY_CAST(mem);
    if (gst_cuda_context_get_handle(cmem->context) != gst_cuda_context_get_handle(context))
      return "its CUDA memory belongs to another CUDA context (the CUDA elements of a "
             "pipeline must share one GstCudaContext)";

    const gsize *offsets = cmem->info.offset;
    const gint *strides = cmem->info.stride;
    if (GstVideoMeta *meta = gst_buffer_get_video_meta(buffer)) {
      if (meta->n_planes != GST_VIDEO_INFO_N_PLANES(&info))
        return "its video meta does not match the caps";
      offsets = meta->offset;
      strides = meta->stride;
    }
    if (!gst_memory_map(mem, &map_, static_cast<GstMapFlags>(flags | GST_MAP_CUDA)))
      return "mapping its CUDA memory failed";
    mem_ = mem;

    for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES(&info); i++) {
      const gsize row_bytes = static_cast<gsize>(GST_VIDEO_INFO_COMP_WIDTH(&info, i)) *
                              GST_VIDEO_INFO_COMP_PSTRIDE(&info, i);
      const gsize rows = GST_VIDEO_INFO_COMP_HEIGHT(&info, i);
      if (strides[i] <= 0 || static_cast<gsize>(strides[i]) < row_bytes ||
          offsets[i] + (rows - 1) * strides[i] + row_bytes > map_.size)
        return "its planes do not fit in its memory";
      planes_[i] = map_.data + offsets[i];
      strides_[i] = strides[i];
    }
    return nullptr;
  }

  guint8 *const *planes() const { return planes_; }
  const gint *strides() const { return strides_; }

private:
  GstMemory *mem_ = nullptr; /* mapped while set */
  GstMapInfo map_ = GST_MAP_INFO_INIT;
  guint8 *planes_[GST_VIDEO_MAX_PLANES] = {};
  gint strides_[GST_VIDEO_MAX_PLANES] = {};
};

} // namespace

struct GstGpuNv12ToRgbPrivate {
  /* Properties, set by the application, read by the streaming thread. */
  std::mutex settings_lock;
  gint device_id = DEFAULT_DEVICE_ID;            /* guarded by settings_lock */
  GstGpuNv12ToRgbMatrix matrix = DEFAULT_MATRIX; /* guarded by settings_lock */

  /* set_context() and CONTEXT queries arrive on any thread. Recursive:
   * ensure() posts need-context, and the application or the bin answers
   * with set_context() from inside that call. */
  std::recursive_mutex context_lock;
  gpurtsp::ElementCudaContext context; /* guarded by context_lock */

  /* Streaming state, built in start() and set_caps(), dropped in stop();
   * GstBaseTransform serialises those with the allocation queries and
   * transform(). */
  GstCudaContext *cuda = nullptr; /* owned ref: the context every buffer must be in */
  gpurtsp::CudaStream stream;
  rgb::Nv12ToRgbKernels kernels;
  rgb::Nv12ToI420Kernel split_kernel; /* loaded only for NV12 -> I420 */
  bool chroma_split = false;          /* negotiated NV12 -> I420 */
  GstVideoInfo in_info = {};
  GstVideoInfo out_info = {};
  rgb::ConvertParams params = {};
  GstGpuNv12ToRgbMatrix params_matrix = DEFAULT_MATRIX; /* the setting params was built with */
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
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_DEVICE_ID:
    priv->device_id = g_value_get_int(value);
    break;
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
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  switch (prop_id) {
  case PROP_DEVICE_ID:
    g_value_set_int(value, priv->device_id);
    break;
  case PROP_MATRIX:
    g_value_set_enum(value, priv->matrix);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static gint device_id_setting(GstGpuNv12ToRgb *self) {
  std::lock_guard<std::mutex> guard(self->priv->settings_lock);
  return self->priv->device_id;
}

static GstGpuNv12ToRgbMatrix matrix_setting(GstGpuNv12ToRgb *self) {
  std::lock_guard<std::mutex> guard(self->priv->settings_lock);
  return self->priv->matrix;
}

static void gst_gpu_nv12_to_rgb_set_context(GstElement *element, GstContext *context) {
  auto self = GST_GPU_NV12_TO_RGB(element);
  {
    std::lock_guard<std::recursive_mutex> guard(self->priv->context_lock);
    self->priv->context.set_context(element, context, device_id_setting(self));
  }
  GST_ELEMENT_CLASS(parent_class)->set_context(element, context);
}

static bool ensure_context(GstGpuNv12ToRgb *self) {
  std::lock_guard<std::recursive_mutex> guard(self->priv->context_lock);
  if (self->priv->context.ensure(GST_ELEMENT(self), device_id_setting(self)))
    return true;
  GST_ELEMENT_ERROR(
      self, RESOURCE, NOT_FOUND, ("No usable CUDA device"),
      ("gst_cuda_ensure_element_context failed for cuda-device-id %d", device_id_setting(self)));
  return false;
}

static GstStateChangeReturn gst_gpu_nv12_to_rgb_change_state(GstElement *element,
                                                             GstStateChange transition) {
  auto self = GST_GPU_NV12_TO_RGB(element);
  /* Find or create the context early, so elements that reach READY after
   * us (and ask their neighbours) share it. */
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !ensure_context(self))
    return GST_STATE_CHANGE_FAILURE;

  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    std::lock_guard<std::recursive_mutex> guard(self->priv->context_lock);
    self->priv->context.clear();
  }
  return ret;
}

static gboolean gst_gpu_nv12_to_rgb_start(GstBaseTransform *trans) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  auto priv = self->priv;
  if (!ensure_context(self))
    return FALSE;
  {
    std::lock_guard<std::recursive_mutex> guard(priv->context_lock);
    priv->cuda = static_cast<GstCudaContext *>(gst_object_ref(priv->context.get()));
  }
  /* Our own non-blocking stream: kernels of the hundreds of converters that
   * share the context run concurrently instead of queueing on the legacy
   * default stream, and waiting for one frame waits for nothing else. */
  CUresult result = priv->stream.create(priv->cuda);
  if (result != CUDA_SUCCESS) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuStreamCreate", result);
    gst_clear_object(&priv->cuda);
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_stop(GstBaseTransform *trans) {
  auto priv = GST_GPU_NV12_TO_RGB(trans)->priv;
  priv->kernels.reset();
  priv->split_kernel.reset();
  priv->chroma_split = false;
  priv->stream.reset();
  gst_clear_object(&priv->cuda);
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
  auto priv = self->priv;
  std::string error;
  auto params = rgb::make_convert_params(priv->in_info, priv->out_info, to_choice(matrix), error);
  if (!params) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("%s", error.c_str()));
    return false;
  }
  priv->params = *params;
  priv->params_matrix = matrix;
  return true;
}

static gboolean gst_gpu_nv12_to_rgb_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                             GstCaps *outcaps) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  auto priv = self->priv;
  if (!priv->cuda) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (nullptr), ("caps set before start"));
    return FALSE;
  }
  if (!rgb::video_info_from_caps(priv->in_info, incaps) ||
      !gst_video_info_from_caps(&priv->out_info, outcaps)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                      ("invalid caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, incaps, outcaps));
    return FALSE;
  }
  if (rgb::is_passthrough(priv->in_info, priv->out_info)) {
    /* Only the caps fields downstream added may differ (GstBaseTransform
     * turned passthrough off then): the frames are the same either way. */
    gst_base_transform_set_passthrough(trans, TRUE);
    GST_INFO_OBJECT(self, "passthrough: %s %dx%d", GST_VIDEO_INFO_NAME(&priv->in_info),
                    GST_VIDEO_INFO_WIDTH(&priv->in_info), GST_VIDEO_INFO_HEIGHT(&priv->in_info));
    return TRUE;
  }
  gst_base_transform_set_passthrough(trans, FALSE);
  priv->chroma_split = rgb::is_chroma_split(priv->in_info, priv->out_info);
  if (priv->chroma_split) {
    CUresult result = priv->split_kernel.load(priv->cuda);
    if (result != CUDA_SUCCESS) {
      GPURTSP_CUDA_ELEMENT_ERROR(self, "cuModuleLoadData/cuModuleGetFunction", result);
      return FALSE;
    }
    GST_INFO_OBJECT(self, "NV12 -> I420 %dx%d (chroma de-interleaved)",
                    GST_VIDEO_INFO_WIDTH(&priv->in_info), GST_VIDEO_INFO_HEIGHT(&priv->in_info));
    return TRUE;
  }
  if (!build_params(self, matrix_setting(self)))
    return FALSE;

  const bool nv12 = GST_VIDEO_INFO_FORMAT(&priv->in_info) == GST_VIDEO_FORMAT_NV12;
  const rgb::RgbLayout layout = *rgb::rgb_layout(GST_VIDEO_INFO_FORMAT(&priv->out_info));
  CUresult result = priv->kernels.load(priv->cuda, nv12, layout);
  if (result != CUDA_SUCCESS) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuModuleLoadData/cuModuleGetFunction", result);
    return FALSE;
  }
  GST_INFO_OBJECT(self, "%s %dx%d -> %s %dx%d", GST_VIDEO_INFO_NAME(&priv->in_info),
                  GST_VIDEO_INFO_WIDTH(&priv->in_info), GST_VIDEO_INFO_HEIGHT(&priv->in_info),
                  GST_VIDEO_INFO_NAME(&priv->out_info), GST_VIDEO_INFO_WIDTH(&priv->out_info),
                  GST_VIDEO_INFO_HEIGHT(&priv->out_info));
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_query(GstBaseTransform *trans, GstPadDirection direction,
                                          GstQuery *query) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  if (GST_QUERY_TYPE(query) == GST_QUERY_CONTEXT) {
    std::lock_guard<std::recursive_mutex> guard(self->priv->context_lock);
    if (self->priv->context.handle_query(GST_ELEMENT(self), query))
      return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

/* Configures @pool for @caps; on return @size is what the pool allocates. */
static bool configure_pool(GstBufferPool *pool, GstCaps *caps, guint &size, guint min, guint max) {
  GstStructure *config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_set_params(config, caps, size, min, max);
  if (!gst_buffer_pool_set_config(pool, config))
    return false;
  /* A CUDA pool rounds the size up to its pitch. */
  config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_get_params(config, nullptr, &size, nullptr, nullptr);
  gst_structure_free(config);
  return true;
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
  if (!caps || !gst_video_info_from_caps(&info, caps) || !priv->cuda)
    return FALSE;

  if (gst_query_get_n_allocation_pools(query) == 0) {
    GstBufferPool *pool = gst_cuda_buffer_pool_new(priv->cuda);
    guint size = GST_VIDEO_INFO_SIZE(&info);
    if (!configure_pool(pool, caps, size, 0, 0)) {
      GST_WARNING_OBJECT(trans, "could not configure a CUDA pool for %" GST_PTR_FORMAT, caps);
      gst_object_unref(pool);
      return FALSE;
    }
    gst_query_add_allocation_pool(query, pool, size, 0, 0);
    gst_object_unref(pool);
  }
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return TRUE;
}

static gboolean gst_gpu_nv12_to_rgb_decide_allocation(GstBaseTransform *trans, GstQuery *query) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  auto priv = self->priv;
  GstCaps *caps = nullptr;
  gst_query_parse_allocation(query, &caps, nullptr);
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps(&info, caps) || !priv->cuda)
    return FALSE;

  GstBufferPool *pool = nullptr;
  guint size = GST_VIDEO_INFO_SIZE(&info), min = 0, max = 0;
  const bool downstream_has_pool = gst_query_get_n_allocation_pools(query) > 0;
  if (downstream_has_pool) {
    /* Keep downstream's buffer counts: min is what it holds on to. */
    gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
    if (pool && (!GST_IS_CUDA_BUFFER_POOL(pool) ||
                 gst_cuda_context_get_handle(GST_CUDA_BUFFER_POOL(pool)->context) !=
                     gst_cuda_context_get_handle(priv->cuda)))
      gst_clear_object(&pool);
    if (pool && !configure_pool(pool, caps, size, min, max)) {
      GST_DEBUG_OBJECT(self, "downstream CUDA pool refused our config, using our own");
      gst_clear_object(&pool);
    }
  }
  if (!pool) {
    /* No cap on the count (max 0): frames downstream keeps must never stall
     * us. Without keepers, buffers come back at once and the pool holds the
     * one or two frames in flight. */
    pool = gst_cuda_buffer_pool_new(priv->cuda);
    size = GST_VIDEO_INFO_SIZE(&info);
    max = 0;
    if (!configure_pool(pool, caps, size, min, max)) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, (nullptr),
                        ("could not configure a CUDA buffer pool for %" GST_PTR_FORMAT, caps));
      gst_object_unref(pool);
      return FALSE;
    }
  }
  if (downstream_has_pool)
    gst_query_set_nth_allocation_pool(query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool(query, pool, size, min, max);
  gst_object_unref(pool);

  return GST_BASE_TRANSFORM_CLASS(parent_class)->decide_allocation(trans, query);
}

static GstFlowReturn gst_gpu_nv12_to_rgb_transform(GstBaseTransform *trans, GstBuffer *inbuf,
                                                   GstBuffer *outbuf) {
  auto self = GST_GPU_NV12_TO_RGB(trans);
  auto priv = self->priv;

  /* Never called in passthrough: GstBaseTransform pushes the input. */
  const GstGpuNv12ToRgbMatrix matrix = matrix_setting(self);
  if (!priv->chroma_split && matrix != priv->params_matrix && !build_params(self, matrix))
    return GST_FLOW_NOT_NEGOTIATED;

  MappedCudaFrame in, out;
  if (const char *why = in.map(inbuf, priv->in_info, GST_MAP_READ, priv->cuda)) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, (nullptr), ("Unusable input buffer: %s", why));
    return GST_FLOW_ERROR;
  }
  if (const char *why = out.map(outbuf, priv->out_info, GST_MAP_WRITE, priv->cuda)) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, (nullptr), ("Unusable output buffer: %s", why));
    return GST_FLOW_ERROR;
  }
  const rgb::YuvSource src = rgb::make_source(priv->in_info, in.planes(), in.strides());
  const rgb::RgbTarget dst = rgb::make_target(priv->out_info, out.planes(), out.strides());

  gpurtsp::CudaContextScope scope(priv->cuda);
  if (!scope.pushed()) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuCtxPushCurrent", CUDA_ERROR_INVALID_CONTEXT);
    return GST_FLOW_ERROR;
  }
  /* GStreamer 1.22: CUDA memory has no stream, upstream finished writing the
   * input before pushing it. 1.24+: upstream (nvh264dec) may still be writing
   * it on its own stream; wait for that stream unless it is ours. Under both
   * rules downstream reads the output as soon as we return, without looking
   * for a stream, and the input goes back to upstream's pool on return, so
   * the kernel must be complete here. */
  gpurtsp::sync_producer_stream(gst_buffer_peek_memory(inbuf, 0), priv->stream.get());
  CUresult result = priv->chroma_split
                        ? priv->split_kernel.launch(src, dst, priv->stream.get())
                        : priv->kernels.launch(src, dst, priv->params, priv->stream.get());
  if (result != CUDA_SUCCESS) {
    GPURTSP_CUDA_ELEMENT_ERROR(self, "cuLaunchKernel", result);
    return GST_FLOW_ERROR;
  }
  result = CuStreamSynchronize(priv->stream.get());
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

  object_class->finalize = gst_gpu_nv12_to_rgb_finalize;
  object_class->set_property = gst_gpu_nv12_to_rgb_set_property;
  object_class->get_property = gst_gpu_nv12_to_rgb_get_property;

  g_object_class_install_property(
      object_class, PROP_DEVICE_ID,
      g_param_spec_int("cuda-device-id", "CUDA device id",
                       "GPU to use when the pipeline has no CUDA context yet (-1 = any)", -1,
                       G_MAXINT, DEFAULT_DEVICE_ID,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
                                                G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_MATRIX,
      g_param_spec_enum("matrix", "Matrix", "YUV to RGB matrix", GST_TYPE_GPU_NV12_TO_RGB_MATRIX,
                        DEFAULT_MATRIX,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
                                                 G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "NV12 to RGB (CUDA)", "Filter/Converter/Video/Scaler/Hardware",
      "Converts NV12/I420 CUDA frames to RGB formats on the GPU, resizing in the same pass",
      "gpurtsp developers");
  element_class->set_context = gst_gpu_nv12_to_rgb_set_context;
  element_class->change_state = gst_gpu_nv12_to_rgb_change_state;

  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->start = gst_gpu_nv12_to_rgb_start;
  trans_class->stop = gst_gpu_nv12_to_rgb_stop;
  trans_class->transform_caps = gst_gpu_nv12_to_rgb_transform_caps;
  trans_class->fixate_caps = gst_gpu_nv12_to_rgb_fixate_caps;
  trans_class->set_caps = gst_gpu_nv12_to_rgb_set_caps;
  trans_class->query = gst_gpu_nv12_to_rgb_query;
  trans_class->propose_allocation = gst_gpu_nv12_to_rgb_propose_allocation;
  trans_class->decide_allocation = gst_gpu_nv12_to_rgb_decide_allocation;
  trans_class->transform = gst_gpu_nv12_to_rgb_transform;

  gst_type_mark_as_plugin_api(GST_TYPE_GPU_NV12_TO_RGB_MATRIX, static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(gst_gpu_nv12_to_rgb_debug, "gpunv12torgb", 0,
                          "CUDA NV12/I420 to RGB converter");
}

static void gst_gpu_nv12_to_rgb_init(GstGpuNv12ToRgb *self) {
  self->priv = new GstGpuNv12ToRgbPrivate();
}
