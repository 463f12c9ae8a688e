// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="moe-gpus=2" --janus-place-experts --janus-insert-scheduler | FileCheck %s
// RUN: janus-opt %S/Inputs/tiny_moe.mlir --janus-partition="moe-gpus=2 gating=attention" --janus-place-experts --janus-insert-scheduler | FileCheck %s --check-prefix=GATING
// RUN: janus-opt %s -split-input-file -verify-diagnostics --janus-insert-scheduler | FileCheck %s --check-prefix=SMALL

// Each MoE partition gets the scheduler between its router and its experts; the experts take the
// assignment and name the layer's placement.
// CHECK: janus.placement @experts_l1
// CHECK: janus.placement @experts_l2
// CHECK-LABEL: func.func @forward
// CHECK: janus.partition @moe layer 1
// CHECK: %[[W:.*]], %[[IDS:.*]] = janus.router
// CHECK-NEXT: %[[A:.*]] = janus.schedule %[[IDS]] placement(@experts_l1) : tensor<?x2xi32>
// CHECK-NEXT: janus.experts %{{.*}}, %[[W]], %[[IDS]] gate({{.*}}) up({{.*}}) down({{.*}}) assignment(%[[A]] : tensor<?x2xi32>) {layer = 1 : i64, num_experts = 4 : i64, placement = @experts_l1}
// CHECK: janus.partition @moe layer 2
// CHECK: janus.schedule %{{.*}} placement(@experts_l2)
// CHECK-NEXT: janus.experts {{.*}} placement = @experts_l2

// With gating on the attention side the ids arrive as a partition argument.
// GATING: janus.partition @moe layer 1 (%{{.*}}#1, %{{.*}}#2, %{{.*}}#3)
// GATING-NEXT: ^bb0(%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<?x2xf32>, %[[IDS:.*]]: tensor<?x2xi32>):
// GATING: %[[A:.*]] = janus.schedule %[[IDS]] placement(@experts_l1)
// GATING-NEXT: janus.experts %[[X]], %[[W]], %[[IDS]] {{.*}} assignment(%[[A]] : tensor<?x2xi32>)

// The pass also works on an unpartitioned module (the first split below).
// SMALL-LABEL: func.func @forward
// SMALL: %[[A:.*]] = janus.schedule %arg2 placement(@experts_l3)
// SMALL: janus.experts {{.*}} assignment(%[[A]] : tensor<?x2xi32>) {layer = 3 : i64, num_experts = 2 : i64, placement = @experts_l3}

module {
  janus.weight @g : tensor<2x8x16xbf16> {files = [], names = ["g.0", "g.1"]}
  janus.weight @d : tensor<2x16x8xbf16> {files = [], names = ["d.0", "d.1"]}
  janus.placement @experts_l3 {layer = 3 : i64, num_experts = 2 : i64, num_gpus = 2 : i64,
      slots_per_gpu = 1 : i64, replica_offsets = array<i32: 0, 1, 2>,
      replica_gpu = array<i32: 0, 1>, replica_slot = array<i32: 0, 0>}
  func.func @forward(%x: tensor<?x16xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) -> tensor<?x16xf32> {
    %g = janus.weight_ref @g : tensor<2x8x16xbf16>
    %d = janus.weight_ref @d : tensor<2x16x8xbf16>
    %e = janus.experts %x, %w, %i gate(%g : tensor<2x8x16xbf16>) up(%g : tensor<2x8x16xbf16>)
        down(%d : tensor<2x16x8xbf16>) {layer = 3 : i64, num_experts = 2 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    return %e : tensor<?x16xf32>
  }
}

// -----

// No placement for the layer: janus-place-experts has not run.
module {
  janus.weight @g : tensor<2x8x16xbf16> {files = [], names = ["g.0", "g.1"]}
  janus.weight @d : tensor<2x16x8xbf16> {files = [], names = ["d.0", "d.1"]}
  func.func @forward(%x: tensor<?x16xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) -> tensor<?x16xf32> {
    %g = janus.weight_ref @g : tensor<2x8x16xbf16>
    %d = janus.weight_ref @d : tensor<2x16x8xbf16>
    // expected-error @+1 {{'janus.experts' op of layer 3 has no janus.placement: run janus-place-experts first}}
    %e = janus.experts %x, %w, %i gate(%g : tensor<2x8x16xbf16>) up(%g : tensor<2x8x16xbf16>)
        down(%d : tensor<2x16x8xbf16>) {layer = 3 : i64, num_experts = 2 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    return %e : tensor<?x16xf32>
  }
}

// -----

// The layer's placement was made for a different expert count.
module {
  janus.weight @g : tensor<2x8x16xbf16> {files = [], names = ["g.0", "g.1"]}
  janus.weight @d : tensor<2x16x8xbf16> {files = [], names = ["d.0", "d.1"]}
  janus.placement @experts_l3 {layer = 3 : i64, num_experts = 3 : i64, num_gpus = 1 : i64,
      slots_per_gpu = 3 : i64, replica_offsets = array<i32: 0, 1, 2, 3>,
      replica_gpu = array<i32: 0, 0, 0>, replica_slot = array<i32: 0, 1, 2>}
  func.func @forward(%x: tensor<?x16xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) -> tensor<?x16xf32> {
    %g = janus.weight_ref @g : tensor<2x8x16xbf16>
    %d = janus.weight_ref @d : tensor<2x16x8xbf16>
    // expected-error @+1 {{'janus.experts' op has 2 experts but @experts_l3 places 3}}
    %e = janus.experts %x, %w, %i gate(%g : tensor<2x8x16xbf16>) up(%g : tensor<2x8x16xbf16>)
        down(%d : tensor<2x16x8xbf16>) {layer = 3 : i64, num_experts = 2 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    return %e : tensor<?x16xf32>
  }
}

// -----

// Scheduling twice is refused.
module {
  janus.weight @g : tensor<2x8x16xbf16> {files = [], names = ["g.0", "g.1"]}
  janus.weight @d : tensor<2x16x8xbf16> {files = [], names = ["d.0", "d.1"]}
  janus.placement @experts_l3 {layer = 3 : i64, num_experts = 2 : i64, num_gpus = 2 : i64,
      slots_per_gpu = 1 : i64, replica_offsets = array<i32: 0, 1, 2>,
      replica_gpu = array<i32: 0, 1>, replica_slot = array<i32: 0, 0>}
  func.func @forward(%x: tensor<?x16xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) -> tensor<?x16xf32> {
    %g = janus.weight_ref @g : tensor<2x8x16xbf16>
    %d = janus.weight_ref @d : tensor<2x16x8xbf16>
    %a = janus.schedule %i placement(@experts_l3) : tensor<?x2xi32>
    // expected-error @+1 {{'janus.experts' op of layer 3 is already scheduled}}
    %e = janus.experts %x, %w, %i gate(%g : tensor<2x8x16xbf16>) up(%g : tensor<2x8x16xbf16>)
        down(%d : tensor<2x16x8xbf16>) assignment(%a : tensor<?x2xi32>)
        {layer = 3 : i64, num_experts = 2 : i64, placement = @experts_l3}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    return %e : tensor<?x16xf32>
  }
}
