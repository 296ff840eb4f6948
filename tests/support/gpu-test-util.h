// SPDX-License-Identifier: MIT
/* Shared by the GStreamer tests that need a GPU (test-gpunv12torgb,
 * test-gpujpegenc, test-gpukeyframedec, ...); gpu-test-runner.h puts the
 * steps below in one order for their main().
 *
 * Process model. GstCheck forks a child per test so that a failed check,
 * a hang or a crash ends that test only, and its tcase timeout works. CUDA
 * does not survive fork() once initialised, so the parent must never
 * initialise it: whether the GPU is usable is asked in a throwaway child
 * (probe_in_child), elements are only looked up in the registry (which
 * loads no plugin: the registry is built by gst-plugin-scanner, a separate
 * process), and every CUDA context or element is created inside a test or
 * its checked fixture. CK_FORK=no in the environment still runs everything
 * in one process, for a debugger.
 *
 * Pipelines. Waits are bounded and a stall names the pipeline and the state
 * it is stuck in: a test fails with a message instead of hanging. Include
 * before gst/check/gstcheck.h (its fail() macro clashes with libstdc++). */
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gpurtsp/plugin-status.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gputest {

enum class Probe {
  Usable,   /* the probe said yes */
  Unusable, /* the probe said no, and why: the test is skipped (77) */
  Broken,   /* the probe crashed or hung: the test fails (1) */
};

/* Runs @probe (e.g. "cuInit and a device count") in a forked child, so that
 * this process stays free of CUDA; @why receives the probe's explanation or
 * how the child ended. The child gets @timeout_s seconds. */
inline Probe probe_in_child(const std::function<bool(std::string &why)> &probe, std::string &why,
                            int timeout_s = 60) {
  int fds[2];
  if (pipe(fds) != 0) {
    why = std::string("pipe: ") + std::strerror(errno);
    return Probe::Broken;
  }
  fflush(stdout);
  fflush(stderr);
  const pid_t child = fork();
  if (child < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return Probe::Broken;
  }
  if (child == 0) {
    close(fds[0]);
    std::string reason;
    const bool ok = probe(reason);
    for (size_t done = 0; done < reason.size();) {
      const ssize_t n = write(fds[1], reason.data() + done, reason.size() - done);
      if (n <= 0)
        break;
      done += static_cast<size_t>(n);
    }
    /* _exit: no atexit handlers or stdio flushes of the parent's state. */
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  std::string reason;
  bool timed_out = false;
  pollfd pfd = {fds[0], POLLIN, 0};
  for (;;) {
    const int ready = poll(&pfd, 1, timeout_s * 1000);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    char buf[512];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break; /* EOF: the child has exited or is exiting */
    reason.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out)
    kill(child, SIGKILL);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    why = "the probe did not finish within " + std::to_string(timeout_s) + " s (driver hung?)";
    return Probe::Broken;
  }
  if (WIFSIGNALED(status)) {
    why = std::string("the probe was killed by signal ") + strsignal(WTERMSIG(status)) +
          (reason.empty() ? "" : " after: " + reason);
    return Probe::Broken;
  }
  why = reason;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? Probe::Usable : Probe::Unusable;
}

/* Whether the CUDA driver library is mapped into this process. It gets
 * there through cuInit's callers (the gpurtsp or nvcodec plugin loaded in
 * this process, or a CUDA call here), which makes forked tests unreliable. */
inline bool cuda_driver_loaded_here() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("/libcuda.so") != std::string::npos)
      return true;
  return false;
}

/* Call after gst_check_init() and the probes, before running the suite:
 * keeps GstCheck's fork-per-test mode unless CK_FORK says otherwise or CUDA
 * got into this process anyway (no gst-plugin-scanner, GST_REGISTRY_FORK=no:
 * plugins then load here), in which case it runs in one process and says
 * why. */
inline void choose_fork_mode() {
  const char *mode = g_getenv("CK_FORK");
  if (mode && g_strcmp0(mode, "no") == 0) {
    g_print("NOTE: CK_FORK=no: every test runs in this process; a failed check can leave "
            "pipelines running that hang the next test's cleanup\n");
    return;
  }
  if (cuda_driver_loaded_here()) {
    g_print("NOTE: libcuda is loaded in the test runner itself (plugins loaded in-process: no "
            "gst-plugin-scanner, or GST_REGISTRY_FORK=no), so CUDA could not be used in forked "
            "tests: running every test in this process (CK_FORK=no)\n");
    g_setenv("CK_FORK", "no", TRUE);
  }
}

/* Why the gpurtsp plugin left an element out, as it recorded in the
 * registry's cache ("" if it did not): read without loading the plugin. */
inline std::string recorded_missing() {
  return gpurtsp::plugin_status::missing();
}

/* Whether @missing (recorded_missing()) names @element. The plugin records
 * "NAME[, NAME...] not registered: WHY" entries joined by "; ", e.g.
 * "gpunv12torgb, gpujpegenc not registered: no CUDA device found". */
inline bool recorded_as_missing(const std::string &missing, const std::string &element) {
  for (size_t start = 0; start < missing.size();) {
    size_t end = missing.find("; ", start);
    if (end == std::string::npos)
      end = missing.size();
    const std::string entry = missing.substr(start, end - start);
    const size_t names_end = entry.find(" not registered");
    if (names_end != std::string::npos) {
      const std::string names = ", " + entry.substr(0, names_end) + ",";
      if (names.find(", " + element + ",") != std::string::npos)
        return true;
    }
    start = end + 2;
  }
  return false;
}

/* For the runner: 0 when the registry has @element; else 77 (skip) when the
 * gpurtsp plugin recorded why it left the element out (no GPU library), or
 * 1 when it did not say. */
inline int registered_or_exit_status(const char *element) {
  if (GstElementFactory *factory = gst_element_factory_find(element)) {
    gst_object_unref(factory);
    return 0;
  }
  const std::string missing = recorded_missing();
  if (recorded_as_missing(missing, element)) {
    g_print("SKIP: %s\n", missing.c_str());
    return 77;
  }
  g_printerr("%s is not registered and the gpurtsp plugin does not say why\n", element);
  return 1;
}

inline bool have_elements(const std::vector<const char *> &names, std::string &missing) {
  for (const char *name : names) {
    GstElementFactory *factory = gst_element_factory_find(name);
    if (!factory) {
      missing += std::string(missing.empty() ? "" : ", ") + name;
      continue;
    }
    gst_object_unref(factory);
  }
  return missing.empty();
}

inline std::string state_of(GstElement *pipeline) {
  GstState current = GST_STATE_VOID_PENDING, pending = GST_STATE_VOID_PENDING;
  gst_element_get_state(pipeline, &current, &pending, 0);
  std::string text = gst_element_state_get_name(current);
  if (pending != GST_STATE_VOID_PENDING)
    text += std::string(" (going to ") + gst_element_state_get_name(pending) + ")";
  return text;
}

/* The error message on @pipeline's bus, popped without waiting; "" if none. */
inline std::string pop_error(GstElement *pipeline) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!message)
    return "";
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " +
                     error->message + (debug ? std::string(" (") + debug + ")" : "");
  g_clear_error(&error);
  g_free(debug);
  gst_message_unref(message);
  return text;
}

/* Waits up to @timeout for EOS or an error on @pipeline (@what names it in
 * messages). Returns "" on EOS, else what went wrong. */
inline std::string wait_for_eos(GstElement *pipeline, const std::string &what,
                                GstClockTime timeout = 30 * GST_SECOND) {
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered(
      bus, timeout, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  if (!message)
    return "'" + what + "': no EOS within " + std::to_string(timeout / GST_SECOND) +
           " s, pipeline " + state_of(pipeline);
  std::string error;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *err = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(message, &err, &debug);
    error = "'" + what + "': " + GST_OBJECT_NAME(GST_MESSAGE_SRC(message)) + ": " + err->message +
            (debug ? std::string(" (") + debug + ")" : "");
    g_clear_error(&err);
    g_free(debug);
  }
  gst_message_unref(message);
  return error;
}

struct SampleUnref {
  void operator()(GstSample *sample) const { gst_sample_unref(sample); }
};
using Sample = std::unique_ptr<GstSample, SampleUnref>;

/* A linear pipeline ending in `appsink name=sink`, optionally starting with
 * `appsrc name=src`, run to EOS with its samples collected as they arrive.
 * No tee: every branch of a tee must preroll before any runs, which is where
 * decoders behind tees stalled. */
class LinearPipeline {
public:
  /* @context (e.g. a shared CUDA context) is set on the pipeline, hence on
   * every element in it, before it starts. */
  explicit LinearPipeline(std::string description, GstContext *context = nullptr)
      : description_(std::move(description)),
        context_(context ? gst_context_ref(context) : nullptr) {}
  ~LinearPipeline() {
    if (context_)
      gst_context_unref(context_);
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
  }
  LinearPipeline(const LinearPipeline &) = delete;
  LinearPipeline &operator=(const LinearPipeline &) = delete;

  /* Parses, feeds @input (with @caps) to appsrc "src" if given, and pulls
   * every sample until EOS, waiting at most @timeout for each. Returns ""
   * or what went wrong, naming the pipeline and its state. */
  std::string run(std::vector<Sample> &out, GstCaps *caps = nullptr,
                  const std::vector<GstBuffer *> &input = {},
                  GstClockTime timeout = 30 * GST_SECOND) {
    GError *error = nullptr;
    pipeline_ = gst_parse_launch(description_.c_str(), &error);
    if (!pipeline_ || error) {
      std::string text = "'" + description_ + "': " + (error ? error->message : "does not parse");
      g_clear_error(&error);
      return text;
    }
    if (context_)
      gst_element_set_context(pipeline_, context_);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
    std::string failure;
    if (!sink) {
      failure = "'" + description_ + "' has no appsink named sink";
    } else {
      g_object_set(sink, "sync", FALSE, nullptr);
      if (src && caps)
        gst_app_src_set_caps(GST_APP_SRC(src), caps);
      if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
        failure = "'" + description_ + "' does not start: " + pop_error(pipeline_);
    }
    if (failure.empty() && src) {
      for (GstBuffer *buffer : input)
        gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_ref(buffer));
      gst_app_src_end_of_stream(GST_APP_SRC(src));
    }
    /* Short pulls, so that an error ends the wait at once. */
    const gint64 step = 100 * G_TIME_SPAN_MILLISECOND;
    gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
    while (failure.empty()) {
      if (GstSample *sample =
              gst_app_sink_try_pull_sample(GST_APP_SINK(sink), step * GST_USECOND)) {
        out.emplace_back(sample);
        deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
        continue;
      }
      /* Sources post their error and then send EOS: check both. */
      const bool eos = gst_app_sink_is_eos(GST_APP_SINK(sink));
      failure = pop_error(pipeline_);
      if (!failure.empty())
        failure = "'" + description_ + "': " + failure;
      else if (eos)
        break;
      else if (g_get_monotonic_time() > deadline)
        failure = "'" + description_ + "' stalled: nothing for " +
                  std::to_string(timeout / GST_SECOND) + " s after " + std::to_string(out.size()) +
                  " samples, pipeline " + state_of(pipeline_);
    }
    if (src)
      gst_object_unref(src);
    if (sink)
      gst_object_unref(sink);
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    return failure;
  }

private:
  const std::string description_;
  GstContext *const context_;
  GstElement *pipeline_ = nullptr;
};

} // namespace gputest
