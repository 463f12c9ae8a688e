#include "runtime/cpu/kv_cache.h"

#include <vector>

#include "gtest/gtest.h"

namespace janus::cpu {
namespace {

TEST(PagedKvCacheTest, ReserveFreeAndReuse) {
  auto cache = PagedKvCache::Create(4, 5, {{6, 6}, {3, 2}});
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto a = cache->AddSequence();
  auto b = cache->AddSequence();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 0);
  EXPECT_EQ(*b, 1);
  EXPECT_EQ(cache->length(*a), 0);
  ASSERT_TRUE(cache->Reserve(*a, 5).ok());  // 2 blocks
  ASSERT_TRUE(cache->Reserve(*b, 4).ok());  // 1 block
  ASSERT_TRUE(cache->Reserve(*a, 3).ok());  // 8 tokens: still 2 blocks
  EXPECT_EQ(cache->length(*a), 8);
  EXPECT_EQ(cache->num_free_blocks(), 2);

  // Distinct slots for every (layer, seq, position), key and value rows disjoint.
  for (int layer = 0; layer < 2; ++layer) {
    const int kw = cache->layer_spec(layer).key_width, vw = cache->layer_spec(layer).value_width;
    for (int p = 0; p < 8; ++p) {
      for (int i = 0; i < kw; ++i) cache->Key(layer, *a, p)[i] = 1000 * layer + 10 * p + i;
      for (int i = 0; i < vw; ++i) cache->Value(layer, *a, p)[i] = -(1000 * layer + 10 * p + i);
    }
    for (int p = 0; p < 4; ++p) {
      for (int i = 0; i < kw; ++i) cache->Key(layer, *b, p)[i] = 5000 + p;
      for (int i = 0; i < vw; ++i) cache->Value(layer, *b, p)[i] = -5000 - p;
    }
    for (int p = 0; p < 8; ++p) {
      for (int i = 0; i < kw; ++i) EXPECT_EQ(cache->Key(layer, *a, p)[i], 1000 * layer + 10 * p + i);
      for (int i = 0; i < vw; ++i) EXPECT_EQ(cache->Value(layer, *a, p)[i], -(1000 * layer + 10 * p + i));
    }
  }

  ASSERT_TRUE(cache->FreeSequence(*a).ok());
  EXPECT_FALSE(cache->HasSequence(*a));
  EXPECT_EQ(cache->num_free_blocks(), 4);
  auto c = cache->AddSequence();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0);  // the freed id comes back
  EXPECT_EQ(cache->length(*c), 0);
  EXPECT_EQ(cache->FreeSequence(7).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache->Reserve(7, 1).code(), absl::StatusCode::kNotFound);
}

TEST(PagedKvCacheTest, ExhaustionIsAnErrorAndLeavesTheCacheUnchanged) {
  auto cache = PagedKvCache::Create(4, 3, {{2, 2}});
  ASSERT_TRUE(cache.ok());
  int s = *cache->AddSequence();
  ASSERT_TRUE(cache->Reserve(s, 9).ok());  // 3 blocks
  absl::Status st = cache->Reserve(s, 4);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("needs 1 more block(s) of 4 tokens"), std::string::npos) << st;
  EXPECT_NE(st.message().find("0 of 3 blocks are free"), std::string::npos) << st;
  EXPECT_EQ(cache->length(s), 9);
  ASSERT_TRUE(cache->Reserve(s, 3).ok());  // fills the last block exactly
  EXPECT_EQ(cache->length(s), 12);
  EXPECT_EQ(cache->Reserve(s, -1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PagedKvCacheTest, CreateValidatesArguments) {
  EXPECT_FALSE(PagedKvCache::Create(0, 4, {{1, 1}}).ok());
  EXPECT_FALSE(PagedKvCache::Create(4, 0, {{1, 1}}).ok());
  EXPECT_FALSE(PagedKvCache::Create(4, 4, {}).ok());
  EXPECT_FALSE(PagedKvCache::Create(4, 4, {{-1, 1}}).ok());
}

TEST(PagedKvCacheTest, CheckSlotAndValidateLayout) {
  auto cache = PagedKvCache::Create(2, 8, {{1, 1}});
  ASSERT_TRUE(cache.ok());
  int a = *cache->AddSequence(), b = *cache->AddSequence();
  ASSERT_TRUE(cache->Reserve(a, 3).ok());
  ASSERT_TRUE(cache->Reserve(b, 2).ok());
  EXPECT_TRUE(cache->CheckSlot(0, a, 2).ok());
  EXPECT_EQ(cache->CheckSlot(0, a, 3).code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(cache->CheckSlot(1, a, 0).ok());
  EXPECT_FALSE(cache->CheckSlot(0, 5, 0).ok());

  BatchLayout ok{{a, b, a, b}, {1, 0, 2, 1}};
  EXPECT_TRUE(ValidateLayout(ok, 4, *cache).ok());
  EXPECT_FALSE(ValidateLayout(ok, 3, *cache).ok());
  BatchLayout backwards{{a, a}, {2, 1}};
  absl::Status s = ValidateLayout(backwards, 2, *cache);
  EXPECT_NE(s.message().find("does not follow"), std::string::npos) << s;
  BatchLayout past_end{{b}, {2}};
  EXPECT_FALSE(ValidateLayout(past_end, 1, *cache).ok());
  BatchLayout unknown{{9}, {0}};
  EXPECT_FALSE(ValidateLayout(unknown, 1, *cache).ok());
}

}  // namespace
}  // namespace janus::cpu
