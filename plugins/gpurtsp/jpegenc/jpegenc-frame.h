// SPDX-License-Identifier: MIT
/* gpujpegenc: getting a frame into the layout nvJPEG takes.
 *
 * DeviceFrame says where a frame's planes are in device memory, whether they
 * came from a mapped GstCudaMemory or from FrameUploader. Yuv420Planes turns
 * a 4:2:0 frame into the planar JFIF YCbCr nvjpegEncodeYUV takes. */
#pragma once

#include "core/gpurtsp-cuda.h"
#include "jpegenc/jpegenc-colour.h"
#include "jpegenc/nvjpeg-encoder.h"

#include <gst/video/video.h>

#include <memory>

namespace gpurtsp {

/* A frame's planes: device addresses and row strides in bytes. */
struct DeviceFrame {
  const GstVideoFormatInfo *finfo = nullptr;
  int width = 0;
  int height = 0;
  guint8 *plane[GST_VIDEO_MAX_PLANES] = {};
  int stride[GST_VIDEO_MAX_PLANES] = {};

  /* From a frame mapped with GST_MAP_CUDA. */
  static DeviceFrame from_mapped(const GstVideoFrame &frame);

  /* Component @comp (0 = Y or R) and its layout. */
  guint8 *component(int comp) const {
    return plane[GST_VIDEO_FORMAT_INFO_PLANE(finfo, comp)] +
           GST_VIDEO_FORMAT_INFO_POFFSET(finfo, comp);
  }
  int component_stride(int comp) const { return stride[GST_VIDEO_FORMAT_INFO_PLANE(finfo, comp)]; }
  int pixel_stride(int comp) const { return GST_VIDEO_FORMAT_INFO_PSTRIDE(finfo, comp); }
};

/* A pitched device allocation of @rows rows, freed in its context. */
class PitchedDeviceMemory {
public:
  PitchedDeviceMemory() = default;
  ~PitchedDeviceMemory() { reset(); }
  PitchedDeviceMemory(const PitchedDeviceMemory &) = delete;
  PitchedDeviceMemory &operator=(const PitchedDeviceMemory &) = delete;

  /* Keeps the current allocation when it is wide and tall enough, else
   * grows to cover both the old and the new shape; false and @error on
   * failure. */
  bool ensure(GstCudaContext *ctx, size_t width_bytes, size_t rows, GpuError &error);
  void reset();
  guint8 *row(size_t index) const { return reinterpret_cast<guint8 *>(ptr_ + index * pitch_); }
  size_t pitch() const { return pitch_; }

private:
  GstCudaContext *ctx_ = nullptr; /* owned ref while ptr_ exists */
  CUdeviceptr ptr_ = 0;
  size_t pitch_ = 0;
  size_t width_bytes_ = 0;
  size_t rows_ = 0;
};

/* Copies frames from host memory to device memory on a stream: system-memory
 * input, or CUDA memory of another context (mapped to the host by gst-cuda).
 * The device copy is reused from frame to frame (and camera to camera: it
 * lives in a pooled encoder slot). */
class FrameUploader {
public:
  /* The host frame must stay mapped until @stream has run the copy. */
  bool upload(GstCudaContext *ctx, const GstVideoFrame &host, CUstream stream, DeviceFrame &out,
              GpuError &error);

private:
  PitchedDeviceMemory memory_;
};

/* Planar JFIF YCbCr 4:2:0 made from any 4:2:0 frame (NV12, I420) by the
 * jpegenc-yuv420 kernel, in scratch planes reused from frame to frame. */
class Yuv420Planes {
public:
  /* Queues the conversion on @stream and points @out at the result. With
   * @transform NULL the values are kept: luma is read from @in itself and
   * only chroma is de-interleaved. */
  bool convert(GstCudaContext *ctx, const DeviceFrame &in, const JfifTransform *transform,
               CUstream stream, nvjpeg::nvjpegImage_t &out, GpuError &error);

private:
  std::shared_ptr<CudaModule> module_;
  CUfunction kernel_ = nullptr;
  PitchedDeviceMemory planes_; /* Y rows, then Cb rows, then Cr rows */
};

} // namespace gpurtsp
