// SPDX-License-Identifier: MIT
#include "config.h"

#include <gio/gio.h>
#include <glib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <utility>

namespace gpurtsp::launch {

namespace {

/* Where values come from: for messages and ${VAR} substitution. */
struct Document {
  const std::string &path;
  const Variables &variables;
};

const char *node_kind(const YAML::Node &node) {
  switch (node.Type()) {
  case YAML::NodeType::Map:
    return "a mapping";
  case YAML::NodeType::Sequence:
    return "a list";
  case YAML::NodeType::Scalar:
    return "a scalar";
  default:
    return "nothing";
  }
}

/* One value of the file with its key path ("cameras[2].url") and line. */
class Field {
public:
  Field(const Document &doc, YAML::Node node, std::string key, int line)
      : doc_(&doc), node_(std::move(node)), key_(std::move(key)), line_(line) {
    /* Empty values carry the mark of the next token; keep the key's line. */
    if (node_.IsDefined() && !node_.IsNull() && node_.Mark().line >= 0)
      line_ = node_.Mark().line + 1;
  }

  Field(const Field &) = default;
  /* YAML::Node's assignment writes through to the document: never assign. */
  Field &operator=(const Field &) = delete;

  const YAML::Node &node() const { return node_; }
  const std::string &key() const { return key_; }
  int line() const { return line_; }

  [[noreturn]] void fail(const std::string &why) const {
    std::ostringstream message;
    message << doc_->path << ":" << line_ << ": ";
    if (!key_.empty())
      message << key_ << ": ";
    message << why;
    throw ConfigError(message.str(), key_, why);
  }

  /* The scalar with ${VAR} substituted. */
  std::string text(const char *expected = "a string") const {
    try {
      return doc_->variables.expand(scalar(expected));
    } catch (const VariableError &e) {
      fail(e.what());
    }
  }

  /* A URL with ${VAR} substituted; values in the user info are
   * percent-encoded, so a password from the environment may hold any
   * character. */
  std::string url() const {
    const std::string raw = scalar("a URL");
    const size_t authority = raw.find("://");
    const size_t at = authority == std::string::npos ? std::string::npos
                                                     : raw.rfind('@', raw.find('/', authority + 3));
    try {
      if (at == std::string::npos || at < authority)
        return doc_->variables.expand(raw);
      const Variables &vars = doc_->variables;
      return vars.expand(raw.substr(0, authority + 3)) +
             vars.expand(raw.substr(authority + 3, at - authority - 3), true) +
             vars.expand(raw.substr(at));
    } catch (const VariableError &e) {
      fail(e.what());
    }
  }

  const std::string &scalar(const char *expected) const {
    if (!node_.IsDefined() || node_.IsNull())
      fail("missing value");
    if (!node_.IsScalar())
      fail(std::string("expected ") + expected + ", got " + node_kind(node_));
    return node_.Scalar();
  }

  int integer(int min, int max, const char *range = nullptr) const {
    const std::string value = text("an integer");
    long long number = 0;
    const char *end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, number);
    const std::string range_text =
        range ? range : std::to_string(min) + " to " + std::to_string(max);
    if (ec == std::errc::invalid_argument || ptr != end)
      fail("expected an integer (" + range_text + "), got \"" + value + "\"");
    if (ec == std::errc::result_out_of_range || number < min || number > max)
      fail(value + " is out of range (" + range_text + ")");
    return int(number);
  }

  template <typename Enum>
  Enum choice(std::initializer_list<std::pair<std::string_view, Enum>> choices) const {
    const std::string value = text();
    std::string names;
    size_t index = 0;
    for (const auto &[name, choice] : choices) {
      if (value == name)
        return choice;
      names += std::string(index == 0                    ? ""
                           : index + 1 == choices.size() ? " or "
                                                         : ", ") +
               std::string(name);
      index++;
    }
    fail("unknown value \"" + value + "\" (expected " + names + ")");
  }

  /* A file name with ${VAR} substituted; a relative one is taken from the
   * config file's directory, so the launcher's working directory does not
   * matter. */
  std::string path() const {
    const std::string value = text("a file name");
    if (value.empty())
      fail("empty file name");
    if (g_path_is_absolute(value.c_str()))
      return value;
    g_autofree char *dir = g_path_get_dirname(doc_->path.c_str());
    g_autofree char *joined = g_build_filename(dir, value.c_str(), nullptr);
    return joined;
  }

  Field child(const YAML::Node &value, const std::string &key, int line) const {
    return Field(*doc_, value, key_.empty() ? key : key_ + "." + key, line);
  }
  Field item(const YAML::Node &value, size_t index) const {
    return Field(*doc_, value, key_ + "[" + std::to_string(index) + "]", line_);
  }

private:
  const Document *doc_;
  YAML::Node node_;
  std::string key_;
  int line_;
};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(const std::string &key, std::span<const std::string_view> known) {
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view candidate : known) {
    const size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best_distance <= std::max<size_t>(2, best.size() / 3))
    return "unknown key (did you mean \"" + std::string(best) + "\"?)";
  std::string list;
  for (std::string_view candidate : known)
    list += (list.empty() ? "" : ", ") + std::string(candidate);
  return "unknown key (expected one of " + list + ")";
}

/* Calls @handle(key, field) for every entry of the mapping @map. Unknown and
 * repeated keys are errors. */
template <typename Handler>
void for_each_entry(const Field &map, std::span<const std::string_view> known, Handler handle) {
  std::map<std::string, int> seen;
  for (const auto &entry : map.node()) {
    const int key_line = entry.first.Mark().line + 1;
    if (!entry.first.IsScalar())
      map.child(entry.first, "?", key_line)
          .fail(std::string("keys must be words, got ") + node_kind(entry.first));
    const std::string key = entry.first.Scalar();
    const Field field = map.child(entry.second, key, key_line);
    if (std::find(known.begin(), known.end(), key) == known.end())
      map.child(YAML::Node(), key, key_line).fail(unknown_key_message(key, known));
    if (auto [first, inserted] = seen.emplace(key, key_line); !inserted)
      map.child(YAML::Node(), key, key_line)
          .fail("duplicate key (first at line " + std::to_string(first->second) + ")");
    handle(key, field);
  }
}

void require_map(const Field &field, const char *what) {
  if (!field.node().IsMap())
    field.fail(std::string("expected ") + what + ", got " +
               (field.node().IsNull() ? "nothing" : node_kind(field.node())));
}

/* tls_ca_file: checked here, so a typo or a file that holds no certificate
 * stops the launcher at start instead of failing every camera later. */
std::string ca_file(const Field &field) {
  const std::string path = field.path();
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR))
    field.fail("\"" + path + "\" is not a readable file");
  if (!g_tls_backend_supports_tls(g_tls_backend_get_default()))
    field.fail("GLib has no TLS backend, so rtsps:// cannot work (install glib-networking)");
  g_autoptr(GError) error = nullptr;
  GList *certificates = g_tls_certificate_list_new_from_file(path.c_str(), &error);
  const bool empty = !certificates;
  g_list_free_full(certificates, g_object_unref);
  if (error)
    field.fail("cannot read CA certificates from \"" + path + "\": " + error->message);
  if (empty)
    field.fail("\"" + path + "\" holds no PEM certificate");
  return path;
}

/* The keys of "defaults:", each also valid in a camera. */
struct SettingKey {
  std::string_view name;
  void (*apply)(const Field &, CameraSettings &);
};

constexpr SettingKey kSettingKeys[] = {
    {"decoder",
     [](const Field &f, CameraSettings &s) {
       s.decoder = f.choice<DecoderChoice>({{"auto", DecoderChoice::Auto},
                                            {"nvidia", DecoderChoice::Nvidia},
                                            {"software", DecoderChoice::Software}});
     }},
    {"gpu",
     [](const Field &f, CameraSettings &s) {
       const bool automatic = f.node().IsScalar() && f.node().Scalar() == "auto";
       s.gpu = automatic ? kAutoGpu : f.integer(0, 63, "auto, or 0 to 63");
     }},
    {"codec",
     [](const Field &f, CameraSettings &s) {
       s.codec = f.choice<CodecChoice>(
           {{"auto", CodecChoice::Auto}, {"h264", CodecChoice::H264}, {"h265", CodecChoice::H265}});
     }},
    {"transport",
     [](const Field &f, CameraSettings &s) {
       s.transport = f.choice<Transport>(
           {{"tcp", Transport::Tcp}, {"udp", Transport::Udp}, {"auto", Transport::Auto}});
     }},
    {"latency_ms", [](const Field &f, CameraSettings &s) { s.latency_ms = f.integer(0, 10000); }},
    {"fps", [](const Field &f, CameraSettings &s) { s.fps = f.integer(0, 120); }},
    {"width",
     [](const Field &f, CameraSettings &s) {
       s.width = f.integer(0, 7680, "0, or 16 to 7680");
       if (s.width != 0 && s.width < 16)
         f.fail(std::to_string(s.width) + " is out of range (0, or 16 to 7680)");
     }},
    {"thumbnail_width",
     [](const Field &f, CameraSettings &s) {
       s.thumbnail_width = f.integer(0, 1920, "0, or 16 to 1920");
       if (s.thumbnail_width != 0 && s.thumbnail_width < 16)
         f.fail(std::to_string(s.thumbnail_width) + " is out of range (0, or 16 to 1920)");
     }},
    {"jpeg_quality", [](const Field &f, CameraSettings &s) { s.jpeg_quality = f.integer(1, 100); }},
    {"buffer_size", [](const Field &f, CameraSettings &s) { s.buffer_size = f.integer(1, 1000); }},
    {"stall_timeout_s",
     [](const Field &f, CameraSettings &s) { s.stall_timeout_s = f.integer(1, 3600); }},
    {"decode",
     [](const Field &f, CameraSettings &s) {
       s.decode =
           f.choice<DecodeMode>({{"all", DecodeMode::All}, {"keyframes", DecodeMode::Keyframes}});
     }},
    {"jpeg_encoder",
     [](const Field &f, CameraSettings &s) {
       s.jpeg_encoder = f.choice<JpegEncoderChoice>({{"auto", JpegEncoderChoice::Auto},
                                                     {"gpujpegenc", JpegEncoderChoice::Gpujpegenc},
                                                     {"nvjpegenc", JpegEncoderChoice::Nvjpegenc}});
     }},
    {"tls_validation",
     [](const Field &f, CameraSettings &s) {
       s.tls_validation = f.choice<TlsValidation>(
           {{"strict", TlsValidation::Strict}, {"none", TlsValidation::None}});
     }},
    {"tls_ca_file", [](const Field &f, CameraSettings &s) { s.tls_ca_file = ca_file(f); }},
};

void apply_setting(const std::string &key, const Field &field, CameraSettings &settings) {
  for (const SettingKey &setting : kSettingKeys)
    if (setting.name == key) {
      setting.apply(field, settings);
      return;
    }
}

std::vector<std::string_view> setting_names() {
  std::vector<std::string_view> names;
  for (const SettingKey &setting : kSettingKeys)
    names.push_back(setting.name);
  return names;
}

CameraSettings parse_defaults(const Field &field) {
  require_map(field, "a mapping of camera settings");
  CameraSettings settings;
  const auto names = setting_names();
  for_each_entry(field, names, [&](const std::string &key, const Field &value) {
    apply_setting(key, value, settings);
  });
  return settings;
}

HttpConfig parse_http(const Field &field) {
  require_map(field, "a mapping with listen and token");
  HttpConfig http;
  static constexpr std::string_view kKeys[] = {"listen", "token"};
  for_each_entry(field, kKeys, [&](const std::string &key, const Field &value) {
    if (key == "listen") {
      std::string error;
      auto listen = parse_listen_address(value.text(), error);
      if (!listen)
        value.fail(error);
      http.listen = *listen;
    } else {
      /* Never quoted back: it is a secret. */
      std::string token = value.text();
      const bool valid = !token.empty() && token.size() <= 256 &&
                         std::all_of(token.begin(), token.end(), [](char c) {
                           return g_ascii_isalnum(c) ||
                                  std::string_view("-._~+/=").find(c) != std::string_view::npos;
                         });
      if (!valid)
        value.fail("must be 1 to 256 characters of A-Z a-z 0-9 - . _ ~ + / = (leave the key out "
                   "to disable authentication)");
      http.token = std::move(token);
    }
  });
  return http;
}

std::vector<std::string_view> camera_keys() {
  std::vector<std::string_view> keys = {"id", "url"};
  const auto names = setting_names();
  keys.insert(keys.end(), names.begin(), names.end());
  return keys;
}

/* One camera's mapping; its id still to be checked against the others. */
CameraConfig parse_camera(const Field &item, const CameraSettings &defaults,
                          std::optional<Field> &id_field) {
  require_map(item, "a mapping with id and url");
  CameraConfig camera;
  camera.settings = defaults;
  std::optional<Field> url_field;
  const auto keys = camera_keys();
  for_each_entry(item, keys, [&](const std::string &key, const Field &value) {
    if (key == "id")
      id_field.emplace(value);
    else if (key == "url")
      url_field.emplace(value);
    else
      apply_setting(key, value, camera.settings);
    /* Every valid value is a scalar; others failed above or fail below. */
    if (value.node().IsScalar())
      camera.keys.emplace_back(key, value.node().Scalar());
  });
  if (!id_field)
    item.fail("missing key \"id\"");
  if (!url_field)
    item.fail("missing key \"url\"");

  camera.id = id_field->text();
  if (!is_valid_camera_id(camera.id))
    id_field->fail("invalid id \"" + camera.id + "\" (expected 1 to 64 of A-Z a-z 0-9 _ -)");
  std::string error;
  auto url = parse_camera_url(url_field->url(), error);
  if (!url)
    url_field->fail(error);
  camera.url = std::move(*url);
  return camera;
}

/* The list under @field ("cameras:" of the config or of the overlay). */
std::vector<CameraConfig> parse_cameras(const Field &field, const CameraSettings &defaults,
                                        bool allow_empty) {
  if (!field.node().IsSequence())
    field.fail(std::string("expected a list of cameras, got ") +
               (field.node().IsNull() ? "nothing" : node_kind(field.node())));
  if (field.node().size() == 0 && !allow_empty)
    field.fail("empty list (at least one camera is needed)");
  if (field.node().size() > kMaxCameras)
    field.fail(std::to_string(field.node().size()) + " cameras, more than the maximum of " +
               std::to_string(kMaxCameras));

  std::vector<CameraConfig> cameras;
  std::map<std::string, int> id_lines;
  for (size_t index = 0; index < field.node().size(); index++) {
    std::optional<Field> id_field;
    CameraConfig camera = parse_camera(field.item(field.node()[index], index), defaults, id_field);
    if (auto [first, inserted] = id_lines.emplace(camera.id, id_field->line()); !inserted)
      id_field->fail("duplicate id \"" + camera.id + "\" (first at line " +
                     std::to_string(first->second) + ")");
    cameras.push_back(std::move(camera));
  }
  return cameras;
}

YAML::Node load_yaml(std::string_view text, const std::string &path) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception &e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) +
                          ": YAML syntax error: " + e.msg,
                      "", "syntax error: " + e.msg);
  }
}

std::optional<std::string> read_file(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

/* Applies the overlay @text (read from @path) to @config. */
void apply_overlay(std::string_view text, const std::string &path, Config &config) {
  const Document doc{path, config.variables};
  const YAML::Node root = load_yaml(text, path);
  const Field top(doc, root, "", 1);
  if (!root.IsDefined() || root.IsNull())
    return;
  require_map(top, "a mapping with cameras and removed");
  static constexpr std::string_view kKeys[] = {"cameras", "removed"};
  std::vector<CameraConfig> cameras;
  std::vector<std::string> removed;
  for_each_entry(top, kKeys, [&](const std::string &key, const Field &value) {
    if (key == "cameras") {
      cameras = parse_cameras(value, config.defaults, true);
      return;
    }
    if (!value.node().IsSequence())
      value.fail(std::string("expected a list of camera ids, got ") + node_kind(value.node()));
    for (size_t index = 0; index < value.node().size(); index++)
      removed.push_back(value.item(value.node()[index], index).text());
  });
  std::erase_if(config.cameras, [&](const CameraConfig &camera) {
    return std::find(removed.begin(), removed.end(), camera.id) != removed.end();
  });
  for (CameraConfig &camera : cameras) {
    auto found =
        std::find_if(config.cameras.begin(), config.cameras.end(),
                     [&](const CameraConfig &existing) { return existing.id == camera.id; });
    if (found != config.cameras.end())
      *found = std::move(camera);
    else
      config.cameras.push_back(std::move(camera));
  }
  if (config.cameras.size() > kMaxCameras)
    top.fail(std::to_string(config.cameras.size()) +
             " cameras with the overlay, more than the "
             "maximum of " +
             std::to_string(kMaxCameras));
}

/* @text as a YAML (and JSON) double-quoted scalar. */
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escape[8];
      g_snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned char>(c));
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

} // namespace

bool is_valid_camera_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return g_ascii_isalnum(c) || c == '_' || c == '-';
  });
}

const char *decoder_choice_name(DecoderChoice choice) {
  switch (choice) {
  case DecoderChoice::Auto:
    return "auto";
  case DecoderChoice::Nvidia:
    return "nvidia";
  case DecoderChoice::Software:
    return "software";
  }
  return "?";
}

const char *codec_choice_name(CodecChoice choice) {
  switch (choice) {
  case CodecChoice::Auto:
    return "auto";
  case CodecChoice::H264:
    return "h264";
  case CodecChoice::H265:
    return "h265";
  }
  return "?";
}

const char *output_format_name(OutputFormat format) {
  switch (format) {
  case OutputFormat::Jpeg:
    return "JPEG";
  case OutputFormat::Rgb:
    return "RGB";
  case OutputFormat::Bgr:
    return "BGR";
  case OutputFormat::Rgbp:
    return "RGBP";
  case OutputFormat::Nv12:
    return "NV12";
  }
  return "?";
}

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  for (OutputFormat format : {OutputFormat::Jpeg, OutputFormat::Rgb, OutputFormat::Bgr,
                              OutputFormat::Rgbp, OutputFormat::Nv12})
    if (name == output_format_name(format))
      return format;
  return std::nullopt;
}

const char *transport_name(Transport transport) {
  switch (transport) {
  case Transport::Tcp:
    return "tcp";
  case Transport::Udp:
    return "udp";
  case Transport::Auto:
    return "auto";
  }
  return "?";
}

const char *decode_mode_name(DecodeMode mode) {
  return mode == DecodeMode::Keyframes ? "keyframes" : "all";
}

const char *jpeg_encoder_choice_name(JpegEncoderChoice choice) {
  switch (choice) {
  case JpegEncoderChoice::Auto:
    return "auto";
  case JpegEncoderChoice::Gpujpegenc:
    return "gpujpegenc";
  case JpegEncoderChoice::Nvjpegenc:
    return "nvjpegenc";
  }
  return "?";
}

const char *tls_validation_name(TlsValidation validation) {
  return validation == TlsValidation::None ? "none" : "strict";
}

std::string ListenAddress::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string &error) {
  error = "expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, *:8080), got \"" +
          std::string(text) + "\"";
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed)
    host = host.substr(1, host.size() - 2);
  ListenAddress address;
  address.host = std::string(host);
  if (bracketed != (address.host.find(':') != std::string::npos))
    return std::nullopt; /* IPv6 needs brackets, nothing else takes them */
  if (address.host != "*" && address.host != "localhost" &&
      !g_hostname_is_ip_address(address.host.c_str())) {
    error = "invalid host \"" + address.host + "\" (expected an IP address, localhost or *)";
    return std::nullopt;
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    error = "invalid port \"" + std::string(port_text) + "\" (expected 0 to 65535)";
    return std::nullopt;
  }
  address.port = uint16_t(port);
  error.clear();
  return address;
}

Config parse_config(std::string_view text, const std::string &path, const Variables &variables) {
  const Document doc{path, variables};
  const YAML::Node root = load_yaml(text, path);
  const Field top(doc, root, "", 1);
  if (!root.IsDefined() || root.IsNull())
    top.fail("empty file (expected a mapping with \"cameras\")");
  require_map(top, "a mapping with defaults, http and cameras");

  static constexpr std::string_view kKeys[] = {"defaults", "http", "cameras"};
  std::optional<Field> defaults_field, http_field, cameras_field;
  for_each_entry(top, kKeys, [&](const std::string &key, const Field &value) {
    (key == "defaults" ? defaults_field
     : key == "http"   ? http_field
                       : cameras_field)
        .emplace(value);
  });

  Config config;
  config.path = path;
  config.variables = variables;
  config.defaults = defaults_field ? parse_defaults(*defaults_field) : CameraSettings();
  if (http_field)
    config.http = parse_http(*http_field);
  if (!cameras_field)
    top.fail("missing key \"cameras\"");
  config.cameras = parse_cameras(*cameras_field, config.defaults, false);
  config.main_cameras = config.cameras;
  return config;
}

Config load_config(const std::string &path) {
  const auto text = read_file(path);
  if (!text)
    throw ConfigError(path + ": cannot read: " + g_strerror(errno));
  g_autofree char *dir = g_path_get_dirname(path.c_str());
  g_autofree char *dotenv = g_build_filename(dir, ".env", nullptr);
  try {
    Config config = parse_config(*text, path, Variables::with_dotenv(dotenv));
    const std::string overlay = overlay_path(path);
    if (g_file_test(overlay.c_str(), G_FILE_TEST_EXISTS)) {
      const auto overlay_text = read_file(overlay);
      if (!overlay_text)
        throw ConfigError(overlay + ": cannot read: " + g_strerror(errno));
      apply_overlay(*overlay_text, overlay, config);
    }
    return config;
  } catch (const VariableError &e) {
    throw ConfigError(e.what());
  }
}

std::string overlay_path(const std::string &path) {
  for (std::string_view extension : {".yaml", ".yml"})
    if (path.ends_with(extension))
      return path.substr(0, path.size() - extension.size()) + ".overlay" + std::string(extension);
  return path + ".overlay.yaml";
}

std::string overlay_text(const Config &config, const std::vector<CameraConfig> &cameras) {
  g_autofree char *name = g_path_get_basename(config.path.c_str());
  std::string text =
      std::string("# Written by gpurtsp-launch for PUT, PATCH and DELETE /api/cameras/ID;\n"
                  "# loaded after ") +
      name +
      ": a camera here replaces the one with its id there or comes after\n"
      "# them, \"removed\" takes cameras of it out. Delete this file to run " +
      name + " alone.\n";
  const auto sorted_keys = [](const CameraKeys &keys) {
    return std::map<std::string, std::string>(keys.begin(), keys.end());
  };
  std::map<std::string_view, const CameraConfig *> main;
  for (const CameraConfig &camera : config.main_cameras)
    main.emplace(camera.id, &camera);
  std::string list;
  std::set<std::string_view> present;
  for (const CameraConfig &camera : cameras) {
    present.insert(camera.id);
    auto found = main.find(camera.id);
    if (found != main.end() && sorted_keys(found->second->keys) == sorted_keys(camera.keys))
      continue;
    std::string entry;
    for (const auto &[key, value] : camera.keys)
      entry += (entry.empty() ? "" : ", ") + key + ": " + quoted(value);
    list += "  - {" + entry + "}\n";
  }
  text += list.empty() ? "cameras: []\n" : "cameras:\n" + list;
  std::string removed;
  for (const CameraConfig &camera : config.main_cameras)
    if (!present.contains(camera.id))
      removed += (removed.empty() ? "" : ", ") + quoted(camera.id);
  return text + "removed: [" + removed + "]\n";
}

CameraConfig parse_camera_request(std::string_view body, const std::string &id,
                                  const CameraConfig *base, const Config &config) {
  static const std::string kPath = "request body";
  const Document doc{kPath, config.variables};
  const YAML::Node root = load_yaml(body, kPath);
  const Field top(doc, root, "", 1);
  if (!root.IsMap())
    top.fail(std::string("expected a JSON object with the keys of a camera, got ") +
             (root.IsDefined() && !root.IsNull() ? node_kind(root) : "nothing"));
  /* The submitted keys over @base's, then parsed as a camera of the config. */
  YAML::Node merged(YAML::NodeType::Map);
  if (base)
    for (const auto &[key, value] : base->keys)
      merged[key] = value;
  const auto keys = camera_keys();
  for_each_entry(top, keys, [&](const std::string &key, const Field &value) {
    if (key == "id" && value.node().IsScalar() && value.node().Scalar() != id)
      value.fail("\"" + value.node().Scalar() + "\" is not the id in the URL (\"" + id + "\")");
    merged[key] = value.node();
  });
  merged["id"] = id;
  std::optional<Field> id_field;
  try {
    CameraConfig camera = parse_camera(Field(doc, merged, "", 1), config.defaults, id_field);
    /* The id first, as a person writes it. */
    std::stable_partition(camera.keys.begin(), camera.keys.end(),
                          [](const auto &entry) { return entry.first == "id"; });
    return camera;
  } catch (const VariableError &e) {
    throw ConfigError(e.what(), "", e.what());
  }
}

} // namespace gpurtsp::launch
