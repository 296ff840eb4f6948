/* SPDX-License-Identifier: MIT */
/* Waiting in the launcher's tests: the cameras' bus watches and ticks run on
 * the default main context, so a test waits by iterating it. */
#pragma once

#include <functional>

#include <glib.h>

namespace gpurtsp::test {

/* Runs the default main context until @done or @timeout_s; returns @done().
 * A 20 ms timer wakes the loop so @done is checked often, not only when a
 * camera's 1 s tick or a bus message comes. */
inline bool wait_for(const std::function<bool()> &done, double timeout_s) {
  const gint64 deadline = g_get_monotonic_time() + gint64(timeout_s * G_USEC_PER_SEC);
  const guint wake = g_timeout_add(
      20, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
  while (!done() && g_get_monotonic_time() < deadline)
    g_main_context_iteration(nullptr, TRUE);
  g_source_remove(wake);
  return done();
}

/* Runs the default main context for @seconds. */
inline void run_for(double seconds) {
  wait_for([] { return false; }, seconds);
}

} // namespace gpurtsp::test
