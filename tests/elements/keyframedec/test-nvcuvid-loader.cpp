// SPDX-License-Identifier: MIT
/* The NVDECODE loader fails cleanly, naming what is missing. (The structure
 * layouts are NVIDIA's own: plugins/gpurtsp/nvidia/.) */
#include "keyframedec/nvcuvid-loader.h"

/* Last: gstcheck's fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

namespace nv = gpurtsp::nvcuvid;

GST_START_TEST(test_missing_library) {
  nv::Api api{};
  std::string why;
  fail_if(nv::load("/nonexistent/libnvcuvid.so.1", api, why));
  fail_unless(why.find("cannot load /nonexistent/libnvcuvid.so.1") != std::string::npos, "%s",
              why.c_str());
  fail_unless(api.cuvidCreateDecoder == nullptr);
}
GST_END_TEST;

GST_START_TEST(test_library_without_symbols) {
  nv::Api api{};
  std::string why;
  fail_if(nv::load("libm.so.6", api, why));
  fail_unless(why.find("libm.so.6 lacks cuvidCreateVideoParser") != std::string::npos, "%s",
              why.c_str());
  fail_unless(api.cuvidCreateVideoParser == nullptr && api.cuvidDecodePicture == nullptr);
}
GST_END_TEST;

/* The real library: either every required entry point, or a reason. */
GST_START_TEST(test_driver_library) {
  std::string why;
  const nv::Api *api = nv::api(why);
  if (!api) {
    fail_unless(why.find("libnvcuvid.so.1") != std::string::npos, "%s", why.c_str());
    fail_unless(nv::api(why) == nullptr); /* the answer does not change */
    return;
  }
  fail_unless(api->cuvidCreateVideoParser && api->cuvidParseVideoData &&
              api->cuvidDestroyVideoParser);
  fail_unless(api->cuvidCreateDecoder && api->cuvidDestroyDecoder && api->cuvidDecodePicture);
  fail_unless(api->cuvidMapVideoFrame64 && api->cuvidUnmapVideoFrame64 && api->cuvidGetDecoderCaps);
}
GST_END_TEST;

static Suite *nvcuvid_loader_suite() {
  Suite *s = suite_create("nvcuvid-loader");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_missing_library);
  tcase_add_test(tc, test_library_without_symbols);
  tcase_add_test(tc, test_driver_library);
  return s;
}

GST_CHECK_MAIN(nvcuvid_loader);
