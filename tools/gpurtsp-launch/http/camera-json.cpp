// SPDX-License-Identifier: MIT
#include "camera-json.h"

#include <json-glib/json-glib.h>

namespace gpurtsp::launch::http {

namespace {

void add_string_or_null(JsonBuilder *builder, const char *name, const std::string &value) {
  json_builder_set_member_name(builder, name);
  if (value.empty())
    json_builder_add_null_value(builder);
  else
    json_builder_add_string_value(builder, value.c_str());
}

void add_camera(JsonBuilder *builder, const CameraStatus &status) {
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "id");
  json_builder_add_string_value(builder, status.id.c_str());
  json_builder_set_member_name(builder, "state");
  json_builder_add_string_value(builder, camera_state_name(status.state));
  json_builder_set_member_name(builder, "frames");
  json_builder_add_int_value(builder, gint64(status.frames));
  json_builder_set_member_name(builder, "fps");
  json_builder_add_double_value(builder, status.fps);
  json_builder_set_member_name(builder, "last_frame_age_ms");
  if (status.last_frame_age_ms < 0)
    json_builder_add_null_value(builder);
  else
    json_builder_add_int_value(builder, status.last_frame_age_ms);
  json_builder_set_member_name(builder, "width");
  json_builder_add_int_value(builder, status.width);
  json_builder_set_member_name(builder, "height");
  json_builder_add_int_value(builder, status.height);
  json_builder_set_member_name(builder, "thumbnail_width");
  json_builder_add_int_value(builder, status.thumbnail_width);
  add_string_or_null(builder, "codec", status.codec);
  add_string_or_null(builder, "decoder", status.decoder);
  json_builder_set_member_name(builder, "gpu");
  json_builder_add_int_value(builder, status.gpu);
  json_builder_set_member_name(builder, "reconnects");
  json_builder_add_int_value(builder, gint64(status.reconnects));
  json_builder_set_member_name(builder, "corrupt_frames_dropped");
  json_builder_add_int_value(builder, gint64(status.corrupt_frames_dropped));
  add_string_or_null(builder, "last_error", status.last_error);
  json_builder_end_object(builder);
}

std::string to_string(JsonBuilder *builder) {
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autofree char *json = json_to_string(root, FALSE);
  return json;
}

} // namespace

std::string camera_json(const CameraStatus &status) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  add_camera(builder, status);
  return to_string(builder);
}

std::string cameras_json(const std::vector<CameraStatus> &statuses) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_array(builder);
  for (const CameraStatus &status : statuses)
    add_camera(builder, status);
  json_builder_end_array(builder);
  return to_string(builder);
}

std::string shard_json(const ShardInfo &shard, size_t cameras) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "index");
  json_builder_add_int_value(builder, shard.shard.index);
  json_builder_set_member_name(builder, "count");
  json_builder_add_int_value(builder, shard.shard.count);
  json_builder_set_member_name(builder, "cameras");
  json_builder_add_int_value(builder, gint64(cameras));
  json_builder_set_member_name(builder, "config_cameras");
  json_builder_add_int_value(builder, gint64(shard.config_cameras));
  json_builder_end_object(builder);
  return to_string(builder);
}

std::string shard_of_json(const ShardInfo &shard, const std::string &id) {
  const unsigned serving = shard_of(id, shard.shard.count);
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "id");
  json_builder_add_string_value(builder, id.c_str());
  json_builder_set_member_name(builder, "shard");
  json_builder_add_int_value(builder, serving);
  json_builder_set_member_name(builder, "count");
  json_builder_add_int_value(builder, shard.shard.count);
  json_builder_set_member_name(builder, "here");
  json_builder_add_boolean_value(builder, serving == shard.shard.index);
  json_builder_end_object(builder);
  return to_string(builder);
}

} // namespace gpurtsp::launch::http
