#!/usr/bin/env bash
# Runs every test of libsignalr from a fresh clone: installs what is missing, builds,
# then runs the unit, vector, oracle, packaging and interop tests (CTest, against the real
# ASP.NET Core server in tests/server), the pytest suite, the Go and Rust bindings' suites,
# the same build and tests inside a Debian 13 root (tools/ci/trixie.sh), an ASan+UBSan build
# of the unit tests, valgrind over them, and each libFuzzer target for a bounded time.
#
#   tools/test.sh            everything (what CI runs)
#   FUZZ_SECONDS=60 tools/test.sh   longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${FUZZ_SECONDS:-10}
passed=0
failed=0
failed_stages=()
stage() { echo; echo "=== $* ==="; }
# What failed, repeated at the end: a CI log keeps the head and the tail of the output.
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT
# note_failures STAGE LOG: copies the failure lines of a test log (gtest, sanitizers, pytest,
# go test, cargo) into the summary.
note_failures() {
  grep -E '^\*\*\* .* failed$|^\*\*\* trixie: |^\[  FAILED  \]|^FAILED |^--- FAIL|^    --- FAIL|panicked at|WARNING: ThreadSanitizer|SUMMARY: [A-Za-z]+Sanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:|^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|.*definitely lost)|Failure$| \((Failed|Timeout|SEGFAULT|Subprocess aborted|Child aborted)\)$|_test.go:[0-9]+:' \
    "$2" 2>/dev/null | head -n 40 | sed "s/^/[$1] /" >>"$failures" || true
}
# run NAME CMD...: a stage that fails is recorded and the others still run.
run() {
  local name=$1 log
  shift
  log=$(mktemp)
  if "$@" 2>&1 | tee "$log"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_stages+=("$name")
    note_failures "$name" "$log"
  fi
  rm -f "$log"
}

# api_tests NAME BUILD_DIR [WRAPPER...]: the public API and the transports against one test
# server, each test binary of BUILD_DIR run under WRAPPER (valgrind) or as built (sanitizers);
# API_TESTS (paths under BUILD_DIR/tests) replaces the list.
# The fault tests stay out: they start and stop servers of their own on real time. The
# flow-control tests use the fault proxy against the shared server: they are in.
api_tests() {
  local name=$1 dir=$2 state rc=0 t
  shift 2
  if ! command -v dotnet >/dev/null; then
    echo "*** SKIPPING the public API tests ($name): dotnet not found (the test server needs the .NET SDK 10) ***"
    [[ "${SIGNALR_REQUIRE_SERVER:-}" != 1 ]]
    return
  fi
  state=$(mktemp)
  python3 tests/harness/testserver.py start --build-dir build/tests/server-bin --state "$state" \
    --log "$dir/tests/$name-server.log" --parent-pid $$ >/dev/null || return 1
  for t in ${API_TESTS:-test_connection test_connection_network test_lifetime test_transports test_flow_control \
           test_poll_lending test_api runtime/test_transport_interop runtime/test_sse_lp_interop}; do
    [[ -x "$dir/tests/$t" ]] || continue
    # (the transport tests time their faults in real time: too slow under valgrind)
    [[ $name == valgrind && $t == runtime/* ]] && continue
    echo "--- $t"
    SIGNALR_SERVER_STATE=$state "$@" "$dir/tests/$t" --gtest_brief=1 || { rc=1; echo "*** $t failed"; }
  done
  python3 tests/harness/testserver.py stop --state "$state" >/dev/null 2>&1 || true
  rm -f "$state"
  return $rc
}

stage "bootstrap"
bash tools/bootstrap.sh

stage "build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

stage "ABI: libsignalr.so against the baseline of this version (core/abi, abidiff)"
run abi tools/check_abi.sh build

stage "ctest: unit, vectors, oracle, packaging, interop"
run ctest bash -c "cd build && ctest --output-on-failure -j$jobs"

# The loop runs lws on libev (epoll); without lws' libev plugin it falls back to lws' own
# poll() loop. That fallback is what some users get: its unit and runtime tests, and the
# public API against the server, run on it too.
stage "ctest on lws' poll() loop (SIGNALR_EVENT_LOOP=poll): unit tests, test_connection"
run poll-loop bash -c "cd build && SIGNALR_EVENT_LOOP=poll ctest --output-on-failure -j$jobs -R '^(Loop|FakeTransport)[A-Za-z]*\.|^test_connection$'"

if [[ -d tests/python ]]; then
  stage "pytest: pip install ./python into a venv (Debian python3), then the suite"
  # The package links the static library the build stage made (SIGNALR_BUILD_DIR), so the
  # C core is not built twice; `pip install ./python` alone builds it itself.
  py_install() {
    rm -rf build/pyvenv
    /usr/bin/python3 -m venv --system-site-packages build/pyvenv &&
      SIGNALR_BUILD_DIR="$root/build" build/pyvenv/bin/python -m pip install --quiet --no-build-isolation \
        --no-cache-dir ./python
  }
  run pip-install py_install
  run pytest env SIGNALR_BUILD_DIR="$root/build" SIGNALR_REQUIRE_BINDING=1 \
    build/pyvenv/bin/python -m pytest tests/python -q -p no:cacheprovider
fi

# The Go and Rust bindings, against the same build tree and a test server of their own.
if [[ -x bindings/go/test.sh ]]; then
  stage "Go binding: go vet, go test -race (wire vectors, the real server on every transport)"
  run go env SIGNALR_BUILD_DIR="$root/build" bindings/go/test.sh "$root/build"
fi
if [[ -x bindings/rust/test.sh ]]; then
  stage "Rust binding: cargo test --offline (FFI drift check, wire vectors, the real server)"
  run rust env SIGNALR_BUILD_DIR="$root/build" bindings/rust/test.sh "$root/build"
fi

# Debian 13 (trixie): libwebsockets 4.3, msgpack-c 6, curl 8, gcc 14, in a debootstrap'd root
# cached in /var/cache/libsignalr (the first run makes it: minutes; later runs re-use it).
stage "Debian 13 (trixie) root: build, unit and packaging tests, public-API tests against build/'s server"
run trixie tools/ci/trixie.sh build

# clang/clang++ (the rest is built with gcc): the library and the unit tests with warnings as
# errors, the C++ API's header-alone check, example and tests (-Wall -Wextra -Werror, theirs),
# and those tests against the real server. Only these targets, in a build tree of their own.
stage "clang: library, unit tests, C++ API (header alone, example, tests against the server)"
clang_build() {
  CC=clang CXX=clang++ cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNALR_BUILD_TOOLS=OFF \
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null &&
    cmake --build build-clang -j"$jobs" --target signalr signalr_unit_tests signalr_cpp_header_alone \
      signalr_cpp_echo test_cpp_api
}
run clang-build clang_build
if [[ " ${failed_stages[*]} " != *" clang-build "* ]]; then
  run clang-unit build-clang/tests/signalr_unit_tests --gtest_brief=1
  API_TESTS=../bindings/cpp/test_cpp_api run clang-cpp-api api_tests clang build-clang
fi

stage "unit tests under valgrind"
run valgrind valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  build/tests/signalr_unit_tests --gtest_brief=1


stage "public API against the real server, under valgrind"
run valgrind-api api_tests valgrind build valgrind --quiet --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect

# The sanitizer builds run the unit tests and the public-API tests (the test server is
# build/'s).
stage "unit and public-API tests with ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSIGNALR_SANITIZE=address,undefined \
  -DSIGNALR_BUILD_TOOLS=OFF >/dev/null
cmake --build build-asan -j"$jobs"
asan_env=(env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1)
run asan "${asan_env[@]}" build-asan/tests/signalr_unit_tests --gtest_brief=1
run asan-api api_tests asan build-asan "${asan_env[@]}"

stage "unit and public-API tests with ThreadSanitizer"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNALR_SANITIZE=thread \
  -DSIGNALR_BUILD_TOOLS=OFF >/dev/null
cmake --build build-tsan -j"$jobs"
tsan_env=(env TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1")
run tsan "${tsan_env[@]}" build-tsan/tests/signalr_unit_tests --gtest_brief=1
run tsan-api api_tests tsan build-tsan "${tsan_env[@]}"

if [[ -x tools/fuzz.sh ]]; then
  stage "libFuzzer targets, ${fuzz_seconds}s each"
  run fuzz tools/fuzz.sh "$fuzz_seconds" "$root/build-fuzz"
fi

echo
if ((failed > 0)); then
  echo "=== what failed ==="
  cat "$failures"
  echo "failed stages: ${failed_stages[*]}"
fi
echo "stages: $passed passed, $failed failed"
exit $((failed > 0))
