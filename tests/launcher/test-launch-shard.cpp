// SPDX-License-Identifier: MIT
/* Shards (shard.h): INDEX/COUNT parsing, the published score, an even
 * split, and the rendezvous property that one more shard moves only the
 * cameras it wins. */
#include <map>
#include <string>
#include <vector>

#include "shard.h"

/* Last: check.h defines fail(), which breaks <ios> included after it. */
#include <gst/check/gstcheck.h>

using namespace gpurtsp::launch;

static std::string camera_id(int i) {
  char id[16];
  g_snprintf(id, sizeof id, "cam-%04d", i);
  return id;
}

GST_START_TEST(test_parse) {
  std::string error;
  std::optional<Shard> shard = parse_shard("2/8", error);
  fail_unless(shard.has_value());
  fail_unless_equals_int(shard->index, 2);
  fail_unless_equals_int(shard->count, 8);
  /* The macro keeps the pointers past the statement: no temporaries. */
  const std::string text = shard->to_string(), unsharded = Shard{}.to_string();
  fail_unless_equals_string(text.c_str(), "2/8");
  fail_unless_equals_string(unsharded.c_str(), "");

  const std::vector<std::pair<const char *, const char *>> bad = {
      {"", "shard \"\": expected INDEX/COUNT, e.g. 0/4"},
      {"3", "shard \"3\": expected INDEX/COUNT, e.g. 0/4"},
      {"-1/4", "shard \"-1/4\": expected INDEX/COUNT, e.g. 0/4"},
      {"1/4x", "shard \"1/4x\": expected INDEX/COUNT, e.g. 0/4"},
      {"0/0", "shard \"0/0\": the count must be 1 to 4096"},
      {"0/5000", "shard \"0/5000\": the count must be 1 to 4096"},
      {"4/4", "shard \"4/4\": the index must be below the count (shards are numbered from 0)"},
  };
  for (const auto &[text, message] : bad) {
    error.clear();
    fail_if(parse_shard(text, error).has_value(), "%s accepted", text);
    fail_unless_equals_string(error.c_str(), message);
  }
}
GST_END_TEST;

/* The score is published (docs, tools/scripts/gpurtsp-shard): pinned values
 * keep the C++ and the script from drifting apart. */
GST_START_TEST(test_published_scores) {
  fail_unless_equals_uint64(shard_score("cam-0000", 0), G_GUINT64_CONSTANT(0x24bfe1cf0d1672b0));
  const uint64_t cam42[] = {
      G_GUINT64_CONSTANT(0x38d654071bc7e11b), G_GUINT64_CONSTANT(0xb834a9d659633075),
      G_GUINT64_CONSTANT(0xbf89ba33792ef129), G_GUINT64_CONSTANT(0xafeebca0c4ca5785),
      G_GUINT64_CONSTANT(0x9b3cbd3a09a29a8a)};
  for (unsigned i = 0; i < G_N_ELEMENTS(cam42); i++)
    fail_unless_equals_uint64(shard_score("cam-0042", i), cam42[i]);
  fail_unless_equals_int(shard_of("cam-0042", 5), 2);
  fail_unless_equals_int(shard_of("cam-0000", 5), 4);
  fail_unless_equals_int(shard_of("cam-0000", 1), 0);
}
GST_END_TEST;

GST_START_TEST(test_even_split) {
  std::vector<int> per_shard(4);
  for (int i = 0; i < 10000; i++)
    per_shard[shard_of(camera_id(i), 4)]++;
  for (int count : per_shard)
    fail_unless(count > 2300 && count < 2700, "uneven split: %d of 10000 on one of 4", count);
}
GST_END_TEST;

/* 200 cameras from 4 to 5 shards: only the new shard's cameras move, about
 * a fifth of them, never more than a quarter. */
GST_START_TEST(test_one_more_shard_moves_only_its_cameras) {
  int moved = 0;
  for (int i = 0; i < 200; i++) {
    unsigned before = shard_of(camera_id(i), 4), after = shard_of(camera_id(i), 5);
    if (before != after) {
      fail_unless_equals_int(after, 4);
      moved++;
    }
  }
  fail_unless(moved > 0 && moved <= 50, "%d of 200 cameras moved", moved);
}
GST_END_TEST;

static Suite *shard_suite() {
  Suite *s = suite_create("launch-shard");
  TCase *tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_parse);
  tcase_add_test(tc, test_published_scores);
  tcase_add_test(tc, test_even_split);
  tcase_add_test(tc, test_one_more_shard_moves_only_its_cameras);
  return s;
}

GST_CHECK_MAIN(shard)
