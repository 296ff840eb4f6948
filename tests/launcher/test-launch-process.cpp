// SPDX-License-Identifier: MIT
/* gpurtsp-launch as a process: SIGTERM/SIGINT tear every pipeline down and
 * exit 0 (SIGHUP under --demo only logs); a distinctive password never appears in anything the
 * launcher prints, logs or reports.
 *
 * Usage: test-launch-process PATH-OF-gpurtsp-launch [DEMO-CAMERAS]
 *   DEMO-CAMERAS (default 16, at most 64) live cameras for the SIGTERM test. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "camera-manager.h"
#include "config.h"
#include "main-loop-wait.h"
#include "rtsp-fixture.hpp"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include "gpu-test-runner.h"

using namespace gpurtsp::launch;
using gpurtsp::test::camera_options;
using gpurtsp::test::RtspFixture;

static const char *launcher_path;
static unsigned demo_cameras = 16;

static std::string read_file(const std::string &path) {
  g_autofree char *contents = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, nullptr, nullptr))
    return "";
  return contents;
}

/* The end of a log, for a failure message: check's are limited to 4 KiB. */
static std::string tail(const std::string &log) {
  constexpr size_t kMax = 3000;
  return log.size() > kMax ? "..." + log.substr(log.size() - kMax) : log;
}

static size_t count(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    n++;
  return n;
}

/* gpurtsp-launch with stdout and stderr in files of a temporary directory. */
class Launcher {
public:
  explicit Launcher(const std::vector<std::string> &args)
      : dir_(g_dir_make_tmp("launch-process-XXXXXX", nullptr)) {
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_stdout_file_path(launcher, path("stdout").c_str());
    g_subprocess_launcher_set_stderr_file_path(launcher, path("stderr").c_str());
    std::vector<const char *> argv = {launcher_path};
    for (const std::string &arg : args)
      argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    g_autoptr(GError) error = nullptr;
    process_ = g_subprocess_launcher_spawnv(launcher, argv.data(), &error);
    fail_unless(process_ != nullptr, "%s", error ? error->message : "");
  }
  ~Launcher() {
    if (!exited()) {
      g_subprocess_force_exit(process_);
      g_subprocess_wait(process_, nullptr, nullptr);
    }
    g_object_unref(process_);
    for (const char *name : {"stdout", "stderr"})
      g_remove(path(name).c_str());
    g_rmdir(dir_);
    g_free(dir_);
  }

  std::string path(const char *name) const { return std::string(dir_) + "/" + name; }
  std::string out() const { return read_file(path("stdout")); }
  std::string err() const { return read_file(path("stderr")); }

  /* Waits until @done(stderr) or the process exits or @timeout_s passes. */
  template <typename Done>
  bool wait_log(Done done, double timeout_s) const {
    const gint64 deadline = g_get_monotonic_time() + gint64(timeout_s * G_USEC_PER_SEC);
    while (g_get_monotonic_time() < deadline) {
      if (done(err()))
        return true;
      if (exited())
        return done(err());
      g_usleep(100 * 1000);
    }
    return false;
  }

  GSubprocess *process() const { return process_; }

  /* GSubprocess reaps on GLib's worker thread; the identifier goes then. */
  bool exited() const { return g_subprocess_get_identifier(process_) == nullptr; }

  /* Sends @signal and waits up to @timeout_s; returns the exit status, or -1
   * when the process did not exit or died from a signal. */
  int stop(int signal, double timeout_s) {
    g_subprocess_send_signal(process_, signal);
    return wait(timeout_s);
  }

  /* Waits up to @timeout_s for the process to exit; as stop(). */
  int wait(double timeout_s) {
    const gint64 deadline = g_get_monotonic_time() + gint64(timeout_s * G_USEC_PER_SEC);
    while (!exited() && g_get_monotonic_time() < deadline)
      g_usleep(100 * 1000);
    if (!exited())
      return -1;
    fail_if(g_subprocess_get_if_signaled(process_), "killed by signal %d: %s",
            g_subprocess_get_term_sig(process_), tail(err()).c_str());
    return g_subprocess_get_exit_status(process_);
  }

private:
  char *dir_;
  GSubprocess *process_ = nullptr;
};

/* Lines that mean GLib or GStreamer complained about the launcher. */
static void check_clean_log(const std::string &log) {
  for (const char *bad : {"CRITICAL", "GLib-WARNING", "GStreamer-WARNING", "GLib-GObject-WARNING",
                          "Segmentation", "double free"})
    fail_unless(log.find(bad) == std::string::npos, "log has %s:\n%s", bad, tail(log).c_str());
}

static void check_teardown(int signal, unsigned cameras) {
  Launcher launcher(
      {"--demo", std::to_string(cameras), "--log-level", "debug", "--listen", "127.0.0.1:0"});
  const bool streaming = launcher.wait_log(
      [&](const std::string &log) { return count(log, ": streaming ") >= cameras; }, 120);
  fail_unless(streaming, "only %zu of %u cameras streaming:\n%s",
              count(launcher.err(), ": streaming "), cameras, tail(launcher.err()).c_str());
  if (signal == SIGINT) {
    /* SIGHUP reloads a config; --demo has none: logged, not fatal. */
    g_subprocess_send_signal(launcher.process(), SIGHUP);
    fail_unless(launcher.wait_log(
                    [](const std::string &log) {
                      return log.find("SIGHUP: --demo cameras have no config to reload") !=
                             std::string::npos;
                    },
                    10),
                "%s", tail(launcher.err()).c_str());
    fail_if(launcher.exited(), "SIGHUP ended the launcher: %s", tail(launcher.err()).c_str());
  }
  const gint64 start = g_get_monotonic_time();
  const int status = launcher.stop(signal, 60);
  const std::string log = launcher.err();
  fail_unless_equals_int(status, 0);
  g_print("%s: %u cameras down in %.2f s\n", g_strsignal(signal), cameras,
          double(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
  check_clean_log(log);
  /* Signal seen, pipelines down, then (GPU decoding only) CUDA released. */
  const size_t stopping = log.find(" info stopping");
  const size_t down = log.find(" debug every pipeline is down");
  fail_unless(stopping != std::string::npos && down != std::string::npos && stopping < down, "%s",
              tail(log).c_str());
  const size_t released = log.find("releasing the CUDA context");
  fail_unless(released == std::string::npos || released > down, "%s", tail(log).c_str());
}

GST_START_TEST(test_sigterm_tears_down) {
  check_teardown(SIGTERM, demo_cameras);
}
GST_END_TEST;

GST_START_TEST(test_sigint_tears_down) {
  check_teardown(SIGINT, 4);
}
GST_END_TEST;

/* Fails if @text holds @password as is or percent-encoded. */
static void check_no_password(const std::string &text, const std::string &password,
                              const char *what) {
  g_autofree char *escaped = g_uri_escape_string(password.c_str(), nullptr, FALSE);
  fail_unless(text.find(password) == std::string::npos && text.find(escaped) == std::string::npos,
              "the password appears in %s:\n%s", what, tail(text).c_str());
}

GST_START_TEST(test_password_never_shown) {
  /* Distinctive, with characters that need escaping in a URL. */
  const std::string password = "Zq9+Sekr3t!Pw/4417";
  g_autofree char *escaped = g_uri_escape_string(password.c_str(), nullptr, FALSE);

  auto accepting = camera_options();
  accepting.user = "viewer";
  accepting.password = password;
  RtspFixture good(accepting);
  auto rejecting = camera_options();
  rejecting.behavior = gpurtsp::camsim::Behavior::Unauthorized;
  RtspFixture rejects(rejecting);

  auto with_password = [&](const std::string &url) {
    return std::string(url).insert(url.find("://") + 3, std::string("viewer:") + escaped + "@");
  };
  g_autoptr(GSocketListener) listener = g_socket_listener_new();
  const guint16 dead_port = g_socket_listener_add_any_inet_port(listener, nullptr, nullptr);
  g_socket_listener_close(listener);
  /* The unreachable one has its password from .env-style substitution. */
  g_setenv("LAUNCH_TEST_PASSWORD", password.c_str(), TRUE);
  const std::string yaml =
      "defaults:\n  decoder: auto\n  fps: 2\ncameras:\n"
      "  - id: good\n    url: '" +
      with_password(good.url()) + "'\n  - id: rejected\n    url: '" + with_password(rejects.url()) +
      "'\n  - id: unreachable\n    url: 'rtsp://viewer:" + "${LAUNCH_TEST_PASSWORD}@127.0.0.1:" +
      std::to_string(dead_port) + "/cam0'\n";

  g_autofree char *dir = g_dir_make_tmp("launch-password-XXXXXX", nullptr);
  const std::string config_path = std::string(dir) + "/cameras.yaml";
  fail_unless(g_file_set_contents(config_path.c_str(), yaml.c_str(), -1, nullptr));

  for (const char *flag : {"--check", "--print-pipelines"}) {
    Launcher launcher({"--config", config_path, flag, "--log-level", "debug"});
    fail_unless_equals_int(launcher.wait(30), 0);
    fail_if(launcher.out().empty());
    check_no_password(launcher.out() + launcher.err(), password, flag);
  }

  Launcher launcher({"--config", config_path, "--log-level", "debug"});
  const bool seen = launcher.wait_log(
      [](const std::string &log) {
        return log.find("good: streaming") != std::string::npos &&
               log.find("rejected: unauthorized") != std::string::npos &&
               log.find("unreachable: reconnecting") != std::string::npos;
      },
      60);
  fail_unless(seen, "cameras did not reach their states:\n%s", tail(launcher.err()).c_str());
  fail_unless_equals_int(launcher.stop(SIGTERM, 30), 0);
  check_no_password(launcher.out() + launcher.err(), password, "the log");

  /* What the HTTP API reports: every camera's status. */
  ElementCatalog elements;
  GpuResources gpus;
  {
    const Config config = load_config(config_path);
    CameraManager manager(config.cameras, elements, gpus);
    manager.start();
    auto state = [&](const char *id) { return manager.find(id)->state; };
    gpurtsp::test::wait_for(
        [&] {
          return state("good") == CameraState::Streaming &&
                 state("rejected") == CameraState::Unauthorized &&
                 state("unreachable") == CameraState::Reconnecting;
        },
        30);
    for (const CameraStatus &status : manager.list()) {
      const std::string text = status.id + " " + camera_state_name(status.state) + " " +
                               status.last_error + " " + status.codec + " " + status.decoder;
      g_print("%s\n", text.c_str());
      check_no_password(text, password, "a status");
    }
    fail_unless(state("rejected") == CameraState::Unauthorized);
    fail_unless(state("unreachable") == CameraState::Reconnecting);
    fail_unless(!manager.find("rejected")->last_error.empty());
  }
  g_unsetenv("LAUNCH_TEST_PASSWORD");
  g_remove(config_path.c_str());
  g_rmdir(dir);
}
GST_END_TEST;

static Suite *launch_process_suite() {
  Suite *s = suite_create("launch-process");
  TCase *tc = tcase_create("process");
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_sigterm_tears_down);
  tcase_add_test(tc, test_sigint_tears_down);
  tcase_add_test(tc, test_password_never_shown);
  return s;
}

static int requirements(gputest::Requirements &, int &argc, char **&argv) {
  if (argc < 2 || argc > 3) {
    g_printerr("usage: %s PATH-OF-gpurtsp-launch [DEMO-CAMERAS]\n", argv[0]);
    return 2;
  }
  launcher_path = argv[1];
  if (argc == 3)
    demo_cameras = unsigned(g_ascii_strtoull(argv[2], nullptr, 10));
  /* Taken: GStreamer's options are not parsed from them. */
  argc = 1;
  return 0;
}

GPUTEST_MAIN("launch-process", launch_process_suite, requirements)
