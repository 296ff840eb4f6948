// SPDX-License-Identifier: MIT
/* Shards: which of COUNT gpurtsp-launch processes serves a camera.
 *
 * Rendezvous (highest-random-weight) hashing of the camera id: every shard
 * scores every id and the highest score wins, so each process decides alone
 * from the same config, and going from N to N+1 shards moves only the ~1/(N+1)
 * of the cameras the new shard wins. The score is a published function
 * (docs/scale-out.md, tools/scripts/gpurtsp-shard) so a proxy can route by it. */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gpurtsp::launch {

struct Shard {
  unsigned index = 0; /* 0 .. count-1 */
  unsigned count = 1; /* 1: no sharding, this process serves every camera */

  /* "2/8"; "" when count is 1. */
  std::string to_string() const;
  bool operator==(const Shard &) const = default;
};

/* What this process serves, for the API, metrics and the log. */
struct ShardInfo {
  Shard shard;
  size_t config_cameras = 0; /* cameras in the config, every shard's */
};

/* The most shards a process accepts: beyond it the per-camera scoring of
 * every shard would dominate config loading. */
constexpr unsigned kMaxShards = 4096;

/* "INDEX/COUNT" with 0 <= INDEX < COUNT <= kMaxShards; nullopt and @error
 * ("shard 8/8: index must be below the count") when malformed. */
std::optional<Shard> parse_shard(std::string_view text, std::string &error);

/* The score of @camera_id on shard @index: FNV-1a 64 of the id's bytes,
 * mixed with the index by SplitMix64's finaliser. */
uint64_t shard_score(std::string_view camera_id, unsigned index);

/* The shard of @count that serves @camera_id (highest score; ties, which
 * need a 64-bit collision, go to the lower index). */
unsigned shard_of(std::string_view camera_id, unsigned count);

} // namespace gpurtsp::launch
