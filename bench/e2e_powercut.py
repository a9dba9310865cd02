#!/usr/bin/env python3
"""bench/e2e_powercut.py — a building's power cut in the namespace topology
of the system test (tests/e2e/): one complex of N flats with M handsets
each, every gateway box and handset a namespace of its own that gets its
address by real DHCP (udhcpc -> dhcrelay -a -> Kea + the dpn hook), then
dpn-gatewayd registers the flat with dpn-gatekeeper and every handset
REGISTERs with its box. Each run destroys every box and handset namespace
and brings them all back at once; it prints, from power-on, when the last
device of each step was done (plugged, addressed, flat registered, handset
registered). Not a test (no pass/fail): figures for docs/bench.md. Root.

    make && bench/e2e_powercut.py [--flats 30] [--handsets 3] [--runs 3]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'lib'))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'e2e'))
os.environ.setdefault('DPN_BUILD', os.path.join(HERE, '..', 'build', 'rel'))
from topo import Topo  # noqa: E402
import system  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--flats', type=int, default=30)
    ap.add_argument('--handsets', type=int, default=3)
    ap.add_argument('--runs', type=int, default=3)
    a = ap.parse_args()
    if not 1 <= a.flats <= 99 or not 1 <= a.handsets <= 7:
        sys.exit('--flats 1..99 (one floor), --handsets 1..7 (block of 8)')
    topo = Topo()
    try:
        with system.cluster(topo) as pg:
            sy = system.System(topo, pg, [
                ('a', 100, '203.0.113.1', [(1201 + i, a.handsets) for i in range(a.flats)],
                 'a1')])
            topo.on_signal(lambda: sy.close())
            sy.build()
            cx = sy.complexes[0]
            n = a.flats * (1 + a.handsets)
            print('load: %s' % subprocess.run(['uptime'], capture_output=True,
                                              text=True).stdout.strip())
            print('first power-on: %.2f s for %d devices' % (cx.bring_up(), n))
            for r in range(a.runs):
                cx.power_cut()
                t = cx.bring_up()
                st = cx.last_steps
                plugged = max(st['boxes plugged'], st['handsets plugged'])
                done = max(st['flats registered'], st['handsets registered'])
                print('run %d: %d flats, %d devices: all registered again %.2f s after '
                      'power-on; %.2f s after the last namespace was ready' % (
                          r + 1, a.flats, n, t, done - plugged))
            print('load: %s' % subprocess.run(['uptime'], capture_output=True,
                                              text=True).stdout.strip())
            sy.stop_daemons()
            topo.close()
            sy.close()
    finally:
        topo.close()


if __name__ == '__main__':
    main()
