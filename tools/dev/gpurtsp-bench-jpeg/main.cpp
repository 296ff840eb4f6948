// SPDX-License-Identifier: MIT
/* gpurtsp-bench-jpeg: how fast gpujpegenc (or, with --encoder nvjpegenc,
 * GStreamer 1.24+'s own nvJPEG element) turns frames already in CUDA memory
 * into JPEGs, next to libjpeg-turbo's jpegenc on every host core.
 *
 * For each size it builds N pipelines `appsrc ! gpujpegenc ! appsink` that
 * share one CUDA context, each driven by its own thread with one frame in
 * flight (a camera's pipeline), and reports JPEG/s, push-to-JPEG latency
 * percentiles, host CPU used and the VRAM the pipelines take: their
 * gpujpegenc instances share the context's pool of encoders, so VRAM follows
 * the pool's slots (at most --max-encoders), not the number of pipelines. The
 * same frames then go through `appsrc ! jpegenc ! appsink` on one thread per
 * core.
 *
 *   GST_PLUGIN_PATH=build/plugins/gpurtsp build/tools/dev/gpurtsp-bench-jpeg/gpurtsp-bench-jpeg
 *       [--encoders 64] [--max-encoders N] [--seconds 5] [--quality 85]
 *       [--format NV12|I420|RGB|RGBP] [--blocking-sync] [--no-cpu] [--device 0]
 *       [--encoder gpujpegenc|nvjpegenc] [--sizes 720p,1080p]
 *
 * nvjpegenc has no pool: each instance owns its nvJPEG state, so its VRAM is
 * reported per pipeline, and it takes NV12, I420, Y42B and Y444 only.
 */
#include <gst/app/app.h>
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
#include <vector>

#include "core/library-loader.h"
#include "jpegenc/nvjpeg-loader.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int encoders = 64;
  int max_encoders = 0; /* 0: gpujpegenc's default */
  double seconds = 5.0;
  int quality = 85;
  std::string format = "NV12";
  bool blocking_sync = false;
  bool cpu = true;
  int device = 0;
  std::string encoder = "gpujpegenc";
  std::vector<std::string> sizes = {"720p", "1080p"};
};

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "gpurtsp-bench-jpeg: %s\n", message.c_str());
  std::exit(1);
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
      options.encoders = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--max-encoders")
      options.max_encoders = std::clamp(std::atoi(value().c_str()), 1, 1024);
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
    else if (arg == "--device")
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

GstElement *launch(const std::string &description) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline || error)
    die("'" + description + "': " + (error ? error->message : "parse failed"));
  return pipeline;
}

void share_context(GstElement *pipeline, GstCudaContext *ctx) {
  GstContext *context = gst_context_new_cuda_context(ctx);
  gst_element_set_context(pipeline, context);
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
                 Frames &frames) {
  frames.host =
      run_once(launch("videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=" + format +
                      ",width=" + std::to_string(width) + ",height=" + std::to_string(height) +
                      ",framerate=25/1 ! appsink name=sink sync=false"));
  GstElement *upload = launch("appsrc name=src format=time ! cudaupload ! appsink name=sink");
  share_context(upload, ctx);
  frames.device = run_once(upload, frames.host);
}

/* One pipeline and the thread that drives it, one frame at a time. */
struct Worker {
  GstElement *pipeline = nullptr;
  GstElement *src = nullptr;
  GstElement *sink = nullptr;
  std::vector<double> latencies_ms;
  size_t bytes = 0;

  Worker(const std::string &encoder, GstCudaContext *ctx, GstCaps *caps) {
    pipeline = launch("appsrc name=src format=time ! " + encoder +
                      " name=enc ! appsink name=sink sync=false");
    if (ctx)
      share_context(pipeline, ctx);
    src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    gst_app_src_set_caps(GST_APP_SRC(src), caps);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      die("'" + encoder + "' does not start");
  }
  ~Worker() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }
  Worker(const Worker &) = delete;
  Worker &operator=(const Worker &) = delete;

  /* gpujpegenc's stats: this instance's and its context's pool's. */
  gpurtsp::gpujpegenc::Stats stats() const {
    GstElement *enc = gst_bin_get_by_name(GST_BIN(pipeline), "enc");
    auto s = gpurtsp::gpujpegenc::Stats::read(enc);
    gst_object_unref(enc);
    return s.value_or(gpurtsp::gpujpegenc::Stats{});
  }

  /* Encodes @frame once; returns the time from push to JPEG. */
  double encode(GstBuffer *frame, guint64 index) {
    GstBuffer *buffer = gst_buffer_copy(frame); /* shares the memory */
    GST_BUFFER_PTS(buffer) = index * 40 * GST_MSECOND;
    const auto start = Clock::now();
    if (gst_app_src_push_buffer(GST_APP_SRC(src), buffer) != GST_FLOW_OK)
      die("push failed");
    GstSample *jpeg = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
    const auto end = Clock::now();
    if (!jpeg)
      die("an encoder stopped producing (see GST_DEBUG=gpujpegenc:5)");
    bytes += gst_buffer_get_size(gst_sample_get_buffer(jpeg));
    gst_sample_unref(jpeg);
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

/* Runs the first @count workers concurrently for @seconds, after a warm-up. */
Result run(std::vector<std::unique_ptr<Worker>> &workers, size_t count, GstBuffer *frame,
           double seconds) {
  std::barrier start(static_cast<std::ptrdiff_t>(count) + 1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < count; i++) {
    threads.emplace_back([&, worker = workers[i].get()] {
      guint64 index = 0;
      for (int warm = 0; warm < 5; warm++)
        worker->encode(frame, index++);
      worker->latencies_ms.clear();
      worker->bytes = 0;
      start.arrive_and_wait();
      while (!stop.load(std::memory_order_relaxed))
        worker->latencies_ms.push_back(worker->encode(frame, index++));
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
  std::vector<double> latencies;
  size_t bytes = 0;
  for (size_t i = 0; i < count; i++) {
    latencies.insert(latencies.end(), workers[i]->latencies_ms.begin(),
                     workers[i]->latencies_ms.end());
    bytes += workers[i]->bytes;
  }
  if (latencies.empty())
    return result;
  std::sort(latencies.begin(), latencies.end());
  result.frames = latencies.size();
  result.jpegs_per_s = latencies.size() / wall;
  result.p50_ms = latencies[latencies.size() / 2];
  result.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  result.cpu_cores = cpu / wall;
  result.kib_per_jpeg = bytes / 1024.0 / latencies.size();
  return result;
}

void print_row(const char *encoder, const char *size, size_t pipelines, const Result &r) {
  std::printf("%-10s %-6s %9zu %10.0f %8.2f %8.2f %10.2f %10.1f\n", encoder, size, pipelines,
              r.jpegs_per_s, r.p50_ms, r.p99_ms, r.cpu_cores, r.kib_per_jpeg);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  const Options options = parse_options(argc, argv);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  const bool pooled = options.encoder == "gpujpegenc";
  std::string why;
  const auto *api = gpurtsp::nvjpeg::api(why);
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
  char name[256] = "?";
  CuDeviceGet(&device, options.device);
  CuDeviceGetName(name, sizeof(name), device);

  std::printf("gpurtsp-bench-jpeg: %s; nvJPEG %d.%d.%d (%s), NV12 %s; %s input (test card), "
              "quality %d, %.1f s per run, context %s; host: %u cores\n",
              name, api->version[0], api->version[1], api->version[2], api->library.c_str(),
              api->nvjpegEncode ? "through nvjpegEncode" : "through the de-interleave kernel",
              options.format.c_str(), options.quality, options.seconds,
              options.blocking_sync ? "BLOCKING_SYNC" : "SCHED_AUTO (gst-cuda's default)", cores);

  const DeviceMemoryInfo memory;
  /* gpujpegenc's names; nvjpegenc calls its quality the same. */
  namespace property = gpurtsp::gpujpegenc::property;
  std::string gpu_encoder =
      options.encoder + " " + property::kQuality + "=" + std::to_string(options.quality);
  if (options.max_encoders && pooled)
    gpu_encoder +=
        std::string(" ") + property::kMaxEncoders + "=" + std::to_string(options.max_encoders);
  const std::string cpu_encoder = "jpegenc quality=" + std::to_string(options.quality);
  struct Size {
    const char *name;
    int width, height;
  };
  std::vector<std::string> summary;
  for (const std::string &size_name : options.sizes) {
    const Size size = size_name == "720p" ? Size{"720p", 1280, 720} : Size{"1080p", 1920, 1080};
    Frames frames;
    make_frames(ctx, options.format, size.width, size.height, frames);
    GstBuffer *device_frame = gst_sample_get_buffer(frames.device);

    /* VRAM: the first frame makes the pool's first slot (nvJPEG sizes its
     * buffers on the first frame) and the context's shared nvJPEG handle.
     * Pipelines set up one after another share that slot; only encoding at
     * once makes more, up to max-encoders, so the total is read again after
     * the concurrent run. */
    std::vector<std::unique_ptr<Worker>> workers;
    const size_t free_before = memory.free_bytes(ctx);
    size_t free_after_first = 0;
    for (int i = 0; i < options.encoders; i++) {
      workers.push_back(
          std::make_unique<Worker>(gpu_encoder, ctx, gst_sample_get_caps(frames.device)));
      workers.back()->encode(device_frame, 0);
      if (i == 0)
        free_after_first = memory.free_bytes(ctx);
    }

    std::printf("%-10s %-6s %9s %10s %8s %8s %10s %10s\n", "encoder", "size", "pipelines", "JPEG/s",
                "p50 ms", "p99 ms", "CPU cores", "KiB/JPEG");
    const Result one = run(workers, 1, device_frame, options.seconds);
    print_row(options.encoder.c_str(), size.name, 1, one);
    const Result many = run(workers, workers.size(), device_frame, options.seconds);
    print_row(options.encoder.c_str(), size.name, workers.size(), many);

    const size_t free_after_all = memory.free_bytes(ctx);
    const double mib = 1024.0 * 1024.0;
    const bool have_vram = free_before && free_after_first && free_after_all;
    const double first = (double(free_before) - double(free_after_first)) / mib;
    const double total = (double(free_before) - double(free_after_all)) / mib;
    if (pooled) {
      const gpurtsp::PoolStats pool = workers.front()->stats().pool.value_or(gpurtsp::PoolStats{});
      const guint slots = pool.size, max_slots = pool.max;
      const guint64 waits = pool.waits;
      guint64 dropped = 0;
      for (const auto &worker : workers)
        dropped += worker->stats().dropped_busy;
      if (have_vram) {
        std::printf("%s VRAM: first slot %.1f MiB (with the shared nvJPEG handle); %zu pipelines "
                    "on %u pool slots (max-encoders %u) %.1f MiB = %.2f MiB per pipeline",
                    size.name, first, workers.size(), slots, max_slots, total,
                    total / double(workers.size()));
        if (slots > 1)
          std::printf(", %.1f MiB per further slot", (total - first) / (slots - 1));
        std::printf("\n");
      }
      std::printf("%s pool: %" G_GUINT64_FORMAT " encodes waited for a slot, %" G_GUINT64_FORMAT
                  " frames dropped for want of one\n",
                  size.name, waits, dropped);
    } else if (have_vram) {
      std::printf("%s VRAM: first pipeline %.1f MiB; %zu pipelines %.1f MiB = %.2f MiB per "
                  "pipeline (%s: one nvJPEG state per instance)\n",
                  size.name, first, workers.size(), total, total / double(workers.size()),
                  options.encoder.c_str());
    }
    workers.clear();

    if (options.cpu && options.format == "RGBP") {
      std::printf("jpegenc takes no RGBP: no CPU comparison for this format\n");
    } else if (options.cpu) {
      std::vector<std::unique_ptr<Worker>> cpu_workers;
      for (unsigned i = 0; i < cores; i++)
        cpu_workers.push_back(
            std::make_unique<Worker>(cpu_encoder, nullptr, gst_sample_get_caps(frames.host)));
      const Result cpu =
          run(cpu_workers, cpu_workers.size(), gst_sample_get_buffer(frames.host), options.seconds);
      print_row("jpegenc", size.name, cpu_workers.size(), cpu);
      char line[160];
      std::snprintf(line, sizeof(line),
                    "%s: %s x%zu %.0f JPEG/s on %.2f cores vs jpegenc x%u %.0f JPEG/s on "
                    "%.2f cores = %.1fx the throughput",
                    size.name, options.encoder.c_str(), static_cast<size_t>(options.encoders),
                    many.jpegs_per_s, many.cpu_cores, cores, cpu.jpegs_per_s, cpu.cpu_cores,
                    cpu.jpegs_per_s > 0 ? many.jpegs_per_s / cpu.jpegs_per_s : 0.0);
      summary.push_back(line);
    }
  }
  for (const auto &line : summary)
    std::printf("%s\n", line.c_str());

  gst_object_unref(ctx);
  if (own_context)
    CuCtxDestroy(own_context);
  return 0;
}
