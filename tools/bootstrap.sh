#!/usr/bin/env bash
# Installs what libsignalr needs to build and test on a fresh Debian machine.
# Idempotent: only missing packages are installed, so a warm machine pays nothing.
set -euo pipefail

pkgs=(build-essential cmake pkg-config git
      libwebsockets-dev libcurl4-openssl-dev libcjson-dev libmsgpack-dev
      googletest libgtest-dev
      swig python3 python3-dev python3-venv python3-pytest python3-setuptools python3-wheel
      clang libclang-rt-14-dev llvm
      valgrind nodejs npm golang-go abigail-tools
      redis-server)  # the Redis backplane of the scale-out tests (tests/harness/cluster.py)
# libwebsockets on libev (epoll): the library, and lws' plugin for it (loaded at run time)
pkgs+=(libev-dev libwebsockets-evlib-ev)

missing=()
for p in "${pkgs[@]}"; do
  # nodejs/npm may come from outside Debian (the machine image ships its own node).
  if [[ $p == nodejs || $p == npm ]] && command -v "${p/nodejs/node}" >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "bootstrap: WARNING: dotnet (the .NET SDK) is not installed; interop tests against the" >&2
  echo "bootstrap: real ASP.NET Core server will be skipped (or fail when SIGNALR_REQUIRE_SERVER=1)." >&2
fi
