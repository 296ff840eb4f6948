// SPDX-License-Identifier: MIT
/* library-loader.h: the one loader of NVIDIA's run-time libraries, checked
 * on libm, which every machine has: a missing library, a missing mandatory
 * symbol, a missing optional one. Needs no GPU. */
#include <string>

#include "core/library-loader.h"
/* Last: its fail() macros clash with the C++ library's headers. */
#include <gst/check/gstcheck.h>

using gpurtsp::LibrarySymbol;
using gpurtsp::load_library;

namespace {

struct MathApi {
  double (*cos)(double) = nullptr;
  double (*sqrt)(double) = nullptr;
  double (*absent)(double) = nullptr;
};

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

GST_START_TEST(test_missing_library) {
  MathApi api;
  std::string why;
  fail_if(load_library("/nonexistent/libgpurtsp-none.so.1",
                       {LibrarySymbol::mandatory_symbol("cos", api.cos)}, why));
  fail_unless(contains(why, "cannot load /nonexistent/libgpurtsp-none.so.1: "), "%s", why.c_str());
  fail_unless(api.cos == nullptr);
}
GST_END_TEST;

GST_START_TEST(test_every_symbol_resolved) {
  MathApi api;
  std::string why;
  fail_unless(load_library("libm.so.6",
                           {LibrarySymbol::mandatory_symbol("cos", api.cos),
                            LibrarySymbol::mandatory_symbol("sqrt", api.sqrt)},
                           why),
              "%s", why.c_str());
  fail_unless(api.cos && api.sqrt);
  fail_unless(api.sqrt(16.0) == 4.0);
  fail_unless(api.cos(0.0) == 1.0);
}
GST_END_TEST;

/* A missing optional symbol leaves its slot empty and the rest usable. */
GST_START_TEST(test_missing_optional_symbol) {
  MathApi api;
  api.absent = api.sqrt; /* any stale value must be cleared */
  std::string why;
  fail_unless(load_library("libm.so.6",
                           {LibrarySymbol::mandatory_symbol("sqrt", api.sqrt),
                            LibrarySymbol::optional_symbol("gpurtsp_no_such_entry", api.absent)},
                           why),
              "%s", why.c_str());
  fail_unless(api.sqrt != nullptr);
  fail_unless(api.absent == nullptr);
}
GST_END_TEST;

/* A missing mandatory symbol fails the whole table: no slot is left filled. */
GST_START_TEST(test_missing_mandatory_symbol) {
  MathApi api;
  std::string why;
  fail_if(load_library("libm.so.6",
                       {LibrarySymbol::mandatory_symbol("cos", api.cos),
                        LibrarySymbol::mandatory_symbol("gpurtsp_no_such_entry", api.absent),
                        LibrarySymbol::mandatory_symbol("sqrt", api.sqrt)},
                       why));
  fail_unless_equals_string(why.c_str(), "libm.so.6 lacks gpurtsp_no_such_entry");
  fail_unless(api.cos == nullptr && api.sqrt == nullptr && api.absent == nullptr);
}
GST_END_TEST;

static Suite *library_loader_suite() {
  Suite *s = suite_create("library-loader");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_missing_library);
  tcase_add_test(tc, test_every_symbol_resolved);
  tcase_add_test(tc, test_missing_optional_symbol);
  tcase_add_test(tc, test_missing_mandatory_symbol);
  return s;
}

GST_CHECK_MAIN(library_loader)
