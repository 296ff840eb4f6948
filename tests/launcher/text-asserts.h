/* SPDX-License-Identifier: MIT */
/* String assertions for the launcher's GstCheck tests. Include after
 * gstcheck.h. fail_unless_equals_string evaluates its arguments twice, so
 * temporaries (a std::string's c_str()) would die between the two: these
 * take each argument once. */
#pragma once

#include <string>

#define assert_equals_text(got, expected)                                                          \
  do {                                                                                             \
    const std::string got_ = (got), expected_ = (expected);                                        \
    fail_unless(got_ == expected_, "got \"%s\", expected \"%s\"", got_.c_str(),                    \
                expected_.c_str());                                                                \
  } while (0)

#define assert_contains(text, part)                                                                \
  do {                                                                                             \
    const std::string text_ = (text), part_ = (part);                                              \
    fail_unless(text_.find(part_) != std::string::npos, "\"%s\" lacks \"%s\"", text_.c_str(),      \
                part_.c_str());                                                                    \
  } while (0)
