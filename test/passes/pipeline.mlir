// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-pipeline="attention-gpus=2 moe-gpus=2 gpus-per-node=2 expert-slots-per-gpu=2 activation-profile=%S/Inputs/profile_tiny.json comm=two-phase" | FileCheck %s
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-pipeline | FileCheck %s --check-prefix=DEFAULTS
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-pipeline | janus-opt --verify-each | FileCheck %s --check-prefix=DEFAULTS
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-pipeline="moe-gpus=1 expert-slots-per-gpu=2" 2>&1 | FileCheck %s --check-prefix=SLOTS

// janus-pipeline = janus-partition, janus-place-experts, janus-insert-comm, janus-insert-scheduler
// with the deployment options handed to each.

// CHECK: janus.cluster @attention attention {gpus_per_node = 2 : i64, num_gpus = 2 : i64}
// CHECK: janus.cluster @moe moe {gpus_per_node = 2 : i64, num_gpus = 2 : i64}
// The profile keeps layer 2's co-activated experts 0 and 2 apart.
// CHECK: janus.placement @experts_l1
// CHECK: janus.placement @experts_l2 {{.*}} replica_gpu = array<i32: 0, 1, 1, 0>
// CHECK-LABEL: func.func @forward
// CHECK: janus.partition @attention layer 1
// CHECK: janus.comm.dispatch two_phase {{.*}}num_phases = 2
// CHECK-NEXT: %[[X:.*]] = janus.comm.dispatch two_phase {{.*}}phase = 1
// CHECK-NEXT: janus.partition @moe layer 1 (%[[X]])
// CHECK: janus.router
// CHECK-NEXT: janus.schedule {{.*}} placement(@experts_l1)
// CHECK-NEXT: janus.experts {{.*}} placement = @experts_l1
// CHECK: janus.shared_expert
// CHECK: janus.comm.combine two_phase
// CHECK-NEXT: janus.comm.combine two_phase
// CHECK: janus.partition @moe layer 2
// CHECK: janus.schedule {{.*}} placement(@experts_l2)
// CHECK: janus.lm_head

// Defaults: 1 + 1 GPUs on nodes of 8, uniform load, direct communication.
// DEFAULTS: janus.cluster @attention attention {gpus_per_node = 8 : i64, num_gpus = 1 : i64}
// DEFAULTS: janus.cluster @moe moe {gpus_per_node = 8 : i64, num_gpus = 1 : i64}
// DEFAULTS: janus.placement @experts_l1 {layer = 1 : i64, num_experts = 4 : i64, num_gpus = 1 : i64, {{.*}}slots_per_gpu = 5 : i64}
// DEFAULTS: janus.comm.dispatch direct
// DEFAULTS: janus.schedule

// SLOTS: error: options '--moe-gpus=1' x '--expert-slots-per-gpu=2' give 2 expert slots, fewer than the 4 experts of MoE layer 1
