#!/usr/bin/env python3
"""tests/lib/demo_ports.py — the DPN_DEMO_* ports of a demo under test, as
shell assignments for `eval`: the web/API port, Kea's, the gatekeeper's,
the gatewayds', rtpengine's ng port and a 200-port RTP range, all chosen
below the kernel's ephemeral range (dpn_test.free_port), so no socket that
some process binds to port 0 meanwhile can take one before the demo binds
it, and none of the single ports inside the RTP range.

    eval "$(python3 tests/lib/demo_ports.py)"
"""
import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpn_test import PORT_HIGH, PORT_LOW, free_port  # noqa: E402

RTP_PORTS = 200


def rtp_range():
    """(first, last) of RTP_PORTS consecutive ports free for UDP on
    127.0.0.1 a moment ago."""
    for _ in range(50):
        first = random.randrange(PORT_LOW, PORT_HIGH - RTP_PORTS, 2)
        socks = []
        try:
            for port in range(first, first + RTP_PORTS):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(('127.0.0.1', port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return first, first + RTP_PORTS - 1
    raise RuntimeError('no free range of %d ports' % RTP_PORTS)


def main():
    lo, hi = rtp_range()
    taken = set(range(lo, hi + 1))

    def port(kind=socket.SOCK_DGRAM, both=False):
        while True:
            p = free_port(kind, both)
            if p not in taken:
                taken.add(p)
                return p
    print('export DPN_DEMO_LISTEN=127.0.0.1:%d' % port(socket.SOCK_STREAM))
    print('export DPN_DEMO_DHCP_PORT=%d' % port())
    print('export DPN_DEMO_SIP_PORT=%d' % port(both=True))
    print('export DPN_DEMO_GW_SIP_PORT=%d' % port(both=True))
    print('export DPN_DEMO_NG_PORT=%d' % port())
    print('export DPN_DEMO_RTP_PORTS=%d-%d' % (lo, hi))


if __name__ == '__main__':
    main()
