// Register values of the executor: 2-D row-major tensors [rows, cols] holding
// f32 activations or i32 ids (plan.fbs "Registers"). Each rank owns its
// tensors; messages between ranks copy them.
#ifndef JANUS_RUNTIME_EXEC_TENSOR_H_
#define JANUS_RUNTIME_EXEC_TENSOR_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "runtime/base/dtype.h"

namespace janus::exec {

class Tensor {
 public:
  Tensor() = default;
  static Tensor F32(int64_t rows, int64_t cols) {
    return Tensor(DType::kF32, rows, cols);
  }
  static Tensor I32(int64_t rows, int64_t cols) {
    return Tensor(DType::kI32, rows, cols);
  }
  // Same dtype and width as `like`, `rows` rows of zeros.
  static Tensor ZerosLike(const Tensor& like, int64_t rows) {
    return Tensor(like.dtype_, rows, like.cols_);
  }

  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  bool defined() const { return defined_; }

  float* f32() { return f32_.data(); }
  const float* f32() const { return f32_.data(); }
  int32_t* i32() { return i32_.data(); }
  const int32_t* i32() const { return i32_.data(); }
  float* f32_row(int64_t r) { return f32_.data() + r * cols_; }
  const float* f32_row(int64_t r) const { return f32_.data() + r * cols_; }
  int32_t* i32_row(int64_t r) { return i32_.data() + r * cols_; }
  const int32_t* i32_row(int64_t r) const { return i32_.data() + r * cols_; }

  // Rows [begin, begin + count) as a new tensor.
  Tensor SliceRows(int64_t begin, int64_t count) const {
    Tensor out(dtype_, count, cols_);
    if (dtype_ == DType::kI32) {
      std::copy(i32_.begin() + begin * cols_,
                i32_.begin() + (begin + count) * cols_, out.i32_.begin());
    } else {
      std::copy(f32_.begin() + begin * cols_,
                f32_.begin() + (begin + count) * cols_, out.f32_.begin());
    }
    return out;
  }

  // Appends `other`'s rows (same dtype and width).
  absl::Status AppendRows(const Tensor& other) {
    if (!defined_) {
      *this = other;
      return absl::OkStatus();
    }
    if (other.dtype_ != dtype_ || other.cols_ != cols_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot concatenate rows of a [", other.rows_, ", ", other.cols_,
          "] ", DTypeName(other.dtype_), " tensor to a [", rows_, ", ", cols_,
          "] ", DTypeName(dtype_), " tensor"));
    }
    if (dtype_ == DType::kI32) {
      i32_.insert(i32_.end(), other.i32_.begin(), other.i32_.end());
    } else {
      f32_.insert(f32_.end(), other.f32_.begin(), other.f32_.end());
    }
    rows_ += other.rows_;
    return absl::OkStatus();
  }

  std::string ShapeString() const {
    return absl::StrCat("[", rows_, ", ", cols_, "] ", DTypeName(dtype_));
  }

 private:
  Tensor(DType dtype, int64_t rows, int64_t cols)
      : dtype_(dtype), rows_(rows), cols_(cols), defined_(true) {
    if (dtype == DType::kI32) {
      i32_.assign(static_cast<size_t>(rows * cols), 0);
    } else {
      f32_.assign(static_cast<size_t>(rows * cols), 0.0f);
    }
  }

  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  bool defined_ = false;
  std::vector<float> f32_;
  std::vector<int32_t> i32_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_TENSOR_H_
