#!/usr/bin/env python3
"""test_broker_concurrency — 64 sessions allocating, adding, enrolling and
deleting at random on the flats of one site for a bounded time (8 s of
load): no error but the broker's own answers (D1001-D1003) ever reaches a
caller (no deadlock, no exclusion or unique violation), Kea's reservations
equal the assignments throughout, no address is held twice, and when every
gateway is deleted the pool's free count is back where it started."""
import os
import random
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
from broker import Session, SqlError, apply_schema, make_site, mac, q  # noqa: E402

SESSIONS = 64
FLATS = int(os.environ.get('BROKER_FLATS', '120'))
# Longer or bigger runs by hand: BROKER_LOAD_SECONDS=25 BROKER_FLATS=900
# reaches pool exhaustion (D1002) with lanes and the exclusive path mixed.
LOAD_SECONDS = float(os.environ.get('BROKER_LOAD_SECONDS', '8'))
ALLOWED = {'D1001', 'D1002', 'D1003'}

# Kea's reservations of the site against its assignments: rows in one and
# not the other, and addresses reserved twice in a subnet.
MISMATCH = """
WITH a AS (SELECT dpn.kea_flex_id(circuit_id, mac) AS id, pool_id, addr
             FROM dpn.assignments WHERE site_id = %(site)d),
     h AS (SELECT dhcp_identifier AS id, dhcp4_subnet_id AS pool_id,
                  ipv4_address AS addr FROM public.hosts
            WHERE dhcp4_subnet_id IN (SELECT id FROM dpn.pools
                                       WHERE site_id = %(site)d))
SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM h) x) +
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT SELECT * FROM a) y),
       (SELECT count(*) FROM (SELECT addr FROM h GROUP BY pool_id, addr
                               HAVING count(*) > 1) z)
"""


class Load:
    def __init__(self, pg, st):
        self.pg, self.st = pg, st
        self.errors = []          # unexpected: (sqlstate, message)
        self.outcomes = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.lanes = 0            # most lanes seen holding blocks at once

    def flat_macs(self, i):
        return [mac(0x10000 * (i + 1) + k, prefix=0x06) for k in range(1, 12)]

    def op(self, s, rnd):
        i = rnd.randrange(FLATS)
        flat, gw = self.st['flats'][i], self.st['gateways'][i]
        gmac = mac(0x900000 + i)
        hm = self.flat_macs(i)
        r = rnd.random()
        if r < 0.30:
            pick = rnd.sample(hm, rnd.randrange(0, 4))
            arr = "ARRAY[%s]::macaddr[]" % ','.join(q(m) for m in pick) \
                if pick else "'{}'::macaddr[]"
            return 'allocate', "SELECT dpn.broker_allocate(%d, %s, %s)" % (
                gw, q(gmac), arr)
        if r < 0.60:
            return 'add_handset', "SELECT dpn.broker_add_handset(%d, %s)" % (
                flat, q(rnd.choice(hm)))
        if r < 0.80:
            return 'delete_handset', "SELECT dpn.broker_delete_handset(%d, %s)" % (
                flat, q(rnd.choice(hm)))
        if r < 0.90:
            return 'delete_gateway', ("SELECT dpn.broker_delete_gateway(%d, "
                                      "keep_gateway => true)" % flat)
        return 'enrol', "SELECT dpn.broker_enrol(%d, %s, %s)" % (
            self.st['site'], q('1101-%d' % (1201 + i)), q(rnd.choice(hm + [gmac])))

    def worker(self, n):
        rnd = random.Random(n)
        s = Session(self.pg, actor='test:load%d' % n)
        try:
            while not self.stop.is_set():
                what, sql = self.op(s, rnd)
                try:
                    s.query(sql)
                    key = what
                except SqlError as e:
                    key = '%s %s' % (what, e.sqlstate)
                    if e.sqlstate not in ALLOWED:
                        with self.lock:
                            self.errors.append((e.sqlstate, e.message[:300]))
                with self.lock:
                    self.outcomes[key] = self.outcomes.get(key, 0) + 1
        finally:
            s.close()

    def checker(self, bad):
        s = Session(self.pg)
        try:
            while not self.stop.is_set():
                row = s.query(MISMATCH % {'site': self.st['site']})[0]
                if row != ['0', '0']:
                    bad.append(row)
                lanes = s.query("SELECT count(DISTINCT (lower(b.range) - "
                                "lower(p.range)) / 1364) FROM dpn.blocks b "
                                "JOIN dpn.pools p ON p.id = b.pool_id")[0][0]
                self.lanes = max(self.lanes, int(lanes))
                time.sleep(0.3)
        finally:
            s.close()


@case
def sixty_four_sessions_at_random_keep_every_invariant(pg):
    apply_schema(pg)
    # /20: three lanes, so new blocks are made in parallel and spill over.
    cidr = os.environ.get('BROKER_CIDR', '127.16.0.0/20')
    st = make_site(pg, number=100, cidr=cidr, flats=FLATS,
                   block_size=4, max_block_size=10)
    s = Session(pg)
    # Gateways known by MAC up front, so that enrol sees them as gateways.
    for i, gw in enumerate(st['gateways']):
        s.query("UPDATE dpn.gateways SET mac = %s WHERE id = %d"
                % (q(mac(0x900000 + i)), gw))
    start = s.json("SELECT dpn.pool_utilisation(%d)" % st['site'])[0]['free']
    load = Load(pg, st)
    bad = []
    threads = [threading.Thread(target=load.worker, args=(n,))
               for n in range(SESSIONS)]
    threads.append(threading.Thread(target=load.checker, args=(bad,)))
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    load.stop.set()
    for t in threads:
        t.join(timeout=120)
    check(not any(t.is_alive() for t in threads), 'every session finished')
    total = sum(load.outcomes.values())
    print('operations: %d in %.0f s: %s' % (total, LOAD_SECONDS,
          ', '.join('%s=%d' % kv for kv in sorted(load.outcomes.items()))))
    check_eq(load.errors[:5], [], 'unexpected errors (deadlock, constraint)')
    check(total > SESSIONS, 'the load ran (%d operations)' % total)
    for what in ('allocate', 'add_handset', 'delete_handset', 'delete_gateway'):
        check(load.outcomes.get(what, 0) > 0, 'some %s succeeded' % what)
    grew = dict(s.query("SELECT action, count(*) FROM dpn.audit_log WHERE "
                        "action IN ('broker.extend', 'broker.move') GROUP BY 1"))
    print('blocks grown in place: %s, moved: %s' % (
        grew.get('broker.extend', 0), grew.get('broker.move', 0)))
    check(int(grew.get('broker.move', 0)) > 0 and
          int(grew.get('broker.extend', 0)) > 0,
          'the load both extended and moved blocks: %r' % grew)
    check_eq(bad, [], 'Kea reservations equal the assignments during the load')
    print('lanes holding blocks at once: %d of 3' % load.lanes)
    check(load.lanes >= 2, 'new blocks spilled into other lanes under load')
    check_eq(s.query(MISMATCH % {'site': st['site']}), [['0', '0']],
             'Kea reservations equal the assignments after the load')
    check_eq(s.query("SELECT count(*) FROM (SELECT addr FROM dpn.assignments "
                     "GROUP BY site_id, addr HAVING count(*) > 1) x"), [['0']],
             'no address held twice')
    for flat in st['flats']:
        s.query("SELECT dpn.broker_delete_gateway(%d)" % flat)
    util = s.json("SELECT dpn.pool_utilisation(%d)" % st['site'])[0]
    check_eq((util['free'], util['blocks'], util['assigned']), (start, 0, 0),
             'free count back to the start')
    check_eq(s.query("SELECT count(*) FROM public.hosts"), [['0']],
             'no reservation left')
    s.close()


if __name__ == '__main__':
    with Cluster() as pg:
        run(pg)
