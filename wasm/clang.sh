#!/usr/bin/env bash
# wasm/clang.sh — clang for the committed WebAssembly modules and the benchmark's peers, used by
# wasm/build.sh and bench/wasm.mjs with clang's own arguments.
# clang runs binaryen's wasm-opt after linking when it finds one in PATH (Debian's emscripten
# package brings binaryen), so the output would depend on what else is installed: clang runs here
# with a PATH of its own folder and of links to the wasm-ld commands only.
set -euo pipefail
clang=$(readlink -f "$(command -v clang)")
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
for t in $(compgen -c wasm-ld | sort -u); do ln -s "$(command -v "$t")" "$tools/$t"; done
PATH="$tools:$(dirname "$clang")" "$clang" "$@"
