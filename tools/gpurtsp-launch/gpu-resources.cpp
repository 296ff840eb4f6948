#include "gpu-resources.h"

#include "log.h"
#include "placement.h"

#include <string_view>
#include <vector>

#ifdef GPURTSP_LAUNCH_HAVE_CUDA
#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudautils.h>

static_assert(std::string_view(gpurtsp::launch::kCudaContextType) == GST_CUDA_CONTEXT_TYPE);
#endif

namespace gpurtsp::launch {

namespace {

/* Why gpurtsp did not register its CUDA elements, as the plugin recorded it
 * in the registry; empty if it did not say. */
std::string gpurtsp_missing_reason() {
  g_autoptr(GstPlugin) plugin = gst_registry_find_plugin(gst_registry_get(), "gpurtsp");
  const GstStructure *status = plugin ? gst_plugin_get_cache_data(plugin) : nullptr;
  const char *missing = status ? gst_structure_get_string(status, "missing") : nullptr;
  return missing ? missing : "";
}

bool have_element(const char *factory, std::string &why) {
  g_autoptr(GstElementFactory) found = gst_element_factory_find(factory);
  if (found)
    return true;
  const std::string reason = gpurtsp_missing_reason();
  why = std::string("element ") + factory + " is not available" +
        (reason.empty() ? "" : " (" + reason + ")");
  return false;
}

/* Whether @type is a stateless NVDEC decoder (libgstcodecs' base classes)
 * or the legacy one (nvcodec's GstNvDec); nullopt if neither. */
std::optional<bool> stateless_ancestry(GType type) {
  for (; type != 0; type = g_type_parent(type)) {
    const std::string_view name = g_type_name(type);
    if (name == "GstNvDec")
      return false;
    if (name == "GstH264Decoder" || name == "GstH265Decoder")
      return true;
  }
  return std::nullopt;
}

/* @factory as the element choices see it: its rank, the cuda-device-id it
 * was registered for and, with @ancestry, whether it is a stateless decoder. */
RegisteredElement describe_factory(GstElementFactory *factory, bool ancestry) {
  RegisteredElement described;
  described.name = gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory));
  described.rank = gst_plugin_feature_get_rank(GST_PLUGIN_FEATURE(factory));
  GstElement *element = gst_element_factory_create(factory, nullptr);
  if (!element)
    return described;
  gst_object_ref_sink(element);
  if (ancestry)
    described.stateless = stateless_ancestry(G_OBJECT_TYPE(element));
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element), "cuda-device-id")) {
    GValue value = G_VALUE_INIT, as_int = G_VALUE_INIT;
    g_object_get_property(G_OBJECT(element), "cuda-device-id", &value);
    g_value_init(&as_int, G_TYPE_INT);
    if (g_value_transform(&value, &as_int))
      described.device = g_value_get_int(&as_int);
    g_value_unset(&value);
    g_value_unset(&as_int);
  }
  gst_object_unref(element);
  return described;
}

/* The registered element factories whose names @wanted accepts. */
template <typename Wanted>
std::vector<RegisteredElement> registered(Wanted wanted, bool ancestry) {
  std::vector<RegisteredElement> found;
  GList *features = gst_registry_get_feature_list(gst_registry_get(), GST_TYPE_ELEMENT_FACTORY);
  for (GList *l = features; l; l = l->next)
    if (wanted(std::string(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(l->data)))))
      found.push_back(describe_factory(GST_ELEMENT_FACTORY(l->data), ancestry));
  gst_plugin_feature_list_free(features);
  return found;
}

} // namespace

GpuResources::~GpuResources() {
  for (auto &[index, gpu] : gpus_) {
    if (gpu.context)
      gst_context_unref(gpu.context);
    if (gpu.cuda_context)
      LAUNCH_DEBUG("GPU %d: releasing the CUDA context", index);
    gst_clear_object(&gpu.cuda_context);
  }
}

GpuResources::Gpu &GpuResources::gpu_state(int index) {
  auto [found, inserted] = gpus_.try_emplace(index);
  Gpu &gpu = found->second;
  if (!inserted)
    return gpu;
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
  if (!gst_cuda_load_library()) {
    gpu.why = "the CUDA driver library (libcuda.so.1) cannot be loaded";
  } else if (GstCudaContext *context = gst_cuda_context_new(guint(index))) {
    gpu.cuda_context = GST_OBJECT(context);
    gpu.context = gst_context_new_cuda_context(context);
  } else {
    gpu.why = "no usable CUDA device " + std::to_string(index);
  }
#else
  gpu.why = "gpurtsp-launch was built without gstreamer-cuda-1.0";
#endif
  return gpu;
}

bool GpuResources::usable(const CameraSettings &settings, std::string &why) {
  /* Elements first: they are cheap to look up, a CUDA context is not. */
  const ElementChoice encoder = jpeg_encoder(settings);
  if (encoder.factory.empty()) {
    why = encoder.reason;
    return false;
  }
  if (settings.width > 0 && !have_element("gpunv12torgb", why))
    return false;
  const ElementChoice decoder = decoder_choice(Decoder::Nvidia, Codec::H264, settings.gpu);
  if (decoder.factory.empty()) {
    why = decoder.reason;
    return false;
  }
  const Gpu &state = gpu_state(settings.gpu);
  why = state.why;
  return state.context != nullptr;
}

std::optional<Decoder> GpuResources::resolve(const CameraSettings &settings, std::string &why) {
  why.clear();
  if (settings.decoder == DecoderChoice::Software)
    return Decoder::Software;
  if (usable(settings, why))
    return Decoder::Nvidia;
  if (settings.decoder == DecoderChoice::Nvidia)
    return std::nullopt;
  return Decoder::Software;
}

GstRelease GpuResources::nvcodec_release() {
  g_autoptr(GstPlugin) nvcodec = gst_registry_find_plugin(gst_registry_get(), "nvcodec");
  if (nvcodec)
    if (auto release = parse_release(gst_plugin_get_version(nvcodec)))
      return *release;
  guint major = 0, minor = 0, micro = 0, nano = 0;
  gst_version(&major, &minor, &micro, &nano);
  return {major, minor};
}

ElementChoice GpuResources::decoder_choice(Decoder decoder, Codec codec, int gpu, DecodeMode mode) {
  if (decoder == Decoder::Software) {
    const std::string factory = software_decoder_factory(codec);
    return {factory, factory + ": software decoding, one thread per camera"};
  }
  std::lock_guard lock(decoders_lock_);
  if (mode == DecodeMode::Keyframes) {
    if (!have_keyframe_decoder_) {
      std::string why;
      have_keyframe_decoder_ = have_element(kKeyframeDecoderFactory, why);
      if (!*have_keyframe_decoder_)
        LAUNCH_WARNING("decode: keyframes falls back to one NVDEC decoder per camera: %s",
                       why.c_str());
    }
    if (*have_keyframe_decoder_)
      return {kKeyframeDecoderFactory,
              std::string(kKeyframeDecoderFactory) +
                  ": decode: keyframes, NVDEC sessions shared by the GPU's cameras"};
  }
  const auto key = std::make_pair(codec, gpu);
  if (auto found = decoders_.find(key); found != decoders_.end())
    return found->second;

  /* nvcodec registers decoders per GPU, each saying which device it drives;
   * which of them is stateless depends on the GStreamer release
   * (element-choice.h). The stateless one comes first: 1.22's nvh264dec
   * (CUVID's parser) opens a GL display in every instance, whatever its
   * output; on the H100 256 of them stalled start-up and the EGL driver's
   * threads crashed processes at teardown (docs/scale.md). */
  const std::string prefix = codec == Codec::H265 ? "nvh265" : "nvh264";
  const auto decoders = registered(
      [&](const std::string &name) { return name.starts_with(prefix) && name.ends_with("dec"); },
      true);
  ElementChoice chosen = choose_nvdec_decoder(decoders, codec, gpu, nvcodec_release());
  LAUNCH_DEBUG("GPU %d %s decoder: %s", gpu, codec_name(codec), chosen.reason.c_str());
  decoders_.emplace(key, chosen);
  return chosen;
}

ElementChoice GpuResources::jpeg_encoder(const CameraSettings &settings) {
  const bool scaling = settings.width > 0;
  const auto key = std::make_tuple(settings.jpeg_encoder, settings.gpu, scaling);
  std::lock_guard lock(decoders_lock_);
  if (auto found = jpeg_encoders_.find(key); found != jpeg_encoders_.end())
    return found->second;
  const auto encoders = registered(
      [](const std::string &name) { return name == "gpujpegenc" || is_nvjpegenc(name); }, false);
  bool fallback = false;
  ElementChoice chosen =
      choose_jpeg_encoder(encoders, settings.jpeg_encoder, settings.gpu, scaling, nvcodec_release(),
                          &fallback, gpurtsp_missing_reason());
  std::string why;
  if (is_nvjpegenc(chosen.factory) && !have_element("gpunv12torgb", why))
    chosen = {"", chosen.factory + " needs gpunv12torgb in front of it, but " + why};
  if (fallback)
    LAUNCH_WARNING("GPU %d, width set: %s", settings.gpu, chosen.reason.c_str());
  else
    LAUNCH_DEBUG("GPU %d JPEG encoder: %s", settings.gpu, chosen.reason.c_str());
  jpeg_encoders_.emplace(key, chosen);
  return chosen;
}

GstContext *GpuResources::pipeline_context(int gpu) const {
  auto found = gpus_.find(gpu);
  return found == gpus_.end() ? nullptr : found->second.context;
}

GstObject *GpuResources::cuda_context(int gpu) const {
  auto found = gpus_.find(gpu);
  return found == gpus_.end() ? nullptr : found->second.cuda_context;
}

std::set<GstObject *> GpuResources::contexts_in(GstElement *pipeline) {
  std::set<GstObject *> contexts;
  GstIterator *children = gst_bin_iterate_elements(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  for (bool done = false; !done;) {
    switch (gst_iterator_next(children, &item)) {
    case GST_ITERATOR_OK: {
      g_autoptr(GstQuery) query = gst_query_new_context(kCudaContextType);
      GstContext *context = nullptr;
      if (gst_element_query(GST_ELEMENT(g_value_get_object(&item)), query))
        gst_query_parse_context(query, &context);
      const GValue *value =
          context ? gst_structure_get_value(gst_context_get_structure(context), kCudaContextType)
                  : nullptr;
      if (value && G_VALUE_HOLDS_OBJECT(value))
        contexts.insert(GST_OBJECT(g_value_get_object(value)));
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

GpuResources::DecoderSlot &GpuResources::DecoderSlot::operator=(DecoderSlot &&other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    gpu_ = other.gpu_;
  }
  return *this;
}

void GpuResources::DecoderSlot::release() {
  if (!owner_)
    return;
  std::lock_guard lock(owner_->slots_lock_);
  owner_->slots_in_use_[gpu_]--;
  owner_ = nullptr;
}

bool GpuResources::owns_decoder(Decoder decoder, const CameraSettings &settings) {
  if (decoder != Decoder::Nvidia)
    return false;
  return settings.decode == DecodeMode::All ||
         decoder_factory(decoder, Codec::H264, settings.gpu, settings.decode) !=
             kKeyframeDecoderFactory;
}

GpuResources::DecoderSlot GpuResources::take_decoder_slot(int gpu, std::string &why) {
  const unsigned max = max_decoders_per_gpu_;
  std::lock_guard lock(slots_lock_);
  unsigned &in_use = slots_in_use_[gpu];
  if (max > 0 && in_use >= max) {
    why = "no NVDEC decoder left on GPU " + std::to_string(gpu) + " (" + std::to_string(in_use) +
          " in use, --max-decoders-per-gpu " + std::to_string(max) + ")";
    return {};
  }
  in_use++;
  return DecoderSlot(this, gpu);
}

unsigned GpuResources::decoder_slots_in_use(int gpu) const {
  std::lock_guard lock(slots_lock_);
  auto it = slots_in_use_.find(gpu);
  return it == slots_in_use_.end() ? 0 : it->second;
}

unsigned GpuResources::context_generation(int gpu) const {
  auto found = gpus_.find(gpu);
  return found == gpus_.end() ? 0 : found->second.generation;
}

void GpuResources::report_pipeline_error(int gpu, unsigned generation,
                                         const std::string &error_text) {
  auto found = gpus_.find(gpu);
  if (found == gpus_.end() || found->second.generation != generation ||
      !is_sticky_cuda_error(error_text))
    return;
  Gpu &state = found->second;
  LAUNCH_WARNING("GPU %d: CUDA context lost (%s): its cameras get a new context", gpu,
                 error_text.c_str());
  /* Pipelines still holding the old context keep their references until
   * they are torn down; the GPU's pools follow the new context. */
  if (state.context)
    gst_context_unref(state.context);
  gst_clear_object(&state.cuda_context);
  const unsigned next = state.generation + 1;
  gpus_.erase(found);
  gpu_state(gpu).generation = next;
}

int GpuResources::visible_gpus() {
  if (fake_gpus_)
    return *fake_gpus_;
  if (!visible_gpus_) {
    int count = 0;
#ifdef GPURTSP_LAUNCH_HAVE_CUDA
    if (!gst_cuda_load_library() || CuDeviceGetCount(&count) != CUDA_SUCCESS)
      count = 0;
#endif
    visible_gpus_ = count;
  }
  return *visible_gpus_;
}

bool GpuResources::on_keyframe_sessions(const CameraSettings &settings) {
  CameraSettings on_first = settings;
  if (on_first.gpu == kAutoGpu)
    on_first.gpu = 0; /* which decoders exist is the same on every GPU */
  return !owns_decoder(Decoder::Nvidia, on_first);
}

int GpuResources::place(const CameraSettings &settings) {
  int gpu = settings.gpu;
  const bool keyframes = on_keyframe_sessions(settings);
  if (gpu == kAutoGpu) {
    std::vector<GpuLoad> loads;
    {
      std::lock_guard lock(slots_lock_);
      for (int index = 0; index < visible_gpus(); index++) {
        const Placed &placed = placed_[index];
        loads.push_back({.gpu = index,
                         .usable = true,
                         .decoder_budget = max_decoders_per_gpu(),
                         .decoders_in_use = placed.cameras - placed.keyframe_cameras,
                         .keyframe_cameras = placed.keyframe_cameras,
                         .cameras = placed.cameras});
      }
    }
    /* A GPU whose context cannot be made takes no camera (contexts are
     * made once, on the main thread, outside the lock). */
    if (!fake_gpus_)
      for (GpuLoad &load : loads)
        load.usable = gpu_state(load.gpu).context != nullptr;
    std::string why;
    const std::optional<int> chosen =
        place_camera(loads, keyframes ? PlacementKind::Keyframes : PlacementKind::FullDecode, why);
    if (chosen) {
      gpu = *chosen;
    } else {
      /* Every GPU full (it will wait for a decoder there) or none usable
       * (resolve() says why): the first usable GPU, else 0. */
      gpu = 0;
      for (const GpuLoad &load : loads)
        if (load.usable) {
          gpu = load.gpu;
          break;
        }
      LAUNCH_DEBUG("gpu auto: %s; GPU %d", why.c_str(), gpu);
    }
  }
  std::lock_guard lock(slots_lock_);
  Placed &placed = placed_[gpu];
  placed.cameras++;
  if (keyframes)
    placed.keyframe_cameras++;
  return gpu;
}

void GpuResources::unplace(int gpu, const CameraSettings &settings) {
  const bool keyframes = on_keyframe_sessions(settings);
  std::lock_guard lock(slots_lock_);
  auto found = placed_.find(gpu);
  if (found == placed_.end() || found->second.cameras == 0)
    return;
  found->second.cameras--;
  if (keyframes && found->second.keyframe_cameras > 0)
    found->second.keyframe_cameras--;
}

std::vector<GpuResources::GpuFigures> GpuResources::figures() const {
  std::lock_guard lock(slots_lock_);
  std::vector<GpuFigures> figures;
  for (const auto &[gpu, placed] : placed_) {
    if (placed.cameras == 0)
      continue;
    auto slots = slots_in_use_.find(gpu);
    figures.push_back({gpu, placed.cameras, placed.keyframe_cameras,
                       slots == slots_in_use_.end() ? 0 : slots->second});
  }
  return figures;
}

} // namespace gpurtsp::launch
