// SPDX-License-Identifier: MIT
/* gpurtsp-launch's element choices (element-choice.h) against registries as
 * each GStreamer release lays them out, no GPU needed: the NVDEC decoder
 * (1.22's nvh264sldec over its legacy nvh264dec; 1.24's stateless nvh264dec
 * and nvh264device1dec), the JPEG encoder of jpeg_encoder (auto's
 * preference, nvjpegenc per GPU, its fallback with width), the output chain
 * each encoder gets, and the NVDEC budget against gpukeyframedec's default
 * (where the element is registered). */
#include <string>
#include <vector>

#include "element-catalog.h"
#include "element-choice.h"
#include "gpu-resources.h"
#include "pipeline-description.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

#include "text-asserts.h"

using namespace gpurtsp::launch;

constexpr GstRelease k122{1, 22}, k123{1, 23}, k124{1, 24}, k126{1, 26};

/* GStreamer 1.22 with two GPUs: stateless sldec and legacy dec per GPU. The
 * legacy decoders rank higher, as in nvcodec; ancestry as the registry
 * answers it. */
static std::vector<RegisteredElement> registry_1_22() {
  return {
      {"avdec_h264", std::nullopt, GST_RANK_PRIMARY, std::nullopt},
      {"nvh264dec", 0, GST_RANK_PRIMARY, false},
      {"nvh264sldec", 0, GST_RANK_SECONDARY, true},
      {"nvh265dec", 0, GST_RANK_PRIMARY, false},
      {"nvh265sldec", 0, GST_RANK_SECONDARY, true},
      {"nvh264device1dec", 1, GST_RANK_PRIMARY, false},
      {"nvh264sldevice1dec", 1, GST_RANK_SECONDARY, true},
  };
}

/* GStreamer 1.24 and later: only stateless decoders, named dec. */
static std::vector<RegisteredElement> registry_1_24() {
  return {
      {"nvh264dec", 0, GST_RANK_PRIMARY, true},
      {"nvh265dec", 0, GST_RANK_PRIMARY, true},
      {"nvh264device1dec", 1, GST_RANK_PRIMARY, true},
      {"nvh265device1dec", 1, GST_RANK_PRIMARY, true},
  };
}

GST_START_TEST(test_release) {
  fail_unless(parse_release("1.22.0") == (GstRelease{1, 22}));
  fail_unless(parse_release("1.23.90") == (GstRelease{1, 23}));
  fail_unless(parse_release("1.24") == (GstRelease{1, 24}));
  for (const char *bad : {"", "1", "x.y", "1.x", "1.22x", ".22"})
    fail_if(parse_release(bad).has_value(), "\"%s\" parsed", bad);
  fail_unless(k122 < k124 && k124 < k126);
  assert_equals_text(k126.to_string(), "1.26");
}
GST_END_TEST;

GST_START_TEST(test_decoder_1_22_stateless_first) {
  const auto registry = registry_1_22();
  ElementChoice chosen = choose_nvdec_decoder(registry, Codec::H264, 0, k122);
  assert_equals_text(chosen.factory, "nvh264sldec");
  assert_equals_text(chosen.reason,
                     "nvh264sldec: GStreamer 1.22's stateless NVDEC decoder (the CUVID-parser "
                     "nvh264dec opens a GL display per instance)");
  /* The second GPU's stateless decoder is named nvh264sldevice1dec. */
  chosen = choose_nvdec_decoder(registry, Codec::H264, 1, k122);
  assert_equals_text(chosen.factory, "nvh264sldevice1dec");
  chosen = choose_nvdec_decoder(registry, Codec::H265, 0, k122);
  assert_equals_text(chosen.factory, "nvh265sldec");
  assert_contains(chosen.reason, "the CUVID-parser nvh265dec");
  /* The name alone says sldec is stateless, whatever the ancestry said. */
  std::vector<RegisteredElement> unknown = registry;
  for (RegisteredElement &element : unknown)
    element.stateless.reset();
  assert_equals_text(choose_nvdec_decoder(unknown, Codec::H264, 1, k122).factory,
                     "nvh264sldevice1dec");
}
GST_END_TEST;

GST_START_TEST(test_decoder_1_22_legacy_only) {
  const std::vector<RegisteredElement> registry = {
      {"nvh264dec", 0, GST_RANK_PRIMARY, false},
      {"nvh264device1dec", 1, GST_RANK_PRIMARY, false},
  };
  ElementChoice chosen = choose_nvdec_decoder(registry, Codec::H264, 0, k122);
  assert_equals_text(chosen.factory, "nvh264dec");
  fail_unless(chosen.reason.starts_with(
                  "nvh264dec: legacy CUVID-parser decoder, no stateless one registered"),
              "%s", chosen.reason.c_str());
  assert_equals_text(choose_nvdec_decoder(registry, Codec::H264, 1, k122).factory,
                     "nvh264device1dec");
  /* Without the ancestry, nvcodec 1.22's nvh264dec is the legacy one. */
  const std::vector<RegisteredElement> unknown = {{"nvh264dec", 0, GST_RANK_PRIMARY, {}}};
  assert_contains(choose_nvdec_decoder(unknown, Codec::H264, 0, k122).reason, "legacy");
}
GST_END_TEST;

GST_START_TEST(test_decoder_1_24) {
  const auto registry = registry_1_24();
  for (GstRelease release : {k124, k126}) {
    ElementChoice chosen = choose_nvdec_decoder(registry, Codec::H264, 0, release);
    assert_equals_text(chosen.factory, "nvh264dec");
    fail_unless(
        chosen.reason.starts_with("nvh264dec: the stateless NVDEC decoder (GStreamer >= 1.24"),
        "%s", chosen.reason.c_str());
    chosen = choose_nvdec_decoder(registry, Codec::H264, 1, release);
    assert_equals_text(chosen.factory, "nvh264device1dec");
    assert_contains(chosen.reason, "nvh264device1dec: the stateless NVDEC decoder");
    assert_equals_text(choose_nvdec_decoder(registry, Codec::H265, 1, release).factory,
                       "nvh265device1dec");
  }
  /* Without the ancestry, nvcodec >= 1.24's nvh264dec is stateless. */
  const std::vector<RegisteredElement> unknown = {{"nvh264dec", 0, GST_RANK_PRIMARY, {}}};
  assert_contains(choose_nvdec_decoder(unknown, Codec::H264, 0, k126).reason,
                  "the stateless NVDEC decoder");
  /* The ancestry wins over the version: a 1.23 development build may have
   * either kind. */
  const std::vector<RegisteredElement> dev_stateless = {{"nvh264dec", 0, GST_RANK_PRIMARY, true}};
  assert_contains(choose_nvdec_decoder(dev_stateless, Codec::H264, 0, k123).reason,
                  "the stateless NVDEC decoder");
  const std::vector<RegisteredElement> dev_legacy = {{"nvh264dec", 0, GST_RANK_PRIMARY, false}};
  assert_contains(choose_nvdec_decoder(dev_legacy, Codec::H264, 0, k124).reason, "legacy");
}
GST_END_TEST;

GST_START_TEST(test_decoder_missing) {
  /* No decoder for the GPU (or none at all: nvcodec without CUDA). */
  for (const auto &registry :
       {registry_1_22(), registry_1_24(), std::vector<RegisteredElement>()}) {
    const ElementChoice chosen = choose_nvdec_decoder(registry, Codec::H264, 2, k124);
    assert_equals_text(chosen.factory, "");
    assert_contains(chosen.reason, "no NVDEC H.264 decoder element for GPU 2");
  }
  /* Names that only look alike are not NVDEC decoders. */
  const std::vector<RegisteredElement> others = {
      {"nvh264enc", 0, GST_RANK_PRIMARY, {}},
      {"nvh264devicedec", 0, GST_RANK_PRIMARY, {}},
      {"nvh264sldevice1xdec", 0, GST_RANK_PRIMARY, {}},
      {"nvh265dec", 0, GST_RANK_PRIMARY, true},
  };
  assert_equals_text(choose_nvdec_decoder(others, Codec::H264, 0, k124).factory, "");
}
GST_END_TEST;

/* gpujpegenc (any GPU) and nvjpegenc per GPU, as on 1.24 with two GPUs. */
static std::vector<RegisteredElement> encoders(bool gpujpegenc, bool nvjpegenc) {
  std::vector<RegisteredElement> registry;
  if (gpujpegenc)
    registry.push_back({"gpujpegenc", 0, GST_RANK_NONE, {}});
  if (nvjpegenc) {
    registry.push_back({"nvjpegenc", 0, GST_RANK_NONE, {}});
    registry.push_back({"nvjpegdevice1enc", 1, GST_RANK_NONE, {}});
    registry.push_back({"nvautogpujpegenc", std::nullopt, GST_RANK_NONE, {}});
  }
  return registry;
}

GST_START_TEST(test_jpeg_encoder_auto) {
  /* The preference as shipped: gpujpegenc, then nvjpegenc. */
  fail_unless(kAutoJpegEncoderPreference[0].order[0] == JpegEncoder::Gpujpegenc);
  ElementChoice chosen =
      choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Auto, 1, false, k124);
  assert_equals_text(chosen.factory, "gpujpegenc");
  assert_equals_text(chosen.reason, "gpujpegenc: jpeg_encoder: auto prefers gpujpegenc on "
                                    "GStreamer 1.24");
  /* Without gpujpegenc, the GPU's own nvjpegenc. */
  chosen = choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Auto, 0, false, k124);
  assert_equals_text(chosen.factory, "nvjpegenc");
  assert_contains(chosen.reason, "which is not available");
  chosen = choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Auto, 1, false, k126);
  assert_equals_text(chosen.factory, "nvjpegdevice1enc");
  /* Neither: the caller's failure/fallback path says why. */
  chosen = choose_jpeg_encoder(encoders(false, false), JpegEncoderChoice::Auto, 0, false, k122,
                               nullptr, "built without CUDA");
  assert_equals_text(chosen.factory, "");
  assert_contains(chosen.reason, "no JPEG encoder for GPU 0: element gpujpegenc is not available "
                                 "(built without CUDA), and no nvjpegenc for GPU 0");
  chosen = choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Auto, 2, false, k126);
  assert_equals_text(chosen.factory, "");
  /* width: frames come as RGB, which nvjpegenc does not take. */
  chosen = choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Auto, 0, true, k126);
  assert_equals_text(chosen.factory, "");
  assert_contains(chosen.reason, "which nvjpegenc does not take");
  assert_equals_text(
      choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Auto, 0, true, k126).factory,
      "gpujpegenc");
}
GST_END_TEST;

GST_START_TEST(test_jpeg_encoder_set) {
  bool fallback = true;
  ElementChoice chosen = choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Nvjpegenc, 0,
                                             false, k124, &fallback);
  assert_equals_text(chosen.factory, "nvjpegenc");
  fail_if(fallback);
  /* nvjpegenc's cuda-device-id is read-only: GPU 1 has its own factory. */
  chosen = choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Nvjpegenc, 1, false, k124);
  assert_equals_text(chosen.factory, "nvjpegdevice1enc");
  /* Not there (1.22, or no libnvjpeg): no silent substitute. */
  chosen = choose_jpeg_encoder(encoders(true, false), JpegEncoderChoice::Nvjpegenc, 0, false, k122);
  assert_equals_text(chosen.factory, "");
  assert_contains(chosen.reason, "jpeg_encoder: nvjpegenc, but no nvjpegenc for GPU 0");
  chosen = choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Nvjpegenc, 3, false, k124);
  assert_equals_text(chosen.factory, "");
  /* With width, gpujpegenc instead, and the caller is told to log it. */
  chosen = choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Nvjpegenc, 1, true, k124,
                               &fallback);
  assert_equals_text(chosen.factory, "gpujpegenc");
  fail_unless(fallback);
  assert_equals_text(chosen.reason, "gpujpegenc instead of jpeg_encoder: nvjpegenc: width needs "
                                    "gpunv12torgb's RGB, which nvjpegenc does not take");
  chosen = choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Nvjpegenc, 0, true, k124,
                               &fallback);
  assert_equals_text(chosen.factory, "");
  fail_unless(fallback);
  assert_contains(chosen.reason, "falls back to gpujpegenc");
  /* gpujpegenc set: only gpujpegenc. */
  fallback = true;
  chosen = choose_jpeg_encoder(encoders(true, true), JpegEncoderChoice::Gpujpegenc, 1, true, k124,
                               &fallback);
  assert_equals_text(chosen.factory, "gpujpegenc");
  fail_if(fallback);
  chosen =
      choose_jpeg_encoder(encoders(false, true), JpegEncoderChoice::Gpujpegenc, 0, false, k124);
  assert_equals_text(chosen.factory, "");
  assert_contains(chosen.reason, "jpeg_encoder: gpujpegenc, but element gpujpegenc is not");
  fail_unless(is_nvjpegenc("nvjpegenc") && is_nvjpegenc("nvjpegdevice12enc"));
  fail_if(is_nvjpegenc("gpujpegenc") || is_nvjpegenc("nvautogpujpegenc") ||
          is_nvjpegenc("nvjpegdeviceenc"));
}
GST_END_TEST;

static CameraConfig camera(int gpu, DecodeMode mode) {
  CameraConfig camera;
  camera.id = "lobby";
  camera.url.location = "rtsp://127.0.0.1:8554/cam0";
  camera.settings.gpu = gpu;
  camera.settings.decode = mode;
  camera.settings.jpeg_quality = 70;
  return camera;
}

GST_START_TEST(test_nvjpegenc_pipeline) {
  /* nvjpegenc behind gpunv12torgb, which passes NV12 through or makes I420
   * where nvjpegenc takes no NV12; nvjpegenc has no cuda-device-id to set. */
  const auto elements =
      output_elements(camera(1, DecodeMode::All), Decoder::Nvidia, "nvjpegdevice1enc");
  fail_unless_equals_int(elements.size(), 3);
  assert_equals_text(elements[0].factory, "gpunv12torgb");
  assert_equals_text(elements[0].properties[0].name,
                     catalog::gpunv12torgb::property::kCudaDeviceId);
  assert_equals_text(elements[0].properties[0].value, "1");
  assert_equals_text(elements[1].factory, "nvjpegdevice1enc");
  fail_unless_equals_int(elements[1].properties.size(), 1);
  assert_equals_text(elements[1].properties[0].name, catalog::nvcodec::property::kQuality);
  assert_equals_text(elements[1].properties[0].value, "70");
  assert_equals_text(elements[2].factory, "latestframesink");
  assert_contains(launch_line(camera(1, DecodeMode::All), Codec::H264, Decoder::Nvidia,
                              "nvh264device1dec", "nvjpegdevice1enc"),
                  "h264parse ! nvh264device1dec ! 'video/x-raw(memory:CUDAMemory)' ! videorate "
                  "drop-only=true max-rate=5 ! tee name=split ! gpunv12torgb cuda-device-id=1 ! "
                  "nvjpegdevice1enc "
                  "quality=70 ! latestframesink ");
  /* decode: keyframes: gpukeyframedec's NV12 (CUDA memory) the same way. */
  assert_contains(
      launch_line(camera(0, DecodeMode::Keyframes), Codec::H264, Decoder::Nvidia,
                  catalog::gpukeyframedec::kFactory, "nvjpegenc"),
      "! gpukeyframedec cuda-device-id=0 ! videorate drop-only=true max-rate=5 ! "
      "tee name=split ! gpunv12torgb cuda-device-id=0 ! nvjpegenc quality=70 ! latestframesink ");
  /* gpujpegenc is unchanged, and takes the device id. */
  assert_contains(launch_line(camera(1, DecodeMode::Keyframes), Codec::H264, Decoder::Nvidia,
                              catalog::gpukeyframedec::kFactory, "gpujpegenc"),
                  "! gpujpegenc cuda-device-id=1 quality=70 ! latestframesink ");
  /* Software decoding always ends in jpegenc. */
  assert_equals_text(
      output_elements(camera(0, DecodeMode::All), Decoder::Software, "nvjpegenc")[1].factory,
      "jpegenc");
}
GST_END_TEST;

GST_START_TEST(test_thumbnail_pipelines) {
  /* nvidia: scaled on the GPU and encoded by gpujpegenc (nvjpegenc takes no
   * RGB), whatever encodes the full frame; at most once a second. */
  const std::string nvidia =
      launch_line(camera(1, DecodeMode::Keyframes), Codec::H264, Decoder::Nvidia,
                  catalog::gpukeyframedec::kFactory, "nvjpegdevice1enc", "gpujpegenc");
  assert_contains(nvidia, "! gpukeyframedec cuda-device-id=1 ! videorate drop-only=true "
                          "max-rate=5 ! tee name=split ! gpunv12torgb cuda-device-id=1 ! "
                          "nvjpegdevice1enc quality=70 ! latestframesink buffer-size=1 "
                          "sync=false split. ! videorate drop-only=true max-rate=1 ! "
                          "gpunv12torgb cuda-device-id=1 ! "
                          "'video/x-raw(memory:CUDAMemory),width=320,pixel-aspect-ratio=1/1' ! "
                          "gpujpegenc cuda-device-id=1 quality=70 ! latestframesink name=thumb "
                          "buffer-size=1 sync=false async=false");
  /* Without a thumbnail encoder (no gpujpegenc), no branch. */
  const std::string no_encoder = launch_line(camera(1, DecodeMode::All), Codec::H264,
                                             Decoder::Nvidia, "nvh264dec", "nvjpegdevice1enc", "");
  fail_if(no_encoder.find("tee") != std::string::npos, "%s", no_encoder.c_str());
  /* Software: videoscale before any conversion, then jpegenc. */
  CameraConfig software = camera(0, DecodeMode::All);
  software.settings.thumbnail_width = 160;
  const std::string line = launch_line(software, Codec::H264, Decoder::Software, "avdec_h264");
  assert_contains(line, "! tee name=split ! videoconvert ! jpegenc quality=70 ! latestframesink "
                        "buffer-size=1 sync=false split. ! videorate drop-only=true max-rate=1 ! "
                        "videoscale ! video/x-raw,width=160,pixel-aspect-ratio=1/1 ! videoconvert "
                        "! jpegenc quality=70 ! latestframesink name=thumb");
  const auto branch = thumbnail_elements(software, Decoder::Software);
  fail_unless_equals_int(branch.size(), 5);
  assert_equals_text(branch.back().factory, "latestframesink");
  fail_unless_equals_int(thumbnail_width(software), 160);
  /* None with thumbnail_width: 0, where width makes the frame no wider, or
   * for raw frames (the Python API). */
  software.settings.thumbnail_width = 0;
  fail_unless_equals_int(thumbnail_width(software), 0);
  fail_unless(thumbnail_elements(software, Decoder::Software).empty());
  fail_if(launch_line(software, Codec::H264, Decoder::Software, "avdec_h264").find("tee") !=
          std::string::npos);
  software.settings.thumbnail_width = 320;
  software.settings.width = 320;
  fail_unless_equals_int(thumbnail_width(software), 0);
  software.settings.width = 640;
  fail_unless_equals_int(thumbnail_width(software), 320);
  software.settings.format = OutputFormat::Rgb;
  fail_unless_equals_int(thumbnail_width(software), 0);
  fail_unless(thumbnail_elements(software, Decoder::Nvidia).empty());
}
GST_END_TEST;

GST_START_TEST(test_raw_output_pipelines) {
  /* The Python API's raw formats: gpunv12torgb into the format (scaled in the
   * same pass), or videoconvert for software decoding; no JPEG encoder. */
  CameraConfig rgbp = camera(1, DecodeMode::All);
  rgbp.settings.format = OutputFormat::Rgbp;
  rgbp.settings.width = 640;
  rgbp.settings.buffer_size = 30; /* the Python API's default, passed through */
  assert_contains(launch_line(rgbp, Codec::H264, Decoder::Nvidia, "nvh264dec", "gpujpegenc"),
                  "max-rate=5 ! gpunv12torgb cuda-device-id=1 ! "
                  "'video/x-raw(memory:CUDAMemory),format=RGBP,width=640,pixel-aspect-ratio=1/1' "
                  "! latestframesink buffer-size=30 sync=false");
  CameraConfig nv12 = camera(0, DecodeMode::Keyframes);
  nv12.settings.format = OutputFormat::Nv12;
  assert_contains(launch_line(nv12, Codec::H264, Decoder::Nvidia, catalog::gpukeyframedec::kFactory,
                              "nvjpegenc"),
                  "! gpunv12torgb cuda-device-id=0 ! 'video/x-raw(memory:CUDAMemory),format=NV12' "
                  "! latestframesink ");
  CameraConfig bgr = camera(0, DecodeMode::All);
  bgr.settings.format = OutputFormat::Bgr;
  const std::string software = launch_line(bgr, Codec::H265, Decoder::Software, "avdec_h265");
  assert_contains(software, "! videoconvert ! video/x-raw,format=BGR ! latestframesink ");
  fail_if(software.find("jpegenc") != std::string::npos, "%s", software.c_str());
  bgr.settings.width = 320;
  assert_contains(launch_line(bgr, Codec::H265, Decoder::Software, "avdec_h265"),
                  "! videoconvert ! videoscale ! "
                  "video/x-raw,format=BGR,width=320,pixel-aspect-ratio=1/1 ! latestframesink ");
}
GST_END_TEST;

GST_START_TEST(test_nvdec_budget_matches_gpukeyframedec) {
  /* The per-GPU decoder budget counts gpukeyframedec's default sessions;
   * where the element is registered (a GPU host), its default must agree. */
  GstElement *element = gst_element_factory_make(catalog::gpukeyframedec::kFactory, nullptr);
  if (!element) {
    g_print("gpukeyframedec not registered: its max-sessions default not checked\n");
    return;
  }
  gst_object_ref_sink(element);
  GParamSpec *pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(element),
                                                   catalog::gpukeyframedec::property::kMaxSessions);
  fail_unless(pspec && G_IS_PARAM_SPEC_UINT(pspec));
  fail_unless_equals_int(G_PARAM_SPEC_UINT(pspec)->default_value,
                         GpuResources::kKeyframeDecoderSessions);
  gst_object_unref(element);
}
GST_END_TEST;

static Suite *launch_choice_suite() {
  Suite *s = suite_create("launch-choice");
  TCase *tc = tcase_create("choice");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_release);
  tcase_add_test(tc, test_decoder_1_22_stateless_first);
  tcase_add_test(tc, test_decoder_1_22_legacy_only);
  tcase_add_test(tc, test_decoder_1_24);
  tcase_add_test(tc, test_decoder_missing);
  tcase_add_test(tc, test_jpeg_encoder_auto);
  tcase_add_test(tc, test_jpeg_encoder_set);
  tcase_add_test(tc, test_nvjpegenc_pipeline);
  tcase_add_test(tc, test_thumbnail_pipelines);
  tcase_add_test(tc, test_raw_output_pipelines);
  tcase_add_test(tc, test_nvdec_budget_matches_gpukeyframedec);
  return s;
}

GST_CHECK_MAIN(launch_choice);
