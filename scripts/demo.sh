#!/usr/bin/env bash
# The main job, on a fresh machine: install what is missing, build, generate a small MoE model
# (examples/tiny-moe: config + deterministic random weights), compile it into a disaggregated
# plan (1 attention GPU + 2 MoE GPUs) and generate tokens with it: on the cuda backend (the whole
# plan on one GPU) when a GPU is visible and the build has CUDA, else on the cpu backend
# (JANUS_BACKEND=cpu|cuda forces one).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${JANUS_BUILD_DIR:-$root/build}
bin=$build/bin
work=$build/demo
mkdir -p "$work"

echo "== janus-make-model: examples/tiny-moe with seed 7"
"$bin/janus-make-model" "$root/examples/tiny-moe/config.json" --seed=7 -o "$work/tiny-moe"
echo "== janus-compile: 1 attention GPU + 2 MoE GPUs"
"$bin/janus-compile" "$work/tiny-moe" --attention-gpus=1 --moe-gpus=2 -o "$work/tiny-moe.jplan"
backend=${JANUS_BACKEND:-}
if [ -z "$backend" ]; then
  backend=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU &&
     "$bin/janus-run" --help | grep -q "gpu-memory-fraction"; then
    backend=cuda
  fi
fi
echo "== janus-run ($backend backend)"
"$bin/janus-run" "$work/tiny-moe.jplan" --backend="$backend" --summary --stats \
  --prompt-ids 1,17,42,99,7 --prompt-ids 3,300,12 --max-new-tokens 16
