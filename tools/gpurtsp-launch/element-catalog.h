// SPDX-License-Identifier: MIT
/* Everything the launcher knows about GStreamer elements by name, in one
 * place: the factories it builds pipelines from and the properties, signals
 * and fields it uses of each (namespace catalog), and what the registry
 * offers (ElementCatalog): the NVDEC decoders and JPEG encoders it scans for,
 * which feed element-choice.h's pure functions, and why the gpurtsp plugin
 * left an element out. gpurtsp's own elements are named by the plugin's
 * headers, the contract both sides build from; upstream elements' names are
 * spelled here. pipeline-description.h says how they are put together. */
#pragma once

#include <gst/gst.h>

#include <gpurtsp/gpujpegenc.hpp>
#include <gpurtsp/gpukeyframedec.hpp>
#include <gpurtsp/gpunv12torgb.hpp>
#include <gpurtsp/latestframesink.hpp>
#include <gpurtsp/rtpkeyframefilter.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "config.h"
#include "element-choice.h"
#include "pipeline-description.h"

namespace gpurtsp::launch {

class GpuResources;

namespace catalog {

/* gpurtsp's elements. */
namespace gpukeyframedec = ::gpurtsp::gpukeyframedec;
namespace rtpkeyframefilter = ::gpurtsp::rtpkeyframefilter;
namespace gpunv12torgb = ::gpurtsp::gpunv12torgb;
namespace gpujpegenc = ::gpurtsp::gpujpegenc;
namespace latestframesink = ::gpurtsp::latestframesink;

/* Pads every element of the chains has (tee: request pads src_%u). */
inline constexpr char kSinkPad[] = "sink";
inline constexpr char kSrcPad[] = "src";
inline constexpr char kRequestSrcPad[] = "src_%u";
/* GstElement's signal for a pad that appeared. */
inline constexpr char kPadAddedSignal[] = "pad-added";

namespace rtspsrc {
inline constexpr char kFactory[] = "rtspsrc";
namespace property {
inline constexpr char kLocation[] = "location";
inline constexpr char kUserId[] = "user-id";
inline constexpr char kUserPw[] = "user-pw";
inline constexpr char kLatency[] = "latency";
inline constexpr char kDropOnLatency[] = "drop-on-latency";
inline constexpr char kProtocols[] = "protocols";
inline constexpr char kTlsValidationFlags[] = "tls-validation-flags"; /* GTlsCertificateFlags */
inline constexpr char kTlsDatabase[] = "tls-database";                /* GTlsDatabase */
} // namespace property
namespace signal_name {
inline constexpr char kSelectStream[] = "select-stream";
/* rtsps: the certificate failed validation; TRUE accepts it anyway. */
inline constexpr char kAcceptCertificate[] = "accept-certificate";
inline constexpr char kNewManager[] = "new-manager"; /* its rtpbin */
} // namespace signal_name
/* The application/x-rtp caps of its streams and pads. */
namespace caps_field {
inline constexpr char kMedia[] = "media";
inline constexpr char kEncodingName[] = "encoding-name";
inline constexpr char kPayload[] = "payload"; /* int, the RTP payload type */
} // namespace caps_field
} // namespace rtspsrc

namespace rtpbin::signal_name {
/* Asks for the element in front of an RTP session (rtpkeyframefilter). */
inline constexpr char kRequestRtpDecoder[] = "request-rtp-decoder";
} // namespace rtpbin::signal_name

inline constexpr char kRtpH264Depay[] = "rtph264depay";
inline constexpr char kRtpH265Depay[] = "rtph265depay";
inline constexpr char kH264Parse[] = "h264parse";
inline constexpr char kH265Parse[] = "h265parse";

namespace identity {
inline constexpr char kFactory[] = "identity";
namespace property {
inline constexpr char kDropBufferFlags[] = "drop-buffer-flags";
}
} // namespace identity

namespace capsfilter {
inline constexpr char kFactory[] = "capsfilter";
namespace property {
inline constexpr char kCaps[] = "caps";
}
} // namespace capsfilter

/* gst-libav's software decoders. */
namespace avdec {
inline constexpr char kH264[] = "avdec_h264";
inline constexpr char kH265[] = "avdec_h265";
namespace property {
inline constexpr char kMaxThreads[] = "max-threads";
inline constexpr char kOutputCorrupt[] = "output-corrupt";
} // namespace property
} // namespace avdec

/* gst-plugins-bad's nvcodec: NVDEC decoders and nvjpegenc, registered per
 * CUDA device (element-choice.h has their naming rules). */
namespace nvcodec {
inline constexpr char kPlugin[] = "nvcodec";
inline constexpr char kH264DecoderPrefix[] = "nvh264";
inline constexpr char kH265DecoderPrefix[] = "nvh265";
inline constexpr char kDecoderSuffix[] = "dec";
inline constexpr char kJpegEncoder[] = "nvjpegenc";
namespace property {
/* gpurtsp's CUDA elements took the name from nvcodec's; read-only here. */
inline constexpr const char *kCudaDeviceId = kCudaDeviceIdProperty;
inline constexpr char kQuality[] = "quality";
} // namespace property
} // namespace nvcodec

inline constexpr char kVideoConvert[] = "videoconvert";
inline constexpr char kVideoScale[] = "videoscale";
/* Splits the decoded frames between the full JPEG and the thumbnail. */
inline constexpr char kTee[] = "tee";
/* GstObject's name, set on the thumbnail's latestframesink. */
inline constexpr char kNameProperty[] = "name";

namespace videorate {
inline constexpr char kFactory[] = "videorate";
namespace property {
inline constexpr char kDropOnly[] = "drop-only";
inline constexpr char kMaxRate[] = "max-rate";
} // namespace property
} // namespace videorate

namespace jpegenc {
inline constexpr char kFactory[] = "jpegenc";
namespace property {
inline constexpr char kQuality[] = "quality";
}
} // namespace jpegenc

/* GstBaseSink's, latestframesink's base class. */
namespace basesink::property {
inline constexpr char kSync[] = "sync";
inline constexpr char kAsync[] = "async";
} // namespace basesink::property

/* Fields of raw video caps. */
namespace video_caps_field {
inline constexpr char kWidth[] = "width";
inline constexpr char kHeight[] = "height";
} // namespace video_caps_field

} // namespace catalog

/* What the registry offers, and the choices made from it, each looked up once.
 * Thread-safe: pipelines ask from worker and streaming threads. */
class ElementCatalog {
public:
  ElementCatalog() = default;
  ElementCatalog(const ElementCatalog &) = delete;
  ElementCatalog &operator=(const ElementCatalog &) = delete;

  /* The decoder kind of a camera with @settings (decoder, gpu, width,
   * jpeg_encoder). nvidia needs its elements (nvidia_elements()) and the CUDA
   * context of settings.gpu from @gpus. When they are missing, auto falls
   * back to software and nvidia gives nullopt; @why says what is missing
   * either way. Main thread. */
  std::optional<Decoder> resolve(const CameraSettings &settings, GpuResources &gpus,
                                 std::string &why);

  /* The decoder element of @codec for @decoder on @gpu; empty when there is
   * none (e.g. no NVDEC H.265 on this GPU). With decode: keyframes, nvidia
   * gets gpukeyframedec (NVDEC sessions shared by every camera of the GPU)
   * where the plugin registered it, else the per-camera NVDEC decoder after
   * one warning. */
  std::string decoder_factory(Decoder decoder, Codec codec, int gpu,
                              DecodeMode mode = DecodeMode::All) {
    return decoder_choice(decoder, codec, gpu, mode).factory;
  }
  /* The same with the one-line reason (choose_nvdec_decoder()). */
  ElementChoice decoder_choice(Decoder decoder, Codec codec, int gpu,
                               DecodeMode mode = DecodeMode::All);

  /* The JPEG encoder of nvidia cameras with @settings (jpeg_encoder, gpu,
   * width) and why (choose_jpeg_encoder()); factory empty when none is
   * usable. jpeg_encoder: nvjpegenc with width falls back to gpujpegenc,
   * logged once. */
  ElementChoice jpeg_encoder(const CameraSettings &settings);
  /* The thumbnail's encoder of nvidia cameras with @settings: one taking
   * gpunv12torgb's scaled RGB (gpujpegenc, whatever jpeg_encoder says);
   * factory empty, and why, when there is none or no gpunv12torgb. */
  ElementChoice thumbnail_encoder(const CameraSettings &settings);

  /* Whether a camera with @settings decoding with @decoder owns an NVDEC
   * decoder, so needs one of GpuResources' decoder slots: nvidia with
   * decode: all, or keyframes without gpukeyframedec (whose sessions are
   * shared by every camera of the GPU). */
  bool owns_decoder(Decoder decoder, const CameraSettings &settings);
  /* Whether an nvidia camera with @settings would decode on its GPU's shared
   * keyframe sessions rather than a decoder of its own (also for gpu: auto,
   * since which decoders exist is the same on every GPU). */
  bool on_keyframe_sessions(const CameraSettings &settings);

  /* nvcodec's release (gst-plugins-bad's), which decides its element
   * names; gst_version() where nvcodec is not installed. */
  static GstRelease nvcodec_release();

  /* Whether @factory is registered; else @why, with the reason the gpurtsp
   * plugin recorded for leaving it out, if any. */
  static bool have_element(const char *factory, std::string &why);

private:
  /* Whether the elements nvidia decoding needs for @settings exist; else why
   * not. */
  bool nvidia_elements(const CameraSettings &settings, std::string &why);

  std::mutex lock_;
  /* (codec, gpu) -> decoder; guarded by lock_ */
  std::map<std::pair<Codec, int>, ElementChoice> decoders_;
  /* (jpeg_encoder, gpu, scaling) -> encoder; guarded by lock_ */
  std::map<std::tuple<JpegEncoderChoice, int, bool>, ElementChoice> jpeg_encoders_;
  std::optional<bool> have_keyframe_decoder_; /* looked up once; guarded by lock_ */
};

} // namespace gpurtsp::launch
