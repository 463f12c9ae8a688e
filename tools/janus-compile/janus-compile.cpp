//===- janus-compile.cpp - HuggingFace checkpoint -> Janus plan -----------===//
//
// janus-compile MODEL_DIR [-o FILE]
// [--compile-to=import|partition|place|comm|schedule|plan]
//               [--synthetic-weights=SEED] [deployment flags]
//
// Imports the checkpoint (dialects/janus/Import), runs the pipeline
// (passes/Pipeline.h) up to the requested phase and writes the MLIR (every
// phase but `plan`) or the binary plan (`plan`, the default; -o defaults to
// model.jplan). Every failure prints diagnostics and exits with 1.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/IR/JanusOps.h"
#include "dialects/janus/Import/HuggingFace.h"
#include "passes/Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>

using namespace mlir;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory category("janus-compile options");

cl::opt<std::string>
    modelDir(cl::Positional, cl::Required, cl::desc("<MODEL_DIR>"),
             cl::value_desc("HuggingFace checkpoint folder or config.json"),
             cl::cat(category));
cl::opt<std::string>
    outputPath("o", cl::desc("Output file (plan: model.jplan; MLIR: stdout)"),
               cl::value_desc("file"), cl::init(""), cl::cat(category));
cl::opt<std::string> compileTo(
    "compile-to",
    cl::desc("Stop after this phase: import|partition|place|comm|schedule|plan "
             "(default plan)"),
    cl::init("plan"), cl::cat(category));
cl::opt<std::string>
    syntheticWeights("synthetic-weights",
                     cl::desc("Import config.json alone; the runtime fills "
                              "every weight deterministically from "
                              "this seed (0 .. 2^63-1)"),
                     cl::value_desc("seed"), cl::init(""), cl::cat(category));
cl::opt<int64_t> attentionGpus("attention-gpus",
                               cl::desc("GPUs of the attention sub-cluster"),
                               cl::init(1), cl::cat(category));
cl::opt<int64_t> moeGpus("moe-gpus", cl::desc("GPUs of the MoE sub-cluster"),
                         cl::init(1), cl::cat(category));
cl::opt<int64_t> gpusPerNode("gpus-per-node", cl::desc("GPUs per node"),
                             cl::init(8), cl::cat(category));
cl::opt<int64_t> expertSlotsPerGpu(
    "expert-slots-per-gpu",
    cl::desc(
        "Expert weight slots per MoE GPU (0: every expert once plus a margin)"),
    cl::init(0), cl::cat(category));
cl::opt<std::string>
    activationProfile("activation-profile",
                      cl::desc("Expert activation profile (JSON from janus-run "
                               "--record-activations); default: uniform load"),
                      cl::value_desc("file"), cl::init(""), cl::cat(category));
cl::opt<std::string> gating("gating",
                            cl::desc("Where the router runs: moe|attention"),
                            cl::init("moe"), cl::cat(category));
cl::opt<std::string>
    comm("comm", cl::desc("Attention<->MoE route: auto|direct|two-phase|relay"),
         cl::init("auto"), cl::cat(category));

/// Prints diagnostics as `file:line:col: error: message` (`file: error:`
/// without a line, `error:` without a file), notes after their diagnostic.
class DiagnosticPrinter {
public:
  explicit DiagnosticPrinter(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          print(diag);
          return success();
        }) {}

private:
  static StringRef severityName(DiagnosticSeverity severity) {
    switch (severity) {
    case DiagnosticSeverity::Error:
      return "error";
    case DiagnosticSeverity::Warning:
      return "warning";
    case DiagnosticSeverity::Remark:
      return "remark";
    case DiagnosticSeverity::Note:
      return "note";
    }
    return "error";
  }

  static void printLocation(llvm::raw_ostream &os, Location loc) {
    if (auto fused = dyn_cast<FusedLoc>(loc))
      if (!fused.getLocations().empty())
        loc = fused.getLocations().front();
    if (auto name = dyn_cast<NameLoc>(loc))
      loc = name.getChildLoc();
    if (auto file = dyn_cast<FileLineColLoc>(loc)) {
      os << file.getFilename().getValue();
      if (file.getLine())
        os << ":" << file.getLine() << ":" << file.getColumn();
      os << ": ";
    }
  }

  void print(Diagnostic &diag) {
    llvm::raw_ostream &os = llvm::errs();
    printLocation(os, diag.getLocation());
    os << severityName(diag.getSeverity()) << ": " << diag << "\n";
    for (Diagnostic &note : diag.getNotes()) {
      printLocation(os, note.getLocation());
      os << "note: " << note << "\n";
    }
    os.flush();
  }

  ScopedDiagnosticHandler handler;
};

int fail(const llvm::Twine &message) {
  llvm::errs() << "error: " << message << "\n";
  return 1;
}

/// Flag validation; every message names the flag.
bool validateFlags(janus::DeploymentOptions &options,
                   std::optional<uint64_t> &seed) {
  bool ok = true;
  auto bad = [&](const llvm::Twine &message) {
    llvm::errs() << "error: " << message << "\n";
    ok = false;
  };
  if (!janus::parseCompilePhase(compileTo))
    bad("--compile-to: unknown phase '" + compileTo +
        "' (expected import, partition, place, comm, schedule or plan)");
  auto positive = [&](StringRef flag, int64_t value) {
    if (value < 1)
      bad("--" + flag + " must be at least 1, got " + llvm::Twine(value));
  };
  positive("attention-gpus", attentionGpus);
  positive("moe-gpus", moeGpus);
  positive("gpus-per-node", gpusPerNode);
  if (expertSlotsPerGpu < 0)
    bad("--expert-slots-per-gpu must be 0 (automatic) or positive, got " +
        llvm::Twine(expertSlotsPerGpu));
  if (gating != "moe" && gating != "attention")
    bad("--gating: unknown value '" + gating + "' (expected moe or attention)");
  if (comm != "auto" && comm != "direct" && comm != "two-phase" &&
      comm != "relay")
    bad("--comm: unknown value '" + comm +
        "' (expected auto, direct, two-phase or relay)");
  if (syntheticWeights.getNumOccurrences()) {
    uint64_t value = 0;
    if (StringRef(syntheticWeights).getAsInteger(10, value) ||
        value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad("--synthetic-weights: expected a seed between 0 and 2^63-1, got '" +
          syntheticWeights + "'");
    else
      seed = value;
  }
  if (!activationProfile.empty() && !llvm::sys::fs::exists(activationProfile))
    bad("--activation-profile: file '" + activationProfile +
        "' does not exist");
  options.attentionGpus = attentionGpus;
  options.moeGpus = moeGpus;
  options.gpusPerNode = gpusPerNode;
  options.expertSlotsPerGpu = expertSlotsPerGpu;
  options.activationProfile = activationProfile;
  options.gating = gating;
  options.comm = comm;
  return ok;
}

int compile() {
  janus::DeploymentOptions options;
  std::optional<uint64_t> seed;
  if (!validateFlags(options, seed))
    return 1;
  janus::CompilePhase phase = *janus::parseCompilePhase(compileTo);

  DialectRegistry registry;
  registry.insert<janus::JanusDialect, func::FuncDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  DiagnosticPrinter printer(context);

  janus::ImportOptions importOptions;
  importOptions.syntheticWeightsSeed = seed;
  OwningOpRef<ModuleOp> module =
      janus::importHuggingFace(&context, modelDir, importOptions);
  if (!module)
    return 1;

  if (phase != janus::CompilePhase::Import) {
    PassManager pm(&context, ModuleOp::getOperationName());
    if (failed(applyPassManagerCLOptions(pm)))
      return 1;
    janus::buildJanusPipeline(pm, options,
                              phase == janus::CompilePhase::Plan
                                  ? janus::CompilePhase::Schedule
                                  : phase);
    if (failed(pm.run(*module)))
      return 1;
  }

  bool plan = phase == janus::CompilePhase::Plan;
  std::string path =
      outputPath.empty() ? (plan ? "model.jplan" : "-") : outputPath.getValue();
  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(path, &errorMessage);
  if (!output)
    return fail("-o: cannot open '" + path + "': " + errorMessage);
  if (plan) {
    if (failed(janus::exportPlan(*module, output->os())))
      return 1;
  } else {
    module->print(output->os());
    output->os() << "\n";
  }
  output->os().flush();
  if (output->os().has_error())
    return fail("-o: cannot write '" + path +
                "': " + output->os().error().message());
  output->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  // cl::extrahelp keeps a StringRef: the text must outlive parsing.
  static const std::string familiesText =
      "\nSupported model_type values: " +
      llvm::join(janus::supportedModelTypes(), ", ") + "\n";
  cl::extrahelp familiesHelp(familiesText);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "janus-compile: compiles a HuggingFace MoE "
                              "checkpoint into a Janus deployment plan\n");
  return compile();
}
