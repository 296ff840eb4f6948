// SPDX-License-Identifier: MIT
#include "pipeline-worker.h"

#include <algorithm>
#include <memory>

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

void PipelineWorker::run_job(gpointer job, gpointer) {
  std::unique_ptr<std::function<void()>> function(static_cast<std::function<void()> *>(job));
  (*function)();
}

} // namespace gpurtsp::launch
