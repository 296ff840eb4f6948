// SPDX-License-Identifier: MIT
#include "shard.h"

#include <charconv>

namespace gpurtsp::launch {

namespace {

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint64_t splitmix64_finalise(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

bool parse_unsigned(std::string_view text, unsigned &value) {
  if (text.empty())
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

} // namespace

std::string Shard::to_string() const {
  return count == 1 ? std::string() : std::to_string(index) + "/" + std::to_string(count);
}

std::optional<Shard> parse_shard(std::string_view text, std::string &error) {
  const std::string quoted = "shard \"" + std::string(text) + "\": ";
  size_t slash = text.find('/');
  Shard shard;
  if (slash == std::string_view::npos || !parse_unsigned(text.substr(0, slash), shard.index) ||
      !parse_unsigned(text.substr(slash + 1), shard.count)) {
    error = quoted + "expected INDEX/COUNT, e.g. 0/4";
    return std::nullopt;
  }
  if (shard.count == 0 || shard.count > kMaxShards) {
    error = quoted + "the count must be 1 to " + std::to_string(kMaxShards);
    return std::nullopt;
  }
  if (shard.index >= shard.count) {
    error = quoted + "the index must be below the count (shards are numbered from 0)";
    return std::nullopt;
  }
  return shard;
}

uint64_t shard_score(std::string_view camera_id, unsigned index) {
  return splitmix64_finalise(fnv1a64(camera_id) ^ splitmix64_finalise(uint64_t(index) + 1));
}

unsigned shard_of(std::string_view camera_id, unsigned count) {
  unsigned best = 0;
  uint64_t best_score = 0;
  for (unsigned index = 0; index < count; index++) {
    uint64_t score = shard_score(camera_id, index);
    if (index == 0 || score > best_score) {
      best = index;
      best_score = score;
    }
  }
  return best;
}

} // namespace gpurtsp::launch
