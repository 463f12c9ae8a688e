//===- Passes.td - Janus distribution passes ---------------*- tablegen -*-===//
//
// The passes that turn an imported `janus` module into a disaggregated deployment: attention and
// experts on separate GPU sub-clusters. Each runs alone in janus-opt; janus-compile runs them in
// this order (passes/Pipeline.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_TD
#define JANUS_PASSES_TD

include "mlir/Pass/PassBase.td"

def JanusPartitionPass : Pass<"janus-partition", "mlir::ModuleOp"> {
  let summary = "Split every decoder layer into attention and MoE partitions";
  let description = [{
    Creates the `@attention` and `@moe` clusters and wraps every op of `@forward` into a
    `janus.partition` bound to one of them: norms, attention, residual adds, the shared expert,
    dense MLP layers, the embedding, the final norm and the LM head go to `@attention`; the router
    (unless `gating=attention`) and the routed experts go to `@moe`. Weights used by a partition are
    re-materialised inside it (`janus.weight_ref`), so partitions are isolated from above. The
    shared expert is placed after the layer's MoE partition so it overlaps the wait for the experts.
  }];
  let options = [
    Option<"attentionGpus", "attention-gpus", "int64_t", "1",
           "GPUs in the attention sub-cluster">,
    Option<"moeGpus", "moe-gpus", "int64_t", "1", "GPUs in the MoE sub-cluster">,
    Option<"gpusPerNode", "gpus-per-node", "int64_t", "8", "GPUs per node">,
    Option<"gating", "gating", "std::string", "\"moe\"",
           "Where the router runs: moe (default) or attention">,
  ];
  let dependentDialects = ["mlir::janus::JanusDialect", "mlir::func::FuncDialect"];
}

def JanusPlaceExpertsPass : Pass<"janus-place-experts", "mlir::ModuleOp"> {
  let summary = "Replicate and place every MoE layer's experts on the MoE GPUs";
  let description = [{
    For each MoE layer, gives every expert one replica, adds replicas to the experts with the
    highest load per replica while slots remain, then assigns replicas to MoE GPUs greedily
    (balanced load first, then least co-activation with the experts already on the GPU). Loads and
    co-activation come from `activation-profile` (uniform without one). Emits one
    `janus.placement` per MoE layer. See docs/passes.md for the objective.
  }];
  let options = [
    Option<"moeGpus", "moe-gpus", "int64_t", "1", "GPUs in the MoE sub-cluster">,
    Option<"expertSlotsPerGpu", "expert-slots-per-gpu", "int64_t", "0",
           "Expert slots per MoE GPU (0: ceil(E/M) + max(1, ceil(E/(4M))))">,
    Option<"activationProfile", "activation-profile", "std::string", "\"\"",
           "JSON activation profile (per-layer expert and co-activation counts)">,
  ];
  let dependentDialects = ["mlir::janus::JanusDialect"];
}

def JanusInsertCommPass : Pass<"janus-insert-comm", "mlir::ModuleOp"> {
  let summary = "Insert dispatch/combine ops around every MoE partition";
  let description = [{
    Inserts `janus.comm.dispatch` (attention -> MoE) before and `janus.comm.combine` (MoE ->
    attention) after every MoE partition. The strategy (direct, two_phase, relay) comes from a
    topology cost model unless `comm` forces one; the choice and its predicted time are attributes.
  }];
  let options = [
    Option<"attentionGpus", "attention-gpus", "int64_t", "1",
           "GPUs in the attention sub-cluster">,
    Option<"moeGpus", "moe-gpus", "int64_t", "1", "GPUs in the MoE sub-cluster">,
    Option<"gpusPerNode", "gpus-per-node", "int64_t", "8", "GPUs per node">,
    Option<"comm", "comm", "std::string", "\"auto\"",
           "Strategy: auto, direct, two-phase or relay">,
    Option<"intraNodeGBps", "intra-node-gbps", "double", "450.0",
           "Intra-node bandwidth per GPU (GB/s)">,
    Option<"interNodeGBps", "inter-node-gbps", "double", "50.0",
           "Inter-node bandwidth per GPU (GB/s)">,
    Option<"intraNodeLatencyUs", "intra-node-latency-us", "double", "3.0",
           "Intra-node message latency (us)">,
    Option<"interNodeLatencyUs", "inter-node-latency-us", "double", "10.0",
           "Inter-node message latency (us)">,
    Option<"tokensPerAttentionGpu", "tokens-per-attention-gpu", "int64_t", "64",
           "Nominal decode batch per attention GPU used to size messages">,
  ];
  let dependentDialects = ["mlir::janus::JanusDialect"];
}

def JanusInsertSchedulerPass : Pass<"janus-insert-scheduler", "mlir::ModuleOp"> {
  let summary = "Insert the activation-balancing scheduler before every MoE layer's experts";
  let description = [{
    Inserts `janus.schedule` between the router and the experts of every MoE partition, referencing
    the layer's `janus.placement`, and gives `janus.experts` the assignment and the placement.
  }];
  let dependentDialects = ["mlir::janus::JanusDialect"];
}

#endif // JANUS_PASSES_TD
