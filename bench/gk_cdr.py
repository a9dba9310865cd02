#!/usr/bin/env python3
"""bench/gk_cdr.py — call records under a burst of calls: N INVITEs (default
5,000) from one outside caller, paced at R per second (default 1,000), to
F registered flat gateways (default 100) that answer each 486 at once; the
caller ACKs. Measures, from the first INVITE sent:
  - answered: every INVITE has its final (the SIP loop kept up);
  - in PostgreSQL: every record is in dpn.calls (the writer kept up);
and the gatekeeper's dpn_gk_call_records_total (written, dropped, failed).
Not a test (no pass/fail): figures for docs/bench.md.

    make SANITIZE=0 && bench/gk_cdr.py [--calls 5000] [--rate 1000] [--flats 100] [--durable]
"""
import argparse
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
from dpn_test import Cluster, wait_for  # noqa: E402
from gatekeeper import Gatekeeper, Msg, Ua  # noqa: E402
from gk_powercut import SECRET, setup  # noqa: E402


def answer_486(s, m, src):
    vias = ''.join('Via: %s\r\n' % v for v in m.get('Via'))
    msg = ('SIP/2.0 486 Busy Here\r\n%sFrom: %s\r\nTo: %s;tag=b\r\nCall-ID: %s\r\n'
           'CSeq: %s\r\nContent-Length: 0\r\n\r\n'
           % (vias, m.one('From'), m.one('To'), m.one('Call-ID'), m.one('CSeq')))
    s.sendto(msg.encode(), src)


def invite(caller, gk_port, number, i):
    addr, port = caller.getsockname()
    return ('INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKc%d;'
            'rport\r\nMax-Forwards: 70\r\nFrom: <sip:bench@%s>;tag=c%d\r\nTo: <sip:%s@dpn>\r\n'
            'Call-ID: cdr-bench-%d\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n'
            % (number, gk_port, addr, port, i, addr, i, number, i)).encode()


def ack(caller, gk_port, m):
    addr, port = caller.getsockname()
    i = m.one('Call-ID').rsplit('-', 1)[1]
    msg = ('ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n'
           'Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n'
           % ('sip:x@127.0.0.1:%d' % gk_port, m.one('Via'), m.one('From'), m.one('To'),
              m.one('Call-ID')))
    caller.sendto(msg.encode(), ('127.0.0.1', gk_port))
    return int(i)


def run(gk, gws, n, rate):
    sel = selectors.DefaultSelector()
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(('127.0.0.1', 0))
    caller.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sel.register(caller, selectors.EVENT_READ)
    for ua in gws:
        ua.s.setblocking(False)
        sel.register(ua.s, selectors.EVENT_READ)
    caller.setblocking(False)
    finals, sent, t0 = set(), 0, time.monotonic()
    end = t0 + n / rate + 30
    while len(finals) < n and time.monotonic() < end:
        due = min(n, int((time.monotonic() - t0) * rate) + 1)
        for i in range(sent, due):
            ua = gws[i % len(gws)]
            caller.sendto(invite(caller, gk.port, ua.number, i), ('127.0.0.1', gk.port))
        sent = due
        for key, _ in sel.select(timeout=0.001):
            s = key.fileobj
            while True:
                try:
                    data, src = s.recvfrom(65535)
                except BlockingIOError:
                    break
                m = Msg(data)
                if m.method == 'INVITE':
                    answer_486(s, m, src)
                elif s is caller and m.status and m.status >= 300:
                    finals.add(ack(caller, gk.port, m))
    return t0, time.monotonic() - t0, len(finals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--calls', type=int, default=5000)
    ap.add_argument('--rate', type=int, default=1000)
    ap.add_argument('--flats', type=int, default=100)
    ap.add_argument('--durable', action='store_true', help='PostgreSQL with fsync')
    a = ap.parse_args()
    with Cluster(durable=a.durable) as pg:
        flats = setup(pg, a.flats)
        with Gatekeeper(pg) as gk:
            gws = []
            for number, addr in flats:
                ua = Ua(addr)
                r = ua.register(gk.port, number, 'gw-' + number, SECRET)
                assert r is not None and r.status == 200, 'REGISTER %s' % number
                ua.number = number
                gws.append(ua)
            t0, t_final, finals = run(gk, gws, a.calls, a.rate)

            def rows():
                return int(pg.scalar("SELECT count(*) FROM dpn.calls"))
            wait_for(lambda: rows() >= finals, timeout=60, what='rows', step=0.02)
            t_db = time.monotonic() - t0
            m = gk.metrics()
            for ua in gws:
                ua.close()
        rec = {k.split('"')[1]: int(v) for k, v in m.items()
               if k.startswith('dpn_gk_call_records_total')}
        print('calls=%d rate=%d flats=%d finals=%d all_final_s=%.3f '
              'all_in_postgresql_s=%.3f records=%r load=%s' % (
                  a.calls, a.rate, a.flats, finals, t_final, t_db, rec,
                  os.getloadavg()))


if __name__ == '__main__':
    main()
