#!/usr/bin/env bash
# Heap per idle connection and client CPU per echo round trip, against the bundled hub.
#   tools/bench/connection.sh [build-dir] [connections] [round-trips] [large-message-bytes]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
state=$(mktemp)
trap 'python3 "$root/tests/harness/testserver.py" stop --state "$state" >/dev/null 2>&1 || true; rm -f "$state"' EXIT
python3 "$root/tests/harness/testserver.py" start --build-dir "$build/tests/server-bin" --state "$state" \
  --log "$build/bench-server.log" --parent-pid $$ >/dev/null
hub=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['http'])" "$state")/hubs/test
"$build/tools/bench/bench_connection" "$hub" "${2:-200}" "${3:-5000}" "${4:-102400}"
