#!/usr/bin/env python3
"""bench/gw_settings_apply.py — issue 12's goal "a settings change in the
admin takes effect in the flat within 2 s": N changes of a flat's ring
timeout through the API (PUT /api/v1/flats/{id}/settings), each timed from
mgmtd's answer to dpn-gatewayd's log line saying it applied the new value
(it polls GET /api/v1/broker/handsets with If-None-Match every
poll-interval, 1 s by default). Real PostgreSQL, mgmtd and gatewayd on
loopback; no gatekeeper (its REGISTERs go nowhere, which does not matter
here). Not a test: figures for docs/bench.md.

    make SANITIZE=0 && bench/gw_settings_apply.py [--changes 30] [--poll 1s]
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
from dpn_test import Cluster, wait_for  # noqa: E402
from gatewayd import Gatewayd  # noqa: E402
from sip import free_udp_port  # noqa: E402
import mgmtd  # noqa: E402

POOL = '127.35.0.0/24'


def applied(gw, value, before):
    """True once gatewayd logged `ring timeout VALUE s` after `before` lines."""
    lines = [x for x in gw.log().splitlines() if ': ring timeout ' in x]
    return len(lines) > before and ': ring timeout %d s' % value in lines[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--changes', type=int, default=30)
    ap.add_argument('--poll', default='1s')
    a = ap.parse_args()
    with Cluster() as pg:
        mgmtd.migrate(pg)
        _, flats = mgmtd.seed(pg, cidr=POOL, flats=1)
        mgmtd.add_user(pg, 'op')
        with mgmtd.Server(pg) as srv:
            admin = srv.client().bearer(mgmtd.add_token(pg, 'op'))
            status, cred = admin.put('/api/v1/flats/%d/gateway' % flats[0])
            assert status == 201, cred
            gw = Gatewayd(srv.url, '100-1101-1201', cred['secret'], '02:00:00:35:00:00', POOL,
                          free_udp_port(), extra=['--poll-interval', a.poll])
            try:
                gw.wait_log(r': ring timeout \d+ s')
                took = []
                for i in range(a.changes):
                    value = 20 + i % 2
                    before = sum(': ring timeout ' in x for x in gw.log().splitlines())
                    status, _ = admin.put('/api/v1/flats/%d/settings' % flats[0],
                                          {'ring_timeout': value})
                    assert status == 200
                    t0 = time.monotonic()
                    wait_for(lambda: applied(gw, value, before), timeout=10, step=0.005)
                    took.append(time.monotonic() - t0)
                    time.sleep(random.uniform(0, 0.3))   # not in step with the poll
            finally:
                gw.stop()
    took.sort()
    print('changes %d, poll-interval %s: applied after p50 %.3f s, p90 %.3f s, '
          'max %.3f s' % (len(took), a.poll, took[len(took) // 2],
                          took[int(len(took) * 0.9)], took[-1]))


if __name__ == '__main__':
    main()
