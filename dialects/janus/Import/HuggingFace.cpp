//===- HuggingFace.cpp - Import HF checkpoints into `janus` ---------------===//
//
// config.json -> ModelConfig -> WeightLayout -> (checked checkpoint) -> module.
// The forward function follows the decoder layer of every family in
// transformers:
//   x = embed(ids)
//   per layer: x += attn(rms_norm(x)); x += ffn(rms_norm(x))
//     ffn = mlp                                   (dense layers)
//         | experts(router(h)) [+ shared_expert(h)] (MoE layers)
//   logits = lm_head(rms_norm(x))
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/HuggingFace.h"

#include "dialects/janus/IR/JanusOps.h"
#include "dialects/janus/Import/CheckpointCheck.h"
#include "dialects/janus/Import/ModelConfig.h"
#include "dialects/janus/Import/WeightLayout.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::janus;

llvm::ArrayRef<llvm::StringRef> mlir::janus::supportedModelTypes() {
  return supportedModelTypeNames();
}

namespace {

Location configLoc(MLIRContext *context, const ConfigDiagnostic &d) {
  return FileLineColLoc::get(context, d.file, d.line, d.column);
}

/// Re-emits the config parser's diagnostics as MLIR diagnostics.
void emitConfigDiagnostics(MLIRContext *context,
                           ArrayRef<ConfigDiagnostic> diags) {
  for (const ConfigDiagnostic &d : diags) {
    Location loc = configLoc(context, d);
    switch (d.severity) {
    case ConfigDiagnostic::Severity::Error:
      emitError(loc) << d.message;
      break;
    case ConfigDiagnostic::Severity::Warning:
      emitWarning(loc) << d.message;
      break;
    case ConfigDiagnostic::Severity::Remark:
      emitRemark(loc) << d.message;
      break;
    }
  }
}

Type elementType(MLIRContext *context, WeightDType dtype) {
  switch (dtype) {
  case WeightDType::BF16:
    return BFloat16Type::get(context);
  case WeightDType::F16:
    return Float16Type::get(context);
  case WeightDType::F32:
    return Float32Type::get(context);
  }
  return BFloat16Type::get(context);
}

class ModuleEmitter {
public:
  ModuleEmitter(MLIRContext *context, const ModelConfig &config,
                const WeightLayout &layout)
      : context(context), config(config), layout(layout), builder(context),
        loc(FileLineColLoc::get(context, config.configPath, 0, 0)) {}

  OwningOpRef<ModuleOp> emit(StringRef checkpointDir,
                             const CheckedCheckpoint *checked,
                             std::optional<uint64_t> syntheticSeed);

private:
  void emitModuleAttributes(ModuleOp module, StringRef checkpointDir,
                            std::optional<uint64_t> syntheticSeed);
  void emitWeights(const CheckedCheckpoint *checked);
  void emitForward();
  Value emitAttention(int64_t layer, const LayerWeights &lw, Value h);
  Value emitFfn(int64_t layer, const LayerWeights &lw, Value h);

  /// A fresh janus.weight_ref of weight `index` (null Value for -1).
  Value ref(int index) {
    if (index < 0)
      return Value();
    WeightOp weight = weightOps[index];
    return WeightRefOp::create(builder, loc, weight.getType(),
                               weight.getSymName())
        .getResult();
  }
  Value rmsNorm(Value x, int weight, double eps) {
    return RmsNormOp::create(builder, loc, x.getType(), x, ref(weight),
                             builder.getF32FloatAttr(eps))
        .getResult();
  }
  RopeAttr ropeAttr() const;

  MLIRContext *context;
  const ModelConfig &config;
  const WeightLayout &layout;
  OpBuilder builder;
  Location loc;
  std::vector<WeightOp> weightOps;
  RankedTensorType activation;
};

RopeAttr ModuleEmitter::ropeAttr() const {
  const RopeConfig &r = config.rope;
  RopeScaling scaling = RopeScaling::none;
  if (r.scaling == RopeScalingKind::Linear)
    scaling = RopeScaling::linear;
  else if (r.scaling == RopeScalingKind::Yarn)
    scaling = RopeScaling::yarn;
  bool yarn = scaling == RopeScaling::yarn;
  // An absent mscale is 0 for transformers' `if mscale and mscale_all_dim`;
  // with no mscale_all_dim either, 1 (the attribute's default) means the same
  // and prints shorter.
  double mscale = yarn ? r.mscale : 1.0;
  if (yarn && r.mscale == 0.0 && r.mscaleAllDim == 0.0)
    mscale = 1.0;
  return RopeAttr::get(context, r.theta,
                       r.interleaved ? RopeStyle::interleaved
                                     : RopeStyle::half_split,
                       scaling, scaling == RopeScaling::none ? 1.0 : r.factor,
                       yarn ? r.originalMaxPosition : 0,
                       yarn ? r.betaFast : 32.0, yarn ? r.betaSlow : 1.0,
                       mscale, yarn ? r.mscaleAllDim : 0.0, r.rotaryDim);
}

OwningOpRef<ModuleOp>
ModuleEmitter::emit(StringRef checkpointDir, const CheckedCheckpoint *checked,
                    std::optional<uint64_t> syntheticSeed) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  emitModuleAttributes(*module, checkpointDir, syntheticSeed);
  builder.setInsertionPointToEnd(module->getBody());
  emitWeights(checked);
  emitForward();
  return module;
}

void ModuleEmitter::emitModuleAttributes(
    ModuleOp module, StringRef checkpointDir,
    std::optional<uint64_t> syntheticSeed) {
  auto i64 = [&](int64_t v) { return builder.getI64IntegerAttr(v); };
  module->setAttr("janus.model_type", builder.getStringAttr(config.modelType));
  module->setAttr("janus.checkpoint_dir", builder.getStringAttr(checkpointDir));
  module->setAttr("janus.vocab_size", i64(config.vocabSize));
  module->setAttr("janus.hidden_size", i64(config.hiddenSize));
  module->setAttr("janus.num_layers", i64(config.numLayers));
  module->setAttr("janus.max_position_embeddings",
                  i64(config.maxPositionEmbeddings));
  if (config.bosTokenId)
    module->setAttr("janus.bos_token_id", i64(*config.bosTokenId));
  module->setAttr("janus.eos_token_ids",
                  builder.getDenseI64ArrayAttr(config.eosTokenIds));
  if (syntheticSeed)
    module->setAttr("janus.synthetic_weights_seed",
                    i64(static_cast<int64_t>(*syntheticSeed)));
  if (config.mla && config.numNextnPredictLayers > 0)
    module->setAttr("janus.mtp_layers_left_out",
                    i64(config.numNextnPredictLayers));
}

void ModuleEmitter::emitWeights(const CheckedCheckpoint *checked) {
  SmallVector<FlatSymbolRefAttr> fileSyms;
  if (checked) {
    for (auto [i, file] : llvm::enumerate(checked->files)) {
      std::string sym = "f" + std::to_string(i);
      CheckpointFileOp::create(
          builder, loc, builder.getStringAttr(sym),
          builder.getStringAttr(file.relativePath),
          builder.getI64IntegerAttr(static_cast<int64_t>(file.size)),
          builder.getI64IntegerAttr(static_cast<int64_t>(file.headerChecksum)));
      fileSyms.push_back(FlatSymbolRefAttr::get(context, sym));
    }
  }
  for (auto [w, spec] : llvm::enumerate(layout.weights)) {
    WeightDType dtype = checked ? checked->weights[w].dtype : config.dtype;
    auto type =
        RankedTensorType::get(spec.weightShape(), elementType(context, dtype));
    SmallVector<Attribute> files, names;
    if (checked)
      for (int f : checked->weights[w].files)
        files.push_back(fileSyms[f]);
    for (const std::string &name : spec.tensors)
      names.push_back(builder.getStringAttr(name));
    weightOps.push_back(WeightOp::create(
        builder, loc, builder.getStringAttr(spec.symbol), TypeAttr::get(type),
        builder.getArrayAttr(files), builder.getArrayAttr(names)));
  }
}

Value ModuleEmitter::emitAttention(int64_t layer, const LayerWeights &lw,
                                   Value h) {
  auto i64 = [&](int64_t v) { return builder.getI64IntegerAttr(v); };
  // Operands are materialised in order first: argument evaluation order is
  // unspecified, and the printed module must not depend on the compiler.
  if (config.mla) {
    Value qProj = ref(lw.qProj), qA = ref(lw.qA), qANorm = ref(lw.qANorm),
          qB = ref(lw.qB);
    Value kvA = ref(lw.kvA), kvANorm = ref(lw.kvANorm), kvB = ref(lw.kvB),
          o = ref(lw.o);
    return MlaAttentionOp::create(
               builder, loc, h.getType(), h, qProj, qA, qANorm, qB, kvA,
               kvANorm, kvB, o, i64(layer), i64(config.numHeads),
               i64(config.qLoraRank), i64(config.kvLoraRank),
               i64(config.qkNopeHeadDim), i64(config.qkRopeHeadDim),
               i64(config.vHeadDim), builder.getF32FloatAttr(config.mlaNormEps),
               builder.getF32FloatAttr(config.softmaxScale), ropeAttr())
        .getResult();
  }
  QkNorm qkNorm = config.qkNorm == QkNormKind::Head   ? QkNorm::head
                  : config.qkNorm == QkNormKind::Full ? QkNorm::full
                                                      : QkNorm::none;
  Value q = ref(lw.q), k = ref(lw.k), v = ref(lw.v), o = ref(lw.o);
  Value qBias = ref(lw.qBias), kBias = ref(lw.kBias), vBias = ref(lw.vBias);
  Value qNorm = ref(lw.qNorm), kNorm = ref(lw.kNorm);
  return AttentionOp::create(
             builder, loc, h.getType(), h, q, k, v, o, qBias, kBias, vBias,
             qNorm, kNorm, i64(layer), i64(config.numHeads),
             i64(config.numKvHeads), i64(config.headDim), ropeAttr(),
             QkNormAttr::get(context, qkNorm),
             // Without q/k norms the eps means nothing: keep the default.
             builder.getF32FloatAttr(
                 qkNorm == QkNorm::none ? 1e-6 : config.rmsNormEps))
      .getResult();
}

Value ModuleEmitter::emitFfn(int64_t layer, const LayerWeights &lw, Value h) {
  if (!config.layerIsMoe[layer]) {
    Value gate = ref(lw.mlpGate), up = ref(lw.mlpUp), down = ref(lw.mlpDown);
    return MlpOp::create(builder, loc, h.getType(), h, gate, up, down)
        .getResult();
  }

  const RouterConfig &rt = config.router;
  auto dynamic = ShapedType::kDynamic;
  auto weightsType =
      RankedTensorType::get({dynamic, rt.topK}, builder.getF32Type());
  auto idsType =
      RankedTensorType::get({dynamic, rt.topK}, builder.getI32Type());
  Value gateW = ref(lw.router), bias = ref(lw.routerBias);
  auto router = RouterOp::create(
      builder, loc, weightsType, idsType, h, gateW, bias,
      builder.getI64IntegerAttr(rt.numExperts),
      builder.getI64IntegerAttr(rt.topK),
      RouterScoringAttr::get(context, rt.scoring == RouterScoringKind::Sigmoid
                                          ? RouterScoring::sigmoid
                                          : RouterScoring::softmax),
      builder.getBoolAttr(rt.normTopkProb),
      builder.getF32FloatAttr(rt.routedScalingFactor),
      builder.getI64IntegerAttr(rt.nGroup),
      builder.getI64IntegerAttr(rt.topkGroup),
      GroupScoringAttr::get(context, rt.groupScoring == GroupScoringKind::Max
                                         ? GroupScoring::max
                                         : GroupScoring::top2_sum));
  Value expertsGate = ref(lw.expertsGate), expertsUp = ref(lw.expertsUp),
        expertsDown = ref(lw.expertsDown);
  Value routed = ExpertsOp::create(
                     builder, loc, h.getType(), h, router.getWeights(),
                     router.getIds(), expertsGate, expertsUp, expertsDown,
                     /*assignment=*/Value(), builder.getI64IntegerAttr(layer),
                     builder.getI64IntegerAttr(rt.numExperts),
                     /*placement=*/FlatSymbolRefAttr())
                     .getResult();
  if (lw.sharedGate < 0)
    return routed;
  // transformers adds the shared expert to the routed output, then the
  // residual.
  Value sharedGate = ref(lw.sharedGate), sharedUp = ref(lw.sharedUp),
        sharedDown = ref(lw.sharedDown),
        sigmoidGate = ref(lw.sharedSigmoidGate);
  Value shared =
      SharedExpertOp::create(builder, loc, h.getType(), h, sharedGate, sharedUp,
                             sharedDown, sigmoidGate)
          .getResult();
  return AddOp::create(builder, loc, h.getType(), routed, shared).getResult();
}

void ModuleEmitter::emitForward() {
  auto dynamic = ShapedType::kDynamic;
  auto idsType = RankedTensorType::get({dynamic}, builder.getI32Type());
  activation =
      RankedTensorType::get({dynamic, config.hiddenSize}, builder.getF32Type());
  auto logitsType =
      RankedTensorType::get({dynamic, config.vocabSize}, builder.getF32Type());
  auto func =
      func::FuncOp::create(builder, loc, "forward",
                           builder.getFunctionType({idsType}, {logitsType}));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(func.addEntryBlock());

  Value x = EmbeddingOp::create(builder, loc, activation, func.getArgument(0),
                                ref(layout.embedding))
                .getResult();
  for (auto [layer, lw] : llvm::enumerate(layout.layers)) {
    Value h = rmsNorm(x, lw.inputNorm, config.rmsNormEps);
    x = AddOp::create(builder, loc, activation, x, emitAttention(layer, lw, h))
            .getResult();
    h = rmsNorm(x, lw.postAttentionNorm, config.rmsNormEps);
    x = AddOp::create(builder, loc, activation, x, emitFfn(layer, lw, h))
            .getResult();
  }
  x = rmsNorm(x, layout.finalNorm, config.rmsNormEps);
  int head = layout.lmHead >= 0 ? layout.lmHead : layout.embedding;
  Value logits =
      LmHeadOp::create(builder, loc, logitsType, x, ref(head)).getResult();
  func::ReturnOp::create(builder, loc, logits);
}

} // namespace

OwningOpRef<ModuleOp>
mlir::janus::importHuggingFace(MLIRContext *context, llvm::StringRef modelDir,
                               const ImportOptions &options) {
  context->loadDialect<JanusDialect, func::FuncDialect>();
  Location unknown = UnknownLoc::get(context);

  // MODEL_DIR is a checkpoint folder, or (for --synthetic-weights) a
  // config.json itself.
  llvm::SmallString<256> dir(modelDir);
  if (std::error_code ec = llvm::sys::fs::make_absolute(dir)) {
    emitError(unknown) << "cannot resolve model directory '" << modelDir
                       << "': " << ec.message();
    return nullptr;
  }
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
  llvm::SmallString<256> configPath;
  if (llvm::sys::fs::is_regular_file(dir)) {
    configPath = dir;
    llvm::sys::path::remove_filename(dir);
    llvm::sys::path::remove_dots(dir, true);
    if (!dir.empty() && dir.back() == '/' && dir.size() > 1)
      dir.pop_back();
  } else if (!llvm::sys::fs::is_directory(dir)) {
    emitError(unknown) << "model directory '" << modelDir << "' does not exist";
    return nullptr;
  } else {
    configPath = dir;
    llvm::sys::path::append(configPath, "config.json");
    if (!llvm::sys::fs::exists(configPath)) {
      emitError(FileLineColLoc::get(context, configPath, 0, 0))
          << "missing config.json in model directory '" << dir << "'";
      return nullptr;
    }
  }

  std::vector<ConfigDiagnostic> diags;
  std::optional<ModelConfig> config = parseModelConfigFile(configPath, diags);
  emitConfigDiagnostics(context, diags);
  if (!config)
    return nullptr;

  Location quantLoc =
      FileLineColLoc::get(context, config->configPath, config->quantizationLine,
                          config->quantizationColumn);
  if (config->quantization) {
    if (!options.syntheticWeightsSeed) {
      emitError(quantLoc)
          << "quantised checkpoints are not supported yet: quantization_config "
             "("
          << *config->quantization
          << "); FP8 block-quantised weights (DeepSeek-V3 as published) need "
             "a bf16 checkpoint, or pass --synthetic-weights=SEED to compile "
             "the "
             "architecture with synthetic bf16 weights";
      return nullptr;
    }
    emitWarning(quantLoc) << "quantization_config (" << *config->quantization
                          << ") is ignored: the weights are synthetic bf16";
    config->dtype = WeightDType::BF16;
  }
  WeightLayout layout = buildWeightLayout(*config);
  CheckedCheckpoint checked;
  if (!options.syntheticWeightsSeed &&
      failed(checkCheckpoint(context, dir, *config, layout, checked)))
    return nullptr;
  if (config->mla && config->numNextnPredictLayers > 0) {
    InFlightDiagnostic remark =
        emitRemark(FileLineColLoc::get(context, config->configPath, 0, 0));
    remark << "left out the multi-token-prediction layer(s) "
           << config->numLayers;
    if (config->numNextnPredictLayers > 1)
      remark << ".." << config->numLayers + config->numNextnPredictLayers - 1;
    remark << " (num_nextn_predict_layers = " << config->numNextnPredictLayers;
    if (checked.mtpTensors)
      remark << "; " << checked.mtpTensors << " tensors in the checkpoint";
    remark << "): they are not part of the forward pass";
  }

  ModuleEmitter emitter(context, *config, layout);
  OwningOpRef<ModuleOp> module =
      emitter.emit(dir, options.syntheticWeightsSeed ? nullptr : &checked,
                   options.syntheticWeightsSeed);
  if (failed(verify(*module))) {
    emitError(unknown) << "internal error: the imported module does not verify";
    return nullptr;
  }
  return module;
}
