// SPDX-License-Identifier: MIT
/* /api/cameras/{id}/stream.mjpg: multipart/x-mixed-replace of a camera's
 * newest JPEGs.
 *
 * A client is never sent more than one part ahead: a part is queued only
 * when the previous one has been written to the socket, and then it is the
 * newest frame; frames that arrive meanwhile are skipped. So a slow or
 * stalled client costs at most one part (shared with the other clients of
 * the camera) plus its socket buffer, and never slows the pipeline: frames
 * are copied out of the sink's sample once, on arrival. Main thread only. */
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "camera-registry.h"

namespace gpurtsp::launch::http {

class MjpegStreamer {
public:
  static constexpr const char *kBoundary = "gpurtspframe";

  struct Stats {
    unsigned streams = 0;
    std::uint64_t parts_sent = 0;     /* parts queued to clients */
    std::uint64_t frames_skipped = 0; /* new frames a busy client did not get */
    std::size_t queued_bytes = 0;     /* parts queued and not yet written, all clients */
  };

  /* Polls the registry every @poll_ms for new frames while streams run. */
  MjpegStreamer(const CameraRegistry &registry, unsigned max_streams, unsigned poll_ms);
  /* Ends every stream. */
  ~MjpegStreamer();
  MjpegStreamer(const MjpegStreamer &) = delete;
  MjpegStreamer &operator=(const MjpegStreamer &) = delete;

  bool full() const { return clients_.size() >= max_streams_; }
  /* Answers @msg (a GET of an existing camera, stream cap checked) with the
   * stream's headers; parts follow as frames arrive, until the client goes. */
  void add(SoupServerMessage *msg, const std::string &camera_id);

  Stats stats() const;

private:
  struct Client;
  /* The newest frame of a camera as a complete multipart part. */
  struct Part {
    std::int64_t arrival_us = -1;
    GBytes *bytes = nullptr; /* owned */
  };

  void poll();
  void refresh_part(const std::string &camera_id);
  void send_if_ready(Client &client);
  void remove(Client *client);
  void update_timer();

  static void on_wrote_chunk(SoupServerMessage *msg, gpointer client);
  static void on_finished(SoupServerMessage *msg, gpointer client);

  const CameraRegistry &registry_;
  const unsigned max_streams_;
  const unsigned poll_ms_;
  std::map<Client *, std::unique_ptr<Client>> clients_;
  std::map<std::string, Part> parts_; /* of cameras with clients */
  GSource *poll_source_ = nullptr;    /* attached while clients exist */
  std::uint64_t parts_sent_ = 0;
  std::uint64_t frames_skipped_ = 0;
};

} // namespace gpurtsp::launch::http
