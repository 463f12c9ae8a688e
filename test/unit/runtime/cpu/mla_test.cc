#include <cmath>
#include <ostream>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/cpu/attention.h"
#include "test/unit/runtime/cpu/test_util.h"

namespace janus::cpu {
namespace {

using testing::MakeNormWeight;
using testing::MakeWeight;
using testing::OwnedWeight;
using testing::RefLinear;
using testing::RelError;

struct MlaVariant {
  const char* name;
  int heads, q_lora_rank, kv_lora_rank, nope, rope, v_dim;
  bool yarn;
};

constexpr int kHidden = 40;

// Readable names in gtest output instead of a byte dump.
void PrintTo(const MlaVariant& v, std::ostream* os) { *os << v.name; }

class MlaLayer {
 public:
  MlaLayer(const MlaVariant& v, uint32_t seed) : v_(v) {
    const int qk = v.nope + v.rope;
    if (v.q_lora_rank == 0) {
      q_proj_ = MakeWeight({v.heads * qk, kHidden}, seed + 1, DType::kBF16);
    } else {
      q_a_ = MakeWeight({v.q_lora_rank, kHidden}, seed + 2, DType::kBF16);
      q_a_norm_ = MakeNormWeight(v.q_lora_rank, seed + 3, DType::kBF16);
      q_b_ = MakeWeight({v.heads * qk, v.q_lora_rank}, seed + 4, DType::kBF16);
    }
    kv_a_ = MakeWeight({v.kv_lora_rank + v.rope, kHidden}, seed + 5, DType::kBF16);
    kv_a_norm_ = MakeNormWeight(v.kv_lora_rank, seed + 6, DType::kBF16);
    kv_b_ = MakeWeight({v.heads * (v.nope + v.v_dim), v.kv_lora_rank}, seed + 7, DType::kBF16);
    o_ = MakeWeight({kHidden, v.heads * v.v_dim}, seed + 8, DType::kBF16);
    views_ = {q_proj_.view(), q_a_.view(), q_a_norm_.view(), q_b_.view()};
    if (v.q_lora_rank == 0) {
      w_.q_proj = &views_[0];
    } else {
      w_.q_a = &views_[1];
      w_.q_a_norm = &views_[2];
      w_.q_b = &views_[3];
    }
    w_.kv_a = kv_a_.view();
    w_.kv_a_norm = kv_a_norm_.view();
    w_.kv_b = kv_b_.view();
    w_.o = o_.view();
    RopeConfig rc;
    rc.style = RopeStyle::kInterleaved;
    rc.rotary_dim = v.rope;
    if (v.yarn) {  // DeepSeek-V2 style: yarn, mscale == mscale_all_dim
      rc.scaling = RopeScaling::kYarn;
      rc.factor = 4;
      rc.original_max_position = 8;
      rc.mscale = 0.707f;
      rc.mscale_all_dim = 0.707f;
    }
    rope_ = *RopeTable::Create(rc, 32);
    c_.num_heads = v.heads;
    c_.q_lora_rank = v.q_lora_rank;
    c_.kv_lora_rank = v.kv_lora_rank;
    c_.qk_nope_head_dim = v.nope;
    c_.qk_rope_head_dim = v.rope;
    c_.v_head_dim = v.v_dim;
    c_.norm_eps = 1e-6f;
    c_.softmax_scale = MlaSoftmaxScale(qk, rc);
    c_.rope = &rope_;
  }

  const MlaWeights& weights() const { return w_; }
  const MlaConfig& config() const { return c_; }
  KvLayerSpec spec() const { return {v_.kv_lora_rank, v_.rope}; }

  // transformers' DeepseekV2Attention in double: complex-pair RoPE (the V2 form), full expansion of
  // every latent with kv_b_proj, causal softmax.
  std::vector<double> Reference(const std::vector<float>& x, int t) const {
    const int h = v_.heads, qk = v_.nope + v_.rope, rank = v_.kv_lora_rank, half = v_.rope / 2;
    std::vector<double> xd(x.begin(), x.end());
    std::vector<double> q;
    if (v_.q_lora_rank == 0) {
      q = RefLinear(xd, t, q_proj_.values, h * qk, kHidden);
    } else {
      auto qa = RefLinear(xd, t, q_a_.values, v_.q_lora_rank, kHidden);
      for (int r = 0; r < t; ++r) testing::RefRmsNorm(&qa[r * v_.q_lora_rank], v_.q_lora_rank, q_a_norm_.values, 1e-6);
      q = RefLinear(qa, t, q_b_.values, h * qk, v_.q_lora_rank);
    }
    auto ckv = RefLinear(xd, t, kv_a_.values, rank + v_.rope, kHidden);
    std::vector<double> latent(static_cast<size_t>(t) * rank), kpe(static_cast<size_t>(t) * v_.rope);
    const double af = rope_.attention_factor();
    auto rotate = [&](double* pe, int pos) {
      for (int i = 0; i < half; ++i) {
        const double a = pos * static_cast<double>(rope_.inv_freq()[i]);
        const double c = std::cos(a) * af, s = std::sin(a) * af;
        const double re = pe[2 * i], im = pe[2 * i + 1];
        pe[2 * i] = re * c - im * s;
        pe[2 * i + 1] = re * s + im * c;
      }
    };
    for (int r = 0; r < t; ++r) {
      std::copy(&ckv[r * (rank + v_.rope)], &ckv[r * (rank + v_.rope) + rank], &latent[r * rank]);
      testing::RefRmsNorm(&latent[r * rank], rank, kv_a_norm_.values, 1e-6);
      std::copy(&ckv[r * (rank + v_.rope) + rank], &ckv[(r + 1) * (rank + v_.rope)], &kpe[r * v_.rope]);
      rotate(&kpe[r * v_.rope], r);
      for (int hh = 0; hh < h; ++hh) rotate(&q[(r * h + hh) * qk + v_.nope], r);
    }
    auto kv = RefLinear(latent, t, kv_b_.values, h * (v_.nope + v_.v_dim), rank);
    const double scale = c_.softmax_scale;
    std::vector<double> attn(static_cast<size_t>(t) * h * v_.v_dim, 0.0);
    for (int r = 0; r < t; ++r) {
      for (int hh = 0; hh < h; ++hh) {
        std::vector<double> s(r + 1);
        double max = -1e300, sum = 0;
        for (int j = 0; j <= r; ++j) {
          double dot = 0;
          for (int i = 0; i < v_.nope; ++i) dot += q[(r * h + hh) * qk + i] * kv[(j * h + hh) * (v_.nope + v_.v_dim) + i];
          for (int i = 0; i < v_.rope; ++i) dot += q[(r * h + hh) * qk + v_.nope + i] * kpe[j * v_.rope + i];
          s[j] = dot * scale;
          max = std::max(max, s[j]);
        }
        for (int j = 0; j <= r; ++j) sum += s[j] = std::exp(s[j] - max);
        for (int j = 0; j <= r; ++j) {
          for (int i = 0; i < v_.v_dim; ++i) {
            attn[(r * h + hh) * v_.v_dim + i] += s[j] / sum * kv[(j * h + hh) * (v_.nope + v_.v_dim) + v_.nope + i];
          }
        }
      }
    }
    return RefLinear(attn, t, o_.values, kHidden, h * v_.v_dim);
  }

 private:
  MlaVariant v_;
  OwnedWeight q_proj_, q_a_, q_a_norm_, q_b_, kv_a_, kv_a_norm_, kv_b_, o_;
  std::vector<WeightView> views_;
  MlaWeights w_;
  RopeTable rope_;
  MlaConfig c_;
};

class MlaTest : public ::testing::TestWithParam<MlaVariant> {};

TEST_P(MlaTest, PagedInterleavedSequencesMatchDenseReference) {
  MlaLayer layer(GetParam(), 500);
  auto cache = PagedKvCache::Create(4, 16, {layer.spec()});
  ASSERT_TRUE(cache.ok());
  const std::vector<int> lengths = {6, 9};
  std::vector<int> seq;
  std::vector<std::vector<float>> xs, out(2);
  for (int s = 0; s < 2; ++s) {
    seq.push_back(*cache->AddSequence());
    xs.push_back(testing::Random(lengths[s] * kHidden, 600 + s));
    out[s].resize(lengths[s] * kHidden);
  }
  // Step 1: 3 + 5 tokens, then decode-sized steps of 1 + 1 until both are done.
  std::vector<int> done = {0, 0};
  std::vector<std::vector<int>> steps = {{3, 5}};
  while (steps.size() < 6) steps.push_back({1, 1});
  for (const auto& step : steps) {
    BatchLayout layout;
    std::vector<float> x;
    std::vector<std::pair<int, int>> origin;
    for (int s = 0; s < 2; ++s) {
      const int n = std::min(step[s], lengths[s] - done[s]);
      ASSERT_TRUE(cache->Reserve(seq[s], n).ok());
      for (int i = 0; i < n; ++i) {
        const int pos = done[s] + i;
        layout.seq.push_back(seq[s]);
        layout.position.push_back(pos);
        x.insert(x.end(), &xs[s][pos * kHidden], &xs[s][(pos + 1) * kHidden]);
        origin.push_back({s, pos});
      }
      done[s] += n;
    }
    std::vector<float> y(x.size());
    absl::Status st = MlaAttention(layer.weights(), layer.config(), x.data(), layout, *cache, 0, y.data());
    ASSERT_TRUE(st.ok()) << st;
    for (size_t r = 0; r < origin.size(); ++r) {
      std::copy(&y[r * kHidden], &y[(r + 1) * kHidden], &out[origin[r].first][origin[r].second * kHidden]);
    }
  }
  ASSERT_EQ(done, lengths);
  for (int s = 0; s < 2; ++s) {
    EXPECT_LT(RelError(out[s], layer.Reference(xs[s], lengths[s])), 2e-5) << "sequence " << s;
  }
}

TEST_P(MlaTest, DecodeEqualsPrefill) {
  MlaLayer layer(GetParam(), 700);
  const int t = 7;
  std::vector<float> x = testing::Random(t * kHidden, 701);
  auto c1 = PagedKvCache::Create(4, 4, {layer.spec()});
  auto c2 = PagedKvCache::Create(4, 4, {layer.spec()});
  ASSERT_TRUE(c1.ok() && c2.ok());
  int a = *c1->AddSequence(), b = *c2->AddSequence();
  ASSERT_TRUE(c1->Reserve(a, t).ok());
  BatchLayout all;
  for (int p = 0; p < t; ++p) {
    all.seq.push_back(a);
    all.position.push_back(p);
  }
  std::vector<float> y1(t * kHidden), y2(t * kHidden);
  ASSERT_TRUE(MlaAttention(layer.weights(), layer.config(), x.data(), all, *c1, 0, y1.data()).ok());
  for (int p = 0; p < t; ++p) {
    ASSERT_TRUE(c2->Reserve(b, 1).ok());
    BatchLayout one{{b}, {p}};
    ASSERT_TRUE(MlaAttention(layer.weights(), layer.config(), &x[p * kHidden], one, *c2, 0, &y2[p * kHidden]).ok());
  }
  EXPECT_EQ(y1, y2);
  EXPECT_LT(RelError(y1, layer.Reference(x, t)), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MlaTest,
    ::testing::Values(MlaVariant{"v2_q_proj_yarn", 4, 0, 16, 12, 8, 10, true},
                      MlaVariant{"v3_q_lora", 3, 20, 12, 8, 6, 8, false}),
    [](const ::testing::TestParamInfo<MlaVariant>& info) { return std::string(info.param.name); });

TEST(MlaErrorsTest, ShapesAndCacheAreChecked) {
  MlaLayer layer(MlaVariant{"v3", 2, 8, 8, 4, 4, 4, false}, 800);
  std::vector<float> x = testing::Random(kHidden, 801), y(kHidden);
  auto bad_cache = PagedKvCache::Create(4, 4, {{8, 8}});
  int s = *bad_cache->AddSequence();
  ASSERT_TRUE(bad_cache->Reserve(s, 1).ok());
  BatchLayout one{{s}, {0}};
  absl::Status st = MlaAttention(layer.weights(), layer.config(), x.data(), one, *bad_cache, 0, y.data());
  EXPECT_NE(st.message().find("kv_lora_rank 8 / qk_rope_head_dim 4"), std::string::npos) << st;

  auto cache = PagedKvCache::Create(4, 4, {layer.spec()});
  s = *cache->AddSequence();
  ASSERT_TRUE(cache->Reserve(s, 1).ok());
  EXPECT_TRUE(MlaAttention(layer.weights(), layer.config(), x.data(), one, *cache, 0, y.data()).ok());
  MlaConfig c = layer.config();
  c.q_lora_rank = 0;  // but no q_proj
  st = MlaAttention(layer.weights(), c, x.data(), one, *cache, 0, y.data());
  EXPECT_NE(st.message().find("q_proj is missing"), std::string::npos) << st;
  c = layer.config();
  c.qk_rope_head_dim = 6;  // disagrees with the rope table
  EXPECT_FALSE(MlaAttention(layer.weights(), c, x.data(), one, *cache, 0, y.data()).ok());
  c = layer.config();
  c.softmax_scale = 0;
  EXPECT_FALSE(MlaAttention(layer.weights(), c, x.data(), one, *cache, 0, y.data()).ok());
}

}  // namespace
}  // namespace janus::cpu
