// SPDX-License-Identifier: MIT
/* When the launcher lowers a CUDA stack limit a kernel raised
 * (stack-trim.h): the schedule alone, no GPU. */
#include "stack-trim.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using gpurtsp::launch::StackTrimSchedule;

static constexpr int64_t kFirst = StackTrimSchedule::kFirstIntervalUs;

GST_START_TEST(test_first_check_after_a_minute) {
  StackTrimSchedule schedule(1000);
  fail_if(schedule.due(1000));
  fail_if(schedule.due(1000 + kFirst - 1));
  fail_unless(schedule.due(1000 + kFirst));
}
GST_END_TEST;

GST_START_TEST(test_limit_that_keeps_coming_back_is_checked_less_often) {
  StackTrimSchedule schedule(0);
  int64_t now = kFirst;
  /* Raised and lowered: the next check is a minute away, as before. */
  fail_unless_equals_int64(schedule.checked(now, true, true), kFirst);
  /* Raised again since: 2, 4, 8 ... minutes, up to an hour. */
  int64_t expected = kFirst;
  for (int i = 0; i < 10; i++) {
    now += expected;
    fail_unless(schedule.due(now));
    expected = std::min(expected * 2, StackTrimSchedule::kMaxIntervalUs);
    fail_unless_equals_int64(schedule.checked(now, true, true), expected);
    fail_if(schedule.due(now + expected - 1));
  }
  fail_unless_equals_int64(expected, StackTrimSchedule::kMaxIntervalUs);
  /* Found low at a check: back to every minute. */
  now += expected;
  fail_unless_equals_int64(schedule.checked(now, false, false), kFirst);
}
GST_END_TEST;

GST_START_TEST(test_burst_then_quiet_stays_at_a_minute) {
  /* Cameras added and removed: raised once, lowered, then found low. */
  StackTrimSchedule schedule(0);
  fail_unless_equals_int64(schedule.checked(kFirst, true, true), kFirst);
  fail_unless_equals_int64(schedule.checked(2 * kFirst, false, false), kFirst);
  fail_unless_equals_int64(schedule.checked(3 * kFirst, true, true), kFirst);
}
GST_END_TEST;

GST_START_TEST(test_refused_lowering_does_not_back_off) {
  /* The driver kept the limit: no evidence a kernel still needs it. */
  StackTrimSchedule schedule(0);
  fail_unless_equals_int64(schedule.checked(kFirst, true, false), kFirst);
  fail_unless_equals_int64(schedule.checked(2 * kFirst, true, false), kFirst);
}
GST_END_TEST;

static Suite *stack_trim_suite() {
  Suite *s = suite_create("launch-stack-trim");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_first_check_after_a_minute);
  tcase_add_test(tc, test_limit_that_keeps_coming_back_is_checked_less_often);
  tcase_add_test(tc, test_burst_then_quiet_stays_at_a_minute);
  tcase_add_test(tc, test_refused_lowering_does_not_back_off);
  return s;
}

GST_CHECK_MAIN(stack_trim)
