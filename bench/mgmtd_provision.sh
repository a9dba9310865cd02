#!/usr/bin/env bash
# bench/mgmtd_provision.sh — provisioning a 1,000-flat building through
# mgmtd: POST /api/v1/sites/{id}/buildings with 50 floors x 20 units
# (pattern {floor:02}{unit:02}, every flat in one transaction and one
# INSERT), then DELETE of the building (its flats, 100 of them holding a
# block, returned through dpn.broker_delete_gateway). Wall time of each
# HTTP request as the client sees it, over RUNS buildings; release build,
# throwaway PostgreSQL cluster (unix socket), mgmtd on a free 127.0.0.1 port.
# Bounded: RUNS requests of each kind (default 5, at most 20), 60 s each.
#
#   make build/rel/bin/dpn-mgmtd && bench/mgmtd_provision.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ "$runs" -ge 1 ] && [ "$runs" -le 20 ] || { echo "RUNS must be 1 to 20" >&2; exit 2; }
[ -x build/rel/bin/dpn-mgmtd ] || make -s build/rel/bin/dpn-mgmtd
DPN_BUILD=$PWD/build/rel RUNS=$runs exec python3 - <<'PY'
import os, statistics, sys, time
sys.path.insert(0, 'tests/lib')
from dpn_test import Cluster
import mgmtd
from mgmtd_resources import Env

runs = int(os.environ['RUNS'])
with Cluster() as pg, Env(pg, cidr='127.64.0.0/12', site={'widths': {'flat': 4}}) as env:
    env.c.timeout = 60
    up, down = [], []
    for i in range(runs):
        body = {'number': 2000 + i, 'floors': 50, 'units_per_floor': 20,
                'pattern': '{floor:02}{unit:02}'}
        t = time.monotonic()
        status, b = env.c.post('/api/v1/sites/%d/buildings' % env.site['id'], body)
        up.append(time.monotonic() - t)
        if status != 201 or b['flats'] != 1000:
            sys.exit('provision failed: %s %r' % (status, b))
        flats = sorted(env.flats(b['id']).values(), key=lambda f: f['id'])[:100]
        for n, f in enumerate(flats):
            env.allocate(f['id'], '02:00:00:%02x:%02x:00' % (i, n))
        t = time.monotonic()
        status, _ = env.c.delete('/api/v1/buildings/%d' % b['id'])
        down.append(time.monotonic() - t)
        if status != 204:
            sys.exit('delete failed: %s' % status)
    if env.utilisation() != (0, 0):
        sys.exit('blocks left in the pool: %r' % (env.utilisation(),))
    for name, xs in (('POST building, 1,000 flats', up),
                     ('DELETE building, 1,000 flats, 100 blocks', down)):
        print('| %s | %d | %.0f | %.0f | %.0f |' % (
            name, len(xs), min(xs) * 1000, statistics.median(xs) * 1000, max(xs) * 1000))
PY
