// SPDX-License-Identifier: MIT
/* The DLPack structures (https://dmlc.github.io/dlpack/latest/c_api.html),
 * written from the DLPack 1.0 specification: the exchange is an ABI, so only
 * the layout matters. Debian 12's libdlpack-dev is 0.6, without the versioned
 * tensor that Python's array API (max_version=(1, 0)) asks for. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { kGpurtspDLCPU = 1, kGpurtspDLCUDA = 2 };          /* DLDeviceType */
enum { kGpurtspDLUInt = 1 };                             /* DLDataTypeCode */
#define GPURTSP_DLPACK_FLAG_READ_ONLY (UINT64_C(1) << 0) /* DLPACK_FLAG_BITMASK_READ_ONLY */

typedef struct {
  int32_t device_type;
  int32_t device_id;
} GpurtspDLDevice;

typedef struct {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
} GpurtspDLDataType;

typedef struct {
  void *data;
  GpurtspDLDevice device;
  int32_t ndim;
  GpurtspDLDataType dtype;
  int64_t *shape;
  int64_t *strides; /* in elements */
  uint64_t byte_offset;
} GpurtspDLTensor;

/* DLManagedTensor: the legacy ("dltensor") capsule's content. */
typedef struct GpurtspDLManagedTensor {
  GpurtspDLTensor dl_tensor;
  void *manager_ctx;
  void (*deleter)(struct GpurtspDLManagedTensor *self);
} GpurtspDLManagedTensor;

typedef struct {
  uint32_t major;
  uint32_t minor;
} GpurtspDLPackVersion;

/* DLManagedTensorVersioned: the "dltensor_versioned" capsule's content. */
typedef struct GpurtspDLManagedTensorVersioned {
  GpurtspDLPackVersion version;
  void *manager_ctx;
  void (*deleter)(struct GpurtspDLManagedTensorVersioned *self);
  uint64_t flags;
  GpurtspDLTensor dl_tensor;
} GpurtspDLManagedTensorVersioned;

#ifdef __cplusplus
}
#endif
