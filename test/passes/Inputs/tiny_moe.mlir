// A 3-layer model in the janus dialect, as the importer produces it (synthetic weights):
// layer 0 dense, layer 1 MoE with a gated shared expert (Qwen2-MoE style), layer 2 MoE without.
// hidden 16, vocabulary 32, 2 heads of 8, 4 experts of intermediate size 8, top-2.
module attributes {janus.model_type = "qwen2_moe", janus.checkpoint_dir = "tiny",
                   janus.vocab_size = 32 : i64, janus.hidden_size = 16 : i64,
                   janus.num_layers = 3 : i64, janus.max_position_embeddings = 64 : i64,
                   janus.bos_token_id = 1 : i64, janus.eos_token_ids = array<i64: 2>,
                   janus.synthetic_weights_seed = 7 : i64} {
  janus.weight @embed : tensor<32x16xbf16> {files = [], names = ["model.embed_tokens.weight"]}
  janus.weight @l0_in : tensor<16xbf16> {files = [], names = ["model.layers.0.input_layernorm.weight"]}
  janus.weight @l0_q : tensor<16x16xbf16> {files = [], names = ["model.layers.0.self_attn.q_proj.weight"]}
  janus.weight @l0_k : tensor<16x16xbf16> {files = [], names = ["model.layers.0.self_attn.k_proj.weight"]}
  janus.weight @l0_v : tensor<16x16xbf16> {files = [], names = ["model.layers.0.self_attn.v_proj.weight"]}
  janus.weight @l0_o : tensor<16x16xbf16> {files = [], names = ["model.layers.0.self_attn.o_proj.weight"]}
  janus.weight @l0_post : tensor<16xbf16> {files = [], names = ["model.layers.0.post_attention_layernorm.weight"]}
  janus.weight @l0_gate : tensor<32x16xbf16> {files = [], names = ["model.layers.0.mlp.gate_proj.weight"]}
  janus.weight @l0_up : tensor<32x16xbf16> {files = [], names = ["model.layers.0.mlp.up_proj.weight"]}
  janus.weight @l0_down : tensor<16x32xbf16> {files = [], names = ["model.layers.0.mlp.down_proj.weight"]}
  janus.weight @l1_in : tensor<16xbf16> {files = [], names = ["model.layers.1.input_layernorm.weight"]}
  janus.weight @l1_q : tensor<16x16xbf16> {files = [], names = ["model.layers.1.self_attn.q_proj.weight"]}
  janus.weight @l1_k : tensor<16x16xbf16> {files = [], names = ["model.layers.1.self_attn.k_proj.weight"]}
  janus.weight @l1_v : tensor<16x16xbf16> {files = [], names = ["model.layers.1.self_attn.v_proj.weight"]}
  janus.weight @l1_o : tensor<16x16xbf16> {files = [], names = ["model.layers.1.self_attn.o_proj.weight"]}
  janus.weight @l1_post : tensor<16xbf16> {files = [], names = ["model.layers.1.post_attention_layernorm.weight"]}
  janus.weight @l1_router : tensor<4x16xbf16> {files = [], names = ["model.layers.1.mlp.gate.weight"]}
  janus.weight @l1_eg : tensor<4x8x16xbf16> {files = [], names = ["model.layers.1.mlp.experts.0.gate_proj.weight", "model.layers.1.mlp.experts.1.gate_proj.weight", "model.layers.1.mlp.experts.2.gate_proj.weight", "model.layers.1.mlp.experts.3.gate_proj.weight"]}
  janus.weight @l1_eu : tensor<4x8x16xbf16> {files = [], names = ["model.layers.1.mlp.experts.0.up_proj.weight", "model.layers.1.mlp.experts.1.up_proj.weight", "model.layers.1.mlp.experts.2.up_proj.weight", "model.layers.1.mlp.experts.3.up_proj.weight"]}
  janus.weight @l1_ed : tensor<4x16x8xbf16> {files = [], names = ["model.layers.1.mlp.experts.0.down_proj.weight", "model.layers.1.mlp.experts.1.down_proj.weight", "model.layers.1.mlp.experts.2.down_proj.weight", "model.layers.1.mlp.experts.3.down_proj.weight"]}
  janus.weight @l1_sg : tensor<8x16xbf16> {files = [], names = ["model.layers.1.mlp.shared_expert.gate_proj.weight"]}
  janus.weight @l1_su : tensor<8x16xbf16> {files = [], names = ["model.layers.1.mlp.shared_expert.up_proj.weight"]}
  janus.weight @l1_sd : tensor<16x8xbf16> {files = [], names = ["model.layers.1.mlp.shared_expert.down_proj.weight"]}
  janus.weight @l1_sgate : tensor<1x16xbf16> {files = [], names = ["model.layers.1.mlp.shared_expert_gate.weight"]}
  janus.weight @l2_in : tensor<16xbf16> {files = [], names = ["model.layers.2.input_layernorm.weight"]}
  janus.weight @l2_q : tensor<16x16xbf16> {files = [], names = ["model.layers.2.self_attn.q_proj.weight"]}
  janus.weight @l2_k : tensor<16x16xbf16> {files = [], names = ["model.layers.2.self_attn.k_proj.weight"]}
  janus.weight @l2_v : tensor<16x16xbf16> {files = [], names = ["model.layers.2.self_attn.v_proj.weight"]}
  janus.weight @l2_o : tensor<16x16xbf16> {files = [], names = ["model.layers.2.self_attn.o_proj.weight"]}
  janus.weight @l2_post : tensor<16xbf16> {files = [], names = ["model.layers.2.post_attention_layernorm.weight"]}
  janus.weight @l2_router : tensor<4x16xbf16> {files = [], names = ["model.layers.2.mlp.gate.weight"]}
  janus.weight @l2_eg : tensor<4x8x16xbf16> {files = [], names = ["model.layers.2.mlp.experts.0.gate_proj.weight", "model.layers.2.mlp.experts.1.gate_proj.weight", "model.layers.2.mlp.experts.2.gate_proj.weight", "model.layers.2.mlp.experts.3.gate_proj.weight"]}
  janus.weight @l2_eu : tensor<4x8x16xbf16> {files = [], names = ["model.layers.2.mlp.experts.0.up_proj.weight", "model.layers.2.mlp.experts.1.up_proj.weight", "model.layers.2.mlp.experts.2.up_proj.weight", "model.layers.2.mlp.experts.3.up_proj.weight"]}
  janus.weight @l2_ed : tensor<4x16x8xbf16> {files = [], names = ["model.layers.2.mlp.experts.0.down_proj.weight", "model.layers.2.mlp.experts.1.down_proj.weight", "model.layers.2.mlp.experts.2.down_proj.weight", "model.layers.2.mlp.experts.3.down_proj.weight"]}
  janus.weight @norm : tensor<16xbf16> {files = [], names = ["model.norm.weight"]}

  func.func @forward(%ids: tensor<?xi32>) -> tensor<?x32xf32> {
    %embed = janus.weight_ref @embed : tensor<32x16xbf16>
    %x0 = janus.embedding %ids table(%embed : tensor<32x16xbf16>) : tensor<?xi32> -> tensor<?x16xf32>

    // Layer 0: dense.
    %l0_in = janus.weight_ref @l0_in : tensor<16xbf16>
    %l0_q = janus.weight_ref @l0_q : tensor<16x16xbf16>
    %l0_k = janus.weight_ref @l0_k : tensor<16x16xbf16>
    %l0_v = janus.weight_ref @l0_v : tensor<16x16xbf16>
    %l0_o = janus.weight_ref @l0_o : tensor<16x16xbf16>
    %l0_post = janus.weight_ref @l0_post : tensor<16xbf16>
    %l0_gate = janus.weight_ref @l0_gate : tensor<32x16xbf16>
    %l0_up = janus.weight_ref @l0_up : tensor<32x16xbf16>
    %l0_down = janus.weight_ref @l0_down : tensor<16x32xbf16>
    %h0 = janus.rms_norm %x0 weight(%l0_in : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %a0 = janus.attention %h0 q(%l0_q : tensor<16x16xbf16>) k(%l0_k : tensor<16x16xbf16>)
        v(%l0_v : tensor<16x16xbf16>) o(%l0_o : tensor<16x16xbf16>)
        {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64,
         rope = #janus.rope<theta = 10000.0, rotary_dim = 8>} : tensor<?x16xf32>
    %r0 = janus.add %x0, %a0 : tensor<?x16xf32>
    %p0 = janus.rms_norm %r0 weight(%l0_post : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %m0 = janus.mlp %p0 gate(%l0_gate : tensor<32x16xbf16>) up(%l0_up : tensor<32x16xbf16>)
        down(%l0_down : tensor<16x32xbf16>) : tensor<?x16xf32>
    %x1 = janus.add %r0, %m0 : tensor<?x16xf32>

    // Layer 1: MoE with a gated shared expert.
    %l1_in = janus.weight_ref @l1_in : tensor<16xbf16>
    %l1_q = janus.weight_ref @l1_q : tensor<16x16xbf16>
    %l1_k = janus.weight_ref @l1_k : tensor<16x16xbf16>
    %l1_v = janus.weight_ref @l1_v : tensor<16x16xbf16>
    %l1_o = janus.weight_ref @l1_o : tensor<16x16xbf16>
    %l1_post = janus.weight_ref @l1_post : tensor<16xbf16>
    %l1_router = janus.weight_ref @l1_router : tensor<4x16xbf16>
    %l1_eg = janus.weight_ref @l1_eg : tensor<4x8x16xbf16>
    %l1_eu = janus.weight_ref @l1_eu : tensor<4x8x16xbf16>
    %l1_ed = janus.weight_ref @l1_ed : tensor<4x16x8xbf16>
    %l1_sg = janus.weight_ref @l1_sg : tensor<8x16xbf16>
    %l1_su = janus.weight_ref @l1_su : tensor<8x16xbf16>
    %l1_sd = janus.weight_ref @l1_sd : tensor<16x8xbf16>
    %l1_sgate = janus.weight_ref @l1_sgate : tensor<1x16xbf16>
    %h1 = janus.rms_norm %x1 weight(%l1_in : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %a1 = janus.attention %h1 q(%l1_q : tensor<16x16xbf16>) k(%l1_k : tensor<16x16xbf16>)
        v(%l1_v : tensor<16x16xbf16>) o(%l1_o : tensor<16x16xbf16>)
        {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64,
         rope = #janus.rope<theta = 10000.0, rotary_dim = 8>} : tensor<?x16xf32>
    %r1 = janus.add %x1, %a1 : tensor<?x16xf32>
    %p1 = janus.rms_norm %r1 weight(%l1_post : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %w1, %i1 = janus.router %p1 gate(%l1_router : tensor<4x16xbf16>)
        {num_experts = 4 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>,
         norm_topk_prob = false} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %e1 = janus.experts %p1, %w1, %i1 gate(%l1_eg : tensor<4x8x16xbf16>) up(%l1_eu : tensor<4x8x16xbf16>)
        down(%l1_ed : tensor<4x16x8xbf16>) {layer = 1 : i64, num_experts = 4 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    %s1 = janus.shared_expert %p1 gate(%l1_sg : tensor<8x16xbf16>) up(%l1_su : tensor<8x16xbf16>)
        down(%l1_sd : tensor<16x8xbf16>) sigmoid_gate(%l1_sgate : tensor<1x16xbf16>) : tensor<?x16xf32>
    %m1 = janus.add %e1, %s1 : tensor<?x16xf32>
    %x2 = janus.add %r1, %m1 : tensor<?x16xf32>

    // Layer 2: MoE without a shared expert.
    %l2_in = janus.weight_ref @l2_in : tensor<16xbf16>
    %l2_q = janus.weight_ref @l2_q : tensor<16x16xbf16>
    %l2_k = janus.weight_ref @l2_k : tensor<16x16xbf16>
    %l2_v = janus.weight_ref @l2_v : tensor<16x16xbf16>
    %l2_o = janus.weight_ref @l2_o : tensor<16x16xbf16>
    %l2_post = janus.weight_ref @l2_post : tensor<16xbf16>
    %l2_router = janus.weight_ref @l2_router : tensor<4x16xbf16>
    %l2_eg = janus.weight_ref @l2_eg : tensor<4x8x16xbf16>
    %l2_eu = janus.weight_ref @l2_eu : tensor<4x8x16xbf16>
    %l2_ed = janus.weight_ref @l2_ed : tensor<4x16x8xbf16>
    %h2 = janus.rms_norm %x2 weight(%l2_in : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %a2 = janus.attention %h2 q(%l2_q : tensor<16x16xbf16>) k(%l2_k : tensor<16x16xbf16>)
        v(%l2_v : tensor<16x16xbf16>) o(%l2_o : tensor<16x16xbf16>)
        {layer = 2 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 8 : i64,
         rope = #janus.rope<theta = 10000.0, rotary_dim = 8>} : tensor<?x16xf32>
    %r2 = janus.add %x2, %a2 : tensor<?x16xf32>
    %p2 = janus.rms_norm %r2 weight(%l2_post : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %w2, %i2 = janus.router %p2 gate(%l2_router : tensor<4x16xbf16>)
        {num_experts = 4 : i64, top_k = 2 : i64, scoring = #janus<router_scoring softmax>,
         norm_topk_prob = true} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %e2 = janus.experts %p2, %w2, %i2 gate(%l2_eg : tensor<4x8x16xbf16>) up(%l2_eu : tensor<4x8x16xbf16>)
        down(%l2_ed : tensor<4x16x8xbf16>) {layer = 2 : i64, num_experts = 4 : i64}
        : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>
    %x3 = janus.add %r2, %e2 : tensor<?x16xf32>

    %norm = janus.weight_ref @norm : tensor<16xbf16>
    %f = janus.rms_norm %x3 weight(%norm : tensor<16xbf16>) {eps = 1.0e-6 : f32} : tensor<?x16xf32>
    %logits = janus.lm_head %f weight(%embed : tensor<32x16xbf16>) : tensor<?x16xf32> -> tensor<?x32xf32>
    return %logits : tensor<?x32xf32>
  }
}
