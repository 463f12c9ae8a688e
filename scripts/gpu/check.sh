#!/usr/bin/env bash
# The whole GPU check of the CUDA kernels, run ON the GPU machine from the repository root:
#   scripts/gpu/check.sh [BINARY_DIR]      (default: .device-carry/bin, made by build-carry.sh)
# Prints the GPU, runs every kernel test binary (GoogleTest output to $OUT/tests.log), runs
# janus-bench ($OUT/bench.log) and prints a short summary table last. Exit status: non-zero when a
# test failed or the benchmark failed.
set -uo pipefail
# shellcheck source=scripts/gpu/env.sh
. "$(dirname "$0")/env.sh"
bin=$(janus_binary_dir "${1:-.device-carry/bin}" check.sh) || exit 2
out=${OUT:-/tmp/janus-gpu-check}
mkdir -p "$out"
: >"$out/tests.log"

echo "== GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader ||
  echo "check.sh: nvidia-smi failed"

summary=()
failed=0
echo "== tests"
for t in "$bin"/janus_kernels_*_test; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log=$(mktemp)
  timeout 300 "$t" --gtest_color=no >"$log" 2>&1
  rc=$?
  { echo "===== $name (exit $rc)"; cat "$log"; } >>"$out/tests.log"
  passed=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$log" | tail -1)
  fails=$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= tests?, listed)' "$log" | tail -1)
  skipped=$(grep -oP '^\[  SKIPPED \] \K[0-9]+(?= tests?, listed)' "$log" | tail -1)
  [ "$rc" = 0 ] || failed=1
  grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | sort -u
  summary+=("$(printf '%-38s exit %-3s passed %-3s failed %-3s skipped %s' "$name" "$rc" "${passed:-0}" "${fails:-0}" "${skipped:-0}")")
  rm -f "$log"
done

echo "== janus-bench"
# JANUS_BENCH_ARGS (e.g. "--quick" or "--filter=expert_ffn") is passed through, word-split.
# shellcheck disable=SC2086
timeout 420 "$bin/janus-bench" ${JANUS_BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
bench_rc=${PIPESTATUS[0]}
[ "$bench_rc" = 0 ] || failed=1

echo
echo "== summary (full logs: $out/tests.log, $out/bench.log)"
printf '%s\n' "${summary[@]}"
echo "janus-bench exit $bench_rc"
printf '%-22s %-44s %10s %11s %12s %7s  %s\n' kernel shape median_us 'MB|GFLOP' 'GB/s|TFLOP/s' '%limit' note
grep -E '^(limit\.|scheduler|expert_ffn|decode_attention|rms_norm|router|rope|argmax|sample)' "$out/bench.log" |
  awk '{printf "%s\n", $0}' | cut -c1-170
exit $failed
