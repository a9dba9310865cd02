#!/usr/bin/env python3
"""bench/mgmtd_hostile.py — mgmtd under the hostile connections of issue 15,
item 1, at full scale on loopback, with mgmtd's default limits: (1) 20
connections sending one byte a second: how long they stay open; (2) 2,000
idle connections from one address: how many are held and how soon that
address is served again; (3) 4 addresses x 1,024 slow connections: a
gateway's allocation requests from another address meanwhile, latency and
failures; (4) the same with 64 more addresses x 64 (8,192 hostile
sockets, more than --max-conns). Bounded: each phase has a fixed socket
count and duration.

    make build/rel/bin/dpn-mgmtd
    bench/mgmtd_hostile.py [--seconds 20]

Uses a throwaway PostgreSQL cluster and the release build; prints one JSON
line per phase."""
import argparse
import json
import os
import socket
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster  # noqa: E402
import hostile  # noqa: E402
import mgmtd  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def slow_senders(port, n=20, limit_s=75):
    """n connections sending a byte a second; seconds until all are cut."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', port), timeout=5)
        s.sendall(hostile.HEAD)
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    alive = set(range(n))
    while alive and time.monotonic() - t0 < limit_s:
        for i in list(alive):
            try:
                if socks[i].recv(100) == b'':
                    alive.discard(i)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                alive.discard(i)
                continue
            try:
                socks[i].send(b'x')
            except OSError:
                alive.discard(i)
        time.sleep(1)
    for s in socks:
        s.close()
    return {'phase': 'slow senders', 'connections': n,
            'all_cut_after_s': round(time.monotonic() - t0, 1) if not alive else None,
            'still_open': len(alive)}


def served(port, source):
    c = mgmtd.Client(port, timeout=2, source=source)
    try:
        return c.get('/healthz')[0] == 200
    except OSError:
        return False
    finally:
        c.close()


def idle_flood(port, n=2000, limit_s=60):
    """n idle connections from one address; how many the server holds and
    how long until that address gets an answer again."""
    addr = '127.0.11.2'
    with hostile.Attack(port, [addr], per_address=n, idle=True, reconnect_s=60,
                        duration=limit_s) as a:
        time.sleep(2)
        held = a.open - 0
        t0 = time.monotonic()
        while not served(port, addr) and time.monotonic() - t0 < limit_s:
            time.sleep(0.5)
        back = time.monotonic() - t0
        other = served(port, '127.0.11.3')
    return {'phase': 'idle flood', 'connections': n, 'sockets_open_at_2s': held,
            'cut_by_server': a.cuts, 'same_address_served_after_s': round(back, 1),
            'other_address_served': other}


def full_server(port, gw, seconds, spread):
    """4 x 1,024 slow connections (and spread addresses x 64 more); gateway
    allocations meanwhile."""
    addrs = ['127.0.12.%d' % i for i in range(2, 6)]
    many = ['127.0.13.%d' % i for i in range(2, 2 + spread)]
    with hostile.Attack(port, addrs, per_address=1024, trickle_s=1.0,
                        duration=seconds + 15) as a1, \
            hostile.Attack(port, many, per_address=64, trickle_s=1.0,
                           duration=seconds + 15) as a2:
        time.sleep(5)
        opened = a1.open + a2.open
        got = hostile.probe(port, gw[0], gw[1], '02:00:00:00:12:01',
                            count=int(seconds / 0.25), every_s=0.25)
    lat = [t for st, t in got if st == 200]
    return {'phase': '4 x 1024 + %d x 64 slow' % spread, 'hostile_sockets': len(addrs) * 1024 + len(many) * 64,
            'hostile_open_at_5s': opened, 'cut_by_server': a1.cuts + a2.cuts,
            'allocations': len(got), 'failed': sum(1 for st, _ in got if st != 200),
            'p50_ms': round(pct(lat, 50) * 1000, 1) if lat else None,
            'p99_ms': round(pct(lat, 99) * 1000, 1) if lat else None,
            'max_ms': round(max(lat) * 1000, 1) if lat else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=20)
    args = ap.parse_args()
    print(json.dumps({'uptime': open('/proc/loadavg').read().split()[:3]}))
    with Cluster() as pg:
        mgmtd.migrate(pg)
        site, flats = mgmtd.seed(pg, site_number=500, cidr='127.50.0.0/24', flats=1,
                                 building=1)
        gw = mgmtd.add_gateway(pg, flats[0])
        with mgmtd.Server(pg) as srv:
            for phase in (lambda: slow_senders(srv.port),
                          lambda: idle_flood(srv.port),
                          lambda: full_server(srv.port, gw, args.seconds, 0),
                          lambda: full_server(srv.port, gw, args.seconds, 64)):
                print(json.dumps(phase()), flush=True)
                time.sleep(11)     # the guard's deadline clears what is left
    print(json.dumps({'uptime': open('/proc/loadavg').read().split()[:3]}))


if __name__ == '__main__':
    main()
