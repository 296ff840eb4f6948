// SPDX-License-Identifier: MIT
/* A userspace network impairment proxy for RTSP cameras, for kernels without
 * sch_netem: it sits between an RTSP client and server on loopback and
 * drops, bursts, reorders, duplicates, delays and stalls the media packets
 * going to the client:
 *   - RTSP over TCP: the '$'-framed interleaved packets of even (RTP)
 *     channels are impaired; RTCP and RTSP messages pass untouched;
 *   - RTP over UDP: SETUP's Transport is rewritten (client_port in the
 *     request, server_port and client_port in the reply) so media flows
 *     through a pair of UDP sockets per stream and side; RTP is impaired,
 *     RTCP relayed as is.
 * Decisions come from one seeded generator (ImpairProfile::seed), so a run
 * with the same packets makes the same decisions. */
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace gpurtsp::test {

struct ImpairProfile {
  double loss = 0.0;              /* independent drop probability per RTP packet */
  double burst_rate = 0.0;        /* probability per packet that a burst of losses starts */
  unsigned burst_length = 20;     /* packets lost in a row per burst */
  double reorder = 0.0;           /* probability a packet is held back ... */
  unsigned reorder_window_ms = 0; /* ... by up to this long: later ones overtake it */
  double duplicate = 0.0;         /* probability a packet is sent twice */
  unsigned delay_ms = 0;          /* every packet, plus or minus ... */
  unsigned jitter_ms = 0;         /* ... uniform jitter (never below 0) */
  uint64_t seed = 1;

  /* "loss=0.05,burst=0.0005:20,reorder=0.1:50,duplicate=0.1,delay=20:10,seed=7";
   * throws std::invalid_argument on anything else. */
  static ImpairProfile parse(const std::string &text);
  std::string describe() const;
};

struct ImpairCounters {
  uint64_t packets = 0;    /* RTP packets seen */
  uint64_t dropped = 0;    /* lost at random, in bursts or in a stall */
  uint64_t bursts = 0;     /* bursts started */
  uint64_t reordered = 0;  /* held back to be overtaken */
  uint64_t duplicated = 0; /* sent twice */
};

/* The decisions, without sockets: for each packet, the delays in
 * milliseconds after which its copies go out (none: dropped). */
class Impairer {
public:
  explicit Impairer(const ImpairProfile &profile);
  std::vector<double> decide();
  /* A new profile, the generator re-seeded; the counters run on. */
  void set_profile(const ImpairProfile &profile);
  /* While stalled every packet is dropped. */
  void set_stalled(bool stalled) { stalled_ = stalled; }
  const ImpairCounters &counters() const { return counters_; }
  const ImpairProfile &profile() const { return profile_; }

private:
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }

  ImpairProfile profile_;
  std::mt19937_64 random_;
  unsigned burst_left_ = 0;
  bool stalled_ = false;
  ImpairCounters counters_;
};

/* The proxy: listens on 127.0.0.1 (a free port unless given), forwards each
 * connection to 127.0.0.1:@upstream_port. One thread; thread-safe methods. */
class ImpairProxy {
public:
  ImpairProxy(uint16_t upstream_port, const ImpairProfile &profile, uint16_t port = 0);
  ~ImpairProxy();
  ImpairProxy(const ImpairProxy &) = delete;
  ImpairProxy &operator=(const ImpairProxy &) = delete;

  uint16_t port() const { return port_; }
  /* rtsp://127.0.0.1:PORT/@path */
  std::string url(const std::string &path) const;

  /* Takes effect from the next packet; the generator is re-seeded. */
  void set_profile(const ImpairProfile &profile);
  /* A stall: while on, no media packet reaches any client (RTSP replies
   * still do, as from a camera whose encoder hung). */
  void set_stalled(bool stalled);
  ImpairCounters counters() const;
  /* Client connections accepted so far. */
  unsigned connections() const { return connections_; }

private:
  struct Loop;
  void run();

  uint16_t port_ = 0;
  std::unique_ptr<Loop> loop_;
  std::atomic<unsigned> connections_{0};
  std::thread thread_;
};

/* Rewrites the client_port (request) or server_port/client_port (reply)
 * parameter of every Transport header line in @message; @ports maps one
 * "a-b" to another. Exposed for the unit tests. */
std::string rewrite_transport_ports(const std::string &message, const std::string &parameter,
                                    const std::string &ports);
/* The "a-b" value of @parameter in @message's Transport header; empty if none. */
std::string transport_parameter(const std::string &message, const std::string &parameter);

} // namespace gpurtsp::test
