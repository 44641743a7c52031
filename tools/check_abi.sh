#!/usr/bin/env bash
# The ABI check: the built libsignalr.so against the baseline kept in core/abi/ for the current
# minor version (abidw's XML of the public types and functions, and the exported symbols).
#
#   tools/check_abi.sh BUILD_DIR            compare (CI)
#   tools/check_abi.sh BUILD_DIR --update   write a new baseline (with a version bump, on purpose)
#
# Fails on an incompatible change: a function, variable or symbol removed, or one changed (a
# parameter's or a type's size or layout: abidiff calls some of these "compatible", but a
# caller built against the old header passes the old one). Additions pass, listed. An
# incompatible change passes only together with a new baseline for a new version
# (core/abi/VERSION must then name the version the library reports).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tools/check_abi.sh BUILD_DIR [--update]}
lib=$build/core/libsignalr.so
[[ -f $lib ]] || { echo "check_abi: no $lib (build first)" >&2; exit 2; }
command -v abidw >/dev/null || { echo "check_abi: abidw not found (apt-get install abigail-tools)" >&2; exit 2; }
version=$(sed -n 's/^#define SIGNALR_VERSION_STRING "\(.*\)"/\1/p' core/include/signalr/signalr.h)
symbols() { nm -D --defined-only "$1" | awk '$2 == "T" || $2 == "D" || $2 == "B" || $2 == "R" {print $3}' | sort; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abidw --headers-dir core/include/signalr --out-file "$tmp/new.abi" "$lib"
symbols "$lib" > "$tmp/symbols.txt"
if [[ ${2:-} == --update ]]; then
  cp "$tmp/new.abi" core/abi/libsignalr.abi
  cp "$tmp/symbols.txt" core/abi/symbols.txt
  echo "$version" > core/abi/VERSION
  echo "check_abi: baseline written for $version ($(wc -l < core/abi/symbols.txt) symbols)"
  exit 0
fi
[[ -f core/abi/libsignalr.abi ]] || { echo "check_abi: no baseline (tools/check_abi.sh $build --update)" >&2; exit 2; }
rc=0
abidiff --headers-dir2 core/include/signalr core/abi/libsignalr.abi "$tmp/new.abi" > "$tmp/diff.txt" || rc=$?
# "Functions changes summary: 0 Removed, 1 Changed, 0 Added function" (and Variables)
changed=$(sed -n 's/.*changes summary: \([0-9]*\) Removed, \([0-9]*\) Changed.*/\1 \2/p' "$tmp/diff.txt" |
          awk '{n += $1 + $2} END {print n + 0}')
gone=$(comm -23 core/abi/symbols.txt "$tmp/symbols.txt")
added=$(comm -13 core/abi/symbols.txt "$tmp/symbols.txt")
[[ -n $added ]] && echo "check_abi: added (compatible): $(echo $added)"
if (( rc & 8 )) || (( changed > 0 )) || [[ -n $gone ]]; then
  cat "$tmp/diff.txt"
  [[ -n $gone ]] && echo "check_abi: symbols gone: $(echo $gone)"
  if [[ $(cat core/abi/VERSION) != "$version" ]]; then
    echo "check_abi: incompatible, and core/abi/VERSION ($(cat core/abi/VERSION)) is not the library's ($version):" \
         "bump the version and write the baseline with --update, together" >&2
  else
    echo "check_abi: INCOMPATIBLE ABI change against the $version baseline" \
         "(a new version needs a new baseline: tools/check_abi.sh $build --update after the bump)" >&2
  fi
  exit 1
fi
if (( rc & ~4 & 0xff )); then  # abidiff itself failed (bit 1: error, bit 2: usage)
  cat "$tmp/diff.txt" >&2
  echo "check_abi: abidiff failed (exit $rc)" >&2
  exit 2
fi
(( rc & 4 )) && { echo "check_abi: compatible changes:"; sed -n '1,40p' "$tmp/diff.txt"; }
echo "check_abi: ok against the $version baseline"
