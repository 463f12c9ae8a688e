//===- CheckpointCheck.h - Check safetensors against the layout -*- C++ -*-===//
//
// Internal to the importer: opens a checkpoint with janus_io (memory-mapped,
// headers verified against the files) and checks it tensor by tensor against
// the WeightLayout of its config.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_CHECKPOINTCHECK_H
#define JANUS_DIALECTS_JANUS_IMPORT_CHECKPOINTCHECK_H

#include "dialects/janus/Import/ModelConfig.h"
#include "dialects/janus/Import/WeightLayout.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::janus {

struct CheckedFile {
  std::string relativePath; ///< relative to the checkpoint directory
  uint64_t size = 0;
  uint64_t headerChecksum = 0;
};

struct CheckedWeight {
  WeightDType dtype = WeightDType::BF16;
  std::vector<int>
      files; ///< index into CheckedCheckpoint::files, one per tensor
};

struct CheckedCheckpoint {
  std::vector<CheckedFile> files;
  std::vector<CheckedWeight> weights; ///< parallel to WeightLayout::weights
  /// Tensors of multi-token-prediction layers found (and left out).
  int64_t mtpTensors = 0;
};

/// Emits one diagnostic per problem (missing, unexpected, misshapen or badly
/// typed tensors; up to a cap) and fails if there was any.
/// Multi-token-prediction tensors are counted, not imported.
LogicalResult checkCheckpoint(MLIRContext *context, StringRef dir,
                              const ModelConfig &config,
                              const WeightLayout &layout,
                              CheckedCheckpoint &out);

} // namespace mlir::janus

#endif // JANUS_DIALECTS_JANUS_IMPORT_CHECKPOINTCHECK_H
