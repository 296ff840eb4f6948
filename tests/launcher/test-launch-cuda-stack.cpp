// SPDX-License-Identifier: MIT
/* The launcher's CUDA contexts on a GPU (77 without one): the per-thread
 * stack starts low, a raised one is lowered back by trim_cuda_stacks() once
 * its check is due, and that gives VRAM back (stack-trim.h); threads that
 * wait for the context sleep (blocking sync) only with
 * GPURTSP_CUDA_SYNC=blocking. */
#include <dlfcn.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>

#include <string>

#include "cuda-contexts.h"
#include "gpu-resources.h"
#include "core/gpurtsp-cuda.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include "gpu-test-runner.h"

using namespace gpurtsp::launch;

namespace {

/* What a kernel with a large stack does at its launch: cuCtxSetLimit is not
 * among gst-cuda 1.22's wrappers, so from the driver. */
struct Driver {
  void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  using SetLimit = CUresult (*)(CUlimit, size_t);
  using MemGetInfo = CUresult (*)(size_t *, size_t *);
  using GetFlags = CUresult (*)(unsigned int *);
  SetLimit set_limit = handle ? SetLimit(dlsym(handle, "cuCtxSetLimit")) : nullptr;
  MemGetInfo mem_get_info = handle ? MemGetInfo(dlsym(handle, "cuMemGetInfo_v2")) : nullptr;
  GetFlags get_flags = handle ? GetFlags(dlsym(handle, "cuCtxGetFlags")) : nullptr;
  ~Driver() {
    if (handle)
      dlclose(handle);
  }
};

/* Free device memory in MiB, seen from @context. */
double free_mib(const Driver &driver, GstCudaContext *context) {
  gpurtsp::CudaContextScope scope(context);
  size_t free_bytes = 0, total = 0;
  fail_unless(scope.pushed() && driver.mem_get_info(&free_bytes, &total) == CUDA_SUCCESS);
  return double(free_bytes) / (1024.0 * 1024.0);
}

} // namespace

GST_START_TEST(test_raised_stack_is_lowered_back) {
  Driver driver;
  fail_unless(driver.set_limit && driver.mem_get_info, "libcuda.so.1: %s", dlerror());
  GpuResources gpus;
  std::string why;
  fail_unless(gpus.has_context(0, why), "%s", why.c_str());
  auto *context = GST_CUDA_CONTEXT(gpurtsp::test::shared_cuda_context(gpus, 0));
  const auto ours = gpus.cuda_stack(0);
  fail_unless(ours.has_value(), "no stack figure for the launcher's context");
  fail_unless_equals_uint64(ours->trims, 0);

  const double before_mib = free_mib(driver, context);
  {
    gpurtsp::CudaContextScope scope(context);
    fail_unless(scope.pushed());
    fail_unless_equals_int(driver.set_limit(CU_LIMIT_STACK_SIZE, 4096), CUDA_SUCCESS);
  }
  const double raised_mib = free_mib(driver, context);
  const auto raised = gpus.cuda_stack(0);
  fail_unless(raised && raised->bytes >= 4096, "stack %zu after raising it to 4096",
              raised ? size_t(raised->bytes) : 0);

  /* Not due yet: a minute after the context was made. */
  const int64_t now = g_get_monotonic_time();
  gpus.trim_cuda_stacks(now);
  fail_unless_equals_uint64(gpus.cuda_stack(0)->bytes, raised->bytes);

  gpus.trim_cuda_stacks(now + StackTrimSchedule::kFirstIntervalUs + 1'000'000);
  const auto lowered = gpus.cuda_stack(0);
  const double lowered_mib = free_mib(driver, context);
  g_print("per-thread stack %zu -> %zu -> %zu bytes; free VRAM %.0f -> %.0f -> %.0f MiB\n",
          size_t(ours->bytes), size_t(raised->bytes), size_t(lowered->bytes), before_mib,
          raised_mib, lowered_mib);
  fail_unless_equals_uint64(lowered->bytes, ours->bytes);
  fail_unless_equals_uint64(lowered->trims, 1);
  /* 4 KiB for every thread the GPU holds is hundreds of MiB on any GPU
   * this runs on; lowering gives it back. */
  fail_unless(raised_mib < before_mib - 64, "raising the stack took %.0f MiB",
              before_mib - raised_mib);
  fail_unless(lowered_mib > raised_mib + 64, "lowering it gave back %.0f MiB",
              lowered_mib - raised_mib);

  /* Found low at the next check: nothing to do. */
  gpus.trim_cuda_stacks(now + 3 * StackTrimSchedule::kFirstIntervalUs);
  fail_unless_equals_uint64(gpus.cuda_stack(0)->trims, 1);
}
GST_END_TEST;

/* The scheduling flags of GPU 0's context in a new GpuResources. */
unsigned int launcher_context_sched() {
  Driver driver;
  fail_unless(driver.get_flags != nullptr, "libcuda.so.1 lacks cuCtxGetFlags");
  GpuResources gpus;
  std::string why;
  fail_unless(gpus.has_context(0, why), "%s", why.c_str());
  auto *context = GST_CUDA_CONTEXT(gpurtsp::test::shared_cuda_context(gpus, 0));
  gpurtsp::CudaContextScope scope(context);
  unsigned int flags = 0;
  fail_unless(scope.pushed() && driver.get_flags(&flags) == CUDA_SUCCESS);
  return flags & CU_CTX_SCHED_MASK;
}

/* The launcher's context keeps the driver's scheduling unless
 * GPURTSP_CUDA_SYNC=blocking asks threads that wait for it to sleep. */
GST_START_TEST(test_waiting_threads_sleep_on_request) {
  fail_if(launcher_context_sched() == CU_CTX_SCHED_BLOCKING_SYNC, "blocking sync by default");
  g_setenv("GPURTSP_CUDA_SYNC", "blocking", TRUE);
  const unsigned int sched = launcher_context_sched();
  g_unsetenv("GPURTSP_CUDA_SYNC");
  fail_unless_equals_int(sched, CU_CTX_SCHED_BLOCKING_SYNC);
}
GST_END_TEST;

static Suite *cuda_stack_suite() {
  Suite *s = suite_create("launch-cuda-stack");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_raised_stack_is_lowered_back);
  tcase_add_test(tc, test_waiting_threads_sleep_on_request);
  return s;
}

static int requirements(gputest::Requirements &req, int &, char **&) {
  req.probe_what = "CUDA device";
  req.probe = gpurtsp::cuda_device_available;
  return 0;
}

GPUTEST_MAIN("launch-cuda-stack", cuda_stack_suite, requirements)
