#!/usr/bin/env python3
"""test_api_bad_input — every endpoint of mgmtd's buildings, flats,
gateways, handsets, numbers, audit and users given malformed JSON, wrong
types, missing and unknown fields, out-of-range values, unknown ids and huge
bodies: the right 4xx with a JSON body naming the field, never a 500, and a
dump of the dpn tables (audit log included) unchanged."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

E = {}
NOPE = 987654321     # an id nobody has
HUGE = '{"name": "%s"}' % ('x' * (70 * 1024))


def refused(pg, table):
    """Send each (method, path, body, status, field) of table; body is a dict
    (sent as JSON) or a str (sent as is). Checks every answer and that the
    database did not change."""
    c = E['env'].c
    before = mgmtd.dump(pg)
    for method, path, body, status, field in table:
        path = path.format(**E['ids'])
        raw = body if isinstance(body, str) or body is None else __import__('json').dumps(body)
        got, err = c.raw(method, '/api/v1' + path, raw)
        what = '%s %s %.80r' % (method, path, body)
        check_eq(got, status, what + ': %r' % (err,))
        check(isinstance(err, dict) and err.get('error'), what + ': JSON error body')
        check_eq(err.get('field'), field, what + ' names the field')
    check_eq(mgmtd.dump(pg), before, 'database unchanged')


@case
def buildings_refuse_bad_input(pg):
    refused(pg, [
        ('POST', '/sites/{site}/buildings', '{"number": ', 400, None),
        ('POST', '/sites/{site}/buildings', '[1101]', 400, None),
        ('POST', '/sites/{site}/buildings', {}, 400, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': '1101'}, 400, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': 1.5}, 400, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'colour': 'red'}, 400, 'colour'),
        ('POST', '/sites/{site}/buildings', {'number': 10000}, 422, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': -1}, 422, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': 1101}, 409, 'number'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'name': 5}, 400, 'name'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'name': 'x' * 201}, 422, 'name'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'floors': 2}, 400, 'units_per_floor'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'pattern': '{floor}'}, 400, 'floors'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'floors': 0, 'units_per_floor': 1},
         422, 'floors'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'floors': 101, 'units_per_floor': 100},
         422, 'floors'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'floors': 1, 'units_per_floor': 1,
                                             'first_floor': -1}, 422, 'first_floor'),
        ('POST', '/sites/{site}/buildings', {'number': 1, 'floors': 1, 'units_per_floor': 1,
                                             'pattern': 12}, 400, 'pattern'),
        ('POST', '/sites/%d/buildings' % NOPE, {'number': 1}, 404, None),
        ('POST', '/sites/{site}/buildings', HUGE, 413, None),
        ('GET', '/sites/{site}/buildings?page=0', None, 422, 'page'),
        ('GET', '/sites/{site}/buildings?per_page=501', None, 422, 'per_page'),
        ('GET', '/sites/%d/buildings' % NOPE, None, 404, None),
        ('GET', '/buildings/%d' % NOPE, None, 404, None),
        ('PATCH', '/buildings/{building}', {'number': 'x'}, 400, 'number'),
        ('PATCH', '/buildings/{building}', {'floors': 2}, 400, 'floors'),
        ('PATCH', '/buildings/{building}', {'number': 1102}, 409, 'number'),
        ('PATCH', '/buildings/{building}', 'null', 400, None),
        ('PATCH', '/buildings/%d' % NOPE, {'name': 'x'}, 404, None),
        ('PATCH', '/buildings/{building}', HUGE, 413, None),
        ('DELETE', '/buildings/%d' % NOPE, None, 404, None),
        ('DELETE', '/buildings/{building}', '{}', 400, None),
    ])


@case
def flats_refuse_bad_input(pg):
    refused(pg, [
        ('POST', '/buildings/{building}/flats', '{"number": 1,}', 400, None),
        ('POST', '/buildings/{building}/flats', {}, 400, 'number'),
        ('POST', '/buildings/{building}/flats', {'number': [1]}, 400, 'number'),
        ('POST', '/buildings/{building}/flats', {'number': 12345}, 422, 'number'),
        ('POST', '/buildings/{building}/flats', {'number': 101}, 409, 'number'),
        ('POST', '/buildings/{building}/flats', {'number': 1, 'circuit_id': 'a b'}, 422,
         'circuit_id'),
        ('POST', '/buildings/{building}/flats', {'number': 1, 'circuit_id': ''}, 422,
         'circuit_id'),
        ('POST', '/buildings/{building}/flats', {'number': 1, 'circuit_id': 'x' * 65}, 422,
         'circuit_id'),
        ('POST', '/buildings/{building}/flats', {'number': 1, 'circuit_id': '1101-0101'},
         409, 'circuit_id'),
        ('POST', '/buildings/{building}/flats', {'number': 1, 'floor': 1}, 400, 'floor'),
        ('POST', '/buildings/%d/flats' % NOPE, {'number': 1}, 404, None),
        ('POST', '/buildings/{building}/flats', HUGE, 413, None),
        ('GET', '/buildings/%d/flats' % NOPE, None, 404, None),
        ('GET', '/buildings/{building}/flats?per_page=x', None, 422, 'per_page'),
        ('GET', '/flats/%d' % NOPE, None, 404, None),
        ('PATCH', '/flats/{flat}', {'circuit_id': 7}, 400, 'circuit_id'),
        ('PATCH', '/flats/{flat}', {'number': None}, 400, 'number'),
        ('PATCH', '/flats/{flat}', {'number': 102}, 409, 'number'),
        ('PATCH', '/flats/{flat}', {'mac': '02:00:00:00:00:01'}, 400, 'mac'),
        ('PATCH', '/flats/%d' % NOPE, {'circuit_id': 'x'}, 404, None),
        ('DELETE', '/flats/%d' % NOPE, None, 404, None),
        ('DELETE', '/flats/{flat}', '{"x": 1}', 400, None),
    ])


@case
def gateways_and_handsets_refuse_bad_input(pg):
    refused(pg, [
        ('PUT', '/flats/{flat}/gateway', {'secret': 'mine'}, 400, 'secret'),
        ('PUT', '/flats/{flat}/gateway', 'nope', 400, None),
        ('PUT', '/flats/%d/gateway' % NOPE, None, 404, None),
        ('PUT', '/flats/{flat}/gateway', HUGE, 413, None),
        ('GET', '/flats/{flat}/gateway', None, 404, None),
        ('DELETE', '/flats/{flat}/gateway', None, 404, None),
        ('POST', '/flats/{flat}/handsets', {'suffix': '1'}, 400, 'suffix'),
        ('POST', '/flats/{flat}/handsets', {'suffix': 0}, 422, 'suffix'),
        ('POST', '/flats/{flat}/handsets', {'suffix': 10}, 422, 'suffix'),
        ('POST', '/flats/{flat}/handsets', {'suffix': 1}, 409, 'suffix'),
        ('POST', '/flats/{flat}/handsets', {'mac': 'zz:zz'}, 422, 'mac'),
        ('POST', '/flats/{flat}/handsets', {'mac': '01:00:5e:00:00:01'}, 422, 'mac'),
        ('POST', '/flats/{flat}/handsets', {'mac': '00:00:00:00:00:00'}, 422, 'mac'),
        ('POST', '/flats/{flat}/handsets', {'pin': 1234}, 400, 'pin'),
        ('POST', '/flats/{flat}/handsets', '{"suffix": 2', 400, None),
        ('POST', '/flats/%d/handsets' % NOPE, {}, 404, None),
        ('POST', '/flats/{flat}/handsets', HUGE, 413, None),
        ('GET', '/flats/%d/handsets' % NOPE, None, 404, None),
        ('GET', '/handsets/%d' % NOPE, None, 404, None),
        ('PATCH', '/handsets/{handset}', {}, 400, 'mac'),
        ('PATCH', '/handsets/{handset}', {'mac': 5}, 400, 'mac'),
        ('PATCH', '/handsets/{handset}', {'mac': '02:00:00:00:00:01', 'suffix': 2}, 400,
         'suffix'),
        ('PATCH', '/handsets/%d' % NOPE, {'mac': '02:00:00:00:00:01'}, 404, None),
        ('POST', '/handsets/{handset}/credentials', {'password': 'mine'}, 400, 'password'),
        ('POST', '/handsets/%d/credentials' % NOPE, None, 404, None),
        ('DELETE', '/handsets/%d' % NOPE, None, 404, None),
    ])


@case
def numbers_and_audit_refuse_bad_input(pg):
    refused(pg, [
        ('GET', '/numbers/abc', None, 400, 'number'),
        ('GET', '/numbers/100-1101-12x1', None, 400, 'number'),
        ('GET', '/numbers/%s' % ('9' * 60), None, 400, 'number'),
        ('GET', '/numbers/100-1101-1201-1-1', None, 400, 'number'),
        ('GET', '/numbers/100-1101-1201-1', None, 404, None),
        ('GET', '/audit?page=-1', None, 422, 'page'),
        ('GET', '/audit?per_page=0', None, 422, 'per_page'),
    ])


@case
def users_refuse_bad_input(pg):
    ok = {'username': 'newuser', 'password': 'long enough pw', 'role': 'manager'}
    refused(pg, [
        ('POST', '/users', '{', 400, None),
        ('POST', '/users', {}, 400, 'role'),
        ('POST', '/users', dict(ok, role='admin'), 422, 'role'),
        ('POST', '/users', dict(ok, role=1), 400, 'role'),
        ('POST', '/users', dict(ok, password='short'), 422, 'password'),
        ('POST', '/users', {'role': 'manager', 'password': 'long enough pw'}, 400, 'username'),
        ('POST', '/users', dict(ok, username='has space'), 422, 'username'),
        ('POST', '/users', dict(ok, username='admin'), 409, 'username'),
        ('POST', '/users', dict(ok, buildings='1'), 400, 'buildings'),
        ('POST', '/users', dict(ok, buildings=['1']), 400, 'buildings[0]'),
        ('POST', '/users', dict(ok, buildings=[1, 0]), 400, 'buildings[1]'),
        ('POST', '/users', dict(ok, buildings=[NOPE]), 422, 'buildings'),
        ('POST', '/users', dict(ok, buildings=list(range(1, 1002))), 422, 'buildings'),
        ('POST', '/users', dict(ok, role='operator', buildings=[E['ids']['building']]), 422,
         'buildings'),
        ('POST', '/users', dict(ok, admin=True), 400, 'admin'),
        ('POST', '/users', HUGE, 413, None),
        ('GET', '/users/%d' % NOPE, None, 404, None),
        ('PATCH', '/users/{me}', {'username': 'other'}, 400, 'username'),
        ('PATCH', '/users/{me}', {'role': 5}, 400, 'role'),
        ('PATCH', '/users/{me}', {'buildings': [E['ids']['building']]}, 422, 'buildings'),
        ('PATCH', '/users/%d' % NOPE, {'role': 'manager'}, 404, None),
        ('DELETE', '/users/{me}', None, 409, None),
        ('DELETE', '/users/%d' % NOPE, None, 404, None),
    ])


@case
def no_answer_was_a_500(pg):
    status, text = E['env'].c.get('/metrics')
    check_eq(status, 200, 'metrics')
    fives = [line for line in text.splitlines()
             if line.startswith('dpn_http_requests_total') and 'code="5' in line]
    check_eq(fives, [], 'answers 5xx counted in /metrics')
    check('SQL error' not in E['env'].srv.log(), 'no SQL error in the log')


if __name__ == '__main__':
    with Cluster() as pg:
        with Env(pg) as env:
            E['env'] = env
            b = env.building(1101, floors=2, units_per_floor=2)
            env.building(1102)
            flat = env.flats(b['id'])[101]['id']
            status, h = env.c.post('/api/v1/flats/%d/handsets' % flat)
            E['ids'] = {'site': env.site['id'], 'building': b['id'], 'flat': flat,
                        'handset': h['id'],
                        'me': int(pg.scalar("SELECT id FROM dpn.users WHERE username = 'admin'"))}
            run(pg)
