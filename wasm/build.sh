#!/usr/bin/env bash
# wasm/build.sh — builds the WebAssembly modules in this folder with Debian's clang and lld
# (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32):
#   dlmalloc/dlmalloc.wasm        wasi-libc's malloc as a module of its own (bench, compat tests)
#   program/program.wasm          the C test program, importing malloc/free from JS
#   program/program-offbyone.wasm the same with an off-by-one overflow (debug hooks test)
#   peers/emmalloc.wasm, peers/mimalloc.wasm  Emscripten's emmalloc and mimalloc 2.1.2, peers of
#                                 the benchmark (sources: peers/sources.sh, from Debian's
#                                 emscripten source package; PEERS_SRC=folder to use one at hand)
# The built modules are committed, so tests and the benchmark run without the toolchain.
# `build.sh --check` rebuilds into a temporary folder and compares byte for byte (CI does this
# when clang is present).
set -euo pipefail
cd "$(dirname "$0")"
# Each clang below is wasm/clang.sh: no binaryen wasm-opt pass, whatever else is installed.
clang() { bash ./clang.sh "$@"; }
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
#   clients/stack-shared.wasm  locals on the C stack and a thread-local, their symbols exported (one stack and TLS block per Worker's instance)
clang --target=wasm32 -O2 -nostdlib -ffreestanding -fno-builtin -ftls-model=local-exec -matomics -mbulk-memory -mmutable-globals \
  -Wl,--no-entry -Wl,--import-memory -Wl,--shared-memory -Wl,--max-memory=67108864 -Wl,--export=__heap_base \
  -Wl,--export=__stack_pointer -Wl,--export=__wasm_init_tls -Wl,--export=__tls_size -Wl,--export=__tls_align \
  -Wl,--allow-undefined clients/stack.c -o "$out/clients/stack-shared.wasm"
ours17=(clients/ctors.wasm clients/ctors-shared.wasm clients/stack-shared.wasm clients/families.wasm)
#   clients/families.wasm  CPython's families through include/pymemcompat.h, no libc (api-mismatch test)
clang --target=wasm32 -O2 -nostdlib -ffreestanding -Iinclude \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--strip-all clients/families.c -o "$out/clients/families.wasm"
#   clients/aligned.wasm  posix_memalign, aligned_alloc and strdup over include/pymemcompat.c (wasi-libc)
clang "${wasi17[@]}" -Iinclude clients/aligned.c include/pymemcompat.c -o "$out/clients/aligned.wasm"
ours17+=(clients/aligned.wasm)
#   clients/main.wasm  a program with main() and printf, built as a WASI command by the README's line for one
#                      (wasi-libc's _start: constructors, main, exit(), which flushes stdout)
clang --target=wasm32-wasi -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -O2 -flto -Iinclude \
  -Wl,--import-memory -Wl,--export=__heap_base clients/main.c include/pymemcompat.c -o "$out/clients/main.wasm"
ours17+=(clients/main.wasm)
# The pymalloc builds with -flto (the README's wasi-libc line): pymemcompat.c's malloc & co,
# one-line forwarders to the imports, are then inlined, so C's calls go straight to the heap's
# fast path (without it each is a call into the forwarder, then the import call). dlmalloc's
# malloc comes from libc.a, which is not bitcode: -flto would change nothing there.
for c in bintrees replay; do
  clang "${wasi17[@]}" "clients/$c.c" -o "$out/clients/$c-dlmalloc.wasm"
  clang "${wasi17[@]}" -flto -Iinclude "clients/$c.c" include/pymemcompat.c -o "$out/clients/$c-pymalloc.wasm"
  ours17+=("clients/$c-dlmalloc.wasm" "clients/$c-pymalloc.wasm")
done
# --- end of issue #17's block ----------------------------------------------------------------

# --- peers of the benchmark (#16): emmalloc and mimalloc, from Debian's emscripten 3.1.69 ------
# Their sources are not committed: peers/sources.sh fetches them (once) into peers/src, or
# PEERS_SRC names a folder that holds emscripten-3.1.69/ already.
peers=${PEERS_SRC:-$(bash peers/sources.sh)}
em=$peers/emscripten-3.1.69/system/lib
mkdir -p "$out/peers"
peer() { # $1 output, then sources and flags
  local o=$1
  shift
  clang --target=wasm32-wasi -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi -O2 -nostartfiles -DNDEBUG "$@" \
    -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base -Wl,--export=__wasm_call_ctors -Wl,--strip-all \
    -o "$o"
}
# Both have static constructors: exported, __wasm_call_ctors is for the embedder to call once
# (unexported, wasm-ld would run them at the start of every exported call, and emmalloc's resets
# its heap). emmalloc built by clang 14 needs -fno-strict-aliasing; mimalloc names its exports.
peer "$out/peers/emmalloc.wasm" -fno-strict-aliasing \
  -Wl,--export=malloc -Wl,--export=free -Wl,--export=calloc -Wl,--export=realloc -Wl,--export=malloc_usable_size -I peers/shim -I "$peers/emscripten-3.1.69" peers/emmalloc.c
peer "$out/peers/mimalloc.wasm" -Wno-deprecated-pragma -DMI_DEBUG=0 -I "$em/mimalloc/include" -I "$em/mimalloc" peers/mimalloc.c
# --- end of the peers ----------------------------------------------------------------------------

if [ $check = 1 ]; then
  status=0
  for f in dlmalloc/dlmalloc.wasm program/program.wasm program/program-offbyone.wasm peers/emmalloc.wasm peers/mimalloc.wasm "${ours17[@]}"; do
    if cmp -s "$out/$f" "$f"; then echo "$f matches its source"; else echo "$f differs from a fresh build of its source" >&2; status=1; fi
  done
  rm -rf "$out"
  exit $status
fi
for f in dlmalloc/dlmalloc.wasm program/program.wasm program/program-offbyone.wasm peers/emmalloc.wasm peers/mimalloc.wasm "${ours17[@]}"; do echo "built wasm/$f ($(stat -c %s "$f") bytes)"; done
