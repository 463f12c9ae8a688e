#!/usr/bin/env bash
# Packs what build-carry.sh made (.device-carry/bin, plans, perf) into one xz tarball,
# .device-carry/pack/carry.tar.xz, so that everything fits the device tool's 64 MiB carry limit
# together with the working tree (the binaries alone are ~90 MB, ~20 MB packed). On the GPU
# machine, from the repository root:
#   tar xJf .device-carry/pack/carry.tar.xz -C .device-carry
#   scripts/gpu/check.sh .device-carry/bin && scripts/gpu/check-backend.sh .device-carry
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/.device-carry"
mkdir -p pack
parts=()
for d in bin plans perf; do [ -d "$d" ] && parts+=("$d"); done
tar cf - "${parts[@]}" | xz -T2 -6 >pack/carry.tar.xz
ls -l pack/carry.tar.xz
