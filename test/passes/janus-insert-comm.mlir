// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm | FileCheck %s
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=2 moe-gpus=3 gpus-per-node=2" --janus-insert-comm="comm=two-phase" | FileCheck %s --check-prefix=TWO-PHASE
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=2 moe-gpus=3 gpus-per-node=2" --janus-insert-comm="comm=relay" | FileCheck %s --check-prefix=RELAY
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=16 moe-gpus=16 gpus-per-node=8" --janus-insert-comm="tokens-per-attention-gpu=16384" | FileCheck %s --check-prefix=AUTO-BIG
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=8 moe-gpus=8 gpus-per-node=8" --janus-insert-comm="tokens-per-attention-gpu=16384" | FileCheck %s --check-prefix=AUTO-RELAY
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=16 moe-gpus=16 gpus-per-node=8" --janus-insert-comm | FileCheck %s --check-prefix=AUTO-SMALL
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="gating=attention" --janus-insert-comm | FileCheck %s --check-prefix=GATING
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm="inter-node-gbps=400 inter-node-latency-us=2" | FileCheck %s --check-prefix=CONFIG
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-insert-comm 2>&1 | FileCheck %s --check-prefix=UNPARTITIONED
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm="comm=carrier-pigeon" 2>&1 | FileCheck %s --check-prefix=BAD-COMM
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=2" --janus-insert-comm="attention-gpus=3" 2>&1 | FileCheck %s --check-prefix=DISAGREE
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm="inter-node-gbps=0" 2>&1 | FileCheck %s --check-prefix=BANDWIDTH
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm="intra-node-latency-us=-1.5" 2>&1 | FileCheck %s --check-prefix=LATENCY
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition --janus-insert-comm --janus-insert-comm 2>&1 | FileCheck %s --check-prefix=TWICE

// 1 attention GPU -> 1 MoE GPU, 64 tokens x 16 features x 4 B = 4 KiB: direct, one op each way.
// Predicted: inter-node latency 10 us + 1 us per message + 4096 B / 50 GB/s = 11.082 us.
// The dispatch sits right before the MoE partition; the combine right before the first user of
// its result, so the shared expert's partition runs in between.
// CHECK: janus.comm_config = {inter_node_gbps = 5.000000e+01 : f64, inter_node_latency_us = 1.000000e+01 : f64, intra_node_gbps = 4.500000e+02 : f64, intra_node_latency_us = 3.000000e+00 : f64, tokens_per_attention_gpu = 64 : i64}
// CHECK-LABEL: func.func @forward
// CHECK: %[[PRE:.*]]:2 = janus.partition @attention layer 1
// CHECK: %[[SENT:.*]] = janus.comm.dispatch direct %[[PRE]]#1 {layer = 1 : i64, predicted_us = 1.108200e+01 : f64} : tensor<?x16xf32>
// CHECK-NEXT: %[[MOE:.*]] = janus.partition @moe layer 1 (%[[SENT]])
// CHECK: %[[SHARED:.*]] = janus.partition @attention layer 1 (%[[PRE]]#1)
// CHECK: janus.shared_expert
// CHECK: %[[BACK:.*]] = janus.comm.combine direct %[[MOE]] {layer = 1 : i64, predicted_us = 1.108200e+01 : f64} : tensor<?x16xf32>
// CHECK-NEXT: janus.partition @attention layer 1 (%[[BACK]], %[[SHARED]], %[[PRE]]#0)
// CHECK: janus.comm.dispatch direct %{{.*}} {layer = 2 : i64
// CHECK: janus.comm.combine direct %{{.*}} {layer = 2 : i64
// CHECK-NOT: janus.comm

// Forced two-phase: two chained ops each way, phases 0 and 1; the combine's phases mirror the
// dispatch's (its phase 0 costs what the dispatch's phase 1 does).
// TWO-PHASE: %[[P0:.*]] = janus.comm.dispatch two_phase %{{.*}}#1 {layer = 1 : i64, num_phases = 2 : i64, predicted_us = [[A:.*]] : f64}
// TWO-PHASE-NEXT: %[[P1:.*]] = janus.comm.dispatch two_phase %[[P0]] {layer = 1 : i64, num_phases = 2 : i64, phase = 1 : i64, predicted_us = [[B:.*]] : f64}
// TWO-PHASE-NEXT: %[[MOE:.*]] = janus.partition @moe layer 1 (%[[P1]])
// TWO-PHASE: %[[C0:.*]] = janus.comm.combine two_phase %[[MOE]] {layer = 1 : i64, num_phases = 2 : i64, predicted_us = [[B]] : f64}
// TWO-PHASE-NEXT: %[[C1:.*]] = janus.comm.combine two_phase %[[C0]] {layer = 1 : i64, num_phases = 2 : i64, phase = 1 : i64, predicted_us = [[A]] : f64}
// TWO-PHASE-NEXT: janus.partition @attention layer 1 (%[[C1]],

// RELAY: janus.comm.dispatch relay {{.*}} {layer = 1 : i64, num_phases = 2 : i64
// RELAY-NEXT: janus.comm.dispatch relay {{.*}} {layer = 1 : i64, num_phases = 2 : i64, phase = 1 : i64
// RELAY: janus.comm.combine relay
// RELAY-NEXT: janus.comm.combine relay

// The cost model's choices. 16 + 16 GPUs on nodes of 8 with 1 MiB per attention GPU: sending
// every row once per MoE node (two-phase) beats once per MoE GPU (direct).
// AUTO-BIG: janus.comm.dispatch two_phase
// AUTO-BIG-NOT: janus.comm.dispatch direct
// One MoE node fed by a full attention node: relaying through the MoE node's NICs wins.
// AUTO-RELAY: janus.comm.dispatch relay
// The same 16 + 16 GPUs with the default 4 KiB decode messages: latency dominates, direct wins.
// AUTO-SMALL: janus.comm.dispatch direct
// AUTO-SMALL-NOT: two_phase

// With gating on the attention side, the routing weights and ids travel with the activations.
// GATING: janus.comm.dispatch direct %{{.*}}#1, %{{.*}}#2, %{{.*}}#3 {layer = 1 : i64, predicted_us = {{.*}}} : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>

// The cost model parameters are recorded for the plan.
// CONFIG: janus.comm_config = {inter_node_gbps = 4.000000e+02 : f64, inter_node_latency_us = 2.000000e+00 : f64
// CONFIG: janus.comm.dispatch direct %{{.*}} {layer = 1 : i64, predicted_us = 3.010000e+00 : f64}

// UNPARTITIONED: error: expects janus.cluster @attention and @moe: run janus-partition first
// BAD-COMM: error: option '--comm=carrier-pigeon': expected auto, direct, two-phase or relay
// DISAGREE: error: option '--attention-gpus=3' disagrees with janus.cluster @attention (2 GPUs)
// BANDWIDTH: error: option '--inter-node-gbps=0': a bandwidth must be > 0
// LATENCY: error: option '--intra-node-latency-us=-1.5': a latency must be >= 0
// TWICE: error: @forward already has janus.comm ops
