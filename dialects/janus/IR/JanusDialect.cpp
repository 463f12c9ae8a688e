//===- JanusDialect.cpp - janus dialect, enums and attributes -------------===//

#include "dialects/janus/IR/JanusOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::janus;

#include "dialects/janus/IR/JanusDialect.cpp.inc"
#include "dialects/janus/IR/JanusEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/janus/IR/JanusAttrs.cpp.inc"

void JanusDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/janus/IR/JanusAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/janus/IR/JanusOps.cpp.inc"
      >();
}

FailureOr<HashableDouble> mlir::janus::parseDoubleParameter(AsmParser &parser) {
  double value = 0.0;
  if (parser.parseFloat(value))
    return failure();
  return HashableDouble(value);
}

// The module attributes the importer writes and the passes and plan export read. Other `janus.*`
// names are left alone: passes may add their own.
LogicalResult JanusDialect::verifyOperationAttribute(Operation *op,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  auto expectInteger = [&](int64_t min) -> LogicalResult {
    auto integer = dyn_cast<IntegerAttr>(value);
    if (!integer || !integer.getType().isSignlessInteger(64))
      return op->emitOpError() << "expects '" << name
                               << "' to be an i64 integer, got " << value;
    if (integer.getInt() < min)
      return op->emitOpError() << "expects '" << name << "' >= " << min
                               << ", got " << integer.getInt();
    return success();
  };
  if (name == "janus.model_type" || name == "janus.checkpoint_dir") {
    auto string = dyn_cast<StringAttr>(value);
    if (!string)
      return op->emitOpError() << "expects '" << name << "' to be a string, got "
                               << value;
    if (name == "janus.model_type" && string.getValue().empty())
      return op->emitOpError() << "expects a non-empty '" << name << "'";
    return success();
  }
  if (name == "janus.vocab_size" || name == "janus.hidden_size" ||
      name == "janus.num_layers" || name == "janus.max_position_embeddings")
    return expectInteger(1);
  if (name == "janus.bos_token_id" || name == "janus.synthetic_weights_seed")
    return expectInteger(0);
  if (name == "janus.eos_token_ids" && !isa<DenseI64ArrayAttr>(value))
    return op->emitOpError() << "expects '" << name
                             << "' to be an array<i64: ...>, got " << value;
  return success();
}

LogicalResult RopeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               HashableDouble theta, RopeStyle style,
                               RopeScaling scaling, HashableDouble factor,
                               int64_t originalMaxPosition,
                               HashableDouble betaFast, HashableDouble betaSlow,
                               HashableDouble mscale,
                               HashableDouble mscaleAllDim, int64_t rotaryDim) {
  if (!(theta > 0.0))
    return emitError() << "rope theta must be positive, got " << theta;
  if (rotaryDim <= 0 || rotaryDim % 2 != 0)
    return emitError() << "rope rotary_dim must be positive and even, got "
                       << rotaryDim;
  if (scaling != RopeScaling::none && !(factor > 0.0))
    return emitError() << "rope factor must be positive with scaling = "
                       << stringifyRopeScaling(scaling) << ", got " << factor;
  if (scaling == RopeScaling::yarn) {
    if (originalMaxPosition <= 0)
      return emitError() << "rope scaling = yarn needs original_max_position "
                            "> 0, got "
                         << originalMaxPosition;
    if (!(betaFast > betaSlow))
      return emitError() << "rope beta_fast (" << betaFast
                         << ") must exceed beta_slow (" << betaSlow << ")";
  }
  return success();
}
