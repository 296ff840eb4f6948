// SPDX-License-Identifier: MIT
/* /metrics: the Prometheus text exposition format (version 0.0.4). */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "camera-registry.h"
#include "shard.h"

namespace gpurtsp::launch::http {

struct ProcessStats {
  double cpu_seconds = 0.0; /* user + system */
  std::uint64_t resident_bytes = 0;
};

/* From /proc/self/stat and /proc/self/statm; nullopt where they cannot be read. */
std::optional<ProcessStats> read_process_stats();

struct GpuMemory {
  unsigned index =
      0; /* NVML's index: PCI bus order, CUDA's too with CUDA_DEVICE_ORDER=PCI_BUS_ID */
  std::string name;
  std::uint64_t used_bytes = 0;
  std::uint64_t total_bytes = 0;
  std::optional<unsigned> decoder_utilization; /* NVDEC busy %, where NVML has it */
  std::optional<unsigned> jpeg_utilization;    /* NVJPG busy %, where NVML has it */
};

/* NVML, loaded at run time (library-loader.h) so the launcher runs (and
 * builds) without the NVIDIA driver. Main thread only. */
class Nvml {
public:
  Nvml();
  ~Nvml();
  Nvml(const Nvml &) = delete;
  Nvml &operator=(const Nvml &) = delete;

  bool available() const { return api_ != nullptr; }
  /* Every GPU's memory and engine utilisation now; empty when NVML is unavailable. */
  std::vector<GpuMemory> memory() const;

private:
  struct Api;
  /* Loads libnvidia-ml.so.1 once per process; nullptr and @why when it is
   * missing or lacks an entry point (same answer on every call). */
  static const Api *api(std::string &why);
  const Api *api_ = nullptr; /* null when NVML is missing or failed to initialise */
};

struct HttpStats {
  unsigned connections = 0;
  unsigned mjpeg_streams = 0;
};

/* The whole /metrics page. */
std::string metrics_text(const std::vector<CameraStatus> &cameras,
                         const std::optional<ProcessStats> &process,
                         const std::vector<GpuMemory> &gpus, const HttpStats &http,
                         const ShardInfo &shard = {}, const Totals &totals = {});

} // namespace gpurtsp::launch::http
