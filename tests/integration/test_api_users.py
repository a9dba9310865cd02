#!/usr/bin/env python3
"""test_api_users — admin accounts over real HTTP against a real PostgreSQL:
operators create, list, change and delete users (yescrypt passwords); a
manager sees and changes only the buildings assigned to them — every other
building, flat, handset and number is 404 — and site, pool, user and audit
requests are 403; all with the database checked."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

E = {}


def manager_client():
    c = E['env'].srv.client()
    c.login('mina', E['mina_pw'])
    return c


@case
def operator_creates_a_manager_who_can_log_in(pg):
    env = E['env']
    mine, other = E['mine'], E['other']
    E['mina_pw'] = 'correct horse battery'
    status, u = env.c.post('/api/v1/users', {'username': 'mina', 'password': E['mina_pw'],
                                             'role': 'manager', 'buildings': [mine['id']] * 2})
    check_eq((status, u['username'], u['role'], u['buildings']),
             (201, 'mina', 'manager', [mine['id']]), 'POST user: %r' % u)
    check('password' not in str(u), 'no password in the answer')
    check(pg.scalar("SELECT password_hash FROM dpn.users WHERE username = 'mina'")
          .startswith('$y$'), 'yescrypt hash stored')
    E['mina'] = u
    status, lst = env.c.get('/api/v1/users?q=mina')
    check_eq((status, [x['username'] for x in lst['items']]), (200, ['mina']), 'list with q')
    status, got = env.c.get('/api/v1/users/%d' % u['id'])
    check_eq((status, got), (200, u), 'GET user')
    body = manager_client().get('/api/v1/session')[1]
    check_eq((body['user']['role'], body['user']['buildings']), ('manager', [mine['id']]),
             'manager logged in')
    check_eq(env.audit_count('user.create'), 2, 'audit rows (cli admin + mina)')
    check(other['id'] not in u['buildings'], 'other building not assigned')


@case
def manager_sees_only_assigned_buildings(pg):
    m = manager_client()
    env, mine, other = E['env'], E['mine'], E['other']
    sid = env.site['id']
    status, lst = m.get('/api/v1/sites/%d/buildings' % sid)
    check_eq((status, [b['id'] for b in lst['items']], lst['total']), (200, [mine['id']], 1),
             'list shows only the assigned building')
    check_eq(m.get('/api/v1/buildings/%d' % mine['id'])[0], 200, 'own building')
    of = env.flats(other['id'])[101]
    status, oh = env.c.post('/api/v1/flats/%d/handsets' % of['id'])
    check_eq(status, 201, 'operator adds a handset to the other building')
    for path in ('/buildings/%d' % other['id'], '/buildings/%d/flats' % other['id'],
                 '/flats/%d' % of['id'], '/flats/%d/handsets' % of['id'],
                 '/flats/%d/gateway' % of['id'], '/handsets/%d' % oh['id'],
                 '/numbers/100-1102-0101', '/numbers/100-1102-0101-1'):
        status, err = m.get('/api/v1' + path)
        check_eq(status, 404, 'manager GET %s: %r' % (path, err))
    check_eq(env.c.get('/api/v1/numbers/100-1102-0101-1')[0], 200, 'operator finds it')
    check_eq(m.get('/api/v1/numbers/100-1101-0101')[0], 200, 'manager finds own flat')
    before = mgmtd.dump(pg)
    for method, path, body in (
            ('PATCH', '/buildings/%d' % other['id'], {'name': 'mine now'}),
            ('DELETE', '/buildings/%d' % other['id'], None),
            ('POST', '/buildings/%d/flats' % other['id'], {'number': 999}),
            ('PATCH', '/flats/%d' % of['id'], {'circuit_id': 'stolen'}),
            ('DELETE', '/flats/%d' % of['id'], None),
            ('PUT', '/flats/%d/gateway' % of['id'], None),
            ('DELETE', '/flats/%d/gateway' % of['id'], None),
            ('POST', '/flats/%d/handsets' % of['id'], {}),
            ('PATCH', '/handsets/%d' % oh['id'], {'mac': '02:00:00:00:00:77'}),
            ('POST', '/handsets/%d/credentials' % oh['id'], None),
            ('DELETE', '/handsets/%d' % oh['id'], None)):
        status, err = m.raw(method, '/api/v1' + path,
                            None if body is None else __import__('json').dumps(body))
        check_eq(status, 404, 'manager %s %s: %r' % (method, path, err))
    for method, path, body in (
            ('POST', '/sites', {'number': 555}),
            ('PATCH', '/sites/%d' % sid, {'name': 'x'}),
            ('POST', '/sites/%d/pools' % sid, {'cidr': '10.9.0.0/16'}),
            ('POST', '/sites/%d/buildings' % sid, {'number': 1300}),
            ('POST', '/users', {'username': 'x', 'password': 'long enough pw', 'role': 'operator'}),
            ('PATCH', '/users/%d' % E['mina']['id'], {'role': 'operator'}),
            ('DELETE', '/users/%d' % E['mina']['id'], None),
            ('GET', '/users', None),
            ('GET', '/audit', None)):
        status, err = m.raw(method, '/api/v1' + path,
                            None if body is None else __import__('json').dumps(body))
        check_eq(status, 403, 'manager %s %s: %r' % (method, path, err))
    check_eq(mgmtd.dump(pg), before, 'nothing changed by the manager')


@case
def manager_changes_assigned_buildings(pg):
    m = manager_client()
    env, mine = E['env'], E['mine']
    mf = env.flats(mine['id'])[102]
    mark = pg.scalar('SELECT max(id) FROM dpn.audit_log')
    status, b = m.patch('/api/v1/buildings/%d' % mine['id'], {'name': 'Managed'})
    check_eq((status, b['name']), (200, 'Managed'), 'PATCH own building')
    status, g = m.put('/api/v1/flats/%d/gateway' % mf['id'])
    check_eq(status, 201, 'gateway credentials for own flat')
    status, h = m.post('/api/v1/flats/%d/handsets' % mf['id'], {})
    check_eq((status, h['number']), (201, '100-1101-0102-1'), 'handset in own flat')
    status, f = m.post('/api/v1/buildings/%d/flats' % mine['id'], {'number': 301})
    check_eq(status, 201, 'flat in own building')
    check_eq(m.delete('/api/v1/flats/%d' % f['id'])[0], 204, 'delete own flat')
    rows = pg.psql("SELECT actor, action FROM dpn.audit_log WHERE id > %s ORDER BY id" % mark)
    check_eq(rows, [['user:mina', a] for a in ('building.update', 'gateway.create',
                                               'handset.create', 'flat.create', 'flat.delete')],
             'audited as the manager')


@case
def operator_changes_role_buildings_and_password(pg):
    env, mine, other = E['env'], E['mine'], E['other']
    uid = E['mina']['id']
    status, u = env.c.patch('/api/v1/users/%d' % uid, {'buildings': [other['id']]})
    check_eq((status, u['buildings']), (200, [other['id']]), 'reassign')
    m = manager_client()
    check_eq(m.get('/api/v1/buildings/%d' % mine['id'])[0], 404, 'old building now hidden')
    check_eq(m.get('/api/v1/buildings/%d' % other['id'])[0], 200, 'new building visible')
    status, u = env.c.patch('/api/v1/users/%d' % uid, {'password': 'a new long password'})
    check_eq(status, 200, 'password change')
    c = env.srv.client()
    check_eq(c.post('/api/v1/session', {'username': 'mina', 'password': E['mina_pw']})[0],
             401, 'old password refused')
    E['mina_pw'] = 'a new long password'
    status, u = env.c.patch('/api/v1/users/%d' % uid, {'role': 'operator'})
    check_eq((status, u['role'], u['buildings']), (200, 'operator', []),
             'operator: buildings dropped')
    check_eq(manager_client().get('/api/v1/users')[0], 200, 'now sees users')
    n = env.audit_count('user.update')
    check_eq(env.c.delete('/api/v1/users/%d' % uid)[0], 204, 'DELETE user')
    check_eq(env.audit_count('user.delete'), 1, 'audited')
    check_eq(env.audit_count('user.update'), n, 'no stray update')
    check_eq(pg.psql("SELECT 1 FROM dpn.users WHERE username = 'mina'"), [], 'user gone')
    check_eq(m.get('/api/v1/session')[0], 401, 'sessions of a deleted user are gone')


if __name__ == '__main__':
    with Cluster() as pg:
        with Env(pg) as env:
            E['env'] = env
            E['mine'] = env.building(1101, floors=2, units_per_floor=2)
            E['other'] = env.building(1102, floors=2, units_per_floor=2)
            run(pg)
