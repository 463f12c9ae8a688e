"""Makes the reference checkpoints that ../shared/fixtures/hf/ lacks, with `transformers` itself.

Run on the GPU machine (it has torch + transformers):  OUT=/tmp/out python3 scripts/gpu/make_extra_fixtures.py
Each model is written with save_pretrained (bf16 safetensors) next to a reference.json in the same
schema as ../shared/fixtures/hf/README.md describes: float32 eager logits for every prompt position,
then 8 greedy steps with their logits.
"""
import json, os, traceback
import torch
import transformers as T

out = os.environ.get("OUT", "/tmp/out")
prompts = [[1, 17, 42, 99, 7, 300, 5, 64], [1, 250, 251, 3, 3, 3, 400, 12, 88, 9, 501, 2]]


def cfgs():
    # DeepSeek-V2-Lite's shape in small: MLA without the q low-rank projection, softmax router with
    # group-limited greedy top-k (group score = max), scaling without renormalisation, YaRN RoPE.
    yield "deepseekv2_tiny", T.DeepseekV2Config(
        vocab_size=512, hidden_size=128, intermediate_size=256, moe_intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, n_shared_experts=2,
        n_routed_experts=12, num_experts_per_tok=3, n_group=4, topk_group=2, topk_method="group_limited_greedy",
        first_k_dense_replace=1, kv_lora_rank=32, q_lora_rank=None, qk_rope_head_dim=16, v_head_dim=32,
        qk_nope_head_dim=32, routed_scaling_factor=1.5, norm_topk_prob=False, max_position_embeddings=256,
        initializer_range=0.08, tie_word_embeddings=False,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                         "original_max_position_embeddings": 64, "beta_fast": 32.0, "beta_slow": 1.0,
                         "mscale": 0.707, "mscale_all_dim": 0.707})
    # Tied embeddings and linear RoPE scaling on the Mixtral family.
    yield "mixtral_tied_tiny", T.MixtralConfig(
        vocab_size=512, hidden_size=96, intermediate_size=160, num_hidden_layers=3, num_attention_heads=6,
        num_key_value_heads=3, num_local_experts=6, num_experts_per_tok=3, max_position_embeddings=256,
        initializer_range=0.08, tie_word_embeddings=True,
        rope_parameters={"rope_type": "linear", "rope_theta": 50000.0, "factor": 2.0})
    # DeepSeek-V3 with YaRN (as published: factor 40, mscale 1.0) and no dense first layer.
    yield "deepseekv3_yarn_tiny", T.DeepseekV3Config(
        vocab_size=512, hidden_size=96, intermediate_size=192, moe_intermediate_size=48,
        num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=3, n_shared_experts=1, n_routed_experts=8,
        num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=0, kv_lora_rank=24, q_lora_rank=40,
        qk_rope_head_dim=8, v_head_dim=24, qk_nope_head_dim=24, routed_scaling_factor=2.5, norm_topk_prob=True,
        max_position_embeddings=256, initializer_range=0.08, tie_word_embeddings=False,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0,
                         "original_max_position_embeddings": 16, "beta_fast": 32.0, "beta_slow": 1.0,
                         "mscale": 1.0, "mscale_all_dim": 1.0})


for name, cfg in cfgs():
    try:
        torch.manual_seed(4321)
        cfg._attn_implementation = "eager"
        m = T.AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16)
        for n, p in m.named_parameters():
            if "e_score_correction_bias" in n: p.data.normal_(0, 0.05)
            elif "norm" in n: p.data.add_(torch.randn_like(p.data) * 0.1)
            elif n.endswith("bias"): p.data.normal_(0, 0.05)
        for n, b in m.named_buffers():
            if "e_score_correction_bias" in n: b.data.normal_(0, 0.05)
        d = os.path.join("/tmp/fx", name); m.save_pretrained(d)
        ref = T.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        rec = {"model": name, "transformers": T.__version__, "torch": torch.__version__, "cases": []}
        for p in prompts:
            ids = torch.tensor([p])
            with torch.no_grad():
                full = ref(ids).logits[0]
                g = ref.generate(ids, max_new_tokens=8, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=0)
            rec["cases"].append({"prompt": p, "prefill_logits": full.tolist(), "greedy": g.sequences[0, len(p):].tolist(),
                                 "decode_logits": [l[0].tolist() for l in g.logits]})
        json.dump(rec, open(os.path.join(d, "reference.json"), "w"))
        print("OK", name, sum(p.numel() for p in m.parameters()), json.dumps(json.load(open(os.path.join(d, "config.json")))))
    except Exception:
        traceback.print_exc()
os.system(f"cd /tmp/fx && tar czf {out}/extra_fixtures.tgz . && ls -la {out}")
