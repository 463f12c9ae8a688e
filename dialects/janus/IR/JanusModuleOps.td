//===- JanusModuleOps.td - janus module-level symbols ------*- tablegen -*-===//
#ifndef JANUS_DIALECTS_JANUS_IR_JANUSMODULEOPS_TD
#define JANUS_DIALECTS_JANUS_IR_JANUSMODULEOPS_TD

def Janus_CheckpointFileOp : Janus_Op<"checkpoint_file", [Symbol]> {
  let summary = "one safetensors file of the checkpoint";
  let description = [{
    Names one safetensors file. `path` is relative to the module's `janus.checkpoint_dir`
    attribute; `size` is the file's size in bytes and `header_checksum` the FNV-1a-64 of its
    first `8 + header_len` bytes (the length prefix and the JSON header), stored as the 64-bit
    pattern of the unsigned checksum (so it may print negative; `getHeaderChecksum()` returns it
    as `uint64_t`). The runtime refuses a checkpoint whose size or header changed.

    ```mlir
    janus.checkpoint_file @f0 {header_checksum = -3750763034362895579 : i64,
                               path = "model.safetensors", size = 1234567 : i64}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$path, I64Attr:$size,
                       I64Attr:$header_checksum);
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
}

def Janus_WeightOp : Janus_Op<"weight",
    [Symbol, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a checkpoint tensor, or a stack of equally shaped ones";
  let description = [{
    With one name, the weight is that checkpoint tensor (`type` is its shape; the element type is
    the checkpoint's). With `N > 1` names, it is the stack of those tensors along a new leading
    dimension (`type` is `N x shape`), e.g. the gate projections of one layer's experts in expert
    order. `files[i]` is the `janus.checkpoint_file` holding `names[i]`; `files` is empty when the
    module was imported from a config alone (synthetic weights).

    ```mlir
    janus.weight @embed : tensor<256x128xbf16> {files = [@f0], names = ["model.embed_tokens.weight"]}
    janus.weight @l1_gate : tensor<2x64x128xbf16> {files = [@f0, @f0],
        names = ["model.layers.1.mlp.experts.0.w1.weight", "model.layers.1.mlp.experts.1.w1.weight"]}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<AnyRankedTensor>:$type,
                       FlatSymbolRefArrayAttr:$files, StrArrayAttr:$names);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    /// True when the weight stacks several checkpoint tensors along dim 0.
    bool isStacked() { return getNames().size() > 1; }
  }];
  let hasVerifier = 1;
}

def Janus_ClusterOp : Janus_Op<"cluster", [Symbol]> {
  let summary = "a GPU sub-cluster";
  let description = [{
    A set of `num_gpus` GPUs with one role, on nodes of `gpus_per_node` GPUs. Inserted by
    `janus-partition`; `janus.partition` ops name it.

    ```mlir
    janus.cluster @attention attention {gpus_per_node = 8 : i64, num_gpus = 4 : i64}
    janus.cluster @moe moe {gpus_per_node = 8 : i64, num_gpus = 8 : i64}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Janus_RoleAttr:$role, I64Attr:$num_gpus,
                       I64Attr:$gpus_per_node);
  let assemblyFormat = "$sym_name custom<EnumKeyword>($role) attr-dict";
  let hasVerifier = 1;
}

def Janus_PlacementOp : Janus_Op<"placement", [Symbol]> {
  let summary = "expert replicas of one MoE layer on the MoE GPUs";
  let description = [{
    Logical expert `e` has the replicas `[replica_offsets[e], replica_offsets[e+1])`; replica `r`
    lives on MoE GPU `replica_gpu[r]` (0-based within the MoE sub-cluster) in weight slot
    `replica_slot[r]`. Every expert has at least one replica, no GPU holds two replicas of one
    expert and no (GPU, slot) holds two replicas. Inserted by `janus-place-experts`.

    ```mlir
    janus.placement @experts_l1 {layer = 1 : i64, num_experts = 4 : i64, num_gpus = 2 : i64,
        slots_per_gpu = 3 : i64, replica_offsets = array<i32: 0, 2, 3, 4, 5>,
        replica_gpu = array<i32: 0, 1, 0, 1, 0>, replica_slot = array<i32: 0, 0, 1, 1, 2>}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, I64Attr:$layer, I64Attr:$num_experts,
                       I64Attr:$num_gpus, I64Attr:$slots_per_gpu,
                       DenseI32ArrayAttr:$replica_offsets, DenseI32ArrayAttr:$replica_gpu,
                       DenseI32ArrayAttr:$replica_slot);
  let assemblyFormat = "$sym_name attr-dict";
  let extraClassDeclaration = [{
    int64_t getNumReplicas() { return getReplicaGpu().size(); }
    /// The replica indices of logical expert `expert`.
    ::llvm::iota_range<int32_t> getReplicasOf(int64_t expert) {
      return ::llvm::seq<int32_t>(getReplicaOffsets()[expert], getReplicaOffsets()[expert + 1]);
    }
  }];
  let hasVerifier = 1;
}

#endif // JANUS_DIALECTS_JANUS_IR_JANUSMODULEOPS_TD
