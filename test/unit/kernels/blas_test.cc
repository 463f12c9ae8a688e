// The cuBLAS projection wrapper against runtime/cpu Linear.
#include "kernels/blas.h"

#include <cmath>
#include <random>
#include <vector>

#include "runtime/cpu/tensor.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::RelativeError;
using testing::ToBf16;

TEST(GemmBf16, MatchesCpuLinear) {
  JANUS_SKIP_WITHOUT_GPU();
  JANUS_ASSERT_OK_AND_ASSIGN(BlasHandle handle, BlasHandle::Create());
  std::mt19937 rng(1);
  for (auto [m, n, k] : std::vector<std::tuple<int, int, int>>{{1, 256, 128}, {37, 160, 2048}, {64, 96, 72}}) {
    SCOPED_TRACE(::testing::Message() << m << "x" << n << "x" << k);
    const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, size_t{1} * m * k, -1, 1));
    const std::vector<uint16_t> w = ToBf16(RandomFloats(rng, size_t{1} * n * k, -1, 1));
    const std::vector<float> xf = Bf16ToFloats(x), wf = Bf16ToFloats(w);
    std::vector<float> want(size_t{1} * m * n);
    JANUS_ASSERT_OK(cpu::Linear(xf.data(), m, cpu::F32View(wf.data(), {n, k}), nullptr, want.data()));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_y32, DeviceBuffer::Create(4 * want.size()));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_y16, DeviceBuffer::Create(2 * want.size()));
    JANUS_ASSERT_OK(d_y32.Fill(0xff));
    JANUS_ASSERT_OK(d_y16.Fill(0xff));
    JANUS_ASSERT_OK(GemmBf16(handle, d_x.get<uint16_t>(), d_w.get<uint16_t>(), m, n, k,
                             GemmOutput::kF32, d_y32.get(), 0));
    JANUS_ASSERT_OK(GemmBf16(handle, d_x.get<uint16_t>(), d_w.get<uint16_t>(), m, n, k,
                             GemmOutput::kBf16, d_y16.get(), 0));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<float> y32, d_y32.ToHost<float>());
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> y16, d_y16.ToHost<uint16_t>());
    EXPECT_LT(RelativeError(y32, want), 1e-4);
    EXPECT_LT(RelativeError(Bf16ToFloats(y16), want), 5e-3);
  }
}

// Strided-batched GEMM against a double-precision reference, on MLA-like layouts whose leading
// dimensions are not dense: X_b = head b of q[m, heads, 48] using its first k = 32 (ldx = heads *
// 48, stride 48); W_b stored [n, k] or [k, n] with padded rows; Y_b either interleaved in
// [m, heads, n + 3] or stacked [heads, m, n]. Elements of y outside the m x n results must keep
// their poison.
struct BatchedCase {
  int m, n, k, heads;
  bool transpose_w;
  bool y_interleaved;   // [m, heads, n + 3] (true) or [heads, m, n]
  bool broadcast_w;     // stride_w = 0: one W for every batch
};

void CheckBatched(const BlasHandle& handle, const BatchedCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "m " << c.m << " n " << c.n << " k " << c.k << " heads "
                                    << c.heads << " transpose_w " << c.transpose_w
                                    << " y_interleaved " << c.y_interleaved << " broadcast_w "
                                    << c.broadcast_w);
  std::mt19937 rng(seed);
  const int64_t q_head = 48, ldx = int64_t{c.heads} * q_head, stride_x = q_head;
  ASSERT_LE(c.k, q_head);
  // W_b: [n, k + 8] (transpose_w) or [k, n + 5], one per head unless broadcast.
  const int64_t ldw = c.transpose_w ? c.k + 8 : c.n + 5;
  const int64_t w_rows = c.transpose_w ? c.n : c.k;
  const int64_t stride_w = c.broadcast_w ? 0 : w_rows * ldw;
  const int64_t ldy = c.y_interleaved ? int64_t{c.heads} * (c.n + 3) : c.n;
  const int64_t stride_y = c.y_interleaved ? c.n + 3 : int64_t{c.m} * c.n;
  const size_t y_size = c.y_interleaved ? size_t{1} * c.m * ldy : size_t{1} * c.heads * c.m * c.n;
  const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, size_t{1} * c.m * ldx, -1, 1));
  const std::vector<uint16_t> w = ToBf16(
      RandomFloats(rng, size_t{1} * (c.broadcast_w ? 1 : c.heads) * w_rows * ldw, -1, 1));
  const std::vector<float> xf = Bf16ToFloats(x), wf = Bf16ToFloats(w);

  std::vector<float> want, got_valid;
  std::vector<char> written(y_size, 0);
  std::vector<size_t> at;
  for (int b = 0; b < c.heads; ++b) {
    for (int i = 0; i < c.m; ++i) {
      for (int j = 0; j < c.n; ++j) {
        double acc = 0;
        for (int l = 0; l < c.k; ++l) {
          const double xv = xf[b * stride_x + i * ldx + l];
          const double wv = c.transpose_w ? wf[b * stride_w + j * ldw + l]
                                          : wf[b * stride_w + l * ldw + j];
          acc += xv * wv;
        }
        want.push_back(static_cast<float>(acc));
        at.push_back(b * stride_y + i * ldy + j);
        written[at.back()] = 1;
      }
    }
  }
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_y, DeviceBuffer::Create(2 * y_size));
  JANUS_ASSERT_OK(d_y.Fill(0xff));
  JANUS_ASSERT_OK(GemmBf16StridedBatched(handle, d_x.get<uint16_t>(), ldx, stride_x,
                                         d_w.get<uint16_t>(), ldw, stride_w, c.transpose_w, c.m,
                                         c.n, c.k, c.heads, d_y.get<uint16_t>(), ldy, stride_y, 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> y, d_y.ToHost<uint16_t>());
  for (size_t idx : at) got_valid.push_back(Bf16ToFloat(y[idx]));
  EXPECT_LT(RelativeError(got_valid, want), 5e-3);  // bf16 output rounding
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got_valid[i], want[i], 1e-2f * std::fabs(want[i]) + 1e-3f) << "element " << i;
  }
  for (size_t i = 0; i < y_size; ++i) {
    if (!written[i]) ASSERT_EQ(y[i], 0xffff) << "y[" << i << "] outside the results was written";
  }
}

TEST(GemmBf16StridedBatched, MatchesReferenceOnStridedLayouts) {
  JANUS_SKIP_WITHOUT_GPU();
  JANUS_ASSERT_OK_AND_ASSIGN(BlasHandle handle, BlasHandle::Create());
  uint32_t seed = 1;
  for (int m : {1, 7, 33}) {
    for (bool transpose_w : {true, false}) {
      for (bool y_interleaved : {true, false}) {
        CheckBatched(handle, {m, 24, 32, 5, transpose_w, y_interleaved, false}, seed++);
        CheckBatched(handle, {m, 17, 48, 3, transpose_w, y_interleaved, false}, seed++);
      }
    }
  }
  CheckBatched(handle, {9, 40, 32, 4, true, false, true}, seed++);   // one W for all heads
  CheckBatched(handle, {9, 40, 32, 4, false, true, true}, seed++);
  CheckBatched(handle, {128, 512, 32, 16, false, false, false}, seed++);  // MLA-sized
}

TEST(GemmBf16StridedBatched, ZeroRowsOrBatchesAreNoOps) {
  JANUS_SKIP_WITHOUT_GPU();
  JANUS_ASSERT_OK_AND_ASSIGN(BlasHandle handle, BlasHandle::Create());
  JANUS_ASSERT_OK(GemmBf16StridedBatched(handle, nullptr, 8, 8, nullptr, 8, 64, true, 0, 8, 8, 4,
                                         nullptr, 8, 64, 0));
  JANUS_ASSERT_OK(GemmBf16StridedBatched(handle, nullptr, 8, 8, nullptr, 8, 64, true, 4, 8, 8, 0,
                                         nullptr, 8, 64, 0));
}

// Size, leading-dimension and stride errors come back without a handle or a GPU.
TEST(GemmBf16StridedBatched, RejectsBadArguments) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  BlasHandle none;
  uint16_t d[4];
  auto call = [&](int64_t ldx, int64_t ldw, bool transpose_w, int m, int n, int k, int batch,
                  int64_t ldy, int64_t stride) {
    return GemmBf16StridedBatched(none, d, ldx, stride, d, ldw, stride, transpose_w, m, n, k,
                                  batch, d, ldy, stride, 0)
        .code();
  };
  EXPECT_EQ(call(32, 32, true, 4, 16, 32, 2, 16, 0), kInvalid);   // valid, but no handle
  EXPECT_EQ(call(31, 32, true, 4, 16, 32, 2, 16, 0), kInvalid);   // ldx < k
  EXPECT_EQ(call(32, 31, true, 4, 16, 32, 2, 16, 0), kInvalid);   // ldw < k ([n, k] storage)
  EXPECT_EQ(call(32, 15, false, 4, 16, 32, 2, 16, 0), kInvalid);  // ldw < n ([k, n] storage)
  EXPECT_EQ(call(32, 32, true, 4, 16, 32, 2, 15, 0), kInvalid);   // ldy < n
  EXPECT_EQ(call(int64_t{1} << 31, 32, true, 4, 16, 32, 2, 16, 0), kInvalid);
  EXPECT_EQ(call(32, 32, true, 4, 16, 32, 2, 16, -1), kInvalid);  // negative stride
  EXPECT_EQ(call(32, 32, true, -1, 16, 32, 2, 16, 0), kInvalid);
  EXPECT_EQ(call(32, 32, true, 4, 0, 32, 2, 16, 0), kInvalid);
  EXPECT_EQ(call(32, 32, true, 4, 16, 0, 2, 16, 0), kInvalid);
  EXPECT_EQ(call(32, 32, true, 4, 16, 32, -2, 16, 0), kInvalid);
}

TEST(GemmBf16, RejectsBadArguments) {
  BlasHandle none;
  uint16_t d[4];
  EXPECT_EQ(GemmBf16(none, d, d, 1, 1, 1, GemmOutput::kF32, d, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
