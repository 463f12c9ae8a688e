#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run every lit suite and GoogleTest binary
# through ctest. GPU tests skip (reported as skipped) where no GPU exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${JANUS_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure -j "${JANUS_JOBS:-$(nproc)}" --timeout 600
