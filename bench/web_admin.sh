#!/usr/bin/env bash
# bench/web_admin.sh — the web admin at 10,000 flats: one building of 100
# floors x 100 units provisioned in one request, then in headless Chromium
# (Debian's, via playwright-core) the time from navigation to a rendered
# flat table for the first page, the last page (page 100 of 100-flat pages)
# and a filtered list, the number search to a flat's page, and the API list
# request as a client sees it. Release build, throwaway PostgreSQL cluster,
# mgmtd on a free 127.0.0.1 port. Bounded: RUNS repeats of each (default 5,
# at most 20), 30 s per step.
#
#   make build/rel/bin/dpn-mgmtd && bench/web_admin.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ "$runs" -ge 1 ] && [ "$runs" -le 20 ] || { echo "RUNS must be 1 to 20" >&2; exit 2; }
[ -x build/rel/bin/dpn-mgmtd ] || make -s build/rel/bin/dpn-mgmtd
DPN_BUILD=$PWD/build/rel RUNS=$runs exec python3 - <<'PY'
import os, subprocess, sys
sys.path.insert(0, 'tests/lib')
from dpn_test import Cluster
import mgmtd

with Cluster() as pg:
    mgmtd.migrate(pg)
    with mgmtd.Server(pg) as srv:
        pw = mgmtd.add_user(pg, 'bench')
        env = dict(os.environ, DPN_WEB_URL=srv.url, DPN_ADMIN_USER='bench',
                   DPN_ADMIN_PASSWORD=pw)
        rc = subprocess.run(['node', 'bench/web_admin.mjs'], env=env,
                            timeout=900).returncode
sys.exit(rc)
PY
