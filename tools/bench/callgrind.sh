#!/usr/bin/env bash
# Instructions per message for each codec case and op, measured with callgrind:
# bench_codec runs at two iteration counts and the difference cancels the setup cost,
#   Ir/msg = (Ir(N2) - Ir(N1)) / (N2 - N1).
#
# usage: tools/bench/callgrind.sh [build-dir]       (default: build-bench)
#   env: N1 (default 1000), N2 (default 11000), CASES (default: all four)
#        KEEP=1 keeps the callgrind.out files (for callgrind_annotate) in <build>/callgrind/
# Configures (RelWithDebInfo, the default) and builds bench_codec if needed.
# Targets for the small Invocation, encode + decode: JSON <= 3000, MessagePack <= 1500
# instructions. Exit status: 0 targets met, 2 a target missed, 1 an error.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
N1=${N1:-1000}
N2=${N2:-11000}
CASES=${CASES:-"small-json small-msgpack large-json large-msgpack"}

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }

BENCH=$BUILD/tools/bench/bench_codec
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DSIGNALR_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" --target bench_codec -j"$(nproc)" >/dev/null
[[ -x $BENCH ]] || { echo "callgrind.sh: $BENCH was not built (is tools/bench in tools/CMakeLists.txt?)" >&2; exit 1; }

OUT=$BUILD/callgrind
mkdir -p "$OUT"

# Total instructions (Ir) of one run.
ir() { # case op iterations
  local f="$OUT/callgrind.out.$1.$2.$3"
  valgrind --tool=callgrind --callgrind-out-file="$f" "$BENCH" --case "$1" --op "$2" "$3" \
    >/dev/null 2>"$f.log" || { cat "$f.log" >&2; exit 1; }
  local total
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
  [[ ${KEEP:-0} == 1 ]] || rm -f "$f" "$f.log"
  echo "$total"
}

status=0
printf '%-14s %10s %10s %10s %8s  %s\n' case "encode" "decode" "total" target result
printf '%-14s %10s %10s %10s %8s  %s\n' "" "Ir/msg" "Ir/msg" "Ir/msg" "" ""
for c in $CASES; do
  declare -A per=()
  for op in encode decode; do
    a=$(ir "$c" "$op" "$N1")
    b=$(ir "$c" "$op" "$N2")
    per[$op]=$(( (b - a) / (N2 - N1) ))
  done
  total=$(( per[encode] + per[decode] ))
  case $c in
    small-json) target=3000 ;;
    small-msgpack) target=1500 ;;
    *) target= ;;
  esac
  result=
  if [[ -n $target ]]; then
    if (( total <= target )); then result=ok; else result=MISSED; status=2; fi
  fi
  printf '%-14s %10d %10d %10d %8s  %s\n' "$c" "${per[encode]}" "${per[decode]}" "$total" "${target:--}" "$result"
  unset per
done
echo "(N1=$N1, N2=$N2; Ir = instructions executed, from valgrind --tool=callgrind)"
exit $status
