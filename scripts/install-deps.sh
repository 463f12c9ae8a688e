#!/usr/bin/env bash
# Installs the Debian packages Janus builds against, only those that are missing (idempotent).
# CUDA 13 + NCCL are expected at /usr/local/cuda; without nvcc the CUDA parts are skipped.
set -euo pipefail
pkgs=(cmake ninja-build g++ lld libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
      libabsl-dev libflatbuffers-dev flatbuffers-compiler libgtest-dev libgmock-dev nlohmann-json3-dev python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "janus: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
