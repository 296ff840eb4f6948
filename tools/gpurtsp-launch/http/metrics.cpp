#include "metrics.h"

#include <dlfcn.h>
#include <glib.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
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
struct Nvml::Functions {
  using Device = struct NvmlDevice *;
  struct Memory {
    unsigned long long total, free, used;
  };
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*device_count)(unsigned *) = nullptr;
  int (*device_by_index)(unsigned, Device *) = nullptr;
  int (*memory_info)(Device, Memory *) = nullptr;
  int (*device_name)(Device, char *, unsigned) = nullptr;
};

namespace {
constexpr int kNvmlSuccess = 0;

template <typename Function>
bool load(void *handle, const char *name, Function &function) {
  function = reinterpret_cast<Function>(dlsym(handle, name));
  return function != nullptr;
}
} // namespace

Nvml::Nvml() {
  void *handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return;
  auto *functions = new Functions;
  if (load(handle, "nvmlInit_v2", functions->init) &&
      load(handle, "nvmlShutdown", functions->shutdown) &&
      load(handle, "nvmlDeviceGetCount_v2", functions->device_count) &&
      load(handle, "nvmlDeviceGetHandleByIndex_v2", functions->device_by_index) &&
      load(handle, "nvmlDeviceGetMemoryInfo", functions->memory_info) &&
      load(handle, "nvmlDeviceGetName", functions->device_name) &&
      functions->init() == kNvmlSuccess) {
    handle_ = handle;
    functions_ = functions;
    return;
  }
  delete functions;
  dlclose(handle);
}

Nvml::~Nvml() {
  if (!handle_)
    return;
  functions_->shutdown();
  delete functions_;
  dlclose(handle_);
}

std::vector<GpuMemory> Nvml::memory() const {
  std::vector<GpuMemory> gpus;
  unsigned count = 0;
  if (!handle_ || functions_->device_count(&count) != kNvmlSuccess)
    return gpus;
  for (unsigned index = 0; index < count; index++) {
    Functions::Device device = nullptr;
    Functions::Memory memory{};
    if (functions_->device_by_index(index, &device) != kNvmlSuccess ||
        functions_->memory_info(device, &memory) != kNvmlSuccess)
      continue;
    char name[96] = "";
    if (functions_->device_name(device, name, sizeof(name)) != kNvmlSuccess)
      name[0] = '\0';
    gpus.push_back({index, name, memory.used, memory.total});
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
                         const std::vector<GpuMemory> &gpus, const HttpStats &http) {
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
                       CameraState::Unauthorized, CameraState::Failed})
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
  }

  page.family("gpurtsp_http_connections", "gauge", "Open HTTP connections.");
  page.sample("gpurtsp_http_connections", "", http.connections);
  page.family("gpurtsp_http_mjpeg_streams", "gauge", "MJPEG streams being served.");
  page.sample("gpurtsp_http_mjpeg_streams", "", http.mjpeg_streams);
  return page.take();
}

} // namespace gpurtsp::launch::http
