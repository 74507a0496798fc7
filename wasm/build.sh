#!/usr/bin/env bash
# wasm/build.sh — builds the WebAssembly modules in this folder with Debian's clang and lld
# (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32):
#   dlmalloc/dlmalloc.wasm        wasi-libc's malloc as a module of its own (bench, compat tests)
#   program/program.wasm          the C test program, importing malloc/free from JS
#   program/program-offbyone.wasm the same with an off-by-one overflow (debug hooks test)
# The built modules are committed, so tests and the benchmark run without the toolchain.
# `build.sh --check` rebuilds into a temporary folder and compares byte for byte (CI does this
# when clang is present).
set -euo pipefail
cd "$(dirname "$0")"
check=0
[ "${1:-}" = "--check" ] && check=1
out=.
[ $check = 1 ] && out=$(mktemp -d)
mkdir -p "$out/dlmalloc" "$out/program"

clang --target=wasm32-wasi -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -O2 -nostartfiles \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--strip-all \
  -Wl,--export=malloc -Wl,--export=free -Wl,--export=calloc -Wl,--export=realloc -Wl,--export=malloc_usable_size \
  dlmalloc/dlmalloc.c -o "$out/dlmalloc/dlmalloc.wasm"

program() { # $1 output, then extra flags
  local o=$1
  shift
  clang --target=wasm32 -O2 -nostdlib -ffreestanding -fno-builtin "$@" \
    -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--allow-undefined -Wl,--strip-all \
    program/program.c -o "$o"
}
program "$out/program/program.wasm"
program "$out/program/program-offbyone.wasm" -DOFF_BY_ONE

# --- pymalloc inside WebAssembly (issue #17): C clients of the heap --------------------------
#   clients/ctors.wasm   allocates from a constructor, 1 MiB stack, names kept (instantiateWithHeap tests)
mkdir -p "$out/clients"
clang --target=wasm32 -O2 -nostdlib -ffreestanding -fno-builtin \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--export=__wasm_call_ctors -Wl,--allow-undefined \
  -Wl,-z,stack-size=1048576 clients/ctors.c -o "$out/clients/ctors.wasm"
# The benchmark's C clients, each built twice from one source: over wasi-libc's dlmalloc inside
# the module, and over pymalloc (include/pymemcompat.c defines malloc & co as the heap's imports,
# so wasm-ld takes no dlmalloc out of libc.a).
wasi17=(--target=wasm32-wasi -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -O2 -nostartfiles
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--strip-all)
#   clients/ctors-shared.wasm  the same for a shared memory (threads: true)
clang --target=wasm32 -O2 -nostdlib -ffreestanding -fno-builtin -matomics -mbulk-memory \
  -Wl,--no-entry -Wl,--import-memory -Wl,--shared-memory -Wl,--max-memory=67108864 -Wl,--export=__heap_base \
  -Wl,--export=__wasm_call_ctors -Wl,--allow-undefined clients/ctors.c -o "$out/clients/ctors-shared.wasm"
ours17=(clients/ctors.wasm clients/ctors-shared.wasm clients/families.wasm)
#   clients/families.wasm  CPython's families through include/pymemcompat.h, no libc (api-mismatch test)
clang --target=wasm32 -O2 -nostdlib -ffreestanding -Iinclude \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--strip-all clients/families.c -o "$out/clients/families.wasm"
for c in bintrees replay; do
  clang "${wasi17[@]}" "clients/$c.c" -o "$out/clients/$c-dlmalloc.wasm"
  clang "${wasi17[@]}" -Iinclude "clients/$c.c" include/pymemcompat.c -o "$out/clients/$c-pymalloc.wasm"
  ours17+=("clients/$c-dlmalloc.wasm" "clients/$c-pymalloc.wasm")
done
# --- end of issue #17's block ----------------------------------------------------------------

if [ $check = 1 ]; then
  status=0
  for f in dlmalloc/dlmalloc.wasm program/program.wasm program/program-offbyone.wasm "${ours17[@]}"; do
    if cmp -s "$out/$f" "$f"; then echo "$f matches its source"; else echo "$f differs from a fresh build of its source" >&2; status=1; fi
  done
  rm -rf "$out"
  exit $status
fi
for f in dlmalloc/dlmalloc.wasm program/program.wasm program/program-offbyone.wasm "${ours17[@]}"; do echo "built wasm/$f ($(stat -c %s "$f") bytes)"; done
