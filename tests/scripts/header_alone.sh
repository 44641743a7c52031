#!/usr/bin/env bash
# The public header compiles on its own, warning-free, as C11 and as C++11/17 (strict flags):
# a consumer includes it first and nothing else.
set -euo pipefail
cc=$1 cxx=$2 include=$3
src='#include <signalr/signalr.h>
int main(void) { return signalr_version() ? 0 : 1; }'
flags=(-Wall -Wextra -Werror -pedantic -I"$include" -fsyntax-only)
echo "$src" | "$cc" -std=c11 "${flags[@]}" -x c -
echo "$src" | "$cc" -std=c99 "${flags[@]}" -x c -
for std in c++11 c++17; do echo "$src" | "$cxx" -std=$std "${flags[@]}" -x c++ -; done
echo "ok: signalr.h alone as C11, C99, C++11 and C++17"
