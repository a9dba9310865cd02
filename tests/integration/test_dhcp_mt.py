#!/usr/bin/env python3
"""tests/integration/test_dhcp_mt.py — the hook in kea-dhcp4 run the way
dpn-kea-config writes it: multi-threaded (packet threads calling the
hook's callouts at once). A new building's devices plugged in at once,
known devices renewing and releases, all concurrent, must each end with
exactly their own address (their flat's block, no address twice, Kea's
leases agreeing with dpn); and one enrolment that fails in the database
must not hold up the others."""
import os
import shutil
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for
import broker
import dhcp

CIDR = '127.16.0.0/16'
NEW_FLATS, PER_FLAT = 40, 3        # first sight: 120 devices at once
KNOWN_FLATS, ROUNDS = 6, 4          # each: a gateway and 2 handsets
WORKERS = 12                        # concurrent clients (relay sockets)


class Ctx:
    pass


def exchange(relay, circuit, mac, tries=3):
    """A client's DORA with its retransmissions: the final Reply or None."""
    for _ in range(tries):
        a = relay.dora(circuit, mac, timeout=3)
        if a is not None:
            return a
    return None


def in_parallel(port, jobs):
    """Runs every job (a callable taking a Relay) on WORKERS threads, each
    with its own relay socket to Kea's port; returns the exceptions they
    raised."""
    lock, errors = threading.Lock(), []
    todo = list(jobs)

    def worker(port):
        relay = dhcp.Relay(port)
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    job = todo.pop(0)
                try:
                    job(relay)
                except Exception as e:   # reported by the caller
                    with lock:
                        errors.append(e)
        finally:
            relay.close()
    threads = [threading.Thread(target=worker, args=(port,))
               for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not any(t.is_alive() for t in threads), 'clients still running')
    return errors


def assignments(pg):
    """{mac: (flat id, address, first, last of its flat's block)}."""
    rows = pg.psql("SELECT a.mac, a.flat_id, dpn.ip4(a.addr), "
                   "dpn.ip4(lower(b.range)), dpn.ip4(upper(b.range) - 1) "
                   "FROM dpn.assignments a JOIN dpn.blocks b ON b.flat_id = a.flat_id")
    return {r[0]: (int(r[1]), r[2], r[3], r[4]) for r in rows}


def ip(a):
    return tuple(int(x) for x in a.split('.'))


@case
def concurrent_first_sight_known_and_releases_get_their_own_addresses(ctx):
    check('enabled: yes' in open(ctx.kea.log).read(),
          'Kea is not multi-threaded with the default configuration')
    got, lock = {}, threading.Lock()
    new = [(flat, circuit, broker.mac(0x700000 + 0x100 * i + d))
           for i, (flat, circuit) in enumerate(ctx.new) for d in range(PER_FLAT)]
    known = [(flat, circuit, m) for flat, circuit, macs in ctx.known for m in macs]
    released = known[1::3]       # a handset of each known flat

    def first_sight(flat, circuit, mac):
        def job(relay):
            a = exchange(relay, circuit, mac)
            with lock:
                got[mac] = [(flat, a)]
        return job

    def renewing(flat, circuit, mac, release):
        def job(relay):
            out = []
            for k in range(ROUNDS):
                a = exchange(relay, circuit, mac)
                out.append((flat, a))
                if release and k == 1 and a is not None and a.type == dhcp.ACK:
                    relay.release(circuit, mac, a.yiaddr, a.server_id)
            with lock:
                got[mac] = out
        return job

    st0 = ctx.kea.stats()
    # Interleave: the building's devices, the known flats' renewals and
    # releases reach the packet threads at the same moments.
    jobs = [first_sight(*d) for d in new]
    for i, d in enumerate(known):
        jobs.insert(i * len(new) // len(known), renewing(*d, d in released))
    errors = in_parallel(ctx.kea.port, jobs)
    check_eq(errors, [], 'client errors')
    st1 = ctx.kea.stats()

    want = assignments(ctx.pg)
    bad = []
    for mac, answers in got.items():
        if mac not in want:
            bad.append((mac, 'no assignment'))
            continue
        flat, addr, first, last = want[mac]
        for want_flat, a in answers:
            if a is None or a.type != dhcp.ACK:
                bad.append((mac, 'no ACK: %r' % a))
            elif (a.yiaddr, flat) != (addr, want_flat) or not ip(first) <= ip(a.yiaddr) <= ip(last):
                bad.append((mac, 'got %s on flat %d, want %s in %s..%s of flat %d'
                            % (a.yiaddr, want_flat, addr, first, last, flat)))
    check(not bad, '%d answers not the device\'s own address, e.g. %r'
          % (len(bad), bad[:6]))
    check_eq(len(got), len(new) + len(known), 'devices answered')
    addrs = [want[m][1] for m in got]
    check_eq(len(set(addrs)), len(addrs), 'an address held by two devices')
    check_eq(st1['enrolled'] - st0['enrolled'], len(new), 'enrolled')
    for name in ('enrol-failed', 'db-errors', 'db-skipped', 'release-refused',
                 'events-dropped'):
        check_eq(st1[name] - st0[name], 0, name)

    # Kea's leases agree with dpn: each address leased to its own device.
    leases = ctx.kea.command('lease4-get-all')['arguments']['leases']
    held = {l['ip-address']: l['hw-address'] for l in leases}
    wrong = [(a, m) for a, m in held.items()
             if a not in {v[1] for v in want.values()} or want.get(m, (0, ''))[1] != a]
    check_eq(wrong, [], 'leases of another device\'s address')
    check_eq(sorted(held), sorted(addrs), 'leased addresses')
    # And what the writer thread recorded: every device online again.
    wait_for(lambda: ctx.pg.scalar(
        "SELECT count(*) FROM dpn.assignments WHERE online") == str(len(addrs)),
        15, 'every device recorded online')
    for flat, circuit, m in released:
        check_eq(dhcp.lease_events(ctx.pg, 'release', m), 1, 'release of ' + m)


@case
def concurrent_first_sight_that_grows_blocks_ends_with_every_address_right(ctx):
    """Four new devices per flat at once in blocks of four: the fourth
    enrolment grows or moves its flat's block (and with it the others'
    reservations: the hook empties its host cache) while the flat's other
    devices are being served. A device may get its old address first and
    then a NAK, as a device whose block moved does; once every device has
    asked again until it holds a lease (what a client does), each holds
    exactly its own address in its flat's block, every block has grown to
    eight, and nothing was served twice."""
    flats = broker.add_building(ctx.pg, ctx.site['site'], 1105, 12)
    devs = [(flat, circuit, broker.mac(0x7e0000 + 0x100 * i + d))
            for i, (flat, circuit) in enumerate(flats) for d in range(4)]
    st0 = ctx.kea.stats()
    check_eq(in_parallel(ctx.kea.port, [
        (lambda c, m: lambda relay: relay.dora(c, m, timeout=3))(c, m)
        for _, c, m in devs]), [], 'client errors')
    got, lock = {}, threading.Lock()

    def settle(flat, circuit, mac):
        def job(relay):
            for _ in range(5):
                a = relay.dora(circuit, mac, timeout=3)
                if a is not None and a.type == dhcp.ACK:
                    break
            with lock:
                got[mac] = [(flat, a)]
        return job
    check_eq(in_parallel(ctx.kea.port, [settle(*d) for d in devs]), [], 'client errors')
    want = assignments(ctx.pg)
    bad = [(m, a) for m, [(flat, a)] in got.items()
           if a is None or a.type != dhcp.ACK or (flat, a.yiaddr) != want[m][:2]
           or not ip(want[m][2]) <= ip(a.yiaddr) <= ip(want[m][3])]
    check(not bad, '%d devices without their own address, e.g. %r' % (len(bad), bad[:6]))
    check_eq(ctx.pg.psql("SELECT DISTINCT upper(range) - lower(range) FROM dpn.blocks "
                         "WHERE flat_id IN (%s)" % ','.join(str(f) for f, _ in flats)),
             [['8']], 'block sizes')
    st1 = ctx.kea.stats()
    check_eq((st1['enrolled'] - st0['enrolled'], st1['db-errors'] - st0['db-errors'],
              st1['enrol-failed'] - st0['enrol-failed']), (len(devs), 0, 0),
             'enrolled, db-errors, enrol-failed')
    addrs = [a.yiaddr for [(f, a)] in got.values()]
    check_eq(len(set(addrs)), len(addrs), 'an address served to two devices')


@case
def a_release_from_another_flats_port_is_ignored_under_load(ctx):
    """While the packet threads are busy with renewals, RELEASEs naming
    known devices' leases from other flats' ports change nothing."""
    flats = ctx.known
    victims = [(circuit, macs[0]) for _, circuit, macs in flats]
    addr = {m: dhcp.acked(ctx.relay, c, m) for c, m in victims}
    st0 = ctx.kea.stats()

    def spoof(i):
        def job(relay):
            c, m = victims[i]
            other = victims[(i + 1) % len(victims)][0]
            relay.release(other, m, addr[m].yiaddr, addr[m].server_id)
        return job

    def renew(c, m):
        return lambda relay: exchange(relay, c, m)
    jobs = [spoof(i) for i in range(len(victims))]
    jobs += [renew(c, m) for _, c, macs in flats for m in macs[1:]]
    check_eq(in_parallel(ctx.kea.port, jobs), [], 'client errors')
    wait_for(lambda: ctx.kea.stats()['release-refused'] - st0['release-refused']
             == len(victims), 10, 'spoofed releases counted')
    for c, m in victims:
        lease = ctx.kea.command('lease4-get', {'ip-address': addr[m].yiaddr})
        check_eq((lease['result'], lease['arguments']['hw-address']), (0, m),
                 'lease of %s after a spoofed release' % m)


@case
def a_failed_enrolment_does_not_hold_up_the_others(ctx):
    """One enrolment fails in the database (an error raised for one MAC by
    a trigger): that device gets nothing, counted in db-errors, but the
    hook does not stop asking the database (db-retry-ms is 30 s here): the
    next new device, on another flat, is enrolled at once."""
    bad_mac = broker.mac(0x7ff001)
    ctx.pg.psql(
        "CREATE FUNCTION dpn.test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'refused by the test'; END$$; "
        "CREATE TRIGGER test_refuse BEFORE INSERT ON dpn.assignments FOR EACH ROW "
        "WHEN (NEW.mac = '%s') EXECUTE FUNCTION dpn.test_refuse()" % bad_mac)
    try:
        flats = broker.add_building(ctx.pg, ctx.site['site'], 1103, 2)
        st0 = ctx.kea.stats()
        check_eq(ctx.relay.discover(flats[0][1], bad_mac, timeout=2), None,
                 'an OFFER for the refused device')
        good = broker.mac(0x7ff002)
        a = dhcp.acked(ctx.relay, flats[1][1], good)
        check_eq(a.yiaddr, assignments(ctx.pg)[good][1], 'address of the next device')
        st1 = ctx.kea.stats()
        check_eq((st1['db-errors'] - st0['db-errors'],
                  st1['db-skipped'] - st0['db-skipped'],
                  st1['enrolled'] - st0['enrolled']), (1, 0, 1),
                 'db-errors, db-skipped, enrolled')
        check('refused by the test' in ctx.kea.output(), 'the error is not logged')
        # The same device among others enrolling at the same moment (so
        # in one transaction with some of them): only it goes without.
        flats = broker.add_building(ctx.pg, ctx.site['site'], 1104, 24)
        got, st0 = {}, ctx.kea.stats()

        def job(circuit, mac):
            def run_one(relay):
                got[mac] = relay.dora(circuit, mac, timeout=3)
            return run_one
        others = [(c, broker.mac(0x7ff100 + i)) for i, (_, c) in enumerate(flats)]
        jobs = [job(c, m) for c, m in others]
        jobs.insert(len(jobs) // 2, job(flats[0][1], bad_mac))
        check_eq(in_parallel(ctx.kea.port, jobs), [], 'client errors')
        want = assignments(ctx.pg)
        check_eq(got.pop(bad_mac), None, 'an answer for the refused device')
        check_eq({m: a and a.type == dhcp.ACK and a.yiaddr for m, a in got.items()},
                 {m: want[m][1] for _, m in others}, 'the others\' ACKs')
        st1 = ctx.kea.stats()
        check_eq((st1['enrolled'] - st0['enrolled'], st1['db-skipped'] - st0['db-skipped']),
                 (len(others), 0), 'enrolled, db-skipped')
    finally:
        ctx.pg.psql("DROP TRIGGER test_refuse ON dpn.assignments; "
                    "DROP FUNCTION dpn.test_refuse()")


def main():
    with Cluster() as pg:
        tmp = tmpdir('dpn-dhcp-mt-')
        ctx = Ctx()
        ctx.pg = pg
        ctx.kea = ctx.relay = ctx.mgmtd = ctx.api = None
        try:
            dhcp.migrate(pg)
            ctx.site = broker.make_site(pg, cidr=CIDR, flats=KNOWN_FLATS,
                                        block_size=4, max_block_size=8)
            ctx.known = []
            rows = pg.psql("SELECT f.id, f.circuit_id FROM dpn.flats f "
                           "WHERE f.building_id = %d ORDER BY f.number"
                           % ctx.site['building'])
            for k, (gw, (flat, circuit)) in enumerate(zip(ctx.site['gateways'], rows)):
                macs = [broker.mac(0x600000 + 0x100 * k + d) for d in range(3)]
                dhcp.allocate(pg, gw, macs[0], macs[1:])
                ctx.known.append((int(flat), circuit.encode(), macs))
            ctx.new = broker.add_building(pg, ctx.site['site'], 1102, NEW_FLATS)
            # The default configuration (multi-threaded); a back-off would
            # show: 30 s without asking the database.
            ctx.kea = dhcp.Kea(pg, tmp, [(ctx.site['pool'], CIDR)],
                               hook_params={'db-retry-ms': 30000}).start()
            ctx.relay = dhcp.Relay(ctx.kea.port)
            run(ctx)
        finally:
            dhcp.teardown(ctx, tmp)


if __name__ == '__main__':
    main()
