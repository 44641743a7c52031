#!/usr/bin/env bash
# The shared library must export only the public ABI: every dynamic symbol it defines
# starts with signalr_ (the version node SIGNALR_0 aside).
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sed 's/@.*//')
bad=$(grep -v '^signalr_' <<<"$syms" || true)
count=$(grep -c '^signalr_' <<<"$syms" || true)
if [[ -n $bad ]]; then
  echo "FAIL: $lib exports symbols outside signalr_*:"
  echo "$bad"
  exit 1
fi
echo "ok: $lib exports $count symbols, all signalr_*"
