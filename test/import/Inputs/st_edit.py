#!/usr/bin/env python3
"""Edits safetensors checkpoints to build the importer's bad (and sharded) test inputs.

    st_edit.py FILE set-dtype TENSOR DTYPE      rewrite TENSOR as DTYPE (zero bytes of the new width)
    st_edit.py FILE drop TENSOR                 remove TENSOR
    st_edit.py FILE add TENSOR DTYPE D0,D1,...  add a zero tensor
    st_edit.py FILE rename OLD NEW              rename a tensor
    st_edit.py DIR shard N                      split DIR/model.safetensors into N shards + index
                                                (tensor i goes to shard i % N, so stacks span shards)

Python standard library only (no pip packages here). Every rewrite produces a valid file: the
header is re-serialised and the data re-laid out, so only the intended property is broken.
"""
import json
import os
import struct
import sys

WIDTH = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", None)
    data = blob[8 + n:]
    tensors = []
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        tensors.append([name, info["dtype"], info["shape"], data[b:e]])
    return meta, tensors


def write(path, meta, tensors):
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    offset = 0
    chunks = []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def find(tensors, name):
    for t in tensors:
        if t[0] == name:
            return t
    sys.exit(f"st_edit.py: no tensor {name!r}")


def main(argv):
    target, op, args = argv[1], argv[2], argv[3:]
    if op == "shard":
        n = int(args[0])
        meta, tensors = read(os.path.join(target, "model.safetensors"))
        os.remove(os.path.join(target, "model.safetensors"))
        weight_map = {}
        for i in range(n):
            name = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            part = tensors[i::n]
            write(os.path.join(target, name), meta, part)
            for t in part:
                weight_map[t[0]] = name
        with open(os.path.join(target, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
        return
    meta, tensors = read(target)
    if op == "set-dtype":
        t = find(tensors, args[0])
        t[1] = args[1]
        t[3] = bytes(numel(t[2]) * WIDTH[args[1]])
    elif op == "drop":
        tensors.remove(find(tensors, args[0]))
    elif op == "add":
        shape = [int(d) for d in args[2].split(",")]
        tensors.append([args[0], args[1], shape, bytes(numel(shape) * WIDTH[args[1]])])
    elif op == "rename":
        find(tensors, args[0])[0] = args[1]
    else:
        sys.exit(f"st_edit.py: unknown operation {op!r}")
    write(target, meta, tensors)


if __name__ == "__main__":
    main(sys.argv)
