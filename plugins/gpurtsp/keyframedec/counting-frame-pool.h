// SPDX-License-Identifier: MIT
/* gpurtsp: a GstCudaBufferPool that counts its frames, so that the shared
 * keyframe output frames can be trimmed to what is in use
 * (nvdec-session-pool.h). GstBufferPool keeps these counts private. */
#pragma once

#include "core/gpurtsp-cuda.h"

namespace gpurtsp {

/* A new CUDA buffer pool of @ctx, floating reference sunk. */
GstBufferPool *counting_frame_pool_new(GstCudaContext *ctx);
/* Frames @pool allocated and has not freed. */
unsigned counting_frame_pool_held(GstBufferPool *pool);
/* Frames acquired from @pool and not yet released to it. */
unsigned counting_frame_pool_in_flight(GstBufferPool *pool);

} // namespace gpurtsp
