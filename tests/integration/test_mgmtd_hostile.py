#!/usr/bin/env python3
"""test_mgmtd_hostile — mgmtd under hostile connections (issue 15, item 1),
bounded: slow senders are cut at the whole-request deadline however
steadily they trickle; with hostile connections from many addresses
holding the server at its connection limit a gateway's allocation request
is still answered within 1 s, and a gateway's keep-alive connection is not
among those shed. The figures at full scale come from
bench/mgmtd_hostile.py (docs/bench.md)."""
import os
import socket
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, wait_for  # noqa: E402
import hostile  # noqa: E402
import mgmtd  # noqa: E402

S = {}


@case
def slow_senders_are_cut_at_the_request_deadline(pg):
    with mgmtd.Server(pg, ['--request-timeout', '2']) as srv:
        socks = []
        for _ in range(20):
            s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
            s.sendall(hostile.HEAD)
            socks.append(s)
        t0 = time.monotonic()
        open_at_end = 0
        while time.monotonic() - t0 < 5:       # one byte a second each
            for s in socks:
                try:
                    s.send(b'x')
                except OSError:
                    pass
            time.sleep(1)
        for s in socks:
            s.settimeout(0.5)
            try:
                data = s.recv(100)
                open_at_end += 0 if data == b'' or data.startswith(b'HTTP/1.1 4') else 1
            except socket.timeout:
                open_at_end += 1
            except OSError:
                pass
            s.close()
        check_eq(open_at_end, 0, 'connections still open after 5 s of one byte a second')
        check_eq(srv.client().get('/healthz')[0], 200, 'served afterwards')


@case
def a_gateway_is_answered_within_1s_while_the_server_is_full(pg):
    args = ['--max-conns', '120', '--max-conns-per-ip', '16', '--threads', '2']
    with mgmtd.Server(pg, args) as srv:
        addrs = ['127.0.7.%d' % i for i in range(2, 10)]   # 8 x 16 = 128 > 120
        with hostile.Attack(srv.port, addrs, per_address=16, trickle_s=0.5,
                            duration=20) as attack:
            wait_for(lambda: attack.open >= 110, timeout=10, what='the attack to fill')
            time.sleep(1)
            got = hostile.probe(srv.port, S['gw'][0], S['gw'][1], '02:00:00:00:07:01',
                                count=8, every_s=0.25)
        print('attack: %d cuts, %d refused; gateway: %r' % (attack.cuts, attack.refused, got))
        check_eq([st for st, _ in got], [200] * 8, 'every allocation answered')
        worst = max(t for _, t in got)
        check(worst < 1.0, 'slowest allocation under attack: %.3f s' % worst)
        check(attack.cuts > 0, 'the guard cut hostile connections')


@case
def a_gateways_keepalive_connection_is_spared(pg):
    args = ['--max-conns', '120', '--max-conns-per-ip', '16', '--threads', '2']
    with mgmtd.Server(pg, args) as srv:
        req = hostile.allocation_request(S['gw'][0], S['gw'][1], '02:00:00:00:07:01',
                                         close=False)
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        try:
            s.sendall(req)
            check_eq(hostile.read_answer(s), 200, 'allocation before the attack')
            addrs = ['127.0.8.%d' % i for i in range(2, 10)]
            with hostile.Attack(srv.port, addrs, per_address=16, trickle_s=0.5,
                                duration=20) as attack:
                wait_for(lambda: attack.open >= 110, timeout=10, what='the attack to fill')
                wait_for(lambda: attack.cuts >= 50, timeout=10, what='shedding')
                s.sendall(req)
                status = hostile.read_answer(s)
            check_eq(status, 200, "the gateway's own connection, the oldest, after "
                     "%d connections were shed" % attack.cuts)
        finally:
            s.close()


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        site, flats = mgmtd.seed(cluster, site_number=300, cidr='127.30.0.0/24', flats=1,
                                 building=1)
        S['gw'] = mgmtd.add_gateway(cluster, flats[0])
        run(cluster)
