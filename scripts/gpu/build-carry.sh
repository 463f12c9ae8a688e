#!/usr/bin/env bash
# Builds the CUDA kernel tests, the cuda backend's test, janus-run and janus-bench on this (Debian 12)
# machine for the GPU machine
# (Ubuntu 24.04, no Abseil/GoogleTest there) and copies them into .device-carry/bin, which git
# ignores and the device tool carries (`carry: [".device-carry"]`). It also compiles every fixture
# of test/data/hf into .device-carry/plans with this machine's janus-compile (JANUS_COMPILE, default
# build/bin/janus-compile), since the GPU machine has no MLIR. Then on the GPU machine:
#   scripts/gpu/check.sh .device-carry/bin            (kernels: tests and janus-bench)
#   scripts/gpu/check-backend.sh .device-carry        (the cuda backend on every fixture)
# Abseil, GoogleTest and the CUDA runtime are linked statically; only glibc, libstdc++, libgcc and
# cuBLAS(Lt) stay dynamic (check.sh points LD_LIBRARY_PATH at the GPU machine's cuBLAS).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${JANUS_CARRY_BUILD_DIR:-$root/build-carry}
carry=$root/.device-carry/bin

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJANUS_BUILD_COMPILER=OFF \
  -DJANUS_STATIC_ABSL=ON -DCMAKE_CUDA_ARCHITECTURES=90a >/dev/null
tests=$(for f in "$root"/test/unit/kernels/*_test.cc; do
          n=$(basename "$f" .cc); echo "janus_kernels_$n"; done)
# shellcheck disable=SC2086
ninja -C "$build" -j "${JANUS_JOBS:-2}" $tests janus-bench janus-run janus_cuda_backend_test

rm -rf "$carry"
mkdir -p "$carry"
for t in $tests; do
  cp "$(find "$build" -type f -name "$t" -perm -u+x | head -1)" "$carry/"
done
cp "$build/bin/janus-bench" "$build/bin/janus-run" "$carry/"
cp "$(find "$build" -type f -name janus_cuda_backend_test -perm -u+x | head -1)" "$carry/"
strip --strip-unneeded "$carry"/* 2>/dev/null || true

# Everything else must be linked in: list any other dynamic dependency and fail.
allowed='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libcublas\.so\.13|libcublasLt\.so\.13|libnccl\.so\.2)$'
bad=0
for f in "$carry"/*; do
  while read -r lib; do
    if ! [[ $lib =~ $allowed ]]; then
      echo "build-carry: $(basename "$f") needs $lib dynamically" >&2
      bad=1
    fi
  done < <(ldd "$f" | awk '{print $1}')
done
[ "$bad" = 0 ] || exit 1
# Plans for the backend check: every fixture as 1 attention + 1 MoE GPU, and as 2 + 3 over two
# nodes with the relay route and gating on the attention side (one plan per program shape).
compile=${JANUS_COMPILE:-$root/build/bin/janus-compile}
plans=$root/.device-carry/plans
rm -rf "$plans"
mkdir -p "$plans"
if [ -x "$compile" ]; then
  for dir in "$root"/test/data/hf/*/; do
    name=$(basename "$dir")
    "$compile" "$dir" --attention-gpus=1 --moe-gpus=1 -o "$plans/$name.1x1.jplan"
    "$compile" "$dir" --attention-gpus=2 --moe-gpus=3 --gpus-per-node=2 --comm=relay \
      --gating=attention -o "$plans/$name.2x3.jplan"
  done
else
  echo "build-carry: no janus-compile at $compile: no plans (set JANUS_COMPILE)" >&2
fi

# glibc symbol versions: Ubuntu 24.04 has glibc 2.39, Debian 12 builds need <= 2.36.
max_glibc=$(objdump -T "$carry"/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "build-carry: newest glibc symbol version needed: ${max_glibc:-none} (GPU machine: 2.39)"
du -h "$carry"/* | sort -k2
du -sh "$carry"
