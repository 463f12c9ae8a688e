//===- JanusOps.h - janus operations ----------------------------*- C++ -*-===//
//
// The one header users of the dialect include: dialect, enums, attributes and ops.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSOPS_H
#define JANUS_DIALECTS_JANUS_IR_JANUSOPS_H

#include "dialects/janus/IR/JanusDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/Sequence.h"

namespace mlir::janus {
// `custom<EnumKeyword>($attr)`: an enum attribute as its bare keyword (`two_phase`). The
// EnumAttr's own stripped form prints a leading space, which reads badly inside an op.
template <typename EnumAttrT>
void printEnumKeyword(OpAsmPrinter &printer, Operation *, EnumAttrT attr) {
  printer << stringifyEnum(attr.getValue());
}

template <typename EnumAttrT>
ParseResult parseEnumKeyword(OpAsmParser &parser, EnumAttrT &attr) {
  using EnumT = decltype(std::declval<EnumAttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value = symbolizeEnum<EnumT>(keyword);
  if (!value)
    return parser.emitError(loc) << "unknown " << EnumAttrT::getMnemonic()
                                 << " '" << keyword << "'";
  attr = EnumAttrT::get(parser.getContext(), *value);
  return success();
}
} // namespace mlir::janus

#define GET_OP_CLASSES
#include "dialects/janus/IR/JanusOps.h.inc"

#endif // JANUS_DIALECTS_JANUS_IR_JANUSOPS_H
