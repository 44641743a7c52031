#!/usr/bin/env bash
# Builds the Rust binding against a libsignalr CMake build tree and runs its tests.
#
#   bindings/rust/test.sh [BUILD_DIR]      # or SIGNALR_BUILD_DIR=...; default: <repo>/build
#
# Runs `cargo test --offline` (unit + drift check, wire vectors, the API against the real
# ASP.NET Core test server) and builds the examples. Starts its own test server (through
# tests/harness/testserver.py) unless SIGNALR_SERVER_STATE names a running one's state
# file, and stops it at the end. Without dotnet the server tests print SKIP, or fail when
# SIGNALR_REQUIRE_SERVER=1. SIGNALR_RUST_VALGRIND=1 also runs the API tests under valgrind.
# Exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-${SIGNALR_BUILD_DIR:-$repo/build}}
build=$(cd "$build" && pwd)
export SIGNALR_BUILD_DIR=$build
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$build/rust-target}
export PATH="$HOME/.cargo/bin:$PATH"
jobs=${CARGO_BUILD_JOBS:-2}

if ! command -v cargo >/dev/null 2>&1; then
  echo "rust test.sh: cargo not found (install Rust: rustup)" >&2
  exit 1
fi
[[ -e $build/core/libsignalr.so || -e $build/libsignalr.so ]] || {
  echo "rust test.sh: no libsignalr.so in $build (cmake -S $repo -B $build && cmake --build $build)" >&2
  exit 1
}

state=
cleanup() {
  if [[ -n $state ]]; then
    python3 "$repo/tests/harness/testserver.py" stop --state "$state" >/dev/null 2>&1 || true
    rm -f "$state"
  fi
}
trap cleanup EXIT

if [[ -z ${SIGNALR_SERVER_STATE:-} ]]; then
  state=$(mktemp /tmp/signalr-rust-server.XXXXXX.json)
  # Exits 0 with {"skipped": ...} when dotnet is missing (1 with SIGNALR_REQUIRE_SERVER=1).
  python3 "$repo/tests/harness/testserver.py" start --build-dir "$build/tests/server-bin" \
    --state "$state" --log "$build/rust-test-server.log" --parent-pid $$
  export SIGNALR_SERVER_STATE=$state
  if grep -q '"skipped"' "$state"; then
    echo "rust test.sh: SKIP: no test server (dotnet missing?): the server tests will be skipped" >&2
  fi
fi

cd "$here"
cargo build --offline -j"$jobs" --examples
cargo test --offline -j"$jobs" -- --test-threads=2
# Optional: the API tests once more under valgrind memcheck (the binding's unsafe code).
if [[ ${SIGNALR_RUST_VALGRIND:-0} == 1 ]]; then
  bin=$(cargo test --offline -j"$jobs" --no-run --message-format=short --test server_api 2>&1 |
        sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
  valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no -q "$bin" --test-threads=1
fi
echo "rust test.sh: OK"
