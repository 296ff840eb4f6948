// SPDX-License-Identifier: MIT
/* When the plugin keeps its CUDA elements out: built against a gst-cuda
 * older than 1.24 but loaded into GStreamer 1.24 or later. Needs no GPU. */
#include <string>

#include "core/cuda-version-rule.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

using gpurtsp::cuda_version_mismatch;

GST_START_TEST(test_same_rules_run) {
  /* Built and run under the same rules, or run older than built (GStreamer's
   * loader refuses that itself). */
  fail_unless(cuda_version_mismatch(22, 1, 22).empty());
  fail_unless(cuda_version_mismatch(22, 1, 23).empty());
  fail_unless(cuda_version_mismatch(24, 1, 24).empty());
  fail_unless(cuda_version_mismatch(24, 1, 26).empty());
  fail_unless(cuda_version_mismatch(26, 1, 24).empty());
  fail_unless(cuda_version_mismatch(26, 1, 28).empty());
}
GST_END_TEST;

GST_START_TEST(test_old_build_in_new_gstreamer) {
  const std::string why = cuda_version_mismatch(22, 1, 26);
  fail_unless_equals_string(why.c_str(), "built against GStreamer 1.22's gst-cuda, running 1.26: "
                                         "rebuild gpurtsp for this GStreamer");
  fail_if(cuda_version_mismatch(22, 1, 24).empty());
  fail_if(cuda_version_mismatch(23, 1, 24).empty());
  fail_if(cuda_version_mismatch(22, 2, 0).empty());
}
GST_END_TEST;

static Suite *cuda_version_rule_suite() {
  Suite *s = suite_create("cuda-version-rule");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_same_rules_run);
  tcase_add_test(tc, test_old_build_in_new_gstreamer);
  return s;
}

GST_CHECK_MAIN(cuda_version_rule)
