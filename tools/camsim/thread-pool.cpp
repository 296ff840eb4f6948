// SPDX-License-Identifier: MIT
/* camsim: RTSP thread pool sharing a few threads between all media. */
#include "thread-pool.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

struct CamsimThreadPoolPrivate {
  std::mutex lock;
  /* Each slot holds a ref to the thread last made for it; guarded by lock. */
  std::vector<GstRTSPThread *> media_threads;
  size_t next = 0;       /* guarded by lock */
  bool released = false; /* guarded by lock: stop sharing, hold no refs */
};

struct _CamsimThreadPool {
  GstRTSPThreadPool parent;
  CamsimThreadPoolPrivate *priv;
};

G_DEFINE_TYPE(CamsimThreadPool, camsim_thread_pool, GST_TYPE_RTSP_THREAD_POOL)

static GstRTSPThread *camsim_thread_pool_get_thread(GstRTSPThreadPool *pool, GstRTSPThreadType type,
                                                    GstRTSPContext *ctx) {
  auto parent_class = GST_RTSP_THREAD_POOL_CLASS(camsim_thread_pool_parent_class);
  if (type != GST_RTSP_THREAD_TYPE_MEDIA)
    return parent_class->get_thread(pool, type, ctx);

  auto priv = CAMSIM_THREAD_POOL(pool)->priv;
  std::lock_guard guard(priv->lock);
  if (priv->released)
    return parent_class->get_thread(pool, type, ctx);
  GstRTSPThread *&slot = priv->media_threads[priv->next++ % priv->media_threads.size()];
  /* Every media stops its thread when done; a thread whose last media
   * stopped is quitting and cannot be reused, so it gets replaced. */
  if (slot && gst_rtsp_thread_reuse(slot))
    return slot;
  if (slot)
    gst_rtsp_thread_unref(slot);
  GstRTSPThread *thread = parent_class->get_thread(pool, type, ctx);
  slot = thread ? gst_rtsp_thread_ref(thread) : nullptr;
  return thread;
}

void camsim_thread_pool_release_threads(GstRTSPThreadPool *pool) {
  auto priv = CAMSIM_THREAD_POOL(pool)->priv;
  std::vector<GstRTSPThread *> threads;
  {
    std::lock_guard guard(priv->lock);
    priv->released = true;
    threads.swap(priv->media_threads);
  }
  for (GstRTSPThread *thread : threads) {
    if (thread)
      gst_rtsp_thread_unref(thread);
  }
}

static void camsim_thread_pool_finalize(GObject *object) {
  auto self = CAMSIM_THREAD_POOL(object);
  delete self->priv;
  G_OBJECT_CLASS(camsim_thread_pool_parent_class)->finalize(object);
}

static void camsim_thread_pool_class_init(CamsimThreadPoolClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = camsim_thread_pool_finalize;
  GST_RTSP_THREAD_POOL_CLASS(klass)->get_thread = camsim_thread_pool_get_thread;
}

static void camsim_thread_pool_init(CamsimThreadPool *self) {
  self->priv = new CamsimThreadPoolPrivate;
}

GstRTSPThreadPool *camsim_thread_pool_new(int threads) {
  auto pool = static_cast<CamsimThreadPool *>(g_object_new(CAMSIM_TYPE_THREAD_POOL, nullptr));
  pool->priv->media_threads.assign(std::max(1, threads), nullptr);
  gst_rtsp_thread_pool_set_max_threads(GST_RTSP_THREAD_POOL(pool), std::max(1, threads));
  return GST_RTSP_THREAD_POOL(pool);
}
