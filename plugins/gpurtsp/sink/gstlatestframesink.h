// SPDX-License-Identifier: MIT
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_LATEST_FRAME_SINK (gst_latest_frame_sink_get_type())
G_DECLARE_FINAL_TYPE(GstLatestFrameSink, gst_latest_frame_sink, GST, LATEST_FRAME_SINK, GstBaseSink)

G_END_DECLS
