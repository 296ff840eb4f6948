// SPDX-License-Identifier: MIT
/* Which NVDEC decoder and which JPEG encoder an nvidia camera gets, as pure
 * functions of what the registry holds, so every GStreamer version's layout
 * can be tested without a GPU. ElementCatalog collects the registry's answers
 * into RegisteredElement lists and calls these.
 *
 * nvcodec's decoder names changed under us:
 *   1.22      nvh264sldec, nvh264sldevice1dec, ...  stateless (GstH264Decoder)
 *             nvh264dec, nvh264device1dec, ...      legacy, CUVID's parser
 *   1.24 on   nvh264dec, nvh264device1dec, ...      stateless; no legacy, no sldec
 * so "nvh264dec" alone does not say which decoder it is. It is told apart, in
 * this order, by
 *   1. the name: "sl" after the codec prefix is only ever stateless;
 *   2. the element's GType ancestry (RegisteredElement::stateless): the
 *      stateless decoders derive from libgstcodecs' GstH264Decoder or
 *      GstH265Decoder, the legacy one from nvcodec's GstNvDec; exact for any
 *      release or development snapshot, but needs the type loaded;
 *   3. else nvcodec's plugin version: 1.24 and later have only stateless
 *      decoders. A 1.23 development build is ambiguous, hence 2 first.
 * gst_version() is not used for this: it is the core's version, and the
 * decoders come with gst-plugins-bad's. */
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config.h"
#include "pipeline-description.h"

namespace gpurtsp::launch {

/* A GStreamer release, major.minor. */
struct GstRelease {
  unsigned major = 0;
  unsigned minor = 0;

  auto operator<=>(const GstRelease &) const = default;
  /* "1.22" */
  std::string to_string() const;
};

/* "1.22.0" or "1.23.90" -> {1, 22}; nullopt when not "N.N...". */
std::optional<GstRelease> parse_release(const std::string &version);

/* One element factory of the registry, as the choices need it. */
struct RegisteredElement {
  std::string name;
  std::optional<int> device; /* cuda-device-id it was registered for; nullopt: none/settable */
  unsigned rank = 0;
  /* Decoders: the GType ancestry's answer (see above); nullopt: unknown. */
  std::optional<bool> stateless;
};

/* A choice and why it was made, one line. Empty factory: nothing usable,
 * and the reason says why. */
struct ElementChoice {
  std::string factory;
  std::string reason;
};

/* The NVDEC decoder of @codec for @gpu among @decoders (every video decoder
 * factory; others are ignored), nvcodec being @nvcodec_version: a stateless
 * one first, then higher rank. Reasons, e.g.
 *   "nvh264sldec: GStreamer 1.22's stateless NVDEC decoder (the CUVID-parser
 *    nvh264dec opens a GL display per instance)"
 *   "nvh264dec: the stateless NVDEC decoder (GStreamer >= 1.24)"
 *   "nvh264dec: legacy CUVID-parser decoder, no stateless one registered" */
ElementChoice choose_nvdec_decoder(std::span<const RegisteredElement> decoders, Codec codec,
                                   int gpu, GstRelease nvcodec_version);

enum class JpegEncoder { Gpujpegenc, Nvjpegenc };

/* The order jpeg_encoder: auto tries the encoders in, from a GStreamer
 * release on; the last entry whose release is not newer than the running one
 * applies. gpujpegenc first on every release, as measured on the H100 with
 * GStreamer 1.22 and 1.26 (docs/gpujpegenc.md): 1.39x nvjpegenc's 720p
 * JPEG/s at 64 pipelines, 7.5x less VRAM per pipeline, JFIF colour from
 * limited-range NVDEC output, RGB input for width:. nvjpegenc (gst-plugins-
 * bad's, 1.24 on) is the fallback. Add an entry to flip a release's order if
 * a later benchmark says so. */
struct JpegEncoderPreference {
  GstRelease since;
  JpegEncoder order[2];
};
inline constexpr JpegEncoderPreference kAutoJpegEncoderPreference[] = {
    {{1, 0}, {JpegEncoder::Gpujpegenc, JpegEncoder::Nvjpegenc}},
};

/* The JPEG encoder of an nvidia camera on @gpu set to @choice among
 * @encoders (gpujpegenc and the nvjpeg*enc factories; others are ignored),
 * @scaling: width is set, so frames reach it as gpunv12torgb's RGB, which
 * nvjpegenc does not take; then jpeg_encoder: nvjpegenc falls back to
 * gpujpegenc and @fallback is set (the caller logs the reason). nvjpegenc's
 * cuda-device-id is read-only: GPU N>0 gets the factory registered for it
 * (nvjpegdeviceNenc). @gpujpegenc_missing: why the gpurtsp plugin did not
 * register gpujpegenc, if it said. */
ElementChoice choose_jpeg_encoder(std::span<const RegisteredElement> encoders,
                                  JpegEncoderChoice choice, int gpu, bool scaling,
                                  GstRelease version, bool *fallback = nullptr,
                                  std::string_view gpujpegenc_missing = {});

/* Whether @factory is gst-plugins-bad's nvjpegenc (any GPU's). */
bool is_nvjpegenc(const std::string &factory);

} // namespace gpurtsp::launch
