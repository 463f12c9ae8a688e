//===- JanusOps.td - janus operations ----------------------*- tablegen -*-===//
//
// The op set of ARCHITECTURE.md. Operand style used everywhere: activations are positional
// operands whose types follow the `:`; weights are named, `gate(%w : tensor<64x128xbf16>)`, so
// a reader never has to count optional operands.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSOPS_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSOPS_TD

include "dialects/janus/IR/JanusBase.td"
include "dialects/janus/IR/JanusAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

include "dialects/janus/IR/JanusModuleOps.td"
include "dialects/janus/IR/JanusComputeOps.td"
include "dialects/janus/IR/JanusDistributionOps.td"

#endif // JANUS_DIALECTS_JANUS_IR_JANUSOPS_TD
