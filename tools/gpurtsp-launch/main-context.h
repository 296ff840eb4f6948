// SPDX-License-Identifier: MIT
/* Timers of the camera core, on the thread's default GMainContext: for the
 * launcher's main thread that is the global default context; the Python API
 * (tools/python/capi) runs the core on a thread of its own with its own
 * context, so an application iterating the global one (a PyGObject main loop)
 * never runs camera code. Bus watches already follow the thread-default
 * context. */
#pragma once

#include <glib.h>

namespace gpurtsp::launch {

/* g_timeout_add() on the thread-default context. */
inline guint add_timeout(guint interval_ms, GSourceFunc function, gpointer data) {
  GSource *source = g_timeout_source_new(interval_ms);
  g_source_set_callback(source, function, data, nullptr);
  const guint id = g_source_attach(source, g_main_context_get_thread_default());
  g_source_unref(source);
  return id;
}

/* g_source_remove() of a source add_timeout() made on this thread. */
inline void remove_source(guint id) {
  GMainContext *context = g_main_context_get_thread_default();
  if (GSource *source =
          g_main_context_find_source_by_id(context ? context : g_main_context_default(), id))
    g_source_destroy(source);
}

} // namespace gpurtsp::launch
