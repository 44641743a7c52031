#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a small program against it twice:
# with pkg-config and with CMake's find_package(SignalR).
set -euo pipefail
build=$1
src=$2
cc=${CC:-cc}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null

pcdir=$(dirname "$(find "$prefix" -name signalr.pc | head -n1)")
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH=$pcdir
echo "== pkg-config: $(pkg-config --modversion signalr)"
# shellcheck disable=SC2046
# no run path of our own, no LD_LIBRARY_PATH: the .pc file's Libs carry what the loader needs
$cc -o "$prefix/consumer_pc" "$src/tests/consumer/consumer.c" $(pkg-config --cflags --libs signalr)
env -u LD_LIBRARY_PATH "$prefix/consumer_pc"
echo "== installed CLI runs without LD_LIBRARY_PATH, also from a moved prefix"
env -u LD_LIBRARY_PATH "$prefix/bin/signalr" --version
moved=$(mktemp -d)
cp -a "$prefix/." "$moved/"
env -u LD_LIBRARY_PATH "$moved/bin/signalr" --version
rm -rf "$moved"
# shellcheck disable=SC2046
# Static libsignalr over shared dependencies: link the private requirements' own libraries
# (--static would also pull in every transitive static library, which a distro may not ship).
$cc -o "$prefix/consumer_pc_static" "$src/tests/consumer/consumer.c" $(pkg-config --cflags signalr) \
  "$libdir/libsignalr.a" $(pkg-config --libs $(pkg-config --print-requires-private signalr | awk '{print $1}')) -lm -pthread
"$prefix/consumer_pc_static"

echo "== find_package(SignalR)"
cmake -S "$src/tests/consumer" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
"$prefix/cmake-build/consumer"
"$prefix/cmake-build/consumer_static"
"$prefix/cmake-build/consumer_cpp"  # the header-only C++17 API, SignalR::signalr_cpp
echo "ok: installed tree consumed through pkg-config and find_package"
