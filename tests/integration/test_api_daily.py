#!/usr/bin/env python3
"""test_api_daily — what the admin's daily pages read from mgmtd, over real
HTTP against a real PostgreSQL: each flat's state in a building's list
(block, gateway address in use per the DHCP lease events, handsets without
address or credentials), the state=attention filter and flat numbers found
as shown (zero-padded); the audit log saying which object a row is about,
which fields changed, and filtering by actor, kind and object, with bad
filters refused naming the field."""
import os
import re
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

E = {}


def lease_committed(pg, addrs):
    """As the DHCP hook reports a committed lease (the function it calls)."""
    for a in addrs:
        check(re.fullmatch(r'\d{1,3}(\.\d{1,3}){3}', a), 'not an address: %r' % a)
    pg.psql("SELECT dpn.dhcp_lease_event('committed', a.pool_id, a.addr, a.mac, "
            "(extract(epoch FROM now()) * 1e6)::bigint, 0) FROM dpn.assignments a "
            "WHERE dpn.ip4(a.addr) IN (%s)" % ','.join("'%s'" % a for a in addrs))


def listing(env, bid, query=''):
    status, body = env.c.get('/api/v1/buildings/%d/flats?per_page=500%s' % (bid, query))
    check_eq(status, 200, 'list ' + query)
    return {f['number']: f for f in body['items']}


@case
def flat_list_says_what_each_flat_has(pg):
    env = E['env']
    b = env.building(7, floors=1, units_per_floor=4)
    flats = env.flats(b['id'])
    E['b7'], E['flats7'] = b, flats
    # 101: gateway and one handset in use; 102: allotted, nothing in use,
    # a handset enrolled (no credentials) and one created (no address);
    # 103: credentials only; 104: nothing.
    a1 = env.allocate(flats[101]['id'], '02:00:00:00:01:00', ['02:00:00:00:01:01'])
    hs = env.c.post('/api/v1/flats/%d/handsets' % flats[101]['id'], {})[1]
    env.allocate(flats[102]['id'], '02:00:00:00:02:00', ['02:00:00:00:02:01'])
    env.c.post('/api/v1/flats/%d/handsets' % flats[102]['id'], {})
    env.gateway(flats[103]['id'])
    status, f101 = env.c.get('/api/v1/flats/%d' % flats[101]['id'])
    enrolled = [h for h in f101['handsets'] if h['id'] != hs['id']][0]
    env.c.post('/api/v1/handsets/%d/credentials' % enrolled['id'])
    env.c.delete('/api/v1/handsets/%d' % hs['id'])
    lease_committed(pg, [a1['gateway']['address'], a1['handsets'][0]['address']])
    got = {n: f['status'] for n, f in listing(env, b['id']).items()}
    blk = a1['block']
    check_eq(got[101], {'block': blk,
                        'gateway': {'mac': '02:00:00:00:01:00', 'address': a1['gateway']['address'],
                                    'online': True, 'last_seen': got[101]['gateway']['last_seen']},
                        'handsets': {'total': 1, 'without_address': 0, 'without_credentials': 0,
                                     'online': 1}}, 'flat 101')
    check(got[101]['gateway']['last_seen'], 'last_seen of an address in use')
    check_eq((got[102]['gateway']['online'], got[102]['handsets']),
             (False, {'total': 2, 'without_address': 1, 'without_credentials': 1, 'online': 0}),
             'flat 102')
    check_eq((got[103]['block'], got[103]['gateway']['address'], got[103]['gateway']['online']),
             (None, None, False), 'flat 103: credentials only')
    check_eq((got[104]['block'], got[104]['gateway'], got[104]['handsets']['total']),
             (None, None, 0), 'flat 104: nothing')
    check_eq(sorted(listing(env, b['id'], '&state=attention')), [102, 103, 104],
             'flats needing attention')
    # The same filter with paging: total counts only those.
    status, p = env.c.get('/api/v1/buildings/%d/flats?state=attention&per_page=2' % b['id'])
    check_eq((status, p['total'], len(p['items'])), (200, 3, 2), 'attention, paged')
    status, f = env.c.get('/api/v1/flats/%d' % flats[102]['id'])
    check_eq(sorted(h['has_credentials'] for h in f['handsets']), [False, True],
             'has_credentials of 102 (enrolled, created)')


@case
def flat_numbers_are_found_as_shown(pg):
    env = E['env']
    bid = E['b7']['id']
    for q, want in (('0101', [101]), ('101', [101]), ('010', [101, 102, 103, 104]),
                    ('01', [101, 102, 103, 104]), ('0105', []), ('7-0101', [])):
        check_eq(sorted(listing(env, bid, '&q=' + q)), want, 'q=' + q)


@case
def bad_list_filters_are_named(pg):
    env = E['env']
    bid = E['b7']['id']
    for query, field in (('state=ATTENTION', 'state'), ('state=', 'state'),
                         ('state=attention&per_page=0', 'per_page')):
        status, body = env.c.get('/api/v1/buildings/%d/flats?%s' % (bid, query))
        check_eq((status, body.get('field')), (422, field), query)
    for query, field in (('kind=flats', 'kind'), ('kind=', 'kind'), ('object_id=1', 'object_id'),
                         ('kind=flat&object_id=x1', 'object_id'), ('kind=flat&object_id=-1', 'object_id'),
                         ('kind=flat&object_id=1234567890123456789', 'object_id')):
        status, body = env.c.get('/api/v1/audit?' + query)
        check_eq((status, body.get('field')), (422, field), 'audit ' + query)


@case
def audit_rows_say_which_object_and_what_changed(pg):
    env = E['env']
    f = E['flats7'][104]
    env.c.patch('/api/v1/flats/%d' % f['id'], {'circuit_id': 'port-104'})
    env.c.patch('/api/v1/flats/%d' % f['id'], {'circuit_id': 'port-104b', 'number': 105})
    status, log = env.c.get('/api/v1/audit?kind=flat&object_id=%d' % f['id'])
    check_eq(status, 200, 'history of flat 104')
    rows = [(x['action'], x['kind'], x['object_id'], x['label'], x['changed'])
            for x in log['items']]
    check_eq(rows, [
        ('flat.update', 'flat', f['id'], '100-0007-0105',
         [{'field': 'circuit_id', 'from': 'port-104', 'to': 'port-104b'},
          {'field': 'full_number', 'from': '100-0007-0104', 'to': '100-0007-0105'},
          {'field': 'number', 'from': 104, 'to': 105}]),
        # Made by provisioning: no earlier row of its own to compare with.
        ('flat.update', 'flat', f['id'], '100-0007-0104', None),
    ], 'rows of flat 104, newest first')
    # A broker row names its object by id only: the label is the object's.
    f101 = E['flats7'][101]
    status, log = env.c.get('/api/v1/audit?kind=flat&object_id=%d' % f101['id'])
    alloc = [x for x in log['items'] if x['action'] == 'broker.allocate']
    check_eq([(x['object'], x['label'], x['actor']) for x in alloc],
             [('flat:%d' % f101['id'], '100-0007-0101', 'gateway:gw-100-0007-0101')], 'broker row')
    # Deleted since: named as mgmtd last wrote it down.
    f102 = E['flats7'][102]
    env.c.delete('/api/v1/flats/%d' % f102['id'])
    status, log = env.c.get('/api/v1/audit?kind=flat&object_id=%d' % f102['id'])
    check_eq({x['label'] for x in log['items']}, {'100-0007-0102'}, 'labels of the deleted flat')


@case
def audit_filters_by_actor_and_kind(pg):
    env = E['env']
    status, gws = env.c.get('/api/v1/audit?actor=gateway:&per_page=500')
    check(gws['total'] >= 3 and all(x['actor'].startswith('gateway:') for x in gws['items']),
          'gateway rows: %r' % [x['actor'] for x in gws['items']])
    status, one = env.c.get('/api/v1/audit?actor=gateway:gw-100-0007-0101&per_page=500')
    check(one['total'] >= 1 and {x['actor'] for x in one['items']} == {'gateway:gw-100-0007-0101'},
          'one gateway')
    status, none = env.c.get('/api/v1/audit?actor=gateway')
    check_eq(none['total'], 0, 'actor without ":" is exact')
    status, users = env.c.get('/api/v1/audit?actor=user:admin&kind=handset&per_page=500')
    check(users['total'] >= 1 and all(x['kind'] == 'handset' and x['actor'] == 'user:admin'
                                      for x in users['items']), 'handset rows by admin')
    total = int(pg.scalar("SELECT count(*) FROM dpn.audit_log WHERE action LIKE 'handset.%' "
                          "AND actor = 'user:admin'"))
    check_eq(users['total'], total, 'count against SQL')
    status, cli = env.c.get('/api/v1/audit?actor=cli')
    check_eq([(x['kind'], x['label']) for x in cli['items']], [('user', 'admin')],
             'the command line made the first user')


if __name__ == '__main__':
    with Cluster() as pg:
        with Env(pg) as env:
            E['env'] = env
            run(pg)
