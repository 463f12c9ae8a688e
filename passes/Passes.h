//===- Passes.h - Janus distribution passes ---------------------*- C++ -*-===//
#ifndef JANUS_PASSES_PASSES_H
#define JANUS_PASSES_PASSES_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace mlir::janus {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::janus

#endif // JANUS_PASSES_PASSES_H
