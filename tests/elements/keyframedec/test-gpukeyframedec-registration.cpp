// SPDX-License-Identifier: MIT
/* gpukeyframedec is registered exactly when a CUDA device and the NVDECODE
 * library are there; otherwise the plugin says why. */
#include <gpurtsp/plugin-status.hpp>

#include "core/gpurtsp-cuda.h"
#include "keyframedec/nvcuvid-loader.h"

/* Last: gstcheck's fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

GST_START_TEST(test_registered_when_usable) {
  std::string why;
  const bool usable = gpurtsp::cuda_device_available(why) && gpurtsp::nvcuvid::api(why);
  GstElementFactory *factory = gst_element_factory_find("gpukeyframedec");
  if (usable) {
    fail_unless(factory != nullptr, "GPU and NVDECODE present but gpukeyframedec missing");
    gst_object_unref(factory);
    return;
  }
  fail_unless(factory == nullptr, "gpukeyframedec registered although %s", why.c_str());
  GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), gpurtsp::plugin_status::kPlugin);
  fail_unless(plugin != nullptr);
  gst_object_unref(plugin);
  const std::string missing = gpurtsp::plugin_status::missing();
  fail_unless(!missing.empty(), "the plugin does not say what is missing");
  const std::string expected = "gpukeyframedec not registered: " + why;
  fail_unless(missing.find(expected) != std::string::npos, "\"%s\" lacks \"%s\"", missing.c_str(),
              expected.c_str());
}
GST_END_TEST;

static Suite *registration_suite() {
  Suite *s = suite_create("gpukeyframedec-registration");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_registered_when_usable);
  return s;
}

GST_CHECK_MAIN(registration);
