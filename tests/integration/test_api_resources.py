#!/usr/bin/env python3
"""test_api_resources — mgmtd's building, flat, gateway, handset, number and
audit endpoints over real HTTP against a real PostgreSQL: a 25 x 4 building
provisioned in one request, patterns, gateway and SIP credentials shown once,
deletions returning blocks to the pool, number lookup, and an audit row for
every write."""
import hashlib
import os
import re
import sys
import threading
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd_resources import Env, ha1  # noqa: E402

E = {}


def mac(flat, n):
    return '02:00:00:01:%02x:%02x' % (flat % 256, n)


@case
def building_of_25_floors_by_4_units_has_its_100_flats(pg):
    env = E['env']
    before = env.audit_count('building.create')
    b = env.building(1101, name='Tower A', floors=25, units_per_floor=4)
    check_eq((b['number'], b['name'], b['flats'], b['site_id']),
             (1101, 'Tower A', 100, env.site['id']), 'building answer')
    flats = env.flats(b['id'])
    want = {fl * 100 + u for fl in range(1, 26) for u in range(1, 5)}
    check_eq(set(flats), want, 'flat numbers 101..2504 as {floor}{unit:02}')
    f = flats[1201]
    check_eq((f['circuit_id'], f['full_number'], f['building_id']),
             ('1101-1201', '100-1101-1201', b['id']), 'flat 1201')
    check_eq(int(pg.scalar('SELECT count(*) FROM dpn.flats WHERE building_id = %d'
                           % b['id'])), 100, 'rows in SQL')
    check_eq(env.audit_count('building.create'), before + 1, 'one audit row')
    E['b1101'] = b
    E['flats'] = flats
    status, page = env.c.get('/api/v1/buildings/%d/flats?per_page=30&page=4' % b['id'])
    check_eq((status, page['total'], len(page['items']), page['page']),
             (200, 100, 10, 4), 'last page of 30')
    status, q = env.c.get('/api/v1/buildings/%d/flats?q=25' % b['id'])
    check_eq(sorted(x['number'] for x in q['items']), [2501, 2502, 2503, 2504],
             'q by number prefix')
    status, got = env.c.get('/api/v1/buildings/%d' % b['id'])
    check_eq((status, got), (200, b), 'GET building')
    status, lst = env.c.get('/api/v1/sites/%d/buildings?q=tower' % env.site['id'])
    check_eq((status, [x['id'] for x in lst['items']]), (200, [b['id']]), 'list with q')


@case
def patterns_pad_and_bad_patterns_change_nothing(pg):
    env = E['env']
    b = env.building(1102, floors=3, units_per_floor=2, first_floor=0,
                     pattern='9{floor:02}{unit}')
    check_eq(sorted(env.flats(b['id'])), [9001, 9002, 9011, 9012, 9021, 9022],
             'pattern 9{floor:02}{unit} from floor 0')
    before = mgmtd.dump(pg)
    sid = env.site['id']
    for body, why in (
            ({'floors': 10, 'units_per_floor': 10, 'pattern': '{floor}{unit:03}'},
             'wider than the site flat width (4)'),
            ({'floors': 2, 'units_per_floor': 2, 'pattern': '{floor}'}, 'repeats numbers'),
            ({'floors': 2, 'units_per_floor': 2, 'pattern': 'A{floor}{unit}'}, 'a letter'),
            ({'floors': 2, 'units_per_floor': 2, 'pattern': '{floor}{unit:2}'}, 'bad token'),
            ({'floors': 2, 'units_per_floor': 2, 'pattern': '{floor}{unit'}, 'unclosed'),
            ({'floors': 1, 'units_per_floor': 1, 'pattern': '1234567890{unit}'},
             'more than 9 digits')):
        status, err = env.c.post('/api/v1/sites/%d/buildings' % sid,
                                 dict({'number': 1199}, **body))
        check_eq((status, err.get('field')), (422, 'pattern'), 'pattern %s: %r' % (why, err))
    check_eq(mgmtd.dump(pg), before, 'nothing written by refused patterns')


@case
def gateway_secret_is_shown_once_and_regeneration_replaces_it(pg):
    env = E['env']
    fid = E['flats'][1201]['id']
    status, g = env.c.put('/api/v1/flats/%d/gateway' % fid)
    check_eq(status, 201, 'PUT creates: %r' % g)
    check(re.fullmatch('[0-9a-f]{64}', g['secret']), '256-bit secret: %r' % g)
    check_eq(g['username'], 'gw-100-1101-1201', 'username')
    stored = pg.scalar("SELECT encode(secret_hash, 'hex') FROM dpn.gateways "
                       "WHERE flat_id = %d" % fid)
    check_eq(stored, hashlib.sha256(g['secret'].encode()).hexdigest(), 'SHA-256 stored')
    status, shown = env.c.get('/api/v1/flats/%d/gateway' % fid)
    check_eq(status, 200, 'GET gateway')
    check('secret' not in shown and g['secret'] not in str(shown), 'GET hides the secret')
    old = env.srv.client().basic(g['username'], g['secret'])
    body = {'gateway_mac': mac(1, 0), 'handset_macs': []}
    check_eq(old.post('/api/v1/broker/allocate', body)[0], 200, 'secret works on the broker')
    status, g2 = env.c.put('/api/v1/flats/%d/gateway' % fid, {})
    check_eq((status, g2['username']), (200, g['username']), 'PUT again regenerates')
    check(g2['secret'] != g['secret'], 'a new secret')
    check_eq(env.srv.client().basic(g['username'], g['secret']).post(
        '/api/v1/broker/allocate', body)[0], 401, 'old secret refused')
    new = env.srv.client().basic(g2['username'], g2['secret'])
    check_eq(new.post('/api/v1/broker/allocate', body)[0], 200, 'new secret works')
    check_eq(shown['mac'], None, 'no MAC before the first allocation')
    check_eq(env.c.get('/api/v1/flats/%d/gateway' % fid)[1]['mac'], mac(1, 0),
             'MAC learnt at allocation')
    block_size = int(pg.scalar("SELECT block_size FROM dpn.sites s JOIN dpn.flats f "
                               "ON f.site_id = s.id WHERE f.id = %d" % fid))
    status, gone = env.c.delete('/api/v1/flats/%d/gateway' % fid)
    check_eq((status, gone['block']['size']), (200, block_size),
             'DELETE gateway: %r' % gone)
    check_eq(env.c.get('/api/v1/flats/%d/gateway' % fid)[0], 404, 'gateway gone')
    check_eq(env.utilisation(), (0, 0), 'block back in the pool')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def handset_credentials_are_shown_once_and_regenerated(pg):
    env = E['env']
    fid = E['flats'][1202]['id']
    status, h = env.c.post('/api/v1/flats/%d/handsets' % fid)
    check_eq((status, h['suffix'], h['number'], h['sip_username']),
             (201, 1, '100-1101-1202-1', '100-1101-1202-1'), 'first handset: %r' % h)
    pw = h['sip_password']
    check(re.fullmatch('[0-9a-f]{32}', pw), '128-bit password')
    row = pg.psql('SELECT ha1_md5, ha1_sha256 FROM dpn.handsets WHERE id = %d' % h['id'])[0]
    check_eq(row, [ha1(h['sip_username'], pw), ha1(h['sip_username'], pw, algo='sha256')],
             'HA1 MD5 and SHA-256 of user:dpn:password')
    for path in ('/api/v1/handsets/%d' % h['id'], '/api/v1/flats/%d/handsets' % fid,
                 '/api/v1/flats/%d' % fid):
        status, body = env.c.get(path)
        check_eq(status, 200, path)
        text = str(body)
        check(pw not in text and 'sip_password' not in text and row[0] not in text,
              'GET %s shows no credentials' % path)
    status, h2 = env.c.post('/api/v1/handsets/%d/credentials' % h['id'])
    check_eq((status, h2['sip_username']), (200, h['sip_username']), 'regenerate')
    check(h2['sip_password'] != pw, 'a new password')
    row2 = pg.psql('SELECT ha1_md5 FROM dpn.handsets WHERE id = %d' % h['id'])[0]
    check_eq(row2, [ha1(h['sip_username'], h2['sip_password'])], 'HA1 follows')
    status, h3 = env.c.post('/api/v1/flats/%d/handsets' % fid, {'suffix': 3, 'mac': mac(2, 3).upper()})
    check_eq((status, h3['suffix'], h3['mac']), (201, 3, mac(2, 3)), 'suffix and MAC given')
    status, h4 = env.c.post('/api/v1/flats/%d/handsets' % fid, {})
    check_eq((status, h4['suffix']), (201, 2), 'next free suffix fills the gap')
    status, err = env.c.post('/api/v1/flats/%d/handsets' % fid, {'suffix': 3})
    check_eq((status, err.get('field')), (409, 'suffix'), 'suffix taken')
    other = E['flats'][1203]['id']
    status, err = env.c.post('/api/v1/flats/%d/handsets' % other, {'mac': mac(2, 3)})
    check_eq((status, err.get('field')), (409, 'mac'), "another flat's MAC")
    for s in range(4, 10):
        check_eq(env.c.post('/api/v1/flats/%d/handsets' % fid)[0], 201, 'handset %d' % s)
    before = mgmtd.dump(pg)
    status, err = env.c.post('/api/v1/flats/%d/handsets' % fid)
    check_eq((status, err.get('field')), (409, 'suffix'), 'flat full (1-digit handsets)')
    check_eq(mgmtd.dump(pg), before, 'nothing written when full')


@case
def concurrent_handset_creation_gives_distinct_suffixes(pg):
    env = E['env']
    fid = E['flats'][1301]['id']
    token = mgmtd.add_token(pg, 'admin', 'concurrency')
    got = []

    def add():
        c = env.srv.client().bearer(token)
        got.append(c.post('/api/v1/flats/%d/handsets' % fid))
        c.close()
    threads = [threading.Thread(target=add) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(status for status, _ in got)
    check_eq(codes, [201] * 9 + [409] * 3, 'nine handsets fit, three find the flat full')
    check_eq(sorted(b['suffix'] for status, b in got if status == 201), list(range(1, 10)),
             'distinct suffixes')
    check_eq(len({b['sip_username'] for status, b in got if status == 201}), 9,
             'distinct SIP usernames')


@case
def handset_deletion_frees_its_address(pg):
    env = E['env']
    fid = E['flats'][1203]['id']
    a = env.allocate(fid, mac(3, 0), [mac(3, 1)])
    addr = a['handsets'][0]['address']
    hid = int(pg.scalar("SELECT id FROM dpn.handsets WHERE mac = '%s'" % mac(3, 1)))
    status, h = env.c.get('/api/v1/handsets/%d' % hid)
    check_eq((status, h['address'], h['mac']), (200, addr, mac(3, 1)), 'handset has its address')
    status, h = env.c.patch('/api/v1/handsets/%d' % hid, {'mac': mac(3, 9)})
    check_eq((status, h['mac'], h['address']), (200, mac(3, 9), addr), 'MAC changed, address kept')
    check_eq(mgmtd.invariants(pg), [], 'Kea reservation follows the MAC')
    check_eq(env.c.delete('/api/v1/handsets/%d' % hid)[0], 204, 'DELETE handset')
    check_eq(pg.psql("SELECT 1 FROM dpn.assignments WHERE addr = dpn.ip4_num('%s')" % addr),
             [], 'address free')
    check_eq(env.c.get('/api/v1/handsets/%d' % hid)[0], 404, 'handset gone')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def flat_deletion_returns_its_block_to_the_pool(pg):
    env = E['env']
    start = env.utilisation()
    status, f = env.c.post('/api/v1/buildings/%d/flats' % E['b1101']['id'],
                           {'number': 2601, 'circuit_id': 'port-2601'})
    check_eq((status, f['circuit_id'], f['full_number']),
             (201, 'port-2601', '100-1101-2601'), 'POST flat')
    a = env.allocate(f['id'], mac(4, 0), [mac(4, 1), mac(4, 2)])
    check_eq(env.utilisation(), (start[0] + a['block']['size'], start[1] + 1), 'block allotted')
    status, f2 = env.c.patch('/api/v1/flats/%d' % f['id'], {'circuit_id': 'port-2601b'})
    check_eq((status, f2['circuit_id']), (200, 'port-2601b'), 'PATCH circuit_id')
    check_eq(pg.scalar("SELECT string_agg(DISTINCT circuit_id, ',') FROM dpn.assignments "
                       "WHERE flat_id = %d" % f['id']), 'port-2601b', 'assignments follow')
    check_eq(mgmtd.invariants(pg), [], 'Kea reservations follow')
    status, d = env.c.get('/api/v1/flats/%d' % f['id'])
    check_eq((status, d['block'], len(d['assignments']), d['gateway']['address']),
             (200, a['block'], 3, a['gateway']['address']), 'GET flat in full')
    check_eq(sorted(h['address'] for h in d['handsets']),
             sorted(h['address'] for h in a['handsets']), 'handsets with addresses')
    check_eq(env.c.delete('/api/v1/flats/%d' % f['id'])[0], 204, 'DELETE flat')
    check_eq(env.utilisation(), start, 'utilisation back')
    check_eq(int(pg.scalar('SELECT count(*) FROM dpn.lease_deletions')) >= 3, True,
             'leases queued for removal from Kea')
    check_eq(env.c.get('/api/v1/flats/%d' % f['id'])[0], 404, 'flat gone')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def numbers_are_looked_up_dashed_and_dashless(pg):
    env = E['env']
    fid = E['flats'][1204]['id']
    a = env.allocate(fid, mac(5, 0), [mac(5, 1)])
    suffix = int(pg.scalar("SELECT suffix FROM dpn.handsets WHERE mac = '%s'" % mac(5, 1)))
    hnum = '100-1101-1204-%d' % suffix
    for q in (hnum, hnum.replace('-', '')):
        status, n = env.c.get('/api/v1/numbers/' + q)
        check_eq(status, 200, 'lookup %s: %r' % (q, n))
        check_eq((n['number'], n['site']['number'], n['building']['number'],
                  n['flat']['id'], n['handset']['suffix'], n['address']),
                 (hnum, 100, 1101, fid, suffix, a['handsets'][0]['address']), q)
    for q in ('100-1101-1204', '10011011204', '100-1101-1204-0'):
        status, n = env.c.get('/api/v1/numbers/' + q)
        check_eq((status, n['number'], n['handset'], n['address']),
                 (200, '100-1101-1204', None, a['gateway']['address']), 'flat %s' % q)
    for q in ('100-1101-1299', '100-1101-1204-7', '999-1101-1204', '10011019999'):
        status, err = env.c.get('/api/v1/numbers/' + q)
        check_eq(status, 404, 'nobody has %s: %r' % (q, err))
    for q in ('abc', '1-2', '12345', '100-1101-1204-1-1', '100--1101', '1' * 45,
              '100-1101-12041234567890'):
        status, err = env.c.get('/api/v1/numbers/' + q)
        check_eq((status, err.get('field')), (400, 'number'), 'garbage %s: %r' % (q, err))


@case
def building_deletion_returns_every_block(pg):
    env = E['env']
    start = env.utilisation()
    b = env.building(1103, floors=2, units_per_floor=2)
    flats = env.flats(b['id'])
    for i, n in enumerate(sorted(flats)):
        env.allocate(flats[n]['id'], mac(10 + i, 0), [mac(10 + i, 1)])
    check_eq(env.utilisation()[1], start[1] + 4, 'four more blocks')
    check_eq(env.c.delete('/api/v1/buildings/%d' % b['id'])[0], 204, 'DELETE building')
    check_eq(env.utilisation(), start, 'every block back in the pool')
    check_eq(pg.psql('SELECT 1 FROM dpn.flats WHERE building_id = %d' % b['id']), [],
             'flats gone')
    check_eq(env.c.get('/api/v1/buildings/%d' % b['id'])[0], 404, 'building gone')
    check_eq(env.audit_count('broker.delete_gateway') >= 4, True, 'broker deletions audited')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def every_write_appends_an_audit_row_newest_first(pg):
    env = E['env']
    b = E['b1101']
    fid = E['flats'][2501]['id']
    writes = [
        ('building.update', lambda: env.c.patch('/api/v1/buildings/%d' % b['id'], {'name': 'T'})),
        ('flat.create', lambda: env.c.post('/api/v1/buildings/%d/flats' % b['id'], {'number': 2701})),
        ('flat.update', lambda: env.c.patch('/api/v1/flats/%d' % fid, {'circuit_id': 'c-2501'})),
        ('gateway.create', lambda: env.c.put('/api/v1/flats/%d/gateway' % fid)),
        ('gateway.credentials', lambda: env.c.put('/api/v1/flats/%d/gateway' % fid)),
        ('handset.create', lambda: env.c.post('/api/v1/flats/%d/handsets' % fid)),
    ]
    for action, do in writes:
        n = env.audit_count(action)
        status, body = do()
        check(status in (200, 201), '%s: %s %r' % (action, status, body))
        check_eq(env.audit_count(action), n + 1, 'audit row for ' + action)
    status, log = env.c.get('/api/v1/audit?per_page=%d' % len(writes))
    check_eq(status, 200, 'GET audit')
    check_eq([x['action'] for x in log['items']], [a for a, _ in reversed(writes)],
             'newest first')
    check_eq({x['actor'] for x in log['items']}, {'user:admin'}, 'actor')
    check('secret' not in str(log) and 'sip_password' not in str(log), 'no secrets in the log')
    status, q = env.c.get('/api/v1/audit?q=gateway.cred')
    check_eq({x['action'] for x in q['items']}, {'gateway.credentials'}, 'q filter')
    check_eq(q['total'], env.audit_count('gateway.credentials'), 'total')


if __name__ == '__main__':
    with Cluster() as pg:
        with Env(pg) as env:
            E['env'] = env
            run(pg)
