#!/usr/bin/env bash
# tests/integration/test_build_quiet.sh — the build a newcomer watches is
# quiet: one "CC file" line per compiled file and nothing else, so the demo's
# summary is what they see; V=1 still shows the compiler command. Builds
# one object in a copy of the tree (bounded: a second or two).
set -euo pipefail
cd "${DPN_ROOT:-$(dirname "$0")/../..}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "not ok: $*"; exit 1; }
tar --exclude=./build --exclude=./node_modules --exclude=./.git -cf - . | tar -xf - -C "$tmp"
out=$(make -C "$tmp" --no-print-directory build/rel/lib/log.o 2>&1)
[ "$out" = "  CC   lib/log.c" ] || fail "quiet build printed: $out"
echo "ok     a quiet build prints one line per file"
rm -f "$tmp/build/rel/lib/log.o"
out=$(make -C "$tmp" --no-print-directory V=1 build/rel/lib/log.o 2>&1)
case "$out" in *"-c lib/log.c -o build/rel/lib/log.o"*) ;; *) fail "V=1 printed: $out" ;; esac
echo "ok     V=1 shows the compiler command"
echo "2 passed, 0 failed"
