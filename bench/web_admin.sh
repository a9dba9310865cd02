#!/usr/bin/env bash
# bench/web_admin.sh — the web admin at 10,000 flats: one building of 100
# floors x 100 units provisioned in one request, then in headless Chromium
# (Debian's, via playwright-core) the time from navigation to a rendered
# flat table for the first page, the last page (page 100 of 100-flat pages)
# and a filtered list (by number, and to the flats needing attention), the
# number search to a flat's page, and the API list request as a client
# sees it. Release build, throwaway PostgreSQL cluster,
# mgmtd on a free 127.0.0.1 port (tests/lib/web.py). Bounded: RUNS repeats
# of each (default 5, clamped to 1..20), 30 s per step, 15 min in all.
#
#   make build/rel/bin/dpn-mgmtd && bench/web_admin.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/rel/bin/dpn-mgmtd ] || make -s build/rel/bin/dpn-mgmtd
DPN_BUILD=$PWD/build/rel RUNS=${1:-5} exec python3 tests/lib/web.py bench/web_admin.mjs
