// SPDX-License-Identifier: MIT
#include "mjpeg-streamer.h"

#include <cstring>

namespace gpurtsp::launch::http {

struct MjpegStreamer::Client {
  MjpegStreamer *streamer = nullptr;
  SoupServerMessage *msg = nullptr; /* owned reference */
  std::string camera_id;
  std::int64_t sent_arrival_us = -1; /* of the newest frame queued so far */
  GBytes *queued = nullptr;          /* part appended and not yet written; owned */
  gulong wrote_chunk_handler = 0;
  gulong finished_handler = 0;
};

MjpegStreamer::MjpegStreamer(const CameraRegistry &registry, unsigned max_streams, unsigned poll_ms)
    : registry_(registry), max_streams_(max_streams), poll_ms_(poll_ms) {}

MjpegStreamer::~MjpegStreamer() {
  for (auto &[key, client] : clients_) {
    g_signal_handler_disconnect(client->msg, client->wrote_chunk_handler);
    g_signal_handler_disconnect(client->msg, client->finished_handler);
    /* Ends the chunked body; the server closes the connection. */
    soup_message_body_complete(soup_server_message_get_response_body(client->msg));
    g_clear_pointer(&client->queued, g_bytes_unref);
    g_object_unref(client->msg);
  }
  clients_.clear();
  for (auto &[id, part] : parts_)
    g_clear_pointer(&part.bytes, g_bytes_unref);
  if (poll_source_) {
    g_source_destroy(poll_source_);
    g_source_unref(poll_source_);
  }
}

void MjpegStreamer::add(SoupServerMessage *msg, const std::string &camera_id) {
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
  const std::string type = std::string("multipart/x-mixed-replace; boundary=") + kBoundary;
  soup_message_headers_replace(headers, "Content-Type", type.c_str());
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  /* Written parts are dropped, not kept for the whole response. */
  soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);

  auto client = std::make_unique<Client>();
  client->streamer = this;
  client->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  client->camera_id = camera_id;
  client->wrote_chunk_handler =
      g_signal_connect(msg, "wrote-chunk", G_CALLBACK(on_wrote_chunk), client.get());
  client->finished_handler =
      g_signal_connect(msg, "finished", G_CALLBACK(on_finished), client.get());
  Client &added = *client;
  clients_.emplace(client.get(), std::move(client));

  refresh_part(camera_id);
  send_if_ready(added);
  update_timer();
}

MjpegStreamer::Stats MjpegStreamer::stats() const {
  Stats stats;
  stats.streams = unsigned(clients_.size());
  stats.parts_sent = parts_sent_;
  stats.frames_skipped = frames_skipped_;
  for (const auto &[key, client] : clients_)
    if (client->queued)
      stats.queued_bytes += g_bytes_get_size(client->queued);
  return stats;
}

void MjpegStreamer::refresh_part(const std::string &camera_id) {
  Part &part = parts_[camera_id];
  std::int64_t arrival_us = -1;
  Sample sample = registry_.latest_jpeg(camera_id, arrival_us);
  if (!sample || arrival_us == part.arrival_us)
    return;
  GstBuffer *buffer = gst_sample_get_buffer(sample.get());
  GstMapInfo map;
  if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ))
    return;
  const std::string head =
      std::string("--") + kBoundary +
      "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(map.size) + "\r\n\r\n";
  const size_t size = head.size() + map.size + 2;
  auto *data = static_cast<char *>(g_malloc(size));
  std::memcpy(data, head.data(), head.size());
  std::memcpy(data + head.size(), map.data, map.size);
  std::memcpy(data + head.size() + map.size, "\r\n", 2);
  gst_buffer_unmap(buffer, &map);

  g_clear_pointer(&part.bytes, g_bytes_unref);
  part.bytes = g_bytes_new_take(data, size);
  part.arrival_us = arrival_us;
}

void MjpegStreamer::send_if_ready(Client &client) {
  const Part &part = parts_[client.camera_id];
  if (client.queued || !part.bytes || part.arrival_us == client.sent_arrival_us)
    return;
  client.queued = g_bytes_ref(part.bytes);
  client.sent_arrival_us = part.arrival_us;
  soup_message_body_append_bytes(soup_server_message_get_response_body(client.msg), part.bytes);
  soup_server_message_unpause(client.msg);
  parts_sent_++;
}

void MjpegStreamer::poll() {
  std::map<std::string, std::int64_t> before;
  for (auto &[id, part] : parts_) {
    before[id] = part.arrival_us;
    refresh_part(id);
  }
  for (auto &[key, client] : clients_) {
    const Part &part = parts_[client->camera_id];
    if (part.arrival_us == before[client->camera_id])
      continue;
    if (client->queued)
      frames_skipped_++;
    else
      send_if_ready(*client);
  }
}

void MjpegStreamer::remove(Client *client) {
  g_signal_handler_disconnect(client->msg, client->wrote_chunk_handler);
  g_signal_handler_disconnect(client->msg, client->finished_handler);
  g_clear_pointer(&client->queued, g_bytes_unref);
  g_object_unref(client->msg);
  const std::string camera_id = client->camera_id;
  clients_.erase(client);

  bool camera_watched = false;
  for (const auto &[key, other] : clients_)
    camera_watched |= other->camera_id == camera_id;
  if (!camera_watched) {
    auto part = parts_.find(camera_id);
    g_clear_pointer(&part->second.bytes, g_bytes_unref);
    parts_.erase(part);
  }
  update_timer();
}

void MjpegStreamer::update_timer() {
  if (!clients_.empty() && !poll_source_) {
    poll_source_ = g_timeout_source_new(poll_ms_);
    g_source_set_callback(
        poll_source_,
        [](gpointer self) -> gboolean {
          static_cast<MjpegStreamer *>(self)->poll();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(poll_source_, g_main_context_get_thread_default());
  } else if (clients_.empty() && poll_source_) {
    g_source_destroy(poll_source_);
    g_clear_pointer(&poll_source_, g_source_unref);
  }
}

void MjpegStreamer::on_wrote_chunk(SoupServerMessage *, gpointer data) {
  auto *client = static_cast<Client *>(data);
  g_clear_pointer(&client->queued, g_bytes_unref);
  client->streamer->send_if_ready(*client);
}

void MjpegStreamer::on_finished(SoupServerMessage *, gpointer data) {
  auto *client = static_cast<Client *>(data);
  client->streamer->remove(client);
}

} // namespace gpurtsp::launch::http
