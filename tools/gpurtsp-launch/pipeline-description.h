// SPDX-License-Identifier: MIT
/* What each camera's pipeline is made of, as data: the launcher builds its
 * pipelines from it and --print-pipelines prints it as gst-launch-1.0 lines,
 * so the two can never disagree.
 *
 *   rtspsrc ! depay ! parse [! keyframe filter] ! decoder
 *     [! rate limit] [! tee name=split] ! [scale !] encoder ! latestframesink
 *     [split. ! 1/s rate limit ! scale ! encoder ! latestframesink name=thumb]
 *
 * The source and the output part exist from the start; depay, parse and the
 * decoder depend on the codec, so they are made when rtspsrc's pad appears.
 * The rate limit is a pad probe dropping frames by arrival time (running
 * time), not by timestamp, so cameras whose clocks jump are still limited.
 * The thumbnail branch (thumbnail_width) runs in the decoder's streaming
 * thread like the main one, behind its own 1 frame/s rate limit: a queue
 * would add a thread per camera for well under a millisecond of work a
 * second. The elements' names come from element-catalog.h. */
#pragma once

#include <gpurtsp/gpujpegenc.hpp>

#include <optional>
#include <string>
#include <vector>

#include "config.h"

namespace gpurtsp::launch {

enum class Codec { H264, H265 };
enum class Decoder { Nvidia, Software };

const char *codec_name(Codec codec);       /* "h264", "h265" */
const char *decoder_name(Decoder decoder); /* "nvidia", "software" */

struct PropertySpec {
  std::string name;
  std::string value; /* as gst-launch-1.0 would parse it */
  bool secret = false;
};

struct ElementSpec {
  std::string factory;
  std::vector<PropertySpec> properties;
};

/* rtspsrc, with the credentials as user-id/user-pw rather than in the
 * location, so GStreamer's errors and logs never quote the password. */
ElementSpec source_element(const CameraConfig &camera);

/* RTP depayloader of @codec and what makes its output fit @decoder_factory:
 * a parser, or for gpukeyframedec only caps (access units, byte-stream). */
std::vector<ElementSpec> depayload_elements(Codec codec, const std::string &decoder_factory);

/* From parsed access units to raw frames: the keyframe filter (decode:
 * keyframes) and @decoder_factory, a decoder of @decoder's kind, which may be
 * gpukeyframedec: NVDEC sessions pooled per CUDA context instead of one per
 * camera (docs/nvdec-sessions.md). rtpkeyframefilter is not among them:
 * decode: keyframes puts it inside rtspsrc's rtpbin, in front of the
 * jitterbuffer (CameraPipeline), so it is not in the launch line either. */
std::vector<ElementSpec> decode_elements(const CameraConfig &camera, Decoder decoder,
                                         const std::string &decoder_factory);

/* From raw frames to the sink: scaling when width is set, the JPEG encoder of
 * @decoder's kind (nvidia keeps frames on the GPU), latestframesink; or, for a
 * raw settings.format, the converter to it (gpunv12torgb for nvidia,
 * videoconvert for software) instead of the encoder. The first element is where the rate limit
 * drops frames. @jpeg_encoder: nvidia's encoder factory (ElementCatalog::jpeg_encoder()):
 * gpujpegenc, or nvjpegenc / nvjpegdeviceNenc, which take the decoder's NV12 as is and no RGB, so
 * never with width; software decoding always uses jpegenc. */
std::vector<ElementSpec> output_elements(const CameraConfig &camera, Decoder decoder,
                                         const std::string &jpeg_encoder = gpujpegenc::kFactory);

/* The width of @camera's thumbnails, 0 for none: none for raw output
 * formats (the Python API) and none where width already makes the frame no
 * wider than thumbnail_width (frame.jpg?width= serves the frame then). */
int thumbnail_width(const CameraConfig &camera);

/* Thumbnails at most this often (frames per second). */
constexpr int kThumbnailFps = 1;

/* The thumbnail branch after the tee, from the element where its rate limit
 * drops frames to its latestframesink (named kThumbnailSinkName): nvidia
 * scales on the GPU with gpunv12torgb and encodes with @jpeg_encoder (a
 * scaling one: gpujpegenc, ElementCatalog::thumbnail_encoder()); software
 * scales with videoscale and encodes with jpegenc. Empty when
 * thumbnail_width() is 0, or for nvidia without an encoder (@jpeg_encoder
 * empty). */
std::vector<ElementSpec> thumbnail_elements(const CameraConfig &camera, Decoder decoder,
                                            const std::string &jpeg_encoder = gpujpegenc::kFactory);
inline constexpr char kThumbnailSinkName[] = "thumb";

/* $GPURTSP_JPEG_MAX_ENCODERS (1-64): gpujpegenc's max-encoders for every
 * camera, so the per-GPU nvJPEG pool may grow past its default of 4 when
 * frames wait for a slot. nullopt when unset or invalid; then @ignored (if
 * given) says why an invalid value was not taken. */
std::optional<unsigned> jpeg_max_encoders(std::string *ignored = nullptr);

/* The software decoder of @codec: "avdec_h264", "avdec_h265". */
std::string software_decoder_factory(Codec codec);

/* The whole pipeline as a shell-ready gst-launch-1.0 command line, secrets
 * shown as "***". The rate limit appears as the equivalent videorate. */
std::string launch_line(const CameraConfig &camera, Codec codec, Decoder decoder,
                        const std::string &decoder_factory,
                        const std::string &jpeg_encoder = gpujpegenc::kFactory,
                        const std::string &thumbnail_encoder = gpujpegenc::kFactory);

} // namespace gpurtsp::launch
