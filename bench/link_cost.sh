#!/usr/bin/env bash
# bench/link_cost.sh — what linking a library costs a process in private
# memory before main does anything: an empty main that prints its own
# Private_Dirty and Rss (/proc/self/smaps_rollup), built bare and linked
# (--no-as-needed) with each set of libraries dpn-gatewayd uses.
#
#   bench/link_cost.sh
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/m.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char l[256];
	int pd = 0, rss = 0;

	while (f && fgets(l, sizeof(l), f)) {
		sscanf(l, "Private_Dirty: %d", &pd);
		sscanf(l, "Rss: %d", &rss);
	}
	printf("Private_Dirty %5d kB   Rss %5d kB", pd, rss);
	return 0;
}
C
row() {
  local what=$1; shift
  cc "$work/m.c" -o "$work/m" -Wl,--no-as-needed "$@"
  printf '%-40s %s   (%d shared libraries)\n' "$what" "$("$work/m")" \
    "$(ldd "$work/m" | grep -c '=>' || true)"
}
uptime
row "empty main"
row "+ libcrypto" $(pkg-config --libs libcrypto)
row "+ json-c, libmicrohttpd" $(pkg-config --libs json-c libmicrohttpd)
row "+ libcurl" $(pkg-config --libs libcurl)
row "all of dpn-gatewayd's" $(pkg-config --libs libcurl json-c libcrypto libmicrohttpd)
