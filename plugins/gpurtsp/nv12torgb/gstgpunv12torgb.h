// SPDX-License-Identifier: MIT
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_GPU_NV12_TO_RGB (gst_gpu_nv12_to_rgb_get_type())
G_DECLARE_FINAL_TYPE(GstGpuNv12ToRgb, gst_gpu_nv12_to_rgb, GST, GPU_NV12_TO_RGB, GstBaseTransform)

G_END_DECLS
