// SPDX-License-Identifier: MIT
#include "keyframedec/counting-frame-pool.h"

#include <algorithm>

struct GpurtspCountingFramePool {
  GstCudaBufferPool parent;
  gint held;      /* atomic */
  gint in_flight; /* atomic */
};

struct GpurtspCountingFramePoolClass {
  GstCudaBufferPoolClass parent_class;
};

G_DEFINE_TYPE(GpurtspCountingFramePool, gpurtsp_counting_frame_pool, GST_TYPE_CUDA_BUFFER_POOL)

namespace {

GpurtspCountingFramePool *counting(GstBufferPool *pool) {
  return reinterpret_cast<GpurtspCountingFramePool *>(pool);
}

GstBufferPoolClass *parent_class() {
  return GST_BUFFER_POOL_CLASS(gpurtsp_counting_frame_pool_parent_class);
}

GstFlowReturn alloc_buffer(GstBufferPool *pool, GstBuffer **buffer,
                           GstBufferPoolAcquireParams *params) {
  GstFlowReturn ret = parent_class()->alloc_buffer(pool, buffer, params);
  if (ret == GST_FLOW_OK)
    g_atomic_int_inc(&counting(pool)->held);
  return ret;
}

void free_buffer(GstBufferPool *pool, GstBuffer *buffer) {
  parent_class()->free_buffer(pool, buffer);
  g_atomic_int_add(&counting(pool)->held, -1);
}

GstFlowReturn acquire_buffer(GstBufferPool *pool, GstBuffer **buffer,
                             GstBufferPoolAcquireParams *params) {
  GstFlowReturn ret = parent_class()->acquire_buffer(pool, buffer, params);
  if (ret == GST_FLOW_OK)
    g_atomic_int_inc(&counting(pool)->in_flight);
  return ret;
}

void release_buffer(GstBufferPool *pool, GstBuffer *buffer) {
  g_atomic_int_add(&counting(pool)->in_flight, -1);
  parent_class()->release_buffer(pool, buffer);
}

} // namespace

static void gpurtsp_counting_frame_pool_class_init(GpurtspCountingFramePoolClass *klass) {
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS(klass);
  pool_class->alloc_buffer = GST_DEBUG_FUNCPTR(alloc_buffer);
  pool_class->free_buffer = GST_DEBUG_FUNCPTR(free_buffer);
  pool_class->acquire_buffer = GST_DEBUG_FUNCPTR(acquire_buffer);
  pool_class->release_buffer = GST_DEBUG_FUNCPTR(release_buffer);
}

static void gpurtsp_counting_frame_pool_init(GpurtspCountingFramePool *) {}

namespace gpurtsp {

GstBufferPool *counting_frame_pool_new(GstCudaContext *ctx) {
  auto pool = static_cast<GpurtspCountingFramePool *>(
      g_object_new(gpurtsp_counting_frame_pool_get_type(), nullptr));
  gst_object_ref_sink(pool);
  /* What gst_cuda_buffer_pool_new() does; GstCudaBufferPool's dispose
   * drops this reference. */
  pool->parent.context = static_cast<GstCudaContext *>(gst_object_ref(ctx));
  return GST_BUFFER_POOL(pool);
}

unsigned counting_frame_pool_held(GstBufferPool *pool) {
  return static_cast<unsigned>(std::max(0, g_atomic_int_get(&counting(pool)->held)));
}

unsigned counting_frame_pool_in_flight(GstBufferPool *pool) {
  return static_cast<unsigned>(std::max(0, g_atomic_int_get(&counting(pool)->in_flight)));
}

} // namespace gpurtsp
