#!/usr/bin/env bash
# compute-sanitizer over the CUDA kernel tests, run ON the GPU machine from the repository root:
#   scripts/gpu/sanitize.sh [BINARY_DIR] [TOOL ...]     (default .device-carry/bin, memcheck racecheck)
# Runs every janus_kernels_*_test binary under each tool (memcheck: out-of-bounds and misaligned
# global/shared accesses, racecheck: shared-memory hazards between threads, synccheck: barrier
# misuse, initcheck: reads of uninitialised global memory), each binary with a time limit
# (JANUS_SANITIZE_TIMEOUT seconds, default 120: sanitized kernels run 10-100x slower, and a binary
# cut off by the limit is reported as such, not as clean). Full logs: $OUT/sanitize-<tool>.log;
# one summary line per (tool, binary) on stdout. JANUS_SANITIZE_TESTS (names without the
# janus_kernels_ prefix and _test suffix, space-separated) restricts the binaries and
# JANUS_SANITIZE_GTEST_FILTER the tests inside them (a --gtest_filter pattern). Exit status
# non-zero when a tool reported an error or a test failed under it.
set -uo pipefail
# shellcheck source=scripts/gpu/env.sh
. "$(dirname "$0")/env.sh"
bin=$(janus_binary_dir "${1:-.device-carry/bin}" sanitize.sh) || exit 2
shift || true
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(memcheck racecheck)
out=${OUT:-/tmp/janus-gpu-check}
mkdir -p "$out"
limit=${JANUS_SANITIZE_TIMEOUT:-120}
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -z "$sanitizer" ]; then
  echo "sanitize.sh: compute-sanitizer not found" >&2
  exit 2
fi

failed=0
for tool in "${tools[@]}"; do
  log=$out/sanitize-$tool.log
  : >"$log"
  for t in "$bin"/janus_kernels_*_test; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ -n "${JANUS_SANITIZE_TESTS:-}" ]; then
      short=${name#janus_kernels_}
      case " $JANUS_SANITIZE_TESTS " in *" ${short%_test} "*) ;; *) continue ;; esac
    fi
    one=$(mktemp)
    timeout "$limit" "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$t" --gtest_color=no --gtest_brief=1 "--gtest_filter=${JANUS_SANITIZE_GTEST_FILTER:-*}" \
      >"$one" 2>&1
    rc=$?
    { echo "===== $tool $name (exit $rc)"; cat "$one"; } >>"$log"
    errors=$(grep -oP 'ERROR SUMMARY: \K[0-9]+' "$one" | tail -1)
    hazards=$(grep -oP 'RACECHECK SUMMARY: \K[0-9]+' "$one" | tail -1)
    status=clean
    if [ "$rc" = 124 ]; then
      status="cut off after ${limit}s (not checked to the end)"
      failed=1
    elif [ "$rc" != 0 ]; then
      status="FAILED (exit $rc)"
      failed=1
    fi
    printf '%-10s %-38s %-44s errors %s%s\n' "$tool" "$name" "$status" "${errors:-?}" \
      "${hazards:+, hazards $hazards}"
    rm -f "$one"
  done
done
exit $failed
