#!/usr/bin/env python3
"""bench/gk_powercut.py — the power cut of issue 10: N flat gateways (default
1,000) REGISTER with digest at once, each from its flat's first address
(127.16/16 on loopback). Measures, from the first REGISTER sent:
  - bound:   every gateway has its 200 (challenge round included);
  - in PostgreSQL: every binding row is in dpn.gk_bindings.
Not a test (no pass/fail): figures for docs/bench.md. The flats, gateways
(HA1s as mgmtd stores them) and blocks are made straight in SQL.

    make SANITIZE=0 && bench/gk_powercut.py [--gateways 1000] [--alg MD5]
"""
import argparse
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
from dpn_test import Cluster, wait_for  # noqa: E402
from gatekeeper import Gatekeeper, Msg, digest  # noqa: E402
import mgmtd  # noqa: E402

SECRET = 'powercut-secret'


def setup(pg, n):
    mgmtd.migrate(pg)
    site, _ = mgmtd.seed(pg, flats=n, cidr='127.16.0.0/16')
    pg.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash, ha1_md5, "
            "ha1_sha256) SELECT f.flat_id, 'gw-' || f.number, sha256('x'), "
            "md5('gw-' || f.number || ':dpn:%s'), encode(sha256(convert_to("
            "'gw-' || f.number || ':dpn:%s', 'UTF8')), 'hex') FROM dpn.gk_flats f"
            % (SECRET, SECRET))
    pg.psql("SELECT count(dpn.broker_allocate(g.id, ('02:00:00:' || "
            "substr(h, 1, 2) || ':' || substr(h, 3, 2) || ':' || substr(h, 5, 2))"
            "::macaddr, ARRAY[]::macaddr[])) FROM (SELECT id, lpad(to_hex(id), 6, "
            "'0') AS h FROM dpn.gateways) g")
    return pg.psql('SELECT number, first_addr FROM dpn.gk_flats ORDER BY flat_id')


def register_msg(s, aor, gk_port, cseq, auth=None):
    addr, port = s.getsockname()
    return ('REGISTER sip:dpn SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%d%d;'
            'rport\r\nMax-Forwards: 70\r\nFrom: <sip:%s@dpn>;tag=p%d\r\n'
            'To: <sip:%s@dpn>\r\nCall-ID: pc-%s\r\nCSeq: %d REGISTER\r\n'
            'Contact: <sip:%s@%s:%d>\r\nExpires: 3600\r\n%sContent-Length: 0\r\n\r\n'
            % (addr, port, port, cseq, aor, port, aor, aor, cseq, aor, addr, port,
               'Authorization: %s\r\n' % auth if auth else '')).encode()


def burst(flats, gk_port, alg):
    sel = selectors.DefaultSelector()
    socks = {}
    for number, addr in flats:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        s.setblocking(False)
        socks[s] = number
        sel.register(s, selectors.EVENT_READ)
    t0 = time.monotonic()
    for s, number in socks.items():
        s.sendto(register_msg(s, number, gk_port, 1), ('127.0.0.1', gk_port))
    bound, other, end = 0, {}, t0 + 30
    while bound + sum(other.values()) < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            m = Msg(s.recv(65535))
            if m.status == 401:
                chal = [c for c in m.get('WWW-Authenticate') if alg in c][0]
                number = socks[s]
                auth = digest(chal, alg, 'gw-' + number, SECRET, 'REGISTER', 'sip:dpn')
                s.sendto(register_msg(s, number, gk_port, 2, auth),
                         ('127.0.0.1', gk_port))
            elif m.status == 200:
                bound += 1
            elif m.status and m.status >= 300:
                other[m.status] = other.get(m.status, 0) + 1
    t_bound = time.monotonic() - t0
    for s in socks:
        s.close()
    return t0, t_bound, bound, other


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--gateways', type=int, default=1000)
    ap.add_argument('--alg', default='MD5', choices=('MD5', 'SHA-256'))
    ap.add_argument('--durable', action='store_true', help='PostgreSQL with fsync')
    a = ap.parse_args()
    with Cluster(durable=a.durable) as pg:
        flats = setup(pg, a.gateways)
        with Gatekeeper(pg, args=['--max-expires', '3600']) as gk:
            gk.args = []
            t0, t_bound, bound, other = burst(flats, gk.port, a.alg)

            def rows():
                return int(pg.scalar('SELECT count(*) FROM dpn.gk_bindings'))
            wait_for(lambda: rows() >= bound, timeout=60, what='rows', step=0.02)
            t_db = time.monotonic() - t0
        print('gateways=%d alg=%s bound=%d other=%r all_bound_s=%.3f '
              'all_in_postgresql_s=%.3f load=%s' % (
                  a.gateways, a.alg, bound, other, t_bound, t_db,
                  os.getloadavg()))


if __name__ == '__main__':
    main()
