#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a while.
#
# usage: tools/fuzz.sh [seconds-per-target] [build-dir]
#   seconds-per-target  default 10
#   build-dir           default build-fuzz (a separate dir: clang + sanitizers)
#   env FUZZ_TARGETS    space-separated subset (default: all seven)
#
# Bootstraps nothing: needs clang, libclang-rt-14-dev (libFuzzer) and the project's build
# deps (tools/bootstrap.sh). The working corpus grows in <build>/fuzz-work/<target> and is
# reused by later runs; crashes go to <build>/fuzz-artifacts/<target>/. Exit status is
# non-zero if any target crashed (or failed to build). Long campaigns: tests/fuzz/README.md.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-10}
BUILD=${2:-$ROOT/build-fuzz}
SRC=${FUZZ_SOURCE_DIR:-$ROOT} # for testing the fuzz tree in a wrapper project
TARGETS=${FUZZ_TARGETS:-"fuzz_json_message fuzz_msgpack_message fuzz_framing fuzz_handshake fuzz_negotiate fuzz_transcode fuzz_sse"}

[[ $SECS =~ ^[0-9]+$ ]] || { echo "usage: $0 [seconds-per-target] [build-dir]" >&2; exit 2; }

if [[ -f $BUILD/CMakeCache.txt ]] && ! grep -q '^CMAKE_C_COMPILER:.*clang' "$BUILD/CMakeCache.txt"; then
  echo "fuzz.sh: $BUILD was configured with another compiler; use a fresh build dir" >&2
  exit 2
fi

# -shared-libsan -lm: clang links no sanitizer runtime into shared libraries, and
# libsignalr.so is linked with -Wl,--no-undefined (and, unoptimised, needs libm's floor).
echo "fuzz.sh: configuring $BUILD"
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DSIGNALR_FUZZ=ON \
  -DSIGNALR_SANITIZE=address,undefined \
  "-DCMAKE_SHARED_LINKER_FLAGS=-shared-libsan -lm" >"$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 1; }
rm -f "$BUILD.configure.log"
echo "fuzz.sh: building the fuzz targets"
cmake --build "$BUILD" --target fuzzers fuzz_corpus -j"$(nproc)" >"$BUILD/fuzz-build.log" 2>&1 || {
  tail -40 "$BUILD/fuzz-build.log" >&2
  if ! grep -q 'fuzzers' "$BUILD/fuzz-build.log"; then
    echo "fuzz.sh: no 'fuzzers' target: tests/CMakeLists.txt must add_subdirectory(fuzz) when SIGNALR_FUZZ" >&2
  fi
  echo "fuzz.sh: build failed" >&2
  exit 1
}

# Where CMake put the binaries and the generated seed corpus.
FUZZ_BIN=$(dirname "$(find "$BUILD" -name fuzz_json_message -type f -perm -u+x | head -n1)")
SEEDS=$FUZZ_BIN/corpus
REGRESSIONS=$ROOT/tests/fuzz/regressions

pass=0 fail=0 failed=()
for t in $TARGETS; do
  bin=$FUZZ_BIN/$t
  work=$BUILD/fuzz-work/$t
  art=$BUILD/fuzz-artifacts/$t
  log=$BUILD/fuzz-logs/$t.log
  mkdir -p "$work" "$art" "$(dirname "$log")"
  dirs=("$work" "$SEEDS/$t")
  [[ -d $REGRESSIONS/$t ]] && dirs+=("$REGRESSIONS/$t")
  echo "fuzz.sh: $t for ${SECS}s"
  "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -dict="$SEEDS/signalr.dict" -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  runs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1)
  if [[ $rc -eq 0 ]]; then
    pass=$((pass + 1))
    echo "  PASS $t: ${runs:-?} runs, ${cov:-cov: ?}"
  else
    fail=$((fail + 1))
    failed+=("$t")
    echo "  FAIL $t (exit $rc) -- log: $log"
    grep -E 'ERROR:|check failed|runtime error|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
  fi
done

echo "fuzz.sh: $(( pass + fail )) targets, ${SECS}s each${failed:+; failed: ${failed[*]}}"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
