#!/usr/bin/env bash
# Runs inside the trixie root made by tools/ci/trixie.sh (the source read-only at /src):
# a fresh build with trixie's compilers and libraries, then the tests.
#   trixie-inside.sh JOBS RUN_INTEROP(0|1) INTEROP_TEST...
set -euo pipefail
jobs=$1 run_interop=$2
shift 2
rm -rf /build
echo "[trixie $(date +%T)] configure and build"
# -Werror on the library's own warnings (core/CMakeLists.txt's flags) catches what a newer
# gcc and newer headers add; the build is otherwise the project's default one.
cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER_LAUNCHER=ccache \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
cmake --build /build -j"$jobs" 2>&1 | sed -E '/^\[ *[0-9]+%\] /d' ||
  { echo "*** trixie: the build failed ***"; exit 1; }
ccache -s 2>/dev/null | grep -Ei 'hits|misses' | head -3 || true

rc=0
cd /build
echo "[trixie $(date +%T)] built"
echo "=== trixie: ctest -L 'unit|packaging' (unit tests incl. the wire vectors, installed consumers)"
ctest -L 'unit|packaging' -LE interop --output-on-failure -j"$jobs" || rc=1
if [[ $run_interop == 1 ]]; then
  echo "=== trixie $(date +%T): public-API and transport tests against the host's test server"
  for t in "$@"; do
    [[ -x /build/$t ]] || { echo "*** $t was not built ***"; rc=1; continue; }
    echo "--- $t"
    SIGNALR_SERVER_STATE=/run/signalr-server.json /build/$t --gtest_brief=1 || { rc=1; echo "*** $t failed"; }
  done
fi
echo "[trixie $(date +%T)] done"
exit $rc
