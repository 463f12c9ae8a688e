#!/usr/bin/env bash
# Hardware counters of chosen kernels of janus-bench, run ON the GPU machine:
#   scripts/gpu/ncu.sh BIN_DIR FILTER KERNEL_REGEX [COUNT] [SKIP]
# profiles the first COUNT (default 2) launches, after SKIP, of kernels whose demangled name
# matches KERNEL_REGEX while `janus-bench --quick --filter=FILTER` runs. Clocks are left alone
# (--clock-control none). The report goes to stdout and to $OUT/ncu-<n>.txt.
set -uo pipefail
bin=$(cd "${1:?BIN_DIR}" && pwd)
filter=${2:?FILTER}
regex=${3:?KERNEL_REGEX}
count=${4:-2}
skip=${5:-0}
# shellcheck source=scripts/gpu/env.sh
. "$(dirname "$0")/env.sh"
out=${OUT:-/tmp}
n=$(ls "$out"/ncu-*.txt 2>/dev/null | wc -l)
ncu --clock-control none --kernel-name-base demangled --kernel-name "regex:$regex" \
  --launch-skip "$skip" --launch-count "$count" \
  --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats \
  --section Occupancy --section WarpStateStats --section SchedulerStats \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
  "$bin/janus-bench" --quick "--filter=$filter" >"$out/ncu-$n.txt" 2>&1
echo "== ncu $regex: $out/ncu-$n.txt"
grep -E '^  [A-Za-z_].*\(|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Achieved Occupancy|Registers Per|Grid Size|Waves Per SM|Warp Cycles Per Issued|Issue Slots Busy|No Eligible|stalled_(long_scoreboard|barrier|mio_throttle|short_scoreboard|math_pipe|wait|lg_throttle|not_selected|membar|no_instruction|drain)|==ERR' "$out/ncu-$n.txt"
