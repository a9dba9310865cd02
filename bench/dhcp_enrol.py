#!/usr/bin/env python3
"""bench/dhcp_enrol.py — first-sight enrolment through kea-dhcp4 and the
dpn hook: a new building of --flats flats (gateway credentials provisioned,
no MAC known, nothing allotted) whose devices (--per-flat each, on their
flat's port: circuit-id BBBB-FFFF) are all plugged in at once. Each device
sends one relayed DISCOVER (paced at --rate per second in total, flats
interleaved), answers the OFFER with a REQUEST, and counts as served on
the ACK. No retransmission: a device without an ACK within --timeout
seconds is a drop. Then the same devices ask again (known now) at the same
rate: what first-sight enrolment costs the leases of known devices. A
warm-up building of 100 flats at 100/s comes first, not counted.

perfdhcp cannot be used here: it sends one option 82 for every client,
and first sight of a building means one circuit-id per flat.

    make && bench/dhcp_enrol.py [--flats 1000] [--per-flat 2]
        [--rates 100,200,500] [--threads N] [--durable] [--param name=N]

Kea runs as dpn-kea-config writes it by default (multi-threaded,
kea_config.default_threads()); --threads N sets its packet threads (and
the hook's db-pool), 1 single-threaded. One fresh building per rate; a throwaway PostgreSQL
(fsync off unless --durable); loopback only; every run bounded by its
device count and --timeout."""
import argparse
import os
import select
import shutil
import socket
import struct
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster, tmpdir  # noqa: E402
import broker  # noqa: E402
import dhcp  # noqa: E402

CIDR = '127.16.0.0/12'


def dora_all(kea_port, devices, rate, timeout):
    """devices: [(circuit, mac)]. Paced DISCOVERs, REQUEST on OFFER.
    Returns (served, drops, seconds, [latency ms of each ACK])."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    dest = ('127.0.0.1', kea_port)
    xids, t_sent, acked = {}, {}, {}
    base = int.from_bytes(os.urandom(4), 'big') & 0x7fffffff
    t0 = time.monotonic()
    nxt = 0
    last_ack = t0
    while True:
        now = time.monotonic()
        while nxt < len(devices) and now >= t0 + nxt / rate:
            circuit, mac = devices[nxt]
            xid = (base + nxt) & 0xffffffff
            xids[xid] = nxt
            t_sent[nxt] = time.monotonic()
            sock.sendto(dhcp.packet(dhcp.DISCOVER, mac, circuit, xid), dest)
            nxt += 1
        if nxt == len(devices) and (len(acked) == len(devices) or
                                    now > t0 + nxt / rate + timeout):
            break
        wait = max(0.0, min(0.005, t0 + nxt / rate - now)) if nxt < len(devices) else 0.05
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            continue
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                break
            try:
                rep = dhcp.Reply(data)
            except ValueError:
                continue
            i = xids.get(rep.xid)
            if i is None or i in acked:
                continue
            circuit, mac = devices[i]
            if rep.type == dhcp.OFFER:
                sock.sendto(dhcp.packet(dhcp.REQUEST, mac, circuit, rep.xid,
                                        requested=rep.yiaddr,
                                        server_id=rep.server_id), dest)
            elif rep.type == dhcp.ACK:
                acked[i] = (time.monotonic() - t_sent[i]) * 1000
                last_ack = time.monotonic()
    sock.close()
    lat = sorted(acked.values())
    return len(acked), len(devices) - len(acked), last_ack - t0, lat


def pct(lat, p):
    return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else float('nan')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--flats', type=int, default=1000)
    ap.add_argument('--per-flat', type=int, default=2)
    ap.add_argument('--rates', default='100,200,500')
    ap.add_argument('--timeout', type=float, default=5.0)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--durable', action='store_true')
    ap.add_argument('--param', action='append', default=[],
                    help="a hook parameter, name=value (e.g. enrol-batch=1)")
    a = ap.parse_args()
    rows = []
    with Cluster(durable=a.durable) as pg:
        tmp = tmpdir('dpn-dhcp-enrol-')
        kea = None
        try:
            dhcp.migrate(pg)
            s = broker.make_site(pg, cidr=CIDR, flats=1, block_size=8,
                                 max_block_size=64)
            kea = dhcp.Kea(pg, tmp, [(s['pool'], CIDR)], lease_cmds=False,
                           hook_params=dict([('sweep-interval', 5)] + [
                               (p.split('=', 1)[0], int(p.split('=', 1)[1])) for p in a.param]),
                           threads=a.threads).start()
            # Warm-up, not counted: a building of 100 flats at 100/s (the
            # hook's and Kea's connections open, plans get cached).
            warm = [c for _, c in broker.add_building(pg, s['site'], 1999, 100)]
            dora_all(kea.port, [(c, broker.mac(0x3f0000 + i)) for i, c in enumerate(warm)],
                     100, a.timeout)
            for k, rate in enumerate(int(r) for r in a.rates.split(',')):
                circuits = [c for _, c in broker.add_building(pg, s['site'], 2001 + k, a.flats)]
                devices = [(c, broker.mac(0x400000 + 0x10000 * k + d * a.flats + i))
                           for d in range(a.per_flat) for i, c in enumerate(circuits)]
                st0 = kea.stats()
                first = dora_all(kea.port, devices, rate, a.timeout)
                st1 = kea.stats()
                again = dora_all(kea.port, devices, rate, a.timeout)
                st2 = kea.stats()
                for name, r in (('first sight', first), ('known', again)):
                    row = dict(run=name, rate=rate, devices=len(devices),
                               served=r[0], drops=r[1], seconds=round(r[2], 2),
                               per_s=round(r[0] / r[2], 1) if r[2] else 0,
                               p50_ms=round(pct(r[3], 0.5), 1),
                               p99_ms=round(pct(r[3], 0.99), 1))
                    sa, sb = (st0, st1) if name == 'first sight' else (st1, st2)
                    # Kea's reservation lookups that reached PostgreSQL,
                    # and answers the host cache could not keep.
                    row['hc_misses'] = sb['host-cache-misses'] - sa['host-cache-misses']
                    row['hc_skipped'] = sb['host-cache-skipped'] - sa['host-cache-skipped']
                    if name == 'first sight':
                        row['enrolled'] = st1['enrolled'] - st0['enrolled']
                        row['enrol_failed'] = st1['enrol-failed'] - st0['enrol-failed']
                        # Transactions the enrolments took (grouped: fewer).
                        row['enrol_txns'] = (st1['enrol-transactions']
                                             - st0['enrol-transactions'])
                    print(row, flush=True)
                    rows.append(row)
        finally:
            if kea:
                kea.stop()
                warn = [l for l in kea.output().splitlines() if 'DPN_DHCP_WARN' in l]
                if warn:
                    print('hook log:\n  ' + '\n  '.join(warn[-5:]))
            shutil.rmtree(tmp, ignore_errors=True)
    print('\n| run | offered/s | devices | served | drops | served/s | p50 ms | p99 ms | enrolled | transactions |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print('| %s | %d | %d | %d | %d | %.0f | %.1f | %.1f | %s | %s |' % (
            r['run'], r['rate'], r['devices'], r['served'], r['drops'], r['per_s'],
            r['p50_ms'], r['p99_ms'], r.get('enrolled', ''), r.get('enrol_txns', '')))


if __name__ == '__main__':
    main()
