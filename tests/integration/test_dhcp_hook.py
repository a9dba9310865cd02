#!/usr/bin/env python3
"""tests/integration/test_dhcp_hook.py — the dhcp-hook in a real kea-dhcp4
against a real PostgreSQL with the dpn schema, driven by relayed DHCPv4
packets on loopback: reservations by flex-id (circuit-id || MAC), first-sight
enrolment, extension of a full block, unknown circuits dropped, lease events
recorded, renewals coalesced within seen-interval, the dpn-stats counters."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import ROOT, Cluster, case, check, check_eq, run, tmpdir, wait_for
import shutil
import time
import broker
import dhcp
import mgmtd

C1, C2 = b'1101-1201', b'1101-1202'      # circuit-ids of flats 1 and 2


class Ctx:
    pass


def block_of(pg, flat):
    """(first, last) dotted quads of a flat's block."""
    r = pg.psql("SELECT dpn.ip4(lower(range)), dpn.ip4(upper(range) - 1) "
                "FROM dpn.blocks WHERE flat_id = %d" % flat)
    return tuple(r[0]) if r else None


def in_block(pg, flat, addr):
    return pg.scalar("SELECT range @> dpn.ip4_num('%s') FROM dpn.blocks "
                     "WHERE flat_id = %d" % (addr, flat)) == 't'



@case
def gateway_gets_its_first_address(ctx):
    dhcp.allocate(ctx.pg, ctx.site['gateways'][0], ctx.gw1)
    ack = ctx.relay.dora(C1, ctx.gw1)
    check(ack is not None, 'no answer to the gateway')
    check_eq(ack.type, dhcp.ACK, 'reply type')
    check_eq(ack.yiaddr, block_of(ctx.pg, ctx.flat1)[0], 'gateway address')


@case
def handsets_get_second_addresses_of_their_flat(ctx):
    hs = [broker.mac(0x100 + i) for i in range(2)]
    dhcp.allocate(ctx.pg, ctx.site['gateways'][0], ctx.gw1, hs)
    first, _ = block_of(ctx.pg, ctx.flat1)
    got = set()
    for m in hs:
        ack = ctx.relay.dora(C1, m)
        check(ack is not None and ack.type == dhcp.ACK, 'handset %s: %r' % (m, ack))
        check(in_block(ctx.pg, ctx.flat1, ack.yiaddr), '%s outside the block' % ack.yiaddr)
        check(ack.yiaddr != first, 'a handset got the gateway address')
        got.add(ack.yiaddr)
    check_eq(len(got), 2, 'distinct handset addresses')


@case
def two_flats_never_get_each_others_addresses(ctx):
    gw2, h2 = broker.mac(0x201), broker.mac(0x202)
    dhcp.allocate(ctx.pg, ctx.site['gateways'][0], ctx.gw1)    # idempotent
    dhcp.allocate(ctx.pg, ctx.site['gateways'][1], gw2, [h2])
    a = ctx.relay.dora(C2, h2)
    check(a is not None and a.type == dhcp.ACK, 'flat 2 handset: %r' % a)
    check(in_block(ctx.pg, ctx.flat2, a.yiaddr), 'flat 2 handset outside its block')
    check(not in_block(ctx.pg, ctx.flat1, a.yiaddr), 'flat 2 handset in flat 1 block')
    # Flat 2's handset plugged into flat 1's port: never a flat 2 address
    # (the broker refuses to enrol a MAC another flat of the site has).
    failed = ctx.kea.stats()['enrol-failed']
    b = ctx.relay.dora(C1, h2, timeout=1)
    if b is not None and b.type == dhcp.ACK:
        check(not in_block(ctx.pg, ctx.flat2, b.yiaddr),
              'flat 1 port served a flat 2 address')
    # And the reverse with flat 1's gateway on flat 2's port.
    c = ctx.relay.dora(C2, ctx.gw1, timeout=1)
    if c is not None and c.type == dhcp.ACK:
        check(not in_block(ctx.pg, ctx.flat1, c.yiaddr),
              'flat 2 port served a flat 1 address')
    check_eq((b, c), (None, None), 'answers to devices on the wrong port')
    check_eq(ctx.kea.stats()['enrol-failed'] - failed, 2, 'enrol-failed')


@case
def new_handset_is_enrolled_on_first_sight(ctx):
    m = broker.mac(0x300)
    before = ctx.kea.stats()['enrolled']
    offer = ctx.relay.discover(C1, m)
    check(offer is not None and offer.type == dhcp.OFFER,
          'first DISCOVER of a new handset: %r' % offer)
    check(in_block(ctx.pg, ctx.flat1, offer.yiaddr), 'offer outside the flat block')
    check_eq(ctx.kea.stats()['enrolled'], before + 1, 'enrolled counter')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.handsets WHERE mac = '%s' "
                           "AND flat_id = %d" % (m, ctx.flat1)), '1', 'handset row')
    ack = ctx.relay.request(C1, m, offer.yiaddr, offer.server_id)
    check(ack is not None and ack.type == dhcp.ACK, 'REQUEST after enrolment: %r' % ack)
    check_eq(ack.yiaddr, offer.yiaddr, 'acked address')


@case
def a_full_block_is_extended(ctx):
    size0 = int(ctx.pg.scalar("SELECT upper(range) - lower(range) FROM dpn.blocks "
                              "WHERE flat_id = %d" % ctx.flat1))
    used = int(ctx.pg.scalar("SELECT count(*) FROM dpn.assignments WHERE flat_id = %d"
                             % ctx.flat1))
    addrs = set()
    for i in range(size0 - used + 1):   # one more handset than there is room
        m = broker.mac(0x400 + i)
        ack = ctx.relay.dora(C1, m)
        check(ack is not None and ack.type == dhcp.ACK, 'handset %d: %r' % (i, ack))
        check(in_block(ctx.pg, ctx.flat1, ack.yiaddr), 'address outside the block')
        addrs.add(ack.yiaddr)
    size1 = int(ctx.pg.scalar("SELECT upper(range) - lower(range) FROM dpn.blocks "
                              "WHERE flat_id = %d" % ctx.flat1))
    check(size1 > size0, 'block not extended (%d -> %d)' % (size0, size1))
    check_eq(len(addrs), size0 - used + 1, 'distinct addresses')
    # Whatever moved, every device of the flat still gets its own address.
    first, _ = block_of(ctx.pg, ctx.flat1)
    ack = ctx.relay.dora(C1, ctx.gw1)
    check(ack is not None and ack.type == dhcp.ACK and ack.yiaddr == first,
          'gateway after extension: %r (first %s)' % (ack, first))


@case
def first_device_fills_the_handset_created_without_mac(ctx):
    """Issue 14 item 3: a handset made in the admin without a MAC (SIP
    credentials first) is the one the first new device of its flat's port
    becomes, with its suffix and credentials; no new handset is made."""
    status, made = ctx.api.post('/api/v1/flats/%d/handsets' % ctx.flat2, {})
    check_eq(status, 201, 'admin handset without MAC: %r' % made)
    n0 = ctx.pg.scalar("SELECT count(*) FROM dpn.handsets WHERE flat_id = %d" % ctx.flat2)
    m = broker.mac(0x350)
    ack = dhcp.acked(ctx.relay, C2, m)
    check(in_block(ctx.pg, ctx.flat2, ack.yiaddr), 'address outside flat 2 block')
    check_eq(ctx.pg.psql("SELECT suffix, sip_username FROM dpn.handsets WHERE mac = '%s'"
                         % m), [[str(made['suffix']), made['sip_username']]],
             'the device became the created handset')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.handsets WHERE flat_id = %d"
                           % ctx.flat2), n0, 'handsets of flat 2')


@case
def unknown_circuit_and_bad_packets_are_dropped(ctx):
    st0 = ctx.kea.stats()
    check(ctx.relay.discover(b'9999-9999', broker.mac(0x500), timeout=1) is None,
          'unknown circuit answered')
    check(ctx.relay.discover(b'9999-9999', broker.mac(0x501), timeout=1) is None,
          'unknown circuit answered (second MAC)')
    # No circuit-id at all, and a binary circuit-id.
    check(ctx.relay.exchange(dhcp.packet(dhcp.DISCOVER, broker.mac(0x502), None, 7),
                             timeout=1) is None, 'packet without option 82 answered')
    check(ctx.relay.discover(b'\x00\x01\xff', broker.mac(0x503), timeout=1) is None,
          'binary circuit-id answered')
    st1 = ctx.kea.stats()
    check_eq(st1['dropped-unknown'] - st0['dropped-unknown'], 2, 'dropped-unknown')
    check_eq(st1['dropped-invalid'] - st0['dropped-invalid'], 2, 'dropped-invalid')
    check_eq(st1['enrolled'], st0['enrolled'], 'nothing enrolled')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.handsets WHERE mac IN "
                           "('%s', '%s')" % (broker.mac(0x500), broker.mac(0x501))),
             '0', 'handsets created for an unknown circuit')



@case
def committed_and_released_leases_are_recorded(ctx):
    m = broker.mac(0x600)
    ack = ctx.relay.dora(C1, m)
    check(ack is not None and ack.type == dhcp.ACK, 'dora: %r' % ack)
    dhcp.check_recorded(ctx.pg, 'committed', m, ack.yiaddr, online=True)
    a = dhcp.api_assignment(ctx.api, ctx.flat1, m)
    check(a is not None and a['online'] is True and a['address'] == ack.yiaddr,
          'leased device in mgmtd: %r' % a)
    ctx.relay.release(C1, m, ack.yiaddr, ack.server_id)
    dhcp.check_recorded(ctx.pg, 'release', m, ack.yiaddr, online=False)
    a = dhcp.api_assignment(ctx.api, ctx.flat1, m)
    check(a is not None and a['online'] is False and a['last_seen'],
          'released device in mgmtd: %r' % a)


@case
def declined_address_is_put_on_probation(ctx):
    m = broker.mac(0x700)
    ack = ctx.relay.dora(C1, m)
    check(ack is not None and ack.type == dhcp.ACK, 'dora: %r' % ack)
    ctx.relay.decline(C1, m, ack.yiaddr, ack.server_id)
    wait_for(lambda: dhcp.lease_events(ctx.pg, 'decline', m) == 1, 10, 'decline event')
    a = dhcp.api_assignment(ctx.api, ctx.flat1, m)
    check(a is not None and a['online'] is False, 'declined device in mgmtd: %r' % a)
    row = ctx.pg.psql("SELECT until - since FROM dpn.dhcp_probation WHERE "
                      "addr = dpn.ip4_num('%s')" % ack.yiaddr)
    check_eq(row, [['01:00:00']], 'probation period')
    # The handset moves to another free address of its flat (Kea holds the
    # declined one back for its probation period).
    again = wait_for(lambda: (lambda r: r if r is not None and r.type == dhcp.ACK
                              else None)(ctx.relay.dora(C1, m, timeout=1)),
                     10, 'the declining handset served again')
    check(again.yiaddr != ack.yiaddr, 'declined address handed out again')
    check(in_block(ctx.pg, ctx.flat1, again.yiaddr), 'new address outside the block')


@case
def declined_handset_in_a_full_block_gets_another_address(ctx):
    """Issue 14 item 8: flat 2's block is full when one of its handsets
    declines its address; the block grows (or moves) so that the handset is
    served another address at once, not after the probation."""
    def size():
        return int(ctx.pg.scalar("SELECT upper(range) - lower(range) FROM dpn.blocks "
                                 "WHERE flat_id = %d" % ctx.flat2))

    def used():
        return int(ctx.pg.scalar("SELECT count(*) FROM dpn.assignments WHERE "
                                 "flat_id = %d" % ctx.flat2))
    size0 = size()
    acks = [dhcp.acked(ctx.relay, C2, broker.mac(0x360 + k))
            for k in range(size0 - used())]
    check_eq((used(), size()), (size0, size0), 'flat 2 block full')
    m, ack = broker.mac(0x360 + len(acks) - 1), acks[-1]
    ctx.relay.decline(C2, m, ack.yiaddr, ack.server_id)
    wait_for(lambda: dhcp.lease_events(ctx.pg, 'decline', m) == 1, 10, 'decline event')
    again = wait_for(lambda: (lambda r: r if r is not None and r.type == dhcp.ACK
                              else None)(ctx.relay.dora(C2, m, timeout=1)),
                     10, 'the declining handset served again')
    check(again.yiaddr != ack.yiaddr, 'declined address handed out again')
    check(in_block(ctx.pg, ctx.flat2, again.yiaddr), 'new address outside the block')
    check(size() > size0, 'block not grown (%d -> %d)' % (size0, size()))


@case
def release_and_decline_only_from_the_port_holding_the_lease(ctx):
    """Issue 14 item 1: a RELEASE naming flat 1's gateway and a DECLINE
    naming flat 1's handset, sent on flat 2's port or without option 82,
    are ignored: Kea keeps both leases (not deleted, not declined), nothing
    reaches dpn (no release event, no grace period, no probation) and
    dpn-stats counts them."""
    gw, h, m = ctx.gw1, broker.mac(0x100), broker.mac(0x101)  # flat 1's
    g = dhcp.acked(ctx.relay, C1, gw)
    a = dhcp.acked(ctx.relay, C1, h)
    st0 = ctx.kea.stats()
    for circuit in (C2, None):
        ctx.relay.release(circuit, gw, g.yiaddr, g.server_id)
        ctx.relay.decline(circuit, h, a.yiaddr, a.server_id)
    # A release from the right port afterwards: once it is written, so is
    # anything queued before it (the hook's queue is FIFO).
    ack = dhcp.acked(ctx.relay, C1, m)
    ctx.relay.release(C1, m, ack.yiaddr, ack.server_id)
    dhcp.check_recorded(ctx.pg, 'release', m, ack.yiaddr, online=False)
    for addr, mac in ((g.yiaddr, gw), (a.yiaddr, h)):
        got = ctx.kea.command('lease4-get', {'ip-address': addr})
        check_eq(got['result'], 0, 'lease of %s still in Kea: %r' % (mac, got))
        check_eq((got['arguments']['hw-address'], got['arguments']['state']),
                 (mac, 0), 'lease of %s (state 0: default, 1: declined)' % addr)
    check_eq(dhcp.lease_events(ctx.pg, 'release', gw), 0, 'release events of the gateway')
    check_eq(dhcp.lease_events(ctx.pg, 'decline', h), 0, 'decline events of the handset')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.dhcp_gateway_grace WHERE "
                           "flat_id = %d" % ctx.flat1), '0', 'grace period started')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.dhcp_probation WHERE "
                           "addr = dpn.ip4_num('%s')" % a.yiaddr), '0', 'probation')
    r = ctx.relay.request(C1, h, a.yiaddr, renew=True)
    check(r is not None and r.type == dhcp.ACK and r.yiaddr == a.yiaddr,
          'handset renews its address after the forged DECLINE: %r' % r)
    st1 = ctx.kea.stats()
    check_eq(st1['release-refused'] - st0['release-refused'], 2, 'release-refused')
    check_eq(st1['decline-refused'] - st0['decline-refused'], 2, 'decline-refused')


@case
def counters_add_up(ctx):
    st = ctx.kea.stats()
    for k in ('enrolled', 'known', 'lookups', 'dropped-unknown', 'dropped-invalid',
              'release-refused', 'decline-refused',
              'events-queued', 'events-written', 'events-dropped',
              'events-coalesced', 'db-errors', 'db-reconnects',
              'queue-depth', 'queue-size', 'gateways-deleted'):
        check(k in st, 'dpn-stats lacks ' + k)
    wait_for(lambda: ctx.kea.stats()['queue-depth'] == 0, 10, 'queue drained')
    st = ctx.kea.stats()
    check_eq(st['events-written'], st['events-queued'], 'every event written')
    check_eq(st['events-dropped'], 0, 'events dropped')
    check_eq(st['db-errors'], 0, 'db errors')
    check_eq(int(ctx.pg.scalar("SELECT count(*) FROM dpn.lease_events")),
             st['events-written'], 'lease_events rows')


def last_seen(pg, mac):
    """The assignment's last_seen as epoch seconds (float)."""
    return float(pg.scalar("SELECT extract(epoch FROM last_seen) FROM "
                           "dpn.assignments WHERE mac = '%s'" % mac))


@case
def renewals_within_seen_interval_leave_one_row(ctx):
    """seen-interval 3: renewals of an unchanged device within 3 s are
    counted as coalesced and leave the one committed row; the first renewal
    after the interval is written and moves last_seen; a device coming back
    online after a release is written at once. (After counters_add_up: this
    case's own kea-dhcp4 writes rows too.)"""
    interval = 3
    tmp = tmpdir('dpn-dhcp-seen-')
    kea = dhcp.Kea(ctx.pg, tmp, [(ctx.site['pool'], '127.16.0.0/16')],
                   hook_params={'seen-interval': interval}).start()
    relay = dhcp.Relay(kea.port)
    try:
        m = broker.mac(0x900)
        t0 = time.monotonic()
        ack = dhcp.acked(relay, C1, m)
        for _ in range(3):
            r = relay.request(C1, m, ack.yiaddr, renew=True)
            check(r is not None and r.type == dhcp.ACK, 'renewal: %r' % r)
        elapsed = time.monotonic() - t0
        check(elapsed < interval, 'DORA and renewals took %.1f s, not within '
              'the %d s interval (machine too slow for this case)' % (elapsed, interval))
        wait_for(lambda: kea.stats()['queue-depth'] == 0, 10, 'queue drained')
        st = kea.stats()
        check_eq(st['events-coalesced'], 3, 'renewals coalesced')
        check_eq(dhcp.lease_events(ctx.pg, 'committed', m), 1, 'committed rows')
        seen0 = last_seen(ctx.pg, m)
        api0 = dhcp.api_assignment(ctx.api, ctx.flat1, m)
        check(api0 is not None and api0['online'] is True and api0['last_seen'],
              'device in mgmtd: %r' % api0)
        time.sleep(max(0.0, interval - (time.monotonic() - t0)) + 0.5)
        r = relay.request(C1, m, ack.yiaddr, renew=True)
        check(r is not None and r.type == dhcp.ACK, 'renewal after the interval: %r' % r)
        dhcp.check_recorded(ctx.pg, 'committed', m, ack.yiaddr, online=True, count=2)
        check(last_seen(ctx.pg, m) >= seen0 + interval,
              'last_seen did not move past the interval')
        api1 = dhcp.api_assignment(ctx.api, ctx.flat1, m)
        check(api1['last_seen'] != api0['last_seen'], 'last_seen in mgmtd: %r' % api1)
        # Release, then back online within the interval: both written.
        relay.release(C1, m, ack.yiaddr, ack.server_id)
        dhcp.check_recorded(ctx.pg, 'release', m, ack.yiaddr, online=False)
        again = dhcp.acked(relay, C1, m)
        dhcp.check_recorded(ctx.pg, 'committed', m, again.yiaddr, online=True, count=3)
        st = kea.stats()
        check_eq(st['events-coalesced'], 3, 'nothing else coalesced')
        check_eq(st['events-written'], st['events-queued'], 'every queued event written')
    finally:
        relay.close()
        kea.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@case
def demo_config_generator_matches_the_pools(ctx):
    """dhcp-hook/dpn-kea-config (what make demo runs) writes one subnet per
    dpn pool and a configuration kea-dhcp4 -t accepts: multi-threaded by
    default (as many packet threads as CPUs, at least 8, and as many hook
    connections), single-threaded with --threads 1, and it refuses a
    thread count out of range."""
    import json
    import subprocess
    gen = os.path.join(ROOT, 'dhcp-hook', 'dpn-kea-config')
    st = tmpdir('dpn-dhcp-gen-')
    want = min(16, max(8, os.cpu_count()))

    def generate(*args):
        return subprocess.run([gen, '--pg', ctx.pg.dir, '--state', st,
                               '--hook', dhcp.HOOK, '--param', 'gateway-grace=60']
                              + list(args), capture_output=True, text=True)
    try:
        out = generate()
        check_eq(out.returncode, 0, 'dpn-kea-config: ' + out.stderr[-500:])
        cfg = json.loads(out.stdout)['Dhcp4']
        check_eq([(s['id'], s['subnet']) for s in cfg['subnet4']],
                 [(ctx.site['pool'], '127.16.0.0/16')], 'subnets')
        check_eq(cfg['hooks-libraries'][-1]['parameters']['gateway-grace'], 60,
                 'hook parameter')
        mt = cfg['multi-threading']
        check_eq((mt['enable-multi-threading'], mt['thread-pool-size'],
                  cfg['hooks-libraries'][-1]['parameters']['db-pool']),
                 (True, want, want),
                 'default: packet threads and the hook connections for them')
        conf = os.path.join(st, 'kea-dhcp4.conf')

        def kea_accepts(text, what):
            with open(conf, 'w') as f:
                f.write(text)
            t = subprocess.run([dhcp.KEA_DHCP4, '-t', conf], capture_output=True,
                               text=True, timeout=60)
            check_eq(t.returncode, 0, 'kea-dhcp4 -t, %s: %s' % (what, t.stdout[-500:]))
        kea_accepts(out.stdout, 'default')
        one = generate('--threads', '1').stdout
        cfg1 = json.loads(one)['Dhcp4']
        check_eq((cfg1['multi-threading'], cfg1['hooks-libraries'][-1]['parameters']['db-pool']),
                 ({'enable-multi-threading': False}, 1), '--threads 1')
        kea_accepts(one, '--threads 1')
        for bad in ('0', '17', 'many'):
            r = generate('--threads', bad)
            check(r.returncode == 2 and '--threads' in r.stderr and not r.stdout,
                  '--threads %s accepted: %r' % (bad, r.stderr[-200:]))
    finally:
        shutil.rmtree(st, ignore_errors=True)


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
            ctx.gw1 = broker.mac(0x1001)
            ctx.kea = dhcp.Kea(pg, tmp, [(ctx.site['pool'], '127.16.0.0/16')],
                               probation=3600).start()
            ctx.relay = dhcp.Relay(ctx.kea.port)
            ctx.mgmtd = mgmtd.Server(pg)
            ctx.api = dhcp.api_admin(pg, ctx.mgmtd)
            run(ctx)
        finally:
            dhcp.teardown(ctx, tmp)

if __name__ == '__main__':
    main()
