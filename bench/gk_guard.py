#!/usr/bin/env python3
"""bench/gk_guard.py — what a request costs the gatekeeper, in user-space
instructions under callgrind (not affected by the machine's load):
  answered: an OPTIONS from an untracked-limit source, parsed and answered
            200 (the guard counts it: pike-limit high);
  banned:   a datagram from a banned source, dropped by the guard before
            parsing (the point of sip_tp_cfg.admit);
  scanner:  an OPTIONS with User-Agent friendly-scanner from a trusted-off,
            scanner-ban-off source (parsed, then dropped);
  answered, peers: as answered, with --peers route peers configured (the
            sender not one of them: the guard's binary search misses);
  peer:     as answered from a route peer (pike-limit at its default 16:
            exempt, so never counted nor banned).
Each run sends N (default 5,000) messages from 127.0.0.5, one at a time
after the last was answered (or after 1 ms when none comes back), to a
fresh gatekeeper (bans of earlier runs deleted first: they would be
restored). The figure is the instructions of the transport's UDP handler
(on_udp, inclusive: the socket read, the guard, parsing, the proxy core,
the answer's send) divided by N, so the once-a-second tick and start-up do
not blur it; and of those, the guard's (gk_guard_admit). Not a test.

    make && bench/gk_guard.py [--messages 5000] [--peers 64]
"""
import argparse
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
import gatekeeper  # noqa: E402
from dpn_test import Cluster  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

WORK = tempfile.mkdtemp(prefix='dpn-gkguard-bench-')
os.chmod(WORK, 0o777)    # the gatekeeper runs as `dpn`


def wrapper(prefix):
    path = os.path.join(WORK, 'gk-wrap.sh')
    with open(path, 'w') as f:
        # as `dpn` from the start: callgrind's file, made at start, must be
        # writable at exit, after the privilege drop
        f.write('#!/bin/sh\nexec setpriv --reuid=dpn --regid=dpn --init-groups valgrind --tool=callgrind '
                '--callgrind-out-file=%s '
                '%s "$@"\n' % (prefix, os.path.join(os.environ['DPN_BUILD'], 'bin',
                                                     'dpn-gatekeeper')))
    os.chmod(path, stat.S_IRWXU)
    return path


def inclusive(fn, funcs=('transport.c:on_udp', 'guard.c:gk_guard_admit')):
    """Inclusive instructions of each of funcs in profile fn."""
    out = subprocess.run(['callgrind_annotate', '--inclusive=yes', '--threshold=100', fn],
                         capture_output=True, text=True, check=True).stdout
    got = {}
    for line in out.splitlines():
        for f in funcs:
            if line.rstrip().endswith(f) and f not in got:
                got[f] = int(line.split()[0].replace(',', ''))
    if funcs[0] not in got:
        raise RuntimeError('no %s in %s' % (funcs[0], fn))
    return got.get(funcs[0], 0), got.get(funcs[1], 0)


def options(port, ua=''):
    return ('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5:5999;'
            'branch=z9hG4bK%%d;rport\r\nMax-Forwards: 70\r\nFrom: <sip:b@x>;tag=1\r\n'
            'To: <sip:127.0.0.1:%d>\r\nCall-ID: %%d@bench\r\nCSeq: 1 OPTIONS\r\n%s'
            'Content-Length: 0\r\n\r\n' % (port, port, ua))


def set_peers(pg, n, with_sender):
    """n route peers of the site (16 a group) on 127.0.4.x, or 127.0.0.5
    (the sender) among them; none for n 0."""
    pg.psql('DELETE FROM dpn.gk_peer_groups')
    for i in range(n):
        if i % 16 == 0:
            pg.psql("INSERT INTO dpn.gk_peer_groups (site_id, name) SELECT id, "
                    "'bench%d' FROM dpn.sites" % (i // 16))
        addr = '127.0.0.5' if with_sender and i == n // 2 else '127.0.4.%d' % (i + 1)
        pg.psql("INSERT INTO dpn.gk_peers (group_id, address) SELECT max(id), "
                "'%s' FROM dpn.gk_peer_groups" % addr)


def run(pg, kind, n, peers=0):
    out = os.path.join(WORK, 'cg-%s.out' % kind.replace(', ', '-'))
    gatekeeper.GK = wrapper(out)
    pg.psql('DELETE FROM dpn.gk_bans')
    set_peers(pg, peers if kind in ('answered, peers', 'peer') else 0, kind == 'peer')
    args = ['--pike-limit', '1000000', '--scanner-ban', 'no']
    if kind == 'banned':
        args = ['--pike-limit', '5', '--pike-window', '600s']
    if kind == 'peer':
        args = []                               # the default pike-limit
    if peers:
        args += ['--probe-interval', '0']       # no OPTIONS to the peers
    gk = gatekeeper.Gatekeeper(pg, args=args, trusted=None)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.5', 0))
    s.settimeout(0.001 if kind in ('banned', 'scanner') else 2)
    tmpl = options(gk.port, 'User-Agent: friendly-scanner\r\n' if kind == 'scanner' else '')
    t0 = time.time()
    answers = 0
    if kind == 'banned':            # 6 requests: the 6th bans the source
        for i in range(6):
            s.sendto((tmpl % (i, i)).encode(), ('127.0.0.1', gk.port))
    for i in range(n):
        s.sendto((tmpl % (i + 10, i + 10)).encode(), ('127.0.0.1', gk.port))
        try:
            s.recv(65536)
            answers += 1
        except socket.timeout:
            pass
    took = time.time() - t0
    time.sleep(1.2)                 # a tick: the counters reach /metrics
    m = gk.metrics()
    m['answers'] = answers
    s.close()
    gk.close()
    return inclusive(out), took, m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--messages', type=int, default=5000)
    ap.add_argument('--peers', type=int, default=64)
    a = ap.parse_args()
    with Cluster() as pg:
        env = Env(pg)
        try:
            b = env.building(1101, floors=1, units_per_floor=10)
            env.flats(b['id'])
            want = {'answered': 'answers', 'answered, peers': 'answers',
                    'peer': 'answers',
                    'banned': 'dpn_gk_guard_dropped_total{reason="banned"}',
                    'scanner': 'dpn_gk_guard_dropped_total{reason="scanner"}'}
            for kind in ('answered', 'banned', 'scanner', 'answered, peers', 'peer'):
                (ir, guard), took, m = run(pg, kind, a.messages, a.peers)
                n = a.messages + (6 if kind == 'banned' else 0)
                print('%-15s %6.0f instructions a message, %4.0f of them the guard\'s '
                      '(%d messages, %.1f s; %s = %d)' % (kind, ir / n, guard / n,
                                                         a.messages, took, want[kind],
                                                         m.get(want[kind], 0)),
                      flush=True)
        finally:
            env.srv.stop()
    print('uptime:', os.popen('uptime').read().strip())


if __name__ == '__main__':
    main()
