#!/usr/bin/env python3
"""st_compare.py A B: prints 'same tensors' when two safetensors files hold the same tensor names
with the same shapes, else the differences. st_compare.py --stats FILE TENSOR: prints min, max,
mean and std of an F32 tensor."""
import json
import struct
import sys


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h, 8 + n


if sys.argv[1] == "--stats":
    h, base = header(sys.argv[2])
    info = h[sys.argv[3]]
    assert info["dtype"] == "F32", info["dtype"]
    b, e = info["data_offsets"]
    with open(sys.argv[2], "rb") as f:
        f.seek(base + b)
        raw = f.read(e - b)
    v = struct.unpack(f"<{len(raw) // 4}f", raw)
    mean = sum(v) / len(v)
    std = (sum((x - mean) ** 2 for x in v) / len(v)) ** 0.5
    print(f"min {min(v):.3f} max {max(v):.3f} mean {mean:.3f} std {std:.3f}")
    sys.exit(0)

a, _ = header(sys.argv[1])
b, _ = header(sys.argv[2])
sa = {k: v["shape"] for k, v in a.items()}
sb = {k: v["shape"] for k, v in b.items()}
if sa == sb:
    print("same tensors")
else:
    print("only in A:", sorted(set(sa) - set(sb))[:5])
    print("only in B:", sorted(set(sb) - set(sa))[:5])
    print("shape differs:", [k for k in sa if k in sb and sa[k] != sb[k]][:5])
