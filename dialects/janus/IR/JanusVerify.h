//===- JanusVerify.h - shape checks shared by the janus verifiers -*- C++ -*-===//
//
// Internal to dialects/janus/IR: every message names the operand, the expected shape and the
// formula it comes from, so a wrong checkpoint or a wrong config key is found from the message.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSVERIFY_H
#define JANUS_DIALECTS_JANUS_IR_JANUSVERIFY_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"

namespace mlir::janus::detail {

/// Fails with "expects <name> of shape [a, b] (<formula>), got <type>" unless `value`'s static
/// shape is `shape`.
inline LogicalResult expectShape(Operation *op, StringRef name, Value value,
                                 ArrayRef<int64_t> shape, StringRef formula) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return success();
  InFlightDiagnostic diag = op->emitOpError() << "expects " << name << " of shape [";
  llvm::interleaveComma(shape, diag);
  return diag << "] (" << formula << "), got " << type;
}

/// Two token (row) counts agree unless both are static and differ.
inline bool tokensAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

inline int64_t rows(Value value) {
  return cast<RankedTensorType>(value.getType()).getDimSize(0);
}
inline int64_t width(Value value) {
  return cast<RankedTensorType>(value.getType()).getDimSize(1);
}

/// A finite value > 0 (NaN and infinities are not).
inline bool isPositive(const llvm::APFloat &value) {
  return value.isFiniteNonZero() && !value.isNegative();
}

/// Fails with "expects <attr> >= <min>, got <value>".
inline LogicalResult expectAtLeast(Operation *op, StringRef attr, int64_t value,
                                   int64_t min) {
  if (value >= min)
    return success();
  return op->emitOpError() << "expects " << attr << " >= " << min << ", got "
                           << value;
}

} // namespace mlir::janus::detail

#endif // JANUS_DIALECTS_JANUS_IR_JANUSVERIFY_H
