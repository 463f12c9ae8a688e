//===- ModelConfig.cpp - HuggingFace config.json, normalised --------------===//
//
// Defaults and family semantics follow transformers 5.17
// (models/*/configuration_*.py and the modeling files); docs/importer.md lists
// them per family.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/ModelConfig.h"

#include "dialects/janus/Import/ConfigParser.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir::janus;
using namespace mlir::janus::detail;
using llvm::StringRef;
namespace json = llvm::json;

static const StringRef kModelTypes[] = {
    "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v2", "deepseek_v3"};

llvm::ArrayRef<StringRef> mlir::janus::supportedModelTypeNames() {
  return kModelTypes;
}

int64_t ModelConfig::numMoeLayers() const {
  return llvm::count(layerIsMoe, true);
}

std::string mlir::janus::formatConfigDiagnostic(const ConfigDiagnostic &diag) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << diag.file;
  if (diag.line)
    os << ":" << diag.line << ":" << diag.column;
  switch (diag.severity) {
  case ConfigDiagnostic::Severity::Error:
    os << ": error: ";
    break;
  case ConfigDiagnostic::Severity::Warning:
    os << ": warning: ";
    break;
  case ConfigDiagnostic::Severity::Remark:
    os << ": remark: ";
    break;
  }
  os << diag.message;
  return out;
}

FamilyDefaults detail::defaultsFor(ModelFamily family) {
  switch (family) {
  case ModelFamily::Mixtral:
    return {1e-5, 4096 * 32, 1, 2, 1e6, 8};
  case ModelFamily::Qwen2Moe:
    return {1e-6, 32768, std::nullopt, std::nullopt, 1e4, 16};
  case ModelFamily::Qwen3Moe:
    return {1e-6, 32768, std::nullopt, std::nullopt, 1e4, 4};
  case ModelFamily::Olmoe:
    return {1e-5, 4096, std::nullopt, 50279, 1e4, 0};
  case ModelFamily::DeepseekV2:
    return {1e-6, 2048, 1, 2, 1e4, 0};
  case ModelFamily::DeepseekV3:
    return {1e-6, 4096, 0, 1, 1e4, 128};
  }
  return {};
}

bool ConfigParser::parseFamily() {
  std::optional<std::string> type = r.string("model_type");
  if (!type) {
    if (!r.present("model_type") || !r.has("model_type"))
      r.missing("model_type",
                "one of " + llvm::join(supportedModelTypeNames(), ", "));
    return false;
  }
  auto *it = llvm::find(kModelTypes, StringRef(*type));
  if (it == std::end(kModelTypes)) {
    r.error("model_type", "unknown model_type '" + *type + "' (supported: " +
                              llvm::join(supportedModelTypeNames(), ", ") +
                              ")");
    return false;
  }
  c.modelType = *type;
  c.family = static_cast<ModelFamily>(it - std::begin(kModelTypes));
  c.mla = isDeepseek(c.family);
  defaults = defaultsFor(c.family);
  return true;
}

void ConfigParser::parseCommon() {
  c.vocabSize = r.requireInt("vocab_size");
  c.hiddenSize = r.requireInt("hidden_size");
  c.numLayers = r.requireInt("num_hidden_layers");
  // A typo here would build (and print) a module of millions of ops.
  if (c.numLayers > kMaxLayers) {
    r.error("num_hidden_layers",
            "key 'num_hidden_layers': " + std::to_string(c.numLayers) +
                " is implausibly large (at most " + std::to_string(kMaxLayers) +
                ")");
    c.numLayers = 0;
  }
  c.numHeads = r.requireInt("num_attention_heads");
  c.maxPositionEmbeddings =
      r.optInt("max_position_embeddings", defaults.maxPositionEmbeddings);
  c.rmsNormEps =
      r.number("rms_norm_eps", defaults.rmsNormEps, /*positive=*/true);
  c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);

  if (std::optional<std::string> act = r.string("hidden_act");
      act && *act != "silu")
    r.error("hidden_act",
            "key 'hidden_act': only \"silu\" is supported, got \"" + *act +
                "\"");

  // bos: an integer or null; eos: an integer, a list of integers, or null.
  if (const json::Value *v = r.get("bos_token_id")) {
    if (v->kind() != json::Value::Null) {
      std::optional<int64_t> id = v->getAsInteger();
      if (!id || *id < 0)
        r.wrongType("bos_token_id", "a non-negative integer or null", *v);
      else
        c.bosTokenId = *id;
    }
  } else {
    c.bosTokenId = defaults.bos;
  }
  if (const json::Value *v = r.get("eos_token_id")) {
    if (const json::Array *list = v->getAsArray()) {
      for (const json::Value &e : *list) {
        std::optional<int64_t> id = e.getAsInteger();
        if (!id || *id < 0) {
          r.wrongType("eos_token_id", "an integer, a list of integers or null",
                      *v);
          break;
        }
        c.eosTokenIds.push_back(*id);
      }
    } else if (v->kind() != json::Value::Null) {
      std::optional<int64_t> id = v->getAsInteger();
      if (!id || *id < 0)
        r.wrongType("eos_token_id", "an integer, a list of integers or null",
                    *v);
      else
        c.eosTokenIds.push_back(*id);
    }
  } else if (defaults.eos) {
    c.eosTokenIds.push_back(*defaults.eos);
  }

  // transformers 5 writes `dtype`, older versions `torch_dtype`.
  std::optional<std::string> dtype = r.string("dtype");
  if (!dtype)
    dtype = r.string("torch_dtype");
  if (dtype && (*dtype == "float16" || *dtype == "half"))
    c.dtype = WeightDType::F16;
  else if (dtype && (*dtype == "float32" || *dtype == "float"))
    c.dtype = WeightDType::F32;

  // Only the first num_hidden_layers run (`self.layers[: num_hidden_layers]`);
  // DeepSeek-V3 may store multi-token-prediction layers after them.
  if (r.present("num_nextn_predict_layers"))
    c.numNextnPredictLayers = r.optInt("num_nextn_predict_layers", 0, 0);
  else if (r.present("num_mtp_layers"))
    c.numNextnPredictLayers = r.optInt("num_mtp_layers", 0, 0);
  else
    c.numNextnPredictLayers = c.family == ModelFamily::DeepseekV3 ? 1 : 0;

  if (const json::Value *q = r.get("quantization_config");
      q && q->kind() != json::Value::Null) {
    std::string summary;
    if (const json::Object *qo = q->getAsObject()) {
      for (StringRef key :
           {"quant_method", "fmt", "weight_block_size", "bits"}) {
        if (const json::Value *v = qo->get(key)) {
          if (!summary.empty())
            summary += ", ";
          std::optional<StringRef> s = v->getAsString();
          summary +=
              (key + "=" + (s ? s->str() : llvm::formatv("{0}", *v).str()))
                  .str();
        }
      }
    }
    if (summary.empty())
      summary = describeJson(*q);
    c.quantization = summary;
    size_t offset = r.offsetOf("quantization_config");
    if (offset != StringRef::npos) {
      StringRef before = r.text.take_front(offset);
      c.quantizationLine = before.count('\n') + 1;
      size_t lineStart = before.rfind('\n');
      c.quantizationColumn =
          offset - (lineStart == StringRef::npos ? 0 : lineStart + 1) + 1;
    }
  }
}

int64_t ConfigParser::numExperts() {
  if (cachedNumExperts)
    return *cachedNumExperts;
  cachedNumExperts = 0;
  // Families name the count differently (attribute_map aliases); accept any,
  // insist they agree.
  std::optional<int64_t> found;
  std::string foundKey;
  for (StringRef key :
       {"num_local_experts", "num_experts", "n_routed_experts"}) {
    if (!r.has(key))
      continue;
    std::optional<int64_t> n = r.integer(key, std::nullopt, 0);
    if (!n)
      return 0;
    if (found && *found != *n) {
      r.error(key, "key '" + key + "' = " + std::to_string(*n) +
                       " disagrees with '" + foundKey +
                       "' = " + std::to_string(*found));
      return 0;
    }
    found = n;
    foundKey = key.str();
  }
  if (!found) {
    r.missing("n_routed_experts",
              "the number of routed experts: one of num_local_experts, "
              "num_experts or n_routed_experts");
    return 0;
  }
  cachedNumExperts = *found;
  return *found;
}

void ConfigParser::parseLayerKinds() {
  if (!ok())
    return;
  int64_t layers = c.numLayers;
  c.layerIsMoe.assign(layers, true);
  switch (c.family) {
  case ModelFamily::Mixtral:
  case ModelFamily::Olmoe:
    break;
  case ModelFamily::Qwen2Moe:
  case ModelFamily::Qwen3Moe: {
    // A layer is sparse unless listed in mlp_only_layers or off the
    // decoder_sparse_step grid.
    int64_t step = r.optInt("decoder_sparse_step", 1);
    int64_t experts = numExperts();
    std::vector<int64_t> mlpOnly;
    if (const json::Value *v = r.get("mlp_only_layers");
        v && v->kind() != json::Value::Null) {
      const json::Array *list = v->getAsArray();
      if (!list)
        r.wrongType("mlp_only_layers", "a list of layer indices", *v);
      else
        for (const json::Value &e : *list) {
          std::optional<int64_t> i = e.getAsInteger();
          if (!i || *i < 0) {
            r.wrongType("mlp_only_layers", "a list of layer indices", *v);
            break;
          }
          mlpOnly.push_back(*i);
        }
    }
    for (int64_t i = 0; i < layers; ++i)
      c.layerIsMoe[i] =
          !llvm::is_contained(mlpOnly, i) && experts > 0 && (i + 1) % step == 0;
    break;
  }
  case ModelFamily::DeepseekV2:
  case ModelFamily::DeepseekV3: {
    int64_t firstDense =
        r.optInt("first_k_dense_replace",
                 c.family == ModelFamily::DeepseekV3 ? 3 : 0, 0);
    // transformers ignores moe_layer_freq (every layer from
    // first_k_dense_replace is MoE); a checkpoint made with another frequency
    // would not load there either.
    if (int64_t freq = r.optInt("moe_layer_freq", 1); freq != 1)
      r.error("moe_layer_freq",
              "key 'moe_layer_freq': only 1 is supported (transformers makes "
              "every layer from first_k_dense_replace an MoE layer), got " +
                  std::to_string(freq));
    for (int64_t i = 0; i < layers; ++i)
      c.layerIsMoe[i] = i >= firstDense;
    break;
  }
  }
  // Mixtral's and OLMoE's experts are intermediate_size wide; the others have
  // moe_intermediate_size and use intermediate_size for dense layers only.
  if (c.numMoeLayers() < layers || c.family == ModelFamily::Mixtral ||
      c.family == ModelFamily::Olmoe)
    c.intermediateSize = r.requireInt("intermediate_size");
}

void ConfigParser::parseGqa() {
  if (!ok())
    return;
  FamilyDefaults d = defaults;
  c.numKvHeads =
      r.optInt("num_key_value_heads", d.numKvHeads ? d.numKvHeads : c.numHeads);
  if (r.present("num_key_value_heads") && !r.has("num_key_value_heads"))
    c.numKvHeads =
        c.numHeads; // explicit null: __post_init__ copies num_attention_heads
  // head_dim: explicit (non-null) key, else hidden_size // num_attention_heads.
  c.headDim =
      r.has("head_dim") ? r.requireInt("head_dim") : c.hiddenSize / c.numHeads;
  if (c.headDim <= 0)
    r.error("num_attention_heads",
            "key 'num_attention_heads' (" + std::to_string(c.numHeads) +
                ") exceeds hidden_size (" + std::to_string(c.hiddenSize) + ")");
  if (c.numKvHeads > 0 && c.numHeads % c.numKvHeads != 0)
    r.error("num_key_value_heads", "key 'num_key_value_heads' (" +
                                       std::to_string(c.numKvHeads) +
                                       ") must divide num_attention_heads (" +
                                       std::to_string(c.numHeads) + ")");
  if (c.headDim % 2 != 0)
    r.error("head_dim", "the head dimension (" + std::to_string(c.headDim) +
                            ") must be even for RoPE");

  switch (c.family) {
  case ModelFamily::Mixtral:
    break;
  case ModelFamily::Qwen2Moe:
    c.qkvBias = r.boolean("qkv_bias", true);
    break;
  case ModelFamily::Qwen3Moe:
  case ModelFamily::Olmoe:
    // attention_bias also puts a bias on o_proj, which janus.attention does not
    // model.
    if (r.boolean("attention_bias", false))
      r.error("attention_bias",
              "key 'attention_bias': true is not supported for " + c.modelType +
                  " (it adds an o_proj bias)");
    c.qkNorm =
        c.family == ModelFamily::Qwen3Moe ? QkNormKind::Head : QkNormKind::Full;
    break;
  default:
    break;
  }
  if (c.family == ModelFamily::Olmoe) {
    if (c.headDim * c.numHeads != c.hiddenSize)
      r.error("head_dim", "olmoe: q_norm spans hidden_size, so head_dim * "
                          "num_attention_heads must "
                          "equal hidden_size (" +
                              std::to_string(c.hiddenSize) + ")");
    if (r.has("clip_qkv"))
      r.error(
          "clip_qkv",
          "key 'clip_qkv': q/k/v clipping is not supported (expected null)");
  }
  // Sliding windows change the mask only when narrower than the context.
  if (c.family == ModelFamily::Mixtral && r.has("sliding_window")) {
    int64_t window = r.requireInt("sliding_window");
    if (window && window < c.maxPositionEmbeddings)
      r.error("sliding_window",
              "key 'sliding_window': sliding-window attention is not supported "
              "(expected null or >= max_position_embeddings)");
  }
  if ((c.family == ModelFamily::Qwen2Moe ||
       c.family == ModelFamily::Qwen3Moe) &&
      r.boolean("use_sliding_window", false))
    r.error("use_sliding_window",
            "key 'use_sliding_window': sliding-window attention is not "
            "supported (expected false)");
  c.softmaxScale = 1.0 / std::sqrt(static_cast<double>(c.headDim));
}

void ConfigParser::parseMla() {
  if (!ok())
    return;
  if (!r.present("q_lora_rank"))
    r.missing("q_lora_rank", "an integer, or null for a plain q_proj");
  else if (r.has("q_lora_rank"))
    c.qLoraRank = r.requireInt("q_lora_rank");
  c.kvLoraRank = r.requireInt("kv_lora_rank");
  c.qkNopeHeadDim = r.requireInt("qk_nope_head_dim", 0);
  c.qkRopeHeadDim = r.requireInt("qk_rope_head_dim");
  c.vHeadDim = r.requireInt("v_head_dim");
  c.numKvHeads = c.numHeads;
  if (r.has("num_key_value_heads")) {
    int64_t kv = r.requireInt("num_key_value_heads");
    if (kv && kv != c.numHeads)
      r.error("num_key_value_heads",
              "key 'num_key_value_heads': MLA expands every head from the "
              "latent, so it must equal num_attention_heads (" +
                  std::to_string(c.numHeads) + "), got " + std::to_string(kv));
  }
  if (c.qkRopeHeadDim % 2 != 0)
    r.error("qk_rope_head_dim",
            "key 'qk_rope_head_dim' must be even for RoPE, got " +
                std::to_string(c.qkRopeHeadDim));
  if (r.boolean("attention_bias", false))
    r.error("attention_bias", "key 'attention_bias': true is not supported for "
                              "MLA (q_a/kv_a/o_proj biases)");
  if (c.family == ModelFamily::DeepseekV2 && r.boolean("mlp_bias", false))
    r.error("mlp_bias", "key 'mlp_bias': true is not supported (MLP biases)");
  // DeepSeek's head_dim key means the rope dim (configuration __post_init__
  // overwrites it).
  c.headDim = c.qkNopeHeadDim + c.qkRopeHeadDim;
}

std::optional<ModelConfig>
mlir::janus::parseModelConfig(StringRef configPath, StringRef text,
                              std::vector<ConfigDiagnostic> &diags) {
  llvm::Expected<json::Value> parsed = json::parse(text);
  if (!parsed) {
    // ParseError prints "[line:col, byte=N]: message".
    std::string message = llvm::toString(parsed.takeError());
    ConfigDiagnostic d;
    d.file = configPath.str();
    unsigned line = 0, column = 0;
    if (sscanf(message.c_str(), "[%u:%u", &line, &column) == 2) {
      d.line = line;
      d.column = column;
      size_t colon = message.find("]: ");
      if (colon != std::string::npos)
        message = message.substr(colon + 3);
    }
    d.message = "malformed JSON: " + message;
    diags.push_back(std::move(d));
    return std::nullopt;
  }
  const json::Object *root = parsed->getAsObject();
  if (!root) {
    diags.push_back({ConfigDiagnostic::Severity::Error, configPath.str(), 1, 1,
                     "expected a JSON object at the top level, got " +
                         describeJson(*parsed)});
    return std::nullopt;
  }
  ConfigParser parser(configPath, text, *root, diags);
  return parser.parse();
}

std::optional<ModelConfig>
mlir::janus::parseModelConfigFile(StringRef configPath,
                                  std::vector<ConfigDiagnostic> &diags) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(configPath, /*IsText=*/true);
  if (!buffer) {
    diags.push_back(
        {ConfigDiagnostic::Severity::Error, configPath.str(), 0, 0,
         "cannot read config.json: " + buffer.getError().message()});
    return std::nullopt;
  }
  return parseModelConfig(configPath, (*buffer)->getBuffer(), diags);
}
