// SPDX-License-Identifier: MIT
/* gpujpegenc's shared encoder pool on a GPU. 64 cameras' pipelines
 * `appsrc ! cudaupload ! gpujpegenc ! appsink` in one CUDA context encode at
 * once, at two sizes and two qualities, through a pool of 4 encoders: every
 * output must be a JPEG that jpegdec decodes to its camera's size, each
 * camera's quality must hold although slots pass from camera to camera, and
 * the pool must never hold more than max-encoders slots. A small site (4
 * cameras at 10 fps) stays on one slot: the pool grows on contention, not
 * on concurrency. A context gpujpegenc makes for itself gets a low stack
 * limit; a shared one keeps its own. Exits 77 where
 * gpujpegenc is not registered for want of CUDA or nvJPEG, or an element the
 * test needs is missing.
 *
 * Runs in one process (CK_FORK=no): an in-process registry scan initialises
 * CUDA, which does not survive fork(). So that a failure never leaves
 * pipelines running, nothing is asserted while pipelines exist: problems are
 * collected, everything is torn down, then the test fails with all of them. */
#include <gst/app/app.h>
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudautils.h>
#include <gst/video/video.h>
#include <gpurtsp/gpujpegenc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/gpurtsp-cuda.h"
#include "gpu-test-util.h"

/* Last: its fail() macros clash with the C++ library's headers. */
#include "gpu-test-runner.h"

namespace {

constexpr int kCameras = 64;
constexpr int kFramesPerCamera = 6;
constexpr guint kMaxEncoders = 4;
constexpr guint kLowQuality = 30, kHighQuality = 95;

struct Size {
  int width, height;
};
constexpr Size kSizes[] = {{320, 240}, {640, 480}};

/* What went wrong, from any thread; asserted once pipelines are gone. */
class Problems {
public:
  void add(const std::string &problem) {
    std::lock_guard<std::mutex> guard(lock_);
    if (problems_.size() < 20)
      problems_.push_back(problem);
  }
  std::string all() {
    std::lock_guard<std::mutex> guard(lock_);
    std::string text;
    for (const auto &p : problems_)
      text += "\n  " + p;
    return text;
  }

private:
  std::mutex lock_;
  std::vector<std::string> problems_; /* guarded by lock_ */
};

struct SampleUnref {
  void operator()(GstSample *sample) const { gst_sample_unref(sample); }
};
using Sample = std::unique_ptr<GstSample, SampleUnref>;

struct CudaContextUnref {
  void operator()(GstCudaContext *ctx) const { gst_object_unref(ctx); }
};
using CudaContext = std::unique_ptr<GstCudaContext, CudaContextUnref>;

/* A pipeline set to NULL and released when it goes out of scope. */
class Pipeline {
public:
  Pipeline(const std::string &description, GstCudaContext *ctx, Problems &problems) {
    GError *error = nullptr;
    pipeline_ = gst_parse_launch(description.c_str(), &error);
    if (!pipeline_ || error) {
      problems.add("'" + description + "': " + (error ? error->message : "parse failed"));
      g_clear_error(&error);
      gst_clear_object(&pipeline_);
      return;
    }
    if (ctx) {
      GstContext *context = gst_context_new_cuda_context(ctx);
      gst_element_set_context(pipeline_, context);
      gst_context_unref(context);
    }
  }
  ~Pipeline() {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
  }
  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;

  explicit operator bool() const { return pipeline_ != nullptr; }
  bool set_state(GstState state) {
    return gst_element_set_state(pipeline_, state) != GST_STATE_CHANGE_FAILURE;
  }
  /* A child by name, reffed. */
  GstElement *get(const char *name) const { return gst_bin_get_by_name(GST_BIN(pipeline_), name); }
  /* The CUDA context an element of the pipeline made for itself (the
   * have-context message gst-cuda posts), reffed; nullptr if none. */
  GstCudaContext *context_made() const {
    GstBus *bus = gst_element_get_bus(pipeline_);
    GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_HAVE_CONTEXT);
    gst_object_unref(bus);
    GstCudaContext *ctx = nullptr;
    if (message) {
      GstContext *context = nullptr;
      gst_message_parse_have_context(message, &context);
      gst_cuda_handle_set_context(pipeline_, context, -1, &ctx);
      gst_context_unref(context);
      gst_message_unref(message);
    }
    return ctx;
  }
  /* The first error the pipeline posted, or "". */
  std::string error() const {
    GstBus *bus = gst_element_get_bus(pipeline_);
    GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    if (!message)
      return "";
    GError *err = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(message, &err, &debug);
    std::string text = std::string(err->message) + " (" + (debug ? debug : "") + ")";
    g_error_free(err);
    g_free(debug);
    gst_message_unref(message);
    return text;
  }

private:
  GstElement *pipeline_ = nullptr;
};

/* Pushes @input (with its caps) through the running pipeline's appsrc "src"
 * and pulls what its appsink "sink" gives. */
Sample push_pull(Pipeline &pipeline, GstSample *input, guint64 index) {
  GstElement *src = pipeline.get("src");
  GstElement *sink = pipeline.get("sink");
  GstBuffer *buffer = gst_buffer_copy(gst_sample_get_buffer(input));
  GST_BUFFER_PTS(buffer) = index * 40 * GST_MSECOND;
  GST_BUFFER_DURATION(buffer) = 40 * GST_MSECOND;
  GstSample *timed = gst_sample_new(buffer, gst_sample_get_caps(input), nullptr, nullptr);
  gst_buffer_unref(buffer);
  GstSample *output = nullptr;
  if (gst_app_src_push_sample(GST_APP_SRC(src), timed) == GST_FLOW_OK)
    output = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 60 * GST_SECOND);
  gst_sample_unref(timed);
  gst_object_unref(src);
  gst_object_unref(sink);
  return Sample(output);
}

/* One NV12 test card in system memory. */
Sample make_frame(const Size &size, Problems &problems) {
  Pipeline pipeline("videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=NV12,width=" +
                        std::to_string(size.width) + ",height=" + std::to_string(size.height) +
                        ",framerate=25/1 ! appsink name=sink sync=false",
                    nullptr, problems);
  if (!pipeline || !pipeline.set_state(GST_STATE_PLAYING))
    return nullptr;
  GstElement *sink = pipeline.get("sink");
  Sample frame(gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND));
  gst_object_unref(sink);
  if (!frame)
    problems.add("videotestsrc gave no frame");
  return frame;
}

std::optional<gpurtsp::gpujpegenc::Stats> encoder_stats(Pipeline &pipeline) {
  GstElement *enc = pipeline.get("enc");
  auto stats = gpurtsp::gpujpegenc::Stats::read(enc);
  gst_object_unref(enc);
  return stats;
}

struct Camera {
  Size size;
  guint quality;
  std::unique_ptr<Pipeline> pipeline;
  std::vector<Sample> jpegs;
};

CudaContext new_cuda_context() {
  if (!gst_cuda_load_library())
    return nullptr;
  return CudaContext(gst_cuda_context_new(0));
}

} // namespace

GST_START_TEST(test_cameras_share_the_pool) {
  Problems problems;
  CudaContext ctx = new_cuda_context();
  fail_unless(ctx != nullptr, "no CUDA context on device 0");
  Sample frames[2] = {make_frame(kSizes[0], problems), make_frame(kSizes[1], problems)};
  fail_unless(frames[0] && frames[1], "%s", problems.all().c_str());

  std::vector<Camera> cameras(kCameras);
  {
    for (int i = 0; i < kCameras; i++) {
      Camera &camera = cameras[i];
      camera.size = kSizes[i % 2];
      camera.quality = (i / 2) % 2 ? kHighQuality : kLowQuality;
      camera.pipeline = std::make_unique<Pipeline>(
          "appsrc name=src format=time ! cudaupload ! gpujpegenc name=enc quality=" +
              std::to_string(camera.quality) + " max-encoders=" + std::to_string(kMaxEncoders) +
              " encoder-timeout=30000 ! appsink name=sink sync=false",
          ctx.get(), problems);
      if (!*camera.pipeline)
        continue;
      if (!camera.pipeline->set_state(GST_STATE_PLAYING))
        problems.add("camera " + std::to_string(i) + " does not start");
    }

    /* All cameras at once, each with one frame in flight. */
    std::vector<std::thread> threads;
    for (int i = 0; i < kCameras; i++) {
      threads.emplace_back([&, i] {
        Camera &camera = cameras[i];
        if (!*camera.pipeline)
          return;
        for (int f = 0; f < kFramesPerCamera; f++) {
          Sample jpeg = push_pull(*camera.pipeline, frames[i % 2].get(), f);
          if (!jpeg) {
            problems.add("camera " + std::to_string(i) + " frame " + std::to_string(f) +
                         ": no JPEG; " + camera.pipeline->error());
            return;
          }
          camera.jpegs.push_back(std::move(jpeg));
        }
      });
    }
    for (auto &thread : threads)
      thread.join();

    guint max_slots_seen = 0;
    for (int i = 0; i < kCameras; i++) {
      if (!*cameras[i].pipeline)
        continue;
      const auto stats = encoder_stats(*cameras[i].pipeline);
      const std::string name = "camera " + std::to_string(i) + " stats: ";
      if (!stats || !stats->pool) {
        problems.add(name + "no pool fields");
        continue;
      }
      const gpurtsp::PoolStats &pool = *stats->pool;
      max_slots_seen = std::max(max_slots_seen, pool.size);
      if (pool.size == 0 || pool.size > kMaxEncoders)
        problems.add(name + "pool size " + std::to_string(pool.size));
      if (pool.max != kMaxEncoders)
        problems.add(name + "pool max " + std::to_string(pool.max));
      if (pool.users != kCameras)
        problems.add(name + "pool users " + std::to_string(pool.users));
      if (stats->encodes != kFramesPerCamera)
        problems.add(name + "encodes " + std::to_string(stats->encodes));
      if (stats->dropped_busy != 0)
        problems.add(name + "dropped busy " + std::to_string(stats->dropped_busy));
    }
    g_print("%d cameras, %d JPEGs each, on %u pooled encoders (max-encoders %u)\n", kCameras,
            kFramesPerCamera, max_slots_seen, kMaxEncoders);
    for (auto &camera : cameras)
      camera.pipeline.reset();
  }

  /* Every JPEG decodes to its camera's size; quality stayed per camera. */
  for (int s = 0; s < 2; s++) {
    Pipeline decoder("appsrc name=src format=time ! jpegdec ! appsink name=sink sync=false",
                     nullptr, problems);
    if (!decoder || !decoder.set_state(GST_STATE_PLAYING)) {
      problems.add("jpegdec pipeline does not start");
      break;
    }
    gsize smallest_high = G_MAXSIZE, largest_low = 0;
    guint64 index = 0;
    for (int i = s; i < kCameras; i += 2) {
      for (const Sample &jpeg : cameras[i].jpegs) {
        GstBuffer *buffer = gst_sample_get_buffer(jpeg.get());
        const gsize bytes = gst_buffer_get_size(buffer);
        guint8 soi[2] = {}, eoi[2] = {};
        gst_buffer_extract(buffer, 0, soi, 2);
        gst_buffer_extract(buffer, bytes - 2, eoi, 2);
        if (soi[0] != 0xFF || soi[1] != 0xD8 || eoi[0] != 0xFF || eoi[1] != 0xD9)
          problems.add("camera " + std::to_string(i) + ": not one whole JPEG");
        if (cameras[i].quality == kHighQuality)
          smallest_high = std::min(smallest_high, bytes);
        else
          largest_low = std::max(largest_low, bytes);

        Sample decoded = push_pull(decoder, jpeg.get(), index++);
        GstVideoInfo info;
        if (!decoded || !gst_video_info_from_caps(&info, gst_sample_get_caps(decoded.get()))) {
          problems.add("camera " + std::to_string(i) + ": JPEG does not decode; " +
                       decoder.error());
          continue;
        }
        if (GST_VIDEO_INFO_WIDTH(&info) != kSizes[s].width ||
            GST_VIDEO_INFO_HEIGHT(&info) != kSizes[s].height)
          problems.add("camera " + std::to_string(i) + ": decodes to " +
                       std::to_string(GST_VIDEO_INFO_WIDTH(&info)) + "x" +
                       std::to_string(GST_VIDEO_INFO_HEIGHT(&info)));
      }
    }
    /* The same frame at quality 95 is always larger than at 30: a slot that
     * kept its previous borrower's quality would break this. */
    if (smallest_high <= largest_low)
      problems.add("size " + std::to_string(kSizes[s].width) + ": a quality-" +
                   std::to_string(kHighQuality) + " JPEG (" + std::to_string(smallest_high) +
                   " bytes) is no larger than a quality-" + std::to_string(kLowQuality) + " one (" +
                   std::to_string(largest_low) + " bytes)");
  }

  const std::string all = problems.all();
  fail_unless(all.empty(), "%s", all.c_str());
}
GST_END_TEST;

/* The largest max-encoders among a context's instances sets the pool's cap;
 * the pool goes with its last user. */
GST_START_TEST(test_largest_max_encoders_wins) {
  Problems problems;
  CudaContext ctx = new_cuda_context();
  fail_unless(ctx != nullptr, "no CUDA context on device 0");
  std::string field_after_stop = "unset";
  guint max_seen[2] = {0, 0}, users_seen[2] = {0, 0};
  {
    Pipeline small("appsrc name=src ! gpujpegenc name=enc max-encoders=2 ! fakesink", ctx.get(),
                   problems);
    Pipeline large("appsrc name=src ! gpujpegenc name=enc max-encoders=6 ! fakesink", ctx.get(),
                   problems);
    Pipeline *both[2] = {&small, &large};
    for (Pipeline *p : both) {
      /* start(), which joins the pool, runs on READY to PAUSED. */
      if (!*p || !p->set_state(GST_STATE_PAUSED))
        problems.add("a pipeline does not pause");
    }
    for (int i = 0; i < 2; i++) {
      if (!*both[i])
        continue;
      const auto stats = encoder_stats(*both[i]);
      max_seen[i] = stats && stats->pool ? stats->pool->max : G_MAXUINT;
      users_seen[i] = stats && stats->pool ? stats->pool->users : G_MAXUINT;
    }
    if (small) {
      small.set_state(GST_STATE_NULL);
      const auto stats = encoder_stats(small);
      field_after_stop = !stats ? "no stats" : stats->pool ? "present" : "absent";
    }
  }
  const std::string all = problems.all();
  fail_unless(all.empty(), "%s", all.c_str());
  fail_unless_equals_int(max_seen[0], 6);
  fail_unless_equals_int(max_seen[1], 6);
  fail_unless_equals_int(users_seen[0], 2);
  fail_unless_equals_int(users_seen[1], 2);
  fail_unless_equals_string(field_after_stop.c_str(), "absent");
}
GST_END_TEST;

/* A small site: 4 cameras at 10 fps share the one slot the first frame
 * made (issue 20: each used to add a 34 MiB slot). Their first frames
 * arrive together and wait for that slot's set-up, which is not contention;
 * the pool grows only on measured contention. */
GST_START_TEST(test_few_cameras_share_one_slot) {
  Problems problems;
  CudaContext ctx = new_cuda_context();
  fail_unless(ctx != nullptr, "no CUDA context on device 0");
  Sample frame = make_frame(kSizes[1], problems);
  fail_unless(frame != nullptr, "%s", problems.all().c_str());
  constexpr int kSmallSite = 4, kFrames = 10;
  std::optional<gpurtsp::PoolStats> pool;
  {
    std::vector<std::unique_ptr<Pipeline>> cameras;
    for (int i = 0; i < kSmallSite; i++) {
      cameras.push_back(std::make_unique<Pipeline>(
          "appsrc name=src format=time ! cudaupload ! gpujpegenc name=enc ! appsink name=sink "
          "sync=false",
          ctx.get(), problems));
      if (!*cameras.back() || !cameras.back()->set_state(GST_STATE_PLAYING))
        problems.add("camera " + std::to_string(i) + " does not start");
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < kSmallSite; i++) {
      threads.emplace_back([&, i] {
        for (int f = 0; f < kFrames && *cameras[i]; f++) {
          if (!push_pull(*cameras[i], frame.get(), f))
            problems.add("camera " + std::to_string(i) + ": no JPEG; " + cameras[i]->error());
          /* All first frames at once (they wait for the slot being made);
           * then cameras 20 ms apart, as unsynchronised cameras are. */
          std::this_thread::sleep_for(std::chrono::milliseconds(f == 0 ? 100 + 20 * i : 100));
        }
      });
    }
    for (auto &thread : threads)
      thread.join();
    if (*cameras[0]) {
      if (auto stats = encoder_stats(*cameras[0]))
        pool = stats->pool;
    }
  }
  const std::string all = problems.all();
  fail_unless(all.empty(), "%s", all.c_str());
  fail_unless(pool.has_value(), "no pool stats");
  g_print("%d cameras at 10 fps: %u slot(s), %" G_GUINT64_FORMAT " made, %" G_GUINT64_FORMAT
          " waits\n",
          kSmallSite, pool->size, pool->created, pool->waits);
  fail_unless_equals_int(pool->created, 1);
  fail_unless_equals_int(pool->size, 1);
}
GST_END_TEST;

/* The per-thread stack limit (docs/scale.md, "VRAM of a small site"): a
 * context gpujpegenc makes for itself gets gpurtsp's low limit; a context
 * the application shares keeps the limit it had. */
GST_START_TEST(test_stack_limit_only_on_own_contexts) {
  Problems problems;
  CudaContext shared = new_cuda_context();
  fail_unless(shared != nullptr, "no CUDA context on device 0");
  /* SIZE_MAX: never lowers, only reads the limit. */
  size_t driver_default = 0, shared_after = 0, own = 0;
  std::string why;
  fail_unless(gpurtsp::limit_context_stack(shared.get(), SIZE_MAX, driver_default, why), "%s",
              why.c_str());
  Sample frame = make_frame(kSizes[0], problems);
  fail_unless(frame != nullptr, "%s", problems.all().c_str());
  {
    Pipeline with_shared("appsrc name=src format=time ! cudaupload ! gpujpegenc name=enc ! "
                         "appsink name=sink sync=false",
                         shared.get(), problems);
    if (!with_shared || !with_shared.set_state(GST_STATE_PLAYING) ||
        !push_pull(with_shared, frame.get(), 0))
      problems.add("the shared-context pipeline gave no JPEG; " +
                   (with_shared ? with_shared.error() : std::string()));
    Pipeline alone("appsrc name=src ! gpujpegenc name=enc ! fakesink", nullptr, problems);
    if (!alone || !alone.set_state(GST_STATE_READY)) {
      problems.add("a pipeline without a shared context does not reach READY");
    } else if (GstCudaContext *made = alone.context_made()) {
      if (!gpurtsp::limit_context_stack(made, SIZE_MAX, own, why))
        problems.add("reading the element's context's limit: " + why);
      gst_object_unref(made);
    } else {
      problems.add("gpujpegenc made no context of its own (no have-context message)");
    }
  }
  if (!gpurtsp::limit_context_stack(shared.get(), SIZE_MAX, shared_after, why))
    problems.add("reading the shared context's limit: " + why);
  const std::string all = problems.all();
  fail_unless(all.empty(), "%s", all.c_str());
  g_print("per-thread stack: driver default %zu bytes; shared context after use %zu; "
          "gpujpegenc's own context %zu\n",
          driver_default, shared_after, own);
  fail_unless_equals_uint64(shared_after, driver_default);
  fail_unless(own < driver_default, "own context's stack %zu, driver default %zu", own,
              driver_default);
}
GST_END_TEST;

static Suite *gpujpegenc_pool_suite() {
  Suite *s = suite_create("gpujpegenc-pool");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_cameras_share_the_pool);
  tcase_add_test(tc, test_largest_max_encoders_wins);
  tcase_add_test(tc, test_few_cameras_share_one_slot);
  tcase_add_test(tc, test_stack_limit_only_on_own_contexts);
  return s;
}

static int requirements(gputest::Requirements &req, int &, char **&) {
  req.element = "gpujpegenc";
  req.needs = {"videotestsrc", "cudaupload", "jpegdec", "appsrc", "appsink"};
  /* See the top of this file: CUDA may be initialised in this process. */
  req.one_process = true;
  return 0;
}

GPUTEST_MAIN("gpujpegenc-pool", gpujpegenc_pool_suite, requirements)
