//===- JanusComputeOps.td - janus model computation --------*- tablegen -*-===//
//
// The model-level ops inside `func.func @forward`. Shapes in the examples use hidden = 128,
// 4 query heads and 2 kv heads of 32, 8 experts of intermediate size 64, top-2 routing.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSCOMPUTEOPS_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSCOMPUTEOPS_TD

def Janus_WeightRefOp : Janus_Op<"weight_ref",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the value of a janus.weight";
  let description = [{
    Reads the weight named by `weight`; the result type must equal the weight's `type`.

    ```mlir
    %w = janus.weight_ref @embed : tensor<256x128xbf16>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$weight);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$weight attr-dict `:` type($result)";
  let builders = [
    OpBuilder<(ins "WeightOp":$weight), [{
      build($_builder, $_state, weight.getType(), weight.getSymName());
    }]>
  ];
}

def Janus_EmbeddingOp : Janus_Op<"embedding", [Pure]> {
  let summary = "token embedding: row gather, upcast to f32";
  let description = [{
    `result[t] = table[ids[t]]` as f32. The table is `[vocab, hidden]`.

    ```mlir
    %x = janus.embedding %ids table(%emb : tensor<256x128xbf16>) : tensor<?xi32> -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_TokenIds:$ids, Janus_Weight2D:$table);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $ids `table` `(` $table `:` type($table) `)` attr-dict `:` type($ids) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Janus_RmsNormOp : Janus_Op<"rms_norm", [Pure, AllTypesMatch<["x", "result"]>]> {
  let summary = "RMSNorm over the feature dimension";
  let description = [{
    `x * rsqrt(mean(x^2) + eps) * weight`, computed in f32.

    ```mlir
    %y = janus.rms_norm %x weight(%w : tensor<128xbf16>) {eps = 9.99999997E-7 : f32} : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Weight1D:$weight, F32Attr:$eps);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `weight` `(` $weight `:` type($weight) `)` attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def Janus_AddOp : Janus_Op<"add", [Pure, Commutative, SameOperandsAndResultType]> {
  let summary = "elementwise add (the residual connection)";
  let description = [{
    ```mlir
    %h = janus.add %x, %y : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$lhs, Janus_Activation:$rhs);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Janus_AttentionOp : Janus_Op<"attention",
    [Pure, AttrSizedOperandSegments, AllTypesMatch<["x", "result"]>]> {
  let summary = "causal multi-head / grouped-query self-attention with RoPE";
  let description = [{
    `o(attn(rope(norm(q x + q_bias)), rope(norm(k x + k_bias)), v x + v_bias))`, causal, scale
    `head_dim^-0.5`, `num_heads / num_kv_heads` query heads per kv head. `qk_norm = head`
    applies RMSNorm with `q_norm`/`k_norm` (`[head_dim]`) to every head (Qwen3); `full` applies it
    to the whole projection (`[num_heads * head_dim]` / `[num_kv_heads * head_dim]`, OLMoE).
    Norms run before RoPE. The KV cache of `layer` belongs to the runtime.

    ```mlir
    %y = janus.attention %x q(%wq : tensor<128x128xbf16>) k(%wk : tensor<64x128xbf16>)
        v(%wv : tensor<64x128xbf16>) o(%wo : tensor<128x128xbf16>)
        q_norm(%qn : tensor<32xbf16>) k_norm(%kn : tensor<32xbf16>)
        {head_dim = 32 : i64, layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64,
         qk_norm = #janus<qk_norm head>, rope = #janus.rope<theta = 1.000000e+06, rotary_dim = 32>}
        : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x,
      Janus_Weight2D:$q, Janus_Weight2D:$k, Janus_Weight2D:$v, Janus_Weight2D:$o,
      Optional<Janus_Weight1D>:$q_bias, Optional<Janus_Weight1D>:$k_bias,
      Optional<Janus_Weight1D>:$v_bias,
      Optional<Janus_Weight1D>:$q_norm, Optional<Janus_Weight1D>:$k_norm,
      I64Attr:$layer, I64Attr:$num_heads, I64Attr:$num_kv_heads, I64Attr:$head_dim,
      Janus_RopeAttr:$rope,
      DefaultValuedAttr<Janus_QkNormAttr, "::mlir::janus::QkNorm::none">:$qk_norm,
      DefaultValuedAttr<F32Attr, "1.0e-6">:$qk_norm_eps);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `q` `(` $q `:` type($q) `)` `k` `(` $k `:` type($k) `)` `v` `(` $v `:` type($v) `)`
    `o` `(` $o `:` type($o) `)`
    (`q_bias` `(` $q_bias^ `:` type($q_bias) `)`)?
    (`k_bias` `(` $k_bias^ `:` type($k_bias) `)`)?
    (`v_bias` `(` $v_bias^ `:` type($v_bias) `)`)?
    (`q_norm` `(` $q_norm^ `:` type($q_norm) `)`)?
    (`k_norm` `(` $k_norm^ `:` type($k_norm) `)`)?
    attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def Janus_MlaAttentionOp : Janus_Op<"mla_attention",
    [Pure, AttrSizedOperandSegments, AllTypesMatch<["x", "result"]>]> {
  let summary = "DeepSeek multi-head latent attention";
  let description = [{
    DeepSeek-V2/V3 MLA. Queries come from `q_proj` when `q_lora_rank = 0`, else from
    `q_b(rms_norm(q_a x, q_a_norm))`. `kv_a x` splits into the compressed kv (`kv_lora_rank`,
    normalised by `kv_a_norm`) and the shared rope key (`qk_rope_head_dim`); `kv_b` expands the
    compressed kv into per-head `k_nope` and `v`. RoPE (`rope.rotary_dim = qk_rope_head_dim`)
    applies to the rope parts only. Scores are scaled by `softmax_scale` (which already
    includes yarn's mscale correction).

    ```mlir
    %y = janus.mla_attention %x q_a(%qa : tensor<48x128xbf16>) q_a_norm(%qan : tensor<48xbf16>)
        q_b(%qb : tensor<192x48xbf16>) kv_a(%kva : tensor<48x128xbf16>)
        kv_a_norm(%kvan : tensor<32xbf16>) kv_b(%kvb : tensor<256x32xbf16>)
        o(%wo : tensor<128x128xbf16>)
        {kv_lora_rank = 32 : i64, layer = 0 : i64, norm_eps = 9.99999997E-7 : f32,
         num_heads = 4 : i64, q_lora_rank = 48 : i64, qk_nope_head_dim = 32 : i64,
         qk_rope_head_dim = 16 : i64, rope = #janus.rope<theta = 1.000000e+04,
         style = interleaved, rotary_dim = 16>, softmax_scale = 0.144337565 : f32,
         v_head_dim = 32 : i64}
        : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x,
      Optional<Janus_Weight2D>:$q_proj, Optional<Janus_Weight2D>:$q_a,
      Optional<Janus_Weight1D>:$q_a_norm, Optional<Janus_Weight2D>:$q_b,
      Janus_Weight2D:$kv_a, Janus_Weight1D:$kv_a_norm, Janus_Weight2D:$kv_b,
      Janus_Weight2D:$o,
      I64Attr:$layer, I64Attr:$num_heads, I64Attr:$q_lora_rank, I64Attr:$kv_lora_rank,
      I64Attr:$qk_nope_head_dim, I64Attr:$qk_rope_head_dim, I64Attr:$v_head_dim,
      F32Attr:$norm_eps, F32Attr:$softmax_scale, Janus_RopeAttr:$rope);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x
    (`q_proj` `(` $q_proj^ `:` type($q_proj) `)`)?
    (`q_a` `(` $q_a^ `:` type($q_a) `)`)?
    (`q_a_norm` `(` $q_a_norm^ `:` type($q_a_norm) `)`)?
    (`q_b` `(` $q_b^ `:` type($q_b) `)`)?
    `kv_a` `(` $kv_a `:` type($kv_a) `)` `kv_a_norm` `(` $kv_a_norm `:` type($kv_a_norm) `)`
    `kv_b` `(` $kv_b `:` type($kv_b) `)` `o` `(` $o `:` type($o) `)`
    attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def Janus_MlpOp : Janus_Op<"mlp", [Pure, AllTypesMatch<["x", "result"]>]> {
  let summary = "SiLU-gated MLP of a dense layer";
  let description = [{
    `down(silu(gate x) * up x)` with `gate, up : [intermediate, hidden]`,
    `down : [hidden, intermediate]`.

    ```mlir
    %y = janus.mlp %x gate(%g : tensor<256x128xbf16>) up(%u : tensor<256x128xbf16>)
        down(%d : tensor<128x256xbf16>) : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Weight2D:$gate, Janus_Weight2D:$up,
                       Janus_Weight2D:$down);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `gate` `(` $gate `:` type($gate) `)` `up` `(` $up `:` type($up) `)`
    `down` `(` $down `:` type($down) `)` attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def Janus_SharedExpertOp : Janus_Op<"shared_expert", [Pure, AllTypesMatch<["x", "result"]>]> {
  let summary = "an MLP every token of an MoE layer runs";
  let description = [{
    Like `janus.mlp`; with `sigmoid_gate` (`[1, hidden]`, Qwen2-MoE's `shared_expert_gate`)
    the output is multiplied by `sigmoid(x . sigmoid_gate)`. DeepSeek's shared experts are one
    wide MLP.

    ```mlir
    %s = janus.shared_expert %x gate(%g : tensor<64x128xbf16>) up(%u : tensor<64x128xbf16>)
        down(%d : tensor<128x64xbf16>) sigmoid_gate(%sg : tensor<1x128xbf16>) : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Weight2D:$gate, Janus_Weight2D:$up,
                       Janus_Weight2D:$down, Optional<Janus_Weight2D>:$sigmoid_gate);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `gate` `(` $gate `:` type($gate) `)` `up` `(` $up `:` type($up) `)`
    `down` `(` $down `:` type($down) `)`
    (`sigmoid_gate` `(` $sigmoid_gate^ `:` type($sigmoid_gate) `)`)? attr-dict `:` type($x)
  }];
  let hasVerifier = 1;
}

def Janus_RouterOp : Janus_Op<"router", [Pure]> {
  let summary = "MoE gating: top-k experts and their weights per token";
  let description = [{
    `logits = x gate_wᵀ` in f32, scored with `scoring`; experts are selected on the scores plus
    `bias` (DeepSeek-V3's correction bias) when given, restricted to the `topk_group` best of
    `n_group` groups (scored by `group_scoring`) when `n_group > 1`. `weights` are the scores of
    the chosen experts (never biased), renormalised when `norm_topk_prob`, times
    `routed_scaling_factor`. `ids` are expert indices; ties go to the lower id. See
    ARCHITECTURE.md "Router semantics".

    ```mlir
    %w, %ids = janus.router %x gate(%g : tensor<8x128xbf16>)
        {norm_topk_prob = true, num_experts = 8 : i64, scoring = #janus<router_scoring softmax>,
         top_k = 2 : i64} : tensor<?x128xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Weight2D:$gate_w,
      Optional<Janus_Weight1D>:$bias,
      I64Attr:$num_experts, I64Attr:$top_k, Janus_RouterScoringAttr:$scoring,
      BoolAttr:$norm_topk_prob,
      DefaultValuedAttr<F32Attr, "1.0">:$routed_scaling_factor,
      DefaultValuedAttr<I64Attr, "1">:$n_group,
      DefaultValuedAttr<I64Attr, "1">:$topk_group,
      DefaultValuedAttr<Janus_GroupScoringAttr, "::mlir::janus::GroupScoring::top2_sum">
          :$group_scoring);
  let results = (outs Janus_Activation:$weights, Janus_TopKIds:$ids);
  let assemblyFormat = [{
    $x `gate` `(` $gate_w `:` type($gate_w) `)` (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($x) `->` type($weights) `,` type($ids)
  }];
  let hasVerifier = 1;
}

def Janus_ExpertsOp : Janus_Op<"experts", [Pure, AllTypesMatch<["x", "result"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "the routed experts of an MoE layer";
  let description = [{
    `result[t] = Σ_k weights[t, k] · down_e(silu(gate_e x[t]) * up_e x[t])` with
    `e = ids[t, k]`; `gate, up : [E, I, H]`, `down : [E, H, I]`. After `janus-schedule`,
    `assignment` holds the MoE GPU serving each (token, k) under `placement`, and a GPU computes
    only the pairs assigned to it (its partial sum); both are given or neither.

    ```mlir
    %y = janus.experts %x, %w, %ids gate(%G : tensor<8x64x128xbf16>) up(%U : tensor<8x64x128xbf16>)
        down(%D : tensor<8x128x64xbf16>) {layer = 1 : i64, num_experts = 8 : i64}
        : tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Activation:$weights, Janus_TopKIds:$ids,
      Janus_Weight3D:$gate, Janus_Weight3D:$up, Janus_Weight3D:$down,
      Optional<Janus_TopKIds>:$assignment,
      I64Attr:$layer, I64Attr:$num_experts, OptionalAttr<FlatSymbolRefAttr>:$placement);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `,` $weights `,` $ids `gate` `(` $gate `:` type($gate) `)` `up` `(` $up `:` type($up) `)`
    `down` `(` $down `:` type($down) `)`
    (`assignment` `(` $assignment^ `:` type($assignment) `)`)?
    attr-dict `:` type($x) `,` type($weights) `,` type($ids)
  }];
  let hasVerifier = 1;
}

def Janus_LmHeadOp : Janus_Op<"lm_head", [Pure]> {
  let summary = "output projection to vocabulary logits";
  let description = [{
    `x weightᵀ` with `weight : [vocab, hidden]` (the embedding table when tied).

    ```mlir
    %logits = janus.lm_head %x weight(%w : tensor<256x128xbf16>) : tensor<?x128xf32> -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Janus_Activation:$x, Janus_Weight2D:$weight);
  let results = (outs Janus_Activation:$result);
  let assemblyFormat = [{
    $x `weight` `(` $weight `:` type($weight) `)` attr-dict `:` type($x) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // JANUS_DIALECTS_JANUS_IR_JANUSCOMPUTEOPS_TD
