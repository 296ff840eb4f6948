// SPDX-License-Identifier: MIT
#include "capi/frame.h"

#include "capi/cuda-context.h"
#include "capi/dlpack.h"

#include <gst/video/video.h>

#include <gpurtsp/latestframesink.hpp>

#if GPURTSP_HAVE_CUDA
#include "core/gpurtsp-cuda.h"
#endif

#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

using gpurtsp::capi::set_error;

namespace {

std::atomic<uint64_t> frames_alive{0};

/* A buffer's planes mapped for the host or, for CUDA memory, the device. */
class Mapping {
public:
  virtual ~Mapping() = default;
  virtual const GstVideoInfo &info() const = 0;
  virtual guint8 *plane(guint i) const = 0;
};

class HostMapping final : public Mapping {
public:
  ~HostMapping() override {
    if (mapped_)
      gst_video_frame_unmap(&frame_);
  }
  bool map(GstBuffer *buffer, const GstVideoInfo &info) {
    mapped_ = gst_video_frame_map(&frame_, &info, buffer, GST_MAP_READ);
    return mapped_;
  }
  const GstVideoInfo &info() const override { return frame_.info; }
  guint8 *plane(guint i) const override { return static_cast<guint8 *>(frame_.data[i]); }

private:
  GstVideoFrame frame_ = {};
  bool mapped_ = false;
};

#if GPURTSP_HAVE_CUDA
class CudaMapping final : public Mapping {
public:
  const GstVideoInfo &info() const override { return frame_.frame()->info; }
  guint8 *plane(guint i) const override { return frame_.planes()[i]; }
  mutable gpurtsp::MappedVideoFrame frame_; /* its accessors are not const */
};
#endif

} // namespace

struct GpurtspCapiFrame {
  std::atomic<int> refs{1};
  GstSample *sample = nullptr; /* owned */
  std::unique_ptr<Mapping> mapping;
  GpurtspCapiFrameInfo info = {};
#if GPURTSP_HAVE_CUDA
  GstCudaContext *context = nullptr; /* owned, CUDA memory only */
#endif

  GpurtspCapiFrame() {
    frames_alive++;
  }
  ~GpurtspCapiFrame() {
    mapping.reset(); /* unmap before the buffer may go back to its pool */
#if GPURTSP_HAVE_CUDA
    gst_clear_object(&context);
#endif
    if (sample)
      gst_sample_unref(sample);
    frames_alive--;
  }
};

namespace {

/* Describes the mapped planes as one tensor in @info, or says why not. */
void describe(GpurtspCapiFrameInfo &out, const Mapping &mapping) {
  const GstVideoInfo &vi = mapping.info();
  const GstVideoFormatInfo *finfo = vi.finfo;
  const int64_t width = GST_VIDEO_INFO_WIDTH(&vi), height = GST_VIDEO_INFO_HEIGHT(&vi);
  const guint n_planes = GST_VIDEO_INFO_N_PLANES(&vi);
  const int64_t stride0 = GST_VIDEO_INFO_PLANE_STRIDE(&vi, 0);
  std::string why;
  out.data = reinterpret_cast<uintptr_t>(mapping.plane(0));
  if (GST_VIDEO_FORMAT_INFO_BITS(finfo) != 8) {
    why = "its format has more than 8 bits per sample";
  } else if (n_planes == 1 && GST_VIDEO_FORMAT_INFO_IS_RGB(finfo)) {
    /* Packed RGB: H x W x bytes per pixel. */
    const int64_t pixel = GST_VIDEO_INFO_COMP_PSTRIDE(&vi, 0);
    out.ndim = 3;
    out.shape[0] = height, out.shape[1] = width, out.shape[2] = pixel;
    out.strides[0] = stride0, out.strides[1] = pixel, out.strides[2] = 1;
  } else if (n_planes == 3 && GST_VIDEO_FORMAT_INFO_IS_RGB(finfo)) {
    /* Planar RGB: C x H x W, when the planes are evenly spaced with one pitch. */
    const int64_t gap = mapping.plane(1) - mapping.plane(0);
    if (mapping.plane(2) - mapping.plane(1) != gap || gap < stride0 * height ||
        GST_VIDEO_INFO_PLANE_STRIDE(&vi, 1) != stride0 ||
        GST_VIDEO_INFO_PLANE_STRIDE(&vi, 2) != stride0)
      why = "its three planes are not evenly spaced with one row pitch";
    out.ndim = 3;
    out.shape[0] = 3, out.shape[1] = height, out.shape[2] = width;
    out.strides[0] = gap, out.strides[1] = stride0, out.strides[2] = 1;
  } else if (GST_VIDEO_INFO_FORMAT(&vi) == GST_VIDEO_FORMAT_NV12) {
    /* Luma rows then chroma rows: one 2-D tensor when the chroma plane
     * starts a whole number of rows after the luma plane, at the same pitch. */
    const int64_t chroma_rows = (height + 1) / 2;
    const int64_t gap = mapping.plane(1) - mapping.plane(0);
    if (stride0 <= 0 || gap % stride0 != 0 || gap / stride0 < height ||
        GST_VIDEO_INFO_PLANE_STRIDE(&vi, 1) != stride0)
      why = "its chroma plane does not start a whole number of rows after the luma plane at "
            "the same pitch";
    else
      out.chroma_row = static_cast<int32_t>(gap / stride0);
    /* An odd width still has a whole last Cb/Cr pair in each chroma row. */
    out.ndim = 2;
    out.shape[0] = out.chroma_row + chroma_rows, out.shape[1] = (width + 1) / 2 * 2;
    out.strides[0] = stride0, out.strides[1] = 1;
  } else {
    why = std::string("format ") + GST_VIDEO_FORMAT_INFO_NAME(finfo) +
          " has no tensor layout (RGB, BGR, RGBA-like, RGBP, BGRP and NV12 have)";
  }
  if (!why.empty()) {
    out.ndim = 0;
    std::snprintf(out.layout_error, sizeof out.layout_error, "%s frame: %s",
                  GST_VIDEO_FORMAT_INFO_NAME(finfo), why.c_str());
    return;
  }
  uint64_t last = 0;
  for (int d = 0; d < out.ndim; d++)
    last += static_cast<uint64_t>(out.shape[d] - 1) * static_cast<uint64_t>(out.strides[d]);
  out.nbytes = last + 1;
}

} // namespace

extern "C" GpurtspCapiFrame *gpurtsp_capi_frame_new(void *sample_pointer, int adopt, char *error,
                                                    size_t error_size) {
  auto *sample = static_cast<GstSample *>(sample_pointer);
  if (!sample || !GST_IS_SAMPLE(sample)) {
    set_error(error, error_size, "not a GstSample");
    return nullptr;
  }
  auto frame = std::make_unique<GpurtspCapiFrame>();
  frame->sample = adopt ? sample : gst_sample_ref(sample);

  GstBuffer *buffer = gst_sample_get_buffer(sample);
  GstCaps *caps = gst_sample_get_caps(sample);
  GstVideoInfo vinfo;
  if (!buffer || !caps) {
    set_error(error, error_size, "the sample has no buffer or no caps");
    return nullptr;
  }
  if (!gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-raw") ||
      !gst_video_info_from_caps(&vinfo, caps)) {
    set_error(error, error_size,
              std::string("the sample is not raw video (caps ") +
                  gst_structure_get_name(gst_caps_get_structure(caps, 0)) +
                  "): only frames of format RGB, BGR, RGBP or NV12 are tensors");
    return nullptr;
  }

  GpurtspCapiFrameInfo &info = frame->info;
  info.device_type = kGpurtspDLCPU;
#if GPURTSP_HAVE_CUDA
  GstMemory *first = gst_buffer_n_memory(buffer) ? gst_buffer_peek_memory(buffer, 0) : nullptr;
  if (first && gst_is_cuda_memory(first)) {
    GstCudaContext *ctx = GST_CUDA_MEMORY_CAST(first)->context;
    auto mapping = std::make_unique<CudaMapping>();
    if (const char *why = mapping->frame_.map_cuda(buffer, vinfo, GST_MAP_READ, ctx)) {
      set_error(error, error_size, std::string("cannot map the frame's CUDA memory: ") + why);
      return nullptr;
    }
    frame->context = static_cast<GstCudaContext *>(gst_object_ref(ctx));
    gint device = 0;
    g_object_get(ctx, "cuda-device-id", &device, nullptr);
    info.device_type = kGpurtspDLCUDA;
    info.device_id = device;
#if GST_CHECK_VERSION(1, 24, 0)
    if (GstCudaStream *stream = gst_cuda_memory_get_stream(GST_CUDA_MEMORY_CAST(first)))
      info.stream = reinterpret_cast<uintptr_t>(gst_cuda_stream_get_handle(stream));
#endif
    frame->mapping = std::move(mapping);
  }
#endif
  if (!frame->mapping) {
    auto mapping = std::make_unique<HostMapping>();
    if (!mapping->map(buffer, vinfo)) {
      set_error(error, error_size, "cannot map the frame's memory for reading");
      return nullptr;
    }
    frame->mapping = std::move(mapping);
  }

  info.width = GST_VIDEO_INFO_WIDTH(&vinfo);
  info.height = GST_VIDEO_INFO_HEIGHT(&vinfo);
  std::snprintf(info.format, sizeof info.format, "%s",
                gst_video_format_to_string(vinfo.finfo->format));
  if (gchar *colorimetry = gst_video_colorimetry_to_string(&vinfo.colorimetry)) {
    std::snprintf(info.colorimetry, sizeof info.colorimetry, "%s", colorimetry);
    g_free(colorimetry);
  }
  /* From the caps themselves: GStreamer 1.22's gst_video_info_from_caps()
   * drops chroma-site when the caps carry no colorimetry. */
  if (const gchar *site = gst_structure_get_string(gst_caps_get_structure(caps, 0), "chroma-site"))
    std::snprintf(info.chroma_site, sizeof info.chroma_site, "%s", site);
  info.pts = GST_BUFFER_PTS_IS_VALID(buffer) ? static_cast<int64_t>(GST_BUFFER_PTS(buffer)) : -1;
  if (auto sink_info = gpurtsp::frame_info(sample)) {
    info.sequence = sink_info->sequence;
    info.arrival_time = sink_info->arrival_time;
  }
  describe(info, *frame->mapping);
  return frame.release();
}

extern "C" GpurtspCapiFrame *gpurtsp_capi_frame_ref(GpurtspCapiFrame *frame) {
  frame->refs.fetch_add(1, std::memory_order_relaxed);
  return frame;
}

extern "C" void gpurtsp_capi_frame_unref(GpurtspCapiFrame *frame) {
  if (frame && frame->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete frame;
}

extern "C" void gpurtsp_capi_frame_info(const GpurtspCapiFrame *frame, GpurtspCapiFrameInfo *info) {
  *info = frame->info;
}

extern "C" void *gpurtsp_capi_frame_sample(const GpurtspCapiFrame *frame) {
  return frame->sample;
}

extern "C" int gpurtsp_capi_frame_order_before(GpurtspCapiFrame *frame, uint64_t consumer_stream,
                                               char *error, size_t error_size) {
  if (frame->info.device_type != kGpurtspDLCUDA || !frame->info.stream)
    return 0; /* host memory, or a producer that synchronised before pushing */
#if GPURTSP_HAVE_CUDA
  std::string why;
  const gpurtsp::capi::DriverExtras *driver = gpurtsp::capi::driver_extras(why);
  if (!driver) {
    set_error(error, error_size, why);
    return -1;
  }
  gpurtsp::CudaContextScope scope(frame->context);
  if (!scope.pushed()) {
    set_error(error, error_size, "cannot make the frame's CUDA context current");
    return -1;
  }
  CUevent event = nullptr;
  auto producer = reinterpret_cast<CUstream>(static_cast<uintptr_t>(frame->info.stream));
  auto consumer = reinterpret_cast<CUstream>(static_cast<uintptr_t>(consumer_stream));
  CUresult result = driver->cuEventCreate(&event, CU_EVENT_DISABLE_TIMING);
  const char *call = "cuEventCreate";
  if (result == CUDA_SUCCESS) {
    call = "cuEventRecord";
    result = driver->cuEventRecord(event, producer);
    if (result == CUDA_SUCCESS) {
      call = "cuStreamWaitEvent";
      result = driver->cuStreamWaitEvent(consumer, event, 0);
    }
    /* Destroying a recorded event is deferred by the driver until it completes. */
    driver->cuEventDestroy(event);
  }
  if (result != CUDA_SUCCESS) {
    set_error(error, error_size,
              std::string(call) + " failed: " + gpurtsp::cuda_error_name(result));
    return -1;
  }
  return 0;
#else
  (void)consumer_stream;
  set_error(error, error_size, "built without CUDA");
  return -1;
#endif
}

namespace {

/* What a DLPack tensor of a frame owns: the frame reference and the arrays
 * its DLTensor points into. */
template <typename Managed>
struct FrameTensor {
  Managed managed = {};
  int64_t shape[3] = {};
  int64_t strides[3] = {};
  GpurtspCapiFrame *frame = nullptr; /* one reference */

  static void deleter(Managed *self) {
    auto *owner = static_cast<FrameTensor *>(self->manager_ctx);
    gpurtsp_capi_frame_unref(owner->frame);
    delete owner;
  }
};

template <typename Managed>
Managed *make_tensor(GpurtspCapiFrame *frame) {
  auto *owner = new FrameTensor<Managed>;
  const GpurtspCapiFrameInfo &info = frame->info;
  owner->frame = gpurtsp_capi_frame_ref(frame);
  std::memcpy(owner->shape, info.shape, sizeof owner->shape);
  std::memcpy(owner->strides, info.strides, sizeof owner->strides);
  GpurtspDLTensor &t = owner->managed.dl_tensor;
  t.data = reinterpret_cast<void *>(static_cast<uintptr_t>(info.data));
  t.device = {info.device_type, info.device_id};
  t.ndim = info.ndim;
  t.dtype = {kGpurtspDLUInt, 8, 1};
  t.shape = owner->shape;
  t.strides = owner->strides;
  t.byte_offset = 0;
  owner->managed.manager_ctx = owner;
  owner->managed.deleter = &FrameTensor<Managed>::deleter;
  return &owner->managed;
}

constexpr char kCapsuleName[] = "dltensor";
constexpr char kCapsuleNameVersioned[] = "dltensor_versioned";

} // namespace

extern "C" void *gpurtsp_capi_frame_dlpack(GpurtspCapiFrame *frame, int versioned, char *error,
                                           size_t error_size) {
  if (frame->info.ndim == 0) {
    set_error(error, error_size, frame->info.layout_error);
    return nullptr;
  }
  if (!versioned)
    return make_tensor<GpurtspDLManagedTensor>(frame);
  auto *managed = make_tensor<GpurtspDLManagedTensorVersioned>(frame);
  managed->version = {1, 0};
  /* Not flagged read-only: consumers such as PyTorch refuse read-only
   * tensors. The docs say frames are shared and must not be written. */
  managed->flags = 0;
  return managed;
}

extern "C" void gpurtsp_capi_dlpack_delete(void *managed, int versioned) {
  if (!managed)
    return;
  if (versioned) {
    auto *m = static_cast<GpurtspDLManagedTensorVersioned *>(managed);
    m->deleter(m);
  } else {
    auto *m = static_cast<GpurtspDLManagedTensor *>(managed);
    m->deleter(m);
  }
}

extern "C" const char *gpurtsp_capi_dlpack_capsule_name(int versioned) {
  return versioned ? kCapsuleNameVersioned : kCapsuleName;
}

extern "C" void gpurtsp_capi_dlpack_capsule_destructor(void *capsule) {
  /* Stable-ABI functions of the interpreter that runs us; they exist, as
   * this is only ever a destructor of capsules Python made. */
  using IsValid = int (*)(void *, const char *);
  using GetPointer = void *(*)(void *, const char *);
  static const auto is_valid = reinterpret_cast<IsValid>(dlsym(RTLD_DEFAULT, "PyCapsule_IsValid"));
  static const auto get_pointer =
      reinterpret_cast<GetPointer>(dlsym(RTLD_DEFAULT, "PyCapsule_GetPointer"));
  if (!is_valid || !get_pointer)
    return; /* not inside Python: leak rather than guess */
  /* A consumer renames the capsule ("used_dltensor...") when it takes the
   * tensor, and calls the deleter itself later; IsValid sets no exception. */
  if (is_valid(capsule, kCapsuleName))
    gpurtsp_capi_dlpack_delete(get_pointer(capsule, kCapsuleName), 0);
  else if (is_valid(capsule, kCapsuleNameVersioned))
    gpurtsp_capi_dlpack_delete(get_pointer(capsule, kCapsuleNameVersioned), 1);
}

extern "C" uint64_t gpurtsp_capi_frames_alive(void) {
  return frames_alive.load();
}

extern "C" size_t gpurtsp_capi_sample_type(void) {
  return GST_TYPE_SAMPLE;
}
