#!/bin/sh
# Builds _pymtrace (the recorder) for the python3.11 given as $PYTHON (default: pyenv 3.11.7).
# usage: scripts/record/build.sh [OUTDIR]   (default OUTDIR: /tmp/pymtrace-build)
set -e
PYTHON=${PYTHON:-python3.11}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/pymtrace-build}
mkdir -p "$OUT"
INC=$($PYTHON -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
EXT=$($PYTHON -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
${CC:-gcc} -O2 -g -fPIC -shared -Wall -Wno-parentheses -I"$INC" "$HERE/pymtrace.c" -o "$OUT/_pymtrace$EXT" -lz -lpthread
cp "$HERE/sitecustomize.py" "$OUT/sitecustomize.py"
echo "built $OUT/_pymtrace$EXT; record with: PYTHONPATH=$OUT PYMTRACE_OUT=out.pymtrace.gz $PYTHON prog.py"
