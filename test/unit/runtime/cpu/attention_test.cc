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

struct Variant {
  const char* name;
  int heads, kv_heads, head_dim, rotary_dim;
  bool bias;
  QkNorm norm;
};

// Readable names in gtest output instead of a byte dump.
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class Layer {
 public:
  Layer(const Variant& v, int hidden, uint32_t seed) : v_(v), hidden_(hidden) {
    const int qw = v.heads * v.head_dim, kw = v.kv_heads * v.head_dim;
    q_ = MakeWeight({qw, hidden}, seed + 1, DType::kBF16);
    k_ = MakeWeight({kw, hidden}, seed + 2, DType::kBF16);
    v_w_ = MakeWeight({kw, hidden}, seed + 3, DType::kBF16);
    o_ = MakeWeight({hidden, qw}, seed + 4, DType::kBF16);
    qb_ = MakeWeight({qw}, seed + 5, DType::kBF16);
    kb_ = MakeWeight({kw}, seed + 6, DType::kBF16);
    vb_ = MakeWeight({kw}, seed + 7, DType::kBF16);
    const bool per_head = v.norm == QkNorm::kPerHead;
    qn_ = MakeNormWeight(per_head ? v.head_dim : qw, seed + 8, DType::kBF16);
    kn_ = MakeNormWeight(per_head ? v.head_dim : kw, seed + 9, DType::kBF16);
    w_.q = q_.view();
    w_.k = k_.view();
    w_.v = v_w_.view();
    w_.o = o_.view();
    views_ = {qb_.view(), kb_.view(), vb_.view(), qn_.view(), kn_.view()};
    if (v.bias) {
      w_.q_bias = &views_[0];
      w_.k_bias = &views_[1];
      w_.v_bias = &views_[2];
    }
    if (v.norm != QkNorm::kNone) {
      w_.q_norm = &views_[3];
      w_.k_norm = &views_[4];
    }
    RopeConfig rc;
    rc.theta = 10000;
    rc.rotary_dim = v.rotary_dim;
    rope_ = *RopeTable::Create(rc, 64);
    config_.num_heads = v.heads;
    config_.num_kv_heads = v.kv_heads;
    config_.head_dim = v.head_dim;
    config_.qk_norm = v.norm;
    config_.qk_norm_eps = 1e-6f;
    config_.rope = &rope_;
  }

  const AttentionWeights& weights() const { return w_; }
  const AttentionConfig& config() const { return config_; }

  // Dense causal attention of one whole sequence (positions 0..T-1), in double, straight from the
  // HF formulas.
  std::vector<double> Reference(const std::vector<float>& x, int t) const {
    const int d = v_.head_dim, qw = v_.heads * d, kw = v_.kv_heads * d;
    std::vector<double> xd(x.begin(), x.end());
    auto q = RefLinear(xd, t, q_.values, qw, hidden_, v_.bias ? &qb_.values : nullptr);
    auto k = RefLinear(xd, t, k_.values, kw, hidden_, v_.bias ? &kb_.values : nullptr);
    auto v = RefLinear(xd, t, v_w_.values, kw, hidden_, v_.bias ? &vb_.values : nullptr);
    for (int r = 0; r < t; ++r) {
      if (v_.norm == QkNorm::kPerHead) {
        for (int h = 0; h < v_.heads; ++h) testing::RefRmsNorm(&q[r * qw + h * d], d, qn_.values, 1e-6);
        for (int h = 0; h < v_.kv_heads; ++h) testing::RefRmsNorm(&k[r * kw + h * d], d, kn_.values, 1e-6);
      } else if (v_.norm == QkNorm::kFull) {
        testing::RefRmsNorm(&q[r * qw], qw, qn_.values, 1e-6);
        testing::RefRmsNorm(&k[r * kw], kw, kn_.values, 1e-6);
      }
      auto rotate = [&](double* head) {
        const int half = v_.rotary_dim / 2;
        for (int i = 0; i < half; ++i) {
          const double a = r * std::pow(10000.0, -2.0 * i / v_.rotary_dim);
          const double x1 = head[i], x2 = head[i + half];
          head[i] = x1 * std::cos(a) - x2 * std::sin(a);
          head[i + half] = x2 * std::cos(a) + x1 * std::sin(a);
        }
      };
      for (int h = 0; h < v_.heads; ++h) rotate(&q[r * qw + h * d]);
      for (int h = 0; h < v_.kv_heads; ++h) rotate(&k[r * kw + h * d]);
    }
    std::vector<double> attn(static_cast<size_t>(t) * qw, 0.0);
    const int group = v_.heads / v_.kv_heads;
    for (int r = 0; r < t; ++r) {
      for (int h = 0; h < v_.heads; ++h) {
        const int kvh = h / group;
        std::vector<double> s(r + 1);
        double max = -1e300, sum = 0;
        for (int j = 0; j <= r; ++j) {
          double dot = 0;
          for (int i = 0; i < d; ++i) dot += q[r * qw + h * d + i] * k[j * kw + kvh * d + i];
          s[j] = dot / std::sqrt(static_cast<double>(d));
          max = std::max(max, s[j]);
        }
        for (int j = 0; j <= r; ++j) sum += s[j] = std::exp(s[j] - max);
        for (int j = 0; j <= r; ++j) {
          for (int i = 0; i < d; ++i) attn[r * qw + h * d + i] += s[j] / sum * v[j * kw + kvh * d + i];
        }
      }
    }
    return RefLinear(attn, t, o_.values, hidden_, qw);
  }

 private:
  Variant v_;
  int hidden_;
  OwnedWeight q_, k_, v_w_, o_, qb_, kb_, vb_, qn_, kn_;
  std::vector<WeightView> views_;
  AttentionWeights w_;
  RopeTable rope_;
  AttentionConfig config_;
};

class AttentionTest : public ::testing::TestWithParam<Variant> {};

constexpr int kHidden = 48;

// Three sequences of lengths 7, 5 and 3 arrive in two steps of interleaved rows (chunked prefill
// mixed with other sequences), through a cache of 4-token blocks; every row must equal the dense
// causal reference of its own sequence.
TEST_P(AttentionTest, PagedInterleavedSequencesMatchDenseReference) {
  const Variant& v = GetParam();
  Layer layer(v, kHidden, 100);
  const int kv = v.kv_heads * v.head_dim;
  auto cache = PagedKvCache::Create(4, 16, {{kv, kv}, {kv, kv}});
  ASSERT_TRUE(cache.ok());
  const std::vector<int> lengths = {7, 5, 3};
  std::vector<int> seq;
  std::vector<std::vector<float>> xs;
  for (size_t s = 0; s < lengths.size(); ++s) {
    seq.push_back(*cache->AddSequence());
    xs.push_back(testing::Random(lengths[s] * kHidden, 200 + s));
  }
  // Step 1: the first 4, 2, 3 tokens; step 2: the rest. Rows interleave across sequences.
  const std::vector<std::vector<int>> split = {{4, 2, 3}, {3, 3, 0}};
  std::vector<int> done(3, 0);
  std::vector<std::vector<float>> out(3);
  for (int s = 0; s < 3; ++s) out[s].resize(lengths[s] * kHidden);
  for (const auto& step : split) {
    BatchLayout layout;
    std::vector<float> x;
    std::vector<std::pair<int, int>> origin;
    for (int s = 0; s < 3; ++s) ASSERT_TRUE(cache->Reserve(seq[s], step[s]).ok());
    for (int i = 0; i < 4; ++i) {
      for (int s = 0; s < 3; ++s) {
        if (i >= step[s]) continue;
        const int pos = done[s] + i;
        layout.seq.push_back(seq[s]);
        layout.position.push_back(pos);
        x.insert(x.end(), &xs[s][pos * kHidden], &xs[s][(pos + 1) * kHidden]);
        origin.push_back({s, pos});
      }
    }
    std::vector<float> y(x.size());
    // Layer 1 of the cache, to check the layer index is honoured.
    absl::Status st = Attention(layer.weights(), layer.config(), x.data(), layout, *cache, 1, y.data());
    ASSERT_TRUE(st.ok()) << st;
    for (size_t r = 0; r < origin.size(); ++r) {
      std::copy(&y[r * kHidden], &y[(r + 1) * kHidden],
                &out[origin[r].first][origin[r].second * kHidden]);
    }
    for (int s = 0; s < 3; ++s) done[s] += step[s];
  }
  for (int s = 0; s < 3; ++s) {
    EXPECT_LT(RelError(out[s], layer.Reference(xs[s], lengths[s])), 2e-5) << "sequence " << s;
  }
}

// Decoding one row per step equals prefilling the whole sequence at once, bit for bit.
TEST_P(AttentionTest, DecodeEqualsPrefill) {
  const Variant& v = GetParam();
  Layer layer(v, kHidden, 300);
  const int kv = v.kv_heads * v.head_dim, t = 9;
  std::vector<float> x = testing::Random(t * kHidden, 301);
  auto prefill_cache = PagedKvCache::Create(4, 8, {{kv, kv}});
  auto decode_cache = PagedKvCache::Create(4, 8, {{kv, kv}});
  ASSERT_TRUE(prefill_cache.ok() && decode_cache.ok());
  int a = *prefill_cache->AddSequence();
  ASSERT_TRUE(prefill_cache->Reserve(a, t).ok());
  BatchLayout all;
  for (int p = 0; p < t; ++p) {
    all.seq.push_back(a);
    all.position.push_back(p);
  }
  std::vector<float> y_prefill(t * kHidden), y_decode(t * kHidden);
  ASSERT_TRUE(Attention(layer.weights(), layer.config(), x.data(), all, *prefill_cache, 0,
                        y_prefill.data()).ok());
  int b = *decode_cache->AddSequence();
  for (int p = 0; p < t; ++p) {
    ASSERT_TRUE(decode_cache->Reserve(b, 1).ok());
    BatchLayout one{{b}, {p}};
    ASSERT_TRUE(Attention(layer.weights(), layer.config(), &x[p * kHidden], one, *decode_cache, 0,
                          &y_decode[p * kHidden]).ok());
  }
  EXPECT_EQ(y_prefill, y_decode);
  EXPECT_LT(RelError(y_prefill, layer.Reference(x, t)), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, AttentionTest,
    ::testing::Values(Variant{"mha", 4, 4, 12, 12, false, QkNorm::kNone},
                      Variant{"gqa_bias", 6, 2, 8, 8, true, QkNorm::kNone},          // Qwen2-MoE
                      Variant{"gqa_head_norm", 4, 2, 16, 16, false, QkNorm::kPerHead},  // Qwen3
                      Variant{"full_norm", 4, 4, 12, 12, false, QkNorm::kFull},      // OLMoE
                      Variant{"partial_rotary", 4, 1, 16, 8, true, QkNorm::kNone}),
    [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

TEST(AttentionErrorsTest, ShapesCacheAndLayoutAreChecked) {
  Variant v{"gqa", 4, 2, 8, 8, false, QkNorm::kNone};
  Layer layer(v, kHidden, 400);
  std::vector<float> x = testing::Random(kHidden, 401), y(kHidden);
  auto wrong_cache = PagedKvCache::Create(4, 4, {{8, 16}});
  ASSERT_TRUE(wrong_cache.ok());
  int s = *wrong_cache->AddSequence();
  ASSERT_TRUE(wrong_cache->Reserve(s, 1).ok());
  BatchLayout one{{s}, {0}};
  absl::Status st = Attention(layer.weights(), layer.config(), x.data(), one, *wrong_cache, 0, y.data());
  EXPECT_NE(st.message().find("key/value widths 8/16"), std::string::npos) << st;

  auto cache = PagedKvCache::Create(4, 4, {{16, 16}});
  s = *cache->AddSequence();
  ASSERT_TRUE(cache->Reserve(s, 1).ok());
  EXPECT_TRUE(Attention(layer.weights(), layer.config(), x.data(), one, *cache, 0, y.data()).ok());
  EXPECT_FALSE(Attention(layer.weights(), layer.config(), x.data(), one, *cache, 1, y.data()).ok());
  BatchLayout past{{s}, {1}};
  EXPECT_FALSE(Attention(layer.weights(), layer.config(), x.data(), past, *cache, 0, y.data()).ok());

  AttentionConfig c = layer.config();
  c.num_kv_heads = 3;
  EXPECT_FALSE(Attention(layer.weights(), c, x.data(), one, *cache, 0, y.data()).ok());
  c = layer.config();
  c.qk_norm = QkNorm::kPerHead;  // norm weights missing
  st = Attention(layer.weights(), c, x.data(), one, *cache, 0, y.data());
  EXPECT_NE(st.message().find("q_norm"), std::string::npos) << st;
  c = layer.config();
  c.rope = nullptr;
  EXPECT_FALSE(Attention(layer.weights(), c, x.data(), one, *cache, 0, y.data()).ok());
  AttentionWeights w = layer.weights();
  std::swap(w.q, w.o);
  st = Attention(w, layer.config(), x.data(), one, *cache, 0, y.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::cpu
