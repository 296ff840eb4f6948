// SPDX-License-Identifier: MIT
/* cameras.yaml: what the launcher runs. Reference: docs/launcher.md.
 *
 * Every mistake in the file is a ConfigError whose message is one line
 * naming the file, line and key, e.g.
 *   cameras.yaml:14: cameras[2].url: unsupported scheme "http" (expected rtsp or rtsps)
 * so a bad config stops the launcher before anything starts. */
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "camera-url.h"
#include "variables.h"

namespace gpurtsp::launch {

enum class DecoderChoice { Auto, Nvidia, Software };
enum class CodecChoice { Auto, H264, H265 };
enum class Transport { Tcp, Udp, Auto };
enum class DecodeMode { All, Keyframes };
/* The JPEG encoder of nvidia decoding: auto picks among those registered
 * (element-choice.h); software decoding always uses jpegenc. */
enum class JpegEncoderChoice { Auto, Gpujpegenc, Nvjpegenc };
/* What a camera's latestframesink keeps: JPEGs (the launcher and its HTTP
 * API) or raw frames, for the Python API (docs/python.md). Not a
 * cameras.yaml key: the launcher serves JPEG only. */
enum class OutputFormat { Jpeg, Rgb, Bgr, Rgbp, Nv12 };
/* rtsps:// cameras: whether the camera's certificate must validate (against
 * the system's CAs and tls_ca_file) or is taken as it comes. */
enum class TlsValidation { Strict, None };

const char *decoder_choice_name(DecoderChoice choice);
const char *codec_choice_name(CodecChoice choice);
const char *transport_name(Transport transport);
const char *decode_mode_name(DecodeMode mode);
const char *jpeg_encoder_choice_name(JpegEncoderChoice choice);
/* "JPEG", "RGB", "BGR", "RGBP", "NV12": the GstVideoFormat names. */
const char *output_format_name(OutputFormat format);
std::optional<OutputFormat> parse_output_format(std::string_view name);
const char *tls_validation_name(TlsValidation validation);

/* `gpu: auto` in CameraSettings::gpu: the camera manager places the camera
 * on a GPU when it starts (placement.h). */
constexpr int kAutoGpu = -1;

/* What "defaults:" sets and each camera may override. */
struct CameraSettings {
  DecoderChoice decoder = DecoderChoice::Auto;
  int gpu = kAutoGpu; /* a CUDA device, or kAutoGpu */
  CodecChoice codec = CodecChoice::Auto;
  Transport transport = Transport::Tcp;
  int latency_ms = 200;
  int fps = 5;   /* JPEG frames kept per second; 0 keeps every decoded frame */
  int width = 0; /* 0 keeps the source size */
  /* Width of the small JPEG made at most once a second beside the full one,
   * for frame.jpg?width= (docs/http-api.md); 0: none. */
  int thumbnail_width = 320;
  int jpeg_quality = 85;
  /* Frames the camera's latestframesink keeps. The launcher serves only the
   * newest (frame.jpg, MJPEG, the wall): every older JPEG in the ring is
   * memory nobody reads, ~70 KiB each at 720p (docs/scale.md, "RSS per
   * camera"). The Python API passes its own (30, for latest_frames(n)). */
  int buffer_size = 1;
  int stall_timeout_s = 10;
  DecodeMode decode = DecodeMode::All;
  JpegEncoderChoice jpeg_encoder = JpegEncoderChoice::Auto;
  OutputFormat format = OutputFormat::Jpeg; /* set by the Python API only */
  TlsValidation tls_validation = TlsValidation::Strict;
  /* PEM CA certificates trusted besides the system's (rtsps://); absolute
   * (relative paths are resolved against the config file's directory when
   * parsed), empty for none. */
  std::string tls_ca_file;

  bool operator==(const CameraSettings &) const = default;
};

/* A camera's own keys as written (${VAR} not substituted), in order: what
 * the overlay file writes back and PATCH merges into. */
using CameraKeys = std::vector<std::pair<std::string, std::string>>;

struct CameraConfig {
  std::string id;
  CameraUrl url;
  CameraSettings settings;
  CameraKeys keys;

  /* Same id, URL and settings (whatever the keys that say so): a reload
   * leaves such a camera running. */
  bool operator==(const CameraConfig &other) const {
    return id == other.id && url == other.url && settings == other.settings;
  }
};

struct ListenAddress {
  std::string host = "127.0.0.1"; /* IP literal, "localhost", or "*" for every interface */
  uint16_t port = 8080;           /* 0: any free port */

  /* "127.0.0.1:8080", "[::1]:8080", "*:8080". */
  std::string to_string() const;
};

struct HttpConfig {
  ListenAddress listen;
  std::optional<std::string> token; /* bearer token; none: no authentication */
};

struct Config {
  std::string path;
  HttpConfig http;
  CameraSettings defaults;
  Variables variables;                    /* what ${VAR} was substituted from */
  std::vector<CameraConfig> cameras;      /* the config's, the overlay's applied */
  std::vector<CameraConfig> main_cameras; /* the config file's alone */
};

constexpr size_t kMaxCameras = 10000;

/* Camera ids as cameras.yaml allows them: 1 to 64 of A-Z a-z 0-9 _ -. The
 * HTTP API checks ids in URLs with the same rule. */
bool is_valid_camera_id(std::string_view id);

class ConfigError : public std::runtime_error {
public:
  explicit ConfigError(const std::string &message, std::string key = {}, std::string reason = {})
      : std::runtime_error(message), key_(std::move(key)), reason_(std::move(reason)) {}
  /* The key path ("cameras[2].url", "fps"); empty where none applies. */
  const std::string &key() const { return key_; }
  /* The message without file, line and key; empty where it is the message. */
  const std::string &reason() const { return reason_; }

private:
  std::string key_;
  std::string reason_;
};

/* Reads @path, substituting ${VAR} from the environment and from the .env
 * file in @path's directory, then its overlay file (overlay_path()) where
 * one exists: the overlay's cameras replace those of the config with their
 * id, or come after them; its "removed" ids are taken out. Throws
 * ConfigError. */
Config load_config(const std::string &path);

/* Where the HTTP API's changes to the config @path are kept:
 * "cameras.yaml" -> "cameras.overlay.yaml". */
std::string overlay_path(const std::string &path);

/* The overlay file that turns @config's main_cameras into @cameras: every
 * camera not in the config file or with other keys there, and the ids of
 * the config file's cameras not in @cameras. */
std::string overlay_text(const Config &config, const std::vector<CameraConfig> &cameras);

/* A camera as PUT and PATCH /api/cameras/ID submit it: @body a JSON object
 * with the keys of a camera in cameras.yaml, "id" optional (if given, it
 * must be @id). With @base (PATCH), @base's keys stay where @body has none.
 * The config's defaults and ${VAR} apply. Throws ConfigError, whose key()
 * and reason() say what is wrong. */
CameraConfig parse_camera_request(std::string_view body, const std::string &id,
                                  const CameraConfig *base, const Config &config);

/* Parses @text as if read from @path, with @variables. Throws ConfigError. */
Config parse_config(std::string_view text, const std::string &path, const Variables &variables);

/* "HOST:PORT" as in http.listen; nullopt and @error when malformed. */
std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string &error);

} // namespace gpurtsp::launch
