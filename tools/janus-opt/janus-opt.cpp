//===- janus-opt.cpp - mlir-opt for the janus dialect and passes ----------===//

#include "dialects/InitAllDialects.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::janus::registerAllDialects(registry);
  mlir::janus::registerJanusPasses();
  mlir::janus::registerJanusPipelines();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Janus optimizer driver\n", registry));
}
