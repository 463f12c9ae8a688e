//===- janus-make-model.cpp - A checkpoint with random weights for a config
//===//
//
// janus-make-model CONFIG_DIR_OR_JSON [--seed=S] -o OUTDIR
// [--dtype=bf16|f16|f32]
//
// Writes OUTDIR/config.json and OUTDIR/model.safetensors holding exactly the
// tensors the importer expects for the config
// (dialects/janus/Import/WeightLayout.h), filled deterministically: each tensor
// from its own stream seeded by (seed, tensor name), so the values do not
// depend on the tensor order. Norm weights are 1 + U(-0.1, 0.1), every other
// tensor U(-a, a) with a standard deviation of 0.08, which keeps activations of
// small models in a useful range.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/ModelConfig.h"
#include "dialects/janus/Import/WeightLayout.h"

#include "runtime/base/checksum.h"
#include "runtime/base/dtype.h"
#include "runtime/io/safetensors.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>

namespace cl = llvm::cl;
using namespace mlir::janus;

namespace {

cl::OptionCategory category("janus-make-model options");
cl::opt<std::string> configArg(cl::Positional, cl::Required,
                               cl::desc("<CONFIG_DIR_OR_JSON>"),
                               cl::cat(category));
cl::opt<std::string> outDir("o", cl::Required,
                            cl::desc("Output checkpoint folder"),
                            cl::value_desc("dir"), cl::cat(category));
cl::opt<std::string> seedArg("seed", cl::desc("Random seed (default 0)"),
                             cl::init("0"), cl::cat(category));
cl::opt<std::string>
    dtypeArg("dtype",
             cl::desc("Weight dtype: bf16|f16|f32 (default: the config's)"),
             cl::init(""), cl::cat(category));
cl::opt<double>
    maxGiB("max-gib",
           cl::desc("Refuse to write more than this many GiB (default 4)"),
           cl::init(4.0), cl::cat(category));

int fail(const llvm::Twine &message) {
  llvm::errs() << "error: " << message << "\n";
  return 1;
}

/// SplitMix64: tiny, fast, and identical everywhere.
class Rng {
public:
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1).
  float symmetric() {
    return static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-52 -
                              1.0);
  }

private:
  uint64_t state;
};

void appendValue(std::string &bytes, float value, janus::DType dtype) {
  switch (dtype) {
  case janus::DType::kBF16: {
    uint16_t v = janus::FloatToBf16(value);
    bytes.append(reinterpret_cast<const char *>(&v), 2);
    break;
  }
  case janus::DType::kF16: {
    uint16_t v = janus::FloatToHalf(value);
    bytes.append(reinterpret_cast<const char *>(&v), 2);
    break;
  }
  default:
    bytes.append(reinterpret_cast<const char *>(&value), 4);
    break;
  }
}

int run() {
  uint64_t seed = 0;
  if (llvm::StringRef(seedArg).getAsInteger(10, seed))
    return fail("--seed: expected a non-negative integer, got '" + seedArg +
                "'");

  std::string configPath = configArg;
  if (llvm::sys::fs::is_directory(configPath)) {
    llvm::SmallString<256> p(configPath);
    llvm::sys::path::append(p, "config.json");
    configPath = std::string(p);
  }
  if (!llvm::sys::fs::exists(configPath))
    return fail(
        "'" + configPath +
        "' does not exist (expected a config.json or a folder with one)");

  std::vector<ConfigDiagnostic> diags;
  std::optional<ModelConfig> config = parseModelConfigFile(configPath, diags);
  for (const ConfigDiagnostic &d : diags)
    llvm::errs() << formatConfigDiagnostic(d) << "\n";
  if (!config)
    return 1;

  janus::DType dtype = janus::DType::kBF16;
  std::string dtypeName = "bfloat16";
  std::string requested = dtypeArg.empty()
                              ? (config->dtype == WeightDType::F16   ? "f16"
                                 : config->dtype == WeightDType::F32 ? "f32"
                                                                     : "bf16")
                              : dtypeArg.getValue();
  if (requested == "f16") {
    dtype = janus::DType::kF16;
    dtypeName = "float16";
  } else if (requested == "f32") {
    dtype = janus::DType::kF32;
    dtypeName = "float32";
  } else if (requested != "bf16") {
    return fail("--dtype: unknown dtype '" + requested +
                "' (expected bf16, f16 or f32)");
  }

  WeightLayout layout = buildWeightLayout(*config);
  auto tensors = layout.tensors();
  double bytes = 0;
  for (auto &[name, shape] : tensors) {
    double n = janus::DTypeSize(dtype);
    for (int64_t d : shape)
      n *= static_cast<double>(d);
    bytes += n;
  }
  if (bytes > maxGiB * 1024.0 * 1024.0 * 1024.0)
    return fail(
        llvm::formatv(
            "the checkpoint would hold {0:F1} GiB (more than "
            "--max-gib={1:F1}); "
            "compile large configs with janus-compile --synthetic-weights",
            bytes / (1024.0 * 1024.0 * 1024.0), maxGiB.getValue())
            .str());

  std::vector<janus::TensorToWrite> out;
  out.reserve(tensors.size());
  std::vector<bool> isNorm;
  for (const WeightSpec &w : layout.weights)
    for (size_t i = 0; i < w.tensors.size(); ++i)
      isNorm.push_back(w.isNorm);
  const float amplitude =
      0.08f * std::sqrt(3.0f); // U(-a, a) has std a / sqrt(3)
  for (auto [index, entry] : llvm::enumerate(tensors)) {
    auto &[name, shape] = entry;
    janus::TensorToWrite t;
    t.name = name;
    t.dtype = dtype;
    t.shape.assign(shape.begin(), shape.end());
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    t.bytes.reserve(count * janus::DTypeSize(dtype));
    uint64_t seedBytes = seed;
    Rng rng(janus::Fnv1a64(name.data(), name.size(),
                           janus::Fnv1a64(&seedBytes, sizeof(seedBytes))));
    for (int64_t i = 0; i < count; ++i) {
      float v = isNorm[index] ? 1.0f + 0.1f * rng.symmetric()
                              : amplitude * rng.symmetric();
      appendValue(t.bytes, v, dtype);
    }
    out.push_back(std::move(t));
  }

  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return fail("-o: cannot create '" + outDir + "': " + ec.message());
  llvm::SmallString<256> weightsPath(outDir), outConfigPath(outDir);
  llvm::sys::path::append(weightsPath, "model.safetensors");
  llvm::sys::path::append(outConfigPath, "config.json");

  absl::Status status = janus::WriteSafetensors(std::string(weightsPath), out,
                                                {{"format", "pt"}});
  if (!status.ok())
    return fail("cannot write '" + weightsPath +
                "': " + std::string(status.message()));

  // The written config is the input with the chosen dtype and without
  // quantization_config (the weights are plain floats).
  auto buffer = llvm::MemoryBuffer::getFile(configPath, /*IsText=*/true);
  if (!buffer)
    return fail("cannot read '" + configPath +
                "': " + buffer.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail("cannot parse '" + configPath +
                "': " + llvm::toString(json.takeError()));
  llvm::json::Object &object = *json->getAsObject();
  if (object.erase("quantization_config"))
    llvm::errs()
        << configPath
        << ": warning: quantization_config left out of the written config: the "
           "generated weights are "
        << requested << "\n";
  object["dtype"] = dtypeName;
  if (object.get("torch_dtype"))
    object["torch_dtype"] = dtypeName;
  std::error_code ec;
  llvm::raw_fd_ostream os(outConfigPath, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail("cannot write '" + outConfigPath + "': " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(object))) << "\n";
  os.close();
  if (os.has_error())
    return fail("cannot write '" + outConfigPath +
                "': " + os.error().message());

  llvm::outs() << llvm::formatv(
      "wrote {0} ({1} tensors, {2:F2} MiB, {3}, seed {4}) and {5}\n",
      weightsPath, out.size(), bytes / (1024.0 * 1024.0), requested, seed,
      outConfigPath);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "janus-make-model: writes a HuggingFace checkpoint with deterministic "
      "random weights for "
      "a config.json\n");
  return run();
}
