//===- ExportPlan.cpp - Lower a scheduled module to the plan --------------===//
//
// Serialises a partitioned, placed, communicating and scheduled module into the
// runtime's plan (runtime/schema/plan.fbs). The interesting parts:
//  - Weights: one WeightRef per checkpoint tensor a partition actually uses; a
//  stacked weight
//    (the experts of a layer) expands into its per-expert tensors. The
//    checkpoint is re-opened and every file's size and header checksum compared
//    with what the importer recorded, so a plan is never built against a
//    checkpoint that changed since import.
//  - Programs: @forward is walked in order. Ops of @attention partitions and
//  the attention side of
//    comm ops go to programs[0], @moe partitions and the MoE side of comm ops
//    to programs[1]. Registers: one per SSA value of that side; partition block
//    arguments and results, and the results of a comm op on the side that
//    already holds the value, alias the register they stand for. Register 0 of
//    the attention program holds the step's token ids. Every phase of a comm op
//    names the same registers: the rows to send (sending side) and the rows
//    received (receiving side).
//
//===----------------------------------------------------------------------===//

#include "passes/PassUtils.h"
#include "passes/Pipeline.h"
#include "passes/PlanExporter.h"

#include "runtime/plan/plan.h"

#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::janus;

namespace mlir::janus::exporter {

static std::string statusMessage(const absl::Status &status) {
  return std::string(status.message().data(), status.message().size());
}

static FailureOr<jp::DType> planDType(Type type) {
  if (type.isF32())
    return jp::DType::F32;
  if (type.isF16())
    return jp::DType::F16;
  if (type.isBF16())
    return jp::DType::BF16;
  return failure();
}

static uint64_t dtypeBytes(jp::DType dtype) {
  return dtype == jp::DType::F32 || dtype == jp::DType::I32 ? 4 : 2;
}

std::unique_ptr<jp::RopeT> convertRope(RopeAttr rope) {
  auto out = std::make_unique<jp::RopeT>();
  out->theta = static_cast<float>(rope.getTheta());
  out->style = rope.getStyle() == RopeStyle::interleaved
                   ? jp::RopeStyle::Interleaved
                   : jp::RopeStyle::HalfSplit;
  switch (rope.getScaling()) {
  case RopeScaling::none:
    out->scaling = jp::RopeScaling::None;
    break;
  case RopeScaling::linear:
    out->scaling = jp::RopeScaling::Linear;
    break;
  case RopeScaling::yarn:
    out->scaling = jp::RopeScaling::Yarn;
    break;
  }
  out->factor = static_cast<float>(rope.getFactor());
  out->original_max_position =
      static_cast<int32_t>(rope.getOriginalMaxPosition());
  out->beta_fast = static_cast<float>(rope.getBetaFast());
  out->beta_slow = static_cast<float>(rope.getBetaSlow());
  out->mscale = static_cast<float>(rope.getMscale());
  out->mscale_all_dim = static_cast<float>(rope.getMscaleAllDim());
  out->rotary_dim = static_cast<int32_t>(rope.getRotaryDim());
  return out;
}

jp::CommStrategy planStrategy(CommStrategy strategy) {
  switch (strategy) {
  case CommStrategy::direct:
    return jp::CommStrategy::Direct;
  case CommStrategy::two_phase:
    return jp::CommStrategy::TwoPhase;
  case CommStrategy::relay:
    return jp::CommStrategy::Relay;
  }
  return jp::CommStrategy::Direct;
}

float attrFloat(FloatAttr attr) {
  return static_cast<float>(attr.getValueAsDouble());
}

LogicalResult PlanExporter::exportModelInfo() {
  auto model = std::make_unique<jp::ModelInfoT>();
  auto modelType = module->getAttrOfType<StringAttr>("janus.model_type");
  auto checkpointDir =
      module->getAttrOfType<StringAttr>("janus.checkpoint_dir");
  if (!modelType || !checkpointDir)
    return module.emitError(
        "plan export needs the module attributes janus.model_type and "
        "janus.checkpoint_dir (an imported module)");
  model->model_type = modelType.str();
  plan.checkpoint_dir = checkpointDir.str();
  auto getInt = [&](llvm::StringRef name, int64_t fallback) -> int64_t {
    auto attr = module->getAttrOfType<IntegerAttr>(name);
    return attr ? attr.getInt() : fallback;
  };
  model->vocab_size = static_cast<int32_t>(getInt("janus.vocab_size", 0));
  model->hidden_size = static_cast<int32_t>(getInt("janus.hidden_size", 0));
  model->num_layers = static_cast<int32_t>(getInt("janus.num_layers", 0));
  model->max_position_embeddings =
      static_cast<int32_t>(getInt("janus.max_position_embeddings", 0));
  model->bos_token_id = static_cast<int32_t>(getInt("janus.bos_token_id", -1));
  if (auto eos =
          module->getAttrOfType<DenseI64ArrayAttr>("janus.eos_token_ids"))
    for (int64_t id : eos.asArrayRef())
      model->eos_token_ids.push_back(static_cast<int32_t>(id));
  model->compute_dtype = jp::DType::F32;
  if (auto seed =
          module->getAttrOfType<IntegerAttr>("janus.synthetic_weights_seed")) {
    synthetic = true;
    plan.synthetic_weights_seed = seed.getInt();
  }
  plan.model = std::move(model);
  return success();
}

LogicalResult PlanExporter::exportFiles() {
  if (synthetic)
    return success();
  absl::StatusOr<::janus::Checkpoint> opened =
      ::janus::Checkpoint::Open(plan.checkpoint_dir);
  if (!opened.ok())
    return module.emitError()
           << "cannot re-open the checkpoint '" << plan.checkpoint_dir
           << "': " << statusMessage(opened.status());
  checkpoint.emplace(*std::move(opened));
  for (CheckpointFileOp file : module.getOps<CheckpointFileOp>()) {
    std::string path = file.getPath().str();
    const auto &names = checkpoint->file_names();
    auto it = std::find(names.begin(), names.end(), path);
    if (it == names.end())
      return file.emitOpError()
             << "checkpoint changed since import: '" << path
             << "' is no longer part of '" << plan.checkpoint_dir << "'";
    const ::janus::SafetensorsFile &onDisk =
        checkpoint->files()[it - names.begin()];
    if (onDisk.file_size() != file.getSize())
      return file.emitOpError()
             << "checkpoint changed since import: '" << path << "' is "
             << onDisk.file_size() << " bytes, the module recorded "
             << file.getSize();
    if (onDisk.header_checksum() != file.getHeaderChecksum())
      return file.emitOpError()
             << "checkpoint changed since import: the header checksum of '"
             << path << "' is " << onDisk.header_checksum()
             << ", the module recorded " << file.getHeaderChecksum();
    auto entry = std::make_unique<jp::CheckpointFileT>();
    entry->path = path;
    entry->size = onDisk.file_size();
    entry->header_checksum = onDisk.header_checksum();
    fileIndexByPath[path] = static_cast<uint32_t>(plan.files.size());
    plan.files.push_back(std::move(entry));
  }
  return success();
}

LogicalResult PlanExporter::exportDeployment() {
  auto attention = module.lookupSymbol<ClusterOp>(kAttentionCluster);
  auto moe = module.lookupSymbol<ClusterOp>(kMoeCluster);
  if (!attention || !moe)
    return module.emitError(
        "plan export needs janus.cluster @attention and @moe: run the "
        "janus pipeline (janus-partition) first");
  if (attention.getGpusPerNode() != moe.getGpusPerNode())
    return module.emitError(
        "plan export needs both clusters to have the same gpus_per_node");
  auto deployment = std::make_unique<jp::DeploymentT>();
  int64_t perNode = attention.getGpusPerNode();
  deployment->attention_ranks = static_cast<int32_t>(attention.getNumGpus());
  deployment->moe_ranks = static_cast<int32_t>(moe.getNumGpus());
  deployment->gpus_per_node = static_cast<int32_t>(perNode);
  int64_t attentionNodes = (attention.getNumGpus() + perNode - 1) / perNode;
  for (int64_t i = 0; i < static_cast<int64_t>(attention.getNumGpus()); ++i) {
    auto rank = std::make_unique<jp::RankT>();
    rank->rank = static_cast<int32_t>(i);
    rank->role = jp::Role::Attention;
    rank->index = static_cast<int32_t>(i);
    rank->node = static_cast<int32_t>(i / perNode);
    deployment->ranks.push_back(std::move(rank));
  }
  for (int64_t i = 0; i < static_cast<int64_t>(moe.getNumGpus()); ++i) {
    auto rank = std::make_unique<jp::RankT>();
    rank->rank = static_cast<int32_t>(attention.getNumGpus() + i);
    rank->role = jp::Role::Moe;
    rank->index = static_cast<int32_t>(i);
    rank->node = static_cast<int32_t>(attentionNodes + i / perNode);
    deployment->ranks.push_back(std::move(rank));
  }
  plan.deployment = std::move(deployment);
  return success();
}

LogicalResult PlanExporter::exportPlacements() {
  std::map<int64_t, PlacementOp> byLayer;
  for (PlacementOp placement : module.getOps<PlacementOp>())
    byLayer[placement.getLayer()] = placement;
  for (auto [layer, placement] : byLayer) {
    auto out = std::make_unique<jp::PlacementT>();
    out->layer = static_cast<int32_t>(layer);
    out->num_experts = static_cast<int32_t>(placement.getNumExperts());
    out->slots_per_rank = static_cast<int32_t>(placement.getSlotsPerGpu());
    llvm::append_range(out->replica_offsets, placement.getReplicaOffsets());
    llvm::append_range(out->replica_rank, placement.getReplicaGpu());
    llvm::append_range(out->replica_slot, placement.getReplicaSlot());
    placementIndexBySymbol[placement.getSymName()] =
        static_cast<int>(plan.placements.size());
    plan.model->moe_layers.push_back(static_cast<int32_t>(layer));
    plan.placements.push_back(std::move(out));
  }
  return success();
}

int PlanExporter::placementIndex(FlatSymbolRefAttr symbol) const {
  auto it = placementIndexBySymbol.find(symbol.getValue());
  return it == placementIndexBySymbol.end() ? -1 : it->second;
}

FailureOr<SmallVector<int>> PlanExporter::weightsOf(WeightRefOp ref) {
  auto weight = symbols.lookup<WeightOp>(ref.getWeight());
  if (!weight)
    return ref.emitOpError() << "names no janus.weight";
  RankedTensorType type = weight.getTensorType();
  FailureOr<jp::DType> dtype = planDType(type.getElementType());
  if (failed(dtype))
    return weight.emitOpError() << "has element type " << type.getElementType()
                                << ", which the plan cannot hold";
  ArrayRef<int64_t> fullShape = type.getShape();
  bool stacked = weight.isStacked();
  std::vector<int64_t> shape(
      stacked ? fullShape.begin() + 1 : fullShape.begin(), fullShape.end());
  SmallVector<int> indices;
  auto names = weight.getNames().getAsValueRange<StringAttr>();
  ArrayRef<Attribute> files = weight.getFiles().getValue();
  for (auto [i, name] : llvm::enumerate(names)) {
    auto known = weightIndexByName.find(name);
    if (known != weightIndexByName.end()) {
      indices.push_back(known->second);
      continue;
    }
    auto out = std::make_unique<jp::WeightRefT>();
    out->name = name.str();
    out->dtype = *dtype;
    out->shape = shape;
    uint64_t elements = 1;
    for (int64_t d : shape)
      elements *= static_cast<uint64_t>(d);
    if (synthetic) {
      out->file = 0;
      out->offset = 0;
      out->nbytes = elements * dtypeBytes(*dtype);
    } else {
      if (i >= files.size())
        return weight.emitOpError()
               << "lists no checkpoint file for '" << name << "'";
      auto fileOp = symbols.lookup<CheckpointFileOp>(
          cast<FlatSymbolRefAttr>(files[i]).getValue());
      if (!fileOp)
        return weight.emitOpError()
               << "names a file that is not a janus.checkpoint_file";
      absl::StatusOr<::janus::Checkpoint::Located> found =
          checkpoint->Find(absl::string_view(name.data(), name.size()));
      if (!found.ok())
        return weight.emitOpError() << "checkpoint changed since import: "
                                    << statusMessage(found.status());
      const std::string &foundPath = checkpoint->file_names()[found->file];
      if (foundPath != fileOp.getPath())
        return weight.emitOpError() << "checkpoint changed since import: '"
                                    << name << "' is now in '" << foundPath
                                    << "', not '" << fileOp.getPath() << "'";
      const ::janus::TensorInfo &info = *found->info;
      if (!info.dtype_supported || ::janus::ToPlanDType(info.dtype) != *dtype ||
          info.shape != shape)
        return weight.emitOpError()
               << "checkpoint changed since import: '" << name
               << "' no longer has the imported dtype and shape";
      out->file = fileIndexByPath.lookup(foundPath);
      out->offset = info.offset;
      out->nbytes = info.nbytes;
    }
    int index = static_cast<int>(plan.weights.size());
    weightIndexByName[name] = index;
    indices.push_back(index);
    plan.weights.push_back(std::move(out));
  }
  return indices;
}

FailureOr<int> PlanExporter::weight(Operation *op, Value value,
                                    llvm::StringRef name) {
  auto it = weightValues.find(value);
  if (it == weightValues.end() || it->second.size() != 1)
    return op->emitOpError()
           << "operand '" << name
           << "' must be a janus.weight_ref of one checkpoint tensor";
  return it->second.front();
}

FailureOr<int> PlanExporter::optionalWeight(Operation *op, Value value,
                                            llvm::StringRef name) {
  if (!value)
    return -1;
  return weight(op, value, name);
}

FailureOr<int> PlanExporter::input(Operation *op, Side side, Value value) {
  if (std::optional<int> reg = programs[side].lookup(value))
    return *reg;
  return op->emitOpError() << "uses a value the "
                           << (side == kAttention ? "attention" : "MoE")
                           << " program does not hold";
}

void PlanExporter::emit(Side side, ArrayRef<int> inputs, ArrayRef<int> outputs,
                        jp::OpParamsUnion params) {
  auto instr = std::make_unique<jp::InstrT>();
  for (int reg : inputs)
    instr->inputs.push_back(static_cast<uint16_t>(reg));
  for (int reg : outputs)
    instr->outputs.push_back(static_cast<uint16_t>(reg));
  instr->params = std::move(params);
  programs[side].program->instrs.push_back(std::move(instr));
}

LogicalResult PlanExporter::exportPartition(PartitionOp partition) {
  llvm::StringRef cluster = partition.getCluster().getRootReference();
  Side side;
  if (cluster == kAttentionCluster)
    side = kAttention;
  else if (cluster == kMoeCluster)
    side = kMoe;
  else
    return partition.emitOpError()
           << "names cluster @" << cluster << ", not @attention or @moe";
  Block &body = partition.getBodyBlock();
  for (auto [arg, operand] :
       llvm::zip(body.getArguments(), partition.getInputs())) {
    FailureOr<int> reg = input(partition, side, operand);
    if (failed(reg))
      return failure();
    programs[side].alias(arg, *reg);
  }
  std::optional<int64_t> layer;
  if (partition.getLayer())
    layer = *partition.getLayer();
  for (Operation &op : body.without_terminator())
    if (failed(exportOp(&op, side, layer)))
      return failure();
  for (auto [result, yielded] :
       llvm::zip(partition.getResults(), partition.getYield().getOperands())) {
    FailureOr<int> reg = input(partition.getYield(), side, yielded);
    if (failed(reg))
      return failure();
    programs[side].alias(result, *reg);
  }
  return success();
}

LogicalResult PlanExporter::exportForward(func::FuncOp forward) {
  Block &block = forward.getBody().front();
  if (block.getNumArguments() != 1)
    return forward.emitError(
        "plan export expects @forward to take the token ids only");
  programs[kAttention].define(
      block.getArgument(0)); // register 0: the step's token ids
  for (Operation &op : block) {
    if (auto partition = dyn_cast<PartitionOp>(op)) {
      if (failed(exportPartition(partition)))
        return failure();
    } else if (isa<CommDispatchOp>(op)) {
      if (failed(exportComm(&op, /*dispatch=*/true)))
        return failure();
    } else if (isa<CommCombineOp>(op)) {
      if (failed(exportComm(&op, /*dispatch=*/false)))
        return failure();
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      if (ret.getNumOperands() != 1)
        return ret.emitOpError(
            "plan export expects @forward to return the logits only");
      FailureOr<int> logits = input(ret, kAttention, ret.getOperand(0));
      if (failed(logits))
        return failure();
      programs[kAttention].program->output = *logits;
    } else {
      return op.emitOpError(
          "is outside any janus.partition: plan export needs a partitioned "
          "module (run the janus pipeline first)");
    }
  }
  for (ProgramBuilder &program : programs) {
    if (program.numRegisters > 65535)
      return forward.emitError() << "a program needs " << program.numRegisters
                                 << " registers, more than the plan's 65535";
    program.program->num_registers =
        static_cast<uint16_t>(program.numRegisters);
  }
  return success();
}

LogicalResult PlanExporter::run(std::string &bytes) {
  FailureOr<func::FuncOp> forward = getForwardFunc(module);
  if (failed(forward) || failed(exportModelInfo()) || failed(exportFiles()) ||
      failed(exportDeployment()) || failed(exportPlacements()))
    return failure();
  for (jp::Role role : {jp::Role::Attention, jp::Role::Moe}) {
    auto program = std::make_unique<jp::ProgramT>();
    program->role = role;
    programs[static_cast<int>(role)].program = program.get();
    plan.programs.push_back(std::move(program));
  }
  if (failed(exportForward(*forward)))
    return failure();
  plan.deployment->gating = gating.value_or(jp::Gating::Moe);

  auto comm = std::make_unique<jp::CommConfigT>();
  DeploymentOptions defaults;
  auto config = module->getAttrOfType<DictionaryAttr>(kCommConfigAttr);
  auto getDouble = [&](llvm::StringRef key, double fallback) {
    auto attr = config ? config.getAs<FloatAttr>(key) : FloatAttr();
    return static_cast<float>(attr ? attr.getValueAsDouble() : fallback);
  };
  comm->intra_node_gbps = getDouble("intra_node_gbps", defaults.intraNodeGBps);
  comm->inter_node_gbps = getDouble("inter_node_gbps", defaults.interNodeGBps);
  comm->intra_node_latency_us =
      getDouble("intra_node_latency_us", defaults.intraNodeLatencyUs);
  comm->inter_node_latency_us =
      getDouble("inter_node_latency_us", defaults.interNodeLatencyUs);
  plan.comm = std::move(comm);
  plan.scheduler = std::make_unique<jp::SchedulerConfigT>();
  plan.scheduler->algorithm = jp::SchedulerAlgorithm::ActivationBalanced;
  plan.version = ::janus::kPlanVersion;
  plan.producer = "janus-compile";

  absl::StatusOr<std::string> serialized = ::janus::SerializePlan(plan);
  if (!serialized.ok())
    return module.emitError() << "the runtime rejects the plan: "
                              << statusMessage(serialized.status());
  bytes = *std::move(serialized);
  return success();
}

} // namespace mlir::janus::exporter

LogicalResult mlir::janus::exportPlan(ModuleOp module, llvm::raw_ostream &os) {
  std::string bytes;
  exporter::PlanExporter exporter(module);
  if (failed(exporter.run(bytes)))
    return failure();
  os.write(bytes.data(), bytes.size());
  return success();
}
