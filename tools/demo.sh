#!/usr/bin/env bash
# The demo: installs what is missing, builds libsignalr and shows its protocol layer
# encoding a hub call and decoding a server's reply in both hub protocols.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target signalr_codec_demo >/dev/null
exec build/tools/signalr_codec_demo
