#!/usr/bin/env bash
# signalr_cpp_echo against the test server: prints the unquoted Echo result and exits 0.
set -euo pipefail
echo_bin=$1
state=${SIGNALR_SERVER_STATE:?SIGNALR_SERVER_STATE is not set}
http=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("" if "skipped" in d else d.get("http",""))' "$state")
if [ -z "$http" ]; then
  echo "*** SKIPPED: no ASP.NET Core test server ***"
  [ "${SIGNALR_REQUIRE_SERVER:-}" != 1 ]
  exit
fi
msg='héllo "quoted" \ world'
out=$("$echo_bin" "$http/hubs/test" "$msg")
if [ "$out" != "$msg" ]; then
  echo "expected [$msg], got [$out]" >&2
  exit 1
fi
echo "ok: $out"
