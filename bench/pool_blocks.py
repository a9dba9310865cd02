#!/usr/bin/env python3
"""bench/pool_blocks.py — how fast GET /api/v1/pools/{id}/blocks answers
for a /16 holding 8,000 blocks (a gateway and two handsets each, made by
dpn.broker_allocate in SQL): the first and the last page of 500, a page of
50, and one address-map window (?from=ADDRESS, per_page 500) in the middle
of the pool, as an operator and as a manager of half the flats. Bounded:
--repeat requests per figure (default 30), loopback only.

    make build/rel/bin/dpn-mgmtd
    bench/pool_blocks.py [--blocks 8000] [--repeat 30]

Uses a throwaway PostgreSQL cluster and the release build; prints a
Markdown table (ms per request, p50 and p95)."""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster  # noqa: E402
import mgmtd  # noqa: E402


def setup(pg, blocks):
    """Site 100, pool 127.64.0.0/16, building 1101 with `blocks` flats, each
    with a gateway and a block holding it and two handsets; a second
    building number for the manager. Returns (pool id, building ids)."""
    mgmtd.migrate(pg)
    site, flats = mgmtd.seed(pg, cidr='127.64.0.0/16', flats=blocks)
    pg.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash) SELECT id, "
            "'gw-' || id, sha256(id::text::bytea) FROM dpn.flats")
    # Half of the flats move to a second building, the manager's.
    b2 = pg.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES (%d, 1102) "
                   "RETURNING id" % site)
    pg.psql("UPDATE dpn.flats SET building_id = %s WHERE id %% 2 = 0" % b2)
    t = time.monotonic()
    mac = ("('02:0%d:00:' || substr(h, 1, 2) || ':' || substr(h, 3, 2) || ':' || "
           "substr(h, 5, 2))::macaddr")
    pg.psql("SELECT count(dpn.broker_allocate(g.id, " + mac % 0 + ", ARRAY[" + mac % 1
            + ", " + mac % 2 + "])) FROM dpn.gateways g, lpad(to_hex(g.id), 6, '0') h")
    print('%d blocks allotted in %.1f s' % (blocks, time.monotonic() - t), flush=True)
    pg.psql('ANALYZE')
    pool = int(pg.scalar('SELECT id FROM dpn.pools'))
    return pool, int(b2)


def measure(client, path, repeat):
    """p50 and p95 (ms) of `repeat` GETs of path, and the last answer."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        status, body = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise RuntimeError('%s: %s %r' % (path, status, body))
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--blocks', type=int, default=8000)
    ap.add_argument('--repeat', type=int, default=30)
    a = ap.parse_args()
    if not 1 <= a.blocks <= 8000 or not 1 <= a.repeat <= 200:
        sys.exit('--blocks 1..8000, --repeat 1..200')
    with Cluster() as pg:
        pool, b2 = setup(pg, a.blocks)
        with mgmtd.Server(pg) as srv:
            op = srv.client()
            op.login('admin', mgmtd.add_user(pg, 'admin'))
            mg = srv.client()
            mg.login('mgr', mgmtd.add_user(pg, 'mgr', role='manager', buildings=[b2]))
            last = (a.blocks + 499) // 500
            base = '/api/v1/pools/%d/blocks' % pool
            runs = [('operator', op, 'page 1 of 500', '?per_page=500'),
                    ('operator', op, 'last page of 500', '?per_page=500&page=%d' % last),
                    ('operator', op, 'page 1 of 50', ''),
                    ('operator', op, 'map window (from=127.64.64.0)',
                     '?per_page=500&from=127.64.64.0'),
                    ('manager (half)', mg, 'page 1 of 500', '?per_page=500'),
                    ('manager (half)', mg, 'map window (from=127.64.64.0)',
                     '?per_page=500&from=127.64.64.0')]
            print('| who | request | blocks in answer | total | p50 ms | p95 ms |')
            print('|---|---|---|---|---|---|')
            for who, c, what, q in runs:
                p50, p95, body = measure(c, base + q, a.repeat)
                print('| %s | %s | %d | %d | %.1f | %.1f |'
                      % (who, what, len(body['blocks']), body['total'], p50, p95), flush=True)
            op.close()
            mg.close()


if __name__ == '__main__':
    main()
