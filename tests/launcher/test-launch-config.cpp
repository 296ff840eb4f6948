// SPDX-License-Identifier: MIT
/* gpurtsp-launch's config: every bad input is a one-line error naming the
 * file, line and key; variables, defaults and overrides; the rtsps keys
 * (tls_validation, tls_ca_file, with certificates made at test time); and the same
 * through the CLI (exit code 2, --check, --print-pipelines).
 *
 * Usage: test-launch-config PATH-OF-gpurtsp-launch */
#include <glib/gstdio.h>

#include <string>
#include <vector>

#include "config.h"
#include "pipeline-description.h"
#include "tls-files.hpp"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include "gpu-test-runner.h"

#include "text-asserts.h"

using namespace gpurtsp::launch;

static const char *launcher_path;

static const char *const kGood = "defaults:\n"
                                 "  decoder: software\n"
                                 "  fps: 4\n"
                                 "cameras:\n"
                                 "  - id: lobby\n"
                                 "    url: rtsp://127.0.0.1:8554/cam0\n"
                                 "  - id: yard\n"
                                 "    url: rtsp://viewer:s3cret@127.0.0.1:8554/cam1\n"
                                 "    fps: 0\n"
                                 "    width: 640\n"
                                 "    buffer_size: 30\n";

/* The ConfigError message of @text, or "" when it parses. */
static std::string config_error(const std::string &text, const Variables &variables = Variables()) {
  try {
    parse_config(text, "cameras.yaml", variables);
  } catch (const ConfigError &e) {
    return e.what();
  }
  return "";
}

/* @text with "VALUE" as @key of the one camera. */
static std::string camera_with(const std::string &key, const std::string &value) {
  return "cameras:\n  - id: cam\n    url: rtsp://127.0.0.1/x\n    " + key + ": " + value + "\n";
}

/* Fails unless @text gives one line starting "cameras.yaml:@line: @key: " and
 * containing @why. */
static void check_error(const std::string &text, int line, const std::string &key,
                        const std::string &why) {
  const std::string message = config_error(text);
  const std::string prefix = "cameras.yaml:" + std::to_string(line) + ": " + key + ": ";
  fail_unless(message.rfind(prefix, 0) == 0, "expected \"%s...\" for:\n%s\ngot \"%s\"",
              prefix.c_str(), text.c_str(), message.c_str());
  fail_unless(message.find(why) != std::string::npos, "\"%s\" does not say \"%s\"", message.c_str(),
              why.c_str());
  fail_unless(message.find('\n') == std::string::npos, "not one line: %s", message.c_str());
}

GST_START_TEST(test_good_config_merges_defaults) {
  const Config config = parse_config(kGood, "cameras.yaml", Variables());
  fail_unless_equals_int(config.cameras.size(), 2);
  const CameraConfig &lobby = config.cameras[0];
  const CameraConfig &yard = config.cameras[1];
  assert_equals_text(lobby.id, "lobby");
  /* Defaults reach every camera, a camera's own keys override them, and
   * what neither sets keeps the built-in default. */
  fail_unless(lobby.settings.decoder == DecoderChoice::Software);
  fail_unless(yard.settings.decoder == DecoderChoice::Software);
  fail_unless_equals_int(lobby.settings.fps, 4);
  fail_unless_equals_int(yard.settings.fps, 0);
  fail_unless_equals_int(lobby.settings.width, 0);
  fail_unless_equals_int(yard.settings.width, 640);
  fail_unless_equals_int(lobby.settings.jpeg_quality, CameraSettings().jpeg_quality);
  fail_unless(lobby.settings.jpeg_encoder == JpegEncoderChoice::Auto);
  fail_unless_equals_int(yard.settings.latency_ms, CameraSettings().latency_ms);
  /* The launcher serves only the newest frame: its sink keeps one unless a
   * camera asks for more. */
  fail_unless_equals_int(lobby.settings.buffer_size, 1);
  fail_unless_equals_int(yard.settings.buffer_size, 30);
  /* Credentials leave the location for rtspsrc's user-id/user-pw. */
  assert_equals_text(yard.url.location, "rtsp://127.0.0.1:8554/cam1");
  assert_equals_text(yard.url.user, "viewer");
  assert_equals_text(yard.url.password, "s3cret");
  assert_equals_text(yard.url.masked(), "rtsp://viewer:***@127.0.0.1:8554/cam1");
  assert_equals_text(config.http.listen.to_string(), "127.0.0.1:8080");
}
GST_END_TEST;

GST_START_TEST(test_unknown_keys) {
  check_error("cameras:\n  - id: a\n    url: rtsp://h/x\nhttps:\n  listen: '*:80'\n", 4, "https",
              "unknown key");
  check_error("defaults:\n  fsp: 3\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2, "defaults.fsp",
              "did you mean \"fps\"");
  check_error(camera_with("colour", "red"), 4, "cameras[0].colour", "unknown key");
  check_error("http:\n  port: 80\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2, "http.port",
              "unknown key");
  check_error("cameras:\n  - id: a\n    url: rtsp://h/x\n    fps: 3\n    fps: 4\n", 5,
              "cameras[0].fps", "duplicate key");
}
GST_END_TEST;

GST_START_TEST(test_bad_ids) {
  check_error("cameras:\n  - id: a\n    url: rtsp://h/x\n  - id: a\n    url: rtsp://h/y\n", 4,
              "cameras[1].id", "duplicate id \"a\" (first at line 2)");
  check_error("cameras:\n  - id: 'a b'\n    url: rtsp://h/x\n", 2, "cameras[0].id", "invalid id");
  check_error("cameras:\n  - id: ''\n    url: rtsp://h/x\n", 2, "cameras[0].id", "invalid id");
  check_error("cameras:\n  - id: " + std::string(65, 'x') + "\n    url: rtsp://h/x\n", 2,
              "cameras[0].id", "invalid id");
  check_error("cameras:\n  - url: rtsp://h/x\n", 2, "cameras[0]", "missing key \"id\"");
  check_error("cameras:\n  - id: a\n", 2, "cameras[0]", "missing key \"url\"");
}
GST_END_TEST;

GST_START_TEST(test_bad_urls) {
  check_error("cameras:\n  - id: a\n    url: http://127.0.0.1/x\n", 3, "cameras[0].url",
              "unsupported scheme \"http\" (expected rtsp or rtsps)");
  check_error("cameras:\n  - id: a\n    url: 'rtsp://'\n", 3, "cameras[0].url", "host");
  check_error("cameras:\n  - id: a\n    url: rtsp://h:99999/x\n", 3, "cameras[0].url", "port");
  check_error("cameras:\n  - id: a\n    url: rtsp://h:0/x\n", 3, "cameras[0].url", "port 0");
  check_error("cameras:\n  - id: a\n    url: 'rtsp://bad host/x'\n", 3, "cameras[0].url",
              "invalid host \"bad host\"");
  check_error("cameras:\n  - id: a\n    url: not a url\n", 3, "cameras[0].url", "");
  check_error("cameras:\n  - id: a\n    url: rtsp://:pw@h/x\n", 3, "cameras[0].url",
              "password without a user");
  /* Raw control characters (YAML escapes make them) are refused, not cut. */
  check_error("cameras:\n  - id: a\n    url: \"rtsp://h/x\\0y\"\n", 3, "cameras[0].url",
              "control character 0x00 at offset 10 (percent-encode it: %00)");
  check_error("cameras:\n  - id: a\n    url: \"rtsp://h/x\\ty\"\n", 3, "cameras[0].url",
              "control character 0x09 at offset 10");
  /* A URL we cannot parse is quoted with its password masked. */
  const std::string message = config_error("cameras:\n  - id: a\n    url: 'rtsp://u:hunter2@/x'\n");
  fail_if(message.empty());
  fail_unless(message.find("hunter2") == std::string::npos, "password quoted: %s", message.c_str());
}
GST_END_TEST;

GST_START_TEST(test_out_of_range_numbers) {
  struct Case {
    const char *key, *value;
  };
  const Case cases[] = {
      {"fps", "-1"},
      {"fps", "121"},
      {"width", "8"},
      {"width", "7681"},
      {"width", "-16"},
      {"jpeg_quality", "0"},
      {"jpeg_quality", "101"},
      {"buffer_size", "0"},
      {"buffer_size", "1001"},
      {"latency_ms", "-1"},
      {"latency_ms", "10001"},
      {"gpu", "-1"},
      {"gpu", "64"},
      {"stall_timeout_s", "0"},
      {"fps", "99999999999999999999"},
      {"thumbnail_width", "8"},
      {"thumbnail_width", "1921"},
      {"thumbnail_width", "-320"},
  };
  for (const Case &c : cases)
    check_error(camera_with(c.key, c.value), 4, std::string("cameras[0].") + c.key, "out of range");
  check_error(camera_with("fps", "fast"), 4, "cameras[0].fps", "expected an integer");
  check_error(camera_with("fps", "5.5"), 4, "cameras[0].fps", "expected an integer");
  check_error(camera_with("fps", "[1, 2]"), 4, "cameras[0].fps", "got a list");
  /* The ends of each range are accepted. */
  for (const Case &c :
       {Case{"fps", "0"}, Case{"fps", "120"}, Case{"width", "16"}, Case{"width", "7680"},
        Case{"jpeg_quality", "1"}, Case{"jpeg_quality", "100"}, Case{"buffer_size", "1000"},
        Case{"latency_ms", "10000"}, Case{"gpu", "63"}, Case{"thumbnail_width", "0"},
        Case{"thumbnail_width", "16"}, Case{"thumbnail_width", "1920"}})
    assert_equals_text(config_error(camera_with(c.key, c.value)), "");
  check_error(camera_with("thumbnail_width", "8"), 4, "cameras[0].thumbnail_width",
              "8 is out of range (0, or 16 to 1920)");
  check_error(camera_with("thumbnail_width", "small"), 4, "cameras[0].thumbnail_width",
              "expected an integer");
  /* 320 unless said otherwise; defaults: sets it for every camera. */
  fail_unless_equals_int(
      parse_config(kGood, "cameras.yaml", Variables()).cameras[0].settings.thumbnail_width, 320);
  const Config off = parse_config("defaults:\n  thumbnail_width: 0\ncameras:\n"
                                  "  - id: a\n    url: rtsp://h/x\n"
                                  "  - id: b\n    url: rtsp://h/y\n    thumbnail_width: 160\n",
                                  "cameras.yaml", Variables());
  fail_unless_equals_int(off.cameras[0].settings.thumbnail_width, 0);
  fail_unless_equals_int(off.cameras[1].settings.thumbnail_width, 160);
}
GST_END_TEST;

GST_START_TEST(test_bad_enums) {
  check_error(camera_with("decoder", "cuda"), 4, "cameras[0].decoder",
              "unknown value \"cuda\" (expected auto, nvidia or software)");
  check_error(camera_with("codec", "mjpeg"), 4, "cameras[0].codec", "expected auto, h264 or h265");
  check_error(camera_with("transport", "http"), 4, "cameras[0].transport",
              "expected tcp, udp or auto");
  check_error(camera_with("decode", "some"), 4, "cameras[0].decode", "expected all or keyframes");
  check_error(camera_with("jpeg_encoder", "nvjpeg"), 4, "cameras[0].jpeg_encoder",
              "unknown value \"nvjpeg\" (expected auto, gpujpegenc or nvjpegenc)");
  check_error("defaults:\n  jpeg_encoder: jpegenc\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2,
              "defaults.jpeg_encoder", "unknown value \"jpegenc\"");
  check_error("defaults:\n  decoder: NVIDIA\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2,
              "defaults.decoder", "unknown value");
}
GST_END_TEST;

GST_START_TEST(test_jpeg_encoder) {
  /* defaults: sets it for every camera, a camera overrides it. */
  const Config config =
      parse_config("defaults:\n  jpeg_encoder: nvjpegenc\ncameras:\n"
                   "  - id: a\n    url: rtsp://h/x\n"
                   "  - id: b\n    url: rtsp://h/y\n    jpeg_encoder: gpujpegenc\n"
                   "  - id: c\n    url: rtsp://h/z\n    jpeg_encoder: auto\n",
                   "cameras.yaml", Variables());
  fail_unless(config.cameras[0].settings.jpeg_encoder == JpegEncoderChoice::Nvjpegenc);
  fail_unless(config.cameras[1].settings.jpeg_encoder == JpegEncoderChoice::Gpujpegenc);
  fail_unless(config.cameras[2].settings.jpeg_encoder == JpegEncoderChoice::Auto);
  assert_equals_text(jpeg_encoder_choice_name(JpegEncoderChoice::Nvjpegenc), "nvjpegenc");
}
GST_END_TEST;

/* rtspsrc's properties for @camera, "name=value " each. */
static std::string source_description(const CameraConfig &camera) {
  std::string text;
  for (const PropertySpec &property : source_element(camera).properties)
    text += property.name + "=" + property.value + " ";
  return text;
}

GST_START_TEST(test_tls_keys) {
  check_error(camera_with("tls_validation", "off"), 4, "cameras[0].tls_validation",
              "unknown value \"off\" (expected strict or none)");
  check_error(camera_with("tls_ca_file", "''"), 4, "cameras[0].tls_ca_file", "empty file name");
  check_error(camera_with("tls_ca_file", "/nonexistent/ca.pem"), 4, "cameras[0].tls_ca_file",
              "\"/nonexistent/ca.pem\" is not a readable file");
  g_autofree char *dir = g_dir_make_tmp("gpurtsp-config-XXXXXX", nullptr);
  fail_unless(dir != nullptr);
  const std::string empty = std::string(dir) + "/empty.pem";
  const std::string garbage = std::string(dir) + "/garbage.pem";
  fail_unless(g_file_set_contents(empty.c_str(), "not a certificate\n", -1, nullptr));
  fail_unless(g_file_set_contents(
      garbage.c_str(), "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n", -1,
      nullptr));
  check_error(camera_with("tls_ca_file", empty), 4, "cameras[0].tls_ca_file",
              "holds no PEM certificate");
  check_error(camera_with("tls_ca_file", garbage), 4, "cameras[0].tls_ca_file",
              "cannot read CA certificates from \"" + garbage + "\"");
  check_error(camera_with("tls_ca_file", dir), 4, "cameras[0].tls_ca_file", "not a readable file");

  /* A real CA file; defaults: sets it for every camera, relative to the
   * config file's directory, and a camera overrides it. */
  const auto files = gpurtsp::test::make_tls_files(dir, "config");
  g_autofree char *base = g_path_get_basename(files.ca_cert.c_str());
  const std::string config_path = std::string(dir) + "/cameras.yaml";
  const Config config = parse_config(std::string("defaults:\n  tls_ca_file: ") + base +
                                         "\ncameras:\n"
                                         "  - id: a\n    url: rtsps://h/x\n"
                                         "  - id: b\n    url: rtsps://h/y\n"
                                         "    tls_validation: none\n    tls_ca_file: " +
                                         files.ca_cert + "\n",
                                     config_path, Variables());
  assert_equals_text(config.cameras[0].settings.tls_ca_file, files.ca_cert);
  fail_unless(config.cameras[0].settings.tls_validation == TlsValidation::Strict);
  fail_unless(config.cameras[1].settings.tls_validation == TlsValidation::None);
  fail_unless(config.cameras[0].url.tls() &&
              !parse_config(kGood, "c.yaml", Variables()).cameras[0].url.tls());
  assert_equals_text(tls_validation_name(TlsValidation::None), "none");
  /* Only rtsps:// cameras get the TLS properties. */
  const std::string none = source_description(config.cameras[1]);
  fail_unless(none.find("tls-validation-flags=0") != std::string::npos, "%s", none.c_str());
  fail_unless(source_description(config.cameras[0]).find("tls-") == std::string::npos);
  g_autoptr(GDir) listing = g_dir_open(dir, 0, nullptr);
  while (const char *name = g_dir_read_name(listing))
    g_unlink((std::string(dir) + "/" + name).c_str());
  g_rmdir(dir);
}
GST_END_TEST;

GST_START_TEST(test_bad_structure) {
  check_error("cameras: []\n", 1, "cameras", "empty list");
  check_error("cameras:\n", 1, "cameras", "expected a list of cameras, got nothing");
  check_error("cameras:\n  id: a\n", 2, "cameras", "expected a list");
  check_error("defaults: 3\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 1, "defaults",
              "expected a mapping");
  check_error("http:\n  listen: 'nowhere'\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2,
              "http.listen", "expected HOST:PORT");
  check_error("http:\n  token: 'has space'\ncameras:\n  - id: a\n    url: rtsp://h/x\n", 2,
              "http.token", "must be 1 to 256");
  /* No key to name: the file and line alone. */
  assert_equals_text(config_error(""),
                     "cameras.yaml:1: empty file (expected a mapping with \"cameras\")");
  assert_equals_text(config_error("defaults: {}\n"), "cameras.yaml:1: missing key \"cameras\"");
  assert_equals_text(config_error("- a\n- b\n"),
                     "cameras.yaml:1: expected a mapping with defaults, http and cameras, "
                     "got a list");
}
GST_END_TEST;

GST_START_TEST(test_malformed_yaml) {
  const std::string message = config_error("cameras:\n  - id: a\n    url: [unclosed\n");
  fail_unless(message.rfind("cameras.yaml:", 0) == 0, "%s", message.c_str());
  fail_unless(message.find("YAML syntax error") != std::string::npos, "%s", message.c_str());
  const std::string tabs = config_error("cameras:\n\t- id: a\n");
  fail_unless(tabs.find("cameras.yaml:2: YAML syntax error") == 0, "%s", tabs.c_str());
}
GST_END_TEST;

GST_START_TEST(test_variables) {
  const std::string text = "cameras:\n  - id: ${CAM_ID}\n    url: rtsp://${CAM_USER}:${CAM_PW}"
                           "@127.0.0.1/cam0\n";
  Variables variables;
  variables.set("CAM_ID", "door");
  variables.set("CAM_USER", "admin");
  /* Reserved characters in a password from a variable need no escaping. */
  variables.set("CAM_PW", "p@ss:w/rd");
  const Config config = parse_config(text, "cameras.yaml", variables);
  assert_equals_text(config.cameras[0].id, "door");
  assert_equals_text(config.cameras[0].url.password, "p@ss:w/rd");
  assert_equals_text(config.cameras[0].url.location, "rtsp://127.0.0.1/cam0");

  Variables partial;
  partial.set("CAM_ID", "door");
  partial.set("CAM_USER", "admin");
  g_unsetenv("CAM_PW");
  const std::string message = config_error(text, partial);
  fail_unless(message.rfind("cameras.yaml:3: cameras[0].url: ", 0) == 0, "%s", message.c_str());
  fail_unless(message.find("CAM_PW is not set") != std::string::npos, "%s", message.c_str());
  check_error("cameras:\n  - id: ${A B}\n    url: rtsp://h/x\n", 2, "cameras[0].id",
              "invalid variable name");
  check_error("cameras:\n  - id: ${A\n    url: rtsp://h/x\n", 2, "cameras[0].id", "unterminated");
  /* $${ is a literal ${, which then is not a valid id. */
  check_error("cameras:\n  - id: $${A}\n    url: rtsp://h/x\n", 2, "cameras[0].id",
              "invalid id \"${A}\"");
}
GST_END_TEST;

/* A temporary directory holding cameras.yaml (and .env); removed after. */
class ConfigDir {
public:
  ConfigDir() : dir_(g_dir_make_tmp("launch-config-XXXXXX", nullptr)) {}
  ~ConfigDir() {
    for (const char *name : {"cameras.yaml", ".env", "CAM_ID", "CAM_PATH", "CAM_PW"})
      g_remove(path(name).c_str());
    g_rmdir(dir_);
    g_free(dir_);
  }
  std::string path(const char *name) const { return std::string(dir_) + "/" + name; }
  std::string write(const char *name, const std::string &text) const {
    fail_unless(g_file_set_contents(path(name).c_str(), text.c_str(), -1, nullptr));
    return path(name);
  }

private:
  char *dir_;
};

GST_START_TEST(test_dotenv_and_environment) {
  ConfigDir dir;
  const std::string config_path =
      dir.write("cameras.yaml", "cameras:\n  - id: ${CAM_ID}\n    url: rtsp://h/${CAM_PATH}\n");
  dir.write(".env", "# comment\nexport CAM_ID=from-dotenv\nCAM_PATH=\"stream 1\"\n");
  g_unsetenv("CAM_ID");
  g_unsetenv("CAM_PATH");
  Config config = load_config(config_path);
  assert_equals_text(config.cameras[0].id, "from-dotenv");

  /* The environment wins over .env (as with docker compose). */
  g_setenv("CAM_ID", "from-env", TRUE);
  config = load_config(config_path);
  assert_equals_text(config.cameras[0].id, "from-env");
  g_unsetenv("CAM_ID");

  /* A malformed .env is named with its line. */
  dir.write(".env", "CAM_ID=ok\nno equals sign\n");
  try {
    load_config(config_path);
    fail("a malformed .env was accepted");
  } catch (const ConfigError &e) {
    assert_equals_text(e.what(), (dir.path(".env") + ":2: expected KEY=VALUE"));
  }
  /* Without .env the message says where it was looked for. */
  g_remove(dir.path(".env").c_str());
  try {
    load_config(config_path);
    fail("an unset variable was accepted");
  } catch (const ConfigError &e) {
    fail_unless(std::string(e.what()).find("(and there is no " + dir.path(".env") + ")") !=
                    std::string::npos,
                "%s", e.what());
  }
  try {
    load_config(dir.path("missing.yaml"));
    fail("a missing file was accepted");
  } catch (const ConfigError &e) {
    fail_unless(std::string(e.what()).find("missing.yaml: cannot read") != std::string::npos);
  }
}
GST_END_TEST;

/* systemd credentials ($CREDENTIALS_DIRECTORY/NAME, LoadCredential=) come
 * after the environment and .env; one trailing newline is dropped. */
GST_START_TEST(test_credentials_directory) {
  ConfigDir dir;
  ConfigDir credentials;
  const std::string config_path = dir.write(
      "cameras.yaml", "cameras:\n  - id: ${CAM_ID}\n    url: rtsp://u:${CAM_PW}@h/${CAM_PATH}\n");
  credentials.write("CAM_ID", "from-credential\n");
  credentials.write("CAM_PATH", "path\r\n");
  credentials.write("CAM_PW", "pw with\nnewline\n\n");
  for (const char *name : {"CAM_ID", "CAM_PATH", "CAM_PW"})
    g_unsetenv(name);
  g_setenv("CREDENTIALS_DIRECTORY", credentials.path("").c_str(), TRUE);
  Config config = load_config(config_path);
  assert_equals_text(config.cameras[0].id, "from-credential");
  assert_equals_text(config.cameras[0].url.location, "rtsp://h/path");
  /* Only one newline goes: the rest is the credential's. */
  assert_equals_text(config.cameras[0].url.password, "pw with\nnewline\n");

  /* .env wins over a credential, the environment over both. */
  dir.write(".env", "CAM_ID=from-dotenv\n");
  config = load_config(config_path);
  assert_equals_text(config.cameras[0].id, "from-dotenv");
  g_setenv("CAM_ID", "from-env", TRUE);
  config = load_config(config_path);
  assert_equals_text(config.cameras[0].id, "from-env");
  g_unsetenv("CAM_ID");

  /* Missing everywhere: the message names the credentials directory too. */
  g_remove(credentials.path("CAM_PATH").c_str());
  try {
    load_config(config_path);
    fail("an unset variable was accepted");
  } catch (const ConfigError &e) {
    fail_unless(std::string(e.what()).find("CAM_PATH is not set") != std::string::npos &&
                    std::string(e.what()).find("nor a credential in " + credentials.path("")) !=
                        std::string::npos,
                "%s", e.what());
  }

  /* Without $CREDENTIALS_DIRECTORY no file is read. */
  g_unsetenv("CREDENTIALS_DIRECTORY");
  credentials.write("CAM_PATH", "path\n");
  try {
    load_config(config_path);
    fail("a credential was read without $CREDENTIALS_DIRECTORY");
  } catch (const ConfigError &e) {
    fail_unless(std::string(e.what()).find("is not set") != std::string::npos &&
                    std::string(e.what()).find("credential") == std::string::npos,
                "%s", e.what());
  }
}
GST_END_TEST;

struct Result {
  int status = -1;
  std::string out, err;
};

static Result run_launcher(const std::vector<std::string> &args) {
  std::vector<char *> argv = {const_cast<char *>(launcher_path)};
  for (const std::string &arg : args)
    argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);
  g_autofree char *out = nullptr;
  g_autofree char *err = nullptr;
  int wait_status = 0;
  g_autoptr(GError) error = nullptr;
  fail_unless(g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &out,
                           &err, &wait_status, &error),
              "cannot run %s: %s", launcher_path, error ? error->message : "");
  fail_unless(WIFEXITED(wait_status), "%s died: %s", launcher_path, err);
  return {WEXITSTATUS(wait_status), out, err};
}

GST_START_TEST(test_output_formats) {
  for (const char *name : {"JPEG", "RGB", "BGR", "RGBP", "NV12"})
    assert_equals_text(output_format_name(*parse_output_format(name)), name);
  fail_if(parse_output_format("rgb").has_value());
  fail_if(parse_output_format("").has_value());
}
GST_END_TEST;

GST_START_TEST(test_cli_errors) {
  ConfigDir dir;
  struct Case {
    std::string text, expected;
  };
  const Case cases[] = {
      {camera_with("fps", "500"), ":4: cameras[0].fps: 500 is out of range (0 to 120)\n"},
      {"cameras:\n  - id: a\n    url: ftp://h/x\n", ":3: cameras[0].url: unsupported scheme"},
      {"cameras: [\n", ": YAML syntax error"},
      {"cameras:\n  - id: a\n    url: rtsp://h/${NOT_SET_ANYWHERE}\n",
       ":3: cameras[0].url: environment variable NOT_SET_ANYWHERE is not set"},
  };
  for (const Case &c : cases) {
    const std::string path = dir.write("cameras.yaml", c.text);
    for (bool check : {true, false}) {
      std::vector<std::string> args = {"--config", path};
      if (check)
        args.push_back("--check");
      const Result result = run_launcher(args);
      fail_unless_equals_int(result.status, 2);
      assert_equals_text(result.out, "");
      fail_unless(result.err.rfind(path + ":", 0) == 0, "%s", result.err.c_str());
      fail_unless(result.err.find(c.expected) != std::string::npos, "\"%s\" lacks \"%s\"",
                  result.err.c_str(), c.expected.c_str());
      fail_unless(result.err.find('\n') == result.err.size() - 1, "not one line: %s",
                  result.err.c_str());
    }
  }
  /* Usage errors are 2 as well. */
  fail_unless_equals_int(run_launcher({}).status, 2);
  fail_unless_equals_int(run_launcher({"--demo", "0"}).status, 2);
  fail_unless_equals_int(run_launcher({"--demo", "65"}).status, 2);
  fail_unless_equals_int(run_launcher({"--check"}).status, 2);
  fail_unless_equals_int(
      run_launcher({"--config", dir.path("cameras.yaml"), "--log-level", "x"}).status, 2);
  const Result missing = run_launcher({"--config", dir.path("none.yaml")});
  fail_unless_equals_int(missing.status, 2);
  fail_unless(missing.err.find("none.yaml: cannot read") != std::string::npos, "%s",
              missing.err.c_str());
  const Result listen =
      run_launcher({"--config", dir.write("cameras.yaml", kGood), "--listen", "x:1", "--check"});
  fail_unless_equals_int(listen.status, 2);
  fail_unless(listen.err.find("--listen: invalid host \"x\"") != std::string::npos, "%s",
              listen.err.c_str());
  /* --max-decoders-per-gpu: a whole number 0 (no limit) to 100000, checked
   * before anything starts (--check: a value let through ends the test). */
  for (const char *bad : {"-1", "x", "1.5", "", "100001"}) {
    const Result decoders = run_launcher(
        {"--config", dir.path("cameras.yaml"), "--max-decoders-per-gpu", bad, "--check"});
    fail_unless_equals_int(decoders.status, 2);
    assert_equals_text(decoders.out, "");
    fail_unless(decoders.err.find("--max-decoders-per-gpu") != std::string::npos, "\"%s\": %s", bad,
                decoders.err.c_str());
  }
  for (const char *good : {"0", "1", "300"}) {
    const Result decoders = run_launcher(
        {"--config", dir.path("cameras.yaml"), "--max-decoders-per-gpu", good, "--check"});
    fail_unless_equals_int(decoders.status, 0);
    fail_unless(decoders.out.find(": OK: ") != std::string::npos, "%s: %s", good,
                decoders.out.c_str());
  }
}
GST_END_TEST;

GST_START_TEST(test_cli_check) {
  ConfigDir dir;
  const std::string path = dir.write("cameras.yaml", kGood);
  const Result result = run_launcher({"--config", path, "--check"});
  fail_unless_equals_int(result.status, 0);
  assert_equals_text(result.out,
                     (path + ": OK: 2 cameras (decoder software: 2), http 127.0.0.1:8080 "
                             "without token\n"));
  assert_equals_text(result.err, "");
  const Result listen = run_launcher({"--config", path, "--check", "--listen", "[::1]:9000"});
  fail_unless_equals_int(listen.status, 0);
  fail_unless(listen.out.find("http [::1]:9000 without token") != std::string::npos, "%s",
              listen.out.c_str());
}
GST_END_TEST;

GST_START_TEST(test_cli_print_pipelines) {
  ConfigDir dir;
  const std::string path = dir.write("cameras.yaml", kGood);
  const Result result = run_launcher({"--config", path, "--print-pipelines"});
  fail_unless_equals_int(result.status, 0);
  fail_unless(result.out.find("s3cret") == std::string::npos, "password printed:\n%s",
              result.out.c_str());
  fail_unless(result.out.find("user-pw=***") != std::string::npos, "%s", result.out.c_str());
  fail_unless(result.out.find("# lobby: software decoder") != std::string::npos, "%s",
              result.out.c_str());
  fail_unless(result.out.find("gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam0 ") !=
                  std::string::npos,
              "%s", result.out.c_str());
  /* yard: width 640 scales, fps 0 keeps every frame (no videorate). */
  const size_t yard = result.out.find("# yard:");
  fail_unless(yard != std::string::npos);
  const std::string yard_line = result.out.substr(yard);
  fail_unless(yard_line.find("width=640") != std::string::npos, "%s", yard_line.c_str());
  /* Its thumbnail branch has the only videorate: 1 frame/s, 320 wide. */
  const size_t branch = yard_line.find(" split. ! videorate drop-only=true max-rate=1 ! "
                                       "videoscale ! video/x-raw,width=320,");
  fail_unless(branch != std::string::npos, "%s", yard_line.c_str());
  fail_unless(yard_line.substr(0, branch).find("videorate") == std::string::npos, "%s",
              yard_line.c_str());
  fail_unless(yard_line.find("latestframesink name=thumb") != std::string::npos, "%s",
              yard_line.c_str());
  fail_unless(result.out.substr(0, yard).find("videorate drop-only=true max-rate=4") !=
                  std::string::npos,
              "%s", result.out.c_str());
  fail_unless(result.err.find("s3cret") == std::string::npos, "%s", result.err.c_str());
}
GST_END_TEST;

/* The "# id: note" line says which decoder and JPEG encoder each camera got
 * and why. Software decoding is all this host (no GPU) can show for sure. */
GST_START_TEST(test_cli_print_pipelines_choices) {
  ConfigDir dir;
  const std::string path = dir.write("cameras.yaml", "defaults:\n"
                                                     "  decoder: software\n"
                                                     "cameras:\n"
                                                     "  - id: lobby\n"
                                                     "    url: rtsp://127.0.0.1:8554/cam0\n"
                                                     "  - id: yard\n"
                                                     "    url: rtsp://127.0.0.1:8554/cam1\n"
                                                     "    codec: h265\n"
                                                     "    jpeg_encoder: nvjpegenc\n");
  const Result result = run_launcher({"--config", path, "--print-pipelines"});
  fail_unless_equals_int(result.status, 0);
  fail_unless(result.out.find("# lobby: software decoder; decoder avdec_h264: software decoding, "
                              "one thread per camera; jpeg encoder jpegenc: software decoding "
                              "encodes on the CPU; codec auto") != std::string::npos,
              "%s", result.out.c_str());
  fail_unless(result.out.find("# yard: software decoder; decoder avdec_h265: software decoding, "
                              "one thread per camera; jpeg encoder jpegenc: software decoding "
                              "encodes on the CPU (jpeg_encoder: nvjpegenc is for nvidia "
                              "decoding)\n") != std::string::npos,
              "%s", result.out.c_str());
  /* Each note stays one comment line before its launch line. */
  size_t lines = 0;
  for (size_t at = 0; (at = result.out.find('\n', at)) != std::string::npos; at++)
    lines++;
  fail_unless_equals_int(lines, 4);
}
GST_END_TEST;

/* nvjpegenc takes no RGB: with width it falls back to gpujpegenc and says so
 * in the log, whatever this host has (without gpujpegenc auto then falls
 * back to software decoding and the note says why). */
GST_START_TEST(test_cli_nvjpegenc_width_fallback) {
  ConfigDir dir;
  const std::string path = dir.write("cameras.yaml", "cameras:\n"
                                                     "  - id: gate\n"
                                                     "    url: rtsp://127.0.0.1:8554/cam0\n"
                                                     "    jpeg_encoder: nvjpegenc\n"
                                                     "    width: 640\n");
  const Result result = run_launcher({"--config", path, "--print-pipelines"});
  fail_unless_equals_int(result.status, 0);
  fail_unless(result.err.find("jpeg_encoder: nvjpegenc") != std::string::npos &&
                  result.err.find("width needs gpunv12torgb's RGB, which nvjpegenc does not "
                                  "take") != std::string::npos,
              "no fallback logged: %s", result.err.c_str());
  fail_unless(result.out.find("nvjpegenc quality") == std::string::npos, "%s", result.out.c_str());
  const bool nvidia = result.out.find("# gate: nvidia decoder") != std::string::npos;
  fail_unless(nvidia ? result.out.find("jpeg encoder gpujpegenc instead of jpeg_encoder: "
                                       "nvjpegenc") != std::string::npos
                     : result.out.find("# gate: software decoder (auto: jpeg_encoder: nvjpegenc "
                                       "falls back to gpujpegenc") != std::string::npos,
              "%s", result.out.c_str());
}
GST_END_TEST;

static Suite *launch_config_suite() {
  Suite *s = suite_create("launch-config");
  TCase *tc = tcase_create("config");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_good_config_merges_defaults);
  tcase_add_test(tc, test_unknown_keys);
  tcase_add_test(tc, test_bad_ids);
  tcase_add_test(tc, test_bad_urls);
  tcase_add_test(tc, test_out_of_range_numbers);
  tcase_add_test(tc, test_bad_enums);
  tcase_add_test(tc, test_jpeg_encoder);
  tcase_add_test(tc, test_tls_keys);
  tcase_add_test(tc, test_bad_structure);
  tcase_add_test(tc, test_malformed_yaml);
  tcase_add_test(tc, test_variables);
  tcase_add_test(tc, test_dotenv_and_environment);
  tcase_add_test(tc, test_credentials_directory);
  tcase_add_test(tc, test_output_formats);
  TCase *cli = tcase_create("cli");
  tcase_set_timeout(cli, 60);
  suite_add_tcase(s, cli);
  tcase_add_test(cli, test_cli_errors);
  tcase_add_test(cli, test_cli_check);
  tcase_add_test(cli, test_cli_print_pipelines);
  tcase_add_test(cli, test_cli_print_pipelines_choices);
  tcase_add_test(cli, test_cli_nvjpegenc_width_fallback);
  return s;
}

static int requirements(gputest::Requirements &, int &argc, char **&argv) {
  if (argc != 2) {
    g_printerr("usage: %s PATH-OF-gpurtsp-launch\n", argv[0]);
    return 2;
  }
  launcher_path = argv[1];
  /* Taken: GStreamer's options are not parsed from it. */
  argc = 1;
  return 0;
}

GPUTEST_MAIN("launch-config", launch_config_suite, requirements)
