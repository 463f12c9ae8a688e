//===- JanusDistributionOps.td - janus distribution ops ----*- tablegen -*-===//
//
// Ops the distribution passes insert: sub-cluster regions, attention <-> MoE communication and
// replica scheduling.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSDISTRIBUTIONOPS_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSDISTRIBUTIONOPS_TD

def Janus_PartitionOp : Janus_Op<"partition", [IsolatedFromAbove, SingleBlock,
    RecursiveMemoryEffects, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a region every GPU of a sub-cluster runs";
  let description = [{
    The body runs on every GPU of the `janus.cluster` named by `cluster`. It is isolated from
    above: values enter as `inputs` (the entry block's arguments, same types) and leave through
    the terminating `janus.yield`, whose operand types equal the results. `layer` is the decoder
    layer the partition belongs to, when it belongs to one.

    ```mlir
    %h = janus.partition @attention layer 1 (%x) : (tensor<?x128xf32>) -> tensor<?x128xf32> {
    ^bb0(%a: tensor<?x128xf32>):
      %y = janus.add %a, %a : tensor<?x128xf32>
      janus.yield %y : tensor<?x128xf32>
    }
    ```
  }];
  let arguments = (ins SymbolRefAttr:$cluster, OptionalAttr<I64Attr>:$layer,
                       Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $cluster (`layer` $layer^)? ` ` `(` $inputs `)` attr-dict `:` functional-type($inputs, $results)
    $body
  }];
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    YieldOp getYield();
  }];
  let hasVerifier = 1;
}

def Janus_YieldOp : Janus_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"PartitionOp">]> {
  let summary = "returns values from a janus.partition";
  let description = [{
    ```mlir
    janus.yield %y : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$operands);
  let builders = [OpBuilder<(ins), [{ build($_builder, $_state, ::mlir::ValueRange()); }]>];
  let assemblyFormat = "attr-dict ($operands^ `:` type($operands))?";
}

class Janus_CommOp<string mnemonic, string what, string example>
    : Janus_Op<mnemonic, [DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$layer,
      Janus_CommStrategyAttr:$strategy,
      DefaultValuedAttr<I64Attr, "0">:$phase,
      DefaultValuedAttr<I64Attr, "1">:$num_phases,
      DefaultValuedAttr<F64Attr, "0.0">:$predicted_us);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let description = what # [{

    `strategy` is the route (`direct`, `two_phase`, `relay`; results do not depend on it).
    A strategy of several phases appears as one op per phase (`phase` in `[0, num_phases)`),
    at the same point of both sub-clusters' programs. `predicted_us` is the cost model's
    estimate for this phase. Results have the inputs' types.

    ```mlir
  }] # example # [{
    ```
  }];
  let assemblyFormat = "custom<EnumKeyword>($strategy) $inputs attr-dict `:` type($inputs)";
  let hasVerifier = 1;
}

def Janus_CommDispatchOp : Janus_CommOp<"comm.dispatch",
    [{Attention -> MoE: every MoE GPU receives the rows of every attention GPU, in attention-GPU
    order (gating runs on the MoE side, so `x` alone is usually sent; `weights`/`ids` travel
    too when gating runs on the attention side).}],
    [{%xs = janus.comm.dispatch two_phase %x {layer = 1 : i64, num_phases = 2 : i64,
        predicted_us = 1.250000e+01 : f64} : tensor<?x128xf32>}]> {
  let summary = "send activations from the attention to the MoE sub-cluster";
}

def Janus_CommCombineOp : Janus_CommOp<"comm.combine",
    [{MoE -> attention: the MoE GPUs' partial sums are reduced and every attention GPU receives
    the rows it dispatched.}],
    [{%y = janus.comm.combine direct %partial {layer = 1 : i64} : tensor<?x128xf32>}]> {
  let summary = "return expert outputs from the MoE to the attention sub-cluster";
}

def Janus_ScheduleOp : Janus_Op<"schedule", [Pure, AllTypesMatch<["ids", "assignment"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "activation-balanced assignment of (token, k) pairs to expert replicas";
  let description = [{
    For every `ids[t, k]`, the MoE GPU (index within the MoE sub-cluster) that serves it under
    `placement`, chosen by the activation-balancing algorithm of ARCHITECTURE.md. Every MoE GPU
    computes the same table. When `ids` comes from a visible `janus.router`, its `num_experts`
    must equal the placement's.

    ```mlir
    %a = janus.schedule %ids placement(@experts_l1) : tensor<?x2xi32>
    ```
  }];
  let arguments = (ins Janus_TopKIds:$ids, FlatSymbolRefAttr:$placement);
  let results = (outs Janus_TopKIds:$assignment);
  let assemblyFormat = "$ids `placement` `(` $placement `)` attr-dict `:` type($ids)";
}

#endif // JANUS_DIALECTS_JANUS_IR_JANUSDISTRIBUTIONOPS_TD
