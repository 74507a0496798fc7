#!/usr/bin/env bash
# Builds bench/wasm/dlmalloc.wasm from dlmalloc.c with Debian's clang, lld and wasi-libc
# (apt-get install clang lld wasi-libc). The built module is committed, so the benchmark runs
# without the toolchain; `build.sh --check` rebuilds into a temporary file and compares.
set -euo pipefail
cd "$(dirname "$0")"
out=dlmalloc.wasm
[ "${1:-}" = "--check" ] && out=$(mktemp --suffix=.wasm)
clang --target=wasm32-wasi -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -O2 -nostartfiles \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--strip-all \
  dlmalloc.c -o "$out"
if [ "${1:-}" = "--check" ]; then
  cmp "$out" dlmalloc.wasm && echo "dlmalloc.wasm matches its source"
  rm -f "$out"
else
  echo "built $out ($(stat -c %s "$out") bytes)"
fi
