#!/usr/bin/env bash
# tests/integration/test_sip_fuzz.sh — run the lib/sip parser fuzzer for a
# bounded time (FUZZ_SECONDS, default 60) from the seed corpus in
# tests/sip/corpus plus the RFC 4475 messages (read in place, never
# copied into the repository). Fails on any crash or sanitizer report.
set -uo pipefail
root=${DPN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fuzz=$root/build/fuzz/sip_fuzz_parse
secs=${FUZZ_SECONDS:-60}
rfc=${RFC4475_DIR:-$root/../shared/data/rfc4475}
[ -x "$fuzz" ] || { echo "missing $fuzz (make tests builds it)"; exit 1; }
work=$(mktemp -d /tmp/dpn-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/rfc"
cp "$root"/tests/sip/corpus/* "$work/corpus/"
[ -d "$rfc" ] && cp "$rfc"/*.dat "$work/rfc/"
# -rss_limit_mb and -malloc_limit_mb bound memory; -timeout flags hangs.
"$fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 \
  -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$work/rfc" 2>&1 | tail -n 30
rc=${PIPESTATUS[0]}
found=0
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
  [ -f "$f" ] || continue
  found=1
  echo "finding: $(basename "$f")"
  od -c "$f" | head -20
done
[ "$found" = 0 ] || exit 1
echo "fuzz: $secs s, exit $rc"
exit "$rc"
