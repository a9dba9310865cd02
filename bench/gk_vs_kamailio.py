#!/usr/bin/env python3
"""bench/gk_vs_kamailio.py — issue 10's benchmark: an inbound call to a flat,
sipp UAC -> element -> sipp UAS standing in for the flat's gateway, on
loopback over UDP, dpn-gatekeeper against Kamailio 5.6 from Debian doing the
same job (bench/kamailio_gk.cfg: tm, rr, maxfwd, identity headers removed,
number -> registered address from an htable of the same number of flats,
`-x tlsf`), side by side in one run.

The gatekeeper runs on a throwaway PostgreSQL with a site of FLATS flats
(buildings 1101, 1102, ... of up to 10,000, numbered from 1201), one of which (100-1101-1201)
has a gateway registered with digest from the UAS's address and port.
Both elements are dialled with the same Request-URI user, 10011011201.

  callgrind  user-space instructions per call: 600 calls at 20/s under
             valgrind --tool=callgrind, minus an idle run of the same
             length, / 600 (load-independent: the regression guard);
             with --flats 100,100000 the gatekeeper alone at each size
             (the cost per call must not grow with the flats cached).
  cpu        CPU-seconds per 10,000 calls at 1,000 calls/s, interleaved
             runs, medians (load-sensitive).
  rate       the highest rate with < 0.1% failed calls, 5 s per step.

    make && bench/gk_vs_kamailio.py [--flats 10000] [callgrind] [cpu] [rate]
    BENCH_RUNS, BENCH_RATES as in bench/sip_vs_kamailio.py.
Everything is bounded (sipp -m and timeout); elements stopped by PID."""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(HERE, '..', 'build', 'rel'))
import sip_vs_kamailio as svk  # noqa: E402
from dpn_test import Cluster  # noqa: E402
from gatekeeper import GK, Ua  # noqa: E402
import mgmtd  # noqa: E402

SECRET = 'bench-secret'
FLAT = '100-1101-1201'
DIALLED = '10011011201'
UAS_ADDR = '127.16.0.1'


def seed(pg, flats):
    """The site, FLATS flats, one gateway with its block; returns nothing."""
    mgmtd.migrate(pg)
    site = pg.scalar("INSERT INTO dpn.sites (number, block_size, "
                     "max_block_size) VALUES (100, 4, 10) RETURNING id")
    pg.psql("INSERT INTO dpn.pools (site_id, cidr) VALUES (%s, "
            "'127.16.0.0/16')" % site)
    for b in range((flats + 9999) // 10000):
        n = min(10000, flats - b * 10000)
        bid = pg.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES "
                        "(%s, %d) RETURNING id" % (site, 1101 + b))
        pg.psql("INSERT INTO dpn.flats (building_id, number) SELECT %s, "
                "(1201 + g) %% 10000 FROM generate_series(0, %d) g"
                % (bid, n - 1))
    pg.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash, ha1_md5,"
            " ha1_sha256) SELECT f.flat_id, 'gw-' || f.number, sha256('x'), "
            "md5('gw-' || f.number || ':dpn:%s'), encode(sha256(convert_to("
            "'gw-' || f.number || ':dpn:%s', 'UTF8')), 'hex') FROM dpn.gk_flats"
            " f WHERE f.number = '%s'" % (SECRET, SECRET, FLAT))
    pg.psql("SELECT dpn.broker_allocate(g.id, '02:00:00:00:00:01'::macaddr, "
            "ARRAY[]::macaddr[]) FROM dpn.gateways g")
    first = pg.scalar("SELECT first_addr FROM dpn.gk_flats WHERE number = '%s'"
                      % FLAT)
    if first != UAS_ADDR:
        sys.exit('the flat got %s, not %s' % (first, UAS_ADDR))


class GkElement:
    """dpn-gatekeeper on 127.0.0.1, its flat registered from UAS_ADDR:uport."""

    def __init__(self, pg, uport, wrap=()):
        self.kind, self.port = 'gk', svk.free_port()
        # As the unprivileged user from the start (setpriv execs, no extra
        # process): valgrind opens its output file before the daemon would
        # drop privileges, and could not write it afterwards.
        user = ['setpriv', '--reuid', 'dpn', '--regid', 'dpn',
                '--init-groups'] if os.geteuid() == 0 else []
        self.p = subprocess.Popen(
            user + list(wrap) + [GK, '--db', pg.conninfo, '--listen',
                          '127.0.0.1:%d' % self.port, '--site', '100',
                          # sipp sends the load from one address: trusted,
                          # as a peer would be (else the flood limit bans it)
                          '--trusted', '127.0.0.1, %s' % UAS_ADDR,
                          '--metrics-listen', '127.0.0.1:%d' % svk.free_port()],
            stdout=subprocess.PIPE, text=True, stderr=open(os.path.join(
                svk.WORK, 'gk-%d.err' % self.port), 'w'))
        if self.p.stdout.readline().strip() != 'ready':
            self.stop()
            with open(os.path.join(svk.WORK, 'gk-%d.err' % self.port)) as f:
                raise RuntimeError('gatekeeper did not start: ' +
                                   f.read()[-2000:])
        ua = Ua(UAS_ADDR, uport)
        try:
            r = ua.register(self.port, FLAT, 'gw-' + FLAT, SECRET,
                            expires=3600)
        finally:
            ua.close()
        if r is None or r.status != 200:
            self.stop()
            raise RuntimeError('gateway not registered: %r' %
                               (r and r.status))

    pids = svk.Element.pids
    cpu_s = svk.Element.cpu_s

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class KamElement(svk.Element):
    def __init__(self, flats, uport, wrap=()):
        svk.Element.__init__(self, 'kamgk', uport, wrap, cfg_edit=lambda t: t
                             .replace('FLATS', str(flats))
                             .replace('FLAT_NUMBER', DIALLED)
                             .replace('TARGET', 'sip:%s:%d' % (UAS_ADDR,
                                                                uport)))


def element(kind, ctx, uport, wrap=()):
    if kind == 'gk':
        return GkElement(ctx['pg'], uport, wrap)
    return KamElement(ctx['flats'], uport, wrap)


def run_calls(kind, ctx, calls, rate, wrap=(), scen=svk.UAS_NO180):
    uport = svk.free_port()
    el = element(kind, ctx, uport, wrap)    # registers from UAS_ADDR:uport
    # The gatekeeper probes its registered gateways with OPTIONS (every
    # 30 s): sipp's UAS takes each for a call of its -m count, and the last
    # real call then found no UAS (the "1 failed" of earlier runs).
    u = svk.uas(uport, calls + 20, scen, addr=UAS_ADDR)
    time.sleep(0.5)                         # sipp bound
    c0 = el.cpu_s()
    t0 = time.time()
    ok = failed = 0
    if calls:
        ok, failed = svk.uac(el.port, calls, rate, calls // rate + 120,
                             service=DIALLED)
    else:
        time.sleep(ctx['idle_s'])
    ctx['idle_s'] = time.time() - t0
    c1 = el.cpu_s()
    el.stop()
    svk.stop_uas(u)
    return (c1[0] - c0[0], c1[1] - c0[1]), ok, failed


def cg(kind, ctx, calls):
    prefix = os.path.join(svk.WORK, 'cg-%s-%d-%d-' % (kind, ctx['flats'],
                                                       calls))
    wrap = ['valgrind', '--tool=callgrind', '--trace-children=yes',
            '--callgrind-out-file=' + prefix + '%p']
    os.chmod(svk.WORK, 0o1777)     # the gatekeeper runs as dpn
    _, ok, failed = run_calls(kind, ctx, calls, 20, wrap, scen=None)
    return svk.callgrind_total(prefix), ok, failed


def mode_callgrind(ctx, kinds):
    res = {}
    for kind in kinds:
        full, ok, failed = cg(kind, ctx, 600)
        idle, _, _ = cg(kind, ctx, 0)
        res[kind] = (full - idle) / 600
        print('callgrind %s (%d flats): %d instructions/call (600 calls at '
              '20/s: %d ok, %d failed; total %d, idle %d over %.0f s)' %
              (kind, ctx['flats'], res[kind], ok, failed, full, idle,
               ctx['idle_s']), flush=True)
    if len(res) == 2:
        print('callgrind ratio gk/kam: %.3f' % (res['gk'] / res['kam']),
              flush=True)
    return res


def mode_cpu(ctx, kinds):
    runs = int(os.environ.get('BENCH_RUNS', '5'))
    got = {k: [] for k in kinds}
    for i in range(runs):
        for kind in kinds:
            (usr, sys_), ok, failed = run_calls(kind, ctx, 10000, 1000)
            got[kind].append(usr + sys_)
            print('cpu run %d %s: %.2f CPU-s per 10000 calls at 1000/s '
                  '(%d ok, %d failed)' % (i + 1, kind, usr + sys_, ok,
                                          failed), flush=True)
    m = {k: statistics.median(v) for k, v in got.items()}
    print('cpu median: %s' % ', '.join('%s %.2f s' % kv for kv in m.items()),
          flush=True)
    if len(m) == 2:
        print('cpu ratio gk/kam: %.3f' % (m['gk'] / m['kam']), flush=True)


def mode_rate(ctx, kinds):
    svk.highest_rate(kinds, svk.rate_steps('1000,1500,2000,2500,3000,4000'),
                     lambda kind, r, calls: run_calls(kind, ctx, calls, r)[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--flats', default='10000',
                    help='comma-separated sizes; more than one: the '
                         'gatekeeper alone, callgrind at each')
    ap.add_argument('modes', nargs='*')
    a = ap.parse_args()
    sizes = [int(x) for x in a.flats.split(',')]
    modes = a.modes or ['callgrind', 'cpu', 'rate']
    kinds = ('gk',) if len(sizes) > 1 else ('gk', 'kam')
    try:
        for flats in sizes:
            with Cluster() as pg:
                seed(pg, flats)
                ctx = {'pg': pg, 'flats': flats, 'idle_s': 30}
                for m in modes:
                    print('== %s, %d flats  (%s)' % (m, flats, subprocess.run(
                        ['uptime'], capture_output=True,
                        text=True).stdout.strip()), flush=True)
                    {'callgrind': mode_callgrind, 'cpu': mode_cpu,
                     'rate': mode_rate}[m](ctx, kinds)
    finally:
        svk.shutil.rmtree(svk.WORK, ignore_errors=True)


if __name__ == '__main__':
    main()
