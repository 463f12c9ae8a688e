//===- HuggingFace.h - Import HF checkpoints into `janus` -------*- C++ -*-===//
//
// Reads a HuggingFace checkpoint folder (config.json + model.safetensors or an index of shards)
// and builds the `janus` module the compiler works on. Every error is emitted as a diagnostic that
// names the file, the key or the tensor, and what was expected.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_HUGGINGFACE_H
#define JANUS_DIALECTS_JANUS_IMPORT_HUGGINGFACE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace mlir::janus {

struct ImportOptions {
  /// Import the config alone: no safetensors are read, weights are marked synthetic and the runtime
  /// fills them deterministically from this seed.
  std::optional<uint64_t> syntheticWeightsSeed;
};

/// Returns null (after emitting diagnostics) on any error.
OwningOpRef<ModuleOp> importHuggingFace(MLIRContext *context,
                                        llvm::StringRef modelDir,
                                        const ImportOptions &options = {});

/// The model families the importer understands, for diagnostics and --help.
llvm::ArrayRef<llvm::StringRef> supportedModelTypes();

} // namespace mlir::janus

#endif // JANUS_DIALECTS_JANUS_IMPORT_HUGGINGFACE_H
