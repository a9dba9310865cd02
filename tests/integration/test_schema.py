#!/usr/bin/env python3
"""test_schema — every constraint of schema/ violated directly by SQL is
refused with the constraint's SQLSTATE, and the refused statement changes
nothing; the carried columns are filled for callers that name only the
parent, and a parent change that would break a child is refused."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq  # noqa: E402
from broker import (Session, SqlError, apply_schema, make_site, mac, q,  # noqa: E402
                    run_cases)

UNIQUE, CHECK, FK, EXCLUSION = '23505', '23514', '23503', '23P01'
TABLES = ('sites', 'pools', 'buildings', 'flats', 'gateways', 'handsets',
          'blocks', 'assignments', 'audit_log', 'users', 'sessions')


def counts(s):
    return s.query('SELECT ' + ', '.join(
        '(SELECT count(*) FROM dpn.%s)' % t for t in TABLES) +
        ', (SELECT count(*) FROM public.hosts)')


def refused(s, sql, state, name=None):
    """sql must fail with SQLSTATE state (and name the constraint) and leave
    every table as it was."""
    before = counts(s)
    try:
        s.query(sql)
    except SqlError as e:
        check_eq(e.sqlstate, state, 'SQLSTATE of: ' + sql)
        if name:
            check(name in e.message, '%s named in: %s' % (name, e.message))
        check_eq(counts(s), before, 'tables after the refused ' + sql)
        return
    raise AssertionError('accepted: ' + sql)


def block_sql(site, flat, pool, lo, n):
    """A direct block insert (what only the broker does)."""
    return ("INSERT INTO dpn.blocks (flat_id, site_id, pool_id, range, "
            "pool_range, block_cap) SELECT %d, %d, p.id, int8range(%d, %d), "
            "p.range, s.block_cap FROM dpn.pools p JOIN dpn.sites s "
            "ON s.id = p.site_id WHERE p.id = %d"
            % (flat, site, lo, lo + n, pool))


def pool_lo(s, pool):
    return int(s.query('SELECT lower(range) FROM dpn.pools WHERE id = %d'
                       % pool)[0][0])


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        apply_schema(pg)
        self.a = make_site(pg, number=100, cidr='10.0.0.0/24', flats=4)
        self.b = make_site(pg, number=200, cidr='10.0.0.0/24', flats=2)
        self.s = Session(pg)


@case
def sites_numbers_widths_and_block_sizes(c):
    refused(c.s, "INSERT INTO dpn.sites (number) VALUES (100)", UNIQUE,
            'sites_number_unique')
    refused(c.s, "INSERT INTO dpn.sites (number) VALUES (1000)", CHECK,
            'sites_number_fits')
    refused(c.s, "INSERT INTO dpn.sites (number) VALUES (-1)", CHECK)
    refused(c.s, "INSERT INTO dpn.sites (number, w_flat) VALUES (301, 0)",
            CHECK)
    refused(c.s, "INSERT INTO dpn.sites (number, w_handset) VALUES (301, 10)",
            CHECK)
    refused(c.s, "INSERT INTO dpn.sites (number, block_size) VALUES (301, 1)",
            CHECK, 'sites_block_size_range')
    refused(c.s, "INSERT INTO dpn.sites (number, block_size, max_block_size) "
            "VALUES (301, 8, 4)", CHECK, 'sites_max_block_size_range')
    refused(c.s, "INSERT INTO dpn.sites (number, block_size, max_block_size) "
            "VALUES (301, 16, 32)", CHECK, 'sites_block_size_fits_handsets')
    check_eq(c.s.query("SELECT block_cap FROM dpn.sites WHERE number = 100"),
             [['10']], 'block_cap = least(max_block_size, 10^w_handset)')


@case
def pools_are_ipv4_and_do_not_overlap_within_a_site(c):
    site = c.a['site']
    refused(c.s, "INSERT INTO dpn.pools (site_id, cidr) VALUES (%d, "
            "'10.0.0.128/25')" % site, EXCLUSION, 'pools_no_overlap')
    refused(c.s, "INSERT INTO dpn.pools (site_id, cidr) VALUES (%d, "
            "'fd00::/64')" % site, CHECK, 'pools_ipv4')
    refused(c.s, "INSERT INTO dpn.pools (site_id, cidr) VALUES (%d, "
            "'10.9.0.0/31')" % site, CHECK, 'pools_ipv4')
    refused(c.s, "INSERT INTO dpn.pools (site_id, cidr) VALUES (999, "
            "'10.9.0.0/24')", FK)
    refused(c.s, "INSERT INTO dpn.pools (id, site_id, cidr) VALUES "
            "(4294967295, %d, '10.9.0.0/24')" % site, CHECK,
            'pools_kea_subnet_id')
    check_eq(c.s.query("SELECT dpn.ip4(lower(range)), dpn.ip4(upper(range)-1)"
                       " FROM dpn.pools WHERE id = %d" % c.a['pool']),
             [['10.0.0.1', '10.0.0.254']],
             'usable range leaves out network and broadcast')
    # Another site may reuse the same CIDR (make_site did): that is the point.
    check_eq(c.s.query("SELECT count(*) FROM dpn.pools WHERE cidr = "
                       "'10.0.0.0/24'"), [['2']], 'same CIDR in two sites')


@case
def buildings_and_flats_numbers_unique_and_fitting(c):
    site, bld = c.a['site'], c.a['building']
    refused(c.s, "INSERT INTO dpn.buildings (site_id, number) VALUES "
            "(%d, 1101)" % site, UNIQUE, 'buildings_number_unique')
    refused(c.s, "INSERT INTO dpn.buildings (site_id, number) VALUES "
            "(%d, 10000)" % site, CHECK, 'buildings_number_fits')
    refused(c.s, "INSERT INTO dpn.flats (building_id, number) VALUES "
            "(%d, 1201)" % bld, UNIQUE, 'flats_number_unique')
    refused(c.s, "INSERT INTO dpn.flats (building_id, number) VALUES "
            "(%d, 10000)" % bld, CHECK, 'flats_number_fits')
    refused(c.s, "INSERT INTO dpn.flats (building_id, number, circuit_id) "
            "VALUES (%d, 1301, '1101-1201')" % bld, UNIQUE,
            'flats_circuit_unique')
    refused(c.s, "INSERT INTO dpn.flats (building_id, number, circuit_id) "
            "VALUES (%d, 1302, 'has space')" % bld, CHECK,
            'flats_circuit_id_text')
    refused(c.s, "INSERT INTO dpn.flats (building_id, number) VALUES "
            "(999999, 1)", FK)
    row = c.s.query("SELECT f.site_id, f.circuit_id, f.w_flat FROM dpn.flats f "
                    "WHERE f.building_id = %d AND f.number = 1201" % bld)
    check_eq(row, [[str(site), '1101-1201', '4']],
             'carried site, default circuit-id BBBB-FFFF')


@case
def site_change_that_breaks_a_child_is_refused(c):
    site = c.a['site']
    refused(c.s, "UPDATE dpn.sites SET w_flat = 3 WHERE id = %d" % site,
            CHECK, 'flats_number_fits')
    refused(c.s, "UPDATE dpn.sites SET w_building = 3 WHERE id = %d" % site,
            CHECK, 'buildings_number_fits')
    # A width that still fits is accepted and carried to the children.
    c.s.query("UPDATE dpn.sites SET w_flat = 5 WHERE id = %d" % site)
    check_eq(c.s.query("SELECT DISTINCT w_flat FROM dpn.flats WHERE site_id "
                       "= %d" % site), [['5']], 'w_flat carried')
    c.s.query("UPDATE dpn.sites SET w_flat = 4 WHERE id = %d" % site)


@case
def gateways_one_per_flat_and_unique_mac(c):
    f0, f1 = c.a['flats'][:2]
    sha = "sha256('x')"
    refused(c.s, "INSERT INTO dpn.gateways (flat_id, username, secret_hash) "
            "VALUES (%d, 'second', %s)" % (f0, sha), UNIQUE,
            'gateways_one_per_flat')
    c.s.query("UPDATE dpn.gateways SET mac = %s WHERE flat_id = %d"
              % (q(mac(1)), f0))
    refused(c.s, "UPDATE dpn.gateways SET mac = %s WHERE flat_id = %d"
            % (q(mac(1)), f1), UNIQUE, 'gateways_mac_unique')
    refused(c.s, "UPDATE dpn.gateways SET secret_hash = 'short' WHERE "
            "flat_id = %d" % f1, CHECK, 'gateways_secret_hash_sha256')
    refused(c.s, "UPDATE dpn.gateways SET username = %s WHERE flat_id = %d"
            % (q('gw-%d-%d' % (c.a['site'], f0)), f1), UNIQUE,
            'gateways_username_unique')
    # The same MAC in another site is fine (duplicate private network).
    c.s.query("UPDATE dpn.gateways SET mac = %s WHERE flat_id = %d"
              % (q(mac(1)), c.b['flats'][0]))
    c.s.query("UPDATE dpn.gateways SET mac = NULL")


@case
def handsets_suffix_in_range_and_unique(c):
    f0, f1 = c.a['flats'][:2]
    ins = "INSERT INTO dpn.handsets (flat_id, suffix, mac) VALUES (%d, %d, %s)"
    c.s.query(ins % (f0, 1, q(mac(0x101))))
    refused(c.s, ins % (f0, 0, q(mac(0x102))), CHECK, 'handsets_suffix_fits')
    refused(c.s, ins % (f0, 10, q(mac(0x102))), CHECK, 'handsets_suffix_fits')
    refused(c.s, ins % (f0, 1, q(mac(0x102))), UNIQUE, 'handsets_suffix_unique')
    refused(c.s, ins % (f1, 1, q(mac(0x101))), UNIQUE, 'handsets_mac_unique')
    refused(c.s, "UPDATE dpn.handsets SET ha1_md5 = 'nothex' WHERE flat_id = %d"
            % f0, CHECK, 'handsets_ha1_md5_hex')
    c.s.query("DELETE FROM dpn.handsets WHERE flat_id = %d" % f0)


@case
def handsets_carried_columns_filled_when_missing_and_verified_when_given(c):
    """Schema 107: the fill trigger runs when site_id or w_handset is
    missing (and on a move to another flat); given ones are verified by
    the foreign key handsets_flat."""
    f0, b0 = c.a['flats'][0], c.b['flats'][0]
    site, w = c.s.query("SELECT site_id, w_handset FROM dpn.flats WHERE id = %d" % f0)[0]
    ins = ("INSERT INTO dpn.handsets (flat_id, site_id, w_handset, suffix, mac) "
           "VALUES (%d, %s, %s, 1, %s)")
    refused(c.s, ins % (f0, c.b['site'], w, q(mac(0x201))), FK, 'handsets_flat')
    refused(c.s, ins % (f0, site, 9, q(mac(0x201))), FK, 'handsets_flat')
    c.s.query(ins % (f0, site, w, q(mac(0x201))))
    c.s.query("INSERT INTO dpn.handsets (flat_id, w_handset, suffix, mac) "
              "VALUES (%d, 9, 2, %s)" % (f0, q(mac(0x202))))
    check_eq(c.s.query("SELECT suffix, site_id, w_handset FROM dpn.handsets "
                       "WHERE flat_id = %d ORDER BY suffix" % f0),
             [['1', site, w], ['2', site, w]], 'given and filled rows')
    c.s.query("UPDATE dpn.handsets SET flat_id = %d WHERE flat_id = %d AND "
              "suffix = 2" % (b0, f0))
    check_eq(c.s.query("SELECT site_id FROM dpn.handsets WHERE mac = %s"
                       % q(mac(0x202))), [[str(c.b['site'])]], 'moved and refilled')
    c.s.query("DELETE FROM dpn.handsets WHERE mac IN (%s, %s)"
              % (q(mac(0x201)), q(mac(0x202))))


@case
def blocks_inside_a_pool_of_their_site_and_never_overlapping(c):
    site, pool, (f0, f1, f2, _) = c.a['site'], c.a['pool'], c.a['flats']
    lo = pool_lo(c.s, pool)
    c.s.query(block_sql(site, f0, pool, lo, 4))
    refused(c.s, block_sql(site, f1, pool, lo + 2, 4), EXCLUSION,
            'blocks_no_overlap')
    refused(c.s, block_sql(site, f0, pool, lo + 8, 4), UNIQUE,
            'blocks_one_per_flat')
    refused(c.s, block_sql(site, f1, pool, lo + 252, 4), CHECK,
            'blocks_inside_pool')
    refused(c.s, block_sql(site, f1, pool, lo - 1, 4), CHECK,
            'blocks_inside_pool')
    refused(c.s, block_sql(site, f1, pool, lo + 8, 11), CHECK,
            'blocks_size_range')
    refused(c.s, block_sql(site, f1, pool, lo + 8, 1), CHECK,
            'blocks_size_range')
    # A block of one site in another site's pool, or lying about the pool.
    refused(c.s, block_sql(site, f1, c.b['pool'], lo + 8, 4), FK)
    refused(c.s, "INSERT INTO dpn.blocks (flat_id, site_id, pool_id, range, "
            "pool_range, block_cap) VALUES (%d, %d, %d, int8range(1, 5), "
            "int8range(0, 100), 10)" % (f1, site, pool), FK, 'blocks_pool')
    refused(c.s, "INSERT INTO dpn.blocks (flat_id, site_id, pool_id, range, "
            "pool_range, block_cap) SELECT %d, %d, %d, int8range(%d, %d), "
            "range, 99 FROM dpn.pools WHERE id = %d"
            % (f1, site, pool, lo + 8, lo + 20, pool), FK, 'blocks_site_cap')
    # Blocks of different sites may overlap: each site has its own addresses.
    c.s.query(block_sql(c.b['site'], c.b['flats'][0], c.b['pool'], lo, 4))
    # Parent changes that would strand a block are refused.
    refused(c.s, "UPDATE dpn.sites SET max_block_size = 3, block_size = 2 "
            "WHERE id = %d" % site, CHECK, 'blocks_size_range')
    refused(c.s, "UPDATE dpn.pools SET cidr = '10.0.0.128/25' WHERE id = %d"
            % pool, CHECK, 'blocks_inside_pool')
    refused(c.s, "DELETE FROM dpn.pools WHERE id = %d" % pool, FK)
    c.s.query("DELETE FROM dpn.blocks")


def assign_sql(c, flat, dev, off, gw=True, mac_of=None):
    """A direct assignment insert of device dev at block offset off."""
    return ("INSERT INTO dpn.assignments (site_id, flat_id, block_id, pool_id,"
            " block_range, circuit_id, %s, mac, addr) SELECT b.site_id, "
            "b.flat_id, b.id, b.pool_id, b.range, f.circuit_id, %d, %s, "
            "lower(b.range) + %d FROM dpn.blocks b JOIN dpn.flats f ON "
            "f.id = b.flat_id WHERE b.flat_id = %d"
            % ('gateway_id' if gw else 'handset_id', dev, q(mac_of), off, flat))


@case
def assignments_inside_the_block_gateway_first_one_per_address(c):
    site, pool, (f0, f1, f2, _) = c.a['site'], c.a['pool'], c.a['flats']
    g0, g1 = c.a['gateways'][:2]
    lo = pool_lo(c.s, pool)
    c.s.query(block_sql(site, f0, pool, lo, 4))
    c.s.query(block_sql(site, f1, pool, lo + 4, 4))
    c.s.query("UPDATE dpn.gateways SET mac = %s WHERE id = %d" % (q(mac(1)), g0))
    c.s.query("UPDATE dpn.gateways SET mac = %s WHERE id = %d" % (q(mac(2)), g1))
    h = [int(c.s.query("INSERT INTO dpn.handsets (flat_id, suffix, mac) VALUES"
                       " (%d, %d, %s) RETURNING id" % (f0, i, q(mac(0x100 + i))))[0][0])
         for i in (1, 2)]
    refused(c.s, assign_sql(c, f0, g0, 1, mac_of=mac(1)), CHECK,
            'assignments_gateway_first')
    refused(c.s, assign_sql(c, f1, g0, 0, mac_of=mac(1)), FK,
            'assignments_gateway')
    c.s.query(assign_sql(c, f0, g0, 0, mac_of=mac(1)))
    refused(c.s, assign_sql(c, f0, h[0], 0, gw=False, mac_of=mac(0x101)),
            CHECK, 'assignments_handset_not_first')
    refused(c.s, assign_sql(c, f0, h[0], 4, gw=False, mac_of=mac(0x101)),
            CHECK, 'assignments_inside_block')
    refused(c.s, assign_sql(c, f0, h[0], 1, gw=False, mac_of=mac(0x999)), FK,
            'assignments_handset')
    c.s.query(assign_sql(c, f0, h[0], 1, gw=False, mac_of=mac(0x101)))
    refused(c.s, assign_sql(c, f0, h[1], 1, gw=False, mac_of=mac(0x102)),
            UNIQUE, 'assignments_addr_unique')
    refused(c.s, assign_sql(c, f0, h[0], 2, gw=False, mac_of=mac(0x101)),
            UNIQUE, 'assignments_handset_unique')
    refused(c.s, "UPDATE dpn.assignments SET handset_id = NULL WHERE "
            "handset_id = %d" % h[0], CHECK, 'assignments_one_device')
    refused(c.s, "UPDATE dpn.assignments SET addr = addr + 10 WHERE handset_id"
            " = %d" % h[0], CHECK, 'assignments_inside_block')
    # Another flat's block, with this flat's device: the FK refuses it.
    refused(c.s, "UPDATE dpn.assignments SET block_id = (SELECT id FROM "
            "dpn.blocks WHERE flat_id = %d) WHERE handset_id = %d" % (f1, h[0]),
            FK)
    # Growing the block in place carries the range; the gateway stays first.
    c.s.query("DELETE FROM dpn.blocks WHERE flat_id = %d" % f1)
    c.s.query("UPDATE dpn.blocks SET range = int8range(lower(range), "
              "lower(range) + 8) WHERE flat_id = %d" % f0)
    check_eq(c.s.query("SELECT DISTINCT upper(block_range) - lower(block_range)"
                       " FROM dpn.assignments"), [['8']], 'block_range carried')
    # Moving the block under its gateway is refused (its address would stay).
    refused(c.s, "UPDATE dpn.blocks SET range = int8range(lower(range) + 8, "
            "lower(range) + 16) WHERE flat_id = %d" % f0, CHECK)


@case
def kea_hosts_follow_direct_assignment_changes(c):
    f0 = c.a['flats'][0]
    hosts = ("SELECT encode(dhcp_identifier, 'hex'), dhcp4_subnet_id, "
             "dpn.ip4(ipv4_address) FROM public.hosts WHERE "
             "dhcp_identifier_type = 4 ORDER BY 3")
    ident = lambda m: ('1101-1201'.encode().hex() + m.replace(':', ''))  # noqa: E731
    pool = str(c.a['pool'])
    check_eq(c.s.query(hosts), [[ident(mac(1)), pool, '10.0.0.1'],
                                [ident(mac(0x101)), pool, '10.0.0.2']],
             'hosts rows of the two assignments')
    # A MAC changed on the device follows into the reservation, and the old
    # lease is queued for deletion.
    c.s.query("UPDATE dpn.handsets SET mac = %s WHERE flat_id = %d AND "
              "suffix = 1" % (q(mac(0x201)), f0))
    check_eq(c.s.query(hosts)[1], [ident(mac(0x201)), pool, '10.0.0.2'],
             'reservation after the MAC change')
    check_eq(c.s.query("SELECT dpn.ip4(addr), mac FROM dpn.lease_deletions"),
             [['10.0.0.2', mac(0x101)]], 'old lease queued')
    # Deleting the flat removes everything down to Kea's rows.
    c.s.query("DELETE FROM dpn.flats WHERE id = %d" % f0)
    check_eq(c.s.query(hosts), [], 'no reservation left')
    check_eq(c.s.query("SELECT count(*) FROM dpn.lease_deletions"), [['3']],
             'both leases of the deleted flat queued')


@case
def deleting_a_site_removes_everything_down_to_kea(c):
    site, f = c.b['site'], c.b['flats'][0]
    c.s.query("SELECT dpn.broker_allocate(%d, %s, ARRAY[%s]::macaddr[])"
              % (c.b['gateways'][0], q(mac(0x501)), q(mac(0x502))))
    hosts = ("SELECT count(*) FROM public.hosts WHERE dhcp4_subnet_id = %d"
             % c.b['pool'])
    check_eq(c.s.query(hosts), [['2']], 'reservations before')
    queued = c.s.query("SELECT count(*) FROM dpn.lease_deletions")[0][0]
    c.s.query("DELETE FROM dpn.sites WHERE id = %d" % site)
    check_eq(c.s.query(hosts), [['0']], 'reservations after')
    check_eq(c.s.query("SELECT count(*) FROM dpn.lease_deletions")[0][0],
             str(int(queued) + 2), 'both leases queued')
    check_eq(c.s.query("SELECT count(*) FROM dpn.flats WHERE id = %d" % f),
             [['0']], 'flats gone')


@case
def audit_log_is_append_only(c):
    c.s.query("INSERT INTO dpn.audit_log (actor, action, object) VALUES "
              "('t', 'test', 'x')")
    refused(c.s, "UPDATE dpn.audit_log SET actor = 'other'", 'D1004')
    refused(c.s, "DELETE FROM dpn.audit_log", 'D1004')
    refused(c.s, "TRUNCATE dpn.audit_log", 'D1004')


@case
def lease_events_of_known_kinds_only(c):
    ins = ("INSERT INTO dpn.lease_events (site_id, kind, addr) VALUES "
           "(%d, %s, 167772161)")
    c.s.query(ins % (c.a['site'], q('committed')))
    refused(c.s, ins % (c.a['site'], q('stolen')), CHECK, 'lease_events_kind')


@case
def gk_topo_dialogs_refuse_bad_rows(c):
    """097: the gatekeeper's hidden dialogs — key not 0, one per (site,
    key), bounded lengths, of a site that exists."""
    ins = ("INSERT INTO dpn.gk_topo_dialogs (site_id, dialog_key, call_id, "
           "contact, route, masked, expires_at) VALUES (%d, %d, %s, %s, %s, "
           "true, now() + interval '1 hour')")
    ok = (q('c1@10.0.0.2'), q('sip:gw@10.0.0.2:5060'), q(''))
    c.s.query(ins % ((c.a['site'], -5) + ok))
    refused(c.s, ins % ((c.a['site'], -5) + ok), UNIQUE)
    refused(c.s, ins % ((c.a['site'], 0) + ok), CHECK, 'gk_topo_dialogs_key')
    refused(c.s, ins % ((c.a['site'], 7, q('')) + ok[1:]), CHECK,
            'gk_topo_dialogs_call_id')
    refused(c.s, ins % ((c.a['site'], 7, q('x' * 256)) + ok[1:]), CHECK,
            'gk_topo_dialogs_call_id')
    refused(c.s, ins % (c.a['site'], 7, ok[0], q(''), ok[2]), CHECK,
            'gk_topo_dialogs_contact')
    refused(c.s, ins % (c.a['site'], 7, ok[0], ok[1], q('r' * 1024)), CHECK,
            'gk_topo_dialogs_route')
    refused(c.s, ins % ((999999, 8) + ok), FK)
    c.s.query('DELETE FROM dpn.gk_topo_dialogs')


@case
def admin_tables_refuse_bad_values(c):
    refused(c.s, "INSERT INTO dpn.users (username, password_hash, role) "
            "VALUES ('ann', 'plain', 'operator')", CHECK,
            'users_password_yescrypt')
    refused(c.s, "INSERT INTO dpn.users (username, password_hash, role) "
            "VALUES ('ann', '$y$j9T$x$y', 'root')", CHECK, 'users_role')
    uid = c.s.query("INSERT INTO dpn.users (username, password_hash, role) "
                    "VALUES ('ann', '$y$j9T$x$y', 'manager') RETURNING id")[0][0]
    refused(c.s, "INSERT INTO dpn.users (username, password_hash, role) "
            "VALUES ('ann', '$y$j9T$x$y', 'operator')", UNIQUE)
    refused(c.s, "INSERT INTO dpn.sessions (token_hash, user_id, csrf, "
            "expires_at) VALUES ('short', %s, repeat('c', 32), now())" % uid,
            CHECK, 'sessions_token_sha256')
    refused(c.s, "INSERT INTO dpn.api_tokens (token_hash, user_id, name) "
            "VALUES (sha256('t'), 999999, 'ci')", FK)
    refused(c.s, "INSERT INTO dpn.api_tokens (token_hash, user_id, name) "
            "VALUES (sha256('t'), %s, '')" % uid, CHECK, 'api_tokens_name_length')
    refused(c.s, "INSERT INTO dpn.users (username, password_hash, role) "
            "VALUES ('two words', '$y$j9T$x$y', 'manager')", CHECK,
            'users_username_text')
    c.s.query("INSERT INTO dpn.user_buildings VALUES (%s, %d)"
              % (uid, c.a['building']))
    c.s.query("DELETE FROM dpn.users WHERE id = %s" % uid)
    check_eq(c.s.query("SELECT count(*) FROM dpn.user_buildings"), [['0']],
             'a user\'s buildings go with the user')


if __name__ == '__main__':
    run_cases(Ctx)
