// SPDX-License-Identifier: MIT
#include "impair-proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace gpurtsp::test {

namespace {

/* A client that does not read gets no more than this queued; the rest is
 * lost, as on a congested link. */
constexpr size_t kMaxQueuedBytes = 8 << 20;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void throw_errno(const std::string &what) {
  throw std::system_error(errno, std::generic_category(), "impair-proxy: " + what);
}

/* An owned file descriptor. */
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd &operator=(Fd &&other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0)
      close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
    throw_errno("getsockname");
  return ntohs(address.sin_port);
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

Fd udp_socket() {
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    throw_errno("socket");
  sockaddr_in address = loopback(0);
  if (bind(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0)
    throw_errno("bind");
  int size = 4 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  return fd;
}

bool equals_ignoring_case(const std::string &a, const char *b) {
  return strcasecmp(a.c_str(), b) == 0;
}

/* The parameters "a-b" of @ports. */
bool parse_port_pair(const std::string &ports, uint16_t &first, uint16_t &second) {
  unsigned a = 0, b = 0;
  if (sscanf(ports.c_str(), "%u-%u", &a, &b) != 2 || a == 0 || a > 65535 || b == 0 || b > 65535)
    return false;
  first = uint16_t(a);
  second = uint16_t(b);
  return true;
}

/* Where a header line's value starts and ends: [begin, end) of each
 * "Transport:" line of @message's header. */
std::vector<std::pair<size_t, size_t>> transport_lines(const std::string &message) {
  std::vector<std::pair<size_t, size_t>> lines;
  const size_t header_end = message.find("\r\n\r\n");
  size_t line = message.find("\r\n");
  while (line != std::string::npos && line < header_end) {
    const size_t begin = line + 2;
    const size_t end = message.find("\r\n", begin);
    if (end == std::string::npos)
      break;
    const size_t colon = message.find(':', begin);
    if (colon != std::string::npos && colon < end &&
        equals_ignoring_case(message.substr(begin, colon - begin), "Transport"))
      lines.emplace_back(colon + 1, end);
    line = end;
  }
  return lines;
}

} // namespace

/* ---- profile ---------------------------------------------------------- */

ImpairProfile ImpairProfile::parse(const std::string &text) {
  ImpairProfile profile;
  std::stringstream items(text);
  std::string item;
  auto number = [](const std::string &value, const std::string &key) {
    size_t used = 0;
    double parsed = 0;
    try {
      parsed = std::stod(value, &used);
    } catch (const std::exception &) {
      used = 0;
    }
    if (used != value.size() || value.empty() || parsed < 0)
      throw std::invalid_argument("impairment " + key + ": not a number >= 0: '" + value + "'");
    return parsed;
  };
  auto probability = [&](const std::string &value, const std::string &key) {
    const double p = number(value, key);
    if (p > 1)
      throw std::invalid_argument("impairment " + key + ": probability above 1: " + value);
    return p;
  };
  while (std::getline(items, item, ',')) {
    if (item.empty())
      continue;
    const size_t equals = item.find('=');
    if (equals == std::string::npos)
      throw std::invalid_argument("impairment '" + item + "': want KEY=VALUE");
    const std::string key = item.substr(0, equals);
    const std::string value = item.substr(equals + 1);
    const size_t colon = value.find(':');
    const std::string first = value.substr(0, colon);
    const std::string second = colon == std::string::npos ? "" : value.substr(colon + 1);
    if (colon != std::string::npos && second.empty())
      throw std::invalid_argument("impairment " + key + ": nothing after ':' in '" + value + "'");
    if (key == "loss") {
      profile.loss = probability(value, key);
    } else if (key == "burst") {
      profile.burst_rate = probability(first, key);
      if (!second.empty())
        profile.burst_length = unsigned(number(second, key));
    } else if (key == "reorder") {
      profile.reorder = probability(first, key);
      profile.reorder_window_ms = second.empty() ? 50 : unsigned(number(second, key));
    } else if (key == "duplicate") {
      profile.duplicate = probability(value, key);
    } else if (key == "delay") {
      profile.delay_ms = unsigned(number(first, key));
      profile.jitter_ms = second.empty() ? 0 : unsigned(number(second, key));
    } else if (key == "seed") {
      profile.seed = uint64_t(number(value, key));
    } else {
      throw std::invalid_argument("unknown impairment '" + key +
                                  "' (loss, burst, reorder, duplicate, delay, seed)");
    }
  }
  return profile;
}

std::string ImpairProfile::describe() const {
  std::ostringstream text;
  text << "loss=" << loss << ",burst=" << burst_rate << ":" << burst_length
       << ",reorder=" << reorder << ":" << reorder_window_ms << ",duplicate=" << duplicate
       << ",delay=" << delay_ms << ":" << jitter_ms << ",seed=" << seed;
  return text.str();
}

/* ---- decisions -------------------------------------------------------- */

Impairer::Impairer(const ImpairProfile &profile) : profile_(profile), random_(profile.seed) {}

void Impairer::set_profile(const ImpairProfile &profile) {
  profile_ = profile;
  random_.seed(profile.seed);
  burst_left_ = 0;
}

std::vector<double> Impairer::decide() {
  counters_.packets++;
  if (stalled_) {
    counters_.dropped++;
    return {};
  }
  if (burst_left_ > 0) {
    burst_left_--;
    counters_.dropped++;
    return {};
  }
  if (profile_.burst_rate > 0 && profile_.burst_length > 0 && uniform() < profile_.burst_rate) {
    burst_left_ = profile_.burst_length - 1;
    counters_.bursts++;
    counters_.dropped++;
    return {};
  }
  if (profile_.loss > 0 && uniform() < profile_.loss) {
    counters_.dropped++;
    return {};
  }
  double delay = profile_.delay_ms;
  if (profile_.jitter_ms > 0)
    delay = std::max(0.0, delay + (2 * uniform() - 1) * profile_.jitter_ms);
  if (profile_.reorder > 0 && uniform() < profile_.reorder) {
    delay += 1 + uniform() * std::max(0.0, double(profile_.reorder_window_ms) - 1);
    counters_.reordered++;
  }
  std::vector<double> copies{delay};
  if (profile_.duplicate > 0 && uniform() < profile_.duplicate) {
    copies.push_back(delay + uniform() * 5);
    counters_.duplicated++;
  }
  return copies;
}

/* ---- Transport rewriting ---------------------------------------------- */

std::string transport_parameter(const std::string &message, const std::string &parameter) {
  for (auto [begin, end] : transport_lines(message)) {
    const std::string value = message.substr(begin, end - begin);
    const std::string key = parameter + "=";
    size_t at = value.find(key);
    while (at != std::string::npos && at > 0 && value[at - 1] != ';' && value[at - 1] != ' ')
      at = value.find(key, at + 1);
    if (at == std::string::npos)
      continue;
    const size_t start = at + key.size();
    const size_t stop = value.find_first_of(";,\r", start);
    return value.substr(start, stop == std::string::npos ? std::string::npos : stop - start);
  }
  return {};
}

std::string rewrite_transport_ports(const std::string &message, const std::string &parameter,
                                    const std::string &ports) {
  std::string result = message;
  auto lines = transport_lines(message);
  /* Back to front, so earlier offsets stay valid. */
  for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
    const std::string key = parameter + "=";
    size_t at = result.find(key, line->first);
    while (at != std::string::npos && at < line->second && result[at - 1] != ';' &&
           result[at - 1] != ' ')
      at = result.find(key, at + 1);
    if (at == std::string::npos || at >= line->second)
      continue;
    const size_t start = at + key.size();
    size_t stop = result.find_first_of(";,\r", start);
    result.replace(start, stop - start, ports);
  }
  return result;
}

/* ---- the proxy -------------------------------------------------------- */

struct ImpairProxy::Loop {
  /* One UDP stream (RTP + RTCP) relayed for a client that asked for UDP. */
  struct Relay {
    Fd client_rtp, client_rtcp; /* talk to the client (as the server's ports) */
    Fd server_rtp, server_rtcp; /* talk to the server (as the client's ports) */
    uint16_t client_ports[2] = {0, 0};
    uint16_t server_ports[2] = {0, 0};
  };
  struct Connection {
    uint64_t id = 0;
    Fd client, server;
    std::string from_client, from_server; /* not yet parsed */
    std::string to_client, to_server;     /* not yet written */
    std::vector<std::unique_ptr<Relay>> relays;
    std::vector<Relay *> pending_setups; /* sent SETUP, awaiting the reply */
    bool closed = false;
  };
  /* A packet waiting for its release time. */
  struct Scheduled {
    uint64_t connection;
    Relay *relay; /* UDP; nullptr for an interleaved frame */
    std::string data;
  };

  explicit Loop(const ImpairProfile &profile) : impairer(profile) {}

  mutable std::mutex lock; /* guards impairer */
  Impairer impairer;
  Fd listener, wake;
  std::atomic<bool> stop{false};
  uint16_t upstream_port = 0;
  uint64_t next_id = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections;
  std::multimap<int64_t, Scheduled> queue; /* by release time, then arrival */

  std::vector<double> decide() {
    std::lock_guard guard(lock);
    return impairer.decide();
  }

  void schedule(uint64_t connection, Relay *relay, const std::string &data) {
    const int64_t now = now_us();
    for (double delay_ms : decide())
      queue.emplace(now + int64_t(delay_ms * 1000), Scheduled{connection, relay, data});
  }

  static void flush(int fd, std::string &out, bool &closed) {
    while (!out.empty()) {
      const ssize_t written = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (written < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          closed = true;
        return;
      }
      out.erase(0, size_t(written));
    }
  }

  void queue_to_client(Connection &connection, const std::string &data) {
    if (connection.to_client.size() + data.size() > kMaxQueuedBytes)
      return;
    connection.to_client += data;
    flush(connection.client.get(), connection.to_client, connection.closed);
  }

  void queue_to_server(Connection &connection, const std::string &data) {
    connection.to_server += data;
    flush(connection.server.get(), connection.to_server, connection.closed);
  }

  /* Splits @buffer into whole '$' frames and RTSP messages. */
  template <typename Handler>
  static void split(std::string &buffer, Handler handle) {
    for (;;) {
      if (buffer.empty())
        return;
      if (buffer[0] == '$') {
        if (buffer.size() < 4)
          return;
        const size_t length = (uint8_t(buffer[2]) << 8) | uint8_t(buffer[3]);
        if (buffer.size() < 4 + length)
          return;
        handle(true, uint8_t(buffer[1]), buffer.substr(0, 4 + length));
        buffer.erase(0, 4 + length);
        continue;
      }
      const size_t header_end = buffer.find("\r\n\r\n");
      if (header_end == std::string::npos)
        return;
      size_t body = 0;
      const std::string header = buffer.substr(0, header_end + 4);
      std::string lower = header;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      const size_t length_at = lower.find("\r\ncontent-length:");
      if (length_at != std::string::npos)
        body = std::strtoul(header.c_str() + length_at + 17, nullptr, 10);
      if (buffer.size() < header.size() + body)
        return;
      handle(false, 0, buffer.substr(0, header.size() + body));
      buffer.erase(0, header.size() + body);
    }
  }

  void from_client(Connection &connection) {
    split(connection.from_client, [&](bool frame, uint8_t, std::string message) {
      if (!frame && message.compare(0, 6, "SETUP ") == 0) {
        uint16_t ports[2];
        if (parse_port_pair(transport_parameter(message, "client_port"), ports[0], ports[1])) {
          auto relay = std::make_unique<Relay>();
          relay->client_ports[0] = ports[0];
          relay->client_ports[1] = ports[1];
          relay->client_rtp = udp_socket();
          relay->client_rtcp = udp_socket();
          relay->server_rtp = udp_socket();
          relay->server_rtcp = udp_socket();
          message =
              rewrite_transport_ports(message, "client_port",
                                      std::to_string(local_port(relay->server_rtp.get())) + "-" +
                                          std::to_string(local_port(relay->server_rtcp.get())));
          connection.pending_setups.push_back(relay.get());
          connection.relays.push_back(std::move(relay));
        }
      }
      queue_to_server(connection, message);
    });
  }

  void from_server(Connection &connection) {
    split(connection.from_server, [&](bool frame, uint8_t channel, std::string message) {
      if (frame) {
        if (channel % 2 == 0)
          schedule(connection.id, nullptr, message);
        else
          queue_to_client(connection, message);
        return;
      }
      uint16_t ports[2];
      if (!connection.pending_setups.empty() &&
          parse_port_pair(transport_parameter(message, "server_port"), ports[0], ports[1])) {
        Relay *relay = connection.pending_setups.front();
        connection.pending_setups.erase(connection.pending_setups.begin());
        relay->server_ports[0] = ports[0];
        relay->server_ports[1] = ports[1];
        message =
            rewrite_transport_ports(message, "server_port",
                                    std::to_string(local_port(relay->client_rtp.get())) + "-" +
                                        std::to_string(local_port(relay->client_rtcp.get())));
        message = rewrite_transport_ports(message, "client_port",
                                          std::to_string(relay->client_ports[0]) + "-" +
                                              std::to_string(relay->client_ports[1]));
      }
      queue_to_client(connection, message);
    });
  }

  static void send_to(int fd, uint16_t port, const std::string &data) {
    if (port == 0)
      return;
    sockaddr_in address = loopback(port);
    sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&address),
           sizeof(address));
  }

  /* Reads every datagram waiting on @fd. */
  template <typename Handler>
  static void drain(int fd, Handler handle) {
    char packet[65536];
    for (;;) {
      const ssize_t got = recv(fd, packet, sizeof(packet), 0);
      if (got < 0)
        return;
      handle(std::string(packet, size_t(got)));
    }
  }

  void accept_client(std::atomic<unsigned> &accepted) {
    Fd client(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client.get() < 0)
      return;
    Fd server(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback(upstream_port);
    /* Blocking connect on loopback: immediate. */
    if (server.get() < 0 ||
        connect(server.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0)
      return; /* the client sees the connection close, as with a dead camera */
    set_nonblocking(server.get());
    auto connection = std::make_unique<Connection>();
    connection->id = next_id++;
    connection->client = std::move(client);
    connection->server = std::move(server);
    connections.emplace(connection->id, std::move(connection));
    accepted++;
  }

  static bool read_into(int fd, std::string &buffer) {
    char data[65536];
    for (;;) {
      const ssize_t got = recv(fd, data, sizeof(data), 0);
      if (got == 0)
        return false;
      if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      buffer.append(data, size_t(got));
    }
  }

  void release_due() {
    const int64_t now = now_us();
    while (!queue.empty() && queue.begin()->first <= now) {
      Scheduled item = std::move(queue.begin()->second);
      queue.erase(queue.begin());
      auto found = connections.find(item.connection);
      if (found == connections.end())
        continue;
      Connection &connection = *found->second;
      if (item.relay)
        send_to(item.relay->client_rtp.get(), item.relay->client_ports[0], item.data);
      else
        queue_to_client(connection, item.data);
    }
  }

  void run(std::atomic<unsigned> &accepted) {
    std::vector<pollfd> fds;
    /* What each pollfd is: connection id (0: none), and which socket. */
    enum class Kind {
      Listener,
      Wake,
      Client,
      Server,
      ClientRtp,
      ClientRtcp,
      ServerRtp,
      ServerRtcp
    };
    struct Slot {
      Kind kind;
      Connection *connection;
      Relay *relay;
    };
    std::vector<Slot> slots;
    while (!stop) {
      fds.clear();
      slots.clear();
      fds.push_back({listener.get(), POLLIN, 0});
      slots.push_back({Kind::Listener, nullptr, nullptr});
      fds.push_back({wake.get(), POLLIN, 0});
      slots.push_back({Kind::Wake, nullptr, nullptr});
      for (auto &[id, connection] : connections) {
        fds.push_back({connection->client.get(),
                       short(POLLIN | (connection->to_client.empty() ? 0 : POLLOUT)), 0});
        slots.push_back({Kind::Client, connection.get(), nullptr});
        fds.push_back({connection->server.get(),
                       short(POLLIN | (connection->to_server.empty() ? 0 : POLLOUT)), 0});
        slots.push_back({Kind::Server, connection.get(), nullptr});
        for (auto &relay : connection->relays) {
          const std::pair<int, Kind> sockets[] = {{relay->client_rtp.get(), Kind::ClientRtp},
                                                  {relay->client_rtcp.get(), Kind::ClientRtcp},
                                                  {relay->server_rtp.get(), Kind::ServerRtp},
                                                  {relay->server_rtcp.get(), Kind::ServerRtcp}};
          for (auto [fd, kind] : sockets) {
            fds.push_back({fd, POLLIN, 0});
            slots.push_back({kind, connection.get(), relay.get()});
          }
        }
      }
      int timeout_ms = 200;
      if (!queue.empty())
        timeout_ms =
            int(std::clamp<int64_t>((queue.begin()->first - now_us() + 999) / 1000, 0, timeout_ms));
      if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
        throw_errno("poll");
      for (size_t i = 0; i < fds.size(); i++) {
        if (!fds[i].revents)
          continue;
        Slot &slot = slots[i];
        Connection *connection = slot.connection;
        Relay *relay = slot.relay;
        switch (slot.kind) {
        case Kind::Listener:
          accept_client(accepted);
          break;
        case Kind::Wake: {
          uint64_t value;
          if (read(wake.get(), &value, sizeof(value)) < 0) {
            /* Nothing to do: the flag is what counts. */
          }
          break;
        }
        case Kind::Client:
          if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!read_into(connection->client.get(), connection->from_client))
              connection->closed = true;
            from_client(*connection);
          }
          if (fds[i].revents & POLLOUT)
            flush(connection->client.get(), connection->to_client, connection->closed);
          break;
        case Kind::Server:
          if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!read_into(connection->server.get(), connection->from_server))
              connection->closed = true;
            from_server(*connection);
          }
          if (fds[i].revents & POLLOUT)
            flush(connection->server.get(), connection->to_server, connection->closed);
          break;
        case Kind::ServerRtp: /* RTP from the server: impaired */
          drain(relay->server_rtp.get(),
                [&](std::string packet) { schedule(connection->id, relay, packet); });
          break;
        case Kind::ServerRtcp:
          drain(relay->server_rtcp.get(), [&](std::string packet) {
            send_to(relay->client_rtcp.get(), relay->client_ports[1], packet);
          });
          break;
        case Kind::ClientRtp:
          drain(relay->client_rtp.get(), [&](std::string packet) {
            send_to(relay->server_rtp.get(), relay->server_ports[0], packet);
          });
          break;
        case Kind::ClientRtcp:
          drain(relay->client_rtcp.get(), [&](std::string packet) {
            send_to(relay->server_rtcp.get(), relay->server_ports[1], packet);
          });
          break;
        }
      }
      release_due();
      for (auto connection = connections.begin(); connection != connections.end();)
        connection =
            connection->second->closed ? connections.erase(connection) : std::next(connection);
    }
  }
};

ImpairProxy::ImpairProxy(uint16_t upstream_port, const ImpairProfile &profile, uint16_t port)
    : loop_(std::make_unique<Loop>(profile)) {
  loop_->upstream_port = upstream_port;
  loop_->listener = Fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (loop_->listener.get() < 0)
    throw_errno("socket");
  int one = 1;
  setsockopt(loop_->listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = loopback(port);
  if (bind(loop_->listener.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0)
    throw_errno("bind to port " + std::to_string(port));
  if (listen(loop_->listener.get(), 64) != 0)
    throw_errno("listen");
  port_ = local_port(loop_->listener.get());
  loop_->wake = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (loop_->wake.get() < 0)
    throw_errno("eventfd");
  thread_ = std::thread([this] { run(); });
}

ImpairProxy::~ImpairProxy() {
  loop_->stop = true;
  const uint64_t one = 1;
  if (write(loop_->wake.get(), &one, sizeof(one)) < 0) {
    /* The loop wakes within its 200 ms poll timeout anyway. */
  }
  thread_.join();
}

void ImpairProxy::run() {
  loop_->run(connections_);
}

std::string ImpairProxy::url(const std::string &path) const {
  return "rtsp://127.0.0.1:" + std::to_string(port_) + "/" + path;
}

void ImpairProxy::set_profile(const ImpairProfile &profile) {
  std::lock_guard guard(loop_->lock);
  loop_->impairer.set_profile(profile);
}

void ImpairProxy::set_stalled(bool stalled) {
  std::lock_guard guard(loop_->lock);
  loop_->impairer.set_stalled(stalled);
}

ImpairCounters ImpairProxy::counters() const {
  std::lock_guard guard(loop_->lock);
  return loop_->impairer.counters();
}

} // namespace gpurtsp::test
