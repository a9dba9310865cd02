#!/usr/bin/env python3
"""bench/gk_routes.py — what an outbound route costs dpn-gatekeeper per
call, next to an inbound call to a flat: user-space instructions per call
under callgrind (not disturbed by the other work on the machine), for
  flat:   sipp UAC outside -> gatekeeper -> sipp UAS as the flat's gateway;
  routed: sipp UAC as the flat's gateway (from its first address) ->
          gatekeeper -> route 200 -> sipp UAS as the route's peer;
N calls at 20/s each (INVITE, 180, 200, ACK, BYE, 200), minus an idle run
of the same length. Peer and gateway probing off, loopback trusted (the
flood limit would ban sipp). Not a test: figures for
docs/bench.md. The flat, its gateway (HA1s as mgmtd stores them), block,
peer group, peer and route are made straight in SQL.

    make && bench/gk_routes.py [--calls 300]
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
from dpn_test import Cluster, free_port  # noqa: E402
from gatekeeper import GK, Ua  # noqa: E402
from sip import free_udp_port  # noqa: E402
import mgmtd  # noqa: E402

SECRET = 'routes-bench-secret'
PEER = '127.0.2.44'


def setup(pg):
    mgmtd.migrate(pg)
    site, _ = mgmtd.seed(pg, flats=1, cidr='127.16.0.0/16')
    pg.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash, ha1_md5, "
            "ha1_sha256) SELECT f.flat_id, 'gw-' || f.number, sha256('x'), "
            "md5('gw-' || f.number || ':dpn:%s'), encode(sha256(convert_to("
            "'gw-' || f.number || ':dpn:%s', 'UTF8')), 'hex') FROM dpn.gk_flats f"
            % (SECRET, SECRET))
    pg.psql("SELECT dpn.broker_allocate(id, '02:00:00:00:00:01', "
            "ARRAY[]::macaddr[]) FROM dpn.gateways")
    return site, pg.psql('SELECT number, first_addr FROM dpn.gk_flats')[0]


def add_route(pg, site, peer_port):
    g = pg.scalar("INSERT INTO dpn.gk_peer_groups (site_id, name) VALUES "
                  "(%d, 'bench') RETURNING id" % site)
    pg.psql("INSERT INTO dpn.gk_peers (group_id, address, port) VALUES "
            "(%s, '%s', %d)" % (g, PEER, peer_port))
    pg.psql("INSERT INTO dpn.gk_routes (site_id, prefix, group_id) VALUES "
            "(%d, '200', %s)" % (site, g))


class Gk:
    """The gatekeeper under callgrind."""

    def __init__(self, pg, prefix):
        self.port = free_udp_port()
        self.p = subprocess.Popen(
            ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + prefix,
             GK, '--db', pg.conninfo, '--listen', '127.0.0.1:%d' % self.port,
             '--transport', 'udp', '--site', '100', '--probe-interval', '0',
             '--gateway-probe-interval', '0', '--trusted', '127.0.0.0/8',
             '--metrics-listen',
             '127.0.0.1:%d' % free_port()],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.p.stdout.readline().strip() != 'ready':
            raise RuntimeError('gatekeeper did not start')

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=120)


def sipp(args, cwd):
    return subprocess.Popen(['timeout', '-k', '5', '900', 'sipp'] + args, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def successful(out):
    for line in out.splitlines():
        if line.strip().startswith('Successful call'):
            last = line
    return int(last.split('|')[2])


def instructions(prefix):
    for fn in glob.glob(prefix):
        with open(fn, errors='replace') as f:
            for line in f:
                if line.startswith(('summary:', 'totals:')):
                    return int(line.split()[1])
    return 0


def run(pg, kind, calls, number, addr, peer_port, work):
    """One gatekeeper life: the gateway registers, then `calls` calls of
    kind (or none: idle for as long as a run takes). Instructions, calls
    answered."""
    prefix = os.path.join(work, 'cg-%s' % kind)
    with open(prefix, 'w'):     # valgrind opens it as root, writes it as the
        pass                    # user the daemon dropped to: make it theirs
    os.chmod(prefix, 0o666)
    gk = Gk(pg, prefix)
    try:
        ua = Ua(addr)
        r = ua.register(gk.port, number, 'gw-' + number, SECRET)
        if r is None or r.status != 200:
            raise RuntimeError('REGISTER: %s' % (r and r.first))
        port = ua.port
        ua.close()
        ok = 0
        if kind == 'idle':
            time.sleep(calls / 20 + 2)
        else:
            at = (addr, port) if kind == 'flat' else (PEER, peer_port)
            uas = sipp(['-sn', 'uas', '-i', at[0], '-p', str(at[1]), '-m',
                        str(calls)], work)
            src = ('127.0.0.1', number) if kind == 'flat' else (addr, '200-1101-1201')
            uac = sipp(['-sn', 'uac', '-i', src[0], '-p', str(free_udp_port()),
                        '-m', str(calls), '-r', '20', '-l', str(calls), '-s', src[1],
                        '127.0.0.1:%d' % gk.port], work)
            ok = successful(uac.communicate()[0])
            uas.kill()
            uas.communicate()
    finally:
        gk.stop()
    return instructions(prefix), ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--calls', type=int, default=300)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='dpn-gkroutes-')
    os.chmod(work, 0o755)       # the daemon's user opens its callgrind file
    with Cluster() as pg:
        site, (number, addr) = setup(pg)
        peer_port = free_udp_port()
        add_route(pg, site, peer_port)
        idle, _ = run(pg, 'idle', a.calls, number, addr, peer_port, work)
        print('idle run: %d instructions' % idle)
        for kind in ('flat', 'routed'):
            total, ok = run(pg, kind, a.calls, number, addr, peer_port, work)
            print('%-6s %d of %d calls answered; %d instructions/call'
                  % (kind, ok, a.calls, (total - idle) / max(ok, 1)))
    subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    main()
