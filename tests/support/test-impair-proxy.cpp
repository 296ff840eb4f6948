// SPDX-License-Identifier: MIT
/* The impairment proxy itself: its decisions (rates, bursts, windows,
 * determinism), its profile parser, the SETUP rewriting, and RTSP clients
 * through it over TCP and UDP. */
#include <gst/app/gstappsink.h>

#include <map>
#include <stdexcept>
#include <string>

#include "impair-proxy.hpp"
#include "rtsp-fixture.hpp"

/* Last: check.h defines fail(). */
#include <gst/check/gstcheck.h>

using gpurtsp::test::ImpairCounters;
using gpurtsp::test::Impairer;
using gpurtsp::test::ImpairProfile;
using gpurtsp::test::ImpairProxy;

GST_START_TEST(test_profile_parse) {
  const auto profile = ImpairProfile::parse(
      "loss=0.05,burst=0.0005:20,reorder=0.1:50,duplicate=0.1,delay=20:10,seed=7");
  fail_unless(profile.loss == 0.05 && profile.burst_rate == 0.0005);
  fail_unless_equals_int(profile.burst_length, 20);
  fail_unless(profile.reorder == 0.1);
  fail_unless_equals_int(profile.reorder_window_ms, 50);
  fail_unless(profile.duplicate == 0.1);
  fail_unless_equals_int(profile.delay_ms, 20);
  fail_unless_equals_int(profile.jitter_ms, 10);
  fail_unless_equals_int(profile.seed, 7);
  fail_unless(ImpairProfile::parse("").loss == 0);
  for (const char *bad : {"loss", "loss=x", "loss=1.5", "loss=-0.1", "drop=0.1", "burst=0.1:x",
                          "delay=5:", "reorder=2:50"}) {
    bool thrown = false;
    try {
      ImpairProfile::parse(bad);
    } catch (const std::invalid_argument &error) {
      thrown = true;
      fail_if(std::string(error.what()).empty());
    }
    fail_unless(thrown, "'%s' accepted", bad);
  }
}
GST_END_TEST;

constexpr int kPackets = 200000;

GST_START_TEST(test_random_loss_rate) {
  ImpairProfile profile;
  profile.loss = 0.05;
  Impairer impairer(profile);
  for (int i = 0; i < kPackets; i++)
    impairer.decide();
  const double rate = double(impairer.counters().dropped) / kPackets;
  fail_unless(rate > 0.045 && rate < 0.055, "loss %.4f", rate);
  fail_unless_equals_int(impairer.counters().bursts, 0);
}
GST_END_TEST;

GST_START_TEST(test_bursts_are_whole) {
  ImpairProfile profile;
  profile.burst_rate = 0.0005;
  profile.burst_length = 20;
  Impairer impairer(profile);
  std::map<int, int> runs; /* length -> count */
  int run = 0;
  for (int i = 0; i < kPackets; i++) {
    if (impairer.decide().empty()) {
      run++;
    } else if (run > 0) {
      runs[run]++;
      run = 0;
    }
  }
  const ImpairCounters counters = impairer.counters();
  fail_unless(counters.bursts > 50 && counters.bursts < 150, "%llu bursts",
              (unsigned long long)counters.bursts);
  fail_unless_equals_int(counters.dropped, counters.bursts * 20);
  for (auto [length, count] : runs)
    fail_unless(length % 20 == 0, "a run of %d lost packets", length);
}
GST_END_TEST;

GST_START_TEST(test_reorder_duplicate_delay) {
  ImpairProfile profile;
  profile.reorder = 0.1;
  profile.reorder_window_ms = 50;
  profile.duplicate = 0.1;
  profile.delay_ms = 20;
  profile.jitter_ms = 10;
  Impairer impairer(profile);
  int copies = 0;
  for (int i = 0; i < kPackets; i++) {
    const auto delays = impairer.decide();
    fail_unless(delays.size() == 1 || delays.size() == 2);
    copies += int(delays.size());
    for (double delay : delays)
      fail_unless(delay >= 10 && delay <= 20 + 10 + 50 + 5, "delay %g ms", delay);
  }
  const ImpairCounters counters = impairer.counters();
  fail_unless_equals_int(counters.dropped, 0);
  fail_unless_equals_int(copies, kPackets + int(counters.duplicated));
  const double reordered = double(counters.reordered) / kPackets;
  const double duplicated = double(counters.duplicated) / kPackets;
  fail_unless(reordered > 0.09 && reordered < 0.11, "reordered %.4f", reordered);
  fail_unless(duplicated > 0.09 && duplicated < 0.11, "duplicated %.4f", duplicated);
}
GST_END_TEST;

GST_START_TEST(test_seed_decides) {
  ImpairProfile profile = ImpairProfile::parse("loss=0.1,reorder=0.2:50,duplicate=0.1,seed=3");
  Impairer a(profile), b(profile);
  profile.seed = 4;
  Impairer c(profile);
  bool differs = false;
  for (int i = 0; i < 10000; i++) {
    const auto first = a.decide();
    fail_unless(first == b.decide(), "packet %d decided differently with one seed", i);
    differs = differs || first != c.decide();
  }
  fail_unless(differs, "another seed decided the same");
}
GST_END_TEST;

GST_START_TEST(test_stall_drops_everything) {
  Impairer impairer(ImpairProfile{});
  impairer.set_stalled(true);
  for (int i = 0; i < 100; i++)
    fail_unless(impairer.decide().empty());
  impairer.set_stalled(false);
  fail_unless_equals_int(impairer.decide().size(), 1);
}
GST_END_TEST;

GST_START_TEST(test_transport_rewrite) {
  const std::string request = "SETUP rtsp://h/cam0/stream=0 RTSP/1.0\r\nCSeq: 3\r\n"
                              "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n";
  const std::string client_port = gpurtsp::test::transport_parameter(request, "client_port");
  fail_unless(client_port == "5000-5001", "%s", client_port.c_str());
  const std::string rewritten =
      gpurtsp::test::rewrite_transport_ports(request, "client_port", "40000-40001");
  fail_unless(rewritten.find("client_port=40000-40001\r\n") != std::string::npos, "%s",
              rewritten.c_str());
  fail_unless(rewritten.find("CSeq: 3\r\n") != std::string::npos);
  const std::string reply = "RTSP/1.0 200 OK\r\nCSeq: 3\r\ntransport: "
                            "RTP/AVP;unicast;client_port=40000-40001;server_port=6000-6001;"
                            "ssrc=1\r\nSession: x\r\n\r\n";
  const std::string server_port = gpurtsp::test::transport_parameter(reply, "server_port");
  fail_unless(server_port == "6000-6001", "%s", server_port.c_str());
  const std::string back = gpurtsp::test::rewrite_transport_ports(
      gpurtsp::test::rewrite_transport_ports(reply, "server_port", "7000-7001"), "client_port",
      "5000-5001");
  fail_unless(back.find("client_port=5000-5001;server_port=7000-7001;ssrc=1\r\n") !=
                  std::string::npos,
              "%s", back.c_str());
  /* TCP interleaved: nothing to rewrite. */
  const std::string tcp = "SETUP x RTSP/1.0\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n";
  fail_unless(gpurtsp::test::transport_parameter(tcp, "client_port").empty());
  const std::string unchanged = gpurtsp::test::rewrite_transport_ports(tcp, "client_port", "1-2");
  fail_unless(unchanged == tcp, "%s", unchanged.c_str());
}
GST_END_TEST;

/* Access units pulled from an RTSP client through the proxy within @seconds. */
static int pull_units(gpurtsp::test::RtspClient &client, double seconds) {
  int units = 0;
  const gint64 end = g_get_monotonic_time() + gint64(seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time() < end)
    if (GstSample *sample = client.pull(GST_SECOND / 2)) {
      gst_sample_unref(sample);
      units++;
    }
  return units;
}

static void check_through_proxy(const char *protocols) {
  gpurtsp::test::RtspFixture fixture;
  ImpairProxy proxy(fixture.port(), ImpairProfile{});
  const std::string props = std::string("protocols=") + protocols;
  {
    gpurtsp::test::RtspClient client(proxy.url("cam0"), gpurtsp::test::RtspClient::kH264Tail,
                                     props);
    const int clean = pull_units(client, 3);
    /* 15 fps: ~45 units, less the connection setup. */
    fail_unless(clean >= 20, "%s: %d units in 3 s through a clean proxy", protocols, clean);
    const ImpairCounters before = proxy.counters();
    fail_unless(before.packets > 0, "%s: no RTP packet went through the proxy", protocols);
    fail_unless_equals_int(before.dropped, 0);

    proxy.set_profile(ImpairProfile::parse("loss=0.1,reorder=0.1:30,duplicate=0.1,seed=2"));
    const int lossy = pull_units(client, 3);
    const ImpairCounters after = proxy.counters();
    fail_unless(after.dropped > 0 && after.reordered > 0 && after.duplicated > 0,
                "%s: dropped %llu reordered %llu duplicated %llu", protocols,
                (unsigned long long)after.dropped, (unsigned long long)after.reordered,
                (unsigned long long)after.duplicated);
    fail_unless(lossy > 0, "%s: nothing through 10 %% loss", protocols);

    proxy.set_profile(ImpairProfile{});
    proxy.set_stalled(true);
    pull_units(client, 1); /* what was under way */
    const int stalled = pull_units(client, 2);
    fail_unless_equals_int(stalled, 0);
    proxy.set_stalled(false);
    fail_unless(pull_units(client, 3) > 0, "%s: nothing after the stall", protocols);
  }
  fail_unless_equals_int(proxy.connections(), 1);
  g_print("%s through the proxy: %llu RTP packets, %llu dropped\n", protocols,
          (unsigned long long)proxy.counters().packets,
          (unsigned long long)proxy.counters().dropped);
}

GST_START_TEST(test_rtsp_tcp_through_proxy) {
  check_through_proxy("tcp");
}
GST_END_TEST;

GST_START_TEST(test_rtsp_udp_through_proxy) {
  check_through_proxy("udp");
}
GST_END_TEST;

static Suite *impair_proxy_suite() {
  Suite *suite = suite_create("impair-proxy");
  TCase *tc = tcase_create("general");
  tcase_set_timeout(tc, 90);
  suite_add_tcase(suite, tc);
  tcase_add_test(tc, test_profile_parse);
  tcase_add_test(tc, test_random_loss_rate);
  tcase_add_test(tc, test_bursts_are_whole);
  tcase_add_test(tc, test_reorder_duplicate_delay);
  tcase_add_test(tc, test_seed_decides);
  tcase_add_test(tc, test_stall_drops_everything);
  tcase_add_test(tc, test_transport_rewrite);
  tcase_add_test(tc, test_rtsp_tcp_through_proxy);
  tcase_add_test(tc, test_rtsp_udp_through_proxy);
  return suite;
}

GST_CHECK_MAIN(impair_proxy);
