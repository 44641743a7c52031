#!/usr/bin/env bash
# Builds the Go binding against a libsignalr build tree and runs go vet and go test -race.
#
#   bindings/go/test.sh [BUILD_DIR]        (default: $SIGNALR_BUILD_DIR, else build/)
#
# The server tests talk to the real ASP.NET Core hub named by SIGNALR_SERVER_STATE (a state
# file of tests/harness/testserver.py); without it this script starts one (and stops it at
# the end). No dotnet: the server tests skip loudly, or fail with SIGNALR_REQUIRE_SERVER=1.
# Go is used offline: standard library only, no module proxy.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${SIGNALR_BUILD_DIR:-$root/build}}
build=$(cd "$build" && pwd)

if ! command -v go >/dev/null 2>&1; then
  echo "bindings/go/test.sh: go not found (tools/bootstrap.sh installs golang-go)" >&2
  exit 1
fi

# Caches under the build dir, so this works as root on a fresh machine and never reaches out.
work=$build/bindings-go
mkdir -p "$work"
export GOPATH=${GOPATH:-$work/gopath} GOCACHE=${GOCACHE:-$work/gocache}
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=${GOFLAGS:-} GO111MODULE=on CGO_ENABLED=1
# shellcheck source=env.sh
. "$here/env.sh" "$build"

started=
if [[ -z ${SIGNALR_SERVER_STATE:-} ]]; then
  export SIGNALR_SERVER_STATE=$work/server.json
  python3 "$root/tests/harness/testserver.py" start --build-dir "$build/tests/server-bin" \
    --state "$SIGNALR_SERVER_STATE" --log "$work/server.log" --parent-pid $$
  started=1
  trap 'python3 "$root/tests/harness/testserver.py" stop --state "$SIGNALR_SERVER_STATE" || true' EXIT
fi

cd "$here"
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 10m ./...

# The example, end to end, when a server is up.
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("http",""))' "$SIGNALR_SERVER_STATE" 2>/dev/null || true)
if [[ -n $url ]]; then
  echo "== examples/echo"
  out=$(go run ./examples/echo "$url/hubs/test" "hello from go")
  if [[ $out != "hello from go" ]]; then
    echo "examples/echo printed '$out'" >&2
    exit 1
  fi
  echo "$out"
  go build -o "$work/bench_compare_go" ./bench/compare
fi
[[ -n $started ]] && echo "(stopping the test server)"
echo "bindings/go: OK"
