// SPDX-License-Identifier: MIT
/* gpu: auto placement (placement.h): decoder budgets, keyframe load, ties,
 * failed GPUs, and an even spread when cameras arrive one by one. */
#include <string>
#include <vector>

#include "gpu-resources.h"
#include "placement.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using namespace gpurtsp::launch;

static int place(const std::vector<GpuLoad> &gpus, PlacementKind kind) {
  std::string why;
  std::optional<int> gpu = place_camera(gpus, kind, why);
  fail_unless(gpu.has_value(), "no GPU: %s", why.c_str());
  return *gpu;
}

GST_START_TEST(test_full_decode_goes_to_most_free_decoders) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .decoder_budget = 256, .decoders_in_use = 200},
                               {.gpu = 1, .decoder_budget = 256, .decoders_in_use = 10},
                               {.gpu = 2, .decoder_budget = 256, .decoders_in_use = 100}};
  fail_unless_equals_int(place(gpus, PlacementKind::FullDecode), 1);
  /* Keyframe load does not matter to a decoder-owning camera. */
  gpus[1].keyframe_cameras = 1000;
  fail_unless_equals_int(place(gpus, PlacementKind::FullDecode), 1);
}
GST_END_TEST;

GST_START_TEST(test_full_gpu_never_chosen) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .decoder_budget = 4, .decoders_in_use = 4},
                               {.gpu = 1, .decoder_budget = 4, .decoders_in_use = 3}};
  fail_unless_equals_int(place(gpus, PlacementKind::FullDecode), 1);
  gpus[1].decoders_in_use = 4;
  std::string why;
  fail_if(place_camera(gpus, PlacementKind::FullDecode, why).has_value());
  fail_unless_equals_string(
      why.c_str(), "every GPU's NVDEC decoders are in use (4 of 4 on GPU 0, 4 of 4 on GPU 1, "
                   "--max-decoders-per-gpu)");
  /* Keyframe cameras share sessions: a GPU out of per-camera decoders still
   * takes them. */
  fail_unless_equals_int(place(gpus, PlacementKind::Keyframes), 0);
}
GST_END_TEST;

GST_START_TEST(test_no_budget_means_unlimited) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .decoder_budget = 0, .decoders_in_use = 5000},
                               {.gpu = 1, .decoder_budget = 256, .decoders_in_use = 0}};
  fail_unless_equals_int(place(gpus, PlacementKind::FullDecode), 0);
}
GST_END_TEST;

GST_START_TEST(test_keyframes_go_to_fewest_keyframe_cameras) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .keyframe_cameras = 500, .cameras = 500},
                               {.gpu = 1, .keyframe_cameras = 499, .cameras = 700}};
  fail_unless_equals_int(place(gpus, PlacementKind::Keyframes), 1);
}
GST_END_TEST;

GST_START_TEST(test_ties_fewer_cameras_then_lower_index) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .keyframe_cameras = 10, .cameras = 30},
                               {.gpu = 1, .keyframe_cameras = 10, .cameras = 20},
                               {.gpu = 2, .keyframe_cameras = 10, .cameras = 20}};
  fail_unless_equals_int(place(gpus, PlacementKind::Keyframes), 1);
  gpus[1].cameras = 30;
  gpus[2].cameras = 30;
  fail_unless_equals_int(place(gpus, PlacementKind::Keyframes), 0);
}
GST_END_TEST;

GST_START_TEST(test_failed_gpu_skipped) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .usable = false}, {.gpu = 1, .keyframe_cameras = 900}};
  fail_unless_equals_int(place(gpus, PlacementKind::Keyframes), 1);
  fail_unless_equals_int(place(gpus, PlacementKind::FullDecode), 1);
  gpus[1].usable = false;
  std::string why;
  fail_if(place_camera(gpus, PlacementKind::Keyframes, why).has_value());
  fail_unless_equals_string(why.c_str(), "no GPU is usable");
  fail_if(place_camera({}, PlacementKind::Keyframes, why).has_value());
  fail_unless_equals_string(why.c_str(), "no GPU is visible");
}
GST_END_TEST;

/* 1,000 keyframe and 200 full-decode cameras arriving interleaved on two
 * GPUs: within one camera of even, and no budget exceeded. */
GST_START_TEST(test_even_spread_as_cameras_arrive) {
  std::vector<GpuLoad> gpus = {{.gpu = 0, .decoder_budget = 256},
                               {.gpu = 1, .decoder_budget = 256}};
  for (int i = 0; i < 1200; i++) {
    bool full = i % 6 == 5;
    GpuLoad &gpu = gpus[place(gpus, full ? PlacementKind::FullDecode : PlacementKind::Keyframes)];
    gpu.cameras++;
    if (full)
      gpu.decoders_in_use++;
    else
      gpu.keyframe_cameras++;
  }
  fail_unless_equals_int(gpus[0].keyframe_cameras + gpus[1].keyframe_cameras, 1000);
  fail_unless_equals_int(gpus[0].decoders_in_use + gpus[1].decoders_in_use, 200);
  fail_unless(std::abs(int(gpus[0].keyframe_cameras) - int(gpus[1].keyframe_cameras)) <= 1);
  fail_unless(std::abs(int(gpus[0].decoders_in_use) - int(gpus[1].decoders_in_use)) <= 1);
}
GST_END_TEST;

static unsigned cameras_on(const GpuResources &gpus, int gpu) {
  for (const auto &figures : gpus.figures())
    if (figures.gpu == gpu)
      return figures.cameras;
  return 0;
}

/* GpuResources with two fake GPUs (no contexts): gpu: auto spreads
 * decoder-owning cameras by budget, a fixed gpu stays, and unplace() gives
 * the place back. */
GST_START_TEST(test_two_fake_gpus) {
  GpuResources gpus;
  gpus.set_fake_gpus_for_testing(2);
  gpus.set_max_decoders_per_gpu(3);
  CameraSettings automatic;
  automatic.decoder = DecoderChoice::Nvidia;
  automatic.decode = DecodeMode::All;
  fail_unless_equals_int(automatic.gpu, kAutoGpu);
  std::vector<int> placed;
  for (int i = 0; i < 6; i++)
    placed.push_back(gpus.place(automatic, false));
  fail_unless_equals_int(cameras_on(gpus, 0), 3);
  fail_unless_equals_int(cameras_on(gpus, 1), 3);
  /* Both budgets used: the camera still gets a GPU, where it will wait for
   * a decoder like any camera over the budget. */
  fail_unless_equals_int(gpus.place(automatic, false), 0);
  CameraSettings fixed = automatic;
  fixed.gpu = 1;
  fail_unless_equals_int(gpus.place(fixed, false), 1);
  fail_unless_equals_int(cameras_on(gpus, 1), 4);
  gpus.unplace(1, false);
  gpus.unplace(placed[1], false);
  fail_unless_equals_int(cameras_on(gpus, placed[1]), placed[1] == 0 ? 3 : 2);
}
GST_END_TEST;

GST_START_TEST(test_sticky_cuda_errors) {
  fail_unless(is_sticky_cuda_error(
      "Could not decode stream. (cuLaunchKernel failed: CUDA_ERROR_ILLEGAL_ADDRESS)"));
  fail_unless(is_sticky_cuda_error("cuvidDecodePicture failed: CUDA_ERROR_LAUNCH_FAILED"));
  fail_unless(is_sticky_cuda_error("CUDA_ERROR_ECC_UNCORRECTABLE"));
  /* Transient or per-call errors are retried on the same context. */
  fail_if(is_sticky_cuda_error("cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY"));
  fail_if(is_sticky_cuda_error("Could not read from resource. (connection refused)"));
  fail_if(is_sticky_cuda_error(""));
}
GST_END_TEST;

/* Without GPUs nothing is replaced: an error on a GPU that has no context
 * is ignored, and the generation stays. */
GST_START_TEST(test_lost_context_without_gpu) {
  GpuResources gpus;
  fail_unless_equals_int(gpus.context_generation(0), 0);
  gpus.report_pipeline_error(0, 0, "CUDA_ERROR_ILLEGAL_ADDRESS");
  fail_unless_equals_int(gpus.context_generation(0), 0);
}
GST_END_TEST;

static Suite *placement_suite() {
  Suite *s = suite_create("launch-placement");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_full_decode_goes_to_most_free_decoders);
  tcase_add_test(tc, test_full_gpu_never_chosen);
  tcase_add_test(tc, test_no_budget_means_unlimited);
  tcase_add_test(tc, test_keyframes_go_to_fewest_keyframe_cameras);
  tcase_add_test(tc, test_ties_fewer_cameras_then_lower_index);
  tcase_add_test(tc, test_failed_gpu_skipped);
  tcase_add_test(tc, test_even_spread_as_cameras_arrive);
  tcase_add_test(tc, test_two_fake_gpus);
  tcase_add_test(tc, test_sticky_cuda_errors);
  tcase_add_test(tc, test_lost_context_without_gpu);
  return s;
}

GST_CHECK_MAIN(placement)
