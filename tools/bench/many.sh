#!/usr/bin/env bash
# Many idle connections from one process (one signalr_context) against the bundled hub, past
# the ~28k ephemeral ports of one address pair: the server listens on 127.0.0.1..127.0.0.K
# (one port), the client spreads its connections over them.
#   tools/bench/many.sh [build-dir] [connections=50000] [round-trips=3000] [large-bytes] [hold-seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
n=${2:-50000}
k=$(( (n + 19999) / 20000 ))  # addresses: 20,000 connections each
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
urls=$(python3 -c "import sys; print(','.join(f'http://127.0.0.{i}:{sys.argv[1]}/hubs/test' for i in range(1, int(sys.argv[2]) + 1)))" "$port" "$k")
exec python3 - "$root" "$build" "$port" "$k" "$urls" "$n" "${3:-3000}" "${@:4}" <<'PY'
import subprocess, sys
root, build, port, k, urls, n, trips = sys.argv[1:8]
sys.path.insert(0, f"{root}/tests/harness")
from testserver import TestServer
with TestServer(f"{build}/tests/server-bin", f"{build}/bench-many-server.log", port=int(port),
                extra_args=["--extra-loopback", str(int(k) - 1)]):
    sys.exit(subprocess.call([f"{build}/tools/bench/bench_connection", urls, n, trips] + sys.argv[8:]))
PY
