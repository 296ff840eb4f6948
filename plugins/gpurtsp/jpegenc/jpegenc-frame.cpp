// SPDX-License-Identifier: MIT
#include "jpegenc/jpegenc-frame.h"

#include <algorithm>

#include "jpegenc/jpegenc-yuv420-fatbin.h"

namespace gpurtsp {

namespace {

/* The first component stored in @plane: its size gives the plane's. */
int first_component(const GstVideoFormatInfo *finfo, int plane) {
  gint comps[GST_VIDEO_MAX_COMPONENTS];
  gst_video_format_info_component(finfo, plane, comps);
  return comps[0];
}

} // namespace

DeviceFrame DeviceFrame::from_mapped(const GstVideoFrame &frame) {
  DeviceFrame device;
  device.finfo = frame.info.finfo;
  device.width = GST_VIDEO_FRAME_WIDTH(&frame);
  device.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame); p++) {
    device.plane[p] = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    device.stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
  }
  return device;
}

bool PitchedDeviceMemory::ensure(GstCudaContext *ctx, size_t width_bytes, size_t rows,
                                 GpuError &error) {
  if (ptr_ && ctx == ctx_ && width_bytes <= width_bytes_ && rows <= rows_)
    return true;
  if (ptr_ && ctx == ctx_) {
    /* Cover what was there too: slots serve cameras of several sizes in
     * turn, and must not reallocate as they alternate. */
    width_bytes = std::max(width_bytes, width_bytes_);
    rows = std::max(rows, rows_);
  }
  reset();
  CudaContextScope scope(ctx);
  if (!scope.pushed()) {
    error = GpuError::context_push();
    return false;
  }
  if (!check(CuMemAllocPitch(&ptr_, &pitch_, width_bytes, rows, 16), "cuMemAllocPitch", error)) {
    ptr_ = 0;
    return false;
  }
  ctx_ = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  width_bytes_ = width_bytes;
  rows_ = rows;
  return true;
}

void PitchedDeviceMemory::reset() {
  if (!ptr_)
    return;
  {
    CudaContextScope scope(ctx_);
    if (scope.pushed())
      CuMemFree(ptr_);
  }
  ptr_ = 0;
  pitch_ = width_bytes_ = rows_ = 0;
  gst_clear_object(&ctx_);
}

bool FrameUploader::upload(GstCudaContext *ctx, const GstVideoFrame &host, CUstream stream,
                           DeviceFrame &out, GpuError &error) {
  const GstVideoFormatInfo *finfo = host.info.finfo;
  const guint n_planes = GST_VIDEO_FRAME_N_PLANES(&host);
  size_t row_bytes[GST_VIDEO_MAX_PLANES];
  size_t rows[GST_VIDEO_MAX_PLANES];
  size_t widest = 0, total_rows = 0;
  for (guint p = 0; p < n_planes; p++) {
    const int comp = first_component(finfo, p);
    row_bytes[p] =
        size_t(GST_VIDEO_FRAME_COMP_WIDTH(&host, comp)) * GST_VIDEO_FRAME_COMP_PSTRIDE(&host, comp);
    rows[p] = GST_VIDEO_FRAME_COMP_HEIGHT(&host, comp);
    widest = std::max(widest, row_bytes[p]);
    total_rows += rows[p];
  }
  if (!memory_.ensure(ctx, widest, total_rows, error))
    return false;

  out = DeviceFrame{};
  out.finfo = finfo;
  out.width = GST_VIDEO_FRAME_WIDTH(&host);
  out.height = GST_VIDEO_FRAME_HEIGHT(&host);
  size_t first_row = 0;
  for (guint p = 0; p < n_planes; p++) {
    out.plane[p] = memory_.row(first_row);
    out.stride[p] = static_cast<int>(memory_.pitch());
    first_row += rows[p];

    CUDA_MEMCPY2D copy = {};
    copy.srcMemoryType = CU_MEMORYTYPE_HOST;
    copy.srcHost = GST_VIDEO_FRAME_PLANE_DATA(&host, p);
    copy.srcPitch = GST_VIDEO_FRAME_PLANE_STRIDE(&host, p);
    copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    copy.dstDevice = reinterpret_cast<CUdeviceptr>(out.plane[p]);
    copy.dstPitch = memory_.pitch();
    copy.WidthInBytes = row_bytes[p];
    copy.Height = rows[p];
    if (!check(CuMemcpy2DAsync(&copy, stream), "cuMemcpy2DAsync", error))
      return false;
  }
  return true;
}

bool Yuv420Planes::convert(GstCudaContext *ctx, const DeviceFrame &in,
                           const JfifTransform *transform, CUstream stream,
                           nvjpeg::nvjpegImage_t &out, GpuError &error) {
  if (!kernel_) {
    module_ = CudaModule::get(ctx, gpurtsp_jpegenc_yuv420_fatbin, error);
    if (!module_)
      return false;
    kernel_ = module_->function("gpurtsp_jpegenc_yuv420_to_jfif", error);
    if (!kernel_)
      return false;
  }

  const int chroma_width = (in.width + 1) / 2;
  const int chroma_height = (in.height + 1) / 2;
  if (!planes_.ensure(ctx, in.width, size_t(in.height) + 2 * chroma_height, error))
    return false;

  static constexpr JfifTransform identity = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0};
  JfifTransform t = transform ? *transform : identity;
  const guint8 *y = in.component(GST_VIDEO_COMP_Y);
  const guint8 *cb = in.component(GST_VIDEO_COMP_U);
  const guint8 *cr = in.component(GST_VIDEO_COMP_V);
  int y_stride = in.component_stride(GST_VIDEO_COMP_Y);
  int c_stride = in.component_stride(GST_VIDEO_COMP_U);
  int c_step = in.pixel_stride(GST_VIDEO_COMP_U);
  guint8 *out_y = transform ? planes_.row(0) : nullptr;
  guint8 *out_cb = planes_.row(in.height);
  guint8 *out_cr = planes_.row(size_t(in.height) + chroma_height);
  int out_pitch = static_cast<int>(planes_.pitch());
  int width = in.width;
  int height = in.height;
  void *args[] = {&y,      &y_stride, &cb,        &cr,    &c_stride, &c_step, &out_y,
                  &out_cb, &out_cr,   &out_pitch, &width, &height,   &t};
  constexpr unsigned block = 16;
  if (!check(CuLaunchKernel(kernel_, (chroma_width + block - 1) / block,
                            (chroma_height + block - 1) / block, 1, block, block, 1, 0, stream,
                            args, nullptr),
             "cuLaunchKernel", error))
    return false;

  out = {};
  out.channel[0] = transform ? out_y : const_cast<guint8 *>(y);
  out.pitch[0] = transform ? planes_.pitch() : size_t(y_stride);
  out.channel[1] = out_cb;
  out.channel[2] = out_cr;
  out.pitch[1] = out.pitch[2] = planes_.pitch();
  return true;
}

} // namespace gpurtsp
