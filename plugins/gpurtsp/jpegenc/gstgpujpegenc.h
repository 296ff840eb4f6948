// SPDX-License-Identifier: MIT
#pragma once

#include <gst/video/gstvideoencoder.h>

G_BEGIN_DECLS

#define GST_TYPE_GPU_JPEG_ENC (gst_gpu_jpeg_enc_get_type())
G_DECLARE_FINAL_TYPE(GstGpuJpegEnc, gst_gpu_jpeg_enc, GST, GPU_JPEG_ENC, GstVideoEncoder)

G_END_DECLS
