// SPDX-License-Identifier: MIT
#pragma once

#include <gst/video/gstvideodecoder.h>

G_BEGIN_DECLS

#define GST_TYPE_GPU_KEYFRAME_DEC (gst_gpu_keyframe_dec_get_type())
G_DECLARE_FINAL_TYPE(GstGpuKeyframeDec, gst_gpu_keyframe_dec, GST, GPU_KEYFRAME_DEC,
                     GstVideoDecoder)

G_END_DECLS
