#!/bin/sh
# Records one workload: scripts/record/record.sh OUTDIR NAME SCRIPT.py [ARGS...]
# Runs SCRIPT in an empty temporary directory with PYTHONHASHSEED=0 and the recorder on, then
# checks the trace and writes OUTDIR/NAME.json (sidecar.mjs). Needs build.sh's output in
# $PYMTRACE_BUILD (default /tmp/pymtrace-build).
set -e
PYTHON=${PYTHON:-python3.11}
BUILD=${PYMTRACE_BUILD:-/tmp/pymtrace-build}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"; OUT=$(cd "$1" && pwd); NAME=$2; SCRIPT=$(cd "$(dirname "$3")" && pwd)/$(basename "$3"); shift 3
TMP=$(mktemp -d)
START=$(date +%s.%N)
(cd "$TMP" && PYTHONHASHSEED=0 PYTHONPATH="$BUILD" PYMTRACE_OUT="$OUT/$NAME.pymtrace.gz" "$PYTHON" "$SCRIPT" "$@")
END=$(date +%s.%N)
rm -rf "$TMP"
echo "recorded $NAME in $(echo "$END - $START" | bc) s"
node "$HERE/sidecar.mjs" "$OUT/$NAME.pymtrace.gz" --workload "$NAME" \
  --command "cd <empty temp dir> && PYTHONHASHSEED=0 PYTHONPATH=<recorder build dir> PYMTRACE_OUT=$NAME.pymtrace.gz python3.11 $(basename "$SCRIPT") $*"
