#!/usr/bin/env python3
"""Independent check of a compiled plan against the MLIR it came from and the checkpoint.

Usage: check_plan.py SCHEDULED.mlir PLAN.json [CHECKPOINT_DIR]
       check_plan.py --roundtrip WORKDIR MODEL_DIR [--synthetic] "FLAGS" ["FLAGS" ...]
The second form compiles MODEL_DIR once per FLAGS string (janus-compile to a plan and to
--compile-to=schedule), dumps the plan (janus-dump-plan --json) and checks each; janus-compile and
janus-dump-plan come from PATH.

SCHEDULED.mlir is `janus-compile --compile-to=schedule` output for the same model and flags,
PLAN.json is `janus-dump-plan --json` of the plan. Checks, without any Janus code:
  - deployment: ranks in order, attention first, nodes = index // gpus_per_node, MoE nodes after
    the attention nodes;
  - placements: every janus.placement equals the plan's table for its layer;
  - communication: per layer, the strategy and phases of the IR's comm ops appear in both programs;
  - programs: every register read was written before (attention register 0 holds the token ids),
    the attention program ends in the LM head whose output is Program.output;
  - weights: with CHECKPOINT_DIR, every weight's dtype, shape and absolute byte range equal the
    safetensors header's, every file's size and FNV-1a-64 header checksum equal the file's.
Prints "plan-check: OK ..." or "plan-check: FAIL: ..." (exit 1).
"""
import json
import os
import re
import struct
import subprocess
import sys


def fail(message):
    print(f"plan-check: FAIL: {message}")
    sys.exit(1)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ints(text):
    return [int(v) for v in text.split(",")] if text.strip() else []


def check(mlir_path, plan_path, checkpoint):
    mlir = open(mlir_path).read()
    plan = json.load(open(plan_path))

    clusters = {m.group(1): (int(m.group(3)), int(m.group(2))) for m in re.finditer(
        r"janus\.cluster @(\w+) \w+ \{gpus_per_node = (\d+) : i64, num_gpus = (\d+) : i64\}", mlir)}
    (attention, per_node), (moe, _) = clusters["attention"], clusters["moe"]
    dep = plan["deployment"]
    if (dep["attention_ranks"], dep["moe_ranks"], dep["gpus_per_node"]) != (attention, moe, per_node):
        fail(f"deployment {dep['attention_ranks']}+{dep['moe_ranks']}/{dep['gpus_per_node']}, "
             f"IR {attention}+{moe}/{per_node}")
    attention_nodes = (attention + per_node - 1) // per_node
    expected = [(i, "Attention", i, i // per_node) for i in range(attention)] + [
        (attention + j, "Moe", j, attention_nodes + j // per_node) for j in range(moe)]
    got = [(r["rank"], r["role"], r["index"], r["node"]) for r in dep["ranks"]]
    if got != expected:
        fail(f"ranks {got}, expected {expected}")
    gating, cluster = "Moe", None
    for line in mlir.splitlines():
        m = re.search(r"janus\.partition @(\w+)", line)
        if m:
            cluster = m.group(1)
        elif "janus.router" in line and cluster == "attention":
            gating = "Attention"
    if dep["gating"] != gating:
        fail(f"gating {dep['gating']}, IR says {gating}")

    placements = {}
    for m in re.finditer(r"janus\.placement @\w+ \{([^}]*)\}", mlir):
        attrs = m.group(1)
        get = lambda key: re.search(key + r" = array<i32: ([^>]*)>", attrs).group(1)
        layer = int(re.search(r"layer = (\d+)", attrs).group(1))
        placements[layer] = (ints(get("replica_offsets")), ints(get("replica_gpu")),
                             ints(get("replica_slot")),
                             int(re.search(r"slots_per_gpu = (\d+)", attrs).group(1)))
    plan_placements = {p["layer"]: (p["replica_offsets"], p["replica_rank"], p["replica_slot"],
                                    p["slots_per_rank"]) for p in plan.get("placements", [])}
    if placements != plan_placements:
        fail(f"placements differ: IR {placements}, plan {plan_placements}")
    if sorted(placements) != plan["model"]["moe_layers"]:
        fail(f"moe_layers {plan['model']['moe_layers']}, IR {sorted(placements)}")

    comm = []
    for m in re.finditer(r"janus\.comm\.(dispatch|combine) (\w+) [^{]*\{([^}]*)\}", mlir):
        attrs = m.group(3)
        layer = int(re.search(r"layer = (\d+)", attrs).group(1))
        phase = re.search(r"phase = (\d+)", attrs)
        num = re.search(r"num_phases = (\d+)", attrs)
        strategy = {"direct": "Direct", "two_phase": "TwoPhase", "relay": "Relay"}[m.group(2)]
        comm.append((m.group(1), layer, strategy, int(phase.group(1)) if phase else 0,
                     int(num.group(1)) if num else 1))
    names = {"DispatchParams": "dispatch", "CombineParams": "combine"}
    for program in plan["programs"]:
        got = [(names[i["op"]], i["params"]["layer"], i["params"]["strategy"], i["params"]["phase"],
                i["params"]["num_phases"]) for i in program["instrs"] if i["op"] in names]
        if got != comm:
            fail(f"{program['role']} program comm {got}, IR {comm}")

    for program in plan["programs"]:
        written = {0} if program["role"] == "Attention" else set()
        for n, instr in enumerate(program["instrs"]):
            for reg in instr["inputs"]:
                if reg not in written:
                    fail(f"{program['role']} instr {n} ({instr['op']}) reads r{reg} before any write")
            written.update(instr["outputs"])
    head = plan["programs"][0]["instrs"][-1]
    if head["op"] != "LmHeadParams" or head["outputs"] != [plan["programs"][0]["output"]]:
        fail(f"the attention program ends in {head['op']} -> {head['outputs']}, output "
             f"{plan['programs'][0]['output']}")
    if plan["programs"][0]["instrs"][0]["op"] != "EmbedParams" or \
            plan["programs"][0]["instrs"][0]["inputs"] != [0]:
        fail("the attention program does not start with the embedding of register 0")

    ir_names = set()
    for m in re.finditer(r"janus\.weight @\S+ : [^{]*\{files = [^]]*\], names = \[([^]]*)\]", mlir):
        ir_names.update(re.findall(r'"([^"]+)"', m.group(1)))
    for w in plan["weights"]:
        if w["name"] not in ir_names:
            fail(f"plan weight {w['name']} is no janus.weight name")
    if len({w["name"] for w in plan["weights"]}) != len(plan["weights"]):
        fail("a checkpoint tensor appears twice in the plan's weights")

    if checkpoint:
        for f in plan["files"]:
            path = os.path.join(checkpoint, f["path"])
            raw = open(path, "rb").read()
            (header_len,) = struct.unpack("<Q", raw[:8])
            if f["size"] != len(raw) or int(str(f["header_checksum"]), 0) != fnv1a64(raw[:8 + header_len]):
                fail(f"file {f['path']}: size/checksum do not match the file")
            f["_header"] = (json.loads(raw[8:8 + header_len]), 8 + header_len)
        for w in plan["weights"]:
            header, data_start = plan["files"][w["file"]]["_header"]
            t = header.get(w["name"])
            if t is None:
                fail(f"{w['name']} is not in {plan['files'][w['file']]['path']}")
            begin, end = t["data_offsets"]
            if (t["dtype"], t["shape"], data_start + begin, end - begin) != \
                    (w["dtype"], w["shape"], w["offset"], w["nbytes"]):
                fail(f"{w['name']}: plan {w['dtype']} {w['shape']} @{w['offset']}+{w['nbytes']}, "
                     f"file {t['dtype']} {t['shape']} @{data_start + begin}+{end - begin}")
    if checkpoint is None and (plan["synthetic_weights_seed"] < 0 or plan["files"]):
        fail("a plan without checkpoint files must be synthetic")
    return (f"plan-check: OK {attention}+{moe} ranks, {len(placements)} placements, "
            f"{len(comm)} comm ops, {len(plan['weights'])} weights")


def roundtrip(workdir, model, flags_list):
    synthetic = "--synthetic" in flags_list
    flags_list = [f for f in flags_list if f != "--synthetic"]
    os.makedirs(workdir, exist_ok=True)
    for n, flags in enumerate(flags_list):
        extra = flags.split() + (["--synthetic-weights=11"] if synthetic else [])
        plan_path = os.path.join(workdir, f"{n}.jplan")
        mlir_path = os.path.join(workdir, f"{n}.mlir")
        json_path = os.path.join(workdir, f"{n}.json")
        for cmd in (["janus-compile", model, "-o", plan_path] + extra,
                    ["janus-compile", model, "--compile-to=schedule", "-o", mlir_path] + extra):
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"{' '.join(cmd)}: {result.stderr.strip()}")
        with open(json_path, "w") as out:
            result = subprocess.run(["janus-dump-plan", plan_path, "--json"], stdout=out,
                                    stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            fail(f"janus-dump-plan {plan_path}: {result.stderr.strip()}")
        print(f"[{flags}] " + check(mlir_path, json_path, None if synthetic else model))


if __name__ == "__main__":
    if sys.argv[1] == "--roundtrip":
        roundtrip(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        print(check(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
