// Element types the runtime reads from checkpoints and holds in registers.
#ifndef JANUS_RUNTIME_BASE_DTYPE_H_
#define JANUS_RUNTIME_BASE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace janus {

enum class DType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2, kI32 = 3 };

inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
  }
  return 0;
}

// The safetensors spelling ("F32", "F16", "BF16", "I32").
inline absl::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
  }
  return "?";
}

inline bool ParseDType(absl::string_view name, DType* out) {
  if (name == "F32") { *out = DType::kF32; return true; }
  if (name == "F16") { *out = DType::kF16; return true; }
  if (name == "BF16") { *out = DType::kBF16; return true; }
  if (name == "I32") { *out = DType::kI32; return true; }
  return false;
}

inline float Bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float HalfToFloat(uint16_t v);
uint16_t FloatToHalf(float f);

}  // namespace janus

#endif  // JANUS_RUNTIME_BASE_DTYPE_H_
