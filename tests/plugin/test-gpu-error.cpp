// SPDX-License-Identifier: MIT
/* GpuError: the message every GPU helper's failure reads as, and the nvJPEG
 * check() that builds one. Needs no GPU (the CUresult check() needs the
 * driver for its error names, so it is exercised by the GPU tests). */
#include <string>

#include "core/gpu-error.h"
#include "core/gpurtsp-cuda.h"
#include "jpegenc/nvjpeg-encoder.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

using gpurtsp::GpuError;

/* gstcheck's string comparison reads its arguments after the full
 * expression: keep the text alive in a static. */
static const std::string &message_of(const GpuError &error) {
  static std::string text;
  text = error.message();
  return text;
}

GST_START_TEST(test_call_and_code) {
  const GpuError error{"cuStreamCreate", "CUDA_ERROR_OUT_OF_MEMORY", {}};
  fail_unless_equals_string(message_of(error).c_str(),
                            "cuStreamCreate failed: CUDA_ERROR_OUT_OF_MEMORY");
}
GST_END_TEST;

GST_START_TEST(test_call_code_and_detail) {
  const GpuError error{"cuvidCreateDecoder", "CUDA_ERROR_OUT_OF_MEMORY", "33rd session"};
  fail_unless_equals_string(message_of(error).c_str(),
                            "cuvidCreateDecoder failed: CUDA_ERROR_OUT_OF_MEMORY (33rd session)");
}
GST_END_TEST;

GST_START_TEST(test_call_without_code) {
  const GpuError error{"gst_video_frame_map", "", "the frame could not be mapped"};
  fail_unless_equals_string(message_of(error).c_str(),
                            "gst_video_frame_map failed: the frame could not be mapped");
}
GST_END_TEST;

GST_START_TEST(test_no_call) {
  const GpuError error{"", "", "this GPU's NVDEC cannot decode 8-bit 4:2:0 H.265"};
  fail_unless_equals_string(message_of(error).c_str(),
                            "this GPU's NVDEC cannot decode 8-bit 4:2:0 H.265");
}
GST_END_TEST;

/* A context that cannot be made current blames the push, not the call the
 * helper was about to make. */
GST_START_TEST(test_context_push) {
  const std::string message = GpuError::context_push().message();
  fail_unless_equals_string(message.c_str(),
                            "cuCtxPushCurrent failed: the CUDA context could not be made current");
  for (const char *innocent : {"cuvidParseVideoData", "cuvidGetDecoderCaps"})
    fail_unless(message.find(innocent) == std::string::npos);
}
GST_END_TEST;

GST_START_TEST(test_nvjpeg_check) {
  GpuError error;
  fail_unless(gpurtsp::check(gpurtsp::nvjpeg::NVJPEG_STATUS_SUCCESS, "nvjpegEncodeYUV", error));
  fail_unless(error.message().empty());
  fail_if(
      gpurtsp::check(gpurtsp::nvjpeg::NVJPEG_STATUS_EXECUTION_FAILED, "nvjpegEncodeYUV", error));
  fail_unless_equals_string(message_of(error).c_str(),
                            "nvjpegEncodeYUV failed: NVJPEG_STATUS_EXECUTION_FAILED");
}
GST_END_TEST;

/* GPURTSP_CUDA_STACK_BYTES: a number of bytes overrides the stack limit
 * gpurtsp gives its contexts; anything else is ignored (with a warning). */
GST_START_TEST(test_context_stack_bytes) {
  g_unsetenv("GPURTSP_CUDA_STACK_BYTES");
  fail_unless_equals_uint64(gpurtsp::context_stack_bytes(), gpurtsp::kKernelStackBytes);
  g_setenv("GPURTSP_CUDA_STACK_BYTES", "512", TRUE);
  fail_unless_equals_uint64(gpurtsp::context_stack_bytes(), 512);
  for (const char *bad : {"12k", "-1", "lots", "256 ", "99999999999"}) {
    g_setenv("GPURTSP_CUDA_STACK_BYTES", bad, TRUE);
    fail_unless_equals_uint64(gpurtsp::context_stack_bytes(), gpurtsp::kKernelStackBytes);
  }
  g_unsetenv("GPURTSP_CUDA_STACK_BYTES");
}
GST_END_TEST;

static Suite *gpu_error_suite() {
  Suite *s = suite_create("gpu-error");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_call_and_code);
  tcase_add_test(tc, test_call_code_and_detail);
  tcase_add_test(tc, test_call_without_code);
  tcase_add_test(tc, test_no_call);
  tcase_add_test(tc, test_context_push);
  tcase_add_test(tc, test_nvjpeg_check);
  tcase_add_test(tc, test_context_stack_bytes);
  return s;
}

GST_CHECK_MAIN(gpu_error)
