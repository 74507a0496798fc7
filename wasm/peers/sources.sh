#!/usr/bin/env bash
# wasm/peers/sources.sh — fetch the peer allocators' C sources (Emscripten's emmalloc and the
# mimalloc 2.1.2 it carries) from Debian's source package of emscripten 3.1.69 (trixie), with
# apt-get's own signature checks, into a folder: the first argument, else wasm/peers/src
# (gitignored). Nothing else is kept: emscripten-3.1.69/{LICENSE,system/lib/emmalloc.c,
# system/lib/mimalloc/}. Prints the folder. Does nothing when the folder already holds them.
# Used by wasm/build.sh (the peers' block) and .ci/run; other builds against the peers (C
# programs linked with emmalloc or mimalloc) call it the same way:
#   dir=$(bash wasm/peers/sources.sh [FOLDER])   # then $dir/emscripten-3.1.69/system/lib/...
# Needs apt-get and xz (any Debian or Ubuntu); no root: apt works in a temporary folder of its own.
# mimalloc v3 is in no Debian release: 2.1.2 is the version measured.
set -euo pipefail
VERSION=3.1.69
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/src}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
top=$dest/emscripten-$VERSION
if [ -f "$top/system/lib/emmalloc.c" ] && [ -f "$top/system/lib/mimalloc/src/static.c" ]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'deb-src http://deb.debian.org/debian trixie main\n' >"$tmp/sources.list"
apt=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1)
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
apt-get "${apt[@]}" -qq update >&2
# apt gives the orig tarball's address and SHA-256 from the signed Sources index; only that
# tarball is fetched (the package's other parts are not needed), then checked against it.
line=$(apt-get "${apt[@]}" -qq --print-uris source emscripten | grep "emscripten_$VERSION+dfsg.orig.tar.xz" || true)
[ -n "$line" ] || { echo "sources.sh: Debian trixie no longer has emscripten $VERSION" >&2; exit 1; }
read -r uri name _size sum <<<"$line"
uri=${uri//\'/}
orig=$tmp/$name
if command -v curl >/dev/null; then curl -fsSL -o "$orig" "$uri"; else wget -q -O "$orig" "$uri"; fi
echo "${sum#SHA256:}  $orig" | sha256sum -c --quiet - >&2
tar -xJf "$orig" -C "$dest" "emscripten-$VERSION/LICENSE" "emscripten-$VERSION/system/lib/emmalloc.c" "emscripten-$VERSION/system/lib/mimalloc"
echo "$dest"
