// SPDX-License-Identifier: MIT
/* Threads that start and tear down pipelines, so the main loop never waits on
 * a state change: rtspsrc may wait on a dead camera for its TEARDOWN, and
 * NVDEC and nvJPEG sessions take time to open and close. Never a streaming
 * thread nor a bus sync handler, where setting a pipeline to NULL deadlocks.
 *
 * After teardowns it gives the heap they freed back to the system
 * (malloc_trim): a pipeline's threads allocate from glibc's per-thread
 * arenas, and what a torn-down pipeline frees stays mapped in them, spread
 * over every arena, so without a trim RSS ratchets up with every mass
 * reconnect (docs/reliability.md, "Soak"). */
#pragma once

#include <glib.h>

#include <atomic>
#include <cstdint>
#include <functional>

namespace gpurtsp::launch {

class PipelineWorker {
public:
  /* At most one heap trim per this long: a trim walks every arena's free
   * chunks under its lock (milliseconds per GB of heap). */
  static constexpr int64_t kMinTrimIntervalUs = G_USEC_PER_SEC;

  PipelineWorker();
  /* Waits for every queued job to finish. */
  ~PipelineWorker();
  PipelineWorker(const PipelineWorker &) = delete;
  PipelineWorker &operator=(const PipelineWorker &) = delete;

  /* Runs @job on one of the worker threads; jobs may run in any order and
   * concurrently. */
  void run(std::function<void()> job);
  /* run() for a job that destroys a pipeline: when the last teardown queued
   * so far has finished, the heap is trimmed, at most once per
   * kMinTrimIntervalUs (the worker waits out the rest of the interval). */
  void run_teardown(std::function<void()> job);

  /* Heap trims so far (tests, logs). */
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

private:
  static void run_job(gpointer job, gpointer self);
  void trim_heap();

  GThreadPool *pool_;
  std::atomic<int> teardowns_in_flight_{0};
  std::atomic<int64_t> last_trim_us_{0};
  std::atomic<uint64_t> trims_{0};
};

} // namespace gpurtsp::launch
