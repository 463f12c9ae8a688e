// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=2 moe-gpus=3 gpus-per-node=4" | FileCheck %s
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="gating=attention" | FileCheck %s --check-prefix=GATING
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition | janus-opt | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: janus-opt %s -split-input-file -verify-diagnostics --janus-partition
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="attention-gpus=0" 2>&1 | FileCheck %s --check-prefix=ZERO-ATTN
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="moe-gpus=0" 2>&1 | FileCheck %s --check-prefix=ZERO-MOE
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="gpus-per-node=0" 2>&1 | FileCheck %s --check-prefix=ZERO-NODE
// RUN: not janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="gating=router" 2>&1 | FileCheck %s --check-prefix=BAD-GATING

// The input (Inputs/tiny_moe.mlir): embedding, a dense layer 0, a MoE layer 1 with a gated shared
// expert, a MoE layer 2 without, final norm and tied LM head.

// The clusters carry the deployment shape.
// CHECK: janus.cluster @attention attention {gpus_per_node = 4 : i64, num_gpus = 2 : i64}
// CHECK: janus.cluster @moe moe {gpus_per_node = 4 : i64, num_gpus = 3 : i64}
// CHECK-LABEL: func.func @forward
// No weight_ref is left outside a partition: every partition re-materialises its weights.
// CHECK-NOT: janus.weight_ref
// The prologue: embedding alone, no layer.
// CHECK: %[[X0:.*]] = janus.partition @attention (%arg0) : (tensor<?xi32>) -> tensor<?x16xf32> {
// CHECK: janus.weight_ref @embed
// CHECK: janus.embedding
// A dense layer is one attention partition.
// CHECK: %[[X1:.*]] = janus.partition @attention layer 0 (%[[X0]])
// CHECK: janus.attention
// CHECK: janus.mlp
// CHECK: janus.yield
// Layer 1, before the experts: attention, residual, post-attention norm.
// CHECK: %[[PRE:.*]]:2 = janus.partition @attention layer 1 (%[[X1]])
// CHECK: janus.attention
// CHECK-NOT: janus.router
// CHECK: janus.yield
// The MoE partition: router and experts, on the post-attention norm's output.
// CHECK: %[[MOE:.*]] = janus.partition @moe layer 1 (%[[PRE]]#1)
// CHECK-NEXT: ^bb0(%[[ARG:.*]]: tensor<?x16xf32>):
// CHECK: janus.weight_ref @l1_router
// CHECK: %[[W:.*]], %[[IDS:.*]] = janus.router %[[ARG]]
// CHECK: janus.experts %[[ARG]], %[[W]], %[[IDS]]
// CHECK: janus.yield
// The shared expert comes after the MoE partition (it overlaps the experts once the comm ops
// are in), in its own attention partition.
// CHECK: %[[SHARED:.*]] = janus.partition @attention layer 1 (%[[PRE]]#1)
// CHECK: janus.shared_expert
// CHECK: janus.yield
// CHECK: janus.partition @attention layer 1 (%[[MOE]], %[[SHARED]], %[[PRE]]#0)
// CHECK: janus.add
// CHECK: janus.add
// Layer 2 has no shared expert: pre, MoE, post.
// CHECK: janus.partition @attention layer 2
// CHECK: janus.partition @moe layer 2
// CHECK: janus.partition @attention layer 2
// The epilogue: final norm and the LM head with the (tied) embedding table.
// CHECK: %[[LOGITS:.*]] = janus.partition @attention (%{{.*}}) : (tensor<?x16xf32>) -> tensor<?x32xf32>
// CHECK: janus.weight_ref @norm
// CHECK: janus.weight_ref @embed
// CHECK: janus.lm_head
// CHECK: return %[[LOGITS]]

// With gating on the attention side the router joins the attention partition and the MoE
// partition receives the activations, the routing weights and the expert ids.
// GATING-LABEL: func.func @forward
// GATING: %[[PRE:.*]]:4 = janus.partition @attention layer 1
// GATING: janus.router
// GATING: janus.yield %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
// GATING: janus.partition @moe layer 1 (%[[PRE]]#1, %[[PRE]]#2, %[[PRE]]#3)
// GATING-NOT: janus.router
// GATING: janus.experts

// The output parses and verifies again.
// ROUNDTRIP: janus.partition @moe layer 2

// ZERO-ATTN: error: option '--attention-gpus=0': the attention sub-cluster needs at least one GPU
// ZERO-MOE: error: option '--moe-gpus=0': the MoE sub-cluster needs at least one GPU
// ZERO-NODE: error: option '--gpus-per-node=0': a node needs at least one GPU
// BAD-GATING: error: option '--gating=router': expected 'moe' or 'attention'

// The smallest model partitions without diagnostics (the split-input-file run starts here).
module {
  janus.weight @embed : tensor<32x16xbf16> {files = [], names = ["model.embed_tokens.weight"]}
  func.func @forward(%ids: tensor<?xi32>) -> tensor<?x32xf32> {
    %e = janus.weight_ref @embed : tensor<32x16xbf16>
    %x = janus.embedding %ids table(%e : tensor<32x16xbf16>) : tensor<?xi32> -> tensor<?x16xf32>
    %l = janus.lm_head %x weight(%e : tensor<32x16xbf16>) : tensor<?x16xf32> -> tensor<?x32xf32>
    return %l : tensor<?x32xf32>
  }
}

// -----

// A module that was already partitioned is refused.
// expected-error @+1 {{module is already partitioned (it has janus.cluster ops)}}
module {
  janus.cluster @attention attention {num_gpus = 1 : i64, gpus_per_node = 8 : i64}
  func.func @forward(%ids: tensor<?xi32>) -> tensor<?xi32> {
    return %ids : tensor<?xi32>
  }
}

// -----

// Without @forward there is nothing to partition.
// expected-error @+1 {{expects a func.func @forward with a body (an imported janus module)}}
module {
  func.func @other(%ids: tensor<?xi32>) -> tensor<?xi32> {
    return %ids : tensor<?xi32>
  }
}

// -----

// An op the pass does not know cannot be assigned a sub-cluster.
module {
  func.func private @helper(tensor<?xi32>) -> tensor<?xi32>
  func.func @forward(%ids: tensor<?xi32>) -> tensor<?xi32> {
    // expected-error @+1 {{'func.call' op is not a janus model op: janus-partition cannot tell which sub-cluster runs it}}
    %r = func.call @helper(%ids) : (tensor<?xi32>) -> tensor<?xi32>
    return %r : tensor<?xi32>
  }
}

// -----

// Two routed-expert ops in one decoder layer.
module {
  janus.weight @g : tensor<4x8x16xbf16> {files = [], names = ["g.0", "g.1", "g.2", "g.3"]}
  janus.weight @d : tensor<4x16x8xbf16> {files = [], names = ["d.0", "d.1", "d.2", "d.3"]}
  func.func @forward(%x: tensor<?x16xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) -> tensor<?x16xf32> {
    %g = janus.weight_ref @g : tensor<4x8x16xbf16>
    %d = janus.weight_ref @d : tensor<4x16x8xbf16>
    %e1 = janus.experts %x, %w, %i gate(%g : tensor<4x8x16xbf16>) up(%g : tensor<4x8x16xbf16>)
        down(%d : tensor<4x16x8xbf16>) {layer = 1 : i64, num_experts = 4 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    // expected-error @+1 {{janus-partition expects exactly one janus.experts per decoder layer, found 2}}
    %e2 = janus.experts %e1, %w, %i gate(%g : tensor<4x8x16xbf16>) up(%g : tensor<4x8x16xbf16>)
        down(%d : tensor<4x16x8xbf16>) {layer = 1 : i64, num_experts = 4 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    return %e2 : tensor<?x16xf32>
  }
}
