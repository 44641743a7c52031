#!/usr/bin/env bash
# The demo: installs what is missing, builds libsignalr, the signalr CLI and the bundled
# ASP.NET Core hub (tests/server), starts the hub, and shows the CLI calling methods,
# getting a hub error with its hint, listening to server calls and a broadcast — then stops
# everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target signalr_cli signalr_codec_demo signalr_test_server >/dev/null

if ! command -v dotnet >/dev/null; then
  echo "dotnet is not installed: showing the protocol layer only."
  exec build/tools/signalr_codec_demo
fi

state=$(mktemp)
trap 'python3 tests/harness/testserver.py stop --state "$state" >/dev/null 2>&1 || true; rm -f "$state"' EXIT
python3 tests/harness/testserver.py start --build-dir build/tests/server-bin --state "$state" \
  --log build/demo-server.log --parent-pid $$ >/dev/null
hub=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['http'])" "$state")/hubs/test
cli=build/tools/signalr
show() { echo; echo "\$ signalr $*"; "$cli" "$@" || true; }

echo "The bundled ASP.NET Core hub listens at $hub"
show call "$hub" Echo '"hello from C, héllo 中文"'
show call "$hub" Add 40 2
show call "$hub" EchoObject '{"Name":"widget","Value":7,"Tags":["a","b"]}'
show call "$hub" ThrowHubException '"something went wrong"'
show call "${hub%/test}/missing" Echo '"x"'
echo
echo "\$ signalr listen $hub --on Broadcast   (while another client broadcasts)"
"$cli" listen "$hub" --on Broadcast --timeout 10000 & listener=$!
sleep 1.5
"$cli" send "$hub" Broadcast '"news for everyone"' >/dev/null
sleep 1
kill -INT $listener 2>/dev/null || true
wait $listener 2>/dev/null || true
show stream "$hub" Counter 5 100
show call "$hub" EchoBytes '"AQID"' --protocol messagepack --transport longpolling
show listen "$hub" --on Callback1 --on Callback2 --on NoArgs --invoke CallbackMulti '"ping"' --for 1500
echo
echo "Done: the hub is stopped."
