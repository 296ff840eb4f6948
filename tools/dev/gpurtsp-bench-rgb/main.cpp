// SPDX-License-Identifier: MIT
/* gpurtsp-bench-rgb: how fast gpunv12torgb is, in numbers.
 *
 *  1. Device-to-device copy bandwidth (the ceiling for a memory-bound kernel).
 *  2. Kernel time per frame, 720p and 1080p NV12 to RGB, RGBA and RGBP (and a
 *     few resizes), as effective GB/s (bytes read + written) and as a share
 *     of the copy bandwidth.
 *  3. The element in pipelines (appsrc pushing one pre-uploaded 1080p NV12
 *     CUDA buffer ! gpunv12torgb ! fakesink), 1 and 64 instances sharing one
 *     CUDA context: frames/s, and device memory added per instance.
 *
 * Needs GST_PLUGIN_PATH to find libgstgpurtsp.so for part 3. Times are wall
 * clock around many back-to-back launches closed by cuStreamSynchronize
 * (gst-cuda 1.22 wraps no CUDA events). */

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include "core/gpurtsp-cuda.h"
#include "nv12torgb/nv12torgb-config.h"
#include "core/library-loader.h"
#include "nv12torgb/nv12torgb-kernels.h"

using namespace gpurtsp::rgb;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

static void check(CUresult result, const char *call) {
  if (result != CUDA_SUCCESS) {
    g_printerr("%s failed: %s\n", call, gpurtsp::cuda_error_name(result));
    exit(1);
  }
}

static void check(bool ok, const gpurtsp::GpuError &error) {
  if (!ok) {
    g_printerr("%s\n", error.message().c_str());
    exit(1);
  }
}

/* Free device memory, from the driver directly: gst-cuda 1.22 does not wrap
 * cuMemGetInfo. Benchmark only; the plugin never links libcuda. */
static size_t free_device_memory(GstCudaContext *ctx) {
  using MemGetInfo = CUresult (*)(size_t *, size_t *);
  static MemGetInfo mem_get_info = [] {
    MemGetInfo loaded = nullptr;
    std::string why;
    gpurtsp::load_library(
        "libcuda.so.1", {gpurtsp::LibrarySymbol::mandatory_symbol("cuMemGetInfo_v2", loaded)}, why);
    return loaded;
  }();
  if (!mem_get_info)
    return 0;
  gpurtsp::CudaContextScope scope(ctx);
  size_t free_bytes = 0, total = 0;
  check(mem_get_info(&free_bytes, &total), "cuMemGetInfo");
  return free_bytes;
}

/* A pitched device allocation, like GstCudaMemory's. */
class DevicePlane {
public:
  DevicePlane(size_t width_bytes, size_t height) {
    check(CuMemAllocPitch(&ptr_, &pitch_, width_bytes, height, 16), "cuMemAllocPitch");
  }
  ~DevicePlane() { CuMemFree(ptr_); }
  DevicePlane(const DevicePlane &) = delete;
  DevicePlane &operator=(const DevicePlane &) = delete;
  uint8_t *data() const { return reinterpret_cast<uint8_t *>(ptr_); }
  int32_t pitch() const { return static_cast<int32_t>(pitch_); }
  CUdeviceptr ptr() const { return ptr_; }

private:
  CUdeviceptr ptr_ = 0;
  size_t pitch_ = 0;
};

/* GB/s of back-to-back 256 MiB device-to-device copies, counting bytes read
 * plus bytes written. */
static double copy_bandwidth(CUstream stream) {
  const size_t width = 64 << 10, height = 4096; /* 256 MiB */
  DevicePlane src(width, height), dst(width, height);
  CUDA_MEMCPY2D copy = {};
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = src.ptr();
  copy.srcPitch = src.pitch();
  copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.dstDevice = dst.ptr();
  copy.dstPitch = dst.pitch();
  copy.WidthInBytes = width;
  copy.Height = height;
  check(CuMemcpy2DAsync(&copy, stream), "cuMemcpy2DAsync");
  check(CuStreamSynchronize(stream), "cuStreamSynchronize");
  const int copies = 20;
  const auto start = Clock::now();
  for (int i = 0; i < copies; i++)
    check(CuMemcpy2DAsync(&copy, stream), "cuMemcpy2DAsync");
  check(CuStreamSynchronize(stream), "cuStreamSynchronize");
  return 2.0 * width * height * copies / seconds_since(start) / 1e9;
}

struct KernelCase {
  const char *name;
  int in_w, in_h;
  RgbLayout layout;
  int out_w, out_h;
  bool misaligned = false; /* forces the per-pixel kernel at the same size */
};

/* Input and output planes of one conversion. */
struct FrameSet {
  std::unique_ptr<DevicePlane> luma, chroma, out[3];
  YuvSource src{};
  RgbTarget dst{};
};

static void upload_noise(const DevicePlane &plane, int rows, std::mt19937 &rng) {
  std::vector<uint8_t> host(static_cast<size_t>(plane.pitch()) * rows);
  for (auto &b : host)
    b = rng() & 0xff;
  CUDA_MEMCPY2D up = {};
  up.srcMemoryType = CU_MEMORYTYPE_HOST;
  up.srcHost = host.data();
  up.srcPitch = plane.pitch();
  up.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  up.dstDevice = plane.ptr();
  up.dstPitch = plane.pitch();
  up.WidthInBytes = plane.pitch();
  up.Height = rows;
  check(CuMemcpy2D(&up), "cuMemcpy2D");
}

static void bench_kernel(GstCudaContext *ctx, CUstream stream, const KernelCase &c,
                         double copy_gbps, size_t l2_bytes) {
  const int cw = (c.in_w + 1) / 2, ch = (c.in_h + 1) / 2;
  const int bpp = bytes_per_pixel(c.layout), planes = c.layout == RgbLayout::RGBP ? 3 : 1;
  /* bytes_per_pixel is per plane: RGBP writes 3 planes of 1 byte. */
  const double bytes =
      1.5 * c.in_w * c.in_h + static_cast<double>(bpp) * planes * c.out_w * c.out_h;
  /* Rotate over enough frames to fill twice the L2 cache: a frame converted
   * again right away would be read from L2 (50 MB on an H100), not memory. */
  const int sets = std::clamp(static_cast<int>(2.0 * l2_bytes / bytes) + 1, 2, 64);

  /* Noise, so nothing is unrealistically cache- or compression-friendly. */
  std::mt19937 rng(1);
  const int skew = c.misaligned ? 1 : 0; /* forces the per-pixel kernel at the same size */
  std::vector<FrameSet> frames(sets);
  for (FrameSet &f : frames) {
    f.luma = std::make_unique<DevicePlane>(c.in_w + 4, c.in_h);
    f.chroma = std::make_unique<DevicePlane>(2 * cw + 4, ch);
    upload_noise(*f.luma, c.in_h, rng);
    upload_noise(*f.chroma, ch, rng);
    f.src.y = {f.luma->data() + skew, f.luma->pitch(), 1, c.in_w, c.in_h};
    f.src.cb = {f.chroma->data() + skew, f.chroma->pitch(), 2, cw, ch};
    f.src.cr = {f.chroma->data() + skew + 1, f.chroma->pitch(), 2, cw, ch};
    for (int p = 0; p < planes; p++) {
      f.out[p] = std::make_unique<DevicePlane>(static_cast<size_t>(c.out_w) * bpp + 4, c.out_h);
      f.dst.data[p] = f.out[p]->data() + skew;
      f.dst.stride[p] = f.out[p]->pitch();
    }
    f.dst.width = c.out_w;
    f.dst.height = c.out_h;
  }

  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, GST_VIDEO_FORMAT_NV12, c.in_w, c.in_h);
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_RGBA, c.out_w, c.out_h);
  std::string error;
  const ConvertParams params = *make_convert_params(in_info, out_info, MatrixChoice::Auto, error);

  Nv12ToRgbKernels kernels;
  gpurtsp::GpuError gpu_error;
  check(kernels.load(ctx, true, c.layout, gpu_error), gpu_error);
  for (const FrameSet &f : frames)
    check(kernels.launch(f.src, f.dst, params, stream), "cuLaunchKernel");
  check(CuStreamSynchronize(stream), "cuStreamSynchronize");
  const int launches = 1000;
  const auto start = Clock::now();
  for (int i = 0; i < launches; i++)
    check(kernels.launch(frames[i % sets].src, frames[i % sets].dst, params, stream),
          "cuLaunchKernel");
  check(CuStreamSynchronize(stream), "cuStreamSynchronize");
  const double per_frame = seconds_since(start) / launches;

  const double gbps = bytes / per_frame / 1e9;
  printf("  %-34s %-9s %8.1f us %9.0f fps %8.1f GB/s %5.0f %%\n", c.name,
         kernels.uses_block_kernel(frames[0].src, frames[0].dst) ? "block" : "per-pixel",
         per_frame * 1e6, 1.0 / per_frame, gbps, 100.0 * gbps / copy_gbps);
}

/* One `appsrc ! gpunv12torgb ! fakesink` pipeline fed from its own thread. */
struct Instance {
  GstElement *pipeline = nullptr;
  GstElement *appsrc = nullptr;
  std::thread feeder;
};

static GstElement *make_pipeline(GstCudaContext *ctx, const char *out_format, GstElement **appsrc) {
  std::string description = "appsrc name=src format=time block=true max-buffers=4 ! gpunv12torgb ! "
                            "video/x-raw(memory:CUDAMemory),format=" +
                            std::string(out_format) + " ! fakesink sync=false";
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline) {
    g_printerr("%s: %s\n", description.c_str(), error->message);
    exit(1);
  }
  GstContext *context = gst_context_new_cuda_context(ctx);
  gst_element_set_context(pipeline, context);
  gst_context_unref(context);
  *appsrc = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  return pipeline;
}

/* A 1080p NV12 frame in CUDA memory of @ctx, uploaded once. */
static GstBuffer *make_cuda_frame(GstCudaContext *ctx, GstCaps *caps, GstBufferPool **pool) {
  GstVideoInfo info;
  gst_video_info_from_caps(&info, caps);
  *pool = gst_cuda_buffer_pool_new(ctx);
  GstStructure *config = gst_buffer_pool_get_config(*pool);
  gst_buffer_pool_config_set_params(config, caps, GST_VIDEO_INFO_SIZE(&info), 1, 1);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config(*pool, config) || !gst_buffer_pool_set_active(*pool, TRUE)) {
    g_printerr("cannot set up a CUDA buffer pool\n");
    exit(1);
  }
  GstBuffer *buffer = nullptr;
  gst_buffer_pool_acquire_buffer(*pool, &buffer, nullptr);
  GstMapInfo map;
  gst_buffer_map(buffer, &map, GST_MAP_WRITE); /* host staging copy */
  std::mt19937 rng(2);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = rng() & 0xff;
  gst_buffer_unmap(buffer, &map);
  gst_buffer_map(buffer, &map, static_cast<GstMapFlags>(GST_MAP_READ | GST_MAP_CUDA)); /* upload */
  gst_buffer_unmap(buffer, &map);
  return buffer;
}

static bool wait_for_eos(GstElement *pipeline) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered(
      bus, 300 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  bool ok = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
  if (msg && !ok) {
    GError *error = nullptr;
    gst_message_parse_error(msg, &error, nullptr);
    g_printerr("pipeline error: %s\n", error->message);
    g_error_free(error);
  }
  if (msg)
    gst_message_unref(msg);
  gst_object_unref(bus);
  return ok;
}

static void bench_element(GstCudaContext *ctx, int instances, int frames_each,
                          const char *out_format) {
  GstCaps *caps = gst_caps_from_string(
      "video/x-raw(memory:CUDAMemory),format=NV12,width=1920,height=1080,framerate=30/1");
  GstBufferPool *input_pool = nullptr;
  GstBuffer *frame = make_cuda_frame(ctx, caps, &input_pool);

  const size_t free_before = free_device_memory(ctx);
  std::vector<Instance> all(instances);
  for (Instance &in : all) {
    in.pipeline = make_pipeline(ctx, out_format, &in.appsrc);
    gst_app_src_set_caps(GST_APP_SRC(in.appsrc), caps);
    if (gst_element_set_state(in.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      g_printerr("cannot start pipeline (is GST_PLUGIN_PATH set?)\n");
      exit(1);
    }
  }
  const auto start = Clock::now();
  for (Instance &in : all)
    in.feeder = std::thread([&in, frame, frames_each] {
      for (int i = 0; i < frames_each; i++) {
        GstBuffer *b = gst_buffer_ref(frame);
        if (gst_app_src_push_buffer(GST_APP_SRC(in.appsrc), b) != GST_FLOW_OK)
          break;
      }
      gst_app_src_end_of_stream(GST_APP_SRC(in.appsrc));
    });
  bool ok = true;
  for (Instance &in : all) {
    in.feeder.join();
    ok = wait_for_eos(in.pipeline) && ok;
  }
  const double elapsed = seconds_since(start);
  const size_t free_after = free_device_memory(ctx);

  GstVideoInfo out_info;
  gst_video_info_set_format(&out_info, gst_video_format_from_string(out_format), 1920, 1080);
  const double per_instance =
      free_before && free_after ? (static_cast<double>(free_before) - free_after) / instances : 0;
  printf("  %3d instance%s 1080p NV12 -> %-5s %9.0f frames/s total %8.0f per instance   "
         "VRAM +%.1f MiB per instance (= %.1f output frames)%s\n",
         instances, instances == 1 ? " " : "s", out_format, instances * frames_each / elapsed,
         frames_each / elapsed, per_instance / (1 << 20),
         per_instance / GST_VIDEO_INFO_SIZE(&out_info), ok ? "" : "  [ERRORS]");

  for (Instance &in : all) {
    gst_element_set_state(in.pipeline, GST_STATE_NULL);
    gst_object_unref(in.appsrc);
    gst_object_unref(in.pipeline);
  }
  gst_buffer_unref(frame);
  gst_buffer_pool_set_active(input_pool, FALSE);
  gst_object_unref(input_pool);
  gst_caps_unref(caps);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  std::string why;
  if (!gpurtsp::cuda_device_available(why)) {
    g_print("SKIP: no usable CUDA device: %s\n", why.c_str());
    return 77;
  }
  gst_cuda_memory_init_once(); /* the pool below allocates before any element loads */
  GstCudaContext *ctx = gst_cuda_context_new(0);
  if (!ctx) {
    g_printerr("gst_cuda_context_new(0) failed\n");
    return 1;
  }
  char name[256] = "?";
  CUdevice device = 0;
  if (CuDeviceGet(&device, 0) == CUDA_SUCCESS)
    CuDeviceGetName(name, sizeof(name), device);
  printf("gpurtsp-bench-rgb on %s\n", name);

  {
    gpurtsp::CudaContextScope scope(ctx);
    gpurtsp::CudaStream stream;
    gpurtsp::GpuError error;
    check(stream.create(ctx, error), error);
    const double copy_gbps = copy_bandwidth(stream.get());
    int l2_bytes = 0;
    CuDeviceGetAttribute(&l2_bytes, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, device);
    printf("device-to-device copy: %.1f GB/s (read + write), L2 %d MiB\n\n", copy_gbps,
           l2_bytes >> 20);

    printf("kernels (NV12 in; GB/s = bytes read + written per second; %% of copy):\n");
    const KernelCase cases[] = {
        {"720p -> RGB", 1280, 720, RgbLayout::RGB, 1280, 720},
        {"720p -> RGBA", 1280, 720, RgbLayout::RGBA, 1280, 720},
        {"720p -> RGBP", 1280, 720, RgbLayout::RGBP, 1280, 720},
        {"1080p -> RGB", 1920, 1080, RgbLayout::RGB, 1920, 1080},
        {"1080p -> RGBA", 1920, 1080, RgbLayout::RGBA, 1920, 1080},
        {"1080p -> RGBP", 1920, 1080, RgbLayout::RGBP, 1920, 1080},
        {"1080p -> RGBA, unaligned fallback", 1920, 1080, RgbLayout::RGBA, 1920, 1080, true},
        {"1080p -> 640x360 RGBP (3x down)", 1920, 1080, RgbLayout::RGBP, 640, 360},
        {"1080p -> 224x224 RGBP", 1920, 1080, RgbLayout::RGBP, 224, 224},
        {"720p -> 1080p RGBA (upscale)", 1280, 720, RgbLayout::RGBA, 1920, 1080},
    };
    for (const KernelCase &c : cases)
      bench_kernel(ctx, stream.get(), c, copy_gbps, static_cast<size_t>(l2_bytes));
  }

  printf("\nelement (appsrc ! gpunv12torgb ! fakesink, one shared CUDA context):\n");
  for (const char *format : {"RGBA", "RGBP"}) {
    bench_element(ctx, 1, 3000, format);
    bench_element(ctx, 64, 200, format);
  }
  gst_object_unref(ctx);
  return 0;
}
