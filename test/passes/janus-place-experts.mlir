// RUN: split-file %s %t
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=3" | FileCheck %s --check-prefix=UNIFORM
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=2 activation-profile=%S/Inputs/profile_tiny.json" | FileCheck %s --check-prefix=PROFILE
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=2 expert-slots-per-gpu=2 activation-profile=%S/Inputs/profile_tiny.json" | FileCheck %s --check-prefix=APART
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=2 expert-slots-per-gpu=2" | FileCheck %s --check-prefix=NOPROFILE
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="moe-gpus=4" --janus-place-experts | FileCheck %s --check-prefix=CLUSTER
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=1 expert-slots-per-gpu=3" 2>&1 | FileCheck %s --check-prefix=SLOTS
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="moe-gpus=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="expert-slots-per-gpu=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="moe-gpus=4" --janus-place-experts="moe-gpus=2" 2>&1 | FileCheck %s --check-prefix=DISAGREE
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/other_model.json" 2>&1 | FileCheck %s --check-prefix=OTHER-MODEL
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/num_layers.json" 2>&1 | FileCheck %s --check-prefix=NUM-LAYERS
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/num_experts.json" 2>&1 | FileCheck %s --check-prefix=NUM-EXPERTS
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/missing_layer.json" 2>&1 | FileCheck %s --check-prefix=MISSING-LAYER
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/dense_layer.json" 2>&1 | FileCheck %s --check-prefix=DENSE-LAYER
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/malformed.json" 2>&1 | FileCheck %s --check-prefix=MALFORMED
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/short_counts.json" 2>&1 | FileCheck %s --check-prefix=SHORT
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-place-experts="activation-profile=%t/absent.json" 2>&1 | FileCheck %s --check-prefix=ABSENT

// Inputs/tiny_moe.mlir has 4 experts in MoE layers 1 and 2 (layer 0 is dense).

// Uniform load, 3 MoE GPUs, default slots ceil(4/3) + max(1, ceil(4/12)) = 3: 9 slots, so 5
// extra replicas, ties to the lower expert id (expert 0 on every GPU).
// UNIFORM: janus.placement @experts_l1 {layer = 1 : i64, num_experts = 4 : i64, num_gpus = 3 : i64,
// UNIFORM-SAME: replica_gpu = array<i32: 0, 1, 2, 0, 1, 0, 2, 1, 2>, replica_offsets = array<i32: 0, 3, 5, 7, 9>,
// UNIFORM-SAME: replica_slot = array<i32: 0, 0, 0, 1, 1, 2, 1, 2, 2>, slots_per_gpu = 3 : i64}
// UNIFORM: janus.placement @experts_l2 {layer = 2 : i64
// UNIFORM-NOT: janus.placement
// UNIFORM-LABEL: func.func @forward

// Profile, layer 1: expert 0 takes 900 of 1000 activations, so it gets a replica on both GPUs,
// then expert 1 (load per replica 50 beats 30 and 20); the rest stay single. Layer 2 is uniform
// so its extra replicas go to experts 0 and 1.
// PROFILE: janus.placement @experts_l1 {layer = 1 : i64, num_experts = 4 : i64, num_gpus = 2 : i64,
// PROFILE-SAME: replica_gpu = array<i32: 0, 1, 0, 1, 0, 1>, replica_offsets = array<i32: 0, 2, 4, 5, 6>,
// PROFILE-SAME: replica_slot = array<i32: 0, 0, 1, 1, 2, 2>, slots_per_gpu = 3 : i64}

// Without spare slots, co-activation decides: in layer 2 experts 0 and 2 fire together 90 times,
// so they land on different GPUs (GPU 0: experts 0, 3; GPU 1: experts 1, 2) ...
// APART: janus.placement @experts_l1 {{.*}} replica_gpu = array<i32: 0, 1, 1, 0>
// APART: janus.placement @experts_l2 {layer = 2 : i64, num_experts = 4 : i64, num_gpus = 2 : i64,
// APART-SAME: replica_gpu = array<i32: 0, 1, 1, 0>, replica_offsets = array<i32: 0, 1, 2, 3, 4>,
// APART-SAME: replica_slot = array<i32: 0, 0, 1, 1>, slots_per_gpu = 2 : i64}
// ... where uniform load alone alternates GPUs and puts experts 0 and 2 together.
// NOPROFILE: janus.placement @experts_l2 {{.*}} replica_gpu = array<i32: 0, 1, 0, 1>

// After janus-partition the MoE GPU count comes from the @moe cluster.
// CLUSTER: janus.placement @experts_l1 {layer = 1 : i64, num_experts = 4 : i64, num_gpus = 4 : i64,
// CLUSTER-SAME: slots_per_gpu = 2 : i64}

// SLOTS: error: options '--moe-gpus=1' x '--expert-slots-per-gpu=3' give 3 expert slots, fewer than the 4 experts of MoE layer 1 (every expert needs at least one replica)
// ZERO: error: option '--moe-gpus=0': the MoE sub-cluster needs at least one GPU
// NEGATIVE: error: option '--expert-slots-per-gpu=-1' must be >= 0 (0 picks the default)
// DISAGREE: error: option '--moe-gpus=2' disagrees with janus.cluster @moe (4 GPUs)
// OTHER-MODEL: error: option '--activation-profile={{.*}}other_model.json': key 'model_type' is 'mixtral' but the model is 'qwen2_moe' (a profile for another model?)
// NUM-LAYERS: error: option '--activation-profile={{.*}}num_layers.json': key 'num_layers' is 4 but the model has 3 layers
// NUM-EXPERTS: error: option '--activation-profile={{.*}}num_experts.json': key 'num_experts' is 8 but the model has 4 routed experts
// MISSING-LAYER: error: option '--activation-profile={{.*}}missing_layer.json': key 'layers' has no entry for MoE layer 2
// DENSE-LAYER: error: option '--activation-profile={{.*}}dense_layer.json': key 'layers[0].layer' is 0, which is not a MoE layer of the model
// MALFORMED: error: option '--activation-profile={{.*}}malformed.json': '{{.*}}malformed.json': malformed JSON
// SHORT: error: option '--activation-profile={{.*}}short_counts.json': '{{.*}}short_counts.json': key 'layers[1].expert_counts' has 3 entries, expected num_experts = 4
// ABSENT: error: option '--activation-profile={{.*}}absent.json': cannot read '{{.*}}absent.json'

//--- other_model.json
{"model_type": "mixtral", "num_layers": 3, "num_experts": 4, "layers": []}
//--- num_layers.json
{"model_type": "qwen2_moe", "num_layers": 4, "num_experts": 4, "layers": []}
//--- num_experts.json
{"model_type": "qwen2_moe", "num_layers": 3, "num_experts": 8, "layers": []}
//--- missing_layer.json
{"model_type": "qwen2_moe", "num_layers": 3, "num_experts": 4,
 "layers": [{"layer": 1, "tokens": 4, "expert_counts": [1, 2, 3, 2]}]}
//--- dense_layer.json
{"model_type": "qwen2_moe", "num_layers": 3, "num_experts": 4,
 "layers": [{"layer": 0, "tokens": 4, "expert_counts": [1, 2, 3, 2]},
            {"layer": 1, "tokens": 4, "expert_counts": [1, 2, 3, 2]},
            {"layer": 2, "tokens": 4, "expert_counts": [1, 2, 3, 2]}]}
//--- malformed.json
{"model_type": "qwen2_moe", "num_layers": 3,
//--- short_counts.json
{"model_type": "qwen2_moe", "num_layers": 3, "num_experts": 4,
 "layers": [{"layer": 1, "tokens": 4, "expert_counts": [1, 2, 3, 2]},
            {"layer": 2, "tokens": 4, "expert_counts": [1, 2, 3]}]}
