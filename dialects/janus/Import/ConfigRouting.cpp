//===- ConfigRouting.cpp - RoPE, router and shared experts of a config
//-----===//
//
// The parts of config.json whose semantics differ most between families; see
// docs/models.md for the table they implement (transformers 5.17).
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/ConfigParser.h"

using namespace mlir::janus;
using namespace mlir::janus::detail;
using llvm::StringRef;
namespace json = llvm::json;

void ConfigParser::parseRope() {
  if (!ok())
    return;
  RopeConfig &rope = c.rope;
  rope.rotaryDim = c.mla ? c.qkRopeHeadDim : c.headDim;
  // DeepSeek-V2 applies RoPE as complex products of consecutive pairs; V3 has a
  // switch.
  rope.interleaved = c.family == ModelFamily::DeepseekV2 ||
                     (c.family == ModelFamily::DeepseekV3 &&
                      r.boolean("rope_interleave", true));

  // A legacy `rope_scaling` wins over `rope_parameters`
  // (convert_rope_params_to_dict).
  StringRef paramsKey;
  const json::Object *params = nullptr;
  for (StringRef key : {"rope_scaling", "rope_parameters"}) {
    const json::Value *v = r.get(key);
    if (!v || v->kind() == json::Value::Null)
      continue;
    const json::Object *o = v->getAsObject();
    if (!o) {
      r.wrongType(key, "an object or null", *v);
      return;
    }
    if (o->empty())
      continue;
    params = o;
    paramsKey = key;
    break;
  }
  json::Object emptyObject;
  KeyReader p(r.path, r.text, params ? *params : emptyObject, diags,
              (paramsKey + ".").str(), params ? r.offsetOf(paramsKey) : 0);

  rope.theta = p.has("rope_theta")
                   ? p.number("rope_theta", defaults.ropeTheta, true)
                   : r.number("rope_theta", defaults.ropeTheta, true);
  std::string type = "default";
  if (std::optional<std::string> t = p.string("rope_type"))
    type = *t;
  else if (std::optional<std::string> t = p.string("type"))
    type = *t;
  std::optional<double> partial;
  if (p.has("partial_rotary_factor"))
    partial = p.number("partial_rotary_factor", 1.0, true);
  else if (r.has("partial_rotary_factor"))
    partial = r.number("partial_rotary_factor", 1.0, true);
  if (partial && *partial != 1.0)
    r.error("partial_rotary_factor",
            "key 'partial_rotary_factor': only 1.0 is supported");

  if (type == "default") {
    rope.scaling = RopeScalingKind::None;
  } else if (type == "linear") {
    rope.scaling = RopeScalingKind::Linear;
    if (!p.has("factor"))
      p.missing("factor", "the linear RoPE scaling factor");
    rope.factor = p.number("factor", 1.0, true);
  } else if (type == "yarn") {
    rope.scaling = RopeScalingKind::Yarn;
    // Top-level original_max_position_embeddings wins
    // (standardize_rope_params), then the dict's, then max_position_embeddings.
    if (r.has("original_max_position_embeddings"))
      rope.originalMaxPosition =
          r.requireInt("original_max_position_embeddings");
    else
      rope.originalMaxPosition =
          p.optInt("original_max_position_embeddings", c.maxPositionEmbeddings);
    if (!p.present("factor"))
      p.missing("factor", "the yarn scaling factor, or null");
    rope.factor = p.has("factor")
                      ? p.number("factor", 1.0, true)
                      : static_cast<double>(c.maxPositionEmbeddings) /
                            static_cast<double>(rope.originalMaxPosition);
    // `beta_fast or 32`: 0 and null fall back as well.
    rope.betaFast = p.number("beta_fast", 32.0, false);
    if (rope.betaFast == 0)
      rope.betaFast = 32.0;
    rope.betaSlow = p.number("beta_slow", 1.0, false);
    if (rope.betaSlow == 0)
      rope.betaSlow = 1.0;
    rope.mscale = p.number("mscale", 0.0, false);
    rope.mscaleAllDim = p.number("mscale_all_dim", 0.0, false);
    if (p.has("attention_factor"))
      p.error("attention_factor",
              "key " + p.name("attention_factor") +
                  ": an explicit yarn attention_factor is not supported");
    if (p.has("truncate") && !p.boolean("truncate", true))
      p.error("truncate",
              "key " + p.name("truncate") + ": only true is supported");
  } else {
    p.error(p.has("rope_type") ? "rope_type" : "type",
            "key " + p.name(p.has("rope_type") ? "rope_type" : "type") +
                ": unsupported RoPE type '" + type +
                "' (supported: default, linear, yarn)");
  }

  if (c.mla) {
    // yarn_apply_mscale: any non-default type with a truthy mscale_all_dim
    // rescales the logits.
    double scale =
        1.0 / std::sqrt(static_cast<double>(c.qkNopeHeadDim + c.qkRopeHeadDim));
    if (rope.scaling != RopeScalingKind::None) {
      double mscaleAllDim = p.number("mscale_all_dim", 0.0, false);
      if (mscaleAllDim != 0) {
        double m = yarnGetMscale(rope.factor, mscaleAllDim);
        scale *= m * m;
      }
    }
    c.softmaxScale = scale;
  }
}

void ConfigParser::parseMoe() {
  if (!ok())
    return;
  RouterConfig &rt = c.router;
  rt.numExperts = numExperts();
  rt.topK = r.requireInt("num_experts_per_tok");
  if (!ok())
    return;
  if (rt.numExperts < 1)
    r.error("num_experts", "an MoE layer needs at least one expert");
  if (rt.numExperts > kMaxExperts)
    r.error("n_routed_experts", "the number of experts (" +
                                    std::to_string(rt.numExperts) +
                                    ") is implausibly large (at most " +
                                    std::to_string(kMaxExperts) + ")");
  if (rt.topK > rt.numExperts)
    r.error("num_experts_per_tok", "key 'num_experts_per_tok' (" +
                                       std::to_string(rt.topK) +
                                       ") exceeds the number of experts (" +
                                       std::to_string(rt.numExperts) + ")");
  if (c.family == ModelFamily::Mixtral || c.family == ModelFamily::Olmoe)
    c.moeIntermediateSize = c.intermediateSize;
  else
    c.moeIntermediateSize = r.requireInt("moe_intermediate_size");

  auto groups = [&](int64_t defaultGroups, int64_t defaultTopkGroup) {
    std::optional<int64_t> g = r.integer(
        "n_group", defaultGroups ? std::optional(defaultGroups) : std::nullopt,
        1, /*nullIsDefault=*/false);
    std::optional<int64_t> tg = r.integer(
        "topk_group",
        defaultTopkGroup ? std::optional(defaultTopkGroup) : std::nullopt, 1,
        /*nullIsDefault=*/false);
    if (!g || !tg)
      return;
    rt.nGroup = *g;
    rt.topkGroup = *tg;
    if (rt.numExperts % rt.nGroup != 0) {
      r.error("n_group", "key 'n_group' (" + std::to_string(rt.nGroup) +
                             ") must divide the number of experts (" +
                             std::to_string(rt.numExperts) + ")");
      return;
    }
    if (rt.topkGroup > rt.nGroup)
      r.error("topk_group",
              "key 'topk_group' (" + std::to_string(rt.topkGroup) +
                  ") exceeds n_group (" + std::to_string(rt.nGroup) + ")");
    else if (rt.topK > rt.topkGroup * (rt.numExperts / rt.nGroup))
      r.error("num_experts_per_tok",
              "key 'num_experts_per_tok' (" + std::to_string(rt.topK) +
                  ") exceeds the experts in topk_group groups");
  };

  switch (c.family) {
  case ModelFamily::Mixtral:
    rt.normTopkProb = true; // MixtralTopKRouter always renormalises
    break;
  case ModelFamily::Qwen2Moe:
  case ModelFamily::Qwen3Moe:
  case ModelFamily::Olmoe:
    rt.normTopkProb = r.boolean("norm_topk_prob", false);
    break;
  case ModelFamily::DeepseekV2: {
    // DeepseekV2TopkRouter never renormalises, whatever norm_topk_prob says.
    if (r.boolean("norm_topk_prob", false))
      r.warning(
          "norm_topk_prob",
          "key 'norm_topk_prob' is ignored for deepseek_v2: transformers' "
          "router never renormalises the top-k weights");
    rt.routedScalingFactor = r.number("routed_scaling_factor", 1.0, true);
    std::string method = r.string("topk_method").value_or("greedy");
    if (method == "group_limited_greedy") {
      rt.groupScoring = GroupScoringKind::Max;
      groups(0, 0);
    } else if (method != "greedy") {
      r.error(
          "topk_method",
          "key 'topk_method': unsupported value '" + method +
              "' for deepseek_v2 (supported: greedy, group_limited_greedy)");
    }
    break;
  }
  case ModelFamily::DeepseekV3: {
    // DeepseekV3TopkRouter: sigmoid scores, correction bias, top-2-sum groups;
    // scoring_func and topk_method are not read by transformers.
    rt.scoring = RouterScoringKind::Sigmoid;
    rt.correctionBias = true;
    rt.groupScoring = GroupScoringKind::Top2Sum;
    rt.normTopkProb = r.boolean("norm_topk_prob", true);
    rt.routedScalingFactor = r.number("routed_scaling_factor", 2.5, true);
    if (std::optional<std::string> f = r.string("scoring_func");
        f && *f != "sigmoid")
      r.warning("scoring_func",
                "key 'scoring_func' = '" + *f +
                    "' is ignored: deepseek_v3 always scores with sigmoid");
    if (std::optional<std::string> m = r.string("topk_method");
        m && *m != "noaux_tc")
      r.warning("topk_method",
                "key 'topk_method' = '" + *m +
                    "' is ignored: deepseek_v3 always uses noaux_tc selection");
    groups(8, 4);
    if (ok() && rt.numExperts / rt.nGroup < 2)
      r.error("n_group",
              "deepseek_v3 scores a group by its top-2 experts: n_group (" +
                  std::to_string(rt.nGroup) +
                  ") leaves fewer than 2 per group");
    break;
  }
  }

  switch (c.family) {
  case ModelFamily::Qwen2Moe:
    c.sharedExpertIntermediateSize =
        r.requireInt("shared_expert_intermediate_size");
    c.sharedExpertGate = true;
    break;
  case ModelFamily::DeepseekV2:
  case ModelFamily::DeepseekV3: {
    std::optional<int64_t> n =
        r.integer("n_shared_experts",
                  c.family == ModelFamily::DeepseekV3 ? 1 : 2, 0, false);
    c.sharedExpertIntermediateSize = n ? *n * c.moeIntermediateSize : 0;
    break;
  }
  default:
    break;
  }
}
