//===- InitAllDialects.h - every dialect a janus tool needs -----*- C++ -*-===//
//
// The one place tools register dialects, so janus-opt and janus-compile parse the same IR.
// Deliberately not mlir::registerAllDialects: a tool with every upstream dialect is 100 MB.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_INITALLDIALECTS_H
#define JANUS_DIALECTS_INITALLDIALECTS_H

#include "dialects/janus/IR/JanusOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::janus {

inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<JanusDialect, func::FuncDialect>();
}

} // namespace mlir::janus

#endif // JANUS_DIALECTS_INITALLDIALECTS_H
