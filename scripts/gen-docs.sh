#!/usr/bin/env bash
# Regenerates the TableGen reference pages (ops, attributes, enums, passes) and copies them into
# docs/reference/. Builds only the `janus-doc` target in ${JANUS_BUILD_DIR:-build}, configuring it
# first if needed. Run it after changing a .td file and commit the refreshed pages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${JANUS_BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH=/usr/lib/llvm-22 -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit
fi
cmake --build "$build" --target janus-doc
generated="$build/docs/janus"
shopt -s nullglob
pages=("$generated"/*.md)
if [ ${#pages[@]} -eq 0 ]; then
  echo "gen-docs: no pages under $generated (did janus-doc build?)" >&2
  exit 1
fi
mkdir -p "$root/docs/reference"
for page in "${pages[@]}"; do
  cp "$page" "$root/docs/reference/"
  echo "docs/reference/$(basename "$page")"
done
