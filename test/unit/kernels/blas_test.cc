// The cuBLAS projection wrapper against runtime/cpu Linear.
#include "kernels/blas.h"

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

TEST(GemmBf16, RejectsBadArguments) {
  BlasHandle none;
  uint16_t d[4];
  EXPECT_EQ(GemmBf16(none, d, d, 1, 1, 1, GemmOutput::kF32, d, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
