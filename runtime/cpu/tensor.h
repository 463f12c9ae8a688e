// Weight views and the dense building blocks of the fp32 CPU backend: Linear (x Wᵀ + b), embedding
// lookup, LM head, RMSNorm, residual add, the SiLU-gated MLP and softmax.
//
// Every op computes in fp32 with fp32 accumulation, as HuggingFace transformers does when a bf16
// checkpoint is upcast to float32. Weights stay in their checkpoint dtype (F32, BF16 or F16) and are
// converted row by row while they are used, so a memory-mapped checkpoint is never copied whole.
//
// Conventions: activations are row-major [rows, width] float arrays; a weight of a linear layer is
// [out, in] (torch's nn.Linear layout). Outputs may not alias inputs unless a function says so.
#ifndef JANUS_RUNTIME_CPU_TENSOR_H_
#define JANUS_RUNTIME_CPU_TENSOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/base/dtype.h"

namespace janus::cpu {

// A read-only view of a checkpoint tensor (row-major, densely packed). Does not own `data`.
struct WeightView {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  std::vector<int64_t> shape;

  int64_t numel() const;
  // shape[0] for a 2-D view, 1 for a 1-D view.
  int64_t rows() const;
  // The last dimension (the contiguous one).
  int64_t cols() const;
};

// Convenience for fp32 data (tests, activations used as weights).
WeightView F32View(const float* data, std::vector<int64_t> shape);

// Checks that `w` is present (non-null data), has a float dtype (F32/BF16/F16) and exactly the shape
// `expected`. `what` names the weight in the error ("layer 3 q_proj").
absl::Status CheckWeight(const WeightView& w, const std::vector<int64_t>& expected,
                         absl::string_view what);

// Converts `count` elements starting at flat element `offset` of `w` to fp32. No bounds checks
// (callers validate shapes first).
void ConvertToFloat(const WeightView& w, int64_t offset, int64_t count, float* out);

// Converts the whole (small) tensor to fp32: norm weights, biases, router bias.
std::vector<float> ToFloatVector(const WeightView& w);

// y[rows, out] = x[rows, in] · Wᵀ (+ bias), w = [out, in], bias = [out] or null. fp32 accumulation
// over `in` in a fixed order (8 interleaved partial sums, then a fixed tree), so the result depends
// only on the inputs, never on `rows`.
absl::Status Linear(const float* x, int rows, const WeightView& w, const WeightView* bias, float* y);

// y[rows, hidden] = table[ids[r]] upcast to fp32; table = [vocab, hidden]. OutOfRange naming the row
// and id when an id is outside [0, vocab).
absl::Status Embedding(const WeightView& table, const int32_t* ids, int rows, float* y);

// logits[rows, vocab] = x[rows, hidden] · Wᵀ, w = [vocab, hidden] (for tied models the embedding
// table itself).
absl::Status LmHead(const float* x, int rows, const WeightView& w, float* logits);

// y = x * rsqrt(mean(x²) + eps) * w per row of `width`; w = [width]. In fp32 like HF's *RMSNorm
// (the weight multiplies last). y may equal x (in place).
absl::Status RmsNorm(const float* x, int rows, int width, const WeightView& w, float eps, float* y);
// The same over one row with an already converted weight.
void RmsNormRow(const float* x, int width, const float* w, float eps, float* y);

// y = a + b elementwise over n floats; y may equal a or b.
void Add(const float* a, const float* b, int64_t n, float* y);

// Activations exactly as torch computes them in fp32: silu(x) = x / (1 + exp(-x)),
// sigmoid(x) = 1 / (1 + exp(-x)).
float Silu(float x);
float Sigmoid(float x);

// In-place softmax over n floats: max, exp(x - max), multiply by 1 / sum (torch's CPU kernel order).
void SoftmaxInPlace(float* x, int n);

// SiLU-gated MLP: y = down(silu(gate x) * up x); gate, up = [inter, hidden], down = [hidden, inter].
// With `sigmoid_gate` ([1, hidden] or [hidden], Qwen2-MoE's shared_expert_gate) each output row is
// multiplied by sigmoid(x · g).
absl::Status Mlp(const float* x, int rows, const WeightView& gate, const WeightView& up,
                 const WeightView& down, const WeightView* sigmoid_gate, float* y);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_TENSOR_H_
