//===- JanusDialect.h - The janus dialect, enums and attributes -*- C++ -*-===//
//
// Most code includes "dialects/janus/IR/JanusOps.h", which includes this.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSDIALECT_H
#define JANUS_DIALECTS_JANUS_IR_JANUSDIALECT_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialects/janus/IR/JanusDialect.h.inc"
#include "dialects/janus/IR/JanusEnums.h.inc"

#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/bit.h"

namespace mlir::janus {
/// A `double` attribute parameter: `llvm::hash_value` has no overload for `double`, so this
/// wrapper supplies one (by bit pattern). It converts implicitly both ways, so
/// `double theta = rope.getTheta();` and `RopeAttr::get(ctx, 1e4, ...)` just work.
struct HashableDouble {
  double value = 0.0;
  HashableDouble() = default;
  HashableDouble(double value) : value(value) {}
  operator double() const { return value; }
  friend llvm::hash_code hash_value(const HashableDouble &d) {
    return llvm::hash_value(llvm::bit_cast<uint64_t>(d.value));
  }
};

/// Parses a float literal (`4.0`, not `4`, as everywhere in MLIR) for a double parameter.
FailureOr<HashableDouble> parseDoubleParameter(AsmParser &parser);
} // namespace mlir::janus

#define GET_ATTRDEF_CLASSES
#include "dialects/janus/IR/JanusAttrs.h.inc"

#endif // JANUS_DIALECTS_JANUS_IR_JANUSDIALECT_H
