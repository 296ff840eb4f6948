// SPDX-License-Identifier: MIT
/* Which CUDA contexts a launcher's pipelines use, for the tests that check
 * every CUDA element of every pipeline on a GPU shares GpuResources' ONE
 * context. Test-only: the launcher itself never needs to ask. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "camera-manager.h"
#include "element-catalog.h"
#include "gpu-resources.h"

namespace gpurtsp::test {

/* Whether the launcher can decode with NVDEC on GPU 0, where the tests with
 * --decoder nvidia expect their cameras; @reason says why not. A placed
 * camera: with gpu: auto (the default) resolve() would ask for GPU -1's
 * decoder and the tests would skip on every GPU host. */
inline bool nvidia_decoding_works(std::string &reason) {
  launch::ElementCatalog elements;
  launch::GpuResources gpus;
  launch::CameraSettings settings;
  settings.decoder = launch::DecoderChoice::Nvidia;
  settings.gpu = 0;
  return elements.resolve(settings, gpus, reason) == launch::Decoder::Nvidia;
}

/* The tests' --decoder option, software (default) or nvidia: sets @choice,
 * and for nvidia the runner's probe (@probe_what, @probe: the requirements
 * of gpu-test-runner.h). Returns 0, or 2 after saying what is wrong. */
inline int apply_decoder_option(const char *decoder, launch::DecoderChoice &choice,
                                const char *&probe_what,
                                std::function<bool(std::string &)> &probe) {
  if (g_strcmp0(decoder, "nvidia") == 0) {
    choice = launch::DecoderChoice::Nvidia;
    probe_what = "NVIDIA decoder";
    probe = nvidia_decoding_works;
  } else if (decoder && g_strcmp0(decoder, "software") != 0) {
    g_printerr("--decoder: software or nvidia\n");
    return 2;
  }
  return 0;
}

/* The GstCudaContext @context carries (transfer none), nullptr if none. */
inline GstObject *cuda_context_of(GstContext *context) {
  const GValue *value = context ? gst_structure_get_value(gst_context_get_structure(context),
                                                          launch::kCudaContextType)
                                : nullptr;
  return value && G_VALUE_HOLDS_OBJECT(value) ? GST_OBJECT(g_value_get_object(value)) : nullptr;
}

/* @gpu's shared context (a GstCudaContext) in @gpus, nullptr if none. */
inline GstObject *shared_cuda_context(const launch::GpuResources &gpus, int gpu) {
  return cuda_context_of(gpus.pipeline_context(gpu));
}

/* Every CUDA context the elements of @pipeline answer a context query with;
 * one shared context gives a set of one. */
inline std::set<GstObject *> contexts_in(GstElement *pipeline) {
  std::set<GstObject *> contexts;
  GstIterator *children = gst_bin_iterate_elements(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  for (bool done = false; !done;) {
    switch (gst_iterator_next(children, &item)) {
    case GST_ITERATOR_OK: {
      g_autoptr(GstQuery) query = gst_query_new_context(launch::kCudaContextType);
      GstContext *context = nullptr;
      if (gst_element_query(GST_ELEMENT(g_value_get_object(&item)), query))
        gst_query_parse_context(query, &context);
      if (GstObject *cuda_context = cuda_context_of(context))
        contexts.insert(cuda_context);
      g_value_reset(&item);
      break;
    }
    case GST_ITERATOR_RESYNC:
      contexts.clear();
      gst_iterator_resync(children);
      break;
    default:
      done = true;
      break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(children);
  return contexts;
}

/* The CUDA contexts the elements of the running pipelines of @cameras
 * (their ids) in @manager use. */
inline std::set<GstObject *> contexts_in_use(const launch::CameraManager &manager,
                                             const std::vector<std::string> &cameras) {
  std::set<GstObject *> contexts;
  for (const std::string &id : cameras)
    if (const launch::Camera *camera = manager.camera(id))
      if (GstElement *pipeline = camera->pipeline())
        contexts.merge(contexts_in(pipeline));
  return contexts;
}

} // namespace gpurtsp::test
