// RUN: janus-opt %s | janus-opt | FileCheck %s
// RUN: janus-opt %s --mlir-print-op-generic | janus-opt | FileCheck %s
// RUN: janus-opt %s -emit-bytecode | janus-opt | FileCheck %s

// Round trip of every janus op and attribute. Shapes: hidden 128, 4 query heads and 2 kv heads
// of 32, vocabulary 256, 8 experts of intermediate size 64, top-2.

// CHECK: module attributes {janus.bos_token_id = 1 : i64, janus.checkpoint_dir = "ckpt", janus.eos_token_ids = array<i64: 2, 7>, janus.hidden_size = 128 : i64, janus.max_position_embeddings = 4096 : i64, janus.model_type = "mixtral", janus.num_layers = 2 : i64, janus.synthetic_weights_seed = 42 : i64, janus.vocab_size = 256 : i64}
module attributes {janus.model_type = "mixtral", janus.checkpoint_dir = "ckpt", janus.vocab_size = 256 : i64,
                   janus.hidden_size = 128 : i64, janus.num_layers = 2 : i64,
                   janus.max_position_embeddings = 4096 : i64, janus.bos_token_id = 1 : i64,
                   janus.eos_token_ids = array<i64: 2, 7>, janus.synthetic_weights_seed = 42 : i64} {

// CHECK-LABEL: janus.checkpoint_file @f0
// CHECK-SAME: header_checksum = -3750763034362895579 : i64, path = "model.safetensors", size = 1234567 : i64
janus.checkpoint_file @f0 {path = "model.safetensors", size = 1234567 : i64,
                           header_checksum = -3750763034362895579 : i64}

// CHECK: janus.weight @embed : tensor<256x128xbf16> {files = [@f0], names = ["model.embed_tokens.weight"]}
janus.weight @embed : tensor<256x128xbf16> {files = [@f0], names = ["model.embed_tokens.weight"]}
// A synthetic weight has no files.
// CHECK: janus.weight @final_norm : tensor<128xf32> {files = [], names = ["model.norm.weight"]}
janus.weight @final_norm : tensor<128xf32> {files = [], names = ["model.norm.weight"]}
// A stack of two equally shaped tensors along a new dim 0.
// CHECK: janus.weight @stack : tensor<2x64x128xf16> {files = [@f0, @f0], names = ["e.0", "e.1"]}
janus.weight @stack : tensor<2x64x128xf16> {files = [@f0, @f0], names = ["e.0", "e.1"]}

// CHECK: janus.cluster @attention attention {gpus_per_node = 8 : i64, num_gpus = 4 : i64}
// CHECK: janus.cluster @moe moe {gpus_per_node = 8 : i64, num_gpus = 2 : i64}
janus.cluster @attention attention {num_gpus = 4 : i64, gpus_per_node = 8 : i64}
janus.cluster @moe moe {num_gpus = 2 : i64, gpus_per_node = 8 : i64}

// Expert 0 has two replicas, one per GPU.
// CHECK: janus.placement @experts_l1 {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64,
// CHECK-SAME: replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1, 0>
// CHECK-SAME: replica_offsets = array<i32: 0, 2, 3, 4, 5, 6, 7, 8, 9>
// CHECK-SAME: replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3, 4>, slots_per_gpu = 5 : i64}
janus.placement @experts_l1 {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64,
    slots_per_gpu = 5 : i64, replica_offsets = array<i32: 0, 2, 3, 4, 5, 6, 7, 8, 9>,
    replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1, 0>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3, 4>}

// CHECK-LABEL: func.func @dense
func.func @dense(%ids: tensor<?xi32>, %gate: tensor<256x128xbf16>, %down: tensor<128x256xbf16>)
    -> tensor<?x256xf32> {
  // CHECK: %[[E:.*]] = janus.weight_ref @embed : tensor<256x128xbf16>
  // CHECK: %[[N:.*]] = janus.weight_ref @final_norm : tensor<128xf32>
  // CHECK: %[[X:.*]] = janus.embedding %{{.*}} table(%[[E]] : tensor<256x128xbf16>) : tensor<?xi32> -> tensor<?x128xf32>
  // CHECK: %[[Y:.*]] = janus.rms_norm %[[X]] weight(%[[N]] : tensor<128xf32>) {eps = 9.99999997E-7 : f32} : tensor<?x128xf32>
  // CHECK: %[[M:.*]] = janus.mlp %[[Y]] gate(%{{.*}} : tensor<256x128xbf16>) up(%{{.*}} : tensor<256x128xbf16>) down(%{{.*}} : tensor<128x256xbf16>) : tensor<?x128xf32>
  // CHECK: %[[H:.*]] = janus.add %[[X]], %[[M]] : tensor<?x128xf32>
  // CHECK: janus.lm_head %[[H]] weight(%[[E]] : tensor<256x128xbf16>) : tensor<?x128xf32> -> tensor<?x256xf32>
  %e = janus.weight_ref @embed : tensor<256x128xbf16>
  %n = janus.weight_ref @final_norm : tensor<128xf32>
  %x = janus.embedding %ids table(%e : tensor<256x128xbf16>) : tensor<?xi32> -> tensor<?x128xf32>
  %y = janus.rms_norm %x weight(%n : tensor<128xf32>) {eps = 1.0e-6 : f32} : tensor<?x128xf32>
  %m = janus.mlp %y gate(%gate : tensor<256x128xbf16>) up(%gate : tensor<256x128xbf16>)
      down(%down : tensor<128x256xbf16>) : tensor<?x128xf32>
  %h = janus.add %x, %m : tensor<?x128xf32>
  %logits = janus.lm_head %h weight(%e : tensor<256x128xbf16>) : tensor<?x128xf32> -> tensor<?x256xf32>
  return %logits : tensor<?x256xf32>
}

// CHECK-LABEL: func.func @attention_variants
func.func @attention_variants(%x: tensor<?x128xf32>, %q: tensor<128x128xbf16>, %kv: tensor<64x128xbf16>,
                     %qv: tensor<128xbf16>, %kvv: tensor<64xbf16>, %hn: tensor<32xbf16>)
    -> (tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  // Qwen2: q/k/v biases, no qk norm, defaults elided.
  // CHECK: janus.attention %{{.*}} q(%{{.*}} : tensor<128x128xbf16>) k(%{{.*}} : tensor<64x128xbf16>) v(%{{.*}} : tensor<64x128xbf16>) o(%{{.*}} : tensor<128x128xbf16>)
  // CHECK-SAME: q_bias(%{{.*}} : tensor<128xbf16>) k_bias(%{{.*}} : tensor<64xbf16>) v_bias(%{{.*}} : tensor<64xbf16>)
  // CHECK-SAME: {head_dim = 32 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, rope = #janus.rope<theta = 1.000000e+06, rotary_dim = 32>} : tensor<?x128xf32>
  %a = janus.attention %x q(%q : tensor<128x128xbf16>) k(%kv : tensor<64x128xbf16>)
      v(%kv : tensor<64x128xbf16>) o(%q : tensor<128x128xbf16>)
      q_bias(%qv : tensor<128xbf16>) k_bias(%kvv : tensor<64xbf16>) v_bias(%kvv : tensor<64xbf16>)
      {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64,
       rope = #janus.rope<theta = 1000000.0, rotary_dim = 32>,
       qk_norm = #janus<qk_norm none>} : tensor<?x128xf32>
  // Qwen3: per-head q/k norm, linear rope scaling.
  // CHECK: janus.attention
  // CHECK-SAME: q_norm(%{{.*}} : tensor<32xbf16>) k_norm(%{{.*}} : tensor<32xbf16>)
  // CHECK-SAME: qk_norm = #janus<qk_norm head>, qk_norm_eps = 9.99999974E-6 : f32
  // CHECK-SAME: rope = #janus.rope<theta = 1.000000e+06, scaling = linear, factor = 2.000000e+00, rotary_dim = 32>
  %b = janus.attention %x q(%q : tensor<128x128xbf16>) k(%kv : tensor<64x128xbf16>)
      v(%kv : tensor<64x128xbf16>) o(%q : tensor<128x128xbf16>)
      q_norm(%hn : tensor<32xbf16>) k_norm(%hn : tensor<32xbf16>)
      {layer = 1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64,
       rope = #janus.rope<theta = 1000000.0, scaling = linear, factor = 2.0, rotary_dim = 32>,
       qk_norm = #janus<qk_norm head>, qk_norm_eps = 1.0e-5 : f32} : tensor<?x128xf32>
  // OLMoE: q/k norm over the whole projection; partial interleaved rotation.
  // CHECK: janus.attention
  // CHECK-SAME: q_norm(%{{.*}} : tensor<128xbf16>) k_norm(%{{.*}} : tensor<64xbf16>)
  // CHECK-SAME: qk_norm = #janus<qk_norm full>
  // CHECK-SAME: rope = #janus.rope<style = interleaved, rotary_dim = 16>
  %c = janus.attention %x q(%q : tensor<128x128xbf16>) k(%kv : tensor<64x128xbf16>)
      v(%kv : tensor<64x128xbf16>) o(%q : tensor<128x128xbf16>)
      q_norm(%qv : tensor<128xbf16>) k_norm(%kvv : tensor<64xbf16>)
      {layer = 2 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64,
       rope = #janus.rope<theta = 10000.0, style = interleaved, rotary_dim = 16>,
       qk_norm = #janus<qk_norm full>} : tensor<?x128xf32>
  return %a, %b, %c : tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}

// CHECK-LABEL: func.func @mla_variants
func.func @mla_variants(%x: tensor<?x128xf32>, %qp: tensor<192x128xbf16>, %qa: tensor<48x128xbf16>,
               %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>,
               %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>)
    -> (tensor<?x128xf32>, tensor<?x128xf32>) {
  // DeepSeek-V2-Lite: q_lora_rank = 0, so q_proj.
  // CHECK: janus.mla_attention %{{.*}} q_proj(%{{.*}} : tensor<192x128xbf16>) kv_a(%{{.*}} : tensor<48x128xbf16>) kv_a_norm(%{{.*}} : tensor<32xbf16>) kv_b(%{{.*}} : tensor<256x32xbf16>) o(%{{.*}} : tensor<128x128xbf16>)
  // CHECK-SAME: q_lora_rank = 0 : i64
  %a = janus.mla_attention %x q_proj(%qp : tensor<192x128xbf16>) kv_a(%kva : tensor<48x128xbf16>)
      kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>)
      {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 32 : i64,
       qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64,
       norm_eps = 1.0e-6 : f32, softmax_scale = 0.144337565 : f32,
       rope = #janus.rope<theta = 10000.0, style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  // DeepSeek-V3 with yarn: low-rank q.
  // CHECK: janus.mla_attention %{{.*}} q_a(%{{.*}} : tensor<48x128xbf16>) q_a_norm(%{{.*}} : tensor<48xbf16>) q_b(%{{.*}} : tensor<192x48xbf16>) kv_a(
  // CHECK-SAME: rope = #janus.rope<style = interleaved, scaling = yarn, factor = 4.000000e+00, original_max_position = 4096, beta_fast = 1.600000e+01, beta_slow = 2.000000e+00, mscale = 7.070000e-01, mscale_all_dim = 1.000000e+00, rotary_dim = 16>
  %b = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>)
      q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>)
      kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>)
      {layer = 1 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64,
       qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64,
       norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32,
       rope = #janus.rope<theta = 10000.0, style = interleaved, scaling = yarn, factor = 4.0,
                          original_max_position = 4096, beta_fast = 16.0, beta_slow = 2.0,
                          mscale = 0.707, mscale_all_dim = 1.0, rotary_dim = 16>} : tensor<?x128xf32>
  return %a, %b : tensor<?x128xf32>, tensor<?x128xf32>
}

// CHECK-LABEL: func.func @moe_layer
func.func @moe_layer(%x: tensor<?x128xf32>, %g: tensor<8x128xbf16>, %bias: tensor<8xf32>,
               %G: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %sg: tensor<64x128xbf16>,
               %sd: tensor<128x64xbf16>, %gate1: tensor<1x128xbf16>)
    -> (tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2xf32>) {
  // Mixtral-style softmax router, defaults elided.
  // CHECK: %[[W:.*]], %[[IDS:.*]] = janus.router %{{.*}} gate(%{{.*}} : tensor<8x128xbf16>) {norm_topk_prob = true, num_experts = 8 : i64, scoring = #janus<router_scoring softmax>, top_k = 2 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w, %ids = janus.router %x gate(%g : tensor<8x128xbf16>)
      {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>,
       norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // DeepSeek-V3: sigmoid, correction bias, 4 groups of which 2 are kept.
  // CHECK: janus.router %{{.*}} gate(%{{.*}} : tensor<8x128xbf16>) bias(%{{.*}} : tensor<8xf32>)
  // CHECK-SAME: n_group = 4 : i64, norm_topk_prob = true, num_experts = 8 : i64, routed_scaling_factor = 2.500000e+00 : f32, scoring = #janus<router_scoring sigmoid>, top_k = 2 : i64, topk_group = 2 : i64}
  %w3, %ids3 = janus.router %x gate(%g : tensor<8x128xbf16>) bias(%bias : tensor<8xf32>)
      {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring sigmoid>,
       norm_topk_prob = true, routed_scaling_factor = 2.5 : f32, n_group = 4 : i64,
       topk_group = 2 : i64, group_scoring = #janus<group_scoring top2_sum>}
      : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // DeepSeek-V2: group max.
  // CHECK: janus.router
  // CHECK-SAME: group_scoring = #janus<group_scoring max>
  %w2, %ids2 = janus.router %x gate(%g : tensor<8x128xbf16>)
      {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>,
       norm_topk_prob = false, n_group = 2 : i64, topk_group = 1 : i64,
       group_scoring = #janus<group_scoring max>}
      : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // CHECK: janus.experts %{{.*}}, %[[W]], %[[IDS]] gate(%{{.*}} : tensor<8x64x128xbf16>) up(%{{.*}} : tensor<8x64x128xbf16>) down(%{{.*}} : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  %y = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%G : tensor<8x64x128xbf16>)
      down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64}
      : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  // CHECK: janus.shared_expert %{{.*}} gate(%{{.*}} : tensor<64x128xbf16>) up(%{{.*}} : tensor<64x128xbf16>) down(%{{.*}} : tensor<128x64xbf16>) : tensor<?x128xf32>
  %s = janus.shared_expert %x gate(%sg : tensor<64x128xbf16>) up(%sg : tensor<64x128xbf16>)
      down(%sd : tensor<128x64xbf16>) : tensor<?x128xf32>
  // Qwen2-MoE's gated shared expert.
  // CHECK: janus.shared_expert %{{.*}} sigmoid_gate(%{{.*}} : tensor<1x128xbf16>) : tensor<?x128xf32>
  %s2 = janus.shared_expert %x gate(%sg : tensor<64x128xbf16>) up(%sg : tensor<64x128xbf16>)
      down(%sd : tensor<128x64xbf16>) sigmoid_gate(%gate1 : tensor<1x128xbf16>) : tensor<?x128xf32>
  return %y, %s, %s2, %w3 : tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x2xf32>
}

// CHECK-LABEL: func.func @distributed
func.func @distributed(%x: tensor<?x128xf32>, %g: tensor<8x128xbf16>,
                       %G: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>,
                       %i: tensor<?x2xi32>) -> tensor<?x128xf32> {
  // CHECK: %[[XS:.*]] = janus.comm.dispatch two_phase %{{.*}} {layer = 1 : i64, num_phases = 2 : i64, predicted_us = 1.250000e+01 : f64} : tensor<?x128xf32>
  // CHECK: janus.comm.dispatch two_phase %[[XS]] {layer = 1 : i64, num_phases = 2 : i64, phase = 1 : i64} : tensor<?x128xf32>
  %x0 = janus.comm.dispatch two_phase %x {layer = 1 : i64, phase = 0 : i64, num_phases = 2 : i64,
                                          predicted_us = 12.5} : tensor<?x128xf32>
  %x1 = janus.comm.dispatch two_phase %x0 {layer = 1 : i64, phase = 1 : i64, num_phases = 2 : i64}
      : tensor<?x128xf32>
  // CHECK: %[[P:.*]] = janus.partition @moe layer 1 (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x128xf32>, tensor<8x128xbf16>, tensor<8x64x128xbf16>, tensor<8x128x64xbf16>) -> tensor<?x128xf32> {
  // CHECK: janus.schedule %{{.*}} placement(@experts_l1) : tensor<?x2xi32>
  // CHECK: janus.experts {{.*}} assignment(%{{.*}} : tensor<?x2xi32>) {layer = 1 : i64, num_experts = 8 : i64, placement = @experts_l1}
  // CHECK: janus.yield %{{.*}} : tensor<?x128xf32>
  %p = janus.partition @moe layer 1 (%x1, %g, %G, %D)
      : (tensor<?x128xf32>, tensor<8x128xbf16>, tensor<8x64x128xbf16>, tensor<8x128x64xbf16>)
      -> tensor<?x128xf32> {
  ^bb0(%a: tensor<?x128xf32>, %ga: tensor<8x128xbf16>, %Ga: tensor<8x64x128xbf16>,
       %Da: tensor<8x128x64xbf16>):
    %w, %ids = janus.router %a gate(%ga : tensor<8x128xbf16>)
        {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>,
         norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %asg = janus.schedule %ids placement(@experts_l1) : tensor<?x2xi32>
    %y = janus.experts %a, %w, %ids gate(%Ga : tensor<8x64x128xbf16>) up(%Ga : tensor<8x64x128xbf16>)
        down(%Da : tensor<8x128x64xbf16>) assignment(%asg : tensor<?x2xi32>)
        {layer = 1 : i64, num_experts = 8 : i64, placement = @experts_l1}
        : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    janus.yield %y : tensor<?x128xf32>
  }
  // CHECK: janus.comm.combine relay %[[P]] {layer = 1 : i64, num_phases = 2 : i64} : tensor<?x128xf32>
  // CHECK: janus.comm.combine direct %{{.*}}, %{{.*}} {layer = 3 : i64} : tensor<?x128xf32>, tensor<?x2xi32>
  %y = janus.comm.combine relay %p {layer = 1 : i64, num_phases = 2 : i64} : tensor<?x128xf32>
  %c0, %c1 = janus.comm.combine direct %y, %i {layer = 3 : i64} : tensor<?x128xf32>, tensor<?x2xi32>
  return %c0 : tensor<?x128xf32>
}

// A partition with no inputs and no results, and one without a layer.
// CHECK-LABEL: func.func @empty_partitions
func.func @empty_partitions() {
  // CHECK: janus.partition @attention () : () -> () {
  // CHECK-NEXT: janus.yield
  janus.partition @attention () : () -> () {
    janus.yield
  }
  return
}

}
