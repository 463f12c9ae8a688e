#!/usr/bin/env bash
# The GPU check of the cuda backend, run ON the GPU machine from the repository root after
# scripts/gpu/build-carry.sh made .device-carry here:
#   scripts/gpu/check-backend.sh [CARRY_DIR]     (default .device-carry)
# Runs janus_cuda_backend_test, then every fixture plan in CARRY_DIR/plans through
# `janus-run --backend=cuda --reference` at the documented bf16 tolerance (docs/cuda-backend.md).
# Logs go to $OUT/backend.log. Exit status non-zero when anything failed.
set -uo pipefail
carry=${1:-.device-carry}
tolerance=${JANUS_BF16_TOLERANCE:-3e-2}
out=${OUT:-/tmp/janus-gpu-check}
mkdir -p "$out"
log=$out/backend.log
: >"$log"
# shellcheck source=scripts/gpu/env.sh
. "$(dirname "$0")/env.sh"

failed=0
echo "== janus_cuda_backend_test"
timeout 300 "$carry/bin/janus_cuda_backend_test" --gtest_color=no >>"$log" 2>&1 || failed=1
grep -E '^\[  (PASSED|FAILED|SKIPPED) \]|shape [0-9]: ' "$log" | sort -u

echo "== fixtures (tolerance $tolerance, greedy and routing near ties allowed)"
for plan in "$carry"/plans/*.jplan; do
  [ -e "$plan" ] || continue
  name=$(basename "$plan" .jplan)
  fixture=${name%%.*}
  res=$(timeout 120 "$carry/bin/janus-run" "$plan" --backend=cuda --checkpoint-dir "test/data/hf/$fixture" \
          --reference "test/data/hf/$fixture/reference.json" --tolerance "$tolerance" \
          --allow-near-ties --routing-ties 2>&1)
  rc=$?
  { echo "===== $name (exit $rc)"; echo "$res"; } >>"$log"
  [ "$rc" = 0 ] || failed=1
  printf '%-28s exit %s  %s\n' "$name" "$rc" "$(echo "$res" | grep -E '^reference:|error' | head -1)"
done
exit $failed
