// SPDX-License-Identifier: MIT
/* nvJPEG loader: the project's own declarations against NVIDIA's documented
 * values, and clean failures when the library is missing or incomplete.
 * Needs no GPU and no nvJPEG; where a real nvJPEG loads, it is checked too. */
#include <cstddef>
#include <string>
#include <type_traits>

#include "jpegenc/nvjpeg-loader.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

using namespace gpurtsp::nvjpeg;

/* docs.nvidia.com/cuda/nvjpeg: "nvJPEG API Return Codes". */
static_assert(NVJPEG_STATUS_SUCCESS == 0 && NVJPEG_STATUS_NOT_INITIALIZED == 1 &&
              NVJPEG_STATUS_INVALID_PARAMETER == 2 && NVJPEG_STATUS_BAD_JPEG == 3 &&
              NVJPEG_STATUS_JPEG_NOT_SUPPORTED == 4 && NVJPEG_STATUS_ALLOCATOR_FAILURE == 5 &&
              NVJPEG_STATUS_EXECUTION_FAILED == 6 && NVJPEG_STATUS_ARCH_MISMATCH == 7 &&
              NVJPEG_STATUS_INTERNAL_ERROR == 8 &&
              NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED == 9 &&
              NVJPEG_STATUS_INCOMPLETE_BITSTREAM == 10);
/* "nvJPEG Chroma Subsampling". */
static_assert(NVJPEG_CSS_444 == 0 && NVJPEG_CSS_422 == 1 && NVJPEG_CSS_420 == 2 &&
              NVJPEG_CSS_440 == 3 && NVJPEG_CSS_411 == 4 && NVJPEG_CSS_410 == 5 &&
              NVJPEG_CSS_GRAY == 6 && NVJPEG_CSS_410V == 7 && NVJPEG_CSS_UNKNOWN == -1);
/* "nvjpegInputFormat_t". */
static_assert(NVJPEG_INPUT_RGB == 3 && NVJPEG_INPUT_BGR == 4 && NVJPEG_INPUT_RGBI == 5 &&
              NVJPEG_INPUT_BGRI == 6 && NVJPEG_INPUT_NV12 == 8);
/* CUDA's library_types.h. */
static_assert(MAJOR_VERSION == 0 && MINOR_VERSION == 1 && PATCH_LEVEL == 2);
/* "nvJPEG Image": unsigned char *channel[4]; size_t pitch[4]; (x86-64). */
static_assert(NVJPEG_MAX_COMPONENT == 4);
static_assert(std::is_standard_layout_v<nvjpegImage_t> && std::is_trivial_v<nvjpegImage_t>);
static_assert(sizeof(nvjpegImage_t) == 64 && offsetof(nvjpegImage_t, channel) == 0 &&
              offsetof(nvjpegImage_t, pitch) == 32);
/* C enums are passed as int. */
static_assert(std::is_same_v<std::underlying_type_t<nvjpegStatus_t>, int> &&
              std::is_same_v<std::underlying_type_t<nvjpegChromaSubsampling_t>, int> &&
              std::is_same_v<std::underlying_type_t<nvjpegInputFormat_t>, int> &&
              std::is_same_v<std::underlying_type_t<libraryPropertyType>, int>);
/* Opaque handles and the stream are plain pointers. */
static_assert(std::is_pointer_v<nvjpegHandle_t> && std::is_pointer_v<nvjpegEncoderState_t> &&
              std::is_pointer_v<nvjpegEncoderParams_t> && std::is_pointer_v<cudaStream_t>);

static bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

GST_START_TEST(test_missing_file_fails_with_reason) {
  std::string why;
  auto api = load({"/nonexistent/libnvjpeg.so.99"}, why);
  fail_unless(api == nullptr);
  fail_unless(contains(why, "/nonexistent/libnvjpeg.so.99"), "reason: %s", why.c_str());
}
GST_END_TEST;

GST_START_TEST(test_library_without_nvjpeg_fails_with_reason) {
  std::string why;
  auto api = load({"libm.so.6"}, why);
  fail_unless(api == nullptr);
  fail_unless(contains(why, "libm.so.6 lacks nvjpegGetProperty"), "reason: %s", why.c_str());
}
GST_END_TEST;

GST_START_TEST(test_every_candidate_is_reported) {
  std::string why;
  auto api = load({"/a/libnvjpeg.so.13", "libm.so.6", "/b/libnvjpeg.so.11"}, why);
  fail_unless(api == nullptr);
  for (const char *part : {"/a/libnvjpeg.so.13", "libm.so.6 lacks", "/b/libnvjpeg.so.11"})
    fail_unless(contains(why, part), "'%s' missing from: %s", part, why.c_str());
}
GST_END_TEST;

GST_START_TEST(test_no_candidates) {
  std::string why;
  fail_unless(load({}, why) == nullptr);
  fail_unless(!why.empty());
}
GST_END_TEST;

GST_START_TEST(test_search_order) {
  g_unsetenv("GPURTSP_NVJPEG_LIBRARY");
  auto candidates = default_candidates();
  fail_unless(candidates.size() >= 3);
  fail_unless(candidates[0] == "libnvjpeg.so.13" && candidates[1] == "libnvjpeg.so.12" &&
              candidates[2] == "libnvjpeg.so.11");

  g_setenv("GPURTSP_NVJPEG_LIBRARY", "/x/libnvjpeg.so.12::/y/libnvjpeg.so", TRUE);
  candidates = default_candidates();
  fail_unless_equals_int(candidates.size(), 2);
  fail_unless(candidates[0] == "/x/libnvjpeg.so.12" && candidates[1] == "/y/libnvjpeg.so");
  g_unsetenv("GPURTSP_NVJPEG_LIBRARY");
}
GST_END_TEST;

/* What plugin.cpp reports when nvJPEG is absent. */
GST_START_TEST(test_process_wide_failure_explains_itself) {
  g_setenv("GPURTSP_NVJPEG_LIBRARY", "/nonexistent/libnvjpeg.so.13", TRUE);
  std::string why;
  fail_unless(api(why) == nullptr);
  fail_unless(contains(why, "nvJPEG could not be loaded"), "reason: %s", why.c_str());
  fail_unless(contains(why, "/nonexistent/libnvjpeg.so.13"), "reason: %s", why.c_str());
  fail_unless(contains(why, "GPURTSP_NVJPEG_LIBRARY"), "reason: %s", why.c_str());
  /* Loaded once: later calls give the same answer. */
  std::string again;
  fail_unless(api(again) == nullptr);
  fail_unless(again == why);
  g_unsetenv("GPURTSP_NVJPEG_LIBRARY");
}
GST_END_TEST;

GST_START_TEST(test_status_names) {
  fail_unless_equals_string(status_name(NVJPEG_STATUS_INVALID_PARAMETER),
                            "NVJPEG_STATUS_INVALID_PARAMETER");
  fail_unless_equals_string(status_name(NVJPEG_STATUS_EXECUTION_FAILED),
                            "NVJPEG_STATUS_EXECUTION_FAILED");
  fail_unless_equals_string(status_name(static_cast<nvjpegStatus_t>(77)), "unknown nvJPEG status");
}
GST_END_TEST;

/* Where nvJPEG is installed (or GPURTSP_NVJPEG_LIBRARY names it), it loads
 * without a GPU and reports its version. */
GST_START_TEST(test_installed_library) {
  std::string why;
  auto api = load(default_candidates(), why);
  if (!api) {
    g_print("no nvJPEG on this machine, only the failure paths were checked: %s\n", why.c_str());
    return;
  }
  g_print("loaded %s: nvJPEG %d.%d.%d, nvjpegEncode (NV12) %s, nvjpegEncodeGetBufferSize %s\n",
          api->library.c_str(), api->version[0], api->version[1], api->version[2],
          api->nvjpegEncode ? "present" : "absent",
          api->nvjpegEncodeGetBufferSize ? "present" : "absent");
  /* In every nvJPEG with an encoder (CUDA 10.0 on). */
  fail_unless(api->nvjpegEncodeGetBufferSize != nullptr);
  fail_unless(api->version[0] >= 11, "nvJPEG major version %d", api->version[0]);
  fail_unless(api->version[1] >= 0 && api->version[2] >= 0);
}
GST_END_TEST;

static Suite *nvjpeg_loader_suite() {
  Suite *s = suite_create("nvjpeg-loader");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_missing_file_fails_with_reason);
  tcase_add_test(tc, test_library_without_nvjpeg_fails_with_reason);
  tcase_add_test(tc, test_every_candidate_is_reported);
  tcase_add_test(tc, test_no_candidates);
  tcase_add_test(tc, test_search_order);
  tcase_add_test(tc, test_process_wide_failure_explains_itself);
  tcase_add_test(tc, test_status_names);
  tcase_add_test(tc, test_installed_library);
  return s;
}

GST_CHECK_MAIN(nvjpeg_loader)
