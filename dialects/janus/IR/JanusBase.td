//===- JanusBase.td - The janus dialect and its type constraints -*- tablegen -*-===//
//
// The dialect definition, the op base class and the tensor constraints every janus op shares.
// Activations are `tensor<?xNxf32>` (tokens x features: the token dimension may be dynamic, the
// feature dimension never is); weights are static bf16/f16/f32 tensors.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSBASE_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/CommonTypeConstraints.td"

def Janus_Dialect : Dialect {
  let name = "janus";
  let cppNamespace = "::mlir::janus";
  let summary = "Disaggregated attention / expert serving of Mixture-of-Experts models";
  let description = [{
    The `janus` dialect describes a HuggingFace Mixture-of-Experts checkpoint as a model-level
    program (embedding, attention, routers, experts, ...) over named checkpoint weights, and the
    distribution decisions the compiler takes for it: which GPU sub-cluster runs which part
    (`janus.partition`), where each expert's replicas live (`janus.placement`), how activations
    travel between the attention and the MoE sub-clusters (`janus.comm.dispatch`,
    `janus.comm.combine`) and how each token's expert choice is mapped to a replica
    (`janus.schedule`).
  }];
  let useDefaultAttributePrinterParser = 1;
  // Checks the types of the module attributes ARCHITECTURE.md lists (janus.model_type, ...).
  let hasOperationAttrVerify = 1;
}

class Janus_Op<string mnemonic, list<Trait> traits = []>
    : Op<Janus_Dialect, mnemonic, traits>;

class Janus_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Janus_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Tensor constraints
//===----------------------------------------------------------------------===//

def Janus_WeightElement : AnyTypeOf<[BF16, F16, F32]>;

class Janus_StaticWeight<int rank>
    : Type<And<[TensorRankOf<[BF16, F16, F32], [rank]>.predicate, HasStaticShapePred]>,
           "static " # rank # "-D tensor of bf16, f16 or f32 values",
           "::mlir::RankedTensorType">;

def Janus_Weight1D : Janus_StaticWeight<1>;
def Janus_Weight2D : Janus_StaticWeight<2>;
def Janus_Weight3D : Janus_StaticWeight<3>;

def Janus_StaticFeaturesPred
    : CPred<"!::mlir::ShapedType::isDynamic("
            "::llvm::cast<::mlir::RankedTensorType>($_self).getDimSize(1))">;

// Tokens x features (or tokens x k for router outputs): rank 2, static second dimension.
class Janus_Rows<Type element, string what>
    : Type<And<[TensorRankOf<[element], [2]>.predicate, Janus_StaticFeaturesPred]>,
           "2-D tensor of " # what # " with a static second dimension",
           "::mlir::RankedTensorType">;

def Janus_Activation : Janus_Rows<F32, "f32 values">;
def Janus_TopKIds : Janus_Rows<I32, "32-bit signless integers">;
def Janus_TokenIds : TensorRankOf<[I32], [1]>;

#endif // JANUS_DIALECTS_JANUS_IR_JANUSBASE_TD
