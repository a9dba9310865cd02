#!/usr/bin/env python3
"""test_broker — the broker functions against a real PostgreSQL: allocation
(idempotent, without the site lock when nothing is new), second addresses,
extension in place and move with Kea's reservations following, deletions
returning addresses and blocks, the gateway's report, enrolment by
circuit-id, pool exhaustion, and bad arguments (D1001/D1004) that change
nothing."""
import ipaddress
import json
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, wait_for  # noqa: E402
from broker import (Session, SqlError, apply_schema, make_site, mac, q,  # noqa: E402
                    run_cases)

STATE_TABLES = ('blocks', 'assignments', 'handsets', 'gateways', 'audit_log',
                'lease_deletions')


def ip(s):
    return int(ipaddress.IPv4Address(s))


def macs_sql(ms):
    return "ARRAY[%s]::macaddr[]" % ','.join(q(m) for m in ms) if ms \
        else "'{}'::macaddr[]"


class Ctx:
    """One cluster; each case builds its own site (numbers 101, 102, ...)."""

    def __init__(self, pg):
        self.pg = pg
        apply_schema(pg)
        self.s = Session(pg, actor='test:broker')
        self.next_site = 101
        self.next_mac = 1

    def site(self, **kw):
        kw.setdefault('cidr', '10.1.0.0/24')   # sites may overlap
        st = make_site(self.pg, number=self.next_site, **kw)
        self.next_site += 1
        return st

    def mac(self):
        self.next_mac += 1
        return mac(self.next_mac)

    def allocate(self, gw, gmac, hmacs=()):
        return self.s.json("SELECT dpn.broker_allocate(%d, %s, %s)"
                           % (gw, q(gmac), macs_sql(list(hmacs))))

    def add(self, flat, m):
        return self.s.json("SELECT dpn.broker_add_handset(%d, %s)" % (flat, q(m)))

    def hosts(self, flat):
        """{mac: address} of the Kea reservations of a flat."""
        circ = self.s.query("SELECT circuit_id FROM dpn.flats WHERE id = %d"
                            % flat)[0][0]
        rows = self.s.query(
            "SELECT encode(substr(dhcp_identifier, %d), 'hex'), "
            "dpn.ip4(ipv4_address), dhcp4_subnet_id FROM public.hosts WHERE "
            "dhcp_identifier_type = 4 AND substr(dhcp_identifier, 1, %d) = "
            "convert_to(%s, 'UTF8') AND octet_length(dhcp_identifier) = %d "
            "AND dhcp4_subnet_id IN (SELECT p.id FROM dpn.pools p JOIN "
            "dpn.flats f ON f.site_id = p.site_id WHERE f.id = %d)"
            % (len(circ) + 1, len(circ), q(circ), len(circ) + 6, flat))
        return {':'.join(r[0][i:i + 2] for i in range(0, 12, 2)): r[1]
                for r in rows}

    def assigned(self, flat):
        return {r[0]: r[1] for r in self.s.query(
            "SELECT mac, dpn.ip4(addr) FROM dpn.assignments WHERE flat_id = %d"
            % flat)}

    def free(self, site):
        return self.s.json("SELECT dpn.pool_utilisation(%d)" % site)[0]['free']

    def state(self):
        return self.s.query('SELECT ' + ', '.join(
            "(SELECT count(*) FROM dpn.%s)" % t for t in STATE_TABLES) +
            ", (SELECT count(*) FROM public.hosts)")

    def refused(self, sql, state, field=None):
        """sql raises SQLSTATE state naming field, and changes nothing."""
        before = self.state()
        try:
            self.s.query(sql)
        except SqlError as e:
            check_eq(e.sqlstate, state, 'SQLSTATE of ' + sql)
            if field:
                check('COLUMN NAME:  %s' % field in e.message or
                      (field + ':') in e.message,
                      'field %s named in %s' % (field, e.message))
            check_eq(self.state(), before, 'state after refused ' + sql)
            return e
        raise AssertionError('accepted: ' + sql)


@case
def allocation_gives_first_and_second_addresses_and_kea_hosts(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g, h1, h2 = c.mac(), c.mac(), c.mac()
    r = c.allocate(gw, g, [h1, h2])
    check_eq(r['block'], {'first': '10.1.0.1', 'last': '10.1.0.4', 'size': 4},
             'block')
    check_eq(r['gateway'], {'mac': g, 'address': '10.1.0.1'}, 'gateway')
    check_eq(r['handsets'], [{'mac': h1, 'suffix': 1, 'address': '10.1.0.2'},
                             {'mac': h2, 'suffix': 2, 'address': '10.1.0.3'}],
             'handsets')
    check_eq(c.hosts(flat), {g: '10.1.0.1', h1: '10.1.0.2', h2: '10.1.0.3'},
             'Kea reservations equal the assignments')
    check_eq(c.s.query("SELECT DISTINCT dhcp4_subnet_id FROM public.hosts h "
                       "JOIN dpn.assignments a ON a.addr = h.ipv4_address "
                       "WHERE a.flat_id = %d" % flat), [[str(st['pool'])]],
             'subnet id is the pool id')
    check_eq(c.s.query("SELECT actor FROM dpn.audit_log WHERE action = "
                       "'broker.allocate' AND object = 'flat:%d'" % flat),
             [['test:broker']], 'audited with the caller\'s actor')
    # A second flat gets the next block.
    r2 = c.allocate(st['gateways'][1], c.mac())
    check_eq(r2['block']['first'], '10.1.0.5', 'next flat\'s block')


@case
def allocation_is_idempotent_and_takes_no_site_lock(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g, h1 = c.mac(), c.mac()
    first = c.allocate(gw, g, [h1])
    before = c.state()
    # Another session holds the site's lock: the repeat must not wait.
    other = Session(c.pg)
    try:
        other.query("BEGIN")
        other.query("SELECT dpn.broker_lock_site(%d)" % st['site'])
        c.s.query("SET statement_timeout = '3s'")
        again = c.allocate(gw, g, [h1])
        c.s.query("RESET statement_timeout")
        check_eq(again, first, 'same answer')
        after = c.state()
        check_eq(after[0][:4], before[0][:4], 'no new block, assignment, device')
        check_eq(after[0][6], before[0][6], 'no new Kea reservation')
        # Meanwhile a new block for another flat must wait for the lock.
        c.s.query("SET statement_timeout = '300ms'")
        try:
            c.allocate(st['gateways'][1], c.mac())
            raise AssertionError('a new block was made under another '
                                 'session\'s site lock')
        except SqlError as e:
            check_eq(e.sqlstate, '57014', 'new block waits for the site lock')
        c.s.query("RESET statement_timeout")
    finally:
        other.query("ROLLBACK")
        other.close()
    check_eq(c.add(flat, h1)['address'], first['handsets'][0]['address'],
             'add_handset of a MAC that has an address returns it')


@case
def full_block_grows_in_place_keeping_the_gateway(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g = c.mac()
    hs = [c.mac() for _ in range(3)]
    c.allocate(gw, g, hs)
    r = c.add(flat, c.mac())   # 4th handset: block of 4 is full
    check_eq(r['block'], {'first': '10.1.0.1', 'last': '10.1.0.8', 'size': 8},
             'grown in place by block_size')
    check_eq(r['address'], '10.1.0.5', 'new handset in the new room')
    check_eq(c.assigned(flat)[g], '10.1.0.1', 'gateway kept its address')
    check_eq(c.hosts(flat), c.assigned(flat), 'Kea follows')
    check_eq(c.s.query("SELECT count(*) FROM dpn.lease_deletions WHERE "
                       "site_id = %d" % st['site']), [['0']],
             'no lease to delete when growing in place')


@case
def full_block_moves_when_blocked_and_old_block_is_returned(c):
    st = c.site()
    (fa, fb), (ga, gb) = st['flats'][:2], st['gateways'][:2]
    ma = c.mac()
    hs = [c.mac() for _ in range(3)]
    c.allocate(ga, ma, hs)               # 10.1.0.1-4
    c.allocate(gb, c.mac())              # 10.1.0.5-8 blocks growth
    old = c.assigned(fa)
    free_before = c.free(st['site'])
    h4 = c.mac()
    r = c.add(fa, h4)
    check_eq(r['block'], {'first': '10.1.0.9', 'last': '10.1.0.16', 'size': 8},
             'moved to a new, bigger block')
    now = c.assigned(fa)
    check_eq(now[ma], '10.1.0.9', 'gateway has the new first address')
    for i, h in enumerate(hs):
        check_eq(now[h], '10.1.0.%d' % (10 + i), 'handset renumbered at the '
                 'same offset')
    check_eq(now[h4], '10.1.0.13', 'new handset')
    check_eq(c.hosts(fa), now, 'Kea follows the move')
    queued = sorted(c.s.query("SELECT dpn.ip4(addr), mac FROM "
                              "dpn.lease_deletions WHERE site_id = %d" % st['site']))
    check_eq(queued, sorted([v, k] for k, v in old.items()),
             'every old lease queued for deletion')
    check_eq(c.free(st['site']), free_before - 4, 'old 4 returned, new 8 taken')
    # The old room is free again: a new flat may get it.
    r3 = c.allocate(st['gateways'][2], c.mac())
    check(ip(r3['block']['first']) >= ip('10.1.0.17') or
          r3['block']['first'] == '10.1.0.1', 'third flat in free room')


@case
def flat_full_at_max_block_size_or_handset_numbers(c):
    st = c.site(block_size=4, max_block_size=10)
    gw, flat = st['gateways'][0], st['flats'][0]
    c.allocate(gw, c.mac(), [c.mac() for _ in range(9)])
    check_eq(c.s.query("SELECT upper(range) - lower(range) FROM dpn.blocks "
                       "WHERE flat_id = %d" % flat), [['10']],
             'block of 10 for 10 devices')
    c.refused("SELECT dpn.broker_add_handset(%d, %s)" % (flat, q(c.mac())),
              'D1003')
    # Handset numbers (w_handset = 1 -> 1..9) run out first when the block
    # could grow further.
    st2 = c.site(block_size=4, max_block_size=10)
    c.s.query("UPDATE dpn.sites SET max_block_size = 100 WHERE id = %d" % st2['site'])
    c.allocate(st2['gateways'][0], c.mac(), [c.mac() for _ in range(9)])
    c.refused("SELECT dpn.broker_add_handset(%d, %s)"
              % (st2['flats'][0], q(c.mac())), 'D1003')
    # Allocation asking for more than fits is refused whole.
    c.refused("SELECT dpn.broker_allocate(%d, %s, %s)"
              % (st['gateways'][1], q(c.mac()),
                 macs_sql([c.mac() for _ in range(10)])), 'D1003')


@case
def delete_handset_frees_its_address_for_reuse(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    h1, h2 = c.mac(), c.mac()
    c.allocate(gw, c.mac(), [h1, h2])
    r = c.s.json("SELECT dpn.broker_delete_handset(%d, %s)" % (flat, q(h1)))
    check_eq(r, {'deleted': ['10.1.0.2']}, 'answer')
    check(h1 not in c.hosts(flat), 'reservation gone')
    check_eq(c.s.query("SELECT dpn.ip4(addr), mac FROM dpn.lease_deletions "
                       "WHERE site_id = %d" % st['site']), [['10.1.0.2', h1]],
             'lease queued')
    check_eq(c.s.json("SELECT dpn.broker_delete_handset(%d, %s)" % (flat, q(h1))),
             {'deleted': []}, 'second delete: nothing left to free')
    check_eq(c.add(flat, c.mac())['address'], '10.1.0.2', 'address reused')
    c.refused("SELECT dpn.broker_delete_handset(%d, %s)" % (flat, q(c.mac())),
              'D1001', 'mac')


@case
def addresses_on_decline_probation_are_not_handed_out(c):
    st = c.site(block_size=4, max_block_size=10)
    gw, flat = st['gateways'][0], st['flats'][0]
    h1 = c.mac()
    c.allocate(gw, c.mac(), [h1])                        # .1 gateway, .2 h1
    c.s.query("INSERT INTO dpn.dhcp_probation (site_id, addr, since, until) "
              "VALUES (%d, dpn.ip4_num('10.1.0.3'), now(), now() + interval '1 hour')"
              % st['site'])
    check_eq(c.add(flat, c.mac())['address'], '10.1.0.4', 'skips .3 on probation')
    r = c.add(flat, c.mac())
    check_eq((r['address'], r['block']['size']), ('10.1.0.5', 8),
             'block grows rather than hand out .3')
    c.s.query("UPDATE dpn.dhcp_probation SET since = now() - interval '2 hours', "
              "until = now() - interval '1 second' "
              "WHERE site_id = %d" % st['site'])
    check_eq(c.add(flat, c.mac())['address'], '10.1.0.3', 'free again after probation')
    check_eq(c.s.query("SELECT count(*) FROM dpn.assignments a JOIN dpn.assignments b "
                       "ON a.site_id = b.site_id AND a.addr = b.addr AND a.id < b.id"),
             [['0']], 'no address twice')


@case
def delete_gateway_returns_the_block_to_the_pool(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    start = c.free(st['site'])
    g = c.mac()
    c.allocate(gw, g, [c.mac(), c.mac()])
    c.add(flat, c.mac())
    c.add(flat, c.mac())                 # grown to 8
    check_eq(c.free(st['site']), start - 8, 'block taken')
    r = c.s.json("SELECT dpn.broker_delete_gateway(%d, keep_gateway => true)" % flat)
    check_eq(len(r['deleted']), 5, 'five addresses deleted')
    check_eq(c.free(st['site']), start, 'free count back to the start')
    check_eq(c.hosts(flat), {}, 'no reservation left')
    check_eq(c.s.query("SELECT count(*) FROM dpn.lease_deletions WHERE "
                       "site_id = %d" % st['site']), [['5']], 'leases queued')
    # keep_gateway: the gateway may ask again and gets a block.
    again = c.allocate(gw, g)
    check_eq(again['gateway']['mac'], g, 'gateway kept')
    c.s.json("SELECT dpn.broker_delete_gateway(%d)" % flat)
    check_eq(c.s.query("SELECT count(*) FROM dpn.gateways WHERE flat_id = %d"
                       % flat), [['0']], 'gateway row gone by default')
    check_eq(c.free(st['site']), start, 'free count back again')
    c.refused("SELECT dpn.broker_delete_gateway(999999)", 'D1001', 'flat_id')


@case
def report_is_reconciled_and_the_database_wins(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g, h1, h2, stranger = c.mac(), c.mac(), c.mac(), c.mac()
    c.allocate(gw, g, [h1, h2])          # .1 g, .2 h1, .3 h2, .4 free
    before = c.state()
    r = c.s.json("SELECT dpn.broker_report(%d, %s, %s)" % (gw, q([
        {'mac': h1, 'address': '10.1.0.2'},          # agrees
        {'mac': stranger, 'address': '10.1.0.4'},    # db: free
    ]), q(['10.1.0.3', '10.1.0.200'])))              # db: h2; outside
    check_eq(r['differences'], [
        {'address': '10.1.0.3', 'reported': 'free', 'actual': h2},
        {'address': '10.1.0.4', 'reported': stranger, 'actual': 'free'},
        {'address': '10.1.0.200', 'reported': 'free', 'actual': 'outside'},
    ], 'differences')
    check_eq([a['address'] for a in r['assignments']],
             ['10.1.0.1', '10.1.0.2', '10.1.0.3'], 'the database\'s view')
    after = c.state()
    check_eq(after[0][:4], before[0][:4], 'nothing changed by a report')
    ok = c.s.json("SELECT dpn.broker_report(%d, %s, %s)" % (gw, q([
        {'mac': h1, 'address': '10.1.0.2'}, {'mac': h2, 'address': '10.1.0.3'}]),
        q(['10.1.0.4'])))
    check_eq(ok['differences'], [], 'agreeing report')
    forgot = c.s.json("SELECT dpn.broker_report(%d, '[]', '[]')" % gw)
    check_eq([d['address'] for d in forgot['differences']],
             ['10.1.0.2', '10.1.0.3'], 'handsets the gateway did not list')
    for bad, field in (("'{}'", 'allotted'),
                       (q([{'mac': h1}]), 'allotted[0]'),
                       (q([{'mac': 'zz', 'address': '10.1.0.2'}]), 'allotted[0].mac'),
                       (q([{'mac': h1, 'address': '10.1.0.256'}]), 'allotted[0].address'),
                       (q([{'mac': h1, 'address': '10.1.0.2'},
                           {'mac': h2, 'address': '10.1.0.2'}]), 'allotted[1].address')):
        c.refused("SELECT dpn.broker_report(%d, %s, '[]')" % (gw, bad), 'D1004',
                  field)
    c.refused("SELECT dpn.broker_report(%d, '[]', '[5]')" % gw, 'D1004', 'free[0]')
    c.refused("SELECT dpn.broker_report(%d, '[]', %s)"
              % (gw, q(['1.2.3.4'] * 4097)), 'D1004', 'free')
    c.refused("SELECT dpn.broker_report(999999, '[]', '[]')", 'D1001', 'gateway_id')


@case
def enrol_by_circuit_id(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g = c.mac()
    c.s.query("UPDATE dpn.gateways SET mac = %s WHERE id = %d" % (q(g), gw))
    h = c.mac()
    r = c.s.json("SELECT dpn.broker_enrol(%d, '1101-1201', %s)" % (st['site'], q(h)))
    check_eq((r['device'], r['suffix'], r['address'], r['pool_id']),
             ('handset', 1, '10.1.0.2', st['pool']), 'handset first seen')
    r = c.s.json("SELECT dpn.broker_enrol(%d, '1101-1201', %s)" % (st['site'], q(g)))
    check_eq((r['device'], r['address']), ('gateway', '10.1.0.1'),
             'gateway MAC gets the first address')
    check_eq(c.hosts(flat), {g: '10.1.0.1', h: '10.1.0.2'}, 'Kea reservations')
    again = c.s.json("SELECT dpn.broker_enrol(%d, '1101-1201', %s)"
                     % (st['site'], q(h)))
    check_eq(again['address'], '10.1.0.2', 'idempotent')
    c.refused("SELECT dpn.broker_enrol(%d, 'nope', %s)" % (st['site'], q(c.mac())),
              'D1001', 'circuit_id')
    c.refused("SELECT dpn.broker_enrol(%d, '', %s)" % (st['site'], q(c.mac())),
              'D1004', 'circuit_id')
    # The same circuit-id in another site is another flat.
    c.refused("SELECT dpn.broker_enrol(999999, '1101-1201', %s)" % q(c.mac()),
              'D1001', 'circuit_id')
    # A MAC of another flat's handset is not stolen.
    c.refused("SELECT dpn.broker_enrol(%d, '1101-1202', %s)" % (st['site'], q(h)),
              'D1004', 'mac')


@case
def pool_exhaustion_and_second_pool(c):
    st = c.site(cidr='10.9.0.0/29', flats=3)   # 6 usable: one block of 4
    c.allocate(st['gateways'][0], c.mac())
    c.refused("SELECT dpn.broker_allocate(%d, %s, '{}')"
              % (st['gateways'][1], q(c.mac())), 'D1002')
    c.s.query("INSERT INTO dpn.pools (site_id, cidr) VALUES (%d, '10.9.1.0/29')"
              % st['site'])
    r = c.allocate(st['gateways'][1], c.mac())
    check_eq(r['block']['first'], '10.9.1.1', 'second pool used')
    util = c.s.json("SELECT dpn.pool_utilisation(%d)" % st['site'])
    check_eq([(u['size'], u['allotted'], u['free'], u['blocks'], u['assigned'])
              for u in util], [(6, 4, 2, 1, 1), (6, 4, 2, 1, 1)], 'utilisation')
    c.refused("SELECT dpn.pool_utilisation(999999)", 'D1001', 'site_id')


@case
def freed_room_is_found_again_after_the_hint(c):
    st = c.site(cidr='10.9.2.0/28', flats=4)   # 14 usable: 3 blocks of 4
    for gw in st['gateways'][:3]:
        c.allocate(gw, c.mac())
    c.refused("SELECT dpn.broker_allocate(%d, %s, '{}')"
              % (st['gateways'][3], q(c.mac())), 'D1002')
    c.s.json("SELECT dpn.broker_delete_gateway(%d)" % st['flats'][0])
    r = c.allocate(st['gateways'][3], c.mac())
    check_eq(r['block']['first'], '10.9.2.1', 'first-block room reused')


@case
def replaced_gateway_box_takes_over_its_address(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    old, new, h = c.mac(), c.mac(), c.mac()
    c.allocate(gw, old, [h])
    r = c.allocate(gw, new)
    check_eq(r['gateway'], {'mac': new, 'address': '10.1.0.1'}, 'same address')
    check_eq(c.hosts(flat), {new: '10.1.0.1', h: '10.1.0.2'},
             'Kea reservation moved to the new MAC')
    check_eq(c.s.query("SELECT dpn.ip4(addr), mac FROM dpn.lease_deletions "
                       "WHERE site_id = %d" % st['site']), [['10.1.0.1', old]],
             'the old box\'s lease queued for deletion')


@case
def handset_before_its_gateway_gets_a_block_with_the_first_kept(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    h = c.mac()
    r = c.add(flat, h)
    check_eq((r['address'], r['block']['first']), ('10.1.0.2', '10.1.0.1'),
             'second address; first kept for the gateway')
    g = c.mac()
    a = c.allocate(gw, g)
    check_eq(a['gateway']['address'], '10.1.0.1', 'gateway gets the first later')
    check_eq(a['handsets'], [{'mac': h, 'suffix': 1, 'address': '10.1.0.2'}],
             'the earlier handset is listed')


@case
def a_handset_request_writes_one_audit_row_saying_what_it_did(c):
    """Schema 105: enrolling, filling a MAC-less handset and asking again
    each write one row that names the handset, flat, MAC, address and
    caller; an allocation's handsets still get their "broker.enrol" row."""
    st = c.site()
    flat, s = st['flats'][0], c.s
    mark = s.query("SELECT coalesce(max(id), 0) FROM dpn.audit_log")[0][0]
    s.query("INSERT INTO dpn.handsets (flat_id, suffix) VALUES (%d, 1)" % flat)
    waiting = s.query("SELECT id FROM dpn.handsets WHERE flat_id = %d" % flat)[0][0]
    h1, h2 = c.mac(), c.mac()
    a1, a2, again = c.add(flat, h1), c.add(flat, h2), c.add(flat, h1)
    check_eq(again, a1, 'asking again answers the same')
    h2id = s.query("SELECT id FROM dpn.handsets WHERE mac = %s" % q(h2))[0][0]
    rows = [(r[0], r[1], r[2], json.loads(r[3])) for r in s.query(
        "SELECT actor, action, object, detail FROM dpn.audit_log WHERE id > %s "
        "AND action LIKE 'broker.%%' ORDER BY id" % mark)]
    block = a1['block']
    check_eq(rows, [
        ('test:broker', 'broker.add_handset', 'handset:' + waiting,
         {'flat_id': flat, 'suffix': 1, 'mac': h1, 'address': a1['address'],
          'block': block, 'enrolled': True, 'filled': True}),
        ('test:broker', 'broker.add_handset', 'handset:' + h2id,
         {'flat_id': flat, 'suffix': 2, 'mac': h2, 'address': a2['address'],
          'block': block, 'enrolled': True})],
             'one row per enrolling request; none for a repeat')
    # An allocation listing a new handset: "broker.enrol" then the allocation.
    h3 = c.mac()
    c.allocate(st['gateways'][0], c.mac(), [h3])
    rows = s.query("SELECT action, detail->>'mac', detail->>'suffix' FROM "
                   "dpn.audit_log WHERE id > %s AND detail->>'mac' = %s"
                   % (mark, q(h3)))
    check_eq(rows, [['broker.enrol', h3, '3']], 'allocation enrols as before')
    c.refused("SELECT dpn.broker_add_handset(%d, '01:00:00:00:00:01')" % flat,
              'D1004', 'mac')


@case
def a_busy_lane_does_not_hold_up_new_blocks(c):
    # 10.1.0.0/20: 4,094 usable addresses, 3 lanes of 1,364 (the last 1,366).
    st = c.site(cidr='10.1.0.0/20')
    lane1 = ipaddress.IPv4Address('10.1.0.1') + 1364
    other = Session(c.pg)
    try:
        other.query("BEGIN")
        first = other.json("SELECT dpn.broker_allocate(%d, %s, '{}')"
                           % (st['gateways'][0], q(c.mac())))
        check_eq(first['block']['first'], '10.1.0.1', 'lane 0 first')
        c.s.query("SET statement_timeout = '3s'")
        r = c.allocate(st['gateways'][1], c.mac())
        c.s.query("RESET statement_timeout")
        check_eq(r['block']['first'], str(lane1),
                 'the next lane, without waiting for lane 0')
    finally:
        other.query("COMMIT")
        other.close()
    r = c.allocate(st['gateways'][2], c.mac())
    check_eq(r['block']['first'], '10.1.0.5', 'back to the end of lane 0')
    # A lane without room gives its lock back at once.
    c.s.query("BEGIN")
    try:
        got = c.s.query("SELECT dpn.broker_lane_try(p, 0, 2000) IS NULL, "
                        "(SELECT count(*) FROM pg_locks WHERE locktype = "
                        "'advisory' AND pid = pg_backend_pid()) FROM dpn.pools p "
                        "WHERE p.id = %d" % st['pool'])
        check_eq(got, [['t', '0']], 'no room: NULL and no lock held')
        got = c.s.query("SELECT dpn.broker_lane_try(p, 0, 4) IS NULL, "
                        "(SELECT count(*) FROM pg_locks WHERE locktype = "
                        "'advisory' AND pid = pg_backend_pid()) FROM dpn.pools p "
                        "WHERE p.id = %d" % st['pool'])
        check_eq(got, [['f', '1']], 'room: the lane is held')
    finally:
        c.s.query("ROLLBACK")


@case
def bad_arguments_are_refused_and_change_nothing(c):
    st = c.site()
    gw, flat = st['gateways'][0], st['flats'][0]
    g, h = c.mac(), c.mac()
    c.allocate(gw, g, [h])
    A = "SELECT dpn.broker_allocate(%s, %s, %s)"
    c.refused(A % ('NULL', q(g), "'{}'"), 'D1004', 'gateway_id')
    c.refused(A % (gw, 'NULL', "'{}'"), 'D1004', 'gateway_mac')
    c.refused(A % (gw, "'01:00:5e:00:00:01'", "'{}'"), 'D1004', 'gateway_mac')
    c.refused(A % (gw, "'00:00:00:00:00:00'", "'{}'"), 'D1004', 'gateway_mac')
    c.refused(A % (gw, q(g), macs_sql([h, h])), 'D1004', 'handset_macs[1]')
    c.refused(A % (gw, q(g), macs_sql([g])), 'D1004', 'handset_macs[0]')
    c.refused(A % (gw, q(g), "ARRAY[NULL]::macaddr[]"), 'D1004', 'handset_macs[0]')
    c.refused(A % (gw, q(g), "array_fill('02:00:00:00:00:99'::macaddr, "
                   "ARRAY[1001])"), 'D1004', 'handset_macs')
    c.refused(A % (999999, q(g), "'{}'"), 'D1001', 'gateway_id')
    # Another flat's gateway may not claim this gateway's MAC, nor a handset's.
    c.refused(A % (st['gateways'][1], q(g), "'{}'"), 'D1004', 'gateway_mac')
    c.refused(A % (st['gateways'][1], q(h), "'{}'"), 'D1004', 'gateway_mac')
    c.refused(A % (st['gateways'][1], q(c.mac()), macs_sql([h])), 'D1004', 'handset_macs[0]')
    H = "SELECT dpn.broker_add_handset(%s, %s)"
    c.refused(H % (999999, q(c.mac())), 'D1001', 'flat_id')
    c.refused(H % ('NULL', q(c.mac())), 'D1004', 'flat_id')
    c.refused(H % (flat, 'NULL'), 'D1004', 'mac')
    c.refused(H % (flat, q(g)), 'D1004', 'mac')
    c.refused(H % (st['flats'][1], q(h)), 'D1004', 'mac')
    c.refused("SELECT dpn.broker_delete_handset(%d, NULL)" % flat, 'D1004', 'mac')
    # The broker needs READ COMMITTED; under another isolation it refuses.
    c.s.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        c.s.query(A % (gw, q(g), "'{}'"))
        raise AssertionError('allocation accepted under REPEATABLE READ')
    except SqlError as e:
        check_eq(e.sqlstate, 'D1004', 'isolation refused')
    finally:
        c.s.query("ROLLBACK")


@case
def a_deleted_reservation_is_notified_without_flushing_the_hooks_cache(c):
    """Kea's hook hears each reservation that goes (schema 012); the
    cascade to the host's options (none here) must not also send "flush",
    which empties the hook's whole cache (schema 102)."""
    st = c.site()
    c.allocate(st['gateways'][0], c.mac(), [c.mac()])
    ls = Session(c.pg)
    try:
        ls.query("LISTEN dpn_hosts")
        c.s.query("SELECT dpn.broker_delete_gateway(%d)" % st['flats'][0])
        notes = []

        def heard():
            lines = ('\t'.join(r) for r in ls.query("SELECT 1"))
            notes.extend(l for l in lines if 'notification' in l)
            return len(notes) >= 2
        wait_for(heard, 5, 'the two reservations notified')
        check(not any('"flush"' in n for n in notes), 'flush sent: %r' % notes)
    finally:
        ls.close()


@case
def a_deferring_session_notifies_after_its_commit_not_on_rollback(c):
    """A session with dpn.notify_defer = on (mgmtd's, schema 103) sends
    nothing from inside its transactions: a committed request's
    notifications wait in the session until dpn.notify_flush() sends them,
    same channels and payloads, once; a rolled-back request's are gone."""
    st = c.site()
    ls, s = Session(c.pg), Session(c.pg, actor='test:broker')

    def heard():
        lines = ('\t'.join(r) for r in ls.query("SELECT 1"))
        return [l for l in lines if l.startswith('Asynchronous notification')]
    try:
        ls.query("LISTEN dpn_hosts")
        ls.query("LISTEN dpn_gk")
        s.query("SET dpn.notify_defer = on")
        s.query("BEGIN")
        s.query("SELECT dpn.broker_allocate(%d, %s, '{}')" % (st['gateways'][1], q(c.mac())))
        s.query("ROLLBACK")
        check_eq(s.query("SELECT dpn.notify_flush()"), [['0']], 'nothing after a rollback')
        s.query("SELECT dpn.broker_allocate(%d, %s, %s)"
                % (st["gateways"][0], q(c.mac()), macs_sql([c.mac()])))
        pending = s.query("SELECT replace(current_setting('dpn.notify_pending'), "
                          "chr(10), ' | ')")[0][0]
        check('dpn_hosts ' in pending and 'dpn_gk flat ' in pending,
              'queued after the commit: %r' % pending)
        check_eq(heard(), [], 'nothing sent by the commit')
        sent = int(s.query("SELECT dpn.notify_flush()")[0][0])
        check(sent >= 2, 'flush sent %d' % sent)
        notes = []
        wait_for(lambda: len(notes.extend(heard()) or notes) >= 2, 5, 'the flush heard')
        check(any('"dpn_gk" with payload "flat %d %d"' % (st['site'], st['flats'][0]) in n
                  for n in notes), 'the flat notified: %r' % notes)
        check_eq(s.query("SELECT dpn.notify_flush()"), [['0']], 'sent once')
    finally:
        s.close()
        ls.close()

@case
def plans_cached_on_small_tables_still_use_indexes_once_they_grow(c):
    """A cold start (schema 101): a session caches its plans while the
    broker's tables hold a few rows; once they hold thousands, a handset
    request and a gateway's deletion still read them by index, not whole.
    Runs last: it empties the broker's tables first."""
    c.s.query("DELETE FROM dpn.blocks")
    c.s.query("DELETE FROM dpn.handsets")
    c.s.query("VACUUM dpn.handsets, dpn.assignments, dpn.blocks, public.hosts")
    st = c.site(block_size=8, max_block_size=10, flats=3)
    big = c.site(flats=400, cidr='10.2.0.0/16')
    s = Session(c.pg, actor='test:broker')
    try:
        g0 = c.mac()
        s.query("SELECT dpn.broker_allocate(%d, %s, '{}')" % (st['gateways'][0], q(g0)))
        for _ in range(8):     # more than the 5 custom plans before a generic one
            m = c.mac()
            s.query("SELECT dpn.broker_add_handset(%d, %s)" % (st['flats'][0], q(m)))
            s.query("SELECT dpn.broker_delete_handset(%d, %s)" % (st['flats'][0], q(m)))
        c.s.query("INSERT INTO dpn.handsets (flat_id, suffix, mac) SELECT f, k, "
                  "('0e00' || lpad(to_hex(f * 16 + k), 8, '0'))::macaddr "
                  "FROM unnest(ARRAY[%s]::bigint[]) f, generate_series(1, 8) k"
                  % ','.join(str(f) for f in big['flats']))
        for i, f in enumerate(big['flats'][:300]):
            c.s.query("SELECT dpn.broker_allocate(%d, %s, '{}')"
                      % (big['gateways'][i], q(mac(0x500000 + i))))
        s.query("BEGIN")
        s.query("SELECT dpn.broker_add_handset(%d, %s)" % (st['flats'][0], q(c.mac())))
        s.query("SELECT dpn.broker_delete_gateway(%d)" % st['flats'][0])
        scans = dict(s.query("SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
                             "WHERE relname IN ('handsets', 'assignments', 'blocks', "
                             "'hosts', 'gateways', 'flats')"))
        s.query("COMMIT")
        check_eq({k: v for k, v in scans.items() if v != '0'}, {},
                 'tables read whole by a handset request and a deletion')
    finally:
        s.close()


if __name__ == '__main__':
    run_cases(Ctx)
