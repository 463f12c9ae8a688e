//===- JanusAttrs.td - janus enums and attributes ----------*- tablegen -*-===//
//
// Enum attributes print as `#janus<qk_norm head>` in attribute dictionaries and as the bare
// keyword (`head`) where an op's assembly format names them directly.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSATTRS_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSATTRS_TD

include "dialects/janus/IR/JanusBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

class Janus_Enum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::janus";
  // The EnumAttr below is the attribute; this is only the C++ enum.
  let genSpecializedAttr = 0;
}

class Janus_EnumAttr<EnumAttrInfo info, string mnemonic>
    : EnumAttr<Janus_Dialect, info, mnemonic> {
  let assemblyFormat = "$value";
}

def Janus_Role : Janus_Enum<"Role", "GPU sub-cluster role", [
    I32EnumAttrCase<"attention", 0>, I32EnumAttrCase<"moe", 1>]>;
def Janus_RoleAttr : Janus_EnumAttr<Janus_Role, "role">;

def Janus_CommStrategy : Janus_Enum<"CommStrategy",
    "route of attention <-> MoE activations", [
    I32EnumAttrCase<"direct", 0>, I32EnumAttrCase<"two_phase", 1>,
    I32EnumAttrCase<"relay", 2>]>;
def Janus_CommStrategyAttr : Janus_EnumAttr<Janus_CommStrategy, "comm_strategy">;

def Janus_RouterScoring : Janus_Enum<"RouterScoring", "router score function", [
    I32EnumAttrCase<"softmax", 0>, I32EnumAttrCase<"sigmoid", 1>]>;
def Janus_RouterScoringAttr : Janus_EnumAttr<Janus_RouterScoring, "router_scoring">;

def Janus_GroupScoring : Janus_Enum<"GroupScoring",
    "score of an expert group in group-limited top-k", [
    I32EnumAttrCase<"top2_sum", 0>, I32EnumAttrCase<"max", 1>]>;
def Janus_GroupScoringAttr : Janus_EnumAttr<Janus_GroupScoring, "group_scoring">;

def Janus_QkNorm : Janus_Enum<"QkNorm", "RMSNorm applied to q and k before RoPE", [
    I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"head", 1>, I32EnumAttrCase<"full", 2>]>;
def Janus_QkNormAttr : Janus_EnumAttr<Janus_QkNorm, "qk_norm">;

def Janus_RopeStyle : Janus_Enum<"RopeStyle", "pairing of rotated dimensions", [
    I32EnumAttrCase<"half_split", 0>, I32EnumAttrCase<"interleaved", 1>]>;
def Janus_RopeStyleAttr : Janus_EnumAttr<Janus_RopeStyle, "rope_style">;

def Janus_RopeScaling : Janus_Enum<"RopeScaling", "RoPE frequency scaling", [
    I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"linear", 1>, I32EnumAttrCase<"yarn", 2>]>;
def Janus_RopeScalingAttr : Janus_EnumAttr<Janus_RopeScaling, "rope_scaling">;

//===----------------------------------------------------------------------===//
// #janus.rope
//===----------------------------------------------------------------------===//

// A double parameter. LLVM cannot hash a `double`, so the C++ type is HashableDouble, which
// converts implicitly to and from `double`; it prints as an MLIR float literal.
class Janus_DoubleParameter<string default, string desc>
    : DefaultValuedParameter<"::mlir::janus::HashableDouble", default, desc> {
  let comparator = "::llvm::bit_cast<uint64_t>(double($_lhs)) == "
                   "::llvm::bit_cast<uint64_t>(double($_rhs))";
  let parser = "::mlir::janus::parseDoubleParameter($_parser)";
  let printer = "$_printer.printFloat(::llvm::APFloat($_self.value))";
}

def Janus_RopeAttr : Janus_Attr<"Rope", "rope"> {
  let summary = "rotary position embedding parameters";
  let description = [{
    RoPE as HuggingFace computes it. `theta` is the base, `rotary_dim` the number of dimensions
    rotated per head (the first `rotary_dim` of the head; the others pass through), `style` how
    they pair up (`half_split`: `i` with `i + rotary_dim/2`, `interleaved`: `2i` with `2i+1`).
    `scaling = linear` divides positions by `factor`; `scaling = yarn` uses `factor`,
    `original_max_position`, `beta_fast`, `beta_slow`, `mscale` and `mscale_all_dim` as
    `transformers`' `_compute_yarn_parameters` does. Parameters equal to their default are
    omitted when printed.

    ```mlir
    #janus.rope<theta = 1.000000e+04, rotary_dim = 32>
    #janus.rope<theta = 1.000000e+04, style = interleaved, scaling = yarn, factor = 4.000000e+00,
                original_max_position = 4096, mscale_all_dim = 1.000000e+00, rotary_dim = 16>
    ```
  }];
  let parameters = (ins
    Janus_DoubleParameter<"10000.0", "RoPE base">:$theta,
    DefaultValuedParameter<"::mlir::janus::RopeStyle", "::mlir::janus::RopeStyle::half_split",
                           "dimension pairing">:$style,
    DefaultValuedParameter<"::mlir::janus::RopeScaling", "::mlir::janus::RopeScaling::none",
                           "frequency scaling">:$scaling,
    Janus_DoubleParameter<"1.0", "scaling factor">:$factor,
    DefaultValuedParameter<"int64_t", "0", "yarn: original context length">:$original_max_position,
    Janus_DoubleParameter<"32.0", "yarn: beta_fast">:$beta_fast,
    Janus_DoubleParameter<"1.0", "yarn: beta_slow">:$beta_slow,
    Janus_DoubleParameter<"1.0", "yarn: mscale">:$mscale,
    Janus_DoubleParameter<"0.0", "yarn: mscale_all_dim">:$mscale_all_dim,
    "int64_t":$rotary_dim
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // JANUS_DIALECTS_JANUS_IR_JANUSATTRS_TD
