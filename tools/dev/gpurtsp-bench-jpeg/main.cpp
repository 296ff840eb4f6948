// SPDX-License-Identifier: MIT
/* gpurtsp-bench-jpeg: how fast gpujpegenc (or, with --encoder nvjpegenc,
 * GStreamer 1.24+'s own nvJPEG element) turns frames already in CUDA memory
 * into JPEGs, next to plain nvJPEG on the same frames, GPU and context in
 * the same run, and libjpeg-turbo's jpegenc on every host core.
 *
 * For each size:
 *  - raw nvJPEG (--raw-threads, default 1,8): N encoder states, each with
 *    its own stream and pinned buffer, on N threads, encoding the device
 *    frame with nvJPEG's documented sequence (encode, ask the length,
 *    synchronise, fetch, synchronise): the anchor the element is measured
 *    against, through the same loader gpujpegenc uses;
 *  - gpujpegenc: 1 and --encoders (64) instances sharing one CUDA context,
 *    each driven by its own thread with one frame in flight (a camera's
 *    pipeline), once per --max-encoders value (default: the element's);
 *    frames are pushed into the element on the calling thread and its JPEG
 *    taken from its src pad there (GstHarness), as a camera's decoder calls
 *    it, so the figure is the element's; --appsrc drives
 *    `appsrc ! gpujpegenc ! appsink` instead (two thread hand-offs per frame);
 *    and per --colorimetry: jfif frames (full-range BT.601) are encoded as
 *    they are, the same work as raw nvJPEG; bt709 (limited range, what NVDEC
 *    gives) takes gpujpegenc's colour kernel first (docs/gpujpegenc.md);
 *  - jpegenc on one thread per core (unless --no-cpu).
 * Printed: JPEG/s, push-to-JPEG latency p50/p99, host CPU, VRAM per pipeline
 * (or per raw state), the pool's slots, and each gpujpegenc run as a ratio
 * of the raw run it is compared with (1 pipeline vs 1 thread, N pipelines
 * vs the most raw threads). A diagnostic line lists the device allocations
 * nvJPEG makes for one encoder state (a counting allocator).
 *
 *   GST_PLUGIN_PATH=build/plugins/gpurtsp build/tools/dev/gpurtsp-bench-jpeg/gpurtsp-bench-jpeg
 *       [--encoders 64] [--max-encoders N[,N...]] [--raw-threads 1,8] [--no-raw]
 *       [--seconds 5] [--quality 85] [--format NV12|I420|RGB|RGBP] [--blocking-sync]
 *       [--no-cpu] [--device 0] [--encoder gpujpegenc|nvjpegenc] [--sizes 720p,1080p]
 *       [--appsrc] [--colorimetry jfif,bt709]
 *
 * nvjpegenc has no pool: each instance owns its nvJPEG state, so its VRAM is
 * reported per pipeline, and it takes NV12, I420, Y42B and Y444 only. The
 * benchmark fails only on errors (an element that does not start or stops
 * producing, a failed nvJPEG call); the figures are for reading.
 */
#include <gst/app/app.h>
#include <gst/check/gstharness.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudautils.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gpurtsp/gpujpegenc.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/gpurtsp-cuda.h"
#include "core/library-loader.h"
#include "jpegenc/nvjpeg-loader.h"

#include <mutex>

namespace {

using Clock = std::chrono::steady_clock;
namespace nvjpeg = gpurtsp::nvjpeg;

struct Options {
  int encoders = 64;
  std::vector<int> max_encoders = {0}; /* 0: gpujpegenc's default */
  std::vector<int> raw_threads = {1, 8};
  double seconds = 5.0;
  int quality = 85;
  std::string format = "NV12";
  bool blocking_sync = false;
  bool cpu = true;
  bool raw = true;
  bool appsrc = false;
  int device = 0;
  std::string encoder = "gpujpegenc";
  std::vector<std::string> sizes = {"720p", "1080p"};
  /* JFIF colour (full-range BT.601): gpujpegenc encodes the frame as it is,
   * the same work as raw nvJPEG; bt709 (limited range, what NVDEC gives):
   * its colour kernel runs first. */
  std::vector<std::string> colorimetries = {"jfif", "bt709"};
};

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "gpurtsp-bench-jpeg: %s\n", message.c_str());
  std::exit(1);
}

std::vector<int> parse_counts(const std::string &option, const std::string &list, int lo, int hi) {
  std::vector<int> values;
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    char *end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || value < lo || value > hi)
      die(option + " takes numbers from " + std::to_string(lo) + " to " + std::to_string(hi) +
          " separated by commas, not '" + list + "'");
    values.push_back(static_cast<int>(value));
    start = comma + 1;
  }
  return values;
}

Options parse_options(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--encoders")
      options.encoders = parse_counts(arg, value(), 1, 4096)[0];
    else if (arg == "--max-encoders")
      options.max_encoders = parse_counts(arg, value(), 1, 1024);
    else if (arg == "--raw-threads")
      options.raw_threads = parse_counts(arg, value(), 1, 256);
    else if (arg == "--no-raw")
      options.raw = false;
    else if (arg == "--seconds")
      options.seconds = std::max(0.5, std::atof(value().c_str()));
    else if (arg == "--quality")
      options.quality = std::clamp(std::atoi(value().c_str()), 1, 100);
    else if (arg == "--format")
      options.format = value();
    else if (arg == "--blocking-sync")
      options.blocking_sync = true;
    else if (arg == "--no-cpu")
      options.cpu = false;
    else if (arg == "--appsrc")
      options.appsrc = true;
    else if (arg == "--colorimetry") {
      options.colorimetries.clear();
      const std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        const size_t comma = std::min(list.find(',', start), list.size());
        const std::string item = list.substr(start, comma - start);
        if (item != "jfif" && item != "bt709")
          die("--colorimetry takes jfif and/or bt709, not '" + item + "'");
        options.colorimetries.push_back(item);
        start = comma + 1;
      }
    } else if (arg == "--device")
      options.device = std::atoi(value().c_str());
    else if (arg == "--encoder") {
      options.encoder = value();
      if (options.encoder != "gpujpegenc" && options.encoder != "nvjpegenc")
        die("--encoder must be gpujpegenc or nvjpegenc, not '" + options.encoder + "'");
    } else if (arg == "--sizes") {
      options.sizes.clear();
      std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        const size_t comma = std::min(list.find(',', start), list.size());
        const std::string size = list.substr(start, comma - start);
        if (size != "720p" && size != "1080p")
          die("--sizes takes 720p and/or 1080p, not '" + size + "'");
        options.sizes.push_back(size);
        start = comma + 1;
      }
    } else
      die("unknown option " + arg + " (see the comment at the top of main.cpp)");
  }
  return options;
}

/* cuMemGetInfo is not among gst-cuda 1.22's wrappers: the benchmark (only)
 * takes it from the driver itself. */
class DeviceMemoryInfo {
public:
  DeviceMemoryInfo() {
    /* Without it the VRAM figures read 0, as free_bytes() says. */
    std::string why;
    gpurtsp::load_library("libcuda.so.1",
                          {gpurtsp::LibrarySymbol::mandatory_symbol("cuMemGetInfo_v2", get_info_)},
                          why);
  }
  /* Free device memory in bytes, seen from @ctx; 0 if unknown. */
  size_t free_bytes(GstCudaContext *ctx) const {
    size_t free = 0, total = 0;
    if (get_info_ && gst_cuda_context_push(ctx)) {
      if (get_info_(&free, &total) != CUDA_SUCCESS)
        free = 0;
      gst_cuda_context_pop(nullptr);
    }
    return free;
  }

private:
  using GetInfo = CUresult (*)(size_t *, size_t *);
  GetInfo get_info_ = nullptr;
};

constexpr double kMiB = 1024.0 * 1024.0;

GstElement *launch(const std::string &description) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline || error)
    die("'" + description + "': " + (error ? error->message : "parse failed"));
  return pipeline;
}

void share_context(GstElement *element, GstCudaContext *ctx) {
  GstContext *context = gst_context_new_cuda_context(ctx);
  gst_element_set_context(element, context);
  gst_context_unref(context);
}

/* Pulls the sample a one-shot pipeline produces. */
GstSample *run_once(GstElement *pipeline, GstSample *input = nullptr) {
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    die("a helper pipeline does not start");
  if (input) {
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    gst_app_src_push_sample(GST_APP_SRC(src), input);
    gst_object_unref(src);
  }
  GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
  if (!sample)
    die("a helper pipeline produced nothing");
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return sample;
}

struct Frames {
  GstSample *host = nullptr;   /* system memory, for jpegenc */
  GstSample *device = nullptr; /* CUDA memory in the shared context */
  Frames() = default;
  ~Frames() {
    if (host)
      gst_sample_unref(host);
    if (device)
      gst_sample_unref(device);
  }
  Frames(const Frames &) = delete;
  Frames &operator=(const Frames &) = delete;
};

/* A test card (moving-ball frames compress unlike camera images in either
 * direction; the SMPTE card is a fixed, repeatable middle ground). */
void make_frames(GstCudaContext *ctx, const std::string &format, int width, int height,
                 const std::string &colorimetry, Frames &frames) {
  /* 1:4:0:0 is full range, BT.601 matrix: JFIF's YCbCr. RGB formats have
   * no YCbCr colorimetry to set. */
  const bool yuv = format == "NV12" || format == "I420";
  const std::string colour =
      !yuv ? "" : (colorimetry == "jfif" ? ",colorimetry=1:4:0:0" : ",colorimetry=bt709");
  frames.host =
      run_once(launch("videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=" + format +
                      ",width=" + std::to_string(width) + ",height=" + std::to_string(height) +
                      ",framerate=25/1" + colour + " ! appsink name=sink sync=false"));
  /* The caps filter makes cudaupload upload: with ANY caps downstream it
   * passes system memory through, and raw nvJPEG needs device memory. */
  GstElement *upload = launch("appsrc name=src format=time ! cudaupload ! "
                              "video/x-raw(memory:CUDAMemory) ! appsink name=sink");
  share_context(upload, ctx);
  frames.device = run_once(upload, frames.host);
}

/* One encoder element and the thread that drives it, one frame at a time:
 * through a GstHarness (the frame goes in and the JPEG comes out on the
 * calling thread, as in a camera pipeline) or, with --appsrc, through
 * `appsrc ! encoder ! appsink`. */
struct Worker {
  GstHarness *harness = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *src = nullptr;
  GstElement *sink = nullptr;
  GstElement *enc = nullptr;
  std::vector<double> latencies_ms;
  size_t bytes = 0;

  Worker(const std::string &encoder, GstCudaContext *ctx, GstCaps *caps, bool appsrc) {
    if (appsrc) {
      pipeline = launch("appsrc name=src format=time ! " + encoder +
                        " name=enc ! appsink name=sink sync=false");
      if (ctx)
        share_context(pipeline, ctx);
      src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
      sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
      enc = gst_bin_get_by_name(GST_BIN(pipeline), "enc");
      gst_app_src_set_caps(GST_APP_SRC(src), caps);
      if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
        die("'" + encoder + "' does not start");
      return;
    }
    GError *error = nullptr;
    enc = gst_parse_launch(encoder.c_str(), &error);
    if (!enc || error)
      die("'" + encoder + "': " + (error ? error->message : "parse failed"));
    if (ctx)
      share_context(enc, ctx); /* before the harness takes it to PLAYING */
    harness = gst_harness_new_with_element(enc, "sink", "src");
    gst_harness_set_src_caps(harness, gst_caps_ref(caps));
  }
  ~Worker() {
    if (harness) {
      gst_harness_teardown(harness);
      gst_object_unref(enc);
      return;
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(enc);
    gst_object_unref(pipeline);
  }
  Worker(const Worker &) = delete;
  Worker &operator=(const Worker &) = delete;

  /* gpujpegenc's stats: this instance's and its context's pool's. */
  gpurtsp::gpujpegenc::Stats stats() const {
    return gpurtsp::gpujpegenc::Stats::read(enc).value_or(gpurtsp::gpujpegenc::Stats{});
  }

  /* Encodes @frame once; returns the time from push to JPEG. */
  double encode(GstBuffer *frame, guint64 index) {
    GstBuffer *buffer = gst_buffer_copy(frame); /* shares the memory */
    GST_BUFFER_PTS(buffer) = index * 40 * GST_MSECOND;
    GST_BUFFER_DURATION(buffer) = 40 * GST_MSECOND;
    const auto start = Clock::now();
    GstBuffer *jpeg = nullptr;
    if (harness) {
      if (gst_harness_push(harness, buffer) != GST_FLOW_OK)
        die("push failed (see GST_DEBUG=gpujpegenc:5)");
      jpeg = gst_harness_try_pull(harness);
    } else {
      if (gst_app_src_push_buffer(GST_APP_SRC(src), buffer) != GST_FLOW_OK)
        die("push failed");
      if (GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND)) {
        jpeg = gst_buffer_ref(gst_sample_get_buffer(sample));
        gst_sample_unref(sample);
      }
    }
    const auto end = Clock::now();
    if (!jpeg)
      die("an encoder stopped producing (see GST_DEBUG=gpujpegenc:5)");
    bytes += gst_buffer_get_size(jpeg);
    gst_buffer_unref(jpeg);
    return std::chrono::duration<double, std::milli>(end - start).count();
  }
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Result {
  size_t frames = 0;
  double jpegs_per_s = 0, p50_ms = 0, p99_ms = 0, cpu_cores = 0, kib_per_jpeg = 0;
};

/* Runs @count bodies on their own threads for @seconds after their warm-up:
 * each body encodes once per call, returning the latency in ms and adding
 * the JPEG's size to its bytes. */
template <typename Body>
Result run_threads(size_t count, double seconds, Body &&make_body) {
  std::barrier start(static_cast<std::ptrdiff_t>(count) + 1);
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(count);
  std::vector<size_t> bytes(count, 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < count; i++) {
    threads.emplace_back([&, i] {
      auto body = make_body(i);
      size_t ignored = 0;
      for (int warm = 0; warm < 5; warm++)
        body(ignored);
      start.arrive_and_wait();
      while (!stop.load(std::memory_order_relaxed))
        latencies[i].push_back(body(bytes[i]));
    });
  }
  start.arrive_and_wait();
  const double cpu_start = cpu_seconds();
  const auto wall_start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto &thread : threads)
    thread.join();
  const double wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
  const double cpu = cpu_seconds() - cpu_start;

  Result result;
  std::vector<double> all;
  size_t total_bytes = 0;
  for (size_t i = 0; i < count; i++) {
    all.insert(all.end(), latencies[i].begin(), latencies[i].end());
    total_bytes += bytes[i];
  }
  if (all.empty())
    return result;
  std::sort(all.begin(), all.end());
  result.frames = all.size();
  result.jpegs_per_s = all.size() / wall;
  result.p50_ms = all[all.size() / 2];
  result.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  result.cpu_cores = cpu / wall;
  result.kib_per_jpeg = total_bytes / 1024.0 / all.size();
  return result;
}

/* The first @count workers concurrently. */
Result run(std::vector<std::unique_ptr<Worker>> &workers, size_t count, GstBuffer *frame,
           double seconds) {
  return run_threads(count, seconds, [&](size_t i) {
    Worker *worker = workers[i].get();
    return [worker, frame, index = guint64(0)](size_t &bytes) mutable {
      const size_t before = worker->bytes;
      const double ms = worker->encode(frame, index++);
      bytes += worker->bytes - before;
      return ms;
    };
  });
}

void print_header() {
  std::printf("%-30s %-6s %9s %10s %8s %8s %10s %10s\n", "encoder", "size", "pipelines", "JPEG/s",
              "p50 ms", "p99 ms", "CPU cores", "KiB/JPEG");
}

void print_row(const std::string &encoder, const char *size, size_t pipelines, const Result &r) {
  std::printf("%-30s %-6s %9zu %10.0f %8.3f %8.3f %10.2f %10.1f\n", encoder.c_str(), size,
              pipelines, r.jpegs_per_s, r.p50_ms, r.p99_ms, r.cpu_cores, r.kib_per_jpeg);
  std::fflush(stdout);
}

/* --- Raw nvJPEG ------------------------------------------------------------ */

bool check_nvjpeg(nvjpeg::nvjpegStatus_t status, const char *call) {
  if (status != nvjpeg::NVJPEG_STATUS_SUCCESS)
    die(std::string(call) + " failed: " + nvjpeg::status_name(status));
  return true;
}

void check_cuda(CUresult result, const char *call) {
  if (result != CUDA_SUCCESS) {
    const char *name = nullptr;
    CuGetErrorName(result, &name);
    die(std::string(call) + " failed: " + (name ? name : "?"));
  }
}

/* The device frame's planes, as nvJPEG takes them. */
struct RawImage {
  nvjpeg::nvjpegImage_t image = {};
  int width = 0, height = 0;
  bool nv12 = false; /* else planar I420 */
};

/* One encoder state with its stream, parameters and pinned buffer: what a
 * plain nvJPEG program keeps per thread. Needs the context current. */
class RawEncoder {
public:
  RawEncoder(const nvjpeg::Api &api, nvjpeg::nvjpegHandle_t handle, int quality)
      : api_(api), handle_(handle) {
    check_cuda(CuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    check_nvjpeg(api.nvjpegEncoderStateCreate(handle, &state_, stream_),
                 "nvjpegEncoderStateCreate");
    check_nvjpeg(api.nvjpegEncoderParamsCreate(handle, &params_, stream_),
                 "nvjpegEncoderParamsCreate");
    check_nvjpeg(api.nvjpegEncoderParamsSetQuality(params_, quality, stream_),
                 "nvjpegEncoderParamsSetQuality");
    check_nvjpeg(
        api.nvjpegEncoderParamsSetSamplingFactors(params_, nvjpeg::NVJPEG_CSS_420, stream_),
        "nvjpegEncoderParamsSetSamplingFactors");
  }
  ~RawEncoder() {
    CuStreamSynchronize(stream_);
    if (bitstream_)
      CuMemFreeHost(bitstream_);
    api_.nvjpegEncoderParamsDestroy(params_);
    api_.nvjpegEncoderStateDestroy(state_);
    CuStreamDestroy(stream_);
  }
  RawEncoder(const RawEncoder &) = delete;
  RawEncoder &operator=(const RawEncoder &) = delete;

  /* Encodes @image and fetches its JPEG: nvJPEG's documented sequence.
   * Returns the JPEG's size. */
  size_t encode(const RawImage &image) {
    if (image.nv12)
      check_nvjpeg(api_.nvjpegEncode(handle_, state_, params_, &image.image, nvjpeg::NVJPEG_CSS_420,
                                     nvjpeg::NVJPEG_INPUT_NV12, image.width, image.height, stream_),
                   "nvjpegEncode");
    else
      check_nvjpeg(api_.nvjpegEncodeYUV(handle_, state_, params_, &image.image,
                                        nvjpeg::NVJPEG_CSS_420, image.width, image.height, stream_),
                   "nvjpegEncodeYUV");
    size_t length = 0;
    check_nvjpeg(api_.nvjpegEncodeRetrieveBitstream(handle_, state_, nullptr, &length, stream_),
                 "nvjpegEncodeRetrieveBitstream");
    check_cuda(CuStreamSynchronize(stream_), "cuStreamSynchronize");
    if (length > capacity_) {
      if (bitstream_)
        CuMemFreeHost(bitstream_);
      capacity_ = length * 2;
      void *ptr = nullptr;
      check_cuda(CuMemAllocHost(&ptr, static_cast<unsigned int>(capacity_)), "cuMemAllocHost");
      bitstream_ = static_cast<unsigned char *>(ptr);
    }
    check_nvjpeg(api_.nvjpegEncodeRetrieveBitstream(handle_, state_, bitstream_, &length, stream_),
                 "nvjpegEncodeRetrieveBitstream");
    check_cuda(CuStreamSynchronize(stream_), "cuStreamSynchronize");
    return length;
  }

private:
  const nvjpeg::Api &api_;
  nvjpeg::nvjpegHandle_t handle_;
  CUstream stream_ = nullptr;
  nvjpeg::nvjpegEncoderState_t state_ = nullptr;
  nvjpeg::nvjpegEncoderParams_t params_ = nullptr;
  unsigned char *bitstream_ = nullptr;
  size_t capacity_ = 0;
};

/* nvJPEG's device allocations, counted (nvjpegCreateEx's allocator): how
 * many buffers of what size one encoder state takes, and whether encodes
 * allocate. Diagnostic only; the timed runs use nvjpegCreateSimple's
 * cudaMalloc, as gpujpegenc does. */
namespace counting {
using DevMalloc = int (*)(void **, size_t);
using DevFree = int (*)(void *);
struct DevAllocator {
  DevMalloc dev_malloc;
  DevFree dev_free;
};
using CreateEx = nvjpeg::nvjpegStatus_t (*)(int backend, DevAllocator *dev, void *pinned,
                                            unsigned flags, nvjpeg::nvjpegHandle_t *handle);
std::mutex lock;
std::vector<size_t> sizes; /* guarded by lock */
std::atomic<size_t> frees{0};
int dev_malloc(void **ptr, size_t size) {
  CUdeviceptr device = 0;
  if (CuMemAlloc(&device, size) != CUDA_SUCCESS)
    return 1;
  *ptr = reinterpret_cast<void *>(device);
  std::lock_guard<std::mutex> guard(lock);
  sizes.push_back(size);
  return 0;
}
int dev_free(void *ptr) {
  frees++;
  return CuMemFree(reinterpret_cast<CUdeviceptr>(ptr)) == CUDA_SUCCESS ? 0 : 1;
}
std::vector<size_t> take() {
  std::lock_guard<std::mutex> guard(lock);
  return std::exchange(sizes, {});
}
std::string describe(const std::vector<size_t> &list) {
  size_t total = 0, rounded = 0;
  std::string items;
  for (size_t size : list) {
    total += size;
    rounded += (size + (2u << 20) - 1) / (2u << 20) * (2u << 20);
    char item[32];
    std::snprintf(item, sizeof(item), "%s%.2f", items.empty() ? "" : " ", size / kMiB);
    items += item;
  }
  char line[160];
  std::snprintf(line, sizeof(line), "%zu buffers, %.1f MiB (%.1f MiB in 2 MiB pages)", list.size(),
                total / kMiB, rounded / kMiB);
  return std::string(line) + (list.empty() ? "" : ": " + items + " MiB");
}
} // namespace counting

void print_allocations(const nvjpeg::Api &api, const RawImage &image, int quality,
                       const char *size) {
  counting::CreateEx create_ex = nullptr;
  std::string why;
  if (!gpurtsp::load_library(
          api.library.c_str(),
          {gpurtsp::LibrarySymbol::mandatory_symbol("nvjpegCreateEx", create_ex)}, why)) {
    std::printf("%s nvJPEG allocations: not counted (%s)\n", size, why.c_str());
    return;
  }
  counting::DevAllocator allocator = {counting::dev_malloc, counting::dev_free};
  nvjpeg::nvjpegHandle_t handle = nullptr;
  counting::take();
  check_nvjpeg(create_ex(0 /* NVJPEG_BACKEND_DEFAULT */, &allocator, nullptr, 0, &handle),
               "nvjpegCreateEx");
  const auto for_handle = counting::take();
  {
    RawEncoder encoder(api, handle, quality);
    const auto for_state = counting::take();
    encoder.encode(image);
    const auto first = counting::take();
    for (int i = 0; i < 10; i++)
      encoder.encode(image);
    const auto later = counting::take();
    std::printf("%s nvJPEG device allocations: handle %s; state %s; first encode %s; next 10 "
                "encodes %zu buffers\n",
                size, counting::describe(for_handle).c_str(), counting::describe(for_state).c_str(),
                counting::describe(first).c_str(), later.size());
  }
  api.nvjpegDestroy(handle);
}

struct RawRun {
  int threads = 0;
  Result result;
  double mib_per_state = 0;
};

/* Raw nvJPEG on @threads threads, a state each; VRAM per state from the
 * free memory before the states and after the run. */
RawRun run_raw(const nvjpeg::Api &api, nvjpeg::nvjpegHandle_t handle, GstCudaContext *ctx,
               const DeviceMemoryInfo &memory, const RawImage &image, int threads, int quality,
               double seconds) {
  std::vector<std::unique_ptr<RawEncoder>> encoders(threads);
  const size_t free_before = memory.free_bytes(ctx);
  RawRun raw;
  raw.threads = threads;
  raw.result = run_threads(threads, seconds, [&](size_t i) {
    return [&, i, pushed = false](size_t &bytes) mutable {
      if (!pushed) {
        if (!gst_cuda_context_push(ctx))
          die("cannot push the CUDA context");
        encoders[i] = std::make_unique<RawEncoder>(api, handle, quality);
        pushed = true;
      }
      const auto start = Clock::now();
      bytes += encoders[i]->encode(image);
      return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    };
  });
  const size_t free_after = memory.free_bytes(ctx);
  if (free_before && free_after)
    raw.mib_per_state = (double(free_before) - double(free_after)) / kMiB / threads;
  /* Destroyed here: any thread with the context current will do. */
  if (gst_cuda_context_push(ctx)) {
    encoders.clear();
    gst_cuda_context_pop(nullptr);
  }
  return raw;
}

} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  const Options options = parse_options(argc, argv);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  const bool pooled = options.encoder == "gpujpegenc";
  std::string why;
  const auto *api = nvjpeg::api(why);
  GstElementFactory *factory = gst_element_factory_find(options.encoder.c_str());
  if (!api || !factory)
    die(options.encoder + " is not available: " +
        (!api     ? why
         : pooled ? std::string("is GST_PLUGIN_PATH set?")
                  : std::string("it needs GStreamer 1.24 or later with nvcodec")));
  gst_object_unref(factory);
  if (!gst_cuda_load_library() || CuInit(0) != CUDA_SUCCESS)
    die("the CUDA driver does not initialise");

  /* One context for every pipeline, as gpurtsp runs. BLOCKING_SYNC makes
   * threads waiting for the GPU sleep instead of spin. */
  GstCudaContext *ctx = nullptr;
  CUcontext own_context = nullptr;
  CUdevice device = 0;
  if (options.blocking_sync) {
    if (CuDeviceGet(&device, options.device) != CUDA_SUCCESS ||
        CuCtxCreate(&own_context, CU_CTX_SCHED_BLOCKING_SYNC, device) != CUDA_SUCCESS)
      die("cuCtxCreate failed");
    CuCtxPopCurrent(nullptr);
    ctx = gst_cuda_context_new_wrapped(own_context, device);
  } else {
    ctx = gst_cuda_context_new(options.device);
  }
  if (!ctx)
    die("no CUDA context for device " + std::to_string(options.device));
  /* As gpurtsp-launch sets up its contexts. */
  size_t stack = 0;
  if (!gpurtsp::limit_context_stack(ctx, gpurtsp::context_stack_bytes(), stack, why))
    std::printf("stack limit left as it is: %s\n", why.c_str());
  char name[256] = "?";
  CuDeviceGet(&device, options.device);
  CuDeviceGetName(name, sizeof(name), device);

  std::printf("gpurtsp-bench-jpeg: %s; nvJPEG %d.%d.%d (%s), NV12 %s, bitstream %s; %s input "
              "(test card), quality %d, %.1f s per run, context %s, %zu-byte stack; "
              "gpujpegenc driven %s; host: %u cores\n",
              name, api->version[0], api->version[1], api->version[2], api->library.c_str(),
              api->nvjpegEncode ? "through nvjpegEncode" : "through the de-interleave kernel",
              api->nvjpegEncodeGetBufferSize ? "fetched in one call (GetBufferSize)"
                                             : "length first, then fetched",
              options.format.c_str(), options.quality, options.seconds,
              options.blocking_sync ? "BLOCKING_SYNC" : "SCHED_AUTO (gst-cuda's default)", stack,
              options.appsrc ? "by appsrc/appsink" : "on the calling thread (harness)", cores);

  const DeviceMemoryInfo memory;
  /* Raw nvJPEG shares the context, as gpujpegenc's handle does. */
  nvjpeg::nvjpegHandle_t raw_handle = nullptr;
  const bool raw_format =
      options.format == "I420" || (options.format == "NV12" && api->nvjpegEncode);
  if (options.raw && raw_format) {
    if (!gst_cuda_context_push(ctx))
      die("cannot push the CUDA context");
    check_nvjpeg(api->nvjpegCreateSimple(&raw_handle), "nvjpegCreateSimple");
    gst_cuda_context_pop(nullptr);
  } else if (options.raw) {
    std::printf("raw nvJPEG runs take NV12 (with nvjpegEncode) or I420: none for %s\n",
                options.format.c_str());
  }

  /* gpujpegenc's names; nvjpegenc calls its quality the same. */
  namespace property = gpurtsp::gpujpegenc::property;
  const std::string cpu_encoder = "jpegenc quality=" + std::to_string(options.quality);
  struct Size {
    const char *name;
    int width, height;
  };
  std::vector<std::string> summary;
  for (const std::string &size_name : options.sizes) {
    const Size size = size_name == "720p" ? Size{"720p", 1280, 720} : Size{"1080p", 1920, 1080};
    print_header();
    std::vector<RawRun> raws;
    for (size_t ci = 0; ci < options.colorimetries.size(); ci++) {
      const std::string &colorimetry = options.colorimetries[ci];
      Frames frames;
      make_frames(ctx, options.format, size.width, size.height, colorimetry, frames);
      GstBuffer *device_frame = gst_sample_get_buffer(frames.device);

      if (raw_handle && ci == 0) {
        GstVideoInfo info;
        gst_video_info_from_caps(&info, gst_sample_get_caps(frames.device));
        gpurtsp::MappedVideoFrame mapped;
        if (const char *bad = mapped.map_cuda(device_frame, info, GST_MAP_READ, ctx))
          die(std::string("the device frame does not map: ") + bad);
        RawImage image;
        image.width = size.width;
        image.height = size.height;
        image.nv12 = options.format == "NV12";
        for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(mapped.frame()); p++) {
          image.image.channel[p] = mapped.planes()[p];
          image.image.pitch[p] = static_cast<size_t>(mapped.strides()[p]);
        }
        for (int threads : options.raw_threads) {
          RawRun raw = run_raw(*api, raw_handle, ctx, memory, image, threads, options.quality,
                               options.seconds);
          print_row("nvJPEG raw", size.name, threads, raw.result);
          raws.push_back(raw);
        }
        for (const RawRun &raw : raws)
          std::printf("%s raw nvJPEG x%d: %.1f MiB per encoder state\n", size.name, raw.threads,
                      raw.mib_per_state);
        if (gst_cuda_context_push(ctx)) {
          print_allocations(*api, image, options.quality, size.name);
          gst_cuda_context_pop(nullptr);
        }
      }
      const RawRun *raw_one = nullptr, *raw_most = nullptr;
      for (const RawRun &raw : raws) {
        if (raw.threads == 1)
          raw_one = &raw;
        if (!raw_most || raw.threads > raw_most->threads)
          raw_most = &raw;
      }

      for (int max_encoders : options.max_encoders) {
        std::string gpu_encoder =
            options.encoder + " " + property::kQuality + "=" + std::to_string(options.quality);
        std::string label = options.encoder;
        if (options.format == "NV12" || options.format == "I420")
          label += "[" + colorimetry + "]";
        if (max_encoders && pooled) {
          gpu_encoder +=
              std::string(" ") + property::kMaxEncoders + "=" + std::to_string(max_encoders);
          label += " max " + std::to_string(max_encoders);
        }
        /* VRAM: the first frame makes the pool's first slot (nvJPEG sizes its
         * buffers on the first frame) and the context's shared nvJPEG handle.
         * Pipelines set up one after another share that slot; only encoding
         * at once makes more, up to max-encoders, so the total is read again
         * after the concurrent run. */
        std::vector<std::unique_ptr<Worker>> workers;
        const size_t free_before = memory.free_bytes(ctx);
        size_t free_after_first = 0;
        for (int i = 0; i < options.encoders; i++) {
          workers.push_back(std::make_unique<Worker>(
              gpu_encoder, ctx, gst_sample_get_caps(frames.device), options.appsrc));
          workers.back()->encode(device_frame, 0);
          if (i == 0)
            free_after_first = memory.free_bytes(ctx);
        }
        const Result one = run(workers, 1, device_frame, options.seconds);
        print_row(label, size.name, 1, one);
        const Result many = run(workers, workers.size(), device_frame, options.seconds);
        print_row(label, size.name, workers.size(), many);

        const size_t free_after_all = memory.free_bytes(ctx);
        const bool have_vram = free_before && free_after_first && free_after_all;
        const double first = (double(free_before) - double(free_after_first)) / kMiB;
        const double total = (double(free_before) - double(free_after_all)) / kMiB;
        const double per_pipeline = total / double(workers.size());
        guint slots = 0;
        if (pooled) {
          const gpurtsp::PoolStats pool =
              workers.front()->stats().pool.value_or(gpurtsp::PoolStats{});
          slots = pool.size;
          guint64 dropped = 0;
          for (const auto &worker : workers)
            dropped += worker->stats().dropped_busy;
          if (have_vram) {
            std::printf("%s VRAM: first slot %.1f MiB (with the shared nvJPEG handle); %zu "
                        "pipelines on %u pool slots (max-encoders %u) %.1f MiB = %.2f MiB per "
                        "pipeline",
                        size.name, first, workers.size(), slots, pool.max, total, per_pipeline);
            if (slots > 1)
              std::printf(", %.1f MiB per further slot", (total - first) / (slots - 1));
            std::printf("\n");
          }
          std::printf("%s pool: %u slots (%" G_GUINT64_FORMAT " made, %" G_GUINT64_FORMAT
                      " destroyed), %" G_GUINT64_FORMAT
                      " encodes waited for a slot, %" G_GUINT64_FORMAT
                      " frames dropped for want of one\n",
                      size.name, slots, pool.created, pool.destroyed, pool.waits, dropped);
        } else if (have_vram) {
          std::printf("%s VRAM: first pipeline %.1f MiB; %zu pipelines %.1f MiB = %.2f MiB per "
                      "pipeline (%s: one nvJPEG state per instance)\n",
                      size.name, first, workers.size(), total, per_pipeline,
                      options.encoder.c_str());
        }
        char line[320];
        if (raw_one && raw_one->result.jpegs_per_s > 0) {
          std::snprintf(line, sizeof(line),
                        "%s %s x1 / raw nvJPEG x1: %.2f of the JPEG/s (%.0f vs %.0f), p50 %.3f vs "
                        "%.3f ms",
                        size.name, label.c_str(), one.jpegs_per_s / raw_one->result.jpegs_per_s,
                        one.jpegs_per_s, raw_one->result.jpegs_per_s, one.p50_ms,
                        raw_one->result.p50_ms);
          summary.push_back(line);
        }
        if (raw_most && raw_most->result.jpegs_per_s > 0) {
          std::snprintf(line, sizeof(line),
                        "%s %s x%zu / raw nvJPEG x%d: %.2f of the JPEG/s (%.0f vs %.0f); VRAM %.2f "
                        "MiB per pipeline on %u slots vs %.1f MiB per raw state",
                        size.name, label.c_str(), workers.size(), raw_most->threads,
                        many.jpegs_per_s / raw_most->result.jpegs_per_s, many.jpegs_per_s,
                        raw_most->result.jpegs_per_s, have_vram ? per_pipeline : 0.0, slots,
                        raw_most->mib_per_state);
          summary.push_back(line);
        }
        workers.clear();
      }

      if (ci + 1 < options.colorimetries.size())
        continue;
      if (options.cpu && options.format == "RGBP") {
        std::printf("jpegenc takes no RGBP: no CPU comparison for this format\n");
      } else if (options.cpu) {
        std::vector<std::unique_ptr<Worker>> cpu_workers;
        for (unsigned i = 0; i < cores; i++)
          cpu_workers.push_back(std::make_unique<Worker>(
              cpu_encoder, nullptr, gst_sample_get_caps(frames.host), options.appsrc));
        const Result cpu = run(cpu_workers, cpu_workers.size(), gst_sample_get_buffer(frames.host),
                               options.seconds);
        print_row("jpegenc", size.name, cpu_workers.size(), cpu);
        char line[200];
        std::snprintf(line, sizeof(line), "%s: jpegenc x%u %.0f JPEG/s on %.2f cores", size.name,
                      cores, cpu.jpegs_per_s, cpu.cpu_cores);
        summary.push_back(line);
      }
    }
  }
  std::printf("summary:\n");
  for (const auto &line : summary)
    std::printf("  %s\n", line.c_str());

  if (raw_handle && gst_cuda_context_push(ctx)) {
    api->nvjpegDestroy(raw_handle);
    gst_cuda_context_pop(nullptr);
  }
  gst_object_unref(ctx);
  if (own_context)
    CuCtxDestroy(own_context);
  return 0;
}
