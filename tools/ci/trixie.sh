#!/usr/bin/env bash
# Builds libsignalr inside a Debian 13 (trixie) root, against trixie's own libwebsockets (4.3),
# libcurl, cJSON and msgpack-c (6, msgpack-c.pc), with its gcc, and runs the unit (incl. the wire
# vectors) and packaging tests there; with a test server on the host (dotnet, HOST_BUILD's
# tests/server-bin) also the public-API and transport interop tests, over loopback.
#
#   tools/ci/trixie.sh [HOST_BUILD]      (root; HOST_BUILD defaults to ./build)
#
# The root is made once with debootstrap from the Debian registry and kept outside the clone
# (SIGNALR_CI_CACHE, default /var/cache/libsignalr): re-used while the package list below and
# the mirror are unchanged and it is younger than SIGNALR_TRIXIE_MAX_AGE_DAYS (30), rebuilt
# otherwise. Downloaded .debs and a ccache are cached beside it, so a rebuild is cheaper too.
# Everything mounted into the root lives in a private mount namespace (unshare -m): the mounts
# end with this script however it ends; the trap stops the host's test server.
#
# SIGNALR_TRIXIE_INTEROP=0 skips the interop part; SIGNALR_REQUIRE_SERVER=1 makes a missing
# server a failure instead of a loud skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
host_build=$(realpath -m "${1:-build}")
cache=${SIGNALR_CI_CACHE:-/var/cache/libsignalr}
root=$cache/trixie-root
debs=$cache/trixie-debs
ccache_dir=$cache/trixie-ccache
mirror=${SIGNALR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
max_age_days=${SIGNALR_TRIXIE_MAX_AGE_DAYS:-30}
jobs=$(nproc 2>/dev/null || echo 2)
# trixie's names: msgpack-c 6 is libmsgpack-c-dev; libssl-dev for the in-test TLS server.
pkgs=(cmake make gcc g++ pkg-config ccache ca-certificates python3
      libwebsockets-dev libcurl4-openssl-dev libcjson-dev libmsgpack-c-dev libssl-dev libgtest-dev
      libev-dev libwebsockets-evlib-ev)  # lws on libev (epoll), as on the host
# The interop binaries that talk to one shared server (paths in the build tree): tools/test.sh's
# api_tests list plus the C++ API's tests.
interop_tests=(tests/test_connection tests/test_connection_network tests/test_lifetime tests/test_transports
               tests/test_flow_control tests/test_poll_lending tests/runtime/test_transport_interop
               tests/runtime/test_sse_lp_interop bindings/cpp/test_cpp_api)

die() { echo "*** trixie: $* ***" >&2; exit 1; }
log() { echo "[trixie $(date +%T)] $*"; }
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mount); run it as root or under sudo"
for tool in unshare chroot mount flock; do command -v $tool >/dev/null || die "$tool not found (util-linux/coreutils)"; done
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
    die "could not install debootstrap with apt-get (is the Debian registry reachable?)"
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || die "$keyring missing: apt-get install debian-archive-keyring"

# One run at a time per cache: two CI runs on one machine share the root and its /build.
mkdir -p "$cache"
exec 9>"$cache/trixie.lock"
flock 9 || die "cannot lock $cache/trixie.lock"

# What the root was made from; a different one means a new root.
want_stamp="trixie $mirror minbase ${pkgs[*]}"
have_stamp=$(cat "$root/.signalr-root" 2>/dev/null || true)
if [[ -d $root && $have_stamp == "$want_stamp" ]] &&
   [[ -z $(find "$root/.signalr-root" -mtime +"$max_age_days" 2>/dev/null) ]]; then
  log "re-using the trixie root $root (made $(date -r "$root/.signalr-root" +%F))"
else
  log "making the trixie root $root (${have_stamp:+the package list or mirror changed, or it is old; }debootstrap from $mirror)"
  rm -rf "$root.new"
  mkdir -p "$debs" "$cache"
  if ! debootstrap --variant=minbase --keyring="$keyring" --cache-dir="$debs" trixie "$root.new" "$mirror" \
       >"$cache/debootstrap.log" 2>&1; then
    tail -n 20 "$cache/debootstrap.log" >&2
    rm -rf "$root.new"
    die "debootstrap of trixie from $mirror failed (full log: $cache/debootstrap.log). Is the mirror reachable (curl $mirror/dists/trixie/Release)? Set SIGNALR_DEBIAN_MIRROR for another one"
  fi
  cp /etc/resolv.conf "$root.new/etc/resolv.conf"
  log "installing trixie's build dependencies: ${pkgs[*]}"
  if ! unshare -m --propagation private bash -euc '
      r=$1 debs=$2; shift 2
      mount -t proc proc "$r/proc"
      mount --bind "$debs" "$r/var/cache/apt/archives"
      chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends \"\$@\" >/dev/null" sh "$@"
    ' _ "$root.new" "$debs" "${pkgs[@]}"; then
    rm -rf "$root.new"
    die "apt-get install inside the trixie root failed (a package renamed in trixie? the list is in tools/ci/trixie.sh)"
  fi
  echo "$want_stamp" >"$root.new/.signalr-root"
  rm -rf "$root"
  mv "$root.new" "$root"
fi
chroot "$root" dpkg-query -W -f='  ${Package} ${Version}\n' gcc cmake libwebsockets-dev libcurl4-openssl-dev \
  libcjson-dev libmsgpack-c-dev libgtest-dev

# A test server on the host for the interop part; the chroot shares the host's network.
server_state=
cleanup() {
  if [[ -n $server_state ]]; then
    python3 tests/harness/testserver.py stop --state "$server_state" >/dev/null 2>&1 || true
    rm -f "$server_state"
  fi
}
trap cleanup EXIT
run_interop=${SIGNALR_TRIXIE_INTEROP:-1}
if [[ $run_interop == 1 ]]; then
  if ! command -v dotnet >/dev/null || [[ ! -d $host_build/tests/server-bin ]]; then
    echo "*** SKIPPING the trixie interop tests: no dotnet or no test server built in $host_build/tests/server-bin ***"
    [[ "${SIGNALR_REQUIRE_SERVER:-}" != 1 ]] || die "SIGNALR_REQUIRE_SERVER=1 and no test server"
    run_interop=0
  else
    server_state=$(mktemp)
    python3 tests/harness/testserver.py start --build-dir "$host_build/tests/server-bin" --state "$server_state" \
      --log "$cache/trixie-server.log" --parent-pid $$ >/dev/null 9>&- || die "the test server did not start ($cache/trixie-server.log)"
    # The same state, with the server's certificate copied where the chroot sees it.
    python3 - "$server_state" "$root/run/signalr-server.json" "$root" <<'EOF'
import json, shutil, sys
state, out, root = sys.argv[1:]
d = json.load(open(state))
if d.get("cert"):
    shutil.copy(d["cert"], root + "/run/signalr-server-cert.pem")
    d["cert"] = "/run/signalr-server-cert.pem"
json.dump(d, open(out, "w"))
EOF
  fi
fi

# Inside: the source read-only at /src, a fresh build in /build, the ccache at /ccache.
log "building in the trixie root (gcc $(chroot "$root" gcc -dumpversion)) and running the tests"
mkdir -p "$ccache_dir"
cp /etc/hosts "$root/etc/hosts"
unshare -m --propagation private bash -euc '
  r=$1 src=$2 ccache=$3; shift 3
  mount -t proc proc "$r/proc"
  mount --bind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/dev/shm"
  mkdir -p "$r/src" "$r/ccache"
  mount --bind "$src" "$r/src"
  mount -o remount,bind,ro "$r/src"
  mount --bind "$ccache" "$r/ccache"
  exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 CCACHE_DIR=/ccache \
    SIGNALR_REQUIRE_SERVER="${SIGNALR_REQUIRE_SERVER:-}" bash /src/tools/ci/trixie-inside.sh "$@"
' _ "$root" "$src" "$ccache_dir" "$jobs" "$run_interop" "${interop_tests[@]}"
