// SPDX-License-Identifier: MIT
#include "pipeline-worker.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <memory>

#include "log.h"

namespace gpurtsp::launch {

namespace {

/* Enough to keep a mass reconnect (a switch rebooting) from queueing for
 * long, few enough that teardowns do not swamp the cameras still running. */
int worker_threads() {
  return std::clamp(int(g_get_num_processors()), 2, 8);
}

} // namespace

PipelineWorker::PipelineWorker()
    : pool_(g_thread_pool_new(run_job, this, worker_threads(), FALSE, nullptr)) {}

PipelineWorker::~PipelineWorker() {
  g_thread_pool_free(pool_, FALSE, TRUE);
}

void PipelineWorker::run(std::function<void()> job) {
  g_thread_pool_push(pool_, new std::function<void()>(std::move(job)), nullptr);
}

void PipelineWorker::run_teardown(std::function<void()> job) {
  teardowns_in_flight_.fetch_add(1, std::memory_order_relaxed);
  run([this, job = std::move(job)] {
    job();
    /* The last of a burst (a whole site reconnecting) trims once. */
    if (teardowns_in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      trim_heap();
  });
}

void PipelineWorker::trim_heap() {
#ifdef __GLIBC__
  int64_t now_us = g_get_monotonic_time();
  int64_t last_us = last_trim_us_.load(std::memory_order_relaxed);
  if (last_us != 0 && now_us - last_us < kMinTrimIntervalUs) {
    /* Waits out the interval on this worker (one of several) rather than
     * leave the burst's heap untrimmed; a teardown queued meanwhile trims
     * after itself instead. */
    g_usleep(gulong(kMinTrimIntervalUs - (now_us - last_us)));
    if (teardowns_in_flight_.load(std::memory_order_acquire) != 0)
      return;
    now_us = g_get_monotonic_time();
  }
  if (!last_trim_us_.compare_exchange_strong(last_us, now_us, std::memory_order_relaxed))
    return; /* another worker trimmed meanwhile */
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
  LAUNCH_DEBUG("heap trimmed after teardowns in %.1f ms",
               double(g_get_monotonic_time() - now_us) / 1000.0);
#endif
}

void PipelineWorker::run_job(gpointer job, gpointer) {
  std::unique_ptr<std::function<void()>> function(static_cast<std::function<void()> *>(job));
  (*function)();
}

} // namespace gpurtsp::launch
