#!/usr/bin/env python3
"""bench/audit_log.py — how fast GET /api/v1/audit answers on a log of
--rows rows (default 200,000: two thirds broker rows naming "flat:N", one
third mgmtd's flat.update rows, spread over 100 flats, written in SQL):
the first page, page 100, and the filters the admin offers (kind, one
object's history, a user, every gateway, a text). Bounded: --repeat
requests per figure (default 10), loopback only.

    make build/rel/bin/dpn-mgmtd
    bench/audit_log.py [--rows 200000] [--repeat 10]

Uses a throwaway PostgreSQL cluster and the release build (DPN_BUILD to
use another); prints a Markdown table (ms per request, p50 and worst)."""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

QUERIES = [('first page of 50', ''), ('page 100', '?page=100'),
           ('kind=flat', '?kind=flat'), ("one flat's history", '?kind=flat&object_id=5'),
           ('actor=user:admin', '?actor=user:admin'), ('actor=gateway: (none match)', '?actor=gateway:'),
           ('q=flat.update', '?q=flat.update')]


def fill(pg, rows):
    pg.psql("INSERT INTO dpn.audit_log (actor, action, object, detail) "
            "SELECT 'user:admin', CASE WHEN i % 3 = 0 THEN 'flat.update' ELSE 'broker.allocate' END, "
            "CASE WHEN i % 3 = 0 THEN 'flat' ELSE 'flat:' || (i % 100 + 1) END, "
            "CASE WHEN i % 3 = 0 THEN jsonb_build_object('id', i % 100 + 1, 'number', i, "
            "'circuit_id', 'c' || i) ELSE jsonb_build_object('block', jsonb_build_object("
            "'first', '10.0.0.1', 'last', '10.0.0.8')) END "
            "FROM generate_series(1, " + str(int(rows)) + ") i")
    pg.psql('ANALYZE dpn.audit_log')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=200000)
    ap.add_argument('--repeat', type=int, default=10)
    a = ap.parse_args()
    rows = max(1000, min(a.rows, 2000000))
    repeat = max(1, min(a.repeat, 100))
    with Cluster() as pg:
        with Env(pg) as env:
            env.building(7, floors=10, units_per_floor=10)
            fill(pg, rows)
            print('| GET /api/v1/audit, %d rows | matching | p50 ms | worst ms |' % rows)
            print('|---|---:|---:|---:|')
            for what, q in QUERIES:
                times = []
                for _ in range(repeat):
                    t0 = time.monotonic()
                    status, body = env.c.get('/api/v1/audit' + q)
                    times.append((time.monotonic() - t0) * 1000)
                    if status != 200:
                        sys.exit('%s: %s %r' % (q, status, body))
                print('| %s | %d | %.0f | %.0f |' % (what, body['total'], statistics.median(times),
                                                   max(times)))


if __name__ == '__main__':
    main()
