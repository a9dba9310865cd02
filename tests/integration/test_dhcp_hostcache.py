#!/usr/bin/env python3
"""tests/integration/test_dhcp_hostcache.py — the hook's host cache in a
real kea-dhcp4 against a real PostgreSQL: Kea answers known devices from
the cache (so it keeps serving them while PostgreSQL is down), a reservation
changed in the database is served at once (LISTEN/NOTIFY), a change made
while the hook's listener was cut off is not served stale once it is back,
the cache survives config-reload, works in Kea's multi-threaded mode, can
be switched off, and refuses bad parameters."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for
import broker
import dhcp

C1 = b'1101-1201'
CIDR = '127.16.0.0/16'


class Ctx:
    pass


def address_of(pg, mac):
    return pg.scalar("SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'" % mac)


def move(ctx, mac, old):
    """Moves a device to another free address of its block, as an operator
    could with psql, and removes its old lease from Kea, as mgmtd's lease
    remover would; returns the new address."""
    new = ctx.pg.scalar(
        "UPDATE dpn.assignments a SET addr = (SELECT dpn.broker_free_addr(b) "
        "FROM dpn.blocks b WHERE b.id = a.block_id) WHERE mac = '%s' "
        "RETURNING dpn.ip4(addr)" % mac)
    ctx.pg.psql('DELETE FROM dpn.lease_deletions')
    ctx.kea.command('lease4-del', {'ip-address': old})
    return new


def listener_pid(pg):
    return pg.scalar("SELECT pid FROM pg_stat_activity WHERE "
                     "application_name = 'dpn-dhcp-hostcache'")


def acked_at(relay, mac, addr):
    """A full exchange ends in an ACK for addr (retried briefly: a client
    whose lease moved is NAKed once and starts over)."""
    return wait_for(lambda: (lambda a: a is not None and a.type == dhcp.ACK
                             and a.yiaddr == addr)(relay.dora(C1, mac, timeout=1)),
                    5, '%s served %s' % (mac, addr))


@case
def known_devices_are_answered_from_the_cache(ctx):
    hs = [broker.mac(0x500 + i) for i in range(3)]
    dhcp.allocate(ctx.pg, ctx.site['gateways'][0], ctx.gw, hs)
    for m in hs:
        check_eq(dhcp.acked(ctx.relay, C1, m).yiaddr, address_of(ctx.pg, m),
                 'first exchange of ' + m)
    st0 = ctx.kea.stats()
    check(st0['host-cache-listening'], 'listener not up: %r' % st0)
    for m in hs:
        check_eq(dhcp.acked(ctx.relay, C1, m).yiaddr, address_of(ctx.pg, m),
                 'second exchange of ' + m)
    st1 = ctx.kea.stats()
    # Each exchange asks three times (identifier twice, address once).
    check_eq(st1['host-cache-hits'] - st0['host-cache-hits'], 3 * len(hs),
             'lookups answered by the cache')
    check_eq(st1['host-cache-misses'], st0['host-cache-misses'],
             'lookups that went to PostgreSQL')
    # A reload makes a new cache, and Kea takes it.
    check_eq(ctx.kea.command('config-reload')['result'], 0, 'config-reload')
    for _ in range(2):
        dhcp.acked(ctx.relay, C1, hs[0])
    check(ctx.kea.stats()['host-cache-hits'] >= 3, 'no hits after a reload')


@case
def known_devices_are_served_while_postgresql_is_down(ctx):
    m = broker.mac(0x500)
    ack = dhcp.acked(ctx.relay, C1, m)
    ctx.pg.stop()
    try:
        wait_for(lambda: not ctx.kea.stats()['host-cache-listening'], 10,
                 'listener notices the outage')
        got = ctx.relay.request(C1, m, ack.yiaddr, renew=True, timeout=2)
        check(got is not None and got.type == dhcp.ACK,
              'renewal during the outage: %r' % got)
        got = ctx.relay.dora(C1, m, timeout=2)
        check(got is not None and got.type == dhcp.ACK and got.yiaddr == ack.yiaddr,
              'new exchange during the outage: %r' % got)
        # A device the cache has never seen cannot be enrolled now.
        check_eq(ctx.relay.discover(C1, broker.mac(0x5ff), timeout=1), None,
                 'unknown device during the outage')
    finally:
        ctx.pg.start()
    wait_for(lambda: ctx.kea.stats()['host-cache-listening'], 20,
             'listener back after the outage')
    acked_at(ctx.relay, m, address_of(ctx.pg, m))


@case
def a_database_restart_costs_the_hook_nothing(ctx):
    """After PostgreSQL restarts every pooled connection of the hook is
    dead, which libpq learns only by using it: the first statement on each
    must connect again and run at once, not fail (counted in db-errors)
    and make every packet skip the database for db-retry-ms (3 s here).
    (Kea's own hosts connection dies too: Kea may drop the first packet
    while it reconnects, so the client retransmits, as a real one does.)"""
    # A pooled connection used (once the previous case's outage, which
    # made the hook skip the database for db-retry-ms, is over).
    before = broker.mac(0x510)
    wait_for(lambda: (lambda a: a is not None and a.type == dhcp.ACK)(
        ctx.relay.dora(C1, before, timeout=1)), 10, 'first sight before the restart')
    wait_for(lambda: ctx.kea.stats()['queue-depth'] == 0, 10, 'events written')
    ctx.pg.stop()
    ctx.pg.start()
    wait_for(lambda: ctx.kea.stats()['host-cache-listening'], 20,
             'listener back after the restart')
    st0 = ctx.kea.stats()
    m = broker.mac(0x511)       # a first sight needs the database: enrolment
    acks = []
    wait_for(lambda: acks.append(ctx.relay.dora(C1, m, timeout=1)) or (
        acks[-1] is not None and acks[-1].type == dhcp.ACK), 10,
        'first sight after the restart')
    check_eq(acks[-1].yiaddr, address_of(ctx.pg, m), 'its address')
    # Its lease event goes through the writer's connection, dead too.
    wait_for(lambda: ctx.kea.stats()['queue-depth'] == 0, 10, 'events written')
    st1 = ctx.kea.stats()
    # A dead connection found is made again, not counted as the database
    # failing (which would start the back-off: db-skipped itself is not
    # compared, as an attempt of the writer while the server was down may
    # have started one legitimately).
    check(st1['db-reconnects'] > st0['db-reconnects'], 'no reconnection counted')
    check_eq((st1['db-errors'] - st0['db-errors'], st1['events-dropped'],
              st1['enrolled'] - st0['enrolled']), (0, 0, 1),
             'database errors after the restart, events dropped, enrolled')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.lease_events WHERE mac = '%s'" % m),
             '1', 'lease events of the new device')


@case
def a_moved_reservation_is_served_at_once(ctx):
    m = broker.mac(0x501)
    old = dhcp.acked(ctx.relay, C1, m).yiaddr
    dhcp.acked(ctx.relay, C1, m)                # now cached
    n0 = ctx.kea.stats()['host-cache-notifications']
    new = move(ctx, m, old)
    check(new and new != old, 'move gave %r' % new)
    # The notification arrives milliseconds after the commit.
    wait_for(lambda: ctx.kea.stats()['host-cache-notifications'] > n0, 5,
             'notification received')
    offer = ctx.relay.discover(C1, m)
    check(offer is not None and offer.yiaddr == new,
          'offer after the move: %r (old %s, new %s)' % (offer, old, new))
    acked_at(ctx.relay, m, new)


@case
def a_change_made_while_the_listener_is_cut_off_is_not_served_stale(ctx):
    m = broker.mac(0x502)
    old = dhcp.acked(ctx.relay, C1, m).yiaddr
    dhcp.acked(ctx.relay, C1, m)                # now cached
    pid = listener_pid(ctx.pg)
    check(pid, 'no listener connection')
    ctx.pg.psql('SELECT pg_terminate_backend(%s)' % pid)
    new = move(ctx, m, old)                     # nobody hears this one
    wait_for(lambda: (lambda p: p and p != pid)(listener_pid(ctx.pg)), 20,
             'listener reconnected')
    wait_for(lambda: ctx.kea.stats()['host-cache-listening'], 5, 'listening')
    offer = ctx.relay.discover(C1, m)
    check(offer is not None and offer.yiaddr == new,
          'offer after the reconnect: %r (old %s, new %s)' % (offer, old, new))
    check(ctx.kea.stats()['host-cache-flushes'] >= 2, 'no flush on reconnect')


@case
def edits_of_hosts_by_hand_are_heard(ctx):
    m = broker.mac(0x503)
    dhcp.acked(ctx.relay, C1, m)
    dhcp.acked(ctx.relay, C1, m)
    st0 = ctx.kea.stats()
    check(st0['host-cache-entries'] > 0, 'nothing cached')
    ctx.pg.psql('BEGIN; CREATE TEMP TABLE h AS SELECT * FROM public.hosts; '
                'TRUNCATE public.hosts CASCADE; '
                'INSERT INTO public.hosts SELECT * FROM h; COMMIT')
    wait_for(lambda: ctx.kea.stats()['host-cache-flushes'] > st0['host-cache-flushes'],
             5, 'flush after TRUNCATE')
    check_eq(ctx.kea.stats()['host-cache-bad-notifications'], 0, 'bad notifications')
    dhcp.acked(ctx.relay, C1, m)


@case
def the_cache_can_be_switched_off(ctx):
    tmp = tmpdir('dpn-dhcp-nocache-')
    kea = dhcp.Kea(ctx.pg, tmp, [(ctx.site['pool'], CIDR)],
                   hook_params={'host-cache': False}).start()
    relay = dhcp.Relay(kea.port)
    try:
        m = broker.mac(0x500)
        for _ in range(2):
            check_eq(dhcp.acked(relay, C1, m).yiaddr, address_of(ctx.pg, m),
                     'served without the cache')
        st = kea.stats()
        check_eq((st['host-cache-hits'], st['host-cache-listening']), (0, False),
                 'cache counters when off')
        check_eq(ctx.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                               "application_name = 'dpn-dhcp-hostcache'"), '1',
                 'listeners (the other Kea only)')
    finally:
        relay.close()
        kea.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@case
def multi_threaded_kea_serves_every_device_its_own_address(ctx):
    """Kea's multi-threaded packet processing (off by default in 2.2): the
    hook's callouts and the cache run in four packet threads at once."""
    import threading
    tmp = tmpdir('dpn-dhcp-mt-')
    kea = dhcp.Kea(ctx.pg, tmp, [(ctx.site['pool'], CIDR)], extra={
        'multi-threading': {'enable-multi-threading': True,
                            'thread-pool-size': 4, 'packet-queue-size': 64}}).start()
    devices = [ctx.gw] + [broker.mac(0x500 + i) for i in range(4)]
    want = {m: address_of(ctx.pg, m) for m in devices}
    bad = []

    def client(mac):
        relay = dhcp.Relay(kea.port)
        try:
            for _ in range(20):
                a = relay.dora(C1, mac, timeout=2)
                if a is None or a.type != dhcp.ACK or a.yiaddr != want[mac]:
                    bad.append((mac, a))
        finally:
            relay.close()
    try:
        check('enabled: yes' in open(kea.log).read(), 'Kea not multi-threaded')
        threads = [threading.Thread(target=client, args=(m,)) for m in devices]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check_eq(bad, [], 'answers that were not the device\'s own address')
        st = kea.stats()
        check(st['host-cache-hits'] >= 2 * 3 * 20 * len(devices) // 3,
              'cache hardly used: %r' % st)
    finally:
        kea.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@case
def bad_cache_parameters_are_refused(ctx):
    for name, value in (('host-cache', 'yes'), ('host-cache-size', 0),
                        ('host-cache-size', 1 << 25), ('host-cache-ttl', 0),
                        ('host-cache-ttl', -5)):
        ans = ctx.kea.command('config-set', {'Dhcp4': ctx.kea.config_with(**{name: value})})
        check(ans['result'] != 0, 'config-set accepted %s=%r: %r' % (name, value, ans))
        check('dpn' in ctx.kea.output() and name in ctx.kea.output(),
              'the log does not name %s' % name)
        # Kea 2.2 runs without its hooks after a refused hook
        # configuration; the good file brings the hook back.
        check_eq(ctx.kea.command('config-reload')['result'], 0, 'config-reload')
    dhcp.acked(ctx.relay, C1, broker.mac(0x500))


def main():
    with Cluster() as pg:
        tmp = tmpdir('dpn-dhcp-hc-')
        ctx = Ctx()
        ctx.pg = pg
        ctx.kea = ctx.relay = ctx.mgmtd = ctx.api = None
        try:
            dhcp.migrate(pg)
            ctx.site = broker.make_site(pg, flats=1, block_size=8, max_block_size=10)
            ctx.gw = broker.mac(0x4ff)
            ctx.kea = dhcp.Kea(pg, tmp, [(ctx.site['pool'], CIDR)],
                               hook_params={'db-retry-ms': 3000}).start()
            ctx.relay = dhcp.Relay(ctx.kea.port)
            run(ctx)
        finally:
            dhcp.teardown(ctx, tmp)


if __name__ == '__main__':
    main()
