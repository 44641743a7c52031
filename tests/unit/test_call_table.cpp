#include <gtest/gtest.h>

#include <map>
#include <random>

extern "C" {
#include "engine/call_table.h"
#include "signalr/signalr.h"
}

TEST(CallTable, MatchesAMapUnderRandomOperations) {
  sr_call_table t{};
  std::map<uint64_t, uint64_t> ref;
  std::mt19937_64 rng(42);
  uint64_t next = 1;
  for (int i = 0; i < 200000; i++) {
    int op = (int)(rng() % 3);
    if (op == 0 || ref.size() < 10) {
      uint64_t id = next++;
      ASSERT_EQ(sr_call_table_put(&t, id, id * 7, SR_CALL_INVOKE), 0);
      ref[id] = id * 7;
    } else {
      // Completions arrive in any order, and some for ids that are gone.
      uint64_t id = 1 + rng() % next;
      sr_call c;
      int got = sr_call_table_take(&t, id, &c);
      auto it = ref.find(id);
      ASSERT_EQ(got, it != ref.end() ? 1 : 0) << id;
      if (got) {
        EXPECT_EQ(c.token, it->second);
        ref.erase(it);
      }
    }
    ASSERT_EQ(t.count, ref.size());
  }
  for (auto &kv : ref) ASSERT_NE(sr_call_table_get(&t, kv.first), nullptr);
  sr_call c;
  size_t drained = 0;
  while (sr_call_table_pop(&t, &c)) drained++;
  EXPECT_EQ(drained, ref.size());
  EXPECT_EQ(sr_call_table_put(&t, 0, 1, SR_CALL_INVOKE), SIGNALR_EINVAL);
  sr_call_table_free(&t);
}
