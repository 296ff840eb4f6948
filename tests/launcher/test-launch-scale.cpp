// SPDX-License-Identifier: MIT
/* gpurtsp-launch's parts for 1,000 cameras (docs/scale.md): the keyframe
 * decoder choice, the start window, the --stats-interval line and the NVDEC
 * decoder slots per GPU (--max-decoders-per-gpu). */
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/gpukeyframedec.hpp>

#include "camera-manager.h"
#include "camera-pipeline.h"
#include "camera.h"
#include "element-catalog.h"
#include "gpu-resources.h"
#include "pipeline-description.h"
#include "pipeline-worker.h"
#include "stats-line.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using namespace gpurtsp::launch;

static CameraConfig keyframe_camera(int gpu) {
  CameraConfig camera;
  camera.id = "lobby";
  camera.url.location = "rtsp://127.0.0.1:8554/cam0";
  camera.settings.decode = DecodeMode::Keyframes;
  camera.settings.gpu = gpu;
  return camera;
}

static CameraStatus camera_status(CameraState state, int64_t age_ms) {
  CameraStatus status;
  status.state = state;
  status.last_frame_age_ms = age_ms;
  status.frames = 2;
  status.decoded_frames = 3;
  status.reconnects = 1;
  status.fps = 0.5;
  return status;
}

GST_START_TEST(test_keyframe_decoder_elements) {
  const CameraConfig camera = keyframe_camera(1);
  auto elements = decode_elements(camera, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  fail_unless_equals_int(elements.size(), 2);
  /* The cheap filter stays in front of the pooled decoder. */
  fail_unless_equals_string(elements[0].factory.c_str(), "identity");
  fail_unless_equals_string(elements[0].properties[0].value.c_str(), "delta-unit");
  fail_unless_equals_string(elements[1].factory.c_str(), "gpukeyframedec");
  fail_unless_equals_string(elements[1].properties[0].name.c_str(),
                            catalog::gpukeyframedec::property::kCudaDeviceId);
  fail_unless_equals_string(elements[1].properties[0].value.c_str(), "1");

  const std::string line =
      launch_line(camera, Codec::H264, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  /* No parser in front of gpukeyframedec: the depayloader's access units. */
  fail_unless(line.find("rtph264depay ! video/x-h264,stream-format=byte-stream,alignment=au ! "
                        "identity drop-buffer-flags=delta-unit ! gpukeyframedec "
                        "cuda-device-id=1 ! ") != std::string::npos,
              "%s", line.c_str());
  fail_unless(line.find("h264parse") == std::string::npos, "%s", line.c_str());
  const std::string h265 =
      launch_line(camera, Codec::H265, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  fail_unless(h265.find("rtph265depay ! video/x-h265,stream-format=byte-stream,alignment=au ! "
                        "identity") != std::string::npos,
              "%s", h265.c_str());
  /* The parser back for the before/after. */
  g_setenv("GPURTSP_KEYFRAME_PARSE", "1", TRUE);
  const std::string parsed =
      launch_line(camera, Codec::H264, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  g_unsetenv("GPURTSP_KEYFRAME_PARSE");
  fail_unless(parsed.find("rtph264depay ! h264parse ! identity") != std::string::npos, "%s",
              parsed.c_str());
  /* Pooled parsers (the element's default) unless turned off. */
  g_setenv("GPURTSP_KEYFRAME_SHARE_PARSERS", "0", TRUE);
  const std::string own =
      launch_line(camera, Codec::H264, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  g_unsetenv("GPURTSP_KEYFRAME_SHARE_PARSERS");
  fail_unless(own.find("gpukeyframedec cuda-device-id=1 share-parsers=false ! ") !=
                  std::string::npos,
              "%s", own.c_str());

  /* Full decoding keeps the per-camera decoder and no filter; its output is
   * pinned to CUDA memory (never GL). */
  CameraConfig full = camera;
  full.settings.decode = DecodeMode::All;
  elements = decode_elements(full, Decoder::Nvidia, "nvh264dec");
  fail_unless_equals_int(elements.size(), 2);
  fail_unless_equals_string(elements[0].factory.c_str(), "nvh264dec");
  fail_unless_equals_string(elements[1].factory.c_str(), "capsfilter");
  fail_unless_equals_string(elements[1].properties[0].value.c_str(),
                            "video/x-raw(memory:CUDAMemory)");
  /* Every other decoder keeps its parser. */
  const std::string full_line = launch_line(full, Codec::H264, Decoder::Nvidia, "nvh264dec");
  fail_unless(full_line.find("rtph264depay ! h264parse ! nvh264dec") != std::string::npos, "%s",
              full_line.c_str());
}
GST_END_TEST;

/* GPURTSP_JPEG_MAX_ENCODERS raises gpujpegenc's pool cap for the frames and
 * the thumbnails alike; a bad value is refused with the reason. */
GST_START_TEST(test_jpeg_max_encoders) {
  const CameraConfig camera = keyframe_camera(0);
  const auto line = [&] {
    return launch_line(camera, Codec::H264, Decoder::Nvidia, catalog::gpukeyframedec::kFactory);
  };
  fail_unless(line().find("max-encoders") == std::string::npos, "%s", line().c_str());
  g_setenv("GPURTSP_JPEG_MAX_ENCODERS", "8", TRUE);
  const std::string eight = line();
  std::string ignored;
  fail_unless_equals_int(jpeg_max_encoders(&ignored).value_or(0), 8);
  fail_unless(ignored.empty());
  size_t encoders = 0;
  for (size_t at = 0; (at = eight.find("gpujpegenc cuda-device-id=0 quality=85 max-encoders=8",
                                       at)) != std::string::npos;
       at++)
    encoders++;
  fail_unless_equals_int(encoders, 2); /* frames and thumbnails */
  for (const char *bad : {"0", "65", "eight", "-1"}) {
    g_setenv("GPURTSP_JPEG_MAX_ENCODERS", bad, TRUE);
    ignored.clear();
    fail_if(jpeg_max_encoders(&ignored).has_value(), "%s taken", bad);
    fail_unless(ignored ==
                    std::string("GPURTSP_JPEG_MAX_ENCODERS=") + bad + " ignored: not 1 to 64",
                "%s", ignored.c_str());
    fail_unless(line().find("max-encoders") == std::string::npos, "%s", line().c_str());
  }
  g_unsetenv("GPURTSP_JPEG_MAX_ENCODERS");
}
GST_END_TEST;

GST_START_TEST(test_keyframe_decoder_choice) {
  ElementCatalog elements;
  const std::string all =
      elements.decoder_factory(Decoder::Nvidia, Codec::H264, 0, DecodeMode::All);
  const std::string keyframes =
      elements.decoder_factory(Decoder::Nvidia, Codec::H264, 0, DecodeMode::Keyframes);
  g_autoptr(GstElementFactory) pooled = gst_element_factory_find(catalog::gpukeyframedec::kFactory);
  /* gpukeyframedec where the plugin registered it, else the fallback. */
  const std::string expected = pooled ? std::string(catalog::gpukeyframedec::kFactory) : all;
  fail_unless_equals_string(keyframes.c_str(), expected.c_str());
  fail_if(all == catalog::gpukeyframedec::kFactory);
  /* Software decoding is unaffected by the mode. */
  const std::string software =
      elements.decoder_factory(Decoder::Software, Codec::H264, 0, DecodeMode::Keyframes);
  fail_unless_equals_string(software.c_str(), "avdec_h264");
}
GST_END_TEST;

GST_START_TEST(test_start_window) {
  fail_unless_equals_int(CameraManager::default_start_window_ms(0), 0);
  fail_unless_equals_int(CameraManager::default_start_window_ms(1), 10);
  fail_unless_equals_int(CameraManager::default_start_window_ms(16), 160);
  fail_unless_equals_int(CameraManager::default_start_window_ms(1000), 10000);
  fail_unless_equals_int(CameraManager::default_start_window_ms(5000), 10000);
}
GST_END_TEST;

/* A start-up storm queues NVDEC session creations: an attempt's first frame
 * may take 30 s, later frames only stall_timeout_s. */
GST_START_TEST(test_stall_limit) {
  fail_unless_equals_int(Camera::stall_limit_s(10, true), 10);
  fail_unless_equals_int(Camera::stall_limit_s(2, true), 2);
  fail_unless_equals_int(Camera::stall_limit_s(10, false), 30);
  fail_unless_equals_int(Camera::stall_limit_s(2, false), 30);
  fail_unless_equals_int(Camera::stall_limit_s(60, false), 60);
}
GST_END_TEST;

GST_START_TEST(test_stats_line) {
  std::vector<CameraStatus> cameras;
  for (int age = 1; age <= 100; age++)
    cameras.push_back(camera_status(CameraState::Streaming, age));
  /* Not streaming: counted in its state, its stale age left out. */
  cameras.push_back(camera_status(CameraState::Reconnecting, 60000));
  cameras.push_back(camera_status(CameraState::Failed, -1));
  const std::string line = stats_line(cameras, 12.5);
  fail_unless_equals_string(
      line.c_str(),
      "{\"t\":12.500,\"cameras\":102,\"connecting\":0,\"streaming\":100,"
      "\"reconnecting\":1,\"unauthorized\":0,\"untrusted\":0,\"failed\":1,\"reconnects\":102,"
      "\"frames\":204,\"decoded_frames\":306,\"fps\":51.00,"
      "\"age_ms\":{\"p50\":50,\"p99\":99,\"max\":100}}");
}
GST_END_TEST;

GST_START_TEST(test_stats_line_without_frames) {
  const std::string line = stats_line({camera_status(CameraState::Connecting, -1)}, 0.0);
  fail_unless(line.ends_with(",\"age_ms\":null}"), "%s", line.c_str());
  const std::string empty = stats_line({}, 1.0);
  fail_unless_equals_string(
      empty.c_str(),
      "{\"t\":1.000,\"cameras\":0,\"connecting\":0,\"streaming\":0,"
      "\"reconnecting\":0,\"unauthorized\":0,\"untrusted\":0,\"failed\":0,\"reconnects\":0,"
      "\"frames\":0,\"decoded_frames\":0,\"fps\":0.00,\"age_ms\":null}");
}
GST_END_TEST;

GST_START_TEST(test_stats_line_keyframe_decoders) {
  KeyframeDecoderTotals totals;
  for (guint users : {2u, 1u}) {
    /* As gpukeyframedec reports it; the second instance started later. */
    namespace f = gpurtsp::gpukeyframedec::stats_field;
    namespace p = gpurtsp::pool_field;
    GstStructure *stats = gst_structure_new(
        f::kName, f::kDecoded, G_TYPE_UINT64, guint64(10), f::kDroppedDelta, G_TYPE_UINT64,
        guint64(290), f::kDroppedNonIntra, G_TYPE_UINT64, guint64(1), f::kDroppedBusy,
        G_TYPE_UINT64, guint64(users), p::kSize, G_TYPE_UINT, users, p::kInUse, G_TYPE_UINT, 0u,
        p::kMax, G_TYPE_UINT, 8u, p::kCreated, G_TYPE_UINT64, guint64(users), p::kDestroyed,
        G_TYPE_UINT64, guint64(0), p::kCreationFailures, G_TYPE_UINT64, guint64(0), p::kWaiting,
        G_TYPE_UINT, 0u, p::kUsers, G_TYPE_UINT, users, p::kWaits, G_TYPE_UINT64,
        guint64(5 * users), p::kTimeouts, G_TYPE_UINT64, guint64(users - 1), f::kPoolOutputFrames,
        G_TYPE_UINT64, guint64(3 * users), nullptr);
    totals.add(*gpurtsp::gpukeyframedec::Stats::from_structure(stats));
    gst_structure_free(stats);
  }
  const std::string line = stats_line({camera_status(CameraState::Streaming, 10)}, 1.0,
                                      Totals{.keyframe_decoders = totals});
  fail_unless(line.ends_with("\"age_ms\":{\"p50\":10,\"p99\":10,\"max\":10},"
                             "\"keyframe_decoder\":{\"instances\":2,\"decoded\":20,"
                             "\"dropped_busy\":3,\"dropped_non_intra\":2,\"pool_users\":2,"
                             "\"pool_sessions\":2,\"pool_max_sessions\":8,"
                             "\"pool_creation_failures\":0,\"pool_waits\":10,"
                             "\"pool_timeouts\":1,\"pool_output_frames\":6}}"),
              "%s", line.c_str());
}
GST_END_TEST;

/* gpujpegenc's stats structure as the element reports it while started. */
static gpurtsp::gpujpegenc::Stats jpeg_stats(guint64 encodes, guint64 dropped_busy, guint users,
                                             guint slots, guint max, guint64 failures) {
  namespace f = gpurtsp::gpujpegenc::stats_field;
  namespace p = gpurtsp::pool_field;
  GstStructure *stats = gst_structure_new(
      f::kName, f::kEncodes, G_TYPE_UINT64, encodes, f::kDroppedBusy, G_TYPE_UINT64, dropped_busy,
      p::kSize, G_TYPE_UINT, slots, p::kInUse, G_TYPE_UINT, 0u, p::kMax, G_TYPE_UINT, max,
      p::kWaiting, G_TYPE_UINT, 0u, p::kUsers, G_TYPE_UINT, users, p::kCreated, G_TYPE_UINT64,
      guint64(slots), p::kDestroyed, G_TYPE_UINT64, guint64(0), p::kCreationFailures, G_TYPE_UINT64,
      failures, p::kWaits, G_TYPE_UINT64, guint64(10 * slots), p::kTimeouts, G_TYPE_UINT64,
      guint64(failures), nullptr);
  auto parsed = gpurtsp::gpujpegenc::Stats::from_structure(stats);
  gst_structure_free(stats);
  fail_unless(parsed.has_value());
  return *parsed;
}

/* The JPEG encoder pool is one per GPU: within a GPU each camera reports
 * the same pool (the largest figure is the pool's, read a moment apart),
 * its encoders' counts add up; across GPUs everything adds up. */
GST_START_TEST(test_jpeg_encoder_totals) {
  JpegEncoderTotals gpu0;
  gpu0.add(jpeg_stats(100, 1, 3, 2, 4, 0));
  gpu0.add(jpeg_stats(50, 2, 4, 1, 4, 1));
  /* A stopped encoder has no pool fields: counted, pool untouched. */
  gpurtsp::gpujpegenc::Stats stopped;
  stopped.encodes = 7;
  gpu0.add(stopped);
  fail_unless_equals_int(gpu0.instances, 3);
  fail_unless_equals_uint64(gpu0.encodes, 157);
  fail_unless_equals_uint64(gpu0.dropped_busy, 3);
  fail_unless_equals_int(gpu0.pool.users, 4);
  fail_unless_equals_int(gpu0.pool.sessions, 2);
  fail_unless_equals_int(gpu0.pool.max_sessions, 4);
  fail_unless_equals_uint64(gpu0.pool.creation_failures, 1);
  fail_unless_equals_uint64(gpu0.pool.waits, 20);
  fail_unless_equals_uint64(gpu0.pool.timeouts, 1);

  JpegEncoderTotals gpu1;
  gpu1.add(jpeg_stats(10, 0, 1, 1, 8, 2));
  JpegEncoderTotals all;
  all.merge(gpu0);
  all.merge(gpu1);
  fail_unless_equals_int(all.instances, 4);
  fail_unless_equals_uint64(all.encodes, 167);
  fail_unless_equals_uint64(all.dropped_busy, 3);
  fail_unless_equals_int(all.pool.users, 5);
  fail_unless_equals_int(all.pool.sessions, 3);
  fail_unless_equals_int(all.pool.max_sessions, 12);
  fail_unless_equals_uint64(all.pool.creation_failures, 3);
  fail_unless_equals_uint64(all.pool.waits, 30);
  fail_unless_equals_uint64(all.pool.timeouts, 3);

  /* Both in the stats line, next to the keyframe pool. */
  Totals totals{.jpeg_encoders = all};
  totals.gpus = {{.gpu = 0, .cameras = 3, .jpeg_encoders = gpu0},
                 {.gpu = 1, .cameras = 1, .jpeg_encoders = gpu1},
                 {.gpu = 2, .cameras = 1}};
  const std::string line = stats_line({camera_status(CameraState::Streaming, 10)}, 1.0, totals);
  fail_unless(line.find("\"max\":10},\"jpeg_encoder\":{\"instances\":4,\"encodes\":167,"
                        "\"dropped_busy\":3,\"pool_users\":5,\"pool_sessions\":3,"
                        "\"pool_max_sessions\":12,\"pool_creation_failures\":3,\"pool_waits\":30,"
                        "\"pool_timeouts\":3},\"gpus\":[") != std::string::npos,
              "%s", line.c_str());
  fail_unless(
      line.ends_with("\"decoders_in_use\":0,\"jpeg_encoder\":{\"instances\":1,\"encodes\":10,"
                     "\"dropped_busy\":0,\"pool_users\":1,\"pool_sessions\":1,"
                     "\"pool_max_sessions\":8,\"pool_creation_failures\":2,\"pool_waits\":10,"
                     "\"pool_timeouts\":2}},"
                     "{\"gpu\":2,\"cameras\":1,\"keyframe_cameras\":0,\"decoders_in_use\":0}]}"),
      "%s", line.c_str());
  /* No gpujpegenc running: no field. */
  fail_if(stats_line({}, 1.0).find("jpeg_encoder") != std::string::npos);
}
GST_END_TEST;

/* A pipeline reports gpujpegenc's stats only where it has one: never for
 * software decoding; for nvidia JPEG output its frames' and thumbnails'
 * encoders together (where the plugin registered gpujpegenc: GPU hosts). */
GST_START_TEST(test_pipeline_jpeg_encoder_stats) {
  ElementCatalog elements;
  GpuResources gpus;
  std::string error;
  std::vector<std::shared_ptr<CameraPipeline>> pipelines;
  auto software = CameraPipeline::create(keyframe_camera(0), Decoder::Software, nullptr, elements,
                                         gpus, {}, error);
  fail_unless(software != nullptr, "%s", error.c_str());
  fail_if(software->jpeg_encoder_stats().has_value());
  pipelines.push_back(std::move(software));

  g_autoptr(GstElementFactory) factory = gst_element_factory_find(catalog::gpujpegenc::kFactory);
  if (factory) {
    CameraConfig camera = keyframe_camera(0);
    camera.settings.jpeg_encoder = JpegEncoderChoice::Gpujpegenc;
    auto nvidia =
        CameraPipeline::create(camera, Decoder::Nvidia, nullptr, elements, gpus, {}, error);
    fail_unless(nvidia != nullptr, "%s", error.c_str());
    const auto stats = nvidia->jpeg_encoder_stats();
    fail_unless(stats.has_value());
    fail_unless_equals_uint64(stats->encodes, 0);
    fail_if(stats->pool.has_value()); /* not started */
    pipelines.push_back(std::move(nvidia));
  }
  PipelineWorker worker;
  worker.run([pipelines = std::move(pipelines)]() mutable {
    for (auto &pipeline : pipelines)
      pipeline->shutdown();
    pipelines.clear();
  });
}
GST_END_TEST;

/* Per GPU: placed cameras, decoder slots and that GPU's keyframe pool. */
GST_START_TEST(test_stats_line_gpus) {
  Totals totals;
  totals.gpus = {{.gpu = 0,
                  .cameras = 3,
                  .keyframe_cameras = 2,
                  .decoders_in_use = 1,
                  .keyframe_decoders = {.instances = 2, .pool = {.users = 2, .sessions = 1}}},
                 {.gpu = 1, .cameras = 1, .keyframe_cameras = 0, .decoders_in_use = 1}};
  const std::string line = stats_line({}, 1.0, totals);
  fail_unless(line.ends_with(
                  ",\"gpus\":[{\"gpu\":0,\"cameras\":3,\"keyframe_cameras\":2,"
                  "\"decoders_in_use\":1,\"keyframe_decoder\":{\"instances\":2,\"decoded\":0,"
                  "\"dropped_busy\":0,\"dropped_non_intra\":0,\"pool_users\":2,\"pool_sessions\":1,"
                  "\"pool_max_sessions\":0,\"pool_creation_failures\":0,\"pool_waits\":0,"
                  "\"pool_timeouts\":0,\"pool_output_frames\":0}},"
                  "{\"gpu\":1,\"cameras\":1,\"keyframe_cameras\":0,\"decoders_in_use\":1}]}"),
              "%s", line.c_str());
  fail_if(stats_line({}, 1.0).find("gpus") != std::string::npos);
}
GST_END_TEST;

GST_START_TEST(test_stats_line_rtp_filters) {
  RtpFilterTotals filters{.instances = 2,
                          .packets_passed = 30,
                          .packets_dropped = 430,
                          .keyframes_cut = 4,
                          .socket_filters = 1,
                          .socket_filters_removed = 5};
  const std::string line =
      stats_line({camera_status(CameraState::Streaming, 10)}, 1.0, Totals{.rtp_filters = filters});
  fail_unless(line.ends_with("\"rtp_filter\":{\"instances\":2,\"packets_passed\":30,"
                             "\"packets_dropped\":430,\"keyframes_cut\":4,\"socket_filters\":1,"
                             "\"socket_filters_removed\":5}}"),
              "%s", line.c_str());
  /* No filter running: no field. */
  fail_if(stats_line({}, 1.0).find("rtp_filter") != std::string::npos);
}
GST_END_TEST;

/* NVDEC decoder slots: a limit per GPU, counted per GPU, tokens that move
 * and are given back from any thread. */
GST_START_TEST(test_decoder_slots) {
  GpuResources gpus;
  fail_unless_equals_int(gpus.max_decoders_per_gpu(), 256);
  gpus.set_max_decoders_per_gpu(2);
  std::string why;
  auto slot0 = gpus.take_decoder_slot(0, why);
  auto slot1 = gpus.take_decoder_slot(0, why);
  fail_unless(slot0 && slot1);
  fail_unless(why.empty(), "%s", why.c_str());
  fail_unless_equals_int(slot0.gpu(), 0);
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 2);
  fail_if(gpus.take_decoder_slot(0, why));
  fail_unless_equals_string(why.c_str(),
                            "no NVDEC decoder left on GPU 0 (2 in use, --max-decoders-per-gpu 2)");
  /* A refusal holds nothing. */
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 2);

  /* Another GPU counts on its own: GPU 0 full does not stop it, its own
   * limit does, and its message names it. */
  auto other0 = gpus.take_decoder_slot(1, why);
  auto other1 = gpus.take_decoder_slot(1, why);
  fail_unless(other0 && other1);
  fail_unless_equals_int(gpus.decoder_slots_in_use(1), 2);
  fail_if(gpus.take_decoder_slot(1, why));
  fail_unless(why.find("GPU 1 (2 in use") != std::string::npos, "%s", why.c_str());
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 2);

  /* Given back on another thread, as a pipeline worker destroying a
   * pipeline does: the next camera gets it. */
  std::thread([slot = std::move(slot0)]() mutable { slot = {}; }).join();
  fail_if(slot0); /* moved from: empty, gives nothing back */
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 1);
  auto again = gpus.take_decoder_slot(0, why);
  fail_unless(static_cast<bool>(again));
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 2);

  /* Moving keeps one slot; assigning over a held slot gives that one back;
   * release() is idempotent. */
  GpuResources::DecoderSlot moved(std::move(again));
  fail_if(again);
  fail_unless(static_cast<bool>(moved));
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 2);
  moved = std::move(other0);
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 1);
  fail_unless_equals_int(gpus.decoder_slots_in_use(1), 2);
  fail_unless_equals_int(moved.gpu(), 1);
  moved.release();
  moved.release();
  fail_unless_equals_int(gpus.decoder_slots_in_use(1), 1);

  /* 0: no limit. */
  gpus.set_max_decoders_per_gpu(0);
  std::vector<GpuResources::DecoderSlot> many;
  for (int i = 0; i < 1000; i++)
    many.push_back(gpus.take_decoder_slot(2, why));
  fail_unless(many.back());
  fail_unless_equals_int(gpus.decoder_slots_in_use(2), 1000);
  many.clear();
  fail_unless_equals_int(gpus.decoder_slots_in_use(2), 0);
  /* A GPU never asked for has none in use. */
  fail_unless_equals_int(gpus.decoder_slots_in_use(7), 0);
}
GST_END_TEST;

/* Many threads taking and giving back slots never hold more than the limit
 * and leave none counted. */
GST_START_TEST(test_decoder_slots_threads) {
  constexpr unsigned kLimit = 4;
  GpuResources gpus;
  gpus.set_max_decoders_per_gpu(kLimit);
  std::atomic<unsigned> held{0}, most{0}, taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&] {
      std::string why;
      for (int i = 0; i < 2000; i++) {
        auto slot = gpus.take_decoder_slot(0, why);
        if (!slot)
          continue;
        const unsigned now = held.fetch_add(1) + 1;
        for (unsigned seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);)
          ;
        taken.fetch_add(1);
        held.fetch_sub(1);
      }
    });
  for (auto &thread : threads)
    thread.join();
  fail_unless(most.load() <= kLimit, "%u held at once", most.load());
  fail_unless(taken.load() > 0);
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 0);
}
GST_END_TEST;

/* Which cameras need a slot: those owning an NVDEC decoder. */
GST_START_TEST(test_decoder_slot_owners) {
  ElementCatalog elements;
  CameraSettings settings;
  settings.decode = DecodeMode::All;
  fail_unless(elements.owns_decoder(Decoder::Nvidia, settings));
  fail_if(elements.owns_decoder(Decoder::Software, settings));
  settings.decode = DecodeMode::Keyframes;
  fail_if(elements.owns_decoder(Decoder::Software, settings));
  /* Keyframes share gpukeyframedec's sessions where it is registered. */
  g_autoptr(GstElementFactory) factory =
      gst_element_factory_find(catalog::gpukeyframedec::kFactory);
  fail_unless_equals_int(elements.owns_decoder(Decoder::Nvidia, settings), factory == nullptr);
}
GST_END_TEST;

/* A pipeline holds its slot until it is destroyed on a worker thread, not
 * when it is shut down or handed over. */
GST_START_TEST(test_pipeline_holds_decoder_slot) {
  ElementCatalog elements;
  GpuResources gpus;
  gpus.set_max_decoders_per_gpu(1);
  std::string why, error;
  std::atomic<int> in_use_after_shutdown{-1};
  {
    PipelineWorker worker;
    auto pipeline = CameraPipeline::create(keyframe_camera(0), Decoder::Software, nullptr, elements,
                                           gpus, gpus.take_decoder_slot(0, why), error);
    fail_unless(pipeline != nullptr, "%s", error.c_str());
    fail_unless_equals_int(gpus.decoder_slots_in_use(0), 1);
    fail_if(gpus.take_decoder_slot(0, why));
    worker.run([&gpus, &in_use_after_shutdown, pipeline = std::move(pipeline)]() mutable {
      pipeline->shutdown();
      in_use_after_shutdown = int(gpus.decoder_slots_in_use(0));
      pipeline.reset();
    });
    /* ~PipelineWorker waits for the job. */
  }
  fail_unless_equals_int(in_use_after_shutdown.load(), 1);
  fail_unless_equals_int(gpus.decoder_slots_in_use(0), 0);
  fail_unless(static_cast<bool>(gpus.take_decoder_slot(0, why)), "%s", why.c_str());
}
GST_END_TEST;

/* Only what Camera::on_bus_message reads reaches the bus: every message the
 * main thread dispatches costs it O(cameras) in GLib, so a camera start's
 * state changes must not wake it. */
GST_START_TEST(test_pipeline_bus_passes_only_errors_warnings_eos) {
  ElementCatalog elements;
  GpuResources gpus;
  std::string error;
  auto pipeline = CameraPipeline::create(keyframe_camera(0), Decoder::Software, nullptr, elements,
                                         gpus, {}, error);
  fail_unless(pipeline != nullptr, "%s", error.c_str());
  GstElement *bin = pipeline->pipeline();
  g_autoptr(GstBus) bus = gst_element_get_bus(bin);
  /* Posts state changes of the pipeline and of every element in it. */
  fail_unless_equals_int(gst_element_set_state(bin, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  gst_element_post_message(bin, gst_message_new_latency(GST_OBJECT(bin)));
  fail_if(gst_bus_have_pending(bus), "a message the main thread ignores reached the bus");

  g_autoptr(GError) failure = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, "x");
  gst_element_post_message(bin, gst_message_new_warning(GST_OBJECT(bin), failure, nullptr));
  gst_element_post_message(bin, gst_message_new_error(GST_OBJECT(bin), failure, nullptr));
  gst_element_post_message(bin, gst_message_new_eos(GST_OBJECT(bin)));
  for (GstMessageType expected : {GST_MESSAGE_WARNING, GST_MESSAGE_ERROR, GST_MESSAGE_EOS}) {
    g_autoptr(GstMessage) message = gst_bus_pop(bus);
    fail_unless(message != nullptr, "%s did not reach the bus",
                gst_message_type_get_name(expected));
    fail_unless_equals_string(GST_MESSAGE_TYPE_NAME(message), gst_message_type_get_name(expected));
  }
  /* Dropped messages are freed: each holds a reference to its source, and
   * one kept would keep the pipeline, its sockets and its memory. */
  gpointer alive = bin;
  g_object_add_weak_pointer(G_OBJECT(bin), &alive);
  {
    PipelineWorker worker;
    worker.run([pipeline = std::move(pipeline)]() mutable {
      pipeline->shutdown();
      pipeline.reset();
    });
  }
  fail_unless(alive == nullptr, "the pipeline outlived its CameraPipeline (ref count %u)",
              alive ? GST_OBJECT_REFCOUNT_VALUE(alive) : 0);
}
GST_END_TEST;

/* Teardowns trim the heap once a burst is over, at most once per
 * kMinTrimIntervalUs: a thousand cameras reconnecting at once give back
 * what their pipelines freed without a trim per pipeline. */
GST_START_TEST(test_worker_trims_after_teardown_bursts) {
  PipelineWorker worker;
  std::atomic<int> done{0};
  /* A plain job never trims. */
  worker.run([&] { done++; });
  while (done < 1)
    g_usleep(1000);
  g_usleep(20000);
  fail_unless_equals_int(worker.trims(), 0);

  /* A burst of 64 teardowns, each freeing what a pipeline's thread might. */
  for (int i = 0; i < 64; i++)
    worker.run_teardown([&] {
      std::vector<std::unique_ptr<char[]>> blocks;
      for (int j = 0; j < 16; j++)
        blocks.emplace_back(new char[64 * 1024]());
      g_usleep(2000);
      done++;
    });
  const gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (worker.trims() < 1 && g_get_monotonic_time() < deadline)
    g_usleep(1000);
  fail_unless_equals_int(done.load(), 65);
  fail_unless(worker.trims() >= 1, "no trim after the burst");
  /* Not one per teardown: the interval holds them back. */
  g_usleep(100000);
  fail_unless(worker.trims() < 8, "%" G_GUINT64_FORMAT " trims for one burst", worker.trims());

  /* A teardown within the interval of the last trim still gets its trim,
   * once the interval is over. */
  const uint64_t before = worker.trims();
  worker.run_teardown([] {});
  const gint64 second = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (worker.trims() == before && g_get_monotonic_time() < second)
    g_usleep(1000);
  fail_unless_equals_int(worker.trims(), before + 1);
}
GST_END_TEST;

static Suite *launch_scale_suite() {
  Suite *s = suite_create("launch-scale");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_keyframe_decoder_elements);
  tcase_add_test(tc, test_stats_line_rtp_filters);
  tcase_add_test(tc, test_stats_line_gpus);
  tcase_add_test(tc, test_jpeg_encoder_totals);
  tcase_add_test(tc, test_pipeline_jpeg_encoder_stats);
  tcase_add_test(tc, test_decoder_slots);
  tcase_add_test(tc, test_decoder_slots_threads);
  tcase_add_test(tc, test_decoder_slot_owners);
  tcase_add_test(tc, test_pipeline_holds_decoder_slot);
  tcase_add_test(tc, test_pipeline_bus_passes_only_errors_warnings_eos);
  tcase_add_test(tc, test_keyframe_decoder_choice);
  tcase_add_test(tc, test_jpeg_max_encoders);
  tcase_add_test(tc, test_start_window);
  tcase_add_test(tc, test_stall_limit);
  tcase_add_test(tc, test_stats_line);
  tcase_add_test(tc, test_stats_line_without_frames);
  tcase_add_test(tc, test_stats_line_keyframe_decoders);
  tcase_add_test(tc, test_worker_trims_after_teardown_bursts);
  return s;
}

GST_CHECK_MAIN(launch_scale);
