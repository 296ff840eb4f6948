// SPDX-License-Identifier: MIT
/* Threads that start and tear down pipelines, so the main loop never waits on
 * a state change: rtspsrc may wait on a dead camera for its TEARDOWN, and
 * NVDEC and nvJPEG sessions take time to open and close. Never a streaming
 * thread nor a bus sync handler, where setting a pipeline to NULL deadlocks. */
#pragma once

#include <glib.h>

#include <functional>

namespace gpurtsp::launch {

class PipelineWorker {
public:
  PipelineWorker();
  /* Waits for every queued job to finish. */
  ~PipelineWorker();
  PipelineWorker(const PipelineWorker &) = delete;
  PipelineWorker &operator=(const PipelineWorker &) = delete;

  /* Runs @job on one of the worker threads; jobs may run in any order and
   * concurrently. */
  void run(std::function<void()> job);

private:
  static void run_job(gpointer job, gpointer self);

  GThreadPool *pool_;
};

} // namespace gpurtsp::launch
