// SPDX-License-Identifier: MIT
/* A frame of latestframesink (any GstSample of raw video) mapped for the
 * consumer: CUDA memory as a device pointer, system memory as a host
 * pointer, described as one uint8 tensor (DLPack, CUDA Array Interface,
 * NumPy's array interface).
 *
 * A frame owns one reference to its sample and keeps its buffer mapped
 * (GST_MAP_READ, plus GST_MAP_CUDA for CUDA memory) until its last reference
 * goes: the Python Frame holds one, every DLPack tensor made from it another,
 * so the buffer, and the upstream pool slot it occupies, outlive every view.
 * References are atomic: the last one may go on any thread (a DLPack deleter
 * runs wherever the consumer frees its tensor), without the GIL. */
#pragma once

#include "capi/capi.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct GpurtspCapiFrame GpurtspCapiFrame;

/* Tensor layout per format: packed RGB/BGR (and 4-byte RGBA-like formats)
 * H x W x C; planar RGBP/BGRP 3 x H x W; NV12 (C + ceil(H/2)) x W' (W'
 * = W rounded up to even: an odd width's last Cb/Cr pair is inside), the luma
 * rows then the interleaved chroma rows from row C = chroma_row: H for
 * tightly stacked planes, more where the luma plane is padded (odd heights
 * in GStreamer's default layout, decoders' aligned surfaces). Rows keep the
 * buffer's pitch. Strides are in bytes (= elements, uint8). */
typedef struct GpurtspCapiFrameInfo {
  uint64_t data;       /* address of the tensor's first byte */
  int32_t device_type; /* DLPack device type: 1 host, 2 CUDA */
  int32_t device_id;   /* CUDA ordinal; 0 on the host */
  int32_t ndim;        /* 2 or 3; 0 when layout_error is set */
  int32_t width;
  int32_t height;
  int32_t chroma_row; /* NV12: the tensor's row where the chroma starts (>= height) */
  int64_t shape[3];
  int64_t strides[3];
  uint64_t nbytes;       /* bytes from data to the tensor's last byte, inclusive */
  int64_t pts;           /* ns; -1 when the buffer has none */
  uint64_t sequence;     /* latestframesink's frame number (1, 2, ...); 0 for other samples */
  uint64_t arrival_time; /* monotonic ns when latestframesink stored it; 0 for other samples */
  uint64_t stream; /* CUstream that may still be writing the frame (GStreamer 1.24+); 0: none */
  char format[16]; /* GStreamer's name: "RGB", "BGR", "RGBP", "NV12", ... */
  char layout_error[200]; /* non-empty: why the planes cannot be one tensor */
  char colorimetry[32];   /* the caps' colorimetry, as GStreamer writes it ("bt709", "2:4:5:4") */
  char chroma_site[32];   /* the caps' chroma-site ("mpeg2", "jpeg"), "" when the caps name none */
} GpurtspCapiFrameInfo;

/* Wraps @sample (a GstSample * of video/x-raw, CUDA or system memory). With
 * @adopt the caller's reference is taken over, also on failure; otherwise
 * the frame takes a reference of its own. nullptr and @error on failure
 * (not raw video, unmappable buffer). */
GPURTSP_CAPI GpurtspCapiFrame *gpurtsp_capi_frame_new(void *sample, int adopt, char *error,
                                                      size_t error_size);
GPURTSP_CAPI GpurtspCapiFrame *gpurtsp_capi_frame_ref(GpurtspCapiFrame *frame);
GPURTSP_CAPI void gpurtsp_capi_frame_unref(GpurtspCapiFrame *frame);
/* Fills @info; it stays true for the frame's life. */
GPURTSP_CAPI void gpurtsp_capi_frame_info(const GpurtspCapiFrame *frame,
                                          GpurtspCapiFrameInfo *info);
/* The wrapped GstSample * (transfer none). */
GPURTSP_CAPI void *gpurtsp_capi_frame_sample(const GpurtspCapiFrame *frame);

/* The DLPack stream contract: returns once work queued on @consumer_stream
 * (a CUstream; 1 the legacy default stream, 2 the per-thread one) after
 * this call is ordered after everything gpurtsp queued on the frame. Where
 * the frame's memory carries a producer stream (GStreamer 1.24+) an event
 * recorded on it is made a dependency of @consumer_stream; elsewhere the
 * producer synchronised before pushing and nothing is needed. 0 on success,
 * -1 and @error on failure. */
GPURTSP_CAPI int gpurtsp_capi_frame_order_before(GpurtspCapiFrame *frame, uint64_t consumer_stream,
                                                 char *error, size_t error_size);

/* A new DLPack managed tensor viewing @frame (holding a frame reference
 * until its deleter runs): GpurtspDLManagedTensorVersioned when @versioned,
 * else GpurtspDLManagedTensor. nullptr and @error when the frame's planes
 * are not one tensor. */
GPURTSP_CAPI void *gpurtsp_capi_frame_dlpack(GpurtspCapiFrame *frame, int versioned, char *error,
                                             size_t error_size);
/* Runs the deleter of a managed tensor that no capsule took. */
GPURTSP_CAPI void gpurtsp_capi_dlpack_delete(void *managed, int versioned);
/* The names a producer gives its capsules ("dltensor", "dltensor_versioned"):
 * static strings, as PyCapsule_New wants a name that outlives the capsule. */
GPURTSP_CAPI const char *gpurtsp_capi_dlpack_capsule_name(int versioned);
/* PyCapsule_Destructor for those capsules: runs the tensor's deleter unless
 * a consumer took it (renamed the capsule "used_dltensor"). Python's capsule
 * functions are looked up in the process at run time (dlsym), so the library
 * does not depend on one Python version; a C function, unlike a ctypes
 * callback, stays callable while the interpreter shuts down. */
GPURTSP_CAPI void gpurtsp_capi_dlpack_capsule_destructor(void *capsule);

/* GST_TYPE_SAMPLE, to recognise a PyGObject wrapper's boxed type. */
GPURTSP_CAPI size_t gpurtsp_capi_sample_type(void);

/* Frames alive in the process (diagnostics and tests). */
GPURTSP_CAPI uint64_t gpurtsp_capi_frames_alive(void);

#ifdef __cplusplus
}
#endif
