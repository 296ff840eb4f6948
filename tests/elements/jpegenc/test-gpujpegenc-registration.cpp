// SPDX-License-Identifier: MIT
/* gpujpegenc is registered where CUDA and nvJPEG are, and otherwise absent
 * with its reason recorded while the rest of the plugin keeps working. Runs
 * anywhere; on a GPU host it also hides nvJPEG to check that reason. */
#include <gpurtsp/plugin-status.hpp>
#include <glib/gstdio.h>
#include <sstream>
#include <string>
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

static bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/* gst-inspect-1.0 PLUGIN lists each element as "  NAME: Long name". From
 * GStreamer 1.24 it also prints the plugin's status warnings, which name the
 * elements left out, so a plain search would find those. */
static bool lists_element(const std::string &listing, const std::string &element) {
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) {
    const size_t start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, element.size() + 1, element + ":") == 0)
      return true;
  }
  return false;
}

/* What plugin.cpp recorded as missing in the registry, "" if nothing. */
static std::string recorded_missing() {
  GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), gpurtsp::plugin_status::kPlugin);
  fail_unless(plugin != nullptr, "the gpurtsp plugin is not in the registry");
  gst_object_unref(plugin);
  return gpurtsp::plugin_status::missing();
}

GST_START_TEST(test_registered_or_explained) {
  GstElementFactory *sink = gst_element_factory_find("latestframesink");
  fail_unless(sink != nullptr, "the rest of the plugin must register regardless");
  gst_object_unref(sink);

  const std::string missing = recorded_missing();
  GstElementFactory *encoder = gst_element_factory_find("gpujpegenc");
  if (encoder) {
    fail_if(contains(missing, "gpujpegenc"), "registered yet reported missing: %s",
            missing.c_str());
    gst_object_unref(encoder);
  } else {
    fail_unless(contains(missing, "gpujpegenc not registered: "),
                "absent without a reason; recorded: '%s'", missing.c_str());
    g_print("gpujpegenc absent here: %s\n", missing.c_str());
  }
}
GST_END_TEST;

/* gst-inspect in a fresh registry, with nvJPEG pointed at nothing: it must
 * list the plugin, leave gpujpegenc out, exit cleanly and log why. */
GST_START_TEST(test_gst_inspect_without_nvjpeg) {
  gchar *dir = g_dir_make_tmp("gpujpegenc-registry-XXXXXX", nullptr);
  fail_unless(dir != nullptr);
  gchar *registry = g_build_filename(dir, "registry.bin", nullptr);
  gchar **env = g_get_environ();
  env = g_environ_setenv(env, "GST_REGISTRY", registry, TRUE);
  env = g_environ_setenv(env, "GPURTSP_NVJPEG_LIBRARY", "/nonexistent/libnvjpeg.so.13", TRUE);
  env = g_environ_setenv(env, "GST_DEBUG", "gpurtsp:2", TRUE);
  env = g_environ_setenv(env, "GST_DEBUG_NO_COLOR", "1", TRUE);

  const gchar *argv[] = {"gst-inspect-1.0", "gpurtsp", nullptr};
  gchar *out = nullptr, *err = nullptr;
  gint status = 0;
  GError *error = nullptr;
  fail_unless(g_spawn_sync(nullptr, const_cast<gchar **>(argv), env, G_SPAWN_SEARCH_PATH, nullptr,
                           nullptr, &out, &err, &status, &error),
              "gst-inspect-1.0 could not be run: %s", error ? error->message : "?");
  fail_unless(g_spawn_check_wait_status(status, nullptr), "gst-inspect-1.0 failed:\n%s", err);
  const std::string stdout_text(out), stderr_text(err);

  fail_unless(lists_element(stdout_text, "latestframesink"), "plugin listing:\n%s", out);
  fail_if(lists_element(stdout_text, "gpujpegenc"), "gpujpegenc registered without nvJPEG:\n%s",
          out);
  fail_unless(contains(stderr_text, "gpujpegenc not registered: "), "log:\n%s", err);
  if (!contains(stderr_text, "gpunv12torgb, gpujpegenc not registered")) {
    /* CUDA is there, so the reason must be nvJPEG's. */
    fail_unless(contains(stderr_text, "nvJPEG could not be loaded") &&
                    contains(stderr_text, "/nonexistent/libnvjpeg.so.13"),
                "log:\n%s", err);
  }

  g_free(out);
  g_free(err);
  g_strfreev(env);
  g_unlink(registry);
  g_rmdir(dir);
  g_free(registry);
  g_free(dir);
}
GST_END_TEST;

static Suite *gpujpegenc_registration_suite() {
  Suite *s = suite_create("gpujpegenc-registration");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_registered_or_explained);
  tcase_add_test(tc, test_gst_inspect_without_nvjpeg);
  return s;
}

GST_CHECK_MAIN(gpujpegenc_registration)
