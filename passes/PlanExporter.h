//===- PlanExporter.h - Internals of exportPlan -----------------*- C++ -*-===//
//
// Internal to passes/: the state exportPlan (ExportPlan.cpp) builds the plan
// in, shared with the per-op lowering (ExportPlanOps.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_PLANEXPORTER_H
#define JANUS_PASSES_PLANEXPORTER_H

#include "dialects/janus/IR/JanusOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include "runtime/io/safetensors.h"
#include "runtime/schema/plan_generated.h"

#include <memory>
#include <optional>
#include <string>

namespace mlir::janus::exporter {

namespace jp = ::janus::plan;

/// Dialect -> plan conversions (ExportPlan.cpp).
std::unique_ptr<jp::RopeT> convertRope(RopeAttr rope);
jp::CommStrategy planStrategy(CommStrategy strategy);
float attrFloat(FloatAttr attr);

enum Side { kAttention = 0, kMoe = 1 };

// One role's program under construction.
struct ProgramBuilder {
  jp::ProgramT *program = nullptr;
  llvm::DenseMap<Value, int> registers;
  int numRegisters = 0;

  int define(Value value) {
    int reg = numRegisters++;
    registers[value] = reg;
    return reg;
  }
  void alias(Value value, int reg) { registers[value] = reg; }
  std::optional<int> lookup(Value value) const {
    auto it = registers.find(value);
    if (it == registers.end())
      return std::nullopt;
    return it->second;
  }
};

class PlanExporter {
public:
  explicit PlanExporter(ModuleOp module) : module(module), symbols(module) {}

  LogicalResult run(std::string &bytes);

private:
  LogicalResult exportModelInfo();
  LogicalResult exportFiles();
  LogicalResult exportDeployment();
  LogicalResult exportPlacements();
  LogicalResult exportForward(func::FuncOp forward);
  LogicalResult exportPartition(PartitionOp partition);
  LogicalResult exportComm(Operation *op, bool dispatch);
  LogicalResult exportOp(Operation *op, Side side,
                         std::optional<int64_t> layer);
  FailureOr<SmallVector<int>> weightsOf(WeightRefOp ref);
  FailureOr<int> weight(Operation *op, Value value, llvm::StringRef name);
  FailureOr<int> optionalWeight(Operation *op, Value value,
                                llvm::StringRef name);
  void emit(Side side, ArrayRef<int> inputs, ArrayRef<int> outputs,
            jp::OpParamsUnion params);
  FailureOr<int> input(Operation *op, Side side, Value value);
  int placementIndex(FlatSymbolRefAttr symbol) const;

  ModuleOp module;
  SymbolTable symbols;
  jp::PlanT plan;
  bool synthetic = false;
  std::optional<::janus::Checkpoint> checkpoint;
  llvm::StringMap<uint32_t> fileIndexByPath;
  llvm::StringMap<int> weightIndexByName;
  llvm::DenseMap<Value, SmallVector<int>> weightValues;
  ProgramBuilder programs[2];
  llvm::StringMap<int> placementIndexBySymbol;
  std::optional<jp::Gating> gating;
};

} // namespace mlir::janus::exporter

#endif // JANUS_PASSES_PLANEXPORTER_H
