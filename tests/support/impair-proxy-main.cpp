// SPDX-License-Identifier: MIT
/* gpurtsp-impair-proxy: the test tree's impairment proxy as a program, for
 * trying a camera or the launcher by hand on a kernel without sch_netem.
 *
 *   gpurtsp-impair-proxy --upstream PORT [--port PORT] [--profile SPEC]
 *   SPEC: loss=0.05,burst=0.0005:20,reorder=0.1:50,duplicate=0.1,delay=20:10,seed=7
 *
 * Point the client at rtsp://127.0.0.1:PORT/<the camera's path>. Runs until
 * SIGINT or SIGTERM, then prints what it did. */
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "impair-proxy.hpp"

int main(int argc, char **argv) {
  unsigned long upstream = 0, port = 0;
  std::string spec;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "gpurtsp-impair-proxy: %s needs a value\n", arg.c_str());
      return 2;
    }
    const char *value = argv[++i];
    char *end = nullptr;
    if (arg == "--upstream" || arg == "--port") {
      const unsigned long number = std::strtoul(value, &end, 10);
      if (*value == '\0' || *end != '\0' || number > 65535) {
        std::fprintf(stderr, "gpurtsp-impair-proxy: %s: not a port: '%s'\n", arg.c_str(), value);
        return 2;
      }
      (arg == "--upstream" ? upstream : port) = number;
    } else if (arg == "--profile") {
      spec = value;
    } else {
      std::fprintf(stderr, "usage: gpurtsp-impair-proxy --upstream PORT [--port PORT] "
                           "[--profile loss=P,burst=P:N,reorder=P:MS,duplicate=P,delay=MS:MS,"
                           "seed=N]\n");
      return 2;
    }
  }
  if (upstream == 0) {
    std::fprintf(stderr, "gpurtsp-impair-proxy: --upstream PORT is required\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr); /* the proxy's thread inherits it */
  try {
    const auto profile = gpurtsp::test::ImpairProfile::parse(spec);
    gpurtsp::test::ImpairProxy proxy(uint16_t(upstream), profile, uint16_t(port));
    std::printf("gpurtsp-impair-proxy: port %u -> %lu, %s\n", proxy.port(), upstream,
                profile.describe().c_str());
    std::fflush(stdout);
    int signal = 0;
    sigwait(&signals, &signal);
    const auto counters = proxy.counters();
    std::printf("gpurtsp-impair-proxy: %u connections; RTP packets %llu, dropped %llu "
                "(%llu bursts), reordered %llu, duplicated %llu\n",
                proxy.connections(), (unsigned long long)counters.packets,
                (unsigned long long)counters.dropped, (unsigned long long)counters.bursts,
                (unsigned long long)counters.reordered, (unsigned long long)counters.duplicated);
  } catch (const std::exception &error) {
    std::fprintf(stderr, "gpurtsp-impair-proxy: %s\n", error.what());
    return 1;
  }
  return 0;
}
