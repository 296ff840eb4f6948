// SPDX-License-Identifier: MIT
#include "element-catalog.h"

#include <gpurtsp/plugin-status.hpp>

#include <string_view>

#include "gpu-resources.h"
#include "log.h"

namespace gpurtsp::launch {

namespace {

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
  const char *device_id = catalog::nvcodec::property::kCudaDeviceId;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element), device_id)) {
    GValue value = G_VALUE_INIT, as_int = G_VALUE_INIT;
    g_object_get_property(G_OBJECT(element), device_id, &value);
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

bool ElementCatalog::have_element(const char *factory, std::string &why) {
  g_autoptr(GstElementFactory) found = gst_element_factory_find(factory);
  if (found)
    return true;
  const std::string reason = plugin_status::missing();
  why = std::string("element ") + factory + " is not available" +
        (reason.empty() ? "" : " (" + reason + ")");
  return false;
}

GstRelease ElementCatalog::nvcodec_release() {
  g_autoptr(GstPlugin) nvcodec =
      gst_registry_find_plugin(gst_registry_get(), catalog::nvcodec::kPlugin);
  if (nvcodec)
    if (auto release = parse_release(gst_plugin_get_version(nvcodec)))
      return *release;
  guint major = 0, minor = 0, micro = 0, nano = 0;
  gst_version(&major, &minor, &micro, &nano);
  return {major, minor};
}

bool ElementCatalog::nvidia_elements(const CameraSettings &settings, std::string &why) {
  if (settings.format != OutputFormat::Jpeg) {
    /* Raw frames (the Python API) need the converter, not an encoder. */
    if (!have_element(catalog::gpunv12torgb::kFactory, why))
      return false;
  } else {
    const ElementChoice encoder = jpeg_encoder(settings);
    if (encoder.factory.empty()) {
      why = encoder.reason;
      return false;
    }
    if (settings.width > 0 && !have_element(catalog::gpunv12torgb::kFactory, why))
      return false;
  }
  const ElementChoice decoder = decoder_choice(Decoder::Nvidia, Codec::H264, settings.gpu);
  if (decoder.factory.empty()) {
    why = decoder.reason;
    return false;
  }
  return true;
}

std::optional<Decoder> ElementCatalog::resolve(const CameraSettings &settings, GpuResources &gpus,
                                               std::string &why) {
  why.clear();
  if (settings.decoder == DecoderChoice::Software)
    return Decoder::Software;
  /* Elements first: they are cheap to look up, a CUDA context is not. */
  if (nvidia_elements(settings, why) && gpus.has_context(settings.gpu, why))
    return Decoder::Nvidia;
  if (settings.decoder == DecoderChoice::Nvidia)
    return std::nullopt;
  return Decoder::Software;
}

ElementChoice ElementCatalog::decoder_choice(Decoder decoder, Codec codec, int gpu,
                                             DecodeMode mode) {
  if (decoder == Decoder::Software) {
    const std::string factory = software_decoder_factory(codec);
    return {factory, factory + ": software decoding, one thread per camera"};
  }
  std::lock_guard lock(lock_);
  if (mode == DecodeMode::Keyframes) {
    const char *pooled = catalog::gpukeyframedec::kFactory;
    if (!have_keyframe_decoder_) {
      std::string why;
      have_keyframe_decoder_ = have_element(pooled, why);
      if (!*have_keyframe_decoder_)
        LAUNCH_WARNING("decode: keyframes falls back to one NVDEC decoder per camera: %s",
                       why.c_str());
    }
    if (*have_keyframe_decoder_)
      return {pooled, std::string(pooled) +
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
  const std::string prefix = codec == Codec::H265 ? catalog::nvcodec::kH265DecoderPrefix
                                                  : catalog::nvcodec::kH264DecoderPrefix;
  const auto decoders = registered(
      [&](const std::string &name) {
        return name.starts_with(prefix) && name.ends_with(catalog::nvcodec::kDecoderSuffix);
      },
      true);
  ElementChoice chosen = choose_nvdec_decoder(decoders, codec, gpu, nvcodec_release());
  LAUNCH_DEBUG("GPU %d %s decoder: %s", gpu, codec_name(codec), chosen.reason.c_str());
  decoders_.emplace(key, chosen);
  return chosen;
}

ElementChoice ElementCatalog::thumbnail_encoder(const CameraSettings &settings) {
  CameraSettings scaling = settings;
  scaling.jpeg_encoder = JpegEncoderChoice::Auto;
  scaling.width = settings.thumbnail_width > 0 ? settings.thumbnail_width : 320;
  ElementChoice chosen = jpeg_encoder(scaling);
  std::string why;
  if (!chosen.factory.empty() && !have_element(catalog::gpunv12torgb::kFactory, why))
    chosen = {"", "the thumbnail needs gpunv12torgb to scale, but " + why};
  return chosen;
}

ElementChoice ElementCatalog::jpeg_encoder(const CameraSettings &settings) {
  const bool scaling = settings.width > 0;
  const auto key = std::make_tuple(settings.jpeg_encoder, settings.gpu, scaling);
  std::lock_guard lock(lock_);
  if (auto found = jpeg_encoders_.find(key); found != jpeg_encoders_.end())
    return found->second;
  const auto encoders = registered(
      [](const std::string &name) {
        return name == catalog::gpujpegenc::kFactory || is_nvjpegenc(name);
      },
      false);
  bool fallback = false;
  ElementChoice chosen =
      choose_jpeg_encoder(encoders, settings.jpeg_encoder, settings.gpu, scaling, nvcodec_release(),
                          &fallback, plugin_status::missing());
  std::string why;
  if (is_nvjpegenc(chosen.factory) && !have_element(catalog::gpunv12torgb::kFactory, why))
    chosen = {"", chosen.factory + " needs gpunv12torgb in front of it, but " + why};
  if (fallback)
    LAUNCH_WARNING("GPU %d, width set: %s", settings.gpu, chosen.reason.c_str());
  else
    LAUNCH_DEBUG("GPU %d JPEG encoder: %s", settings.gpu, chosen.reason.c_str());
  jpeg_encoders_.emplace(key, chosen);
  return chosen;
}

bool ElementCatalog::owns_decoder(Decoder decoder, const CameraSettings &settings) {
  if (decoder != Decoder::Nvidia)
    return false;
  return settings.decode == DecodeMode::All ||
         decoder_factory(decoder, Codec::H264, settings.gpu, settings.decode) !=
             catalog::gpukeyframedec::kFactory;
}

bool ElementCatalog::on_keyframe_sessions(const CameraSettings &settings) {
  CameraSettings on_first = settings;
  if (on_first.gpu == kAutoGpu)
    on_first.gpu = 0;
  return !owns_decoder(Decoder::Nvidia, on_first);
}

} // namespace gpurtsp::launch
