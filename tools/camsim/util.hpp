// SPDX-License-Identifier: MIT
/* camsim (internal): owning smart pointers for the GLib/GStreamer objects kept
 * in members (where g_autoptr cannot go), and small helpers. */
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

namespace gpurtsp::camsim {

/* Deleters are classes, not function pointers: gst_buffer_unref() and
 * gst_caps_unref() are static inline, which would give every type naming them
 * internal linkage. */
struct ObjectUnref {
  void operator()(gpointer object) const { g_object_unref(object); }
};
struct BufferUnref {
  void operator()(GstBuffer *buffer) const { gst_buffer_unref(buffer); }
};
struct CapsUnref {
  void operator()(GstCaps *caps) const { gst_caps_unref(caps); }
};
struct ContextUnref {
  void operator()(GMainContext *context) const { g_main_context_unref(context); }
};
struct LoopUnref {
  void operator()(GMainLoop *loop) const { g_main_loop_unref(loop); }
};

template <typename T>
using ObjectPtr = std::unique_ptr<T, ObjectUnref>;
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;
using CapsPtr = std::unique_ptr<GstCaps, CapsUnref>;
using ContextPtr = std::unique_ptr<GMainContext, ContextUnref>;
using LoopPtr = std::unique_ptr<GMainLoop, LoopUnref>;

/* GCC 12 has no std::format. */
std::string strprintf(const char *format, ...) G_GNUC_PRINTF(1, 2);

bool has_element(const char *factory);
/* Throws Error "GStreamer element @factory is missing: @hint". */
void require_element(const char *factory, const char *hint);

struct Options;

/* Mount paths of @options: "/cam0"... or the named mounts with a leading '/'. */
std::vector<std::string> mount_paths(const Options &options);
/* Throw Error naming the first unusable option: check_video_options() for
 * what a clip needs, check_options() for a whole server. */
void check_video_options(const Options &options);
void check_options(const Options &options, const std::vector<std::string> &paths);

} // namespace gpurtsp::camsim
