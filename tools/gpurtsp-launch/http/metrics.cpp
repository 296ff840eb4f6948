// SPDX-License-Identifier: MIT
#include "metrics.h"

#include "core/library-loader.h"

#include <glib.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

namespace gpurtsp::launch::http {

std::optional<ProcessStats> read_process_stats() {
  /* stat: "pid (comm) state ..." where comm may hold spaces and parentheses;
   * fields are counted from the last ')'. utime and stime are fields 14 and 15. */
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos)
    return std::nullopt;
  std::istringstream fields(stat.substr(comm_end + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; index <= 15 && fields >> field; index++) {
    if (index == 14)
      utime = std::strtoull(field.c_str(), nullptr, 10);
    else if (index == 15)
      stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!fields)
    return std::nullopt;

  std::ifstream statm("/proc/self/statm");
  unsigned long long size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages))
    return std::nullopt;

  ProcessStats stats;
  stats.cpu_seconds = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
  stats.resident_bytes = uint64_t(resident_pages) * uint64_t(sysconf(_SC_PAGESIZE));
  return stats;
}

/* The few NVML entry points used, declared here: nvml.h is not needed to build. */
struct Nvml::Api {
  using Device = struct NvmlDevice *;
  struct Memory {
    unsigned long long total, free, used;
  };
  int (*nvmlInit_v2)();
  int (*nvmlShutdown)();
  int (*nvmlDeviceGetCount_v2)(unsigned *);
  int (*nvmlDeviceGetHandleByIndex_v2)(unsigned, Device *);
  int (*nvmlDeviceGetMemoryInfo)(Device, Memory *);
  int (*nvmlDeviceGetName)(Device, char *, unsigned);
  /* Optional: engine busy percent and NVML's sample period (us). */
  int (*nvmlDeviceGetDecoderUtilization)(Device, unsigned *, unsigned *);
  int (*nvmlDeviceGetJpgUtilization)(Device, unsigned *, unsigned *);
};

namespace {
constexpr int kNvmlSuccess = 0;
} // namespace

const Nvml::Api *Nvml::api(std::string &why) {
  static std::once_flag once;
  static Api loaded{};
  static bool ok = false;
  static std::string failure;
  std::call_once(once, [] {
    ok = load_library("libnvidia-ml.so.1",
                      {
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlInit_v2),
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlShutdown),
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlDeviceGetCount_v2),
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlDeviceGetHandleByIndex_v2),
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlDeviceGetMemoryInfo),
                          GPURTSP_MANDATORY_SYMBOL(loaded, nvmlDeviceGetName),
                          GPURTSP_OPTIONAL_SYMBOL(loaded, nvmlDeviceGetDecoderUtilization),
                          GPURTSP_OPTIONAL_SYMBOL(loaded, nvmlDeviceGetJpgUtilization),
                      },
                      failure);
  });
  if (!ok) {
    why = failure;
    return nullptr;
  }
  return &loaded;
}

Nvml::Nvml() {
  std::string why;
  const Api *nvml = api(why);
  if (nvml && nvml->nvmlInit_v2() == kNvmlSuccess)
    api_ = nvml;
}

Nvml::~Nvml() {
  if (api_)
    api_->nvmlShutdown();
}

std::vector<GpuMemory> Nvml::memory() const {
  std::vector<GpuMemory> gpus;
  unsigned count = 0;
  if (!api_ || api_->nvmlDeviceGetCount_v2(&count) != kNvmlSuccess)
    return gpus;
  for (unsigned index = 0; index < count; index++) {
    Api::Device device = nullptr;
    Api::Memory memory{};
    if (api_->nvmlDeviceGetHandleByIndex_v2(index, &device) != kNvmlSuccess ||
        api_->nvmlDeviceGetMemoryInfo(device, &memory) != kNvmlSuccess)
      continue;
    char name[96] = "";
    if (api_->nvmlDeviceGetName(device, name, sizeof(name)) != kNvmlSuccess)
      name[0] = '\0';
    GpuMemory gpu{index, name, memory.used, memory.total, std::nullopt, std::nullopt};
    unsigned percent = 0, period_us = 0;
    if (api_->nvmlDeviceGetDecoderUtilization &&
        api_->nvmlDeviceGetDecoderUtilization(device, &percent, &period_us) == kNvmlSuccess)
      gpu.decoder_utilization = percent;
    if (api_->nvmlDeviceGetJpgUtilization &&
        api_->nvmlDeviceGetJpgUtilization(device, &percent, &period_us) == kNvmlSuccess)
      gpu.jpeg_utilization = percent;
    gpus.push_back(std::move(gpu));
  }
  return gpus;
}

namespace {

/* Label values escape backslash, double quote and newline. */
std::string label_value(std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"')
      escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return escaped;
}

class Page {
public:
  void family(const char *name, const char *type, const char *help) {
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const char *name, const std::string &labels, double value) {
    char number[64];
    std::snprintf(number, sizeof(number), "%.17g", value);
    text_ += name;
    if (!labels.empty())
      text_ += "{" + labels + "}";
    text_ += std::string(" ") + number + "\n";
  }
  std::string take() { return std::move(text_); }

private:
  std::string text_;
};

} // namespace

std::string metrics_text(const std::vector<CameraStatus> &cameras,
                         const std::optional<ProcessStats> &process,
                         const std::vector<GpuMemory> &gpus, const HttpStats &http,
                         const ShardInfo &shard, const Totals &totals) {
  Page page;
  auto camera_label = [](const CameraStatus &camera) {
    return "camera=\"" + label_value(camera.id) + "\"";
  };

  page.family("gpurtsp_camera_frames_total", "counter", "JPEG frames stored since start.");
  for (const CameraStatus &camera : cameras)
    page.sample("gpurtsp_camera_frames_total", camera_label(camera), double(camera.frames));
  page.family("gpurtsp_camera_reconnects_total", "counter", "Reconnections since start.");
  for (const CameraStatus &camera : cameras)
    page.sample("gpurtsp_camera_reconnects_total", camera_label(camera), double(camera.reconnects));
  page.family("gpurtsp_camera_state", "gauge", "1 for the camera's current state, 0 for others.");
  for (const CameraStatus &camera : cameras)
    for (auto state : {CameraState::Connecting, CameraState::Streaming, CameraState::Reconnecting,
                       CameraState::Unauthorized, CameraState::Untrusted, CameraState::Failed})
      page.sample("gpurtsp_camera_state",
                  camera_label(camera) + ",state=\"" + camera_state_name(state) + "\"",
                  camera.state == state ? 1 : 0);
  page.family("gpurtsp_camera_last_frame_age_seconds", "gauge",
              "Seconds since the newest JPEG arrived; absent before the first.");
  for (const CameraStatus &camera : cameras)
    if (camera.last_frame_age_ms >= 0)
      page.sample("gpurtsp_camera_last_frame_age_seconds", camera_label(camera),
                  double(camera.last_frame_age_ms) / 1000.0);
  page.family("gpurtsp_camera_fps", "gauge", "JPEG frames per second over the last seconds.");
  for (const CameraStatus &camera : cameras)
    page.sample("gpurtsp_camera_fps", camera_label(camera), camera.fps);
  page.family("gpurtsp_camera_decoded_frames_total", "counter",
              "Frames out of the decoder since start, before the rate limit.");
  for (const CameraStatus &camera : cameras)
    page.sample("gpurtsp_camera_decoded_frames_total", camera_label(camera),
                double(camera.decoded_frames));
  page.family("gpurtsp_camera_corrupt_frames_dropped_total", "counter",
              "Frames not served since start because packets of theirs, or of a picture "
              "they reference, were lost.");
  for (const CameraStatus &camera : cameras)
    page.sample("gpurtsp_camera_corrupt_frames_dropped_total", camera_label(camera),
                double(camera.corrupt_frames_dropped));

  /* The same Totals as the --stats-interval line (stats-line.h). */
  if (!totals.gpus.empty()) {
    auto label = [](const GpuTotals &gpu) { return "gpu=\"" + std::to_string(gpu.gpu) + "\""; };
    page.family("gpurtsp_gpu_cameras", "gauge", "Cameras placed on the GPU.");
    for (const GpuTotals &gpu : totals.gpus)
      page.sample("gpurtsp_gpu_cameras", label(gpu), gpu.cameras);
    page.family("gpurtsp_gpu_keyframe_cameras", "gauge",
                "Cameras on the GPU's shared keyframe decoder sessions.");
    for (const GpuTotals &gpu : totals.gpus)
      page.sample("gpurtsp_gpu_keyframe_cameras", label(gpu), gpu.keyframe_cameras);
    page.family("gpurtsp_gpu_decoders_in_use", "gauge",
                "Per-camera NVDEC decoders held (--max-decoders-per-gpu).");
    for (const GpuTotals &gpu : totals.gpus)
      page.sample("gpurtsp_gpu_decoders_in_use", label(gpu), gpu.decoders_in_use);
    /* A family with one sample per GPU that has the part @part picks
     * (nullptr: none), of the value @value reads from it. */
    const auto per_gpu_family = [&](const char *name, const char *type, const char *help, auto part,
                                    auto value) {
      page.family(name, type, help);
      for (const GpuTotals &gpu : totals.gpus)
        if (const auto *figures = part(gpu))
          page.sample(name, label(gpu), double(value(*figures)));
    };
    const auto stack_family = [&](const char *name, const char *type, const char *help,
                                  auto value) {
      per_gpu_family(
          name, type, help,
          [](const GpuTotals &gpu) { return gpu.cuda_stack ? &*gpu.cuda_stack : nullptr; }, value);
    };
    stack_family("gpurtsp_gpu_cuda_stack_bytes", "gauge",
                 "The CUDA context's per-thread stack limit; VRAM for it is reserved for every "
                 "thread the GPU holds.",
                 [](const GpuResources::CudaStack &stack) { return stack.bytes; });
    stack_family("gpurtsp_gpu_cuda_stack_trims_total", "counter",
                 "Times a stack limit a kernel had raised was lowered back.",
                 [](const GpuResources::CudaStack &stack) { return stack.trims; });
    const auto keyframe_family = [&](const char *name, const char *type, const char *help,
                                     auto value) {
      per_gpu_family(
          name, type, help,
          [](const GpuTotals &gpu) {
            return gpu.keyframe_decoders.instances > 0 ? &gpu.keyframe_decoders : nullptr;
          },
          value);
    };
    keyframe_family("gpurtsp_keyframe_decoder_decoded_total", "counter",
                    "Keyframes decoded by the running gpukeyframedec instances.",
                    [](const KeyframeDecoderTotals &k) { return k.decoded; });
    keyframe_family("gpurtsp_keyframe_decoder_dropped_busy_total", "counter",
                    "Keyframes dropped: no NVDEC session free within session-timeout, or "
                    "the shared output frames' cap reached.",
                    [](const KeyframeDecoderTotals &k) { return k.dropped_busy; });
    keyframe_family("gpurtsp_keyframe_decoder_dropped_non_intra_total", "counter",
                    "Frames dropped because they were not intra frames.",
                    [](const KeyframeDecoderTotals &k) { return k.dropped_non_intra; });
    keyframe_family("gpurtsp_keyframe_pool_users", "gauge", "Decoders sharing the pool.",
                    [](const KeyframeDecoderTotals &k) { return k.pool.users; });
    keyframe_family("gpurtsp_keyframe_pool_sessions", "gauge", "NVDEC sessions of the pool.",
                    [](const KeyframeDecoderTotals &k) { return k.pool.sessions; });
    keyframe_family("gpurtsp_keyframe_pool_max_sessions", "gauge", "The pool's session cap.",
                    [](const KeyframeDecoderTotals &k) { return k.pool.max_sessions; });
    keyframe_family("gpurtsp_keyframe_pool_creation_failures_total", "counter",
                    "NVDEC session creations that failed.",
                    [](const KeyframeDecoderTotals &k) { return k.pool.creation_failures; });
    keyframe_family("gpurtsp_keyframe_pool_waits_total", "counter",
                    "Keyframes that found every NVDEC session busy and waited.",
                    [](const KeyframeDecoderTotals &k) { return k.pool.waits; });
    keyframe_family("gpurtsp_keyframe_pool_timeouts_total", "counter",
                    "Waits for an NVDEC session that gave up (the keyframe was dropped).",
                    [](const KeyframeDecoderTotals &k) { return k.pool.timeouts; });
    keyframe_family("gpurtsp_keyframe_pool_output_frames", "gauge",
                    "Frames the pool's shared output buffer pools allocated.",
                    [](const KeyframeDecoderTotals &k) { return k.pool_output_frames; });
    const auto jpeg_family = [&](const char *name, const char *type, const char *help, auto value) {
      per_gpu_family(
          name, type, help,
          [](const GpuTotals &gpu) {
            return gpu.jpeg_encoders.instances > 0 ? &gpu.jpeg_encoders : nullptr;
          },
          value);
    };
    jpeg_family("gpurtsp_jpeg_encodes_total", "counter",
                "JPEGs encoded by the running gpujpegenc instances.",
                [](const JpegEncoderTotals &j) { return j.encodes; });
    jpeg_family("gpurtsp_jpeg_dropped_busy_total", "counter",
                "Frames dropped because every encoder slot of the pool was busy.",
                [](const JpegEncoderTotals &j) { return j.dropped_busy; });
    jpeg_family("gpurtsp_jpeg_pool_users", "gauge", "gpujpegenc instances sharing the pool.",
                [](const JpegEncoderTotals &j) { return j.pool.users; });
    jpeg_family("gpurtsp_jpeg_pool_sessions", "gauge",
                "nvJPEG encoder slots of the pool (tens of MiB of VRAM each).",
                [](const JpegEncoderTotals &j) { return j.pool.sessions; });
    jpeg_family("gpurtsp_jpeg_pool_max_sessions", "gauge", "The pool's encoder slot cap.",
                [](const JpegEncoderTotals &j) { return j.pool.max_sessions; });
    jpeg_family("gpurtsp_jpeg_pool_creation_failures_total", "counter",
                "nvJPEG encoder slot creations that failed.",
                [](const JpegEncoderTotals &j) { return j.pool.creation_failures; });
    jpeg_family("gpurtsp_jpeg_pool_waits_total", "counter",
                "Frames that found every encoder slot busy and waited.",
                [](const JpegEncoderTotals &j) { return j.pool.waits; });
    jpeg_family("gpurtsp_jpeg_pool_timeouts_total", "counter",
                "Waits for an encoder slot that gave up (the frame was dropped).",
                [](const JpegEncoderTotals &j) { return j.pool.timeouts; });
  }
  if (const RtpFilterTotals &rtp = totals.rtp_filters; rtp.instances > 0) {
    page.family("gpurtsp_rtp_filter_packets_total", "counter",
                "RTP packets rtpkeyframefilter passed or dropped (decode: keyframes).");
    page.sample("gpurtsp_rtp_filter_packets_total", "result=\"passed\"",
                double(rtp.packets_passed));
    page.sample("gpurtsp_rtp_filter_packets_total", "result=\"dropped\"",
                double(rtp.packets_dropped));
    page.family("gpurtsp_rtp_filter_keyframes_cut_total", "counter",
                "Keyframes that arrived with a gap inside (a loss, or UDP packets the kernel "
                "filter should have kept).");
    page.sample("gpurtsp_rtp_filter_keyframes_cut_total", "", double(rtp.keyframes_cut));
    page.family("gpurtsp_rtp_socket_filters", "gauge",
                "Keyframe cameras' UDP sockets whose delta packets the kernel drops.");
    page.sample("gpurtsp_rtp_socket_filters", "", double(rtp.socket_filters));
  }

  if (process) {
    page.family("process_cpu_seconds_total", "counter", "User and system CPU time.");
    page.sample("process_cpu_seconds_total", "", process->cpu_seconds);
    page.family("process_resident_memory_bytes", "gauge", "Resident set size.");
    page.sample("process_resident_memory_bytes", "", double(process->resident_bytes));
  }

  if (!gpus.empty()) {
    auto gpu_label = [](const GpuMemory &gpu) {
      return "gpu=\"" + std::to_string(gpu.index) + "\",name=\"" + label_value(gpu.name) + "\"";
    };
    page.family("gpurtsp_gpu_memory_used_bytes", "gauge", "GPU memory in use (all processes).");
    for (const GpuMemory &gpu : gpus)
      page.sample("gpurtsp_gpu_memory_used_bytes", gpu_label(gpu), double(gpu.used_bytes));
    page.family("gpurtsp_gpu_memory_total_bytes", "gauge", "GPU memory size.");
    for (const GpuMemory &gpu : gpus)
      page.sample("gpurtsp_gpu_memory_total_bytes", gpu_label(gpu), double(gpu.total_bytes));
    page.family("gpurtsp_gpu_decoder_utilization_ratio", "gauge",
                "NVDEC engine busy time over NVML's last sample period (all processes).");
    for (const GpuMemory &gpu : gpus)
      if (gpu.decoder_utilization)
        page.sample("gpurtsp_gpu_decoder_utilization_ratio", gpu_label(gpu),
                    *gpu.decoder_utilization / 100.0);
    page.family("gpurtsp_gpu_jpeg_utilization_ratio", "gauge",
                "NVJPG engine busy time over NVML's last sample period (all processes).");
    for (const GpuMemory &gpu : gpus)
      if (gpu.jpeg_utilization)
        page.sample("gpurtsp_gpu_jpeg_utilization_ratio", gpu_label(gpu),
                    *gpu.jpeg_utilization / 100.0);
  }

  page.family("gpurtsp_http_connections", "gauge", "Open HTTP connections.");
  page.sample("gpurtsp_http_connections", "", http.connections);
  page.family("gpurtsp_http_mjpeg_streams", "gauge", "MJPEG streams being served.");
  page.sample("gpurtsp_http_mjpeg_streams", "", http.mjpeg_streams);
  if (shard.shard.count > 1) {
    page.family("gpurtsp_shard_info", "gauge",
                "1, labelled with this process's shard INDEX/COUNT.");
    page.sample("gpurtsp_shard_info",
                "index=\"" + std::to_string(shard.shard.index) + "\",count=\"" +
                    std::to_string(shard.shard.count) + "\"",
                1);
    page.family("gpurtsp_shard_cameras", "gauge", "Cameras of the config this shard serves.");
    page.sample("gpurtsp_shard_cameras", "", double(cameras.size()));
    page.family("gpurtsp_shard_config_cameras", "gauge", "Cameras in the config, every shard's.");
    page.sample("gpurtsp_shard_config_cameras", "", double(shard.config_cameras));
  }
  return page.take();
}

} // namespace gpurtsp::launch::http
