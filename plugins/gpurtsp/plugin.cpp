// SPDX-License-Identifier: MIT
/* gpurtsp plugin: registers the elements; nothing else lives here. */
#include <gst/gst.h>

#include <string>

#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/gpukeyframedec.hpp>
#include <gpurtsp/gpunv12torgb.hpp>
#include <gpurtsp/latestframesink.hpp>
#include <gpurtsp/plugin-status.hpp>
#include <gpurtsp/rtpkeyframefilter.hpp>

#include "sink/gstlatestframesink.h"
#include "rtp/gstrtpkeyframefilter.h"
#ifdef GPURTSP_HAVE_CUDA
#include "core/cuda-version-rule.h"
#include "core/gpurtsp-cuda.h"
#include "nv12torgb/gstgpunv12torgb.h"
#include "jpegenc/gstgpujpegenc.h"
#include "jpegenc/nvjpeg-loader.h"
#include "keyframedec/gstgpukeyframedec.h"
#include "keyframedec/nvcuvid-loader.h"
#endif

GST_DEBUG_CATEGORY_STATIC(gpurtsp_plugin_debug);
#define GST_CAT_DEFAULT gpurtsp_plugin_debug

/* Says which elements are missing and why, where a user can find it: the
 * plugin's status (GStreamer >= 1.24 prints it in gst-inspect), the debug log,
 * and the registry cache (gpurtsp-launch reads it to explain itself). */
static void report_missing(GstPlugin *plugin, const char *elements, const std::string &why) {
  std::string text = std::string(elements) + " not registered: " + why;
  GST_WARNING_OBJECT(plugin, "%s", text.c_str());
#if GST_CHECK_VERSION(1, 24, 0)
  gst_plugin_add_status_warning(plugin, text.c_str());
#endif
  const GstStructure *old = gst_plugin_get_cache_data(plugin);
  namespace field = gpurtsp::plugin_status;
  GstStructure *status = old ? gst_structure_copy(old) : gst_structure_new_empty(field::kName);
  const char *prev = gst_structure_get_string(status, field::kMissing);
  std::string all = prev ? std::string(prev) + "; " + text : text;
  gst_structure_set(status, field::kMissing, G_TYPE_STRING, all.c_str(), nullptr);
  gst_plugin_set_cache_data(plugin, status);
}

static gboolean plugin_init(GstPlugin *plugin) {
  GST_DEBUG_CATEGORY_INIT(gpurtsp_plugin_debug, "gpurtsp", 0, "gpurtsp plugin");

  gboolean ok = gst_element_register(plugin, gpurtsp::latestframesink::kFactory, GST_RANK_NONE,
                                     GST_TYPE_LATEST_FRAME_SINK);
  ok &= gst_element_register(plugin, gpurtsp::rtpkeyframefilter::kFactory, GST_RANK_NONE,
                             GST_TYPE_RTP_KEYFRAME_FILTER);

#ifdef GPURTSP_HAVE_CUDA
  /* Re-probe when the driver's device nodes appear or change, instead of
   * caching "no GPU" in the registry forever. */
  gst_plugin_add_dependency_simple(plugin, "CUDA_VISIBLE_DEVICES", "/dev", "nvidiactl",
                                   GST_PLUGIN_DEPENDENCY_FLAG_FILE_NAME_IS_PREFIX);
  /* Likewise when nvJPEG is installed or pointed elsewhere. */
  gst_plugin_add_dependency_simple(plugin, "GPURTSP_NVJPEG_LIBRARY:LD_LIBRARY_PATH",
                                   "/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/local/cuda/lib64",
                                   "libnvjpeg.so", GST_PLUGIN_DEPENDENCY_FLAG_FILE_NAME_IS_PREFIX);
  guint run_major = 0, run_minor = 0, run_micro = 0, run_nano = 0;
  gst_version(&run_major, &run_minor, &run_micro, &run_nano);
  std::string why = gpurtsp::cuda_version_mismatch(GST_VERSION_MINOR, run_major, run_minor);
  if (!why.empty()) {
    report_missing(plugin, "gpunv12torgb, gpujpegenc", why);
    report_missing(plugin, "gpukeyframedec", why);
    return ok;
  }
  if (!gpurtsp::cuda_device_available(why)) {
    report_missing(plugin, "gpunv12torgb, gpujpegenc", why);
    report_missing(plugin, "gpukeyframedec", why);
    return ok;
  }
  /* The CUDA allocator our buffer pools draw from; nvcodec registers it too,
   * but our elements must not depend on nvcodec having been loaded first. */
  gst_cuda_memory_init_once();
  ok &= gst_element_register(plugin, gpurtsp::gpunv12torgb::kFactory, GST_RANK_NONE,
                             GST_TYPE_GPU_NV12_TO_RGB);
  if (gpurtsp::nvjpeg::api(why))
    ok &= gst_element_register(plugin, gpurtsp::gpujpegenc::kFactory, GST_RANK_NONE,
                               GST_TYPE_GPU_JPEG_ENC);
  else
    report_missing(plugin, "gpujpegenc", why);
  if (gpurtsp::nvcuvid::api(why))
    ok &= gst_element_register(plugin, gpurtsp::gpukeyframedec::kFactory, GST_RANK_NONE,
                               GST_TYPE_GPU_KEYFRAME_DEC);
  else
    report_missing(plugin, "gpukeyframedec", why);
#else
  report_missing(plugin, "gpunv12torgb, gpujpegenc",
                 "gpurtsp was built without CUDA (nvcc or gstreamer-cuda-1.0 not found)");
  report_missing(plugin, "gpukeyframedec",
                 "gpurtsp was built without CUDA (nvcc or gstreamer-cuda-1.0 not found)");
#endif
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, gpurtsp,
                  "GPU RTSP ingest: NVDEC keyframe decoding, RTP keyframe filtering, CUDA colour "
                  "conversion, nvJPEG encoding, newest-frame sink",
                  plugin_init, GPURTSP_VERSION, "MIT/X11", "gpurtsp",
                  "https://github.com/gpurtsp/gpurtsp")
