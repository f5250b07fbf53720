#!/bin/bash
# runtime.sh - container start: lib/runtime.c vs a bare `runc run` of the
# same bundle, median of N runs each, in one run.  The scheduler issue's
# target: within 1.5x.  Needs root and runc; builds nothing (uses
# $DEIS_BUILD/tests/unit/runtime_tool, default build/).
#
#   tests/bench/runtime.sh [N]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${DEIS_BUILD:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
TOOL=$BUILD/tests/unit/runtime_tool
N=${1:-20}
[ -x "$TOOL" ] || { echo "runtime.sh: $TOOL not built (ninja -C $BUILD)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/deis-rtbench.XXXXXX)
chmod 0711 "$TMP"
ID=rtbench-$$
trap '"$TOOL" --state="$TMP/state" delete "$ID" --force >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

"$TOOL" --state="$TMP/state" bundle "$TMP/b" --id="$ID" -- true
lib=$("$TOOL" --state="$TMP/state" bench "$TMP/b" "$ID" "$N" | sed -n 's/^median //p')
for _ in $(seq "$N"); do
	t0=${EPOCHREALTIME/./}
	runc --root "$TMP/state" run --bundle "$TMP/b" "$ID" </dev/null >/dev/null 2>&1
	t1=${EPOCHREALTIME/./}
	echo $(( t1 - t0 ))
done | sort -n >"$TMP/bare"
bare=$(awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }' "$TMP/bare")
ratio=$(awk -v l="$lib" -v b="$bare" 'BEGIN { printf "%.2f", l / b }')
echo "bench runtime.start: library ${lib} ms, bare runc run ${bare} ms, ratio ${ratio} (target <= 1.5)"
