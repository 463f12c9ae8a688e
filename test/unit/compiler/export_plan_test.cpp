// exportPlan (passes/ExportPlan.cpp) end to end: a fixture is imported,
// compiled and exported, and the plan is loaded back with the runtime's own
// loader and compared with the module and the checkpoint; a checkpoint that
// changes after import is refused; incomplete modules are refused.
#include "dialects/janus/IR/JanusOps.h"
#include "dialects/janus/Import/HuggingFace.h"
#include "passes/Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "runtime/io/safetensors.h"
#include "runtime/plan/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace mlir::janus {
namespace {

// A private copy of a fixture the test may damage.
class FixtureCopy {
public:
  explicit FixtureCopy(llvm::StringRef name) {
    llvm::SmallString<128> dir;
    EXPECT_FALSE(
        llvm::sys::fs::createUniqueDirectory("janus-export-plan", dir));
    path = dir.str().str();
    for (const char *file :
         {"config.json", "model.safetensors", "generation_config.json"}) {
      llvm::SmallString<128> from(JANUS_TEST_FIXTURES), to(path);
      llvm::sys::path::append(from, name, file);
      llvm::sys::path::append(to, file);
      if (llvm::sys::fs::exists(from)) {
        EXPECT_FALSE(llvm::sys::fs::copy_file(from, to)) << from.str().str();
      }
    }
  }
  ~FixtureCopy() { llvm::sys::fs::remove_directories(path); }

  std::string file(llvm::StringRef name) const {
    return (path + "/" + name).str();
  }

  std::string path;
};

std::string readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  ASSERT_FALSE(ec);
  os << bytes;
}

class ExportPlanTest : public ::testing::Test {
protected:
  ExportPlanTest() {
    registry.insert<JanusDialect, func::FuncDialect>();
    context = std::make_unique<MLIRContext>(registry);
    context->loadAllAvailableDialects();
    handler = std::make_unique<ScopedDiagnosticHandler>(
        context.get(), [this](Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return success();
        });
  }

  OwningOpRef<ModuleOp> compile(const std::string &dir,
                                const DeploymentOptions &options,
                                CompilePhase stopAfter = CompilePhase::Schedule,
                                std::optional<uint64_t> seed = std::nullopt) {
    ImportOptions importOptions;
    importOptions.syntheticWeightsSeed = seed;
    OwningOpRef<ModuleOp> module =
        importHuggingFace(context.get(), dir, importOptions);
    EXPECT_TRUE(module) << diagnostics;
    if (!module)
      return module;
    PassManager pm(context.get(), ModuleOp::getOperationName());
    buildJanusPipeline(pm, options, stopAfter);
    EXPECT_TRUE(succeeded(pm.run(*module))) << diagnostics;
    return module;
  }

  // Exports; empty on failure (the diagnostics are in `diagnostics`).
  std::string exportBytes(ModuleOp module) {
    std::string bytes;
    llvm::raw_string_ostream os(bytes);
    if (failed(exportPlan(module, os)))
      return "";
    os.flush();
    return bytes;
  }

  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
};

TEST_F(ExportPlanTest, RoundTripMatchesModuleAndCheckpoint) {
  FixtureCopy fixture("mixtral_tiny");
  DeploymentOptions options;
  options.attentionGpus = 3;
  options.moeGpus = 3;
  options.gpusPerNode = 2;
  options.comm = "two-phase";
  OwningOpRef<ModuleOp> module = compile(fixture.path, options);
  ASSERT_TRUE(module);
  std::string bytes = exportBytes(*module);
  ASSERT_FALSE(bytes.empty()) << diagnostics;

  absl::StatusOr<::janus::LoadedPlan> loaded =
      ::janus::LoadedPlan::FromBytes(bytes, "<test>");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const ::janus::plan::Plan &plan = loaded->plan();
  EXPECT_TRUE(::janus::VerifyCheckpointMatches(plan).ok());
  EXPECT_EQ(plan.model()->model_type()->str(), "mixtral");
  EXPECT_EQ(plan.model()->num_experts(), 8);

  // Ranks: attention 0..2 on nodes 0, 0, 1; MoE 0..2 on nodes 2, 2, 3.
  const auto *ranks = plan.deployment()->ranks();
  ASSERT_EQ(ranks->size(), 6u);
  int expectedNode[] = {0, 0, 1, 2, 2, 3};
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(ranks->Get(i)->rank(), static_cast<int>(i));
    EXPECT_EQ(ranks->Get(i)->role(), i < 3 ? ::janus::plan::Role::Attention
                                           : ::janus::plan::Role::Moe);
    EXPECT_EQ(ranks->Get(i)->node(), expectedNode[i]);
  }

  // Placements equal the module's.
  std::map<int64_t, PlacementOp> placements;
  for (PlacementOp p : module->getOps<PlacementOp>())
    placements[p.getLayer()] = p;
  ASSERT_EQ(plan.placements()->size(), placements.size());
  uint32_t index = 0;
  for (auto [layer, op] : placements) {
    const auto *p = plan.placements()->Get(index++);
    EXPECT_EQ(p->layer(), layer);
    EXPECT_EQ(std::vector<int32_t>(p->replica_rank()->begin(),
                                   p->replica_rank()->end()),
              std::vector<int32_t>(op.getReplicaGpu().begin(),
                                   op.getReplicaGpu().end()));
    EXPECT_EQ(std::vector<int32_t>(p->replica_slot()->begin(),
                                   p->replica_slot()->end()),
              std::vector<int32_t>(op.getReplicaSlot().begin(),
                                   op.getReplicaSlot().end()));
  }

  // Every weight's byte range is the checkpoint's, and every tensor appears
  // once.
  absl::StatusOr<::janus::Checkpoint> checkpoint =
      ::janus::Checkpoint::Open(fixture.path);
  ASSERT_TRUE(checkpoint.ok());
  std::set<std::string> names;
  for (const auto *w : *plan.weights()) {
    EXPECT_TRUE(names.insert(w->name()->str()).second) << w->name()->str();
    auto found = checkpoint->Find(w->name()->str());
    ASSERT_TRUE(found.ok()) << w->name()->str();
    EXPECT_EQ(w->offset(), found->info->offset);
    EXPECT_EQ(w->nbytes(), found->info->nbytes);
  }
  // The experts of 4 layers expand to 3 tensors x 8 experts each.
  int expertTensors = 0;
  for (const std::string &name : names)
    expertTensors += name.find(".experts.") != std::string::npos;
  EXPECT_EQ(expertTensors, 4 * 3 * 8);
}

TEST_F(ExportPlanTest, RefusesACheckpointWhoseSizeChanged) {
  FixtureCopy fixture("mixtral_tiny");
  OwningOpRef<ModuleOp> module = compile(fixture.path, DeploymentOptions());
  ASSERT_TRUE(module);
  std::string path = fixture.file("model.safetensors");
  writeFile(path, readFile(path) + std::string(8, '\0'));
  EXPECT_TRUE(exportBytes(*module).empty());
  EXPECT_NE(diagnostics.find("checkpoint changed since import"),
            std::string::npos)
      << diagnostics;
  EXPECT_NE(diagnostics.find("bytes, the module recorded"), std::string::npos)
      << diagnostics;
}

TEST_F(ExportPlanTest, RefusesACheckpointWhoseHeaderChanged) {
  FixtureCopy fixture("mixtral_tiny");
  OwningOpRef<ModuleOp> module = compile(fixture.path, DeploymentOptions());
  ASSERT_TRUE(module);
  std::string path = fixture.file("model.safetensors");
  std::string bytes = readFile(path);
  size_t at = bytes.find("\"format\":\"pt\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 13, "\"format\":\"tf\""); // same size, different header
  writeFile(path, bytes);
  EXPECT_TRUE(exportBytes(*module).empty());
  EXPECT_NE(
      diagnostics.find("checkpoint changed since import: the header checksum"),
      std::string::npos)
      << diagnostics;
}

TEST_F(ExportPlanTest, RefusesAMissingCheckpoint) {
  FixtureCopy fixture("mixtral_tiny");
  OwningOpRef<ModuleOp> module = compile(fixture.path, DeploymentOptions());
  ASSERT_TRUE(module);
  llvm::sys::fs::remove(fixture.file("model.safetensors"));
  EXPECT_TRUE(exportBytes(*module).empty());
  EXPECT_NE(diagnostics.find("cannot re-open the checkpoint"),
            std::string::npos)
      << diagnostics;
}

TEST_F(ExportPlanTest, RefusesIncompleteModules) {
  FixtureCopy fixture("qwen2moe_tiny");
  OwningOpRef<ModuleOp> imported =
      compile(fixture.path, DeploymentOptions(), CompilePhase::Import);
  ASSERT_TRUE(imported);
  EXPECT_TRUE(exportBytes(*imported).empty());
  EXPECT_NE(diagnostics.find("janus.cluster @attention and @moe"),
            std::string::npos)
      << diagnostics;
  diagnostics.clear();
  OwningOpRef<ModuleOp> unscheduled =
      compile(fixture.path, DeploymentOptions(), CompilePhase::Comm);
  ASSERT_TRUE(unscheduled);
  EXPECT_TRUE(exportBytes(*unscheduled).empty());
  EXPECT_NE(diagnostics.find("is not scheduled"), std::string::npos)
      << diagnostics;
}

TEST_F(ExportPlanTest, SyntheticWeights) {
  OwningOpRef<ModuleOp> module =
      compile(std::string(JANUS_TEST_FIXTURES) + "/olmoe_tiny",
              DeploymentOptions(), CompilePhase::Schedule, /*seed=*/1234);
  ASSERT_TRUE(module);
  std::string bytes = exportBytes(*module);
  ASSERT_FALSE(bytes.empty()) << diagnostics;
  absl::StatusOr<::janus::LoadedPlan> loaded =
      ::janus::LoadedPlan::FromBytes(bytes, "<test>");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const ::janus::plan::Plan &plan = loaded->plan();
  EXPECT_EQ(plan.synthetic_weights_seed(), 1234);
  EXPECT_EQ(plan.files()->size(), 0u);
  for (const auto *w : *plan.weights()) {
    uint64_t elements = 1;
    for (int64_t d : *w->shape())
      elements *= d;
    EXPECT_EQ(w->nbytes(),
              elements * ::janus::DTypeSize(::janus::FromPlanDType(w->dtype())))
        << w->name()->str();
  }
}

} // namespace
} // namespace mlir::janus
