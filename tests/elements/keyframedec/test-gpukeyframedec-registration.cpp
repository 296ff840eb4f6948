/* gpukeyframedec is registered exactly when a CUDA device and the NVDECODE
 * library are there; otherwise the plugin says why. */
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
  GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), "gpurtsp");
  fail_unless(plugin != nullptr);
  const GstStructure *cache = gst_plugin_get_cache_data(plugin);
  const char *missing = cache ? gst_structure_get_string(cache, "missing") : nullptr;
  fail_unless(missing != nullptr, "the plugin does not say what is missing");
  const std::string expected = "gpukeyframedec not registered: " + why;
  fail_unless(strstr(missing, expected.c_str()) != nullptr, "\"%s\" lacks \"%s\"", missing,
              expected.c_str());
  gst_object_unref(plugin);
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
