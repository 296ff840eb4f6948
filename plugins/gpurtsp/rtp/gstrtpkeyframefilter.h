// SPDX-License-Identifier: MIT
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTP_KEYFRAME_FILTER (gst_rtp_keyframe_filter_get_type())
G_DECLARE_FINAL_TYPE(GstRtpKeyframeFilter, gst_rtp_keyframe_filter, GST, RTP_KEYFRAME_FILTER,
                     GstElement)

G_END_DECLS
