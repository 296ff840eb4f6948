// SPDX-License-Identifier: MIT
/* camsim and the RTSP test fixture: what synthetic cameras serve, restarts,
 * authentication, transports, mounts and clip handling. */
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "rtsp-fixture.hpp"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using gpurtsp::camsim::Behavior;
using gpurtsp::camsim::Codec;
using gpurtsp::camsim::Error;
using gpurtsp::camsim::Options;
using gpurtsp::camsim::Source;
using gpurtsp::test::camera_options;
using gpurtsp::test::RtspClient;
using gpurtsp::test::RtspFixture;

static const GstClockTime kTimeout = gpurtsp::test::scaled_timeout(10 * GST_SECOND);

/* Checks that a sample carries a parsed frame of the camera's size. */
static void check_video_sample(GstSample *sample, const char *media_type, int width, int height) {
  fail_unless(sample != nullptr, "no %s frame from the camera", media_type);
  GstStructure *s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
  int w = 0, h = 0;
  fail_unless(gst_structure_has_name(s, media_type), "got %s", gst_structure_get_name(s));
  fail_unless(gst_structure_get_int(s, "width", &w) && gst_structure_get_int(s, "height", &h));
  fail_unless_equals_int(w, width);
  fail_unless_equals_int(h, height);
  fail_unless(gst_buffer_get_size(gst_sample_get_buffer(sample)) > 0);
}

/* Whether start() fails with an Error that names @what. */
static bool start_fails_naming(gpurtsp::camsim::Server &server, const std::string &what) {
  try {
    server.start();
  } catch (const Error &error) {
    GST_INFO("start failed: %s", error.what());
    return std::string(error.what()).find(what) != std::string::npos;
  }
  return false;
}

/* Whether rtspsrc tells that the server went away: an error, EOS, or its
 * "The server closed the connection." warning (RESOURCE/READ), which is what
 * it posts for a TCP connection closed by the server; the EOS that follows
 * it may be held back in the jitterbuffer. */
static bool client_loses_stream(RtspClient &client) {
  const gint64 deadline = g_get_monotonic_time() + gint64(kTimeout / GST_USECOND);
  while (g_get_monotonic_time() < deadline) {
    g_autoptr(GstMessage) msg = client.wait_message(
        GstMessageType(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_WARNING),
        GstClockTime(deadline - g_get_monotonic_time()) * GST_USECOND);
    if (!msg)
      return false;
    if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_WARNING)
      return true;
    g_autoptr(GError) warning = nullptr;
    gst_message_parse_warning(msg, &warning, nullptr);
    if (g_error_matches(warning, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ))
      return true;
  }
  return false;
}

GST_START_TEST(test_describe_and_play) {
  RtspFixture fixture(camera_options(2));
  fail_unless(fixture.port() != 0);
  /* The macro keeps the pointers past the statement: no temporaries. */
  const std::string url = fixture.url(1);
  const std::string expected = "rtsp://127.0.0.1:" + std::to_string(fixture.port()) + "/cam1";
  fail_unless_equals_string(url.c_str(), expected.c_str());
  for (size_t i = 0; i < 2; i++) {
    RtspClient client(fixture.url(i));
    g_autoptr(GstSample) sample = client.pull(kTimeout);
    check_video_sample(sample, "video/x-h264", 320, 240);
  }
}
GST_END_TEST;

GST_START_TEST(test_restart_same_port) {
  RtspFixture fixture;
  uint16_t port = fixture.port();
  /* Over TCP the client sees the connection close; over UDP rtspsrc would
   * just time out and reconnect. */
  RtspClient before(fixture.url(), RtspClient::kH264Tail, "protocols=tcp");
  g_autoptr(GstSample) first = before.pull(kTimeout);
  check_video_sample(first, "video/x-h264", 320, 240);

  fixture.restart();
  fail_unless_equals_int(fixture.port(), port);
  /* The old connection must really be gone, not just the listener. */
  fail_unless(client_loses_stream(before), "the client did not notice the camera going away");

  RtspClient after(fixture.url());
  g_autoptr(GstSample) again = after.pull(kTimeout);
  check_video_sample(again, "video/x-h264", 320, 240);
}
GST_END_TEST;

GST_START_TEST(test_credentials) {
  Options options = camera_options();
  options.user = "admin";
  options.password = "s3cret:!";
  RtspFixture fixture(options);
  fail_unless(fixture.url_with_credentials().find("admin:s3cret%3A%21@") != std::string::npos);

  RtspClient anonymous(fixture.url());
  fail_unless(
      anonymous.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED, kTimeout));
  RtspClient wrong(fixture.url(), RtspClient::kH264Tail, "user-id=admin user-pw=wrong");
  fail_unless(wrong.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED, kTimeout));

  RtspClient right(fixture.url_with_credentials());
  g_autoptr(GstSample) sample = right.pull(kTimeout);
  check_video_sample(sample, "video/x-h264", 320, 240);
}
GST_END_TEST;

GST_START_TEST(test_unauthorized_behavior) {
  Options options = camera_options();
  options.user = "admin";
  options.password = "admin";
  options.behavior = Behavior::Unauthorized;
  RtspFixture fixture(options);
  RtspClient client(fixture.url_with_credentials());
  fail_unless(client.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED, kTimeout));
}
GST_END_TEST;

GST_START_TEST(test_transports) {
  Options options = camera_options();
  options.transports.udp = false;
  {
    RtspFixture tcp_only(options);
    RtspClient udp(tcp_only.url(), RtspClient::kH264Tail, "protocols=udp");
    g_autoptr(GstMessage) error = udp.wait_message(GST_MESSAGE_ERROR, kTimeout);
    fail_unless(error != nullptr, "a UDP-only client played from a TCP-only camera");
    RtspClient tcp(tcp_only.url(), RtspClient::kH264Tail, "protocols=tcp");
    g_autoptr(GstSample) sample = tcp.pull(kTimeout);
    check_video_sample(sample, "video/x-h264", 320, 240);
  }
  options.transports = {.udp = true, .tcp = false};
  RtspFixture udp_only(options);
  RtspClient udp(udp_only.url(), RtspClient::kH264Tail, "protocols=udp");
  g_autoptr(GstSample) sample = udp.pull(kTimeout);
  check_video_sample(sample, "video/x-h264", 320, 240);
}
GST_END_TEST;

GST_START_TEST(test_h265_clip) {
  Options options = camera_options();
  options.codec = Codec::H265;
  RtspFixture fixture(options);
  RtspClient client(fixture.url(), "rtph265depay ! h265parse ! appsink name=sink sync=false");
  g_autoptr(GstSample) sample = client.pull(kTimeout);
  check_video_sample(sample, "video/x-h265", 320, 240);
}
GST_END_TEST;

GST_START_TEST(test_live_source) {
  Options options = camera_options();
  options.source = Source::Live;
  RtspFixture fixture(options);
  RtspClient client(fixture.url());
  g_autoptr(GstSample) sample = client.pull(kTimeout);
  check_video_sample(sample, "video/x-h264", 320, 240);
}
GST_END_TEST;

GST_START_TEST(test_named_mounts_and_stop_mount) {
  Options options = camera_options();
  options.mounts = {"front", "/Streaming/Channels/101"};
  RtspFixture fixture(options);
  fail_unless_equals_int(fixture.server().size(), 2);
  fail_unless_equals_string(fixture.server().mount(1).c_str(), "/Streaming/Channels/101");

  std::string base = "rtsp://127.0.0.1:" + std::to_string(fixture.port());
  RtspClient unknown(base + "/cam0");
  fail_unless(unknown.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, kTimeout));

  RtspClient front(fixture.url(0), RtspClient::kH264Tail, "protocols=tcp");
  RtspClient other(fixture.url(1), RtspClient::kH264Tail, "protocols=tcp");
  g_autoptr(GstSample) s1 = front.pull(kTimeout);
  g_autoptr(GstSample) s2 = other.pull(kTimeout);
  check_video_sample(s1, "video/x-h264", 320, 240);
  check_video_sample(s2, "video/x-h264", 320, 240);

  fixture.server().stop_mount(0);
  fail_unless(client_loses_stream(front), "the stopped mount kept its client");
  RtspClient gone(fixture.url(0));
  fail_unless(gone.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, kTimeout));
  /* The other mount is untouched: frames keep coming on the same connection. */
  for (int i = 0; i < 5; i++) {
    g_autoptr(GstSample) more = other.pull(kTimeout);
    check_video_sample(more, "video/x-h264", 320, 240);
  }

  fixture.server().start_mount(0);
  RtspClient back(fixture.url(0));
  g_autoptr(GstSample) s3 = back.pull(kTimeout);
  check_video_sample(s3, "video/x-h264", 320, 240);
}
GST_END_TEST;

/* The clip loops every second here: frames must keep coming at the camera's
 * rate, counted against the wall clock, with evenly spaced RTP timestamps
 * across the loop points. The timestamps are the server's own
 * (buffer-mode=none): in its default mode the jitterbuffer folds arrival
 * jitter into them, and a busy 2-core machine made that 170 ms. */
GST_START_TEST(test_clip_loops_in_real_time) {
  Options options = camera_options();
  options.clip_seconds = 1;
  RtspFixture fixture(options);
  RtspClient client(fixture.url(), RtspClient::kH264Tail, "buffer-mode=none");

  std::vector<GstClockTime> pts;
  g_autoptr(GstSample) first = client.pull(kTimeout);
  fail_unless(first != nullptr);
  const gint64 start = g_get_monotonic_time();
  while (g_get_monotonic_time() - start < 2500 * G_TIME_SPAN_MILLISECOND) {
    g_autoptr(GstSample) sample = client.pull(kTimeout);
    fail_unless(sample != nullptr, "the stream stalled after %zu frames", pts.size());
    pts.push_back(GST_BUFFER_PTS(gst_sample_get_buffer(sample)));
  }
  /* 2.5 s at 15 fps is 37 frames; allow for start-up jitter. */
  fail_unless(pts.size() >= 33 && pts.size() <= 41, "%zu frames in 2.5 s", pts.size());
  const GstClockTimeDiff period = GST_SECOND / 15;
  for (size_t i = 1; i < pts.size(); i++) {
    GstClockTimeDiff step = GST_CLOCK_DIFF(pts[i - 1], pts[i]);
    fail_unless(step > period - 15 * GST_MSECOND && step < period + 15 * GST_MSECOND,
                "frame %zu came %" GST_STIME_FORMAT " after the previous one", i,
                GST_STIME_ARGS(step));
  }

  auto stats = fixture.server().stats();
  fail_unless_equals_int(stats.clients, 1);
  fail_unless_equals_int(stats.streams, 1);
  fail_unless(stats.frames_sent >= pts.size());
  fail_unless_equals_int(stats.frames_dropped, 0);
  fail_unless(stats.rtp_packets >= stats.frames_sent);
  fail_unless(stats.rtp_bytes > 0);
}
GST_END_TEST;

/* Polls stats() until @done holds for them, up to kTimeout. */
template <typename Done>
static bool stats_reach(gpurtsp::camsim::Server &server, Done done) {
  const gint64 deadline = g_get_monotonic_time() + gint64(kTimeout / GST_USECOND);
  while (!done(server.stats())) {
    if (g_get_monotonic_time() > deadline)
      return false;
    g_usleep(20 * G_TIME_SPAN_MILLISECOND);
  }
  return true;
}

/* share_media 3 over 5 mounts: /cam0-2 are one media, /cam3-4 another. The
 * clients of a group play at once, each over its own connection; one leaving
 * does not take the others' stream; counters count per client. */
GST_START_TEST(test_share_media) {
  Options options = camera_options(5);
  options.share_media = 3;
  RtspFixture fixture(options);
  gpurtsp::camsim::Server &server = fixture.server();

  std::vector<std::unique_ptr<RtspClient>> group;
  for (size_t i = 0; i < 3; i++)
    group.push_back(std::make_unique<RtspClient>(fixture.url(i)));
  for (auto &client : group) {
    g_autoptr(GstSample) sample = client->pull(kTimeout);
    check_video_sample(sample, "video/x-h264", 320, 240);
  }
  fail_unless(
      stats_reach(server,
                  [](const gpurtsp::camsim::Stats &s) { return s.medias == 1 && s.streams == 3; }),
      "three clients of one group: medias %" G_GUINT64_FORMAT ", streams %" G_GUINT64_FORMAT,
      server.stats().medias, server.stats().streams);

  /* Another group, another media. */
  RtspClient other(fixture.url(4));
  g_autoptr(GstSample) first = other.pull(kTimeout);
  check_video_sample(first, "video/x-h264", 320, 240);
  fail_unless(
      stats_reach(server,
                  [](const gpurtsp::camsim::Stats &s) { return s.medias == 2 && s.streams == 4; }),
      "medias %" G_GUINT64_FORMAT ", streams %" G_GUINT64_FORMAT, server.stats().medias,
      server.stats().streams);
  fail_unless_equals_int(server.stats().clients, 4);

  /* Frames count once per client: 4 clients at 15 fps, not 2 media at 15. */
  auto before = server.stats();
  const gint64 start = g_get_monotonic_time();
  g_usleep(2 * G_USEC_PER_SEC);
  auto after = server.stats();
  const double seconds = double(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
  const double per_client = double(after.frames_sent - before.frames_sent) / 4 / seconds;
  /* Unweighted would be 7.5; a busy host loses a few ticks. */
  fail_unless(per_client > 10 && per_client < 20, "%.1f frames/s per client", per_client);
  fail_unless(after.rtp_packets - before.rtp_packets >= after.frames_sent - before.frames_sent);

  /* One client of the group leaves: the others keep their stream. */
  group.erase(group.begin() + 1);
  fail_unless(
      stats_reach(server,
                  [](const gpurtsp::camsim::Stats &s) { return s.medias == 2 && s.streams == 3; }),
      "after a teardown: medias %" G_GUINT64_FORMAT ", streams %" G_GUINT64_FORMAT,
      server.stats().medias, server.stats().streams);
  for (auto &client : group) {
    /* Past what queued up meanwhile, to frames sent after the teardown. */
    while (GstSample *queued = gst_app_sink_try_pull_sample(GST_APP_SINK(client->sink()), 0))
      gst_sample_unref(queued);
    for (int i = 0; i < 5; i++) {
      g_autoptr(GstSample) more = client->pull(kTimeout);
      check_video_sample(more, "video/x-h264", 320, 240);
    }
  }

  /* The last ones leave: the media goes, and the group's next client gets a
   * new one. */
  group.clear();
  fail_unless(stats_reach(server, [](const gpurtsp::camsim::Stats &s) { return s.medias == 1; }),
              "the group's media outlived its clients");
  RtspClient again(fixture.url(1));
  g_autoptr(GstSample) back = again.pull(kTimeout);
  check_video_sample(back, "video/x-h264", 320, 240);
  fail_unless_equals_int(server.stats().medias, 2);

  /* A mount cannot go alone when its media serves the group. */
  bool refused = false;
  try {
    server.stop_mount(0);
  } catch (const Error &error) {
    GST_INFO("refused: %s", error.what());
    refused = true;
  }
  fail_unless(refused, "stop_mount() with share_media 3");
}
GST_END_TEST;

/* Everything a group shares comes from its factory: authentication and
 * transports hold on every mount of it, over TCP too. */
GST_START_TEST(test_share_media_credentials_tcp) {
  Options options = camera_options(2);
  options.share_media = 2;
  options.user = "admin";
  options.password = "secret";
  options.transports.udp = false;
  RtspFixture fixture(options);
  RtspClient anonymous(fixture.url(1), RtspClient::kH264Tail, "protocols=tcp");
  fail_unless(
      anonymous.fails_with(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED, kTimeout));
  RtspClient a(fixture.url_with_credentials(0), RtspClient::kH264Tail, "protocols=tcp");
  RtspClient b(fixture.url_with_credentials(1), RtspClient::kH264Tail, "protocols=tcp");
  for (int i = 0; i < 5; i++) {
    g_autoptr(GstSample) sa = a.pull(kTimeout);
    g_autoptr(GstSample) sb = b.pull(kTimeout);
    check_video_sample(sa, "video/x-h264", 320, 240);
    check_video_sample(sb, "video/x-h264", 320, 240);
  }
  auto stats = fixture.server().stats();
  fail_unless_equals_int(stats.medias, 1);
  fail_unless_equals_int(stats.streams, 2);
}
GST_END_TEST;

GST_START_TEST(test_bad_options) {
  auto rejects = [](void (*change)(Options &)) {
    Options options = camera_options();
    change(options);
    try {
      gpurtsp::camsim::Server server(options);
    } catch (const Error &error) {
      GST_INFO("rejected: %s", error.what());
      return true;
    }
    return false;
  };
  fail_unless(rejects([](Options &o) { o.cameras = 0; }));
  fail_unless(rejects([](Options &o) { o.mounts = {"bad name"}; }));
  fail_unless(rejects([](Options &o) { o.mounts = {"a//b"}; }));
  fail_unless(rejects([](Options &o) { o.mounts = {"a", "/a"}; }));
  fail_unless(rejects([](Options &o) { o.width = 321; }));
  fail_unless(rejects([](Options &o) { o.fps = 0; }));
  fail_unless(rejects([](Options &o) { o.gop = 0; }));
  fail_unless(rejects([](Options &o) { o.user = "admin"; }));
  fail_unless(rejects([](Options &o) { o.transports = {.udp = false, .tcp = false}; }));
  fail_unless(rejects([](Options &o) { o.share_media = 0; }));
  fail_unless(rejects([](Options &o) {
    o.source = Source::Live;
    o.share_media = 2;
  }));
}
GST_END_TEST;

GST_START_TEST(test_bad_clip_file) {
  Options options = camera_options();
  options.clip_file = "/nonexistent/clip.h264";
  gpurtsp::camsim::Server missing(options);
  fail_unless(start_fails_naming(missing, "/nonexistent/clip.h264"));

  g_autofree gchar *garbage = nullptr;
  int fd = g_file_open_tmp("camsim-garbage-XXXXXX.h264", &garbage, nullptr);
  fail_unless(fd >= 0);
  std::vector<char> noise(64 * 1024);
  for (size_t i = 0; i < noise.size(); i++)
    noise[i] = char(g_random_int());
  fail_unless(write(fd, noise.data(), noise.size()) == ssize_t(noise.size()));
  close(fd);
  options.clip_file = garbage;
  gpurtsp::camsim::Server noisy(options);
  fail_unless(start_fails_naming(noisy, garbage));
  g_unlink(garbage);
}
GST_END_TEST;

GST_START_TEST(test_clip_cache) {
  Options options = camera_options();
  options.clip_seconds = 1;
  std::string path = gpurtsp::camsim::ensure_clip(options);
  GStatBuf before, after;
  fail_unless(g_stat(path.c_str(), &before) == 0, "no clip at %s", path.c_str());
  fail_unless(before.st_size > 0);
  /* A second server with the same parameters uses the cached clip. */
  std::string again = gpurtsp::camsim::ensure_clip(options);
  fail_unless_equals_string(again.c_str(), path.c_str());
  fail_unless(g_stat(path.c_str(), &after) == 0);
  fail_unless_equals_int64(before.st_mtime, after.st_mtime);
  fail_unless_equals_int64(before.st_ino, after.st_ino);
  /* Different parameters, different clip. */
  options.bitrate_kbps += 100;
  fail_if(gpurtsp::camsim::ensure_clip(options) == path);
}
GST_END_TEST;

static Suite *camsim_suite(void) {
  Suite *s = suite_create("camsim");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_bad_options);
  tcase_add_test(tc, test_bad_clip_file);
  tcase_add_test(tc, test_clip_cache);
  tcase_add_test(tc, test_describe_and_play);
  tcase_add_test(tc, test_restart_same_port);
  tcase_add_test(tc, test_credentials);
  tcase_add_test(tc, test_unauthorized_behavior);
  tcase_add_test(tc, test_transports);
  tcase_add_test(tc, test_h265_clip);
  tcase_add_test(tc, test_live_source);
  tcase_add_test(tc, test_named_mounts_and_stop_mount);
  tcase_add_test(tc, test_clip_loops_in_real_time);
  tcase_add_test(tc, test_share_media);
  tcase_add_test(tc, test_share_media_credentials_tcp);
  return s;
}

GST_CHECK_MAIN(camsim);
