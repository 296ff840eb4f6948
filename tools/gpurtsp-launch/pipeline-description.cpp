// SPDX-License-Identifier: MIT
#include "pipeline-description.h"

#include <glib.h>

#include <string_view>

#include "element-catalog.h"

namespace gpurtsp::launch {

namespace {

/* @text quoted for a POSIX shell when it holds anything but safe characters. */
std::string shell_quote(const std::string &text) {
  constexpr std::string_view kSafe = "_./:=,+@%-";
  bool safe = !text.empty();
  for (char c : text)
    safe = safe && (g_ascii_isalnum(c) || kSafe.find(c) != std::string_view::npos);
  if (safe)
    return text;
  std::string quoted = "'";
  for (char c : text)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string describe(const ElementSpec &element) {
  /* A capsfilter is written as its caps, the way people write them. */
  if (element.factory == catalog::capsfilter::kFactory && element.properties.size() == 1 &&
      element.properties[0].name == catalog::capsfilter::property::kCaps)
    return shell_quote(element.properties[0].value);
  std::string text = element.factory;
  for (const PropertySpec &property : element.properties)
    text += " " + shell_quote(property.name + "=" + (property.secret ? "***" : property.value));
  return text;
}

/* The tee's name in the launch line. */
constexpr char kSplitName[] = "split";

/* gpujpegenc with the camera's GPU and quality, and the pool cap where the
 * environment sets one. */
ElementSpec gpujpegenc_element(const CameraSettings &settings) {
  ElementSpec encoder{
      catalog::gpujpegenc::kFactory,
      {{catalog::gpujpegenc::property::kCudaDeviceId, std::to_string(settings.gpu)},
       {catalog::gpujpegenc::property::kQuality, std::to_string(settings.jpeg_quality)}}};
  if (const auto max = jpeg_max_encoders())
    encoder.properties.push_back(
        {catalog::gpujpegenc::property::kMaxEncoders, std::to_string(*max)});
  return encoder;
}

ElementSpec scaled_caps(const char *features, int width) {
  /* Height follows from the source's aspect ratio with square pixels. */
  return {catalog::capsfilter::kFactory,
          {{catalog::capsfilter::property::kCaps, std::string("video/x-raw") + features +
                                                      ",width=" + std::to_string(width) +
                                                      ",pixel-aspect-ratio=1/1"}}};
}

/* Raw frames of @format, scaled like scaled_caps() when width is set. */
ElementSpec raw_caps(const char *features, OutputFormat format, int width) {
  std::string caps =
      std::string("video/x-raw") + features + ",format=" + output_format_name(format);
  if (width > 0)
    caps += ",width=" + std::to_string(width) + ",pixel-aspect-ratio=1/1";
  return {catalog::capsfilter::kFactory, {{catalog::capsfilter::property::kCaps, caps}}};
}

/* The Python API's raw frames: gpunv12torgb converts (and scales) on the GPU,
 * passing NV12 through without a copy; software decoding converts with
 * videoconvert. */
void add_raw_output(const CameraSettings &settings, Decoder decoder,
                    std::vector<ElementSpec> &elements) {
  if (decoder == Decoder::Nvidia) {
    elements.push_back(
        {catalog::gpunv12torgb::kFactory,
         {{catalog::gpunv12torgb::property::kCudaDeviceId, std::to_string(settings.gpu)}}});
    elements.push_back(raw_caps("(memory:CUDAMemory)", settings.format, settings.width));
    return;
  }
  elements.push_back({catalog::kVideoConvert, {}});
  if (settings.width > 0)
    elements.push_back({catalog::kVideoScale, {}});
  elements.push_back(raw_caps("", settings.format, settings.width));
}

} // namespace

std::optional<unsigned> jpeg_max_encoders(std::string *ignored) {
  constexpr guint64 kMost = 64;
  const char *env = g_getenv("GPURTSP_JPEG_MAX_ENCODERS");
  if (!env || !*env)
    return std::nullopt;
  guint64 value = 0;
  if (!g_ascii_string_to_unsigned(env, 10, 1, kMost, &value, nullptr)) {
    if (ignored)
      *ignored = std::string("GPURTSP_JPEG_MAX_ENCODERS=") + env + " ignored: not 1 to " +
                 std::to_string(kMost);
    return std::nullopt;
  }
  return unsigned(value);
}

const char *codec_name(Codec codec) {
  return codec == Codec::H265 ? "h265" : "h264";
}

const char *decoder_name(Decoder decoder) {
  return decoder == Decoder::Nvidia ? "nvidia" : "software";
}

ElementSpec source_element(const CameraConfig &camera) {
  const CameraSettings &settings = camera.settings;
  namespace property = catalog::rtspsrc::property;
  ElementSpec source{catalog::rtspsrc::kFactory, {{property::kLocation, camera.url.location}}};
  if (!camera.url.user.empty())
    source.properties.push_back({property::kUserId, camera.url.user});
  if (!camera.url.password.empty())
    source.properties.push_back({property::kUserPw, camera.url.password, true});
  source.properties.push_back({property::kLatency, std::to_string(settings.latency_ms)});
  /* A snapshot wants the newest frame. Without this the jitterbuffer keeps
   * everything that arrives while downstream is blocked (a decoder being
   * created, a busy host) and the camera replays that backlog afterwards:
   * 256 full-decode cameras decoded ~44.5 frames/s each from 30 fps sources
   * for tens of seconds after start-up (docs/scale.md). */
  source.properties.push_back({property::kDropOnLatency, "true"});
  /* auto keeps rtspsrc's default: UDP first, TCP when UDP gets nothing. */
  if (settings.transport != Transport::Auto)
    source.properties.push_back({property::kProtocols, transport_name(settings.transport)});
  /* tls_validation: none accepts any certificate; strict keeps rtspsrc's
   * default (validate everything). tls_ca_file is a GTlsDatabase object,
   * set by CameraPipeline. */
  if (camera.url.tls() && settings.tls_validation == TlsValidation::None)
    source.properties.push_back({property::kTlsValidationFlags, "0"});
  return source;
}

std::vector<ElementSpec> depayload_elements(Codec codec, const std::string &decoder_factory) {
  const bool h265 = codec == Codec::H265;
  ElementSpec depayloader{h265 ? catalog::kRtpH265Depay : catalog::kRtpH264Depay, {}};
  /* gpukeyframedec needs no parser: the depayloader gives it whole access
   * units in byte-stream form, with delta units flagged, and NVDEC's own
   * parser reads the SPS. h264parse/h265parse cost 0.23/0.52 MiB of RSS a
   * camera (their NAL parsers' tables, all resident). GPURTSP_KEYFRAME_PARSE=1
   * keeps them, for the before/after (docs/scale.md). */
  if (decoder_factory == catalog::gpukeyframedec::kFactory &&
      g_strcmp0(g_getenv("GPURTSP_KEYFRAME_PARSE"), "1") != 0)
    return {std::move(depayloader),
            {catalog::capsfilter::kFactory,
             {{catalog::capsfilter::property::kCaps,
               std::string(h265 ? "video/x-h265" : "video/x-h264") +
                   ",stream-format=byte-stream,alignment=au"}}}};
  return {std::move(depayloader), {h265 ? catalog::kH265Parse : catalog::kH264Parse, {}}};
}

std::string software_decoder_factory(Codec codec) {
  return codec == Codec::H265 ? catalog::avdec::kH265 : catalog::avdec::kH264;
}

std::vector<ElementSpec> decode_elements(const CameraConfig &camera, Decoder decoder,
                                         const std::string &decoder_factory) {
  std::vector<ElementSpec> elements;
  /* gpukeyframedec drops delta units too, but only after GstVideoDecoder has
   * made a frame of each: 29 of 30 access units never get that far. */
  if (camera.settings.decode == DecodeMode::Keyframes)
    elements.push_back({catalog::identity::kFactory,
                        {{catalog::identity::property::kDropBufferFlags, "delta-unit"}}});
  if (decoder_factory == catalog::gpukeyframedec::kFactory) {
    ElementSpec spec{
        decoder_factory,
        {{catalog::gpukeyframedec::property::kCudaDeviceId, std::to_string(camera.settings.gpu)}}};
    /* Pooled cuvid parsers are the element's default; a parser per camera
     * (0.8-3.1 MiB of RSS more) stays for the before/after. */
    if (g_strcmp0(g_getenv("GPURTSP_KEYFRAME_SHARE_PARSERS"), "0") == 0)
      spec.properties.push_back({catalog::gpukeyframedec::property::kShareParsers, "false"});
    elements.push_back(std::move(spec));
  } else if (decoder == Decoder::Software) {
    /* One thread per camera: a thousand cameras must not mean a thousand
     * thread pools; and no JPEG of a half-decoded frame after packet loss. */
    elements.push_back({decoder_factory,
                        {{catalog::avdec::property::kMaxThreads, "1"},
                         {catalog::avdec::property::kOutputCorrupt, "false"}}});
  } else {
    elements.push_back({decoder_factory, {}});
    /* nvh264dec offers GL memory when downstream (videorate) accepts any
     * caps, and then opens a GL display: pointless here, and the NVIDIA EGL
     * driver's threads crashed H100 processes at teardown. */
    elements.push_back(
        {catalog::capsfilter::kFactory,
         {{catalog::capsfilter::property::kCaps, "video/x-raw(memory:CUDAMemory)"}}});
  }
  return elements;
}

std::vector<ElementSpec> output_elements(const CameraConfig &camera, Decoder decoder,
                                         const std::string &jpeg_encoder) {
  const CameraSettings &settings = camera.settings;
  const std::string quality = std::to_string(settings.jpeg_quality);
  std::vector<ElementSpec> elements;
  if (settings.format != OutputFormat::Jpeg) {
    add_raw_output(settings, decoder, elements);
  } else if (decoder == Decoder::Nvidia && jpeg_encoder != catalog::gpujpegenc::kFactory) {
    /* nvjpegenc takes no NV12 where GStreamer's NVRTC kernels are missing
     * (Debian's builds on CUDA 13): gpunv12torgb then makes I420, and passes
     * NV12 through (no copy) where nvjpegenc takes it. nvjpegenc's
     * cuda-device-id is read-only: the factory is the GPU's. */
    elements.push_back(
        {catalog::gpunv12torgb::kFactory,
         {{catalog::gpunv12torgb::property::kCudaDeviceId, std::to_string(settings.gpu)}}});
    elements.push_back({jpeg_encoder, {{catalog::nvcodec::property::kQuality, quality}}});
  } else if (decoder == Decoder::Nvidia) {
    const std::string gpu = std::to_string(settings.gpu);
    /* gpujpegenc takes the decoder's NV12 as is; only scaling needs the
     * converter (its resize is fused with the colour conversion). */
    if (settings.width > 0) {
      elements.push_back({catalog::gpunv12torgb::kFactory,
                          {{catalog::gpunv12torgb::property::kCudaDeviceId, gpu}}});
      elements.push_back(scaled_caps("(memory:CUDAMemory)", settings.width));
    }
    elements.push_back(gpujpegenc_element(settings));
  } else {
    elements.push_back({catalog::kVideoConvert, {}});
    if (settings.width > 0) {
      elements.push_back({catalog::kVideoScale, {}});
      elements.push_back(scaled_caps("", settings.width));
    }
    elements.push_back(
        {catalog::jpegenc::kFactory, {{catalog::jpegenc::property::kQuality, quality}}});
  }
  elements.push_back(
      {catalog::latestframesink::kFactory,
       {{catalog::latestframesink::property::kBufferSize, std::to_string(settings.buffer_size)},
        {catalog::basesink::property::kSync, "false"}}});
  return elements;
}

int thumbnail_width(const CameraConfig &camera) {
  const CameraSettings &settings = camera.settings;
  if (settings.format != OutputFormat::Jpeg || settings.thumbnail_width == 0)
    return 0;
  if (settings.width > 0 && settings.width <= settings.thumbnail_width)
    return 0;
  return settings.thumbnail_width;
}

std::vector<ElementSpec> thumbnail_elements(const CameraConfig &camera, Decoder decoder,
                                            const std::string &jpeg_encoder) {
  const int width = thumbnail_width(camera);
  if (width == 0 || (decoder == Decoder::Nvidia && jpeg_encoder.empty()))
    return {};
  const std::string quality = std::to_string(camera.settings.jpeg_quality);
  std::vector<ElementSpec> elements;
  if (decoder == Decoder::Nvidia) {
    /* Scaled and made RGB in one pass on the GPU; the JPEG is encoded there
     * too, by the per-context encoder pool the full frames use. */
    const std::string gpu = std::to_string(camera.settings.gpu);
    elements.push_back(
        {catalog::gpunv12torgb::kFactory, {{catalog::gpunv12torgb::property::kCudaDeviceId, gpu}}});
    elements.push_back(scaled_caps("(memory:CUDAMemory)", width));
    if (jpeg_encoder == catalog::gpujpegenc::kFactory)
      elements.push_back(gpujpegenc_element(camera.settings));
    else
      elements.push_back({jpeg_encoder, {{catalog::nvcodec::property::kQuality, quality}}});
  } else {
    /* Scaled before any conversion, which is then a small one (or none:
     * jpegenc takes the decoders' I420). */
    elements.push_back({catalog::kVideoScale, {}});
    elements.push_back(scaled_caps("", width));
    elements.push_back({catalog::kVideoConvert, {}});
    elements.push_back(
        {catalog::jpegenc::kFactory, {{catalog::jpegenc::property::kQuality, quality}}});
  }
  /* One thumbnail is all anyone asks for. Not async: the tee pushes to the
   * main branch first, whose sink waits in preroll until the pipeline
   * plays, which it would not before this sink had prerolled too. */
  elements.push_back({catalog::latestframesink::kFactory,
                      {{catalog::kNameProperty, kThumbnailSinkName},
                       {catalog::latestframesink::property::kBufferSize, "1"},
                       {catalog::basesink::property::kSync, "false"},
                       {catalog::basesink::property::kAsync, "false"}}});
  return elements;
}

std::string launch_line(const CameraConfig &camera, Codec codec, Decoder decoder,
                        const std::string &decoder_factory, const std::string &jpeg_encoder,
                        const std::string &thumbnail_encoder) {
  std::vector<ElementSpec> elements = {source_element(camera)};
  for (auto &element : depayload_elements(codec, decoder_factory))
    elements.push_back(std::move(element));
  for (auto &element : decode_elements(camera, decoder, decoder_factory))
    elements.push_back(std::move(element));
  if (camera.settings.fps > 0)
    elements.push_back(
        {catalog::videorate::kFactory,
         {{catalog::videorate::property::kDropOnly, "true"},
          {catalog::videorate::property::kMaxRate, std::to_string(camera.settings.fps)}}});
  const std::vector<ElementSpec> thumbnail = thumbnail_elements(camera, decoder, thumbnail_encoder);
  if (!thumbnail.empty())
    elements.push_back({catalog::kTee, {{catalog::kNameProperty, kSplitName}}});
  for (auto &element : output_elements(camera, decoder, jpeg_encoder))
    elements.push_back(std::move(element));

  std::string line = "gst-launch-1.0";
  for (size_t i = 0; i < elements.size(); i++)
    line += (i == 0 ? " " : " ! ") + describe(elements[i]);
  if (thumbnail.empty())
    return line;
  /* The branch's rate limit is a pad probe too, written as videorate. */
  line += std::string(" ") + kSplitName + ". ! " +
          describe({catalog::videorate::kFactory,
                    {{catalog::videorate::property::kDropOnly, "true"},
                     {catalog::videorate::property::kMaxRate, std::to_string(kThumbnailFps)}}});
  for (const ElementSpec &element : thumbnail)
    line += " ! " + describe(element);
  return line;
}

} // namespace gpurtsp::launch
