#!/usr/bin/env python3
"""bench/gk_topo_cost.py — what the public/private sides and topology hiding
cost the gatekeeper per call, in user-space instructions under callgrind
(not affected by the machine's load): the same calls, sipp UAC (outside) ->
dpn-gatekeeper -> sipp UAS (a registered flat gateway), each INVITE, 200,
ACK, re-INVITE, 200, ACK, BYE, 200 (tests/sip/uac_topo.xml, uas_topo.xml),
with one listen address (no hiding) and with a public (127.0.0.1) and a
private side (127.0.0.2). Per call = (run with N calls - idle run of the
same length) / N. --hold MS holds each call that long before its BYE: a
hidden dialog answered for more than about a second is written to
PostgreSQL and deleted again (topostore.c), which shorter calls never
are. Not a test: figures for docs/bench.md.

    make && bench/gk_topo_cost.py [--calls 300] [--rate 30] [--hold 0]
"""
import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
from dpn_test import Cluster  # noqa: E402
from gatekeeper import Gatekeeper, Ua  # noqa: E402
from gk_powercut import SECRET, setup  # noqa: E402
from sip import Sipp, free_udp_port  # noqa: E402
import sip_vs_kamailio as svk  # noqa: E402  (callgrind_total, WORK)

PRIV = '127.0.0.2'


def run(pg, flat, two, calls, rate, seconds, work, hold=0):
    """Total instructions of one gatekeeper run; calls 0: idle `seconds`."""
    number, addr = flat
    prefix = os.path.join(work, 'cg-%s-%d-' % ('two' if two else 'one', calls))
    pport = free_udp_port()
    args = ['--listen-private', '%s:%d' % (PRIV, pport)] if two else []
    # As dpn from the start: valgrind makes its output file at start and
    # could not write it after the daemon's privilege drop.
    gk = Gatekeeper(pg, args=args, wrap=[
        'runuser', '-u', 'dpn', '--', 'valgrind', '--tool=callgrind',
        '--callgrind-out-file=' + prefix + '%p'])
    t0 = time.time()
    ua = Ua(addr)
    ua.peer_host = PRIV if two else '127.0.0.1'
    r = ua.register(pport if two else gk.port, number, 'gw-' + number, SECRET)
    port = ua.port
    ua.close()
    ok = None
    if calls:
        g = Sipp(Sipp._scenario('uas_topo') + ['-i', addr, '-p', str(port),
                                               '-m', str(calls), '-timeout', '300'])
        c = Sipp(Sipp._scenario('uac_topo') + [
            '-i', '127.0.0.1', '-p', str(free_udp_port()), '-m', str(calls),
            '-r', str(rate), '-timeout', '300', '-s', number, '-d', str(hold),
            '127.0.0.1:%d' % gk.port]).wait()
        g.wait()
        ok = c.count('Successful call')
    else:
        time.sleep(seconds)
    took = time.time() - t0
    gk.stop()           # runuser reports the signal: its exit status is not ours
    os.unlink(gk.log_path)
    return svk.callgrind_total(prefix), took, ok, r and r.status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--rate', type=int, default=30)
    ap.add_argument('--hold', type=int, default=0, help='ms before the BYE')
    a = ap.parse_args()
    work = svk.WORK
    os.chmod(work, 0o1777)          # the gatekeeper writes as user dpn
    try:
        with Cluster() as pg:
            flat = setup(pg, 1)[0]
            for two in (False, True):
                full, took, ok, reg = run(pg, flat, two, a.calls, a.rate, 0, work,
                                          a.hold)
                idle, _, _, _ = run(pg, flat, two, 0, 0, took, work)
                print('%s, hold %d ms: %d instructions/call (%s/%d calls ok, '
                      'REGISTER %s; total %d, idle %d over %.0f s) load=%s' % (
                          'two sides, hiding' if two else 'one side', a.hold,
                          (full - idle) / a.calls, ok, a.calls, reg, full, idle,
                          took, os.getloadavg()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
