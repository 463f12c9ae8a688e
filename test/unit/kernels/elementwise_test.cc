// The backend's glue kernels against host references: bit-exact where the math is exact (copies,
// casts, adds: one fp32 operation and the same rounding as runtime/base/dtype.h), within one bf16
// ulp where exp() is involved (CUDA expf vs std::exp). Every kernel runs with odd sizes and with
// pointers offset by one element, which forces the narrowest accesses, next to the aligned case.
#include "kernels/elementwise.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/cpu/tensor.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::ToBf16;

// A device copy placed `offset` elements past a cudaMalloc'd (256-byte aligned) base.
template <typename T>
struct DevArray {
  DeviceBuffer buf;
  int offset = 0;
  size_t size = 0;
  T* get() const { return buf.get<T>() + offset; }
  absl::StatusOr<std::vector<T>> ToHost() const {
    std::vector<T> out(size);
    if (size > 0) {
      JANUS_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(out.data(), get(), sizeof(T) * size, cudaMemcpyDeviceToHost));
    }
    return out;
  }
};

// Poisoned (0xff bytes) array of n elements.
template <typename T>
absl::StatusOr<DevArray<T>> Poisoned(size_t n, int offset = 0) {
  DevArray<T> d;
  JANUS_ASSIGN_OR_RETURN(d.buf, DeviceBuffer::Create(sizeof(T) * (n + offset)));
  JANUS_RETURN_IF_ERROR(d.buf.Fill(0xff));
  d.offset = offset;
  d.size = n;
  return d;
}

template <typename T>
absl::StatusOr<DevArray<T>> ToDevice(const std::vector<T>& v, int offset = 0) {
  JANUS_ASSIGN_OR_RETURN(DevArray<T> d, Poisoned<T>(v.size(), offset));
  if (!v.empty()) {
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(d.get(), v.data(), sizeof(T) * v.size(), cudaMemcpyHostToDevice));
  }
  return d;
}

template <typename T>
void ExpectSameBits(const std::vector<T>& got, const std::vector<T>& want) {
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << "first mismatch at " << first << ": got " << +got[first] << ", want "
                     << +want[first];
}

// Distance in bf16 ulps (sign-magnitude mapped to a line); NaN and poison count as far.
int UlpDiff(uint16_t a, uint16_t b) {
  auto key = [](uint16_t v) { return (v & 0x8000) ? -static_cast<int>(v & 0x7fff) : (v & 0x7fff); };
  if ((a & 0x7fff) > 0x7f80 || (b & 0x7fff) > 0x7f80) return a == b ? 0 : INT_MAX;
  return std::abs(key(a) - key(b));
}

void ExpectWithinOneUlp(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want) {
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (UlpDiff(got[i], want[i]) > 1 && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << "first mismatch at " << first << ": got " << got[first] << ", want "
                     << want[first];
}

uint16_t AddBf16(uint16_t a, uint16_t b) { return FloatToBf16(Bf16ToFloat(a) + Bf16ToFloat(b)); }

TEST(Embedding, CopiesRowsAndPoisonsBadIds) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(1);
  const int vocab = 37, rows = 23;
  for (int hidden : {1, 3, 6, 12, 96, 1000}) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE(::testing::Message() << "hidden " << hidden << " offset " << offset);
      const std::vector<uint16_t> table =
          ToBf16(RandomFloats(rng, size_t{1} * vocab * hidden, -2, 2));
      std::uniform_int_distribution<int> id_d(0, vocab - 1);
      std::vector<int32_t> ids(rows);
      for (int32_t& id : ids) id = id_d(rng);
      ids[0] = 0, ids[3] = -1, ids[10] = vocab, ids[17] = INT32_MIN, ids[22] = vocab - 1;
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_table, ToDevice(table, offset));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_ids, ToDevice(ids));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_out,
                                 Poisoned<uint16_t>(rows * hidden, offset));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_bad, ToDevice(std::vector<int32_t>{5}));
      JANUS_ASSERT_OK(LaunchEmbedding(d_table.get(), d_ids.get(), rows, vocab, hidden, d_out.get(),
                                      d_bad.get(), 0));
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<uint16_t> want(size_t{1} * rows * hidden);
      for (int r = 0; r < rows; ++r) {
        for (int h = 0; h < hidden; ++h) {
          const bool bad = ids[r] < 0 || ids[r] >= vocab;
          want[size_t{1} * r * hidden + h] = bad ? 0x7fc0 : table[size_t{1} * ids[r] * hidden + h];
        }
      }
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_out.ToHost());
      ExpectSameBits(out, want);
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> bad, d_bad.ToHost());
      EXPECT_EQ(bad[0], 5 + 3) << "the bad-id count accumulates";
      // Without a counter the rows are the same.
      JANUS_ASSERT_OK(d_out.buf.Fill(0xff));
      JANUS_ASSERT_OK(LaunchEmbedding(d_table.get(), d_ids.get(), rows, vocab, hidden, d_out.get(),
                                      nullptr, 0));
      JANUS_ASSERT_OK_AND_ASSIGN(out, d_out.ToHost());
      ExpectSameBits(out, want);
    }
  }
}

// Element offsets of (a, b, out): 1 forces 2-byte accesses, 2 and 4 the 4- and 8-byte ones.
const int kOffsets[][3] = {{0, 0, 0}, {1, 1, 1}, {0, 1, 0}, {2, 2, 2}, {4, 4, 4}};

TEST(Add, BitExactAgainstCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(2);
  for (int64_t n : {1, 7, 8, 9, 31, 1000, 100003}) {
    for (const auto& off : kOffsets) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " offsets " << off[0] << off[1] << off[2]);
      const std::vector<uint16_t> a = ToBf16(RandomFloats(rng, n, -4, 4));
      const std::vector<uint16_t> b = ToBf16(RandomFloats(rng, n, -4, 4));
      std::vector<uint16_t> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = AddBf16(a[i], b[i]);
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_a, ToDevice(a, off[0]));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_b, ToDevice(b, off[1]));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_out, Poisoned<uint16_t>(n, off[2]));
      JANUS_ASSERT_OK(LaunchAdd(d_a.get(), d_b.get(), n, d_out.get(), 0));
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_out.ToHost());
      ExpectSameBits(out, want);
      // In place: out = a, then out = b.
      JANUS_ASSERT_OK(LaunchAdd(d_a.get(), d_b.get(), n, d_a.get(), 0));
      JANUS_ASSERT_OK_AND_ASSIGN(out, d_a.ToHost());
      ExpectSameBits(out, want);
      JANUS_ASSERT_OK(LaunchAdd(d_a.get(), d_b.get(), n, d_b.get(), 0));  // a now holds a + b
      for (int64_t i = 0; i < n; ++i) want[i] = AddBf16(want[i], b[i]);
      JANUS_ASSERT_OK_AND_ASSIGN(out, d_b.ToHost());
      ExpectSameBits(out, want);
    }
  }
}

TEST(AddBias, BitExactAgainstCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(3);
  for (int rows : {1, 5}) {
    for (int cols : {1, 3, 8, 96, 1001}) {
      for (int offset : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << rows << "x" << cols << " offset " << offset);
        const std::vector<uint16_t> y = ToBf16(RandomFloats(rng, size_t{1} * rows * cols, -4, 4));
        const std::vector<uint16_t> bias = ToBf16(RandomFloats(rng, cols, -1, 1));
        std::vector<uint16_t> want(y.size());
        for (size_t i = 0; i < y.size(); ++i) want[i] = AddBf16(y[i], bias[i % cols]);
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_y, ToDevice(y, offset));
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_b, ToDevice(bias, offset));
        JANUS_ASSERT_OK(LaunchAddBias(d_y.get(), d_b.get(), rows, cols, 0));
        JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_y.ToHost());
        ExpectSameBits(out, want);
      }
    }
  }
}

// runtime/cpu Mlp's fp32 silu(g) * u, rounded to bf16 once.
std::vector<uint16_t> SiluMulRef(const std::vector<uint16_t>& gate_up, int rows, int inter) {
  std::vector<uint16_t> want(size_t{1} * rows * inter);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < inter; ++i) {
      const float g = Bf16ToFloat(gate_up[size_t{2} * r * inter + i]);
      const float u = Bf16ToFloat(gate_up[size_t{2} * r * inter + inter + i]);
      want[size_t{1} * r * inter + i] = FloatToBf16(cpu::Silu(g) * u);
    }
  }
  return want;
}

TEST(SiluMul, WithinOneUlpOfCpuMlp) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(4);
  for (int rows : {1, 4, 9}) {
    for (int inter : {1, 3, 48, 160, 1001}) {
      for (int offset : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << rows << "x" << inter << " offset " << offset);
        const std::vector<uint16_t> gu = ToBf16(RandomFloats(rng, size_t{2} * rows * inter, -8, 8));
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_gu, ToDevice(gu, offset));
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_out,
                                   Poisoned<uint16_t>(rows * inter, offset));
        JANUS_ASSERT_OK(LaunchSiluMul(d_gu.get(), rows, inter, d_out.get(), 0));
        JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_out.ToHost());
        ExpectWithinOneUlp(out, SiluMulRef(gu, rows, inter));
      }
    }
  }
}

TEST(SigmoidScale, WithinOneUlpOfCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  for (int rows : {1, 6}) {
    for (int cols : {1, 5, 96, 1001}) {
      for (int offset : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << rows << "x" << cols << " offset " << offset);
        const std::vector<uint16_t> y = ToBf16(RandomFloats(rng, size_t{1} * rows * cols, -3, 3));
        std::vector<float> logit = RandomFloats(rng, rows, -8, 8);
        if (rows > 2) logit[1] = -100.0f, logit[2] = 100.0f;  // saturated: 0 and exactly 1
        std::vector<uint16_t> want(y.size());
        for (size_t i = 0; i < y.size(); ++i) {
          want[i] = FloatToBf16(Bf16ToFloat(y[i]) * cpu::Sigmoid(logit[i / cols]));
        }
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_y, ToDevice(y, offset));
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<float> d_l, ToDevice(logit, offset));
        JANUS_ASSERT_OK(LaunchSigmoidScale(d_y.get(), d_l.get(), rows, cols, 0));
        JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_y.ToHost());
        ExpectWithinOneUlp(out, want);
        if (rows > 2) {
          for (int c = 0; c < cols; ++c) {
            ASSERT_EQ(out[size_t{2} * cols + c], y[size_t{2} * cols + c]) << "sigmoid(100) = 1";
          }
        }
      }
    }
  }
}

TEST(Cast, F32ToBf16MatchesDtypeBitForBit) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(6);
  // Random bit patterns: every exponent, denormals, infinities and NaN payloads, plus ties.
  std::vector<uint32_t> bits(100003);
  for (uint32_t& b : bits) b = rng();
  const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
                               0x7fa00001u, 0xffc12345u, 0x7f800001u, 0x00000001u, 0x807fffffu,
                               0x7f7fffffu, 0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0xbf808001u};
  std::copy(std::begin(specials), std::end(specials), bits.begin());
  std::vector<float> in(bits.size());
  std::memcpy(in.data(), bits.data(), 4 * bits.size());
  std::vector<uint16_t> want(in.size());
  for (size_t i = 0; i < in.size(); ++i) want[i] = FloatToBf16(in[i]);
  for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{1001}, static_cast<int64_t>(in.size())}) {
    for (int in_off : {0, 1, 2}) {
      for (int out_off : {0, 1, 2}) {
        SCOPED_TRACE(::testing::Message() << "n " << n << " offsets " << in_off << " " << out_off);
        const std::vector<float> part(in.begin(), in.begin() + n);
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<float> d_in, ToDevice(part, in_off));
        JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_out, Poisoned<uint16_t>(n, out_off));
        JANUS_ASSERT_OK(LaunchCastF32ToBf16(d_in.get(), n, d_out.get(), 0));
        JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_out.ToHost());
        ExpectSameBits(out, std::vector<uint16_t>(want.begin(), want.begin() + n));
      }
    }
  }
}

TEST(Cast, Bf16ToF32IsExactForEveryPattern) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<uint16_t> in(65536 + 7);
  // i * 40503 (odd) mod 2^16: every pattern once in the first 65536.
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint16_t>(i * 40503u);
  std::vector<uint32_t> want(in.size());
  for (size_t i = 0; i < in.size(); ++i) want[i] = static_cast<uint32_t>(in[i]) << 16;
  for (int in_off : {0, 1, 2}) {
    for (int out_off : {0, 1, 2}) {
      SCOPED_TRACE(::testing::Message() << "offsets " << in_off << " " << out_off);
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_in, ToDevice(in, in_off));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<float> d_out, Poisoned<float>(in.size(), out_off));
      JANUS_ASSERT_OK(LaunchCastBf16ToF32(d_in.get(), in.size(), d_out.get(), 0));
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<float> out, d_out.ToHost());
      std::vector<uint32_t> got(out.size());
      std::memcpy(got.data(), out.data(), 4 * out.size());
      ExpectSameBits(got, want);
    }
  }
}

TEST(GatherRows, CopiesIndexedRowsAndZeroesNegative) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  const int src_rows = 29, n = 41;
  for (int64_t row_bytes : {2, 6, 8, 16, 24, 194, 200}) {
    for (int offset : {0, 1}) {
      SCOPED_TRACE(::testing::Message() << "row_bytes " << row_bytes << " offset " << offset);
      const int64_t row_elems = row_bytes / 2;
      std::vector<uint16_t> src(src_rows * row_elems);
      for (uint16_t& v : src) v = static_cast<uint16_t>(rng() | 1);
      std::uniform_int_distribution<int> d(0, src_rows - 1);
      std::vector<int32_t> index(n);
      for (int32_t& i : index) i = d(rng);
      index[0] = src_rows - 1, index[5] = -1, index[n - 1] = -7;
      std::vector<uint16_t> want(n * row_elems);
      for (int i = 0; i < n; ++i) {
        for (int64_t e = 0; e < row_elems; ++e) {
          want[i * row_elems + e] = index[i] < 0 ? 0 : src[index[i] * row_elems + e];
        }
      }
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_src, ToDevice(src, offset));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_idx, ToDevice(index));
      JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_dst, Poisoned<uint16_t>(want.size(), offset));
      JANUS_ASSERT_OK(LaunchGatherRows(d_src.get(), row_bytes, d_idx.get(), n, d_dst.get(), 0));
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_dst.ToHost());
      ExpectSameBits(out, want);
    }
  }
}

TEST(Copy2d, CopiesStridedRowsAndLeavesGaps) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(8);
  struct Case {
    int rows;
    int64_t row_bytes, src_ld, dst_ld;
  };
  for (const Case& c : {Case{13, 38, 50, 64}, Case{7, 64, 64, 64}, Case{1, 30, 30, 100},
                        Case{6, 2, 6, 2}, Case{5, 0, 8, 8}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << " rows of " << c.row_bytes << " bytes, ld "
                                      << c.src_ld << " -> " << c.dst_ld);
    std::vector<uint8_t> src(c.rows * c.src_ld);
    for (uint8_t& b : src) b = static_cast<uint8_t>(rng() % 255);  // never 0xff (the poison)
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint8_t> d_src, ToDevice(src));
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint8_t> d_dst, Poisoned<uint8_t>(c.rows * c.dst_ld));
    JANUS_ASSERT_OK(
        LaunchCopy2d(d_src.get(), c.src_ld, d_dst.get(), c.dst_ld, c.rows, c.row_bytes, 0));
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> out, d_dst.ToHost());
    std::vector<uint8_t> want(out.size(), 0xff);
    for (int r = 0; r < c.rows; ++r) {
      std::memcpy(&want[r * c.dst_ld], &src[r * c.src_ld], c.row_bytes);
    }
    ExpectSameBits(out, want);
  }
}

TEST(GlobalSlots, StacksRankSlotTables) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(9);
  const std::vector<int32_t> offsets = {0, 7, 7, 20, 33};  // rank 2 holds no slot
  const int num_ranks = static_cast<int>(offsets.size());
  for (int n : {1, 31, 1001}) {
    std::uniform_int_distribution<int> rank_d(-2, num_ranks + 1), slot_d(-2, 12);
    std::vector<int32_t> assignment(n), slot(n), want(n);
    for (int i = 0; i < n; ++i) {
      assignment[i] = rank_d(rng);
      slot[i] = slot_d(rng);
      const bool bad = assignment[i] < 0 || assignment[i] >= num_ranks || slot[i] < 0;
      want[i] = bad ? -1 : offsets[assignment[i]] + slot[i];
    }
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_a, ToDevice(assignment));
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_s, ToDevice(slot));
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_o, ToDevice(offsets));
    JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_g, Poisoned<int32_t>(n));
    JANUS_ASSERT_OK(LaunchGlobalSlots(d_a.get(), d_s.get(), n, d_o.get(), num_ranks, d_g.get(), 0));
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out, d_g.ToHost());
    ExpectSameBits(out, want);
  }
}

// More rows than grid.y holds (65535): the row loops must cover the rest.
TEST(RowKernels, MoreRowsThanOneGridDimension) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(10);
  const int rows = 70001, cols = 3, vocab = 11;
  const std::vector<uint16_t> table = ToBf16(RandomFloats(rng, vocab * cols, -2, 2));
  std::vector<int32_t> ids(rows);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % vocab);
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_table, ToDevice(table));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_ids, ToDevice(ids));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_emb, Poisoned<uint16_t>(size_t{1} * rows * cols));
  JANUS_ASSERT_OK(LaunchEmbedding(d_table.get(), d_ids.get(), rows, vocab, cols, d_emb.get(),
                                  nullptr, 0));
  std::vector<uint16_t> emb(size_t{1} * rows * cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) emb[r * cols + c] = table[ids[r] * cols + c];
  }
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_emb.ToHost());
  ExpectSameBits(out, emb);

  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_g, Poisoned<uint16_t>(emb.size()));
  JANUS_ASSERT_OK(LaunchGatherRows(d_table.get(), 2 * cols, d_ids.get(), rows, d_g.get(), 0));
  JANUS_ASSERT_OK_AND_ASSIGN(out, d_g.ToHost());
  ExpectSameBits(out, emb);

  const std::vector<uint16_t> bias = ToBf16(RandomFloats(rng, cols, -1, 1));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_bias, ToDevice(bias));
  JANUS_ASSERT_OK(LaunchAddBias(d_emb.get(), d_bias.get(), rows, cols, 0));
  std::vector<uint16_t> biased(emb.size());
  for (size_t i = 0; i < emb.size(); ++i) biased[i] = AddBf16(emb[i], bias[i % cols]);
  JANUS_ASSERT_OK_AND_ASSIGN(out, d_emb.ToHost());
  ExpectSameBits(out, biased);

  const std::vector<float> logit = RandomFloats(rng, rows, -4, 4);
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<float> d_logit, ToDevice(logit));
  JANUS_ASSERT_OK(LaunchSigmoidScale(d_emb.get(), d_logit.get(), rows, cols, 0));
  std::vector<uint16_t> scaled(emb.size());
  for (size_t i = 0; i < emb.size(); ++i) {
    scaled[i] = FloatToBf16(Bf16ToFloat(biased[i]) * cpu::Sigmoid(logit[i / cols]));
  }
  JANUS_ASSERT_OK_AND_ASSIGN(out, d_emb.ToHost());
  ExpectWithinOneUlp(out, scaled);

  // [rows, 2 * 1] as gate | up with inter 1.
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_act, Poisoned<uint16_t>(rows));
  const std::vector<uint16_t> gu = ToBf16(RandomFloats(rng, size_t{2} * rows, -4, 4));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> d_gu, ToDevice(gu));
  JANUS_ASSERT_OK(LaunchSiluMul(d_gu.get(), rows, 1, d_act.get(), 0));
  JANUS_ASSERT_OK_AND_ASSIGN(out, d_act.ToHost());
  ExpectWithinOneUlp(out, SiluMulRef(gu, rows, 1));
}

// Every launcher enqueued under stream capture (global mode: any non-capturable call fails the
// capture) must give, as a graph, exactly what the direct launches give.
TEST(Elementwise, GraphCaptureMatchesDirectLaunches) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  constexpr int kRows = 9, kVocab = 13, kInter = 45, kHidden = 2 * kInter, kGather = 6;
  const int64_t n = int64_t{kRows} * kHidden;
  std::vector<int32_t> ids(kRows);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % kVocab);
  ids[4] = kVocab;  // one bad id
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> table,
                             ToDevice(ToBf16(RandomFloats(rng, kVocab * kHidden, -2, 2))));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> d_ids, ToDevice(ids));
  using I32s = std::vector<int32_t>;
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<uint16_t> bias,
                             ToDevice(ToBf16(RandomFloats(rng, kHidden, -1, 1))));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<float> logit, ToDevice(RandomFloats(rng, kRows, -3, 3)));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> index, ToDevice(I32s{8, 0, -1, 3, 3, 7}));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> assign, ToDevice(I32s{0, 1, -1, 2, 1}));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> slot, ToDevice(I32s{3, 0, 2, 1, -1}));
  JANUS_ASSERT_OK_AND_ASSIGN(DevArray<int32_t> offs, ToDevice(I32s{0, 4, 9}));

  struct Out {
    DevArray<uint16_t> emb, bf, sum, act, gathered, copied;
    DevArray<float> f32;
    DevArray<int32_t> bad, gslot;
  };
  auto make_out = [&]() -> absl::StatusOr<Out> {
    Out o;
    JANUS_ASSIGN_OR_RETURN(o.emb, Poisoned<uint16_t>(n));
    JANUS_ASSIGN_OR_RETURN(o.bf, Poisoned<uint16_t>(n));
    JANUS_ASSIGN_OR_RETURN(o.sum, Poisoned<uint16_t>(n));
    JANUS_ASSIGN_OR_RETURN(o.act, Poisoned<uint16_t>(kRows * kInter));
    JANUS_ASSIGN_OR_RETURN(o.gathered, Poisoned<uint16_t>(kGather * kInter));
    JANUS_ASSIGN_OR_RETURN(o.copied, Poisoned<uint16_t>(kGather * (kInter + 3)));
    JANUS_ASSIGN_OR_RETURN(o.f32, Poisoned<float>(n));
    JANUS_ASSIGN_OR_RETURN(o.bad, ToDevice(std::vector<int32_t>{0}));
    JANUS_ASSIGN_OR_RETURN(o.gslot, Poisoned<int32_t>(5));
    return o;
  };
  auto enqueue = [&](Out& o, cudaStream_t s) -> absl::Status {
    JANUS_RETURN_IF_ERROR(LaunchEmbedding(table.get(), d_ids.get(), kRows, kVocab, kHidden,
                                          o.emb.get(), o.bad.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchCastBf16ToF32(o.emb.get(), n, o.f32.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchCastF32ToBf16(o.f32.get(), n, o.bf.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchAdd(o.emb.get(), o.bf.get(), n, o.sum.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchAddBias(o.sum.get(), bias.get(), kRows, kHidden, s));
    JANUS_RETURN_IF_ERROR(LaunchSiluMul(o.sum.get(), kRows, kInter, o.act.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchSigmoidScale(o.act.get(), logit.get(), kRows, kInter, s));
    JANUS_RETURN_IF_ERROR(
        LaunchGatherRows(o.act.get(), 2 * kInter, index.get(), kGather, o.gathered.get(), s));
    JANUS_RETURN_IF_ERROR(LaunchCopy2d(o.gathered.get(), 2 * kInter, o.copied.get(),
                                       2 * (kInter + 3), kGather, 2 * (kInter - 2), s));
    return LaunchGlobalSlots(assign.get(), slot.get(), 5, offs.get(), 3, o.gslot.get(), s);
  };
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(Out direct, make_out());
  JANUS_ASSERT_OK_AND_ASSIGN(Out graphed, make_out());
  // The uploads and poison fills ran on the legacy stream, which a non-blocking stream does not
  // wait for.
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK(enqueue(direct, stream));
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);

  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  const absl::Status captured = enqueue(graphed, stream);
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  JANUS_ASSERT_OK(captured);
  ASSERT_EQ(end, cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);

  auto same = [](const auto& a, const auto& b) {
    auto ha = a.ToHost(), hb = b.ToHost();
    ASSERT_TRUE(ha.ok() && hb.ok());
    ExpectSameBits(*hb, *ha);
  };
  same(direct.emb, graphed.emb);
  same(direct.f32, graphed.f32);
  same(direct.bf, graphed.bf);
  same(direct.sum, graphed.sum);
  same(direct.act, graphed.act);
  same(direct.gathered, graphed.gathered);
  same(direct.copied, graphed.copied);
  same(direct.gslot, graphed.gslot);
  same(direct.bad, graphed.bad);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> bad, graphed.bad.ToHost());
  EXPECT_EQ(bad[0], 1);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> gslot, graphed.gslot.ToHost());
  EXPECT_EQ(gslot, (std::vector<int32_t>{3, 4, -1, 10, -1}));
}

// Argument errors come back before anything touches a pointer (no GPU needed); zero-sized calls
// are no-ops that accept null pointers.
TEST(Elementwise, RejectsBadArguments) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  alignas(16) static uint16_t h[64];
  alignas(16) static float f[64];
  alignas(16) static int32_t i[64];
  const uint16_t* odd = reinterpret_cast<const uint16_t*>(reinterpret_cast<const char*>(h) + 1);
  uint16_t* odd_out = const_cast<uint16_t*>(odd);

  EXPECT_EQ(LaunchEmbedding(h, i, 4, 0, 8, h, nullptr, 0).code(), kInvalid);    // vocab 0
  EXPECT_EQ(LaunchEmbedding(h, i, 4, 10, 0, h, nullptr, 0).code(), kInvalid);   // hidden 0
  EXPECT_EQ(LaunchEmbedding(h, i, -1, 10, 8, h, nullptr, 0).code(), kInvalid);
  EXPECT_EQ(LaunchEmbedding(h, nullptr, 4, 10, 8, h, nullptr, 0).code(), kInvalid);
  EXPECT_EQ(LaunchEmbedding(odd, i, 4, 10, 8, h, nullptr, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchEmbedding(nullptr, nullptr, 0, 10, 8, nullptr, nullptr, 0).ok());

  EXPECT_EQ(LaunchAdd(h, h, -1, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchAdd(h, nullptr, 8, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchAdd(h, h, 8, odd_out, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchAdd(nullptr, nullptr, 0, nullptr, 0).ok());

  EXPECT_EQ(LaunchAddBias(h, h, 2, 0, 0).code(), kInvalid);
  EXPECT_EQ(LaunchAddBias(h, h, -2, 8, 0).code(), kInvalid);
  EXPECT_EQ(LaunchAddBias(nullptr, h, 2, 8, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchAddBias(nullptr, nullptr, 0, 8, 0).ok());

  EXPECT_EQ(LaunchSiluMul(h, 2, 0, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchSiluMul(h, 2, 8, nullptr, 0).code(), kInvalid);
  EXPECT_EQ(LaunchSiluMul(odd, 2, 8, h, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchSiluMul(nullptr, 0, 8, nullptr, 0).ok());

  EXPECT_EQ(LaunchSigmoidScale(h, f, 2, -1, 0).code(), kInvalid);
  EXPECT_EQ(LaunchSigmoidScale(h, nullptr, 2, 8, 0).code(), kInvalid);
  EXPECT_EQ(LaunchSigmoidScale(h, reinterpret_cast<const float*>(h + 1), 2, 8, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchSigmoidScale(nullptr, nullptr, 0, 8, 0).ok());

  EXPECT_EQ(LaunchCastF32ToBf16(f, -3, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCastF32ToBf16(nullptr, 3, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCastF32ToBf16(reinterpret_cast<const float*>(h + 1), 3, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCastBf16ToF32(h, -3, f, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCastBf16ToF32(h, 3, nullptr, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCastBf16ToF32(h, 3, reinterpret_cast<float*>(h + 1), 0).code(), kInvalid);
  EXPECT_TRUE(LaunchCastF32ToBf16(nullptr, 0, nullptr, 0).ok());
  EXPECT_TRUE(LaunchCastBf16ToF32(nullptr, 0, nullptr, 0).ok());

  EXPECT_EQ(LaunchGatherRows(h, 0, i, 4, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGatherRows(h, 7, i, 4, h, 0).code(), kInvalid);  // odd row_bytes
  EXPECT_EQ(LaunchGatherRows(h, 8, i, -4, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGatherRows(h, 8, nullptr, 4, h, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGatherRows(odd, 8, i, 4, h, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchGatherRows(nullptr, 8, nullptr, 0, nullptr, 0).ok());

  EXPECT_EQ(LaunchCopy2d(h, 8, h, 16, 2, 12, 0).code(), kInvalid);  // src stride < row
  EXPECT_EQ(LaunchCopy2d(h, 16, h, 8, 2, 12, 0).code(), kInvalid);  // dst stride < row
  EXPECT_EQ(LaunchCopy2d(h, 16, h, 16, -1, 12, 0).code(), kInvalid);
  EXPECT_EQ(LaunchCopy2d(h, 16, nullptr, 16, 2, 12, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchCopy2d(nullptr, 16, nullptr, 16, 0, 12, 0).ok());
  EXPECT_TRUE(LaunchCopy2d(nullptr, 16, nullptr, 16, 3, 0, 0).ok());

  EXPECT_EQ(LaunchGlobalSlots(i, i, 4, i, 0, i, 0).code(), kInvalid);  // no ranks
  EXPECT_EQ(LaunchGlobalSlots(i, i, -4, i, 2, i, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGlobalSlots(i, i, 4, nullptr, 2, i, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchGlobalSlots(nullptr, nullptr, 0, nullptr, 2, nullptr, 0).ok());
}

}  // namespace
}  // namespace janus::kernels
