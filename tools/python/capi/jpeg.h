// SPDX-License-Identifier: MIT
/* JPEG encoding for Python's gpurtsp.encode_jpeg().
 *
 * CUDA memory is encoded by the plugin's gpujpegenc, in a persistent
 * `appsrc ! gpujpegenc ! appsink` pipeline per device that runs on the
 * process-wide CUDA context (gpurtsp_capi_cuda_context), so its nvJPEG
 * encoders come from the same per-context pool as the cameras' gpujpegenc
 * elements: the plugin's own pool instance, not a copy linked in here.
 * Host memory is encoded on the CPU by GStreamer's jpegenc (libjpeg), in an
 * `appsrc ! videoconvert ! jpegenc ! appsink` pipeline. Calls on one
 * pipeline are serialised; each waits for its JPEG. */
#pragma once

#include "capi/capi.h"
#include "capi/frame.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One image to encode. Layouts: RGB/BGR one plane of width * 3 bytes per
 * row; RGBP three planes of width bytes per row, plane_stride bytes apart;
 * NV12 luma rows then, plane_stride bytes after the luma's start, the
 * interleaved chroma rows. */
typedef struct GpurtspCapiImage {
  uint64_t data;  /* device pointer (device >= 0) or host pointer (device < 0) */
  int32_t device; /* CUDA ordinal, -1 for host memory */
  int32_t width;
  int32_t height;
  int32_t reserved;
  int64_t row_stride;   /* bytes between rows */
  int64_t plane_stride; /* bytes between planes (RGBP, NV12); 0 otherwise */
  uint64_t stream;      /* CUstream still writing the data, synchronised first; 0 none */
  char format[16];      /* "RGB", "BGR", "RGBP" or "NV12" */
} GpurtspCapiImage;

/* Encodes @image at @quality (1-100). On success returns 0 and a malloc'd
 * JPEG in @jpeg / @jpeg_size (free with gpurtsp_capi_free); else -1 and
 * @error. */
GPURTSP_CAPI int gpurtsp_capi_encode_jpeg(const GpurtspCapiImage *image, int quality, void **jpeg,
                                          size_t *jpeg_size, char *error, size_t error_size);

/* Encodes @frame's buffer as it is (no copy) where the encoder can read it:
 * host memory, or CUDA memory of the process-wide context of its device;
 * otherwise through a copy as gpurtsp_capi_encode_jpeg. */
GPURTSP_CAPI int gpurtsp_capi_encode_jpeg_frame(GpurtspCapiFrame *frame, int quality, void **jpeg,
                                                size_t *jpeg_size, char *error, size_t error_size);

GPURTSP_CAPI void gpurtsp_capi_free(void *data);

#ifdef __cplusplus
}
#endif
