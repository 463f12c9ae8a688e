#include "runtime/cpu/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/base/status.h"
#include "runtime/cpu/internal.h"

namespace janus::cpu {

int64_t WeightView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t WeightView::rows() const { return shape.size() >= 2 ? shape[0] : 1; }

int64_t WeightView::cols() const { return shape.empty() ? 1 : shape.back(); }

WeightView F32View(const float* data, std::vector<int64_t> shape) {
  return WeightView{DType::kF32, data, std::move(shape)};
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status CheckWeight(const WeightView& w, const std::vector<int64_t>& expected,
                         absl::string_view what) {
  if (w.data == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, ": weight is missing"));
  if (w.dtype == DType::kI32) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": weight has dtype I32, expected F32, BF16 or F16"));
  }
  if (w.shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": weight has shape ", ShapeString(w.shape),
                                                   ", expected ", ShapeString(expected)));
  }
  return absl::OkStatus();
}

void ConvertToFloat(const WeightView& w, int64_t offset, int64_t count, float* out) {
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, static_cast<const float*>(w.data) + offset, count * sizeof(float));
      return;
    case DType::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + offset;
      // A shift per element: the loop vectorises (memcpy into a float is a bit cast).
      for (int64_t i = 0; i < count; ++i) {
        uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return;
    }
    case DType::kF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + offset;
      for (int64_t i = 0; i < count; ++i) out[i] = HalfToFloat(src[i]);
      return;
    }
    case DType::kI32:
      break;
  }
  for (int64_t i = 0; i < count; ++i) out[i] = std::numeric_limits<float>::quiet_NaN();
}

std::vector<float> ToFloatVector(const WeightView& w) {
  std::vector<float> out(static_cast<size_t>(w.numel()));
  ConvertToFloat(w, 0, w.numel(), out.data());
  return out;
}

absl::Status Linear(const float* x, int rows, const WeightView& w, const WeightView* bias, float* y) {
  if (w.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear: weight must be 2-D [out, in], got ", ShapeString(w.shape)));
  }
  const int64_t out = w.shape[0];
  const int64_t in = w.shape[1];
  JANUS_RETURN_IF_ERROR(CheckWeight(w, {out, in}, "linear"));
  if (rows < 0) return absl::InvalidArgumentError(absl::StrCat("linear: rows = ", rows));
  std::vector<float> b;
  if (bias != nullptr) {
    JANUS_RETURN_IF_ERROR(CheckWeight(*bias, {out}, "linear bias"));
    b = ToFloatVector(*bias);
  }
  if (rows == 0) return absl::OkStatus();
  std::vector<float> wrow(static_cast<size_t>(in));
  for (int64_t o = 0; o < out; ++o) {
    ConvertToFloat(w, o * in, in, wrow.data());
    const float bo = b.empty() ? 0.0f : b[o];
    for (int r = 0; r < rows; ++r) {
      float acc = Dot(x + r * in, wrow.data(), in);
      y[r * out + o] = b.empty() ? acc : acc + bo;
    }
  }
  return absl::OkStatus();
}

absl::Status Embedding(const WeightView& table, const int32_t* ids, int rows, float* y) {
  if (table.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedding: table must be 2-D [vocab, hidden], got ", ShapeString(table.shape)));
  }
  const int64_t vocab = table.shape[0];
  const int64_t hidden = table.shape[1];
  JANUS_RETURN_IF_ERROR(CheckWeight(table, {vocab, hidden}, "embedding"));
  for (int r = 0; r < rows; ++r) {
    if (ids[r] < 0 || ids[r] >= vocab) {
      return absl::OutOfRangeError(absl::StrCat("embedding: row ", r, " has token id ", ids[r],
                                                ", outside the vocabulary [0, ", vocab, ")"));
    }
    ConvertToFloat(table, static_cast<int64_t>(ids[r]) * hidden, hidden, y + r * hidden);
  }
  return absl::OkStatus();
}

absl::Status LmHead(const float* x, int rows, const WeightView& w, float* logits) {
  return Annotate(Linear(x, rows, w, nullptr, logits), "lm_head");
}

void RmsNormRow(const float* x, int width, const float* w, float eps, float* y) {
  // HF: variance = x.pow(2).mean() in fp32; x * rsqrt(variance + eps); weight * that.
  double sum = 0.0;
  for (int i = 0; i < width; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float variance = static_cast<float>(sum / width);
  const float scale = 1.0f / std::sqrt(variance + eps);
  for (int i = 0; i < width; ++i) y[i] = w[i] * (x[i] * scale);
}

absl::Status RmsNorm(const float* x, int rows, int width, const WeightView& w, float eps, float* y) {
  if (width <= 0) return absl::InvalidArgumentError(absl::StrCat("rms_norm: width = ", width));
  JANUS_RETURN_IF_ERROR(CheckWeight(w, {width}, "rms_norm"));
  std::vector<float> wf = ToFloatVector(w);
  for (int r = 0; r < rows; ++r) {
    RmsNormRow(x + static_cast<int64_t>(r) * width, width, wf.data(), eps,
               y + static_cast<int64_t>(r) * width);
  }
  return absl::OkStatus();
}

void Add(const float* a, const float* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void SoftmaxInPlace(float* x, int n) {
  if (n <= 0) return;
  float max = x[0];
  for (int i = 1; i < n; ++i) max = std::max(max, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

absl::Status Mlp(const float* x, int rows, const WeightView& gate, const WeightView& up,
                 const WeightView& down, const WeightView* sigmoid_gate, float* y) {
  if (gate.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("mlp: gate must be 2-D [inter, hidden], got ", ShapeString(gate.shape)));
  }
  const int64_t inter = gate.shape[0];
  const int64_t hidden = gate.shape[1];
  JANUS_RETURN_IF_ERROR(CheckWeight(gate, {inter, hidden}, "mlp gate"));
  JANUS_RETURN_IF_ERROR(CheckWeight(up, {inter, hidden}, "mlp up"));
  JANUS_RETURN_IF_ERROR(CheckWeight(down, {hidden, inter}, "mlp down"));
  WeightView sg;
  if (sigmoid_gate != nullptr) {
    sg = *sigmoid_gate;
    if (sg.shape.size() == 1) sg.shape = {1, sg.shape[0]};
    JANUS_RETURN_IF_ERROR(CheckWeight(sg, {1, hidden}, "mlp sigmoid_gate"));
  }
  std::vector<float> g(static_cast<size_t>(rows * inter));
  std::vector<float> u(g.size());
  JANUS_RETURN_IF_ERROR(Linear(x, rows, gate, nullptr, g.data()));
  JANUS_RETURN_IF_ERROR(Linear(x, rows, up, nullptr, u.data()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = Silu(g[i]) * u[i];
  JANUS_RETURN_IF_ERROR(Linear(g.data(), rows, down, nullptr, y));
  if (sigmoid_gate != nullptr) {
    std::vector<float> s(static_cast<size_t>(rows));
    JANUS_RETURN_IF_ERROR(Linear(x, rows, sg, nullptr, s.data()));
    for (int r = 0; r < rows; ++r) {
      const float gate_value = Sigmoid(s[r]);
      float* yr = y + r * hidden;
      for (int64_t i = 0; i < hidden; ++i) yr[i] = gate_value * yr[i];
    }
  }
  return absl::OkStatus();
}

}  // namespace janus::cpu
