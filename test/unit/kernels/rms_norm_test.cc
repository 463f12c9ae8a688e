// Fused residual-add RMSNorm against runtime/cpu RmsNorm.
#include "kernels/rms_norm.h"

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

void Check(int rows, int width, bool with_residual, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "rows " << rows << " width " << width << " residual "
                                    << with_residual);
  std::mt19937 rng(seed);
  const size_t n = static_cast<size_t>(rows) * width;
  const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, n, -3, 3));
  const std::vector<uint16_t> res = ToBf16(RandomFloats(rng, n, -3, 3));
  const std::vector<uint16_t> w = ToBf16(RandomFloats(rng, width, 0.5f, 1.5f));
  const float eps = 1e-6f;
  // Reference: the bf16-rounded sum is what the kernel stores and normalises.
  std::vector<uint16_t> sum(n);
  std::vector<float> xf = Bf16ToFloats(x);
  if (with_residual) {
    const std::vector<float> rf = Bf16ToFloats(res);
    for (size_t i = 0; i < n; ++i) sum[i] = FloatToBf16(xf[i] + rf[i]);
    xf = Bf16ToFloats(sum);
  }
  const std::vector<float> wf = Bf16ToFloats(w);
  std::vector<float> want(n);
  JANUS_ASSERT_OK(cpu::RmsNorm(xf.data(), rows, width, cpu::F32View(wf.data(), {width}), eps,
                               want.data()));

  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_r, DeviceBuffer::FromHost(res));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_y, DeviceBuffer::Create(2 * n));
  JANUS_ASSERT_OK(d_y.Fill(0xff));
  JANUS_ASSERT_OK(LaunchRmsNorm(d_x.get<uint16_t>(), with_residual ? d_r.get<uint16_t>() : nullptr,
                                d_w.get<uint16_t>(), rows, width, eps, d_y.get<uint16_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> y, d_y.ToHost<uint16_t>());
  const std::vector<float> got = Bf16ToFloats(y);
  ASSERT_EQ(testing::CountNonFinite(got), 0u);
  EXPECT_LT(RelativeError(got, want), 4e-3);  // bf16 output rounding
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> r_out, d_r.ToHost<uint16_t>());
  if (with_residual) {
    EXPECT_EQ(r_out, sum) << "residual must hold bf16(x + residual) exactly";
  } else {
    EXPECT_EQ(r_out, res) << "residual must be untouched";
  }
}

TEST(RmsNorm, FusedResidualMatchesCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 1;
  for (int width : {8, 64, 1000, 2048, 4096, 7168, 16384}) {
    for (int rows : {1, 3, 64}) Check(rows, width, true, seed++);
  }
}

TEST(RmsNorm, PlainMatchesCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  Check(5, 2048, false, 100);
  Check(17, 136, false, 101);
}

TEST(RmsNorm, InPlaceOutput) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(200);
  const int rows = 4, width = 512;
  const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, rows * width, -2, 2));
  const std::vector<uint16_t> w = ToBf16(RandomFloats(rng, width, 0.5f, 1.5f));
  std::vector<float> want(rows * width);
  const std::vector<float> xf = Bf16ToFloats(x), wf = Bf16ToFloats(w);
  JANUS_ASSERT_OK(cpu::RmsNorm(xf.data(), rows, width, cpu::F32View(wf.data(), {width}), 1e-5f,
                               want.data()));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
  JANUS_ASSERT_OK(LaunchRmsNorm(d_x.get<uint16_t>(), nullptr, d_w.get<uint16_t>(), rows, width,
                                1e-5f, d_x.get<uint16_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> y, d_x.ToHost<uint16_t>());
  EXPECT_LT(RelativeError(Bf16ToFloats(y), want), 4e-3);
}

TEST(RmsNorm, RejectsBadArguments) {
  uint16_t dummy[16] = {};
  EXPECT_EQ(LaunchRmsNorm(dummy, nullptr, dummy, 1, 12, 1e-6f, dummy, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchRmsNorm(dummy, nullptr, dummy, 1, 32768, 1e-6f, dummy, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchRmsNorm(nullptr, nullptr, dummy, 1, 16, 1e-6f, dummy, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
