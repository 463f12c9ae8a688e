//===- CheckpointCheck.cpp - Check safetensors against the layout ---------===//
//
// The reader (runtime/io/safetensors.h) already refuses truncated files,
// corrupt headers and overlapping or out-of-range data; this file checks the
// checkpoint against the model: every expected tensor present with the expected
// shape and a supported dtype, nothing else present.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/CheckpointCheck.h"

#include "runtime/io/safetensors.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <map>
#include <set>

using namespace mlir;
using namespace mlir::janus;

namespace {

/// After this many problems the rest are only counted: a wrong config makes
/// every tensor wrong.
constexpr int kMaxReportedProblems = 20;

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += std::to_string(d);
  }
  return s + "]";
}

class Checker {
public:
  Checker(MLIRContext *context, StringRef dir, const ModelConfig &config,
          const WeightLayout &layout)
      : context(context), dir(dir.str()), config(config), layout(layout) {}

  LogicalResult run(CheckedCheckpoint &out);

private:
  Location fileLoc(StringRef path) {
    return FileLineColLoc::get(context, path, 0, 0);
  }

  /// Counts a problem; returns a diagnostic to fill, or nothing past the cap.
  std::optional<InFlightDiagnostic> problem(Location loc) {
    if (++problems > kMaxReportedProblems)
      return std::nullopt;
    return emitError(loc);
  }

  MLIRContext *context;
  std::string dir;
  const ModelConfig &config;
  const WeightLayout &layout;
  int problems = 0;
};

std::optional<WeightDType> weightDType(const ::janus::TensorInfo &info) {
  if (!info.dtype_supported)
    return std::nullopt;
  switch (info.dtype) {
  case ::janus::DType::kBF16:
    return WeightDType::BF16;
  case ::janus::DType::kF16:
    return WeightDType::F16;
  case ::janus::DType::kF32:
    return WeightDType::F32;
  default:
    return std::nullopt;
  }
}

LogicalResult Checker::run(CheckedCheckpoint &out) {
  absl::StatusOr<::janus::Checkpoint> opened = ::janus::Checkpoint::Open(dir);
  if (!opened.ok()) {
    InFlightDiagnostic diag = emitError(fileLoc(dir))
                              << "cannot read the checkpoint: "
                              << std::string(opened.status().message());
    if (opened.status().code() == absl::StatusCode::kNotFound)
      diag.attachNote()
          << "to import the config alone, pass --synthetic-weights=SEED";
    return failure();
  }
  const ::janus::Checkpoint &ckpt = *opened;

  std::vector<std::string> filePaths;
  for (auto [i, file] : llvm::enumerate(ckpt.files())) {
    out.files.push_back(
        {ckpt.file_names()[i], file.file_size(), file.header_checksum()});
    filePaths.push_back(file.path());
  }
  // Missing tensors are reported against the file that should list them.
  std::string indexPath =
      ckpt.files().size() == 1
          ? filePaths[0]
          : (llvm::Twine(dir) + "/model.safetensors.index.json").str();

  llvm::StringSet<> expected;
  out.weights.resize(layout.weights.size());
  for (auto [w, spec] : llvm::enumerate(layout.weights)) {
    CheckedWeight &checked = out.weights[w];
    std::optional<WeightDType> stackDType;
    std::string stackFirst;
    // A wrong config key makes every expert of a stacked weight wrong in the
    // same way: report the first and count the rest.
    std::vector<std::string> missing;
    std::vector<std::pair<std::string, const ::janus::TensorInfo *>> misshapen;
    std::string misshapenPath;
    for (const std::string &name : spec.tensors) {
      expected.insert(name);
      absl::StatusOr<::janus::Checkpoint::Located> found = ckpt.Find(name);
      if (!found.ok()) {
        missing.push_back(name);
        continue;
      }
      const ::janus::TensorInfo &info = *found->info;
      StringRef path = filePaths[found->file];
      checked.files.push_back(found->file);
      if (ArrayRef<int64_t>(info.shape) != ArrayRef<int64_t>(spec.shape)) {
        misshapen.emplace_back(name, &info);
        misshapenPath = path.str();
        continue;
      }
      std::optional<WeightDType> dtype = weightDType(info);
      if (!dtype) {
        if (auto d = problem(fileLoc(path))) {
          *d << "tensor '" << name << "' has unsupported dtype "
             << info.raw_dtype << " (supported: BF16, F16, F32)";
          if (StringRef(info.raw_dtype).starts_with("F8"))
            *d << "; FP8 checkpoints are not supported yet";
        }
        continue;
      }
      if (stackDType && *stackDType != *dtype) {
        if (auto d = problem(fileLoc(path)))
          *d << "tensor '" << name << "' is " << info.raw_dtype << " but '"
             << stackFirst << "', stacked with it into @" << spec.symbol
             << ", is not; the experts of a layer must share one dtype";
        continue;
      }
      if (!stackDType) {
        stackDType = dtype;
        stackFirst = name;
      }
      checked.dtype = *dtype;
    }
    auto others = [&](size_t count, StringRef what) {
      std::string text;
      if (count > 1)
        text = (" (and " + llvm::Twine(count - 1) + " more " + what +
                " tensor(s) of @" + spec.symbol + ")")
                   .str();
      return text;
    };
    if (!missing.empty())
      if (auto d = problem(fileLoc(indexPath)))
        *d << "missing tensor '" << missing.front() << "'"
           << others(missing.size(), "missing") << ": expected shape "
           << shapeString(spec.shape) << " in checkpoint '" << dir << "'";
    if (!misshapen.empty())
      if (auto d = problem(fileLoc(misshapenPath)))
        *d << "tensor '" << misshapen.front().first << "' has shape "
           << shapeString(misshapen.front().second->shape) << ", expected "
           << shapeString(spec.shape) << " (from " << config.configPath << ")"
           << others(misshapen.size(), "misshapen");
  }

  // Everything else in the files: multi-token-prediction layers are left out
  // explicitly, a tied lm_head copy is ignored, whole extra layers are reported
  // once, anything else by name.
  std::set<std::string> seen;
  std::map<int64_t, std::pair<int64_t, std::string>>
      extraLayers; // layer -> (count, first)
  std::string extraLayerPath;
  for (auto [f, file] : llvm::enumerate(ckpt.files())) {
    for (const ::janus::TensorInfo &info : file.tensors()) {
      if (expected.contains(info.name) || !seen.insert(info.name).second)
        continue;
      if (mtpLayerOf(config, info.name)) {
        ++out.mtpTensors;
        continue;
      }
      if (config.tieWordEmbeddings && info.name == "lm_head.weight") {
        emitWarning(fileLoc(filePaths[f]))
            << "tensor 'lm_head.weight' is ignored: tie_word_embeddings is "
               "true, so the "
               "lm_head reads model.embed_tokens.weight";
        continue;
      }
      StringRef rest(info.name);
      int64_t layer;
      if (rest.consume_front("model.layers.") &&
          !rest.take_until([](char c) { return c == '.'; })
               .getAsInteger(10, layer) &&
          layer >= config.numLayers) {
        auto &[count, first] = extraLayers[layer];
        if (count++ == 0)
          first = info.name;
        extraLayerPath = filePaths[f];
        continue;
      }
      if (auto d = problem(fileLoc(filePaths[f]))) {
        *d << "unexpected tensor '" << info.name << "' (" << info.raw_dtype
           << " " << shapeString(info.shape) << "): not part of a "
           << config.modelType << " model with this config";
        if (StringRef(info.name).ends_with("experts.gate_up_proj") ||
            StringRef(info.name).ends_with("experts.down_proj"))
          d->attachNote()
              << "fused expert tensors are not supported; expected one tensor "
                 "per "
                 "expert (experts.E.gate_proj.weight, ...) as save_pretrained "
                 "writes them";
      }
    }
  }
  for (auto &[layer, entry] : extraLayers)
    if (auto d = problem(fileLoc(extraLayerPath)))
      *d << "unexpected tensors of layer " << layer << " (" << entry.first
         << " tensor(s), e.g. '" << entry.second
         << "'): config.json has num_hidden_layers = " << config.numLayers;

  if (problems > kMaxReportedProblems)
    emitError(fileLoc(indexPath))
        << problems - kMaxReportedProblems
        << " more problem(s) with checkpoint '" << dir << "' not shown";
  return success(problems == 0);
}

} // namespace

LogicalResult mlir::janus::checkCheckpoint(MLIRContext *context, StringRef dir,
                                           const ModelConfig &config,
                                           const WeightLayout &layout,
                                           CheckedCheckpoint &out) {
  return Checker(context, dir, config, layout).run(out);
}
