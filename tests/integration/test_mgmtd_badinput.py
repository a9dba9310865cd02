#!/usr/bin/env python3
"""test_mgmtd_badinput — every endpoint of mgmtd core (session, sites,
pools, broker) given malformed JSON, wrong types, nulls, missing and unknown
fields, bad values, unknown ids and huge bodies: each gets a 4xx (400/404/
413/422) naming the field at fault, never a 5xx, and the database is the
same row for row afterwards. Then the well-formed form of each request is
accepted, so the refusals above were about the input."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402

S = {}
MALFORMED = ['{"a":', 'not json', '[1, 2]', '"text"', '{"number": 1,}',
             "{'number': 1}", '{"number": 1} trailing', '\udcff', '{"a": NaN}',
             '{"a": ' * 40 + '1' + '}' * 40]


def endpoints():
    """(name, method, path, client kind, a valid body, required fields)."""
    site, pool = S['site'], S['pool']
    return [
        ('login', 'POST', '/api/v1/session', 'none',
         {'username': 'admin', 'password': S['pw']}, ['username', 'password']),
        ('site create', 'POST', '/api/v1/sites', 'admin',
         {'number': 500, 'name': 'n', 'widths': {'flat': 4, 'handset': 1},
          'block_size': 4, 'max_block_size': 10}, ['number']),
        ('site update', 'PATCH', '/api/v1/sites/%d' % site, 'admin',
         {'name': 'renamed', 'block_size': 4}, []),
        ('pool create', 'POST', '/api/v1/sites/%d/pools' % site, 'admin',
         {'cidr': '10.99.0.0/16'}, ['cidr']),
        ('allocate', 'POST', '/api/v1/broker/allocate', 'gw',
         {'gateway_mac': '02:00:00:00:01:00', 'handset_macs': ['02:00:00:00:01:01']},
         ['gateway_mac']),
        ('handsets', 'POST', '/api/v1/broker/handsets', 'gw',
         {'mac': '02:00:00:00:01:02'}, ['mac']),
        ('report', 'POST', '/api/v1/broker/report', 'gw',
         {'allotted': [{'mac': '02:00:00:00:01:00', 'address': '127.40.0.1'}],
          'free': ['127.40.0.3']}, ['allotted', 'free']),
        ('delete', 'POST', '/api/v1/broker/delete', 'gw',
         {'mac': '02:00:00:00:01:02'}, []),
    ]


def client(kind):
    c = S['srv'].client()
    if kind == 'admin':
        c.bearer(S['token'])
    elif kind == 'gw':
        c.basic(*S['gw'])
    return c


def wrong_type(v):
    if isinstance(v, bool):
        return 'yes'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return 12
    if isinstance(v, list):
        return {'x': 1}
    return [1]


def expect(c, method, path, body, status, field, what):
    got, answer = c.raw(method, path, body)
    check_eq(got, status, '%s: %r' % (what, answer))
    check(isinstance(answer, dict) and answer.get('error'), '%s: error sentence' % what)
    if field is not None:
        check_eq(answer.get('field'), field, '%s: field' % what)


@case
def malformed_wrong_missing_unknown_and_huge_bodies(pg):
    import json
    before = mgmtd.dump(pg, skip=())
    for name, method, path, kind, valid, required in endpoints():
        c = client(kind)
        for text in MALFORMED:
            expect(c, method, path, text.encode('utf-8', 'surrogateescape'), 400,
                   None, '%s malformed %r' % (name, text[:20]))
        expect(c, method, path, json.dumps(dict(valid, zzz=1)), 400, 'zzz',
               name + ' unknown field')
        for field, value in valid.items():
            expect(c, method, path, json.dumps(dict(valid, **{field: wrong_type(value)})),
                   400, field, '%s %s wrong type' % (name, field))
            expect(c, method, path, json.dumps(dict(valid, **{field: None})),
                   400, field, '%s %s null' % (name, field))
        for field in required:
            rest = {k: v for k, v in valid.items() if k != field}
            expect(c, method, path, json.dumps(rest), 400, field,
                   '%s %s missing' % (name, field))
        huge = json.dumps(dict(valid, pad='x' * (70 * 1024)))
        expect(c, method, path, huge, 413, None, name + ' huge body')
    check_eq(mgmtd.dump(pg, skip=()), before, 'database unchanged')


@case
def bad_values_are_422_naming_the_field(pg):
    import json
    before = mgmtd.dump(pg, skip=())
    site = S['site']
    admin, gw = client('admin'), client('gw')
    cases = [
        (admin, 'POST', '/api/v1/sites', {'number': -1}, 'number'),
        (admin, 'POST', '/api/v1/sites', {'number': 1000000000}, 'number'),
        (admin, 'POST', '/api/v1/sites', {'number': 5000}, 'number'),   # > 3 digits
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'widths': {'flat': 0}}, 'widths.flat'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'widths': {'bogus': 1}}, 'widths.bogus'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'widths': {'flat': '4'}}, 'widths.flat'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'block_size': 1}, 'block_size'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'block_size': 64,
                                          'max_block_size': 64}, 'block_size'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'block_size': 8,
                                          'max_block_size': 4}, 'max_block_size'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'name': 'x' * 201}, 'name'),
        (admin, 'POST', '/api/v1/sites', {'number': 5, 'name': 'a\u0000b'}, 'name'),
        (admin, 'POST', '/api/v1/sites', {'number': 100}, 'number'),    # taken: 409
        (admin, 'PATCH', '/api/v1/sites/%d' % site, {'widths': {'complex': 1}}, 'number'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '10.0.0.1/8'}, 'cidr'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '300.0.0.0/8'}, 'cidr'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '10.0.0.0/31'}, 'cidr'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '10.0.0.0'}, 'cidr'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '::1/64'}, 'cidr'),
        (admin, 'POST', '/api/v1/sites/%d/pools' % site, {'cidr': '127.40.0.0/24'}, 'cidr'),
        (gw, 'POST', '/api/v1/broker/allocate', {'gateway_mac': 'zz'}, 'gateway_mac'),
        (gw, 'POST', '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:00',
                                                 'handset_macs': ['nope']}, 'handset_macs[0]'),
        (gw, 'POST', '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:00',
                                                 'handset_macs': [7]}, 'handset_macs[0]'),
        (gw, 'POST', '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:00',
                                                 'handset_macs': ['02:00:00:00:01:00']},
         'handset_macs[0]'),
        (gw, 'POST', '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:00',
                                                 'handset_macs': ['02:00:00:00:00:01'] * 1001},
         'handset_macs'),
        (gw, 'POST', '/api/v1/broker/handsets', {'mac': '02:00:00:00:01'}, 'mac'),
        (gw, 'POST', '/api/v1/broker/delete', {}, 'mac'),
        (gw, 'POST', '/api/v1/broker/delete', {'gateway': False}, 'gateway'),
        (gw, 'POST', '/api/v1/broker/delete', {'mac': '02:00:00:00:01:02',
                                               'gateway': True}, 'gateway'),
        (gw, 'POST', '/api/v1/broker/report', {'allotted': [{'mac': 'x', 'address': '1.2.3.4'}],
                                               'free': []}, 'allotted[0].mac'),
        (gw, 'POST', '/api/v1/broker/report', {'allotted': [{'mac': '02:00:00:00:01:00'}],
                                               'free': []}, 'allotted[0].address'),
        (gw, 'POST', '/api/v1/broker/report', {'allotted': ['x'], 'free': []}, 'allotted[0]'),
        (gw, 'POST', '/api/v1/broker/report', {'allotted': [], 'free': ['1.2.3']}, 'free[0]'),
        (gw, 'POST', '/api/v1/broker/report', {'allotted': [], 'free': [1]}, 'free[0]'),
    ]
    for c, method, path, body, field in cases:
        status, answer = c.raw(method, path, json.dumps(body))
        check(status in (400, 409, 422), '%s %s %r: %s %r' % (method, path, body, status, answer))
        check_eq(answer.get('field'), field, '%s %r field (%r)' % (path, body, answer))
    check_eq(mgmtd.dump(pg, skip=()), before, 'database unchanged')


@case
def unknown_ids_are_404(pg):
    before = mgmtd.dump(pg, skip=())
    admin = client('admin')
    for method, path, body in (
            ('GET', '/api/v1/sites/999999', None),
            ('PATCH', '/api/v1/sites/999999', '{"name": "x"}'),
            ('DELETE', '/api/v1/sites/999999', None),
            ('GET', '/api/v1/sites/999999/pools', None),
            ('POST', '/api/v1/sites/999999/pools', '{"cidr": "10.1.0.0/16"}'),
            ('GET', '/api/v1/sites/999999/utilisation', None),
            ('GET', '/api/v1/pools/999999', None),
            ('DELETE', '/api/v1/pools/999999', None)):
        status, answer = admin.raw(method, path, body)
        check_eq(status, 404, '%s %s: %r' % (method, path, answer))
    status, answer = client('gw').post('/api/v1/broker/delete', {'mac': '02:ff:00:00:00:01'})
    check_eq(status, 404, 'unknown handset MAC: %r' % answer)
    check_eq(mgmtd.dump(pg, skip=()), before, 'database unchanged')


@case
def in_use_objects_are_409(pg):
    admin = client('admin')
    status, a = client('gw').post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:02:00'})
    check_eq(status, 200, 'allocate')
    before = mgmtd.dump(pg, skip=())
    status, answer = admin.delete('/api/v1/pools/%d' % S['pool'])
    check_eq(status, 409, 'pool with blocks: %r' % answer)
    status, answer = admin.delete('/api/v1/sites/%d' % S['site'])
    check_eq(status, 409, 'site with buildings: %r' % answer)
    status, answer = admin.raw('DELETE', '/api/v1/pools/%d' % S['pool'], '{"x":1}')
    check_eq(status, 400, 'DELETE with a body: %r' % answer)
    check_eq(mgmtd.dump(pg, skip=()), before, 'database unchanged')
    client('gw').post('/api/v1/broker/delete', {'gateway': True})


@case
def well_formed_requests_are_accepted(pg):
    import json
    for name, method, path, kind, valid, required in endpoints():
        status, answer = client(kind).raw(method, path, json.dumps(valid))
        check(200 <= status < 300, '%s accepted: %s %r' % (name, status, answer))
    check_eq(mgmtd.invariants(pg), [], 'invariants')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        S['pw'] = mgmtd.add_user(cluster, 'admin')
        S['token'] = mgmtd.add_token(cluster, 'admin')
        S['site'], flats = mgmtd.seed(cluster, cidr='127.40.0.0/24', flats=2)
        S['pool'] = int(cluster.scalar('SELECT id FROM dpn.pools'))
        S['gw'] = mgmtd.add_gateway(cluster, flats[0])
        with mgmtd.Server(cluster, ['--login-rate', '100000']) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
