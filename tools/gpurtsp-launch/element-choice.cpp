// SPDX-License-Identifier: MIT
#include "element-choice.h"

#include <charconv>
#include <vector>

#include "element-catalog.h"

namespace gpurtsp::launch {

namespace {

constexpr GstRelease kStatelessNvh264dec{1, 24}; /* nvh264dec is stateless from here on */

bool has_device_digits(std::string_view name, std::string_view prefix, std::string_view suffix) {
  /* prefix + "device" + N + suffix */
  if (!name.starts_with(prefix) || !name.ends_with(suffix) ||
      name.size() <= prefix.size() + suffix.size())
    return false;
  const std::string_view middle =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (!middle.starts_with("device") || middle.size() == 6)
    return false;
  for (char c : middle.substr(6))
    if (c < '0' || c > '9')
      return false;
  return true;
}

/* nvh264dec, nvh264device1dec; nvh264sldec, nvh264sldevice1dec. */
bool is_nvdec_name(const std::string &name, const std::string &prefix, bool &named_stateless) {
  for (const std::string &base : {prefix + "sl", prefix}) {
    if (name == base + "dec" || has_device_digits(name, base, "dec")) {
      named_stateless = base != prefix;
      return true;
    }
  }
  return false;
}

const char *jpeg_encoder_name(JpegEncoder encoder) {
  return encoder == JpegEncoder::Nvjpegenc ? catalog::nvcodec::kJpegEncoder
                                           : catalog::gpujpegenc::kFactory;
}

const JpegEncoderPreference &auto_preference(GstRelease version) {
  const JpegEncoderPreference *chosen = &kAutoJpegEncoderPreference[0];
  for (const JpegEncoderPreference &entry : kAutoJpegEncoderPreference)
    if (entry.since <= version)
      chosen = &entry;
  return *chosen;
}

} // namespace

std::string GstRelease::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::optional<GstRelease> parse_release(const std::string &version) {
  GstRelease release;
  const char *end = version.data() + version.size();
  auto [ptr, ec] = std::from_chars(version.data(), end, release.major);
  if (ec != std::errc() || ptr == end || *ptr != '.')
    return std::nullopt;
  auto [minor_end, minor_ec] = std::from_chars(ptr + 1, end, release.minor);
  if (minor_ec != std::errc() || (minor_end != end && *minor_end != '.'))
    return std::nullopt;
  return release;
}

ElementChoice choose_nvdec_decoder(std::span<const RegisteredElement> decoders, Codec codec,
                                   int gpu, GstRelease nvcodec_version) {
  const std::string prefix = codec == Codec::H265 ? catalog::nvcodec::kH265DecoderPrefix
                                                  : catalog::nvcodec::kH264DecoderPrefix;
  const char *codec_text = codec == Codec::H265 ? "H.265" : "H.264";
  struct Candidate {
    const RegisteredElement *element;
    bool named_stateless;
    bool stateless;
  };
  std::optional<Candidate> best;
  for (const RegisteredElement &element : decoders) {
    bool named_stateless = false;
    if (!is_nvdec_name(element.name, prefix, named_stateless) || element.device != gpu)
      continue;
    const bool stateless =
        named_stateless || element.stateless.value_or(nvcodec_version >= kStatelessNvh264dec);
    const Candidate candidate{&element, named_stateless, stateless};
    if (!best ||
        std::pair(stateless, element.rank) > std::pair(best->stateless, best->element->rank))
      best = candidate;
  }
  if (!best)
    return {"", std::string("no NVDEC ") + codec_text + " decoder element for GPU " +
                    std::to_string(gpu) + " (" + prefix +
                    "dec of gst-plugins-bad's nvcodec, registered per CUDA device)"};
  const std::string &name = best->element->name;
  if (best->named_stateless)
    return {name, name + ": GStreamer " + nvcodec_version.to_string() +
                      "'s stateless NVDEC decoder (the CUVID-parser " + prefix +
                      "dec opens a GL display per instance)"};
  if (best->stateless)
    return {name, name + ": the stateless NVDEC decoder (GStreamer >= 1.24; nvcodec " +
                      nvcodec_version.to_string() + ")"};
  return {name, name + ": legacy CUVID-parser decoder, no stateless one registered (nvcodec " +
                    nvcodec_version.to_string() + "; it opens a GL display per instance)"};
}

bool is_nvjpegenc(const std::string &factory) {
  /* nvjpegenc, nvjpegdevice1enc, ... */
  return factory == catalog::nvcodec::kJpegEncoder || has_device_digits(factory, "nvjpeg", "enc");
}

namespace {
constexpr const char *kBehindConverter =
    ", behind gpunv12torgb (NV12 passed through, or made I420 where nvjpegenc takes no NV12)";
} // namespace

ElementChoice choose_jpeg_encoder(std::span<const RegisteredElement> encoders,
                                  JpegEncoderChoice choice, int gpu, bool scaling,
                                  GstRelease version, bool *fallback,
                                  std::string_view gpujpegenc_missing) {
  if (fallback)
    *fallback = false;
  bool have_gpujpegenc = false;
  std::string nvjpegenc;
  for (const RegisteredElement &element : encoders) {
    if (element.name == catalog::gpujpegenc::kFactory)
      have_gpujpegenc = true;
    else if (is_nvjpegenc(element.name) && element.device == gpu)
      nvjpegenc = element.name;
  }
  const std::string gpu_text = std::to_string(gpu);
  const std::string no_gpujpegenc =
      "element gpujpegenc is not available" +
      (gpujpegenc_missing.empty() ? "" : " (" + std::string(gpujpegenc_missing) + ")");
  const std::string no_nvjpegenc = "no nvjpegenc for GPU " + gpu_text +
                                   " (gst-plugins-bad's nvcodec, GStreamer >= 1.24, registers it "
                                   "per CUDA device where libnvjpeg loads)";
  const std::string no_rgb = "width needs gpunv12torgb's RGB, which nvjpegenc does not take";

  switch (choice) {
  case JpegEncoderChoice::Gpujpegenc:
    if (!have_gpujpegenc)
      return {"", "jpeg_encoder: gpujpegenc, but " + no_gpujpegenc};
    return {catalog::gpujpegenc::kFactory, "gpujpegenc: jpeg_encoder: gpujpegenc"};
  case JpegEncoderChoice::Nvjpegenc:
    if (scaling) {
      if (fallback)
        *fallback = true;
      if (!have_gpujpegenc)
        return {"", "jpeg_encoder: nvjpegenc falls back to gpujpegenc (" + no_rgb + "), but " +
                        no_gpujpegenc};
      return {catalog::gpujpegenc::kFactory,
              "gpujpegenc instead of jpeg_encoder: nvjpegenc: " + no_rgb};
    }
    if (nvjpegenc.empty())
      return {"", "jpeg_encoder: nvjpegenc, but " + no_nvjpegenc};
    return {nvjpegenc, nvjpegenc + ": jpeg_encoder: nvjpegenc" + std::string(kBehindConverter)};
  case JpegEncoderChoice::Auto:
    break;
  }

  const JpegEncoderPreference &preference = auto_preference(version);
  const JpegEncoder first = preference.order[0];
  for (JpegEncoder encoder : preference.order) {
    std::string factory;
    if (encoder == JpegEncoder::Gpujpegenc && have_gpujpegenc)
      factory = catalog::gpujpegenc::kFactory;
    else if (encoder == JpegEncoder::Nvjpegenc && !scaling)
      factory = nvjpegenc;
    if (factory.empty())
      continue;
    std::string reason = factory + ": jpeg_encoder: auto prefers " + jpeg_encoder_name(first) +
                         " on GStreamer " + version.to_string();
    if (encoder != first && first == JpegEncoder::Nvjpegenc && scaling)
      reason += ", but " + no_rgb;
    else if (encoder != first)
      reason += std::string(", which is not available") +
                (first == JpegEncoder::Gpujpegenc ? "" : " (" + no_nvjpegenc + ")");
    else if (encoder == JpegEncoder::Nvjpegenc)
      reason += kBehindConverter;
    return {factory, reason};
  }
  std::string why = "no JPEG encoder for GPU " + gpu_text + ": " + no_gpujpegenc + ", and ";
  if (scaling)
    why += no_rgb;
  else
    why += no_nvjpegenc;
  return {"", why};
}

} // namespace gpurtsp::launch
