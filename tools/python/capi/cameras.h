// SPDX-License-Identifier: MIT
/* The camera-level C ABI of the Python package (gpurtsp.Cameras): the
 * launcher's camera core (CameraManager, Camera: config validation, pipeline
 * choice, one CUDA context per GPU, reconnect/backoff/stall watchdog,
 * status) driven from any thread.
 *
 * The core is main-thread-only GLib code: each GpurtspCameras runs it on a
 * thread of its own, iterating a GMainContext of its own, and every call
 * below runs its work there and waits for it. So any number of threads may
 * call concurrently, and an application's own GLib main loop never runs
 * camera code. Calls block (ctypes releases the GIL around them).
 *
 * Errors: functions that can fail return a negative number or nullptr and
 * write a one-line message into @error (@error_size bytes, may be null),
 * e.g. "fps: 500 is out of range (0 to 120)" — the config file's message
 * and key. Strings returned as char * are malloc'd: free with
 * gpurtsp_capi_free(). Samples are GstSample * (transfer full). */
#pragma once

#include "capi/capi.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct GpurtspCameras GpurtspCameras;

/* Return codes besides 0. */
enum {
  GPURTSP_CAPI_ERROR = -1,      /* see @error */
  GPURTSP_CAPI_CLOSED = -2,     /* gpurtsp_cameras_close() came first */
  GPURTSP_CAPI_NO_CAMERA = -3,  /* no camera with that id */
  GPURTSP_CAPI_NO_FRAME = -4,   /* none yet */
  GPURTSP_CAPI_CUDA_FRAME = -5, /* latest_jpeg of a raw CUDA frame: encode it with encode_jpeg */
};

/* Starts the core's thread; cameras decoding on the GPU use CUDA device @gpu
 * unless a camera says otherwise (gpu: auto spreads them). nullptr and @error
 * when GStreamer or the gpurtsp plugin cannot be loaded. */
GPURTSP_CAPI GpurtspCameras *gpurtsp_cameras_new(int gpu, char *error, size_t error_size);
/* Stops every camera, waits until their pipelines are down and ends the
 * thread. Idempotent; calls afterwards fail with GPURTSP_CAPI_CLOSED. Frames
 * already handed out stay valid. */
GPURTSP_CAPI void gpurtsp_cameras_close(GpurtspCameras *cameras);
/* Closes if needed and frees @cameras; no call may be in flight or follow. */
GPURTSP_CAPI void gpurtsp_cameras_free(GpurtspCameras *cameras);

/* Adds and starts camera @id. @camera: a JSON object with the keys of a
 * camera in cameras.yaml ({"url": "rtsp://...", "fps": 10}), checked as
 * PUT /api/cameras/ID checks it; @format: "RGB", "BGR", "RGBP", "NV12" or
 * "JPEG". 0, or an error naming the key. */
GPURTSP_CAPI int gpurtsp_cameras_add(GpurtspCameras *cameras, const char *id, const char *camera,
                                     const char *format, char *error, size_t error_size);
/* Adds and starts every camera of the cameras.yaml at @path, each with
 * @format; all or none. Sets *@ids to a JSON list of their ids. */
GPURTSP_CAPI int gpurtsp_cameras_load(GpurtspCameras *cameras, const char *path, const char *format,
                                      char **ids, char *error, size_t error_size);
/* Stops the camera and forgets it; its frames already handed out stay
 * valid. */
GPURTSP_CAPI int gpurtsp_cameras_remove(GpurtspCameras *cameras, const char *id, char *error,
                                        size_t error_size);
/* A JSON list of the ids, in the order added; nullptr once closed. */
GPURTSP_CAPI char *gpurtsp_cameras_list(GpurtspCameras *cameras);

/* Connects again after a stop (backoff reset), or stops a camera: the
 * pipeline goes, the newest frames stay served. */
GPURTSP_CAPI int gpurtsp_camera_start(GpurtspCameras *cameras, const char *id, char *error,
                                      size_t error_size);
GPURTSP_CAPI int gpurtsp_camera_stop(GpurtspCameras *cameras, const char *id, char *error,
                                     size_t error_size);
/* A JSON object: id, state (the launcher's, or "stopped"), fps, frames, last_frame_age_ms (null
 * before the first frame), reconnects, last_error, width, height, codec, decoder, gpu, format,
 * buffer_size, running. nullptr, *@code and @error. */
GPURTSP_CAPI char *gpurtsp_camera_status(GpurtspCameras *cameras, const char *id, int *code,
                                         char *error, size_t error_size);
/* The newest frame in the camera's format (GstSample *, transfer full), or
 * nullptr and *@code (GPURTSP_CAPI_NO_FRAME, _NO_CAMERA, _CLOSED). */
GPURTSP_CAPI void *gpurtsp_camera_latest_sample(GpurtspCameras *cameras, const char *id, int *code);
/* Up to @n of the newest frames, newest first, into @samples (transfer
 * full each); their number, or a negative code. */
GPURTSP_CAPI int gpurtsp_camera_latest_samples(GpurtspCameras *cameras, const char *id, unsigned n,
                                               void **samples);
/* The newest frame as JPEG bytes into *@jpeg (free with gpurtsp_capi_free)
 * and *@size: the stored JPEG for format JPEG, else the newest raw frame
 * encoded now (jpegenc, @quality) when it is in host memory;
 * GPURTSP_CAPI_CUDA_FRAME for frames in CUDA memory. */
GPURTSP_CAPI int gpurtsp_camera_latest_jpeg(GpurtspCameras *cameras, const char *id, int quality,
                                            void **jpeg, size_t *size, char *error,
                                            size_t error_size);
/* Waits until the camera has stored frames past number @seen (frames
 * counted since gpurtsp_cameras_new, by this ABI), at most @timeout_ms;
 * returns the count then (== @seen on a timeout), or a negative code. For
 * on_frame callbacks: the waiting thread is the caller's, never a streaming
 * thread. */
GPURTSP_CAPI int64_t gpurtsp_camera_wait_frame(GpurtspCameras *cameras, const char *id,
                                               int64_t seen, int timeout_ms);

#ifdef __cplusplus
}
#endif
