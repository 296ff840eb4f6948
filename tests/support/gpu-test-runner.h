// SPDX-License-Identifier: MIT
/* The one main() of the GstCheck tests that need more than GST_CHECK_MAIN:
 * a GPU, an element of this plugin, elements of other plugins, arguments of
 * their own or the leak tracer. Every such test goes through the same steps
 * in the same order, so that a missing GPU or library reads the same in
 * each: exit 77 (skipped) when this machine lacks something the test needs,
 * 1 when what is there contradicts itself or a test fails, 2 for a bad
 * command line. The order exists for CUDA's sake (see gpu-test-util.h):
 * nothing before the suite may initialise CUDA in this process.
 *
 *   1. requirements(req, argc, argv): the test's own arguments (removed from
 *      argv) and what it needs; a non-zero return ends here with it.
 *   2. Environment defaults the test asked for (leak tracer, one process),
 *      unless the environment already says otherwise.
 *   3. gst_check_init().
 *   4. req.probe in a forked child: unusable 77, crashed or hung 1. First,
 *      so that a machine without the GPU skips whatever the registry says.
 *   5. req.element in the registry, which loads no plugin: missing, 77 when
 *      the gpurtsp plugin recorded why (no GPU, no library), else 1.
 *   6. req.needs, elements of other plugins: 77 when one is missing.
 *   7. Fork mode: one process per test unless CUDA got in here anyway.
 *   8. The suite, built now (it may look at the registry): 0 when every
 *      test passed, else 1.
 *
 * Each test is a plain executable, so it also runs without meson on a GPU
 * host (GST_PLUGIN_PATH set by hand). In a test source:
 *
 *   static int requirements(gputest::Requirements &req, int &argc, char **&argv) {
 *     req.element = "gpunv12torgb";
 *     return 0;
 *   }
 *   GPUTEST_MAIN("gpunv12torgb", gpunv12torgb_suite, requirements)
 *
 * Include last, after gst/check/gstcheck.h or in its place: it includes
 * gstcheck.h, whose fail() macro breaks C++ headers included after it. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <string>
#include <vector>

#include "gpu-test-util.h"

#include <gst/check/gstcheck.h>

namespace gputest {

struct Requirements {
  /* The gpurtsp element the suite tests (nullptr: none). */
  const char *element = nullptr;
  /* What the probe asks for, in messages ("CUDA device"), and the probe: it
   * runs in a forked child, may initialise CUDA there, and returns whether
   * this machine has it, with why not (or what it found) in @why. */
  const char *probe_what = nullptr;
  std::function<bool(std::string &why)> probe;
  /* Elements of other plugins the suite cannot run without, and where they
   * come from (for the skip message). */
  std::vector<const char *> needs;
  const char *needs_from = nullptr;
  /* Every test in this process (CK_FORK=no), e.g. where the suite holds one
   * CUDA context across tests. */
  bool one_process = false;
  /* GstCheck's leak tracer: each test, in a process of its own, then fails
   * if it leaked a GstObject or GstMiniObject. */
  bool leak_check = false;
};

using RequirementsFunc = int (*)(Requirements &req, int &argc, char **&argv);

inline int run(int argc, char **argv, const char *name, Suite *(*make_suite)(),
               RequirementsFunc requirements, const char *file) {
  Requirements req;
  if (const int status = requirements(req, argc, argv); status != 0)
    return status;

  if (req.leak_check)
    g_setenv("GST_TRACERS", "leaks", FALSE);
  if (req.one_process)
    g_setenv("CK_FORK", "no", FALSE);
  gst_check_init(&argc, &argv);

  if (req.probe) {
    std::string why;
    switch (probe_in_child(req.probe, why)) {
    case Probe::Usable:
      if (!why.empty())
        g_print("%s\n", why.c_str());
      break;
    case Probe::Unusable:
      g_print("SKIP: no usable %s: %s\n", req.probe_what, why.c_str());
      return 77;
    case Probe::Broken:
      g_printerr("FAIL: probing for %s: %s\n", req.probe_what, why.c_str());
      return 1;
    }
  }

  if (req.element) {
    if (const int status = registered_or_exit_status(req.element); status != 0) {
      if (status != 77)
        g_printerr("(is GST_PLUGIN_PATH set to the directory of libgstgpurtsp.so?)\n");
      return status;
    }
  }

  std::string missing;
  if (!have_elements(req.needs, missing)) {
    g_print("SKIP: missing %s%s%s%s\n", missing.c_str(), req.needs_from ? " (" : "",
            req.needs_from ? req.needs_from : "", req.needs_from ? ")" : "");
    return 77;
  }

  choose_fork_mode();
  /* gst_check_run_suite() returns the number of failed tests: 77 of them
   * would read as a skip. */
  return gst_check_run_suite(make_suite(), name, file) == 0 ? 0 : 1;
}

} // namespace gputest

#define GPUTEST_MAIN(name, suite, requirements)                                                    \
  int main(int argc, char **argv) {                                                                \
    return gputest::run(argc, argv, name, suite, requirements, __FILE__);                          \
  }
