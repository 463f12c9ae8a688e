// RUN: janus-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic of the janus verifiers (dialects/janus/IR/*.cpp). Generated once by a
// throwaway script, edited by hand since; keep one case per message.

// attention: negative layer
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects layer >= 0, got -1}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = -1 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: no heads
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_heads >= 1, got 0}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 0 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: no kv heads
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_kv_heads >= 1, got 0}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 0 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: empty heads
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects head_dim >= 1, got 0}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 0 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: GQA groups must be whole
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_kv_heads (3) to divide num_heads (4)}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: q rows
func.func @f(%q: tensor<96x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q of shape [128, 128] ([num_heads * head_dim, hidden]), got 'tensor<96x128xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<96x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: k rows
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<128x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects k of shape [64, 128] ([num_kv_heads * head_dim, hidden]), got 'tensor<128x128xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<128x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: v columns
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x64xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects v of shape [64, 128] ([num_kv_heads * head_dim, hidden]), got 'tensor<64x64xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x64xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: o transposed
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects o of shape [128, 128] ([hidden, num_heads * head_dim]), got 'tensor<128x64xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x64xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: q_bias
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qb: tensor<64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_bias of shape [128] ([num_heads * head_dim]), got 'tensor<64xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_bias(%qb : tensor<64xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: k_bias
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %kb: tensor<128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects k_bias of shape [64] ([num_kv_heads * head_dim]), got 'tensor<128xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) k_bias(%kb : tensor<128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: v_bias
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %vb: tensor<32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects v_bias of shape [64] ([num_kv_heads * head_dim]), got 'tensor<32xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) v_bias(%vb : tensor<32xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: norm weights without qk_norm
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<32xbf16>, %kn: tensor<32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{has q_norm/k_norm weights but qk_norm = none}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<32xbf16>) k_norm(%kn : tensor<32xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// attention: qk_norm = head without weights
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_norm and k_norm weights with qk_norm = head}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm head>} : tensor<?x128xf32>
  return
}

// -----

// attention: qk_norm = full with q_norm only
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_norm and k_norm weights with qk_norm = full}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm full>} : tensor<?x128xf32>
  return
}

// -----

// attention: per-head q_norm is [head_dim]
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<128xbf16>, %kn: tensor<32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_norm of shape [32] ([head_dim]), got 'tensor<128xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<128xbf16>) k_norm(%kn : tensor<32xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm head>} : tensor<?x128xf32>
  return
}

// -----

// attention: per-head k_norm is [head_dim]
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<32xbf16>, %kn: tensor<64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects k_norm of shape [32] ([head_dim]), got 'tensor<64xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<32xbf16>) k_norm(%kn : tensor<64xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm head>} : tensor<?x128xf32>
  return
}

// -----

// attention: full q_norm spans the projection
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<32xbf16>, %kn: tensor<64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_norm of shape [128] ([num_heads * head_dim]), got 'tensor<32xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<32xbf16>) k_norm(%kn : tensor<64xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm full>} : tensor<?x128xf32>
  return
}

// -----

// attention: full k_norm spans the kv projection
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<128xbf16>, %kn: tensor<32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects k_norm of shape [64] ([num_kv_heads * head_dim]), got 'tensor<32xbf16>'}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<128xbf16>) k_norm(%kn : tensor<32xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm full>} : tensor<?x128xf32>
  return
}

// -----

// attention: qk_norm_eps
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %qn: tensor<32xbf16>, %kn: tensor<32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects qk_norm_eps > 0}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) q_norm(%qn : tensor<32xbf16>) k_norm(%kn : tensor<32xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 32>, qk_norm = #janus<qk_norm head>, qk_norm_eps = 0.0 : f32} : tensor<?x128xf32>
  return
}

// -----

// attention: rotary_dim beyond the head
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects rope rotary_dim (64) <= head_dim (32)}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 64>} : tensor<?x128xf32>
  return
}

// -----

// rope: theta
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{rope theta must be positive, got 0.000000e+00}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<theta = 0.0, rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// rope: odd rotary_dim
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{rope rotary_dim must be positive and even, got 31}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<rotary_dim = 31>} : tensor<?x128xf32>
  return
}

// -----

// rope: scaling factor
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{rope factor must be positive with scaling = linear, got 0.000000e+00}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<scaling = linear, factor = 0.0, rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// rope: yarn without original_max_position
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{rope scaling = yarn needs original_max_position > 0, got 0}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<scaling = yarn, factor = 4.0, rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// rope: yarn betas
func.func @f(%q: tensor<128x128xbf16>, %k: tensor<64x128xbf16>, %v: tensor<64x128xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{rope beta_fast (1.000000e+00) must exceed beta_slow (3.200000e+01)}}
  %0 = janus.attention %x q(%q : tensor<128x128xbf16>) k(%k : tensor<64x128xbf16>) v(%v : tensor<64x128xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, rope = #janus.rope<scaling = yarn, factor = 4.0, original_max_position = 4096, beta_fast = 1.0, beta_slow = 32.0, rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// mla: negative layer
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects layer >= 0, got -2}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = -2 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: no heads
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_heads >= 1, got 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 0 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: negative q_lora_rank
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_lora_rank >= 0, got -1}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = -1 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: kv_lora_rank
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects kv_lora_rank >= 1, got 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 0 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: qk_nope_head_dim
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects qk_nope_head_dim >= 1, got 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 0 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: qk_rope_head_dim
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects qk_rope_head_dim >= 1, got 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 0 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: v_head_dim
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects v_head_dim >= 1, got 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 0 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_lora_rank = 0 needs q_proj
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_proj and no q_a/q_a_norm/q_b with q_lora_rank = 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_proj shape
func.func @f(%qp: tensor<128x128xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_proj of shape [192, 128] ([num_heads * (qk_nope_head_dim + qk_rope_head_dim), hidden]), got 'tensor<128x128xbf16>'}}
  %0 = janus.mla_attention %x q_proj(%qp : tensor<128x128xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_lora_rank > 0 refuses q_proj
func.func @f(%qp: tensor<192x128xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_a, q_a_norm, q_b and no q_proj with q_lora_rank > 0}}
  %0 = janus.mla_attention %x q_proj(%qp : tensor<192x128xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_a shape
func.func @f(%qa: tensor<32x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_a of shape [48, 128] ([q_lora_rank, hidden]), got 'tensor<32x128xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<32x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_a_norm shape
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<32xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_a_norm of shape [48] ([q_lora_rank]), got 'tensor<32xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<32xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: q_b shape
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<128x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects q_b of shape [192, 48] ([num_heads * (qk_nope_head_dim + qk_rope_head_dim), q_lora_rank]), got 'tensor<128x48xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<128x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: kv_a carries the rope key
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<32x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects kv_a of shape [48, 128] ([kv_lora_rank + qk_rope_head_dim, hidden]), got 'tensor<32x128xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<32x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: kv_a_norm
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<48xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects kv_a_norm of shape [32] ([kv_lora_rank]), got 'tensor<48xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<48xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: kv_b
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<192x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects kv_b of shape [256, 32] ([num_heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank]), got 'tensor<192x32xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<192x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: o
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects o of shape [128, 128] ([hidden, num_heads * v_head_dim]), got 'tensor<128x64xbf16>'}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x64xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: norm_eps
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects norm_eps > 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = -1.0 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: softmax_scale
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects softmax_scale > 0}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.0 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 16>} : tensor<?x128xf32>
  return
}

// -----

// mla: rope covers the rope part only
func.func @f(%qa: tensor<48x128xbf16>, %qan: tensor<48xbf16>, %qb: tensor<192x48xbf16>, %kva: tensor<48x128xbf16>, %kvan: tensor<32xbf16>, %kvb: tensor<256x32xbf16>, %o: tensor<128x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects rope rotary_dim (32) = qk_rope_head_dim (16)}}
  %0 = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>) q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>) kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>) o(%o : tensor<128x128xbf16>) {layer = 0 : i64, num_heads = 4 : i64, q_lora_rank = 48 : i64, kv_lora_rank = 32 : i64, qk_nope_head_dim = 32 : i64, qk_rope_head_dim = 16 : i64, v_head_dim = 32 : i64, norm_eps = 1.0e-6 : f32, softmax_scale = 0.2 : f32, rope = #janus.rope<style = interleaved, rotary_dim = 32>} : tensor<?x128xf32>
  return
}

// -----

// embedding: result width
func.func @f(%t: tensor<256x128xbf16>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{result width 64 differs from the table's hidden size 128}}
  %0 = janus.embedding %ids table(%t : tensor<256x128xbf16>) : tensor<?xi32> -> tensor<?x64xf32>
  return
}

// -----

// embedding: rows
func.func @f(%t: tensor<256x128xbf16>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{has 4 ids but 5 result rows}}
  %0 = janus.embedding %ids table(%t : tensor<256x128xbf16>) : tensor<4xi32> -> tensor<5x128xf32>
  return
}

// -----

// rms_norm: weight size
func.func @f(%w: tensor<64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects weight of shape [128] ([width of x]), got 'tensor<64xbf16>'}}
  %0 = janus.rms_norm %x weight(%w : tensor<64xbf16>) {eps = 1.0e-6 : f32} : tensor<?x128xf32>
  return
}

// -----

// rms_norm: eps
func.func @f(%w: tensor<128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects eps > 0}}
  %0 = janus.rms_norm %x weight(%w : tensor<128xbf16>) {eps = 0.0 : f32} : tensor<?x128xf32>
  return
}

// -----

// lm_head: weight is [vocab, hidden]
func.func @f(%w: tensor<256x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects weight of shape [256, 128] ([vocab, hidden]), got 'tensor<256x64xbf16>'}}
  %0 = janus.lm_head %x weight(%w : tensor<256x64xbf16>) : tensor<?x128xf32> -> tensor<?x256xf32>
  return
}

// -----

// lm_head: result width
func.func @f(%w: tensor<256x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{result width 255 differs from the vocabulary size 256}}
  %0 = janus.lm_head %x weight(%w : tensor<256x128xbf16>) : tensor<?x128xf32> -> tensor<?x255xf32>
  return
}

// -----

// lm_head: rows
func.func @f(%w: tensor<256x128xbf16>, %x: tensor<3x128xf32>) {
  // expected-error @+1 {{has 3 input rows but 4 result rows}}
  %0 = janus.lm_head %x weight(%w : tensor<256x128xbf16>) : tensor<3x128xf32> -> tensor<4x256xf32>
  return
}

// -----

// mlp: gate columns
func.func @f(%g: tensor<64x96xbf16>, %u: tensor<64x128xbf16>, %d: tensor<128x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects gate of shape [64, 128] ([intermediate, hidden]), got 'tensor<64x96xbf16>'}}
  %0 = janus.mlp %x gate(%g : tensor<64x96xbf16>) up(%u : tensor<64x128xbf16>) down(%d : tensor<128x64xbf16>) : tensor<?x128xf32>
  return
}

// -----

// mlp: up
func.func @f(%g: tensor<64x128xbf16>, %u: tensor<32x128xbf16>, %d: tensor<128x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects up of shape [64, 128] ([intermediate, hidden]), got 'tensor<32x128xbf16>'}}
  %0 = janus.mlp %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<32x128xbf16>) down(%d : tensor<128x64xbf16>) : tensor<?x128xf32>
  return
}

// -----

// mlp: down
func.func @f(%g: tensor<64x128xbf16>, %u: tensor<64x128xbf16>, %d: tensor<64x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects down of shape [128, 64] ([hidden, intermediate]), got 'tensor<64x128xbf16>'}}
  %0 = janus.mlp %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<64x128xbf16>) down(%d : tensor<64x128xbf16>) : tensor<?x128xf32>
  return
}

// -----

// shared_expert: the gated MLP checks apply
func.func @f(%g: tensor<64x128xbf16>, %u: tensor<64x128xbf16>, %d: tensor<128x32xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects down of shape [128, 64] ([hidden, intermediate]), got 'tensor<128x32xbf16>'}}
  %0 = janus.shared_expert %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<64x128xbf16>) down(%d : tensor<128x32xbf16>) : tensor<?x128xf32>
  return
}

// -----

// shared_expert: sigmoid gate is [1, hidden]
func.func @f(%g: tensor<64x128xbf16>, %u: tensor<64x128xbf16>, %d: tensor<128x64xbf16>, %sg: tensor<128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{operand #4 must be static 2-D tensor of bf16, f16 or f32 values, but got 'tensor<128xbf16>'}}
  %0 = janus.shared_expert %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<64x128xbf16>) down(%d : tensor<128x64xbf16>) sigmoid_gate(%sg : tensor<128xbf16>) : tensor<?x128xf32>
  return
}

// -----

// shared_expert: sigmoid gate width
func.func @f(%g: tensor<64x128xbf16>, %u: tensor<64x128xbf16>, %d: tensor<128x64xbf16>, %sg: tensor<1x64xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects sigmoid_gate of shape [1, 128] ([1, hidden]), got 'tensor<1x64xbf16>'}}
  %0 = janus.shared_expert %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<64x128xbf16>) down(%d : tensor<128x64xbf16>) sigmoid_gate(%sg : tensor<1x64xbf16>) : tensor<?x128xf32>
  return
}

// -----

// router: num_experts
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_experts >= 1, got 0}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 0 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: top_k
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects top_k >= 1, got 0}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 0 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: n_group
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects n_group >= 1, got 0}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, n_group = 0 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: topk_group
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects topk_group >= 1, got 0}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, topk_group = 0 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: top_k above num_experts
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects top_k (9) <= num_experts (8)}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 9 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x9xf32>, tensor<?x9xi32>
  return
}

// -----

// router: groups must be equal
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects n_group (3) to divide num_experts (8)}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, n_group = 3 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: topk_group above n_group
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects topk_group (3) <= n_group (2)}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, n_group = 2 : i64, topk_group = 3 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: too few experts in the kept groups
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects top_k (3) <= topk_group * num_experts / n_group (2)}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 3 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, n_group = 4 : i64, topk_group = 1 : i64} : tensor<?x128xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

// router: routed_scaling_factor
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects routed_scaling_factor > 0}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true, routed_scaling_factor = 0.0 : f32} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: gate is [num_experts, hidden]
func.func @f(%g: tensor<4x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects gate of shape [8, 128] ([num_experts, hidden]), got 'tensor<4x128xbf16>'}}
  %0:2 = janus.router %x gate(%g : tensor<4x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: correction bias
func.func @f(%g: tensor<8x128xbf16>, %b: tensor<4xf32>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects bias of shape [8] ([num_experts]), got 'tensor<4xf32>'}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) bias(%b : tensor<4xf32>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// router: result width
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects results of width top_k = 2, got 'tensor<?x2xf32>' and 'tensor<?x3xi32>'}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x3xi32>
  return
}

// -----

// router: result rows
func.func @f(%g: tensor<8x128xbf16>, %x: tensor<4x128xf32>) {
  // expected-error @+1 {{expects as many result rows as input rows}}
  %0:2 = janus.router %x gate(%g : tensor<8x128xbf16>) {num_experts = 8 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<4x128xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
  return
}

// -----

// experts: negative layer
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects layer >= 0, got -1}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = -1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: num_experts
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects num_experts >= 1, got 0}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 0 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: E must equal num_experts
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects gate of shape [4, 64, 128] ([num_experts, intermediate, hidden]), got 'tensor<8x64x128xbf16>'}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 4 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: up
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x32x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects up of shape [8, 64, 128] ([num_experts, intermediate, hidden]), got 'tensor<8x32x128xbf16>'}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x32x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: down is [E, H, I]
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x64x128xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects down of shape [8, 128, 64] ([num_experts, hidden, intermediate]), got 'tensor<8x64x128xbf16>'}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x64x128xbf16>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: weights and ids of one width
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<?x128xf32>, %w: tensor<?x3xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects weights and ids of the same width, got 'tensor<?x3xf32>' and 'tensor<?x2xi32>'}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x3xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: rows
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %x: tensor<4x128xf32>, %w: tensor<5x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects x, weights and ids with the same rows}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<4x128xf32>, tensor<5x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: assignment needs a placement
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %a: tensor<?x2xi32>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects assignment and placement together}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) assignment(%a : tensor<?x2xi32>) {layer = 1 : i64, num_experts = 8 : i64} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: assignment shaped like ids
janus.placement @p {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64, slots_per_gpu = 4 : i64,
    replica_offsets = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8>, replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3>}
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %a: tensor<?x3xi32>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{expects assignment shaped like ids 'tensor<?x2xi32>', got 'tensor<?x3xi32>'}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) assignment(%a : tensor<?x3xi32>) {layer = 1 : i64, num_experts = 8 : i64, placement = @p} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: unknown placement
janus.placement @p {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64, slots_per_gpu = 4 : i64,
    replica_offsets = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8>, replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3>}
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %a: tensor<?x2xi32>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{placement @nope does not name a janus.placement}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) assignment(%a : tensor<?x2xi32>) {layer = 1 : i64, num_experts = 8 : i64, placement = @nope} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// experts: placement of another layer
janus.placement @p {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64, slots_per_gpu = 4 : i64,
    replica_offsets = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8>, replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3>}
func.func @f(%G: tensor<8x64x128xbf16>, %U: tensor<8x64x128xbf16>, %D: tensor<8x128x64xbf16>, %a: tensor<?x2xi32>, %x: tensor<?x128xf32>, %w: tensor<?x2xf32>, %ids: tensor<?x2xi32>) {
  // expected-error @+1 {{has layer 2 with 8 experts but placement @p is for layer 1 with 8}}
  %0 = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>) down(%D : tensor<8x128x64xbf16>) assignment(%a : tensor<?x2xi32>) {layer = 2 : i64, num_experts = 8 : i64, placement = @p} : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// schedule: unknown placement
janus.placement @p {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64, slots_per_gpu = 4 : i64,
    replica_offsets = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8>, replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3>}
func.func @f(%ids: tensor<?x2xi32>) {
  // expected-error @+1 {{placement @nope does not name a janus.placement}}
  %0 = janus.schedule %ids placement(@nope) : tensor<?x2xi32>
  return
}

// -----

// schedule: router and placement disagree on experts
janus.placement @p {layer = 1 : i64, num_experts = 8 : i64, num_gpus = 2 : i64, slots_per_gpu = 4 : i64,
    replica_offsets = array<i32: 0, 1, 2, 3, 4, 5, 6, 7, 8>, replica_gpu = array<i32: 0, 1, 0, 1, 0, 1, 0, 1>,
    replica_slot = array<i32: 0, 0, 1, 1, 2, 2, 3, 3>}
func.func @f(%x: tensor<?x128xf32>, %g: tensor<4x128xbf16>) {
  %0:2 = janus.router %x gate(%g : tensor<4x128xbf16>) {num_experts = 4 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>, norm_topk_prob = true} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{routes over 4 experts but placement @p places 8}}
  %1 = janus.schedule %0#1 placement(@p) : tensor<?x2xi32>
  return
}

// -----

// weight_ref: unknown symbol
janus.weight @w : tensor<64x128xbf16> {files = [], names = ["w"]}
func.func @f() {
  // expected-error @+1 {{@nope does not name a janus.weight}}
  %0 = janus.weight_ref @nope : tensor<64x128xbf16>
  return
}

// -----

// weight_ref: type must match
janus.weight @w : tensor<64x128xbf16> {files = [], names = ["w"]}
func.func @f() {
  // expected-error @+1 {{result type 'tensor<64x128xf32>' differs from the type of @w, 'tensor<64x128xbf16>'}}
  %0 = janus.weight_ref @w : tensor<64x128xf32>
  return
}

// -----

// weight_ref: not a weight
janus.cluster @c moe {num_gpus = 1 : i64, gpus_per_node = 8 : i64}
func.func @f() {
  // expected-error @+1 {{@c does not name a janus.weight}}
  %0 = janus.weight_ref @c : tensor<64x128xbf16>
  return
}

// -----

// comm: at least one input
func.func @f() {
  // expected-error @+1 {{expects at least one input}}
  "janus.comm.dispatch"() <{layer = 1 : i64, strategy = #janus<comm_strategy direct>}> : () -> ()
  return
}

// -----

// comm: negative layer
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects layer >= 0, got -1}}
  %0 = janus.comm.dispatch direct %x {layer = -1 : i64} : tensor<?x128xf32>
  return
}

// -----

// comm: num_phases
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_phases >= 1, got 0}}
  %0 = janus.comm.combine relay %x {layer = 1 : i64, num_phases = 0 : i64} : tensor<?x128xf32>
  return
}

// -----

// comm: phase out of range
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects phase in [0, num_phases = 2), got 2}}
  %0 = janus.comm.dispatch two_phase %x {layer = 1 : i64, phase = 2 : i64, num_phases = 2 : i64} : tensor<?x128xf32>
  return
}

// -----

// comm: direct is one phase
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_phases = 1 with strategy direct, got 2}}
  %0 = janus.comm.combine direct %x {layer = 1 : i64, num_phases = 2 : i64} : tensor<?x128xf32>
  return
}

// -----

// comm: two_phase is two phases
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects num_phases = 2 with strategy two_phase, got 1}}
  %0 = janus.comm.dispatch two_phase %x {layer = 1 : i64} : tensor<?x128xf32>
  return
}

// -----

// comm: predicted_us
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects predicted_us >= 0}}
  %0 = janus.comm.dispatch direct %x {layer = 1 : i64, predicted_us = -1.0} : tensor<?x128xf32>
  return
}

// -----

// checkpoint_file: path
// expected-error @+1 {{expects a non-empty path}}
janus.checkpoint_file @f {path = "", size = 1 : i64, header_checksum = 0 : i64}

// -----

// checkpoint_file: size
// expected-error @+1 {{expects size >= 0, got -1}}
janus.checkpoint_file @f {path = "a.safetensors", size = -1 : i64, header_checksum = 0 : i64}

// -----

// weight: static shape
// expected-error @+1 {{expects a static shape, got 'tensor<?x128xbf16>'}}
janus.weight @w : tensor<?x128xbf16> {files = [], names = ["w"]}

// -----

// weight: element type
// expected-error @+1 {{expects a bf16, f16 or f32 element type, got 'i8'}}
janus.weight @w : tensor<128xi8> {files = [], names = ["w"]}

// -----

// weight: names
// expected-error @+1 {{expects at least one checkpoint tensor name}}
janus.weight @w : tensor<128xbf16> {files = [], names = []}

// -----

// weight: empty name
// expected-error @+1 {{expects non-empty names, names[1] is empty}}
janus.weight @w : tensor<2x128xbf16> {files = [], names = ["a", ""]}

// -----

// weight: one file per name
janus.checkpoint_file @f {path = "a.safetensors", size = 1 : i64, header_checksum = 0 : i64}
// expected-error @+1 {{expects one file per name (2) or none, got 1}}
janus.weight @w : tensor<2x128xbf16> {files = [@f], names = ["a", "b"]}

// -----

// weight: a stack's dim 0 counts its names
// expected-error @+1 {{stacks 2 tensors, so dim 0 must be 2, got 'tensor<3x128xbf16>'}}
janus.weight @w : tensor<3x128xbf16> {files = [], names = ["a", "b"]}

// -----

// weight: files must be checkpoint files
janus.cluster @c moe {num_gpus = 1 : i64, gpus_per_node = 8 : i64}
// expected-error @+1 {{files[0] = @c does not name a janus.checkpoint_file}}
janus.weight @w : tensor<128xbf16> {files = [@c], names = ["a"]}

// -----

// cluster: num_gpus
// expected-error @+1 {{expects num_gpus >= 1, got 0}}
janus.cluster @c moe {num_gpus = 0 : i64, gpus_per_node = 8 : i64}

// -----

// cluster: gpus_per_node
// expected-error @+1 {{expects gpus_per_node >= 1, got 0}}
janus.cluster @c attention {num_gpus = 2 : i64, gpus_per_node = 0 : i64}

// -----

// placement: layer
// expected-error @+1 {{expects layer >= 0, got -1}}
janus.placement @p {layer = -1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: num_experts
// expected-error @+1 {{expects num_experts >= 1, got 0}}
janus.placement @p {layer = 1 : i64, num_experts = 0 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: num_gpus
// expected-error @+1 {{expects num_gpus >= 1, got 0}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 0 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: slots_per_gpu
// expected-error @+1 {{expects slots_per_gpu >= 1, got 0}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 0 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: offsets count
// expected-error @+1 {{expects num_experts + 1 = 4 replica_offsets, got 3}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: offsets start at 0
// expected-error @+1 {{expects replica_offsets[0] = 0, got 1}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 1, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: every expert has a replica
// expected-error @+1 {{expert 1 has no replica (replica_offsets must increase strictly)}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 1, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: replica arrays
// expected-error @+1 {{expects replica_gpu and replica_slot to hold 3 replicas, got 2 and 3}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: gpu range
// expected-error @+1 {{replica 1 of expert 1 is on gpu 2, outside [0, num_gpus = 2)}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 2, 0>, replica_slot = array<i32: 0, 0, 1>}

// -----

// placement: slot range
// expected-error @+1 {{replica 2 of expert 2 is in slot 2, outside [0, slots_per_gpu = 2)}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 2>}

// -----

// placement: one replica per slot
// expected-error @+1 {{gpu 0 slot 0 holds more than one replica}}
janus.placement @p {layer = 1 : i64, num_experts = 3 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 1, 2, 3>, replica_gpu = array<i32: 0, 1, 0>, replica_slot = array<i32: 0, 0, 0>}

// -----

// placement: one replica of an expert per GPU
// expected-error @+1 {{expert 0 has two replicas on gpu 0}}
janus.placement @p {layer = 1 : i64, num_experts = 2 : i64, num_gpus = 2 : i64, slots_per_gpu = 2 : i64, replica_offsets = array<i32: 0, 2, 3>, replica_gpu = array<i32: 0, 0, 1>, replica_slot = array<i32: 0, 1, 0>}

// -----

// partition: negative layer
janus.cluster @attention attention {num_gpus = 2 : i64, gpus_per_node = 8 : i64}
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects layer >= 0, got -1}}
  %0 = janus.partition @attention layer -1 (%x) : (tensor<?x128xf32>) -> tensor<?x128xf32> {
  ^bb0(%a: tensor<?x128xf32>):
    janus.yield %a : tensor<?x128xf32>
  }
  return
}

// -----

// partition: block arguments are the inputs
janus.cluster @attention attention {num_gpus = 2 : i64, gpus_per_node = 8 : i64}
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects the body's arguments to have the input types, got 2 arguments for 1 inputs}}
  %0 = janus.partition @attention (%x) : (tensor<?x128xf32>) -> tensor<?x128xf32> {
  ^bb0(%a: tensor<?x128xf32>, %b: tensor<?x128xf32>):
    janus.yield %a : tensor<?x128xf32>
  }
  return
}

// -----

// partition: body ends with janus.yield
janus.cluster @attention attention {num_gpus = 2 : i64, gpus_per_node = 8 : i64}
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{expects the body to end with janus.yield}}
  janus.partition @attention (%x) : (tensor<?x128xf32>) -> () {
  ^bb0(%a: tensor<?x128xf32>):
    %s = janus.add %a, %a : tensor<?x128xf32>
  }
  return
}

// -----

// partition: yield types are the results
janus.cluster @attention attention {num_gpus = 2 : i64, gpus_per_node = 8 : i64}
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{yields 0 values whose types differ from its 1 results}}
  %0 = janus.partition @attention (%x) : (tensor<?x128xf32>) -> tensor<?x128xf32> {
  ^bb0(%a: tensor<?x128xf32>):
    janus.yield
  }
  return
}

// -----

// partition: cluster must be a janus.cluster
janus.cluster @attention attention {num_gpus = 2 : i64, gpus_per_node = 8 : i64}
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{cluster @f does not name a janus.cluster}}
  janus.partition @f (%x) : (tensor<?x128xf32>) -> () {
  ^bb0(%a: tensor<?x128xf32>):
    janus.yield
  }
  return
}

// -----

// cluster: unknown role keyword
// expected-error @+1 {{unknown role 'atention'}}
janus.cluster @c atention {num_gpus = 1 : i64, gpus_per_node = 8 : i64}

// -----

// comm: unknown strategy keyword
func.func @f(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{unknown comm_strategy 'diagonal'}}
  %0 = janus.comm.dispatch diagonal %x {layer = 1 : i64} : tensor<?x128xf32>
  return
}

// -----

// module: model_type is a string
// expected-error @+1 {{expects 'janus.model_type' to be a string, got 3 : i64}}
module attributes {janus.model_type = 3 : i64} {
}

// -----

// module: model_type is not empty
// expected-error @+1 {{expects a non-empty 'janus.model_type'}}
module attributes {janus.model_type = ""} {
}

// -----

// module: sizes are i64
// expected-error @+1 {{expects 'janus.hidden_size' to be an i64 integer, got "128"}}
module attributes {janus.hidden_size = "128"} {
}

// -----

// module: sizes are positive
// expected-error @+1 {{expects 'janus.num_layers' >= 1, got 0}}
module attributes {janus.num_layers = 0 : i64} {
}

// -----

// module: token ids are not negative
// expected-error @+1 {{expects 'janus.bos_token_id' >= 0, got -1}}
module attributes {janus.bos_token_id = -1 : i64} {
}

// -----

// module: eos ids are an i64 array
// expected-error @+1 {{expects 'janus.eos_token_ids' to be an array<i64: ...>, got [1, 2]}}
module attributes {janus.eos_token_ids = [1, 2]} {
}
