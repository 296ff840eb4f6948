// SPDX-License-Identifier: MIT
#include "capi/jpeg.h"

#include "capi/cuda-context.h"

#include <gst/app/app.h>
#include <gst/video/video.h>

#if GPURTSP_HAVE_CUDA
#include "core/gpurtsp-cuda.h"
#endif

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

using gpurtsp::capi::set_error;

namespace {

constexpr GstClockTime kEncodeTimeout = 10 * GST_SECOND;

/* A persistent encoding pipeline: device >= 0 runs gpujpegenc on that
 * device's process-wide context, device -1 jpegenc on the CPU. It starts on
 * first use and again after a failure; it is never freed (a process-lifetime
 * object, like the context it shares). */
class Encoder {
public:
  static Encoder *get(int device) {
    static std::mutex lock;
    static auto *encoders = new std::map<int, Encoder *>; /* guarded by lock */
    std::lock_guard<std::mutex> guard(lock);
    Encoder *&encoder = (*encoders)[device];
    if (!encoder)
      encoder = new Encoder(device);
    return encoder;
  }

  /* Encodes @sample's buffer at @quality into @jpeg. */
  bool encode(GstSample *sample, int quality, std::string &jpeg, std::string &why) {
    std::lock_guard<std::mutex> guard(lock_);
    if (!pipeline_ && !start(why))
      return false;
    g_object_set(encoder_, "quality", static_cast<guint>(quality), nullptr);
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    /* The encoder reads only the pixels; a timestamp of our own keeps every
     * input distinct for GstVideoEncoder. */
    GstBuffer *input = gst_buffer_copy(buffer); /* shares the memory */
    GST_BUFFER_PTS(input) = count_++ * GST_MSECOND;
    GST_BUFFER_DURATION(input) = GST_MSECOND;
    GstSample *in = gst_sample_new(input, gst_sample_get_caps(sample), nullptr, nullptr);
    gst_buffer_unref(input);
    const GstFlowReturn ret = gst_app_src_push_sample(GST_APP_SRC(source_), in);
    gst_sample_unref(in);
    GstSample *out = ret == GST_FLOW_OK
                         ? gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), kEncodeTimeout)
                         : nullptr;
    if (!out) {
      why = bus_problem();
      if (why.empty())
        why = ret != GST_FLOW_OK
                  ? std::string("the encoder refused the frame: ") + gst_flow_get_name(ret)
                  : "no JPEG within 10 s";
      stop();
      return false;
    }
    GstBuffer *output = gst_sample_get_buffer(out);
    GstMapInfo map;
    if (output && gst_buffer_map(output, &map, GST_MAP_READ)) {
      jpeg.assign(reinterpret_cast<const char *>(map.data), map.size);
      gst_buffer_unmap(output, &map);
    }
    gst_sample_unref(out);
    if (jpeg.empty()) {
      why = "the encoder returned no data";
      return false;
    }
    return true;
  }

#if GPURTSP_HAVE_CUDA
  /* The device's process-wide context (CUDA encoders), borrowed. */
  GstCudaContext *context(std::string &why) {
    std::lock_guard<std::mutex> guard(lock_);
    return ensure_context(why);
  }
#endif

private:
  explicit Encoder(int device) : device_(device) {}

#if GPURTSP_HAVE_CUDA
  GstCudaContext *ensure_context(std::string &why) {
    if (!context_) {
      char error[256] = "";
      context_ =
          static_cast<GstCudaContext *>(gpurtsp_capi_cuda_context(device_, error, sizeof error));
      if (!context_)
        why = error;
    }
    return context_;
  }
#endif

  bool start(std::string &why) {
    GError *error = nullptr;
    const char *description =
        device_ >= 0
            /* rgb-444: RGB tensors keep every pixel's chroma, as the CPU
             * path's jpegenc does for RGB; NV12 stays 4:2:0. */
            ? "appsrc name=src format=time ! gpujpegenc name=enc rgb-444=true ! appsink "
              "name=sink sync=false"
            /* Through RGB: jpegenc would store YUV input's limited-range
             * samples as they are in a JFIF (full-range) JPEG. */
            : "appsrc name=src format=time ! videoconvert ! video/x-raw,format=RGB "
              "! jpegenc name=enc ! appsink name=sink sync=false";
    GstElement *pipeline = gst_parse_launch(description, &error);
    if (!pipeline || error) {
      why = std::string("cannot build the JPEG encoder (") + description +
            "): " + (error ? error->message : "unknown error") +
            (device_ >= 0 ? " (is the gpurtsp plugin in GST_PLUGIN_PATH, and was it built with "
                            "CUDA and a GPU present?)"
                          : "");
      g_clear_error(&error);
      if (pipeline)
        gst_object_unref(pipeline);
      return false;
    }
#if GPURTSP_HAVE_CUDA
    if (device_ >= 0) {
      GstCudaContext *ctx = ensure_context(why);
      if (!ctx) {
        gst_object_unref(pipeline);
        return false;
      }
      GstContext *shared = gst_context_new_cuda_context(ctx);
      gst_element_set_context(pipeline, shared);
      gst_context_unref(shared);
    }
#endif
    pipeline_ = pipeline;
    source_ = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    encoder_ = gst_bin_get_by_name(GST_BIN(pipeline), "enc");
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      why = bus_problem();
      if (why.empty())
        why = "the JPEG encoder pipeline did not start";
      stop();
      return false;
    }
    return true;
  }

  void stop() {
    if (!pipeline_)
      return;
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_clear_object(&source_);
    gst_clear_object(&encoder_);
    gst_clear_object(&sink_);
    gst_clear_object(&pipeline_);
  }

  /* The first error (else warning) the pipeline posted, "" if none. */
  std::string bus_problem() {
    GstBus *bus = gst_element_get_bus(pipeline_);
    std::string problem;
    while (GstMessage *message = gst_bus_pop_filtered(
               bus, static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
      GError *error = nullptr;
      gchar *debug = nullptr;
      const bool is_error = GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR;
      if (is_error)
        gst_message_parse_error(message, &error, &debug);
      else
        gst_message_parse_warning(message, &error, &debug);
      if (problem.empty() || is_error)
        problem = std::string(error->message) + (debug ? std::string(" (") + debug + ")" : "");
      g_clear_error(&error);
      g_free(debug);
      gst_message_unref(message);
    }
    gst_object_unref(bus);
    return problem;
  }

  const int device_;
  std::mutex lock_; /* guards everything below */
  GstElement *pipeline_ = nullptr;
  GstElement *source_ = nullptr;
  GstElement *encoder_ = nullptr;
  GstElement *sink_ = nullptr;
  guint64 count_ = 0;
#if GPURTSP_HAVE_CUDA
  GstCudaContext *context_ = nullptr; /* owned, kept for the process */
#endif
};

struct CapsUnref {
  void operator()(GstCaps *caps) const { gst_caps_unref(caps); }
};
struct SampleUnref {
  void operator()(GstSample *sample) const { gst_sample_unref(sample); }
};
struct BufferUnref {
  void operator()(GstBuffer *buffer) const { gst_buffer_unref(buffer); }
};

/* Checks @image and fills @info; "" or what is wrong. */
std::string image_info(const GpurtspCapiImage &image, GstVideoInfo &info) {
  const GstVideoFormat format = gst_video_format_from_string(image.format);
  if (format != GST_VIDEO_FORMAT_RGB && format != GST_VIDEO_FORMAT_BGR &&
      format != GST_VIDEO_FORMAT_RGBP && format != GST_VIDEO_FORMAT_NV12)
    return std::string("format ") + image.format + " cannot be encoded (RGB, BGR, RGBP, NV12)";
  if (image.width < 1 || image.height < 1 || image.width > 65535 || image.height > 65535)
    return "size " + std::to_string(image.width) + "x" + std::to_string(image.height) +
           " is outside 1x1 to 65535x65535";
  if (!image.data)
    return "the image has no data pointer";
  gst_video_info_set_format(&info, format, image.width, image.height);
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&info); p++) {
    const gint64 row_bytes = GST_VIDEO_INFO_COMP_WIDTH(&info, p) *
                             static_cast<gint64>(GST_VIDEO_INFO_COMP_PSTRIDE(&info, p));
    if (image.row_stride < row_bytes)
      return "row stride " + std::to_string(image.row_stride) + " is less than a row (" +
             std::to_string(row_bytes) + " bytes)";
  }
  if (GST_VIDEO_INFO_N_PLANES(&info) > 1 &&
      image.plane_stride < image.row_stride * static_cast<gint64>(image.height))
    return "plane stride " + std::to_string(image.plane_stride) + " is less than a plane (" +
           std::to_string(image.row_stride * image.height) + " bytes)";
  return "";
}

/* Where plane @p of @image is, and how much of it a frame of @info holds.
 * Plane p holds component p in every format accepted (NV12: U and V share
 * plane 1, two bytes per chroma sample). */
struct PlaneCopy {
  uint64_t src;
  gint64 row_bytes;
  gint64 rows;
};
PlaneCopy plane_of(const GpurtspCapiImage &image, const GstVideoInfo &info, guint p) {
  return {image.data + p * static_cast<uint64_t>(image.plane_stride),
          GST_VIDEO_INFO_COMP_WIDTH(&info, p) *
              static_cast<gint64>(GST_VIDEO_INFO_COMP_PSTRIDE(&info, p)),
          GST_VIDEO_INFO_COMP_HEIGHT(&info, p)};
}

GstSample *host_sample(const GpurtspCapiImage &image, const GstVideoInfo &info) {
  GstBuffer *buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &info, buffer, GST_MAP_WRITE)) {
    gst_buffer_unref(buffer);
    return nullptr;
  }
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&info); p++) {
    const PlaneCopy plane = plane_of(image, info, p);
    auto *dst = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    const gint dst_stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
    for (gint64 row = 0; row < plane.rows; row++)
      std::memcpy(dst + row * dst_stride,
                  reinterpret_cast<const guint8 *>(plane.src + row * image.row_stride),
                  plane.row_bytes);
  }
  gst_video_frame_unmap(&frame);
  GstCaps *caps = gst_video_info_to_caps(&info);
  GstSample *sample = gst_sample_new(buffer, caps, nullptr, nullptr);
  gst_caps_unref(caps);
  gst_buffer_unref(buffer);
  return sample;
}

#if GPURTSP_HAVE_CUDA
/* A CUDA buffer of @ctx holding a copy of @image (device memory of the same
 * device; read through unified addressing). */
GstSample *cuda_sample(const GpurtspCapiImage &image, GstVideoInfo &info, GstCudaContext *ctx,
                       std::string &why) {
  std::unique_ptr<GstCaps, CapsUnref> caps(gst_video_info_to_caps(&info));
  gst_caps_set_features(caps.get(), 0,
                        gst_caps_features_new(GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY, nullptr));
  /* One small pool per call keeps no memory between encodes of different
   * sizes; the copy is a device-to-device memcpy, small next to nvJPEG. */
  GstBufferPool *pool = gst_cuda_buffer_pool_new(ctx);
  guint size = 0;
  GstBuffer *raw = nullptr;
  const bool ok = gpurtsp::configure_pool(pool, caps.get(), size, 1, 1) &&
                  gst_buffer_pool_set_active(pool, TRUE) &&
                  gst_buffer_pool_acquire_buffer(pool, &raw, nullptr) == GST_FLOW_OK;
  gst_buffer_pool_set_active(pool, FALSE);
  gst_object_unref(pool);
  if (!ok) {
    why = "cannot allocate a CUDA frame for the copy";
    return nullptr;
  }
  std::unique_ptr<GstBuffer, BufferUnref> buffer(raw);
  {
    gpurtsp::MappedVideoFrame out;
    if (const char *problem = out.map_cuda(buffer.get(), info, GST_MAP_WRITE, ctx)) {
      why = problem;
      return nullptr;
    }
    gpurtsp::CudaContextScope scope(ctx);
    if (!scope.pushed()) {
      why = "cannot make the CUDA context current";
      return nullptr;
    }
    if (image.stream) {
      const CUresult result =
          CuStreamSynchronize(reinterpret_cast<CUstream>(static_cast<uintptr_t>(image.stream)));
      if (result != CUDA_SUCCESS) {
        why = std::string("cuStreamSynchronize failed: ") + gpurtsp::cuda_error_name(result);
        return nullptr;
      }
    }
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&info); p++) {
      const PlaneCopy plane = plane_of(image, info, p);
      CUDA_MEMCPY2D copy = {};
      copy.srcMemoryType = CU_MEMORYTYPE_UNIFIED;
      copy.srcDevice = static_cast<CUdeviceptr>(plane.src);
      copy.srcPitch = static_cast<size_t>(image.row_stride);
      copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
      copy.dstDevice = reinterpret_cast<CUdeviceptr>(out.planes()[p]);
      copy.dstPitch = static_cast<size_t>(out.strides()[p]);
      copy.WidthInBytes = static_cast<size_t>(plane.row_bytes);
      copy.Height = static_cast<size_t>(plane.rows);
      const CUresult result = CuMemcpy2DAsync(&copy, nullptr);
      if (result != CUDA_SUCCESS) {
        why = std::string("cuMemcpy2DAsync from the tensor failed: ") +
              gpurtsp::cuda_error_name(result);
        return nullptr;
      }
    }
    /* A device-to-device copy returns before it is done, and gpujpegenc
     * reads on a non-blocking stream that does not wait for the legacy
     * one: without this wait nvJPEG read rows the copy had not written yet
     * (30.2 dB instead of 47.7 in python-gpu-frame on the GPU host). */
    const CUresult result = CuStreamSynchronize(nullptr);
    if (result != CUDA_SUCCESS) {
      why = std::string("cuStreamSynchronize after the copy failed: ") +
            gpurtsp::cuda_error_name(result);
      return nullptr;
    }
  }
  return gst_sample_new(buffer.get(), caps.get(), nullptr, nullptr);
}
#endif

int finish(bool ok, const std::string &jpeg, const std::string &why, void **out, size_t *out_size,
           char *error, size_t error_size) {
  if (!ok) {
    set_error(error, error_size, why);
    return -1;
  }
  void *data = std::malloc(jpeg.size());
  if (!data) {
    set_error(error, error_size, "out of memory");
    return -1;
  }
  std::memcpy(data, jpeg.data(), jpeg.size());
  *out = data;
  *out_size = jpeg.size();
  return 0;
}

/* The encoders may be the process's first use of GStreamer (a host image
 * allocates a buffer before any pipeline exists). */
bool init_gstreamer(std::string &why) {
  GError *error = nullptr;
  if (gst_init_check(nullptr, nullptr, &error))
    return true;
  why = std::string("GStreamer did not initialise: ") + error->message;
  g_error_free(error);
  return false;
}

bool check_quality(int quality, std::string &why) {
  if (quality >= 1 && quality <= 100)
    return true;
  why = "quality " + std::to_string(quality) + " is outside 1-100";
  return false;
}

} // namespace

extern "C" int gpurtsp_capi_encode_jpeg(const GpurtspCapiImage *image, int quality, void **jpeg,
                                        size_t *jpeg_size, char *error, size_t error_size) {
  std::string why, out;
  if (!check_quality(quality, why) || !init_gstreamer(why))
    return finish(false, out, why, jpeg, jpeg_size, error, error_size);
  GstVideoInfo info;
  why = image_info(*image, info);
  if (!why.empty())
    return finish(false, out, why, jpeg, jpeg_size, error, error_size);
  std::unique_ptr<GstSample, SampleUnref> sample;
  Encoder *encoder = Encoder::get(image->device >= 0 ? image->device : -1);
  if (image->device < 0) {
    sample.reset(host_sample(*image, info));
    if (!sample)
      why = "cannot allocate a frame for the copy";
  } else {
#if GPURTSP_HAVE_CUDA
    if (GstCudaContext *ctx = encoder->context(why))
      sample.reset(cuda_sample(*image, info, ctx, why));
#else
    why = "gpurtsp was built without CUDA: only host memory can be encoded";
#endif
  }
  const bool ok = sample && encoder->encode(sample.get(), quality, out, why);
  return finish(ok, out, why, jpeg, jpeg_size, error, error_size);
}

extern "C" int gpurtsp_capi_encode_jpeg_frame(GpurtspCapiFrame *frame, int quality, void **jpeg,
                                              size_t *jpeg_size, char *error, size_t error_size) {
  std::string why, out;
  if (!check_quality(quality, why))
    return finish(false, out, why, jpeg, jpeg_size, error, error_size);
  GpurtspCapiFrameInfo info;
  gpurtsp_capi_frame_info(frame, &info);
  auto *sample = static_cast<GstSample *>(gpurtsp_capi_frame_sample(frame));
  if (info.device_type != 2) /* host memory: videoconvert takes any raw video */
    return finish(Encoder::get(-1)->encode(sample, quality, out, why), out, why, jpeg, jpeg_size,
                  error, error_size);
#if GPURTSP_HAVE_CUDA
  Encoder *encoder = Encoder::get(info.device_id);
  GstCudaContext *ctx = encoder->context(why);
  if (!ctx)
    return finish(false, out, why, jpeg, jpeg_size, error, error_size);
  GstMemory *mem = gst_buffer_peek_memory(gst_sample_get_buffer(sample), 0);
  if (gst_cuda_context_get_handle(GST_CUDA_MEMORY_CAST(mem)->context) ==
      gst_cuda_context_get_handle(ctx))
    return finish(encoder->encode(sample, quality, out, why), out, why, jpeg, jpeg_size, error,
                  error_size);
  /* Another context's memory (a pipeline of the application's own): copy. */
  if (info.ndim == 0)
    return finish(false, out, info.layout_error, jpeg, jpeg_size, error, error_size);
  GpurtspCapiImage image = {};
  image.data = info.data;
  image.device = info.device_id;
  image.width = info.width;
  image.height = info.height;
  image.row_stride = std::string(info.format) == "RGBP" ? info.strides[1] : info.strides[0];
  image.plane_stride = std::string(info.format) == "RGBP"   ? info.strides[0]
                       : std::string(info.format) == "NV12" ? info.strides[0] * info.chroma_row
                                                            : 0;
  image.stream = info.stream;
  std::snprintf(image.format, sizeof image.format, "%s", info.format);
  return gpurtsp_capi_encode_jpeg(&image, quality, jpeg, jpeg_size, error, error_size);
#else
  return finish(false, out, "gpurtsp was built without CUDA", jpeg, jpeg_size, error, error_size);
#endif
}

extern "C" void gpurtsp_capi_free(void *data) {
  std::free(data);
}
