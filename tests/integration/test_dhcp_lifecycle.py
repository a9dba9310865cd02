#!/usr/bin/env python3
"""tests/integration/test_dhcp_lifecycle.py — the dhcp-hook over time, in a
real kea-dhcp4 (short leases) against a real PostgreSQL: explicit deletion
removes the lease through Kea's control channel so the next REQUEST is
NAKed; expiry is recorded; a gateway gone for its grace period loses its
block; PostgreSQL stopped during traffic (Kea goes on, the hook counts and
catches up, nothing lost or double-allotted); config-reload leaks nothing."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for
import broker
import dhcp
import mgmtd

C1, C2 = b'1101-1201', b'1101-1202'
LIFETIME = 3       # seconds: leases expire during the test
GRACE = 2          # seconds a gone gateway keeps its block


class Ctx:
    pass





@case
def deletion_removes_the_lease_and_next_request_is_naked(ctx):
    m = broker.mac(0x2001)
    ack = dhcp.acked(ctx.relay, C1, m)
    renew = ctx.relay.request(C1, m, ack.yiaddr, renew=True)
    check(renew is not None and renew.type == dhcp.ACK, 'renew before: %r' % renew)
    # The operator deletes the handset in mgmtd; mgmtd's lease remover
    # (kea_ctrl) tells Kea.
    status, body = ctx.api.get('/api/v1/flats/%d/handsets' % ctx.flat1)
    check_eq(status, 200, 'GET handsets')
    hid = [h['id'] for h in body['items'] if h['mac'] == m]
    check_eq(len(hid), 1, 'handset listed')
    check_eq(ctx.api.delete('/api/v1/handsets/%d' % hid[0])[0], 204, 'DELETE handset')
    wait_for(lambda: ctx.pg.scalar("SELECT count(*) FROM dpn.lease_deletions") == '0',
             10, 'lease_deletions drained')
    got = ctx.kea.command('lease4-get', {'ip-address': ack.yiaddr})
    check_eq(got['result'], 3, 'lease4-get after deletion (3 = empty)')
    # The drain flushes the hook's identity cache right after the deletion
    # commits; a renewal that slips in before is ignored and retried, as a
    # client would.
    refused = ctx.kea.stats()['refused']
    wait_for(lambda: (lambda r: r is not None and r.type == dhcp.NAK)(
        ctx.relay.request(C1, m, ack.yiaddr, renew=True, timeout=1)),
        10, 'NAK to the renewal after deletion')
    check(ctx.kea.stats()['refused'] > refused, 'refused counter')


@case
def expiry_is_recorded(ctx):
    m = broker.mac(0x2002)
    ack = dhcp.acked(ctx.relay, C1, m)
    wait_for(lambda: dhcp.api_assignment(ctx.api, ctx.flat1, m)['online'], 10,
             'online in mgmtd')
    dhcp.check_recorded(ctx.pg, 'expire', m, ack.yiaddr, online=False,
                        timeout=LIFETIME + 10)
    a = dhcp.api_assignment(ctx.api, ctx.flat1, m)
    check(a is not None and a['online'] is False and a['last_seen'],
          'expired device in mgmtd: %r' % a)
    check_eq(a['address'], ack.yiaddr, 'address in mgmtd')


@case
def gone_gateway_loses_its_block_after_grace(ctx):
    gw = broker.mac(0x2100)
    dhcp.allocate(ctx.pg, ctx.site['gateways'][1], gw)
    ack = dhcp.acked(ctx.relay, C2, gw)
    before = ctx.kea.stats()['gateways-deleted']
    ctx.relay.release(C2, gw, ack.yiaddr, ack.server_id)
    wait_for(lambda: dhcp.lease_events(ctx.pg, 'release', gw) == 1, 10, 'release event')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.blocks WHERE flat_id = %d"
                           % ctx.flat2), '1', 'block kept during the grace period')
    wait_for(lambda: ctx.pg.scalar("SELECT count(*) FROM dpn.blocks WHERE flat_id = %d"
                                   % ctx.flat2) == '0', GRACE + 10, 'block deleted')
    check_eq(ctx.kea.stats()['gateways-deleted'], before + 1, 'gateways-deleted')
    # The box comes back: it is served again from a new block.
    again = dhcp.acked(ctx.relay, C2, gw)
    first = ctx.pg.scalar("SELECT dpn.ip4(lower(range)) FROM dpn.blocks "
                          "WHERE flat_id = %d" % ctx.flat2)
    check_eq(again.yiaddr, first, 'gateway address after coming back')


@case
def gateway_back_within_grace_keeps_its_block(ctx):
    gw = broker.mac(0x2100)
    ack = dhcp.acked(ctx.relay, C2, gw)
    ctx.relay.release(C2, gw, ack.yiaddr, ack.server_id)
    wait_for(lambda: dhcp.lease_events(ctx.pg, 'release', gw) == 2, 10, 'release event')
    dhcp.acked(ctx.relay, C2, gw)
    wait_for(lambda: ctx.pg.scalar("SELECT count(*) FROM dpn.dhcp_gateway_grace") == '0',
             10, 'grace cancelled by the new lease')
    time.sleep(GRACE + 2)
    check_eq(ctx.pg.scalar("SELECT dpn.ip4(lower(range)) FROM dpn.blocks "
                           "WHERE flat_id = %d" % ctx.flat2), ack.yiaddr,
             'block after the grace period')


def no_double_allotment(ctx, kea):
    """Every active lease in Kea belongs to the device dpn assigned it to."""
    leases = kea.command('lease4-get-all')
    for l in (leases.get('arguments') or {}).get('leases', []):
        if l.get('state', 0) != 0:
            continue
        owner = ctx.pg.scalar("SELECT mac FROM dpn.assignments WHERE "
                              "addr = dpn.ip4_num('%s')" % l['ip-address'])
        check_eq(owner, l['hw-address'], 'owner of ' + l['ip-address'])


@case
def database_down_during_traffic_then_catch_up(ctx):
    """While PostgreSQL is down Kea serves RELEASE and DECLINE (memfile
    leases) and the devices the hook's host cache knows
    (test_dhcp_hostcache.py), and drops the rest; the hook counts, holds
    its events and writes them when the database is back."""
    tmp = tmpdir('dpn-dhcp-down-')
    kea = dhcp.Kea(ctx.pg, tmp, [(ctx.site['pool'], '127.16.0.0/16')],
                   hook_params={'db-retry-ms': 200}).start()
    relay = dhcp.Relay(kea.port)
    try:
        known = [broker.mac(0x2200 + i) for i in range(3)]
        acks = {m: dhcp.acked(relay, C1, m) for m in known}
        # An enrolment that moves the block empties the host cache: a
        # second round puts every device in it with its final address.
        # Only cached devices may RELEASE or DECLINE while PostgreSQL is
        # down: who holds a lease cannot be checked otherwise.
        acks = {m: dhcp.acked(relay, C1, m) for m in known}
        wait_for(lambda: kea.stats()['queue-depth'] == 0, 10, 'queue drained')
        st0 = kea.stats()
        new = broker.mac(0x22ff)
        ctx.pg.stop()
        try:
            relay.release(C1, known[2], acks[known[2]].yiaddr, acks[known[2]].server_id)
            relay.decline(C1, known[1], acks[known[1]].yiaddr, acks[known[1]].server_id)
            relay.request(C1, known[0], acks[known[0]].yiaddr, renew=True, timeout=1)
            relay.discover(C1, new, timeout=1)
            wait_for(lambda: kea.stats()['queue-depth'] >= 2, 10, 'events held')
            st1 = kea.stats()
            check(st1['db-errors'] > st0['db-errors'], 'db errors not counted: %r' % st1)
            check(kea.proc.poll() is None, 'kea-dhcp4 died with the database')
        finally:
            ctx.pg.start()
        wait_for(lambda: kea.stats()['queue-depth'] == 0, 30, 'catch-up')
        st2 = kea.stats()
        check_eq(st2['events-dropped'], st0['events-dropped'], 'events dropped')
        check_eq(st2['events-written'], st2['events-queued'], 'every event written')
        check_eq(dhcp.lease_events(ctx.pg, 'release', known[2]), 1, 'release written after the outage')
        check_eq(dhcp.lease_events(ctx.pg, 'decline', known[1]), 1, 'decline written after the outage')
        # Served again once Kea and the hook have reconnected, enrolment
        # included.
        # (A renewal may be NAKed: enrolments meanwhile can have moved the
        # flat's block. The device then starts over, as a client does.)
        back = wait_for(lambda: (lambda a: a if a is not None and a.type == dhcp.ACK
                                 else None)(relay.dora(C1, known[0], timeout=1)),
                        20, 'known device served after the outage')
        check_eq(back.yiaddr, ctx.pg.scalar(
            "SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'" % known[0]),
            'address after the outage')
        wait_for(lambda: (lambda a: a is not None and a.type == dhcp.ACK)(
            relay.dora(C1, new, timeout=1)), 20, 'new device served after the outage')
        no_double_allotment(ctx, kea)
    except Exception:
        print(kea.output())
        raise
    finally:
        relay.close()
        kea.stop()
        if not os.environ.get('DPN_KEEP_LOGS'):
            shutil.rmtree(tmp, ignore_errors=True)


@case
def full_queue_drops_new_events_and_counts_them(ctx):
    """Back-pressure: with the database down and the queue full, a new
    event is dropped and counted; the queued ones are written once the
    database is back, in order."""
    tmp = tmpdir('dpn-dhcp-full-')
    kea = dhcp.Kea(ctx.pg, tmp, [(ctx.site['pool'], '127.16.0.0/16')],
                   hook_params={'queue-size': 2, 'db-retry-ms': 200}).start()
    relay = dhcp.Relay(kea.port)
    try:
        devs = [broker.mac(0x2400 + i) for i in range(3)]
        acks = {m: wait_for(lambda m=m: (lambda a: a if a is not None and
                                         a.type == dhcp.ACK else None)(
            relay.dora(C1, m, timeout=1)), 20, 'dora ' + m) for m in devs}
        acks = {m: dhcp.acked(relay, C1, m) for m in devs}   # all cached
        wait_for(lambda: kea.stats()['queue-depth'] == 0, 10, 'queue drained')
        st0 = kea.stats()
        ctx.pg.stop()
        try:
            # One at a time: Kea's packet threads would otherwise take the
            # three releases in any order, and which one is dropped with them.
            for i, m in enumerate(devs[:2]):
                relay.release(C1, m, acks[m].yiaddr, acks[m].server_id)
                wait_for(lambda i=i: kea.stats()['queue-depth'] == i + 1, 10,
                         'release %d queued' % (i + 1))
            m = devs[2]
            relay.release(C1, m, acks[m].yiaddr, acks[m].server_id)
            wait_for(lambda: kea.stats()['events-dropped'] > st0['events-dropped'],
                     10, 'a dropped event')
            st1 = kea.stats()
            check_eq(st1['queue-depth'], 2, 'queue depth (queue-size 2)')
            check_eq(st1['events-dropped'] - st0['events-dropped'], 1, 'events dropped')
        finally:
            ctx.pg.start()
        wait_for(lambda: kea.stats()['queue-depth'] == 0, 30, 'catch-up')
        check_eq([dhcp.lease_events(ctx.pg, 'release', m) for m in devs], [1, 1, 0],
                 'release events written')
    finally:
        relay.close()
        kea.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def hook_connections(pg):
    """The hook's connections: identify pool and writer, and the host
    cache's listener."""
    return int(pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                         "application_name IN ('dpn-dhcp-hook', "
                         "'dpn-dhcp-hostcache')"))


def settle(kea):
    """Let the hook's writer write and open its connection (lazily, on the
    first event or sweep) before counting."""
    wait_for(lambda: kea.stats()['queue-depth'] == 0, 10, 'queue drained')
    time.sleep(1.5)


def process_footprint(pid):
    threads = len(os.listdir('/proc/%d/task' % pid))
    fds = len(os.listdir('/proc/%d/fd' % pid))
    with open('/proc/%d/status' % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith('VmRSS:')][0]
    return threads, fds, rss


@case
def reload_and_unload_leak_nothing(ctx):
    m = broker.mac(0x2300)   # flat 2: flat 1 is full by now
    # This Kea lost its hosts-database connection when the previous case
    # restarted PostgreSQL; it reconnects on its own.
    wait_for(lambda: (lambda a: a is not None and a.type == dhcp.ACK)(
        ctx.relay.dora(C2, m, timeout=1)), 20, 'served')
    pid = ctx.kea.proc.pid
    for _ in range(3):
        check_eq(ctx.kea.command('config-reload')['result'], 0, 'config-reload')
    dhcp.acked(ctx.relay, C2, m)
    settle(ctx.kea)
    t0, f0, r0 = process_footprint(pid)
    c0 = hook_connections(ctx.pg)
    for _ in range(30):
        check_eq(ctx.kea.command('config-reload')['result'], 0, 'config-reload')
    dhcp.acked(ctx.relay, C2, m)
    settle(ctx.kea)
    t1, f1, r1 = process_footprint(pid)
    c1 = hook_connections(ctx.pg)
    check_eq(t1, t0, 'threads after 30 reloads')
    # A leak per reload would show 30 times over; a control-socket
    # connection still closing may add one.
    check(f1 - f0 <= 2, 'open files %d -> %d after 30 reloads' % (f0, f1))
    check(c1 <= c0 and c1 <= 4 + 1 + 1, 'database connections %d -> %d' % (c0, c1))
    check(r1 - r0 < 4096, 'RSS grew by %d KiB over 30 reloads' % (r1 - r0))
    # A bad parameter refuses the configuration and keeps the old one.
    ans = ctx.kea.command('config-set', {'Dhcp4': ctx.kea.config_with(**{'queue-size': 0})})
    print('    config-set with queue-size 0: %r' % ans)
    check(ans['result'] != 0, 'config-set accepted queue-size 0: %r' % ans)
    # Kea 2.2 runs without its hooks after a refused hook configuration;
    # reloading the good file on disk brings the hook back.
    check_eq(ctx.kea.command('config-reload')['result'], 0, 'config-reload')
    check_eq(ctx.kea.stats()['queue-size'], 8192, 'queue-size after reload')
    dhcp.acked(ctx.relay, C2, m)


def main():
    with Cluster() as pg:
        tmp = tmpdir('dpn-dhcp-')
        ctx = Ctx()
        ctx.pg = pg
        ctx.kea = ctx.relay = ctx.mgmtd = ctx.api = None
        try:
            dhcp.migrate(pg)
            ctx.site = broker.make_site(pg, flats=2, block_size=4, max_block_size=12)
            ctx.flat1, ctx.flat2 = ctx.site['flats']
            dhcp.allocate(pg, ctx.site['gateways'][0], broker.mac(0x2000))
            ctx.kea = dhcp.Kea(pg, tmp, [(ctx.site['pool'], '127.16.0.0/16')],
                               lifetime=LIFETIME,
                               hook_params={'gateway-grace': GRACE,
                                            'db-retry-ms': 200}).start()
            ctx.relay = dhcp.Relay(ctx.kea.port)
            ctx.mgmtd = mgmtd.Server(pg, ['--kea-socket', ctx.kea.sock,
                                          '--kea-poll-ms', '100'])
            ctx.api = dhcp.api_admin(pg, ctx.mgmtd)
            run(ctx)
        finally:
            dhcp.teardown(ctx, tmp)

if __name__ == '__main__':
    main()
