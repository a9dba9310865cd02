#!/usr/bin/env python3
"""test_mgmtd_security — the auth gaps and HTTP strictness of issue 15: a
password change ends the user's sessions; login limits per address (no
table that forgets under hash collisions) and per account; %00, doubled
Content-Length, duplicate JSON names and lone surrogates refused; 405 with
Allow; 414/431 in JSON; no-store on API errors; array items named; the
database error counter ignores ordinary 409s; an empty PATCH writes
nothing."""
import os
import socket
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402

S = {}


def count(pg, table):
    return int(pg.scalar('SELECT count(*) FROM dpn.%s' % table))


def admin():
    return S['srv'].client().bearer(S['token'])


@case
def password_change_ends_the_users_other_sessions(pg):
    pw = mgmtd.add_user(pg, 'op2')
    victim = S['srv'].client()
    victim.login('op2', pw)
    check_eq(victim.post('/api/v1/sites', {'number': 930})[0], 201, 'writes before')
    uid = pg.scalar("SELECT id FROM dpn.users WHERE username = 'op2'")
    oper = S['srv'].client()
    oper.login('admin', S['pw'])
    status, _ = oper.patch('/api/v1/users/%s' % uid, {'password': 'a-new-password-1'})
    check_eq(status, 200, 'password changed')
    check_eq(victim.post('/api/v1/sites', {'number': 931})[0], 401,
             'the old session writes after the password change')
    check_eq(victim.get('/api/v1/session')[0], 401, 'the old session reads')
    check_eq(int(pg.scalar("SELECT count(*) FROM dpn.sessions WHERE user_id = %s" % uid)),
             0, 'sessions of op2 left')
    # Changing one's own password keeps the session that did it, ends others.
    other = S['srv'].client()
    other.login('op2', 'a-new-password-1')
    me = S['srv'].client()
    me.login('op2', 'a-new-password-1')
    pg.psql("UPDATE dpn.users SET role = 'operator' WHERE id = %s" % uid)
    check_eq(me.patch('/api/v1/users/%s' % uid, {'password': 'another-pass-2'})[0], 200,
             'own password changed')
    check_eq(me.get('/api/v1/session')[0], 200, 'the changing session stays')
    check_eq(other.get('/api/v1/session')[0], 401, 'the other session ended')
    # A role change alone ends nothing.
    check_eq(oper.patch('/api/v1/users/%s' % uid, {'role': 'operator'})[0], 200, 'role')
    check_eq(me.get('/api/v1/session')[0], 200, 'session stays on a role change')


def fnv_slot(addr):
    """The slot the old 1,024-slot login table gave an address."""
    h = 1469598103934665603
    for ch in addr.encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % 1024


def colliding_pair():
    seen = {}
    for x in range(1, 255):
        for y in range(2, 255):
            a = '127.0.%d.%d' % (x, y)
            s = fnv_slot(a)
            if s in seen:
                return seen[s], a
            seen[s] = a
    raise AssertionError('no colliding pair')


def login_codes(srv, source, user, n):
    c = srv.client(source=source)
    return [c.post('/api/v1/session', {'username': user, 'password': 'wrong-wrong'})[0]
            for _ in range(n)]


@case
def login_limit_per_address_survives_hash_collisions(pg):
    a, b = colliding_pair()
    with mgmtd.Server(pg, ['--login-rate', '5']) as srv:
        codes = {a: [], b: []}
        for i in range(8):   # alternating, each on its own account
            codes[a] += login_codes(srv, a, 'nobody-a%d' % i, 1)
            codes[b] += login_codes(srv, b, 'nobody-b%d' % i, 1)
        for addr in (a, b):
            check_eq(codes[addr], [401] * 5 + [429] * 3, 'answers to %s' % addr)


@case
def login_limit_per_account_across_addresses(pg):
    with mgmtd.Server(pg, ['--login-rate', '5']) as srv:
        codes = []
        for i in range(3):
            codes += login_codes(srv, '127.0.9.%d' % (i + 2), 'admin', 3)
        check_eq(codes[:5], [401] * 5, 'the first five wrong passwords')
        check_eq(set(codes[5:]), {429}, 'then the account is limited: %r' % codes)
        check_eq(srv.client().headers.get('retry-after'), None, 'fresh client')
        c = srv.client(source='127.0.9.9')
        status, _ = c.post('/api/v1/session', {'username': 'admin', 'password': S['pw']})
        check_eq((status, c.headers.get('retry-after')), (429, '60'),
                 'even the right password waits while the account is limited')
        check_eq(login_codes(srv, '127.0.9.9', 'someone-else', 1), [401],
                 'other accounts from that address still answered')


def raw_http(port, data, timeout=5):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        out = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b'\r\n\r\n' in out:
                head, _, body = out.partition(b'\r\n\r\n')
                n = [int(h.split(b':')[1]) for h in head.split(b'\r\n')
                     if h.lower().startswith(b'content-length:')]
                if n and len(body) >= n[0]:
                    break
        return out
    finally:
        s.close()


@case
def nul_in_the_url_is_refused(pg):
    c = admin()
    site = c.post('/api/v1/sites', {'number': 940})[1]
    for path in ('/api/v1/sites/%d%%00' % site['id'], '/index.html%00.txt',
                 '/api/v1/sites?q=9%00x', '/js/%00.js'):
        status, body = c.get(path)
        check_eq(status, 400, 'GET %s' % path)
        check('%00' in body['error'], 'says why: %r' % body)
    check_eq(c.get('/api/v1/sites/%d%%2500' % site['id'])[0], 404, 'an escaped %')


@case
def two_content_lengths_are_refused(pg):
    before = mgmtd.dump(pg)
    for lengths in ((14, 14), (14, 2)):
        body = b'{"number":941}'
        req = (b'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' +
               S['token'].encode() + b'\r\nContent-Type: application/json\r\n' +
               b''.join(b'Content-Length: %d\r\n' % n for n in lengths) + b'\r\n' + body)
        out = raw_http(S['srv'].port, req)
        check(out.startswith(b'HTTP/1.1 400'), 'Content-Length %r: %r' % (lengths, out[:60]))
        check(b'Content-Length' in out, 'says why: %r' % out[-200:])
    check_eq(mgmtd.dump(pg), before, 'nothing written')


@case
def duplicate_names_and_lone_surrogates_are_refused(pg):
    c = admin()
    before = mgmtd.dump(pg)
    for body, field in (
            ('{"number": 942, "name": "a\\ud800"}', 'name'),
            ('{"number": 942, "name": "\\udc00b"}', 'name'),
            ('{"number": 942, "name": "\\ud800\\u0041"}', 'name'),
            ('{"number": 942, "number": 943}', 'number'),
            ('{"number": 942, "widths": {"flat": 4, "flat": 3}}', 'widths.flat'),
            ('{"number": 942, "n\\u0061me": "x", "name": "y"}', 'name')):
        status, err = c.raw('POST', '/api/v1/sites', body)
        check_eq((status, err.get('field')), (400, field), 'POST %s: %r' % (body, err))
    check_eq(mgmtd.dump(pg), before, 'nothing written')
    status, site = c.raw('POST', '/api/v1/sites', '{"number": 944, "name": "\\ud83d\\ude00"}')
    check_eq((status, site.get('name')), (201, '\U0001F600'), 'a surrogate pair is fine')
    status, err = c.post('/api/v1/users', {'username': 'arr', 'password': '12345678',
                                           'role': 'manager', 'buildings': [1, 'a']})
    check_eq((status, err.get('field')), (400, 'buildings[1]'), 'array item named')


@case
def method_not_allowed_says_allow(pg):
    c = admin()
    status, _ = c.raw('PUT', '/api/v1/sites', '{}')
    check_eq((status, c.headers.get('allow')), (405, 'GET, HEAD, POST'), 'PUT /sites')
    status, _ = c.raw('POST', '/api/v1/sites/1/utilisation', '{}')
    check_eq((status, c.headers.get('allow')), (405, 'GET, HEAD'), 'POST utilisation')
    status, _ = c.raw('POST', '/index.html', '{}')
    check_eq((status, c.headers.get('allow')), (405, 'GET, HEAD'), 'POST a file')
    check_eq(c.headers.get('cache-control'), 'no-store', '405 not cached')
    check_eq(c.get('/nonexistent.html')[0], 404, 'a missing file')
    check_eq(c.headers.get('cache-control'), 'no-store', '404 not cached')
    check_eq(c.get('/api/v1/nothing')[0], 404, 'a missing resource')
    check_eq(c.headers.get('cache-control'), 'no-store', 'API 404 not cached')
    check_eq(c.get('/')[0], 200, 'a file')
    check_eq(c.headers.get('cache-control'), 'no-cache', 'files are revalidated')


@case
def long_urls_and_headers_answer_json(pg):
    c = admin()
    status, body = c.get('/api/v1/sites?q=' + 'x' * 5000)
    check_eq(status, 414, 'long URL')
    check('URL' in body['error'], 'JSON 414: %r' % body)
    check_eq(c.headers.get('content-type'), 'application/json', '414 type')
    status, body = c.raw('GET', '/api/v1/sites', None, {'X-Big': 'y' * 20000})
    check_eq(status, 431, 'big headers')
    check('headers' in body['error'], 'JSON 431: %r' % body)
    check_eq(c.get('/api/v1/sites?q=' + 'x' * 1000)[0], 200, 'a 1 KB query is fine')


@case
def db_errors_count_only_database_failures(pg):
    c = admin()

    def errors():
        text = S['srv'].client().get('/metrics')[1]
        return [line for line in text.splitlines() if line.startswith('dpn_db_errors_total')]
    before = errors()
    site = c.post('/api/v1/sites', {'number': 945})[1]
    for _ in range(3):
        check_eq(c.post('/api/v1/sites', {'number': 945})[0], 409, 'number taken')
    check_eq(c.post('/api/v1/sites/%d/pools' % site['id'], {'cidr': '10.9.0.0/16'})[0],
             201, 'a pool')
    check_eq(c.post('/api/v1/sites/%d/pools' % site['id'], {'cidr': '10.9.1.0/24'})[0],
             409, 'an overlapping pool')
    check_eq(errors(), before, 'dpn_db_errors_total after 409s and a 422')


@case
def empty_patch_changes_nothing(pg):
    c = admin()
    site = c.post('/api/v1/sites', {'number': 947})[1]
    uid = pg.scalar("SELECT id FROM dpn.users WHERE username = 'admin'")
    audit = count(pg, 'audit_log')
    for path in ('/api/v1/sites/%d' % site['id'], '/api/v1/users/%s' % uid):
        status, err = c.patch(path, {})
        check_eq(status, 400, 'PATCH %s {}' % path)
        check('nothing to change' in err['error'], 'says why: %r' % err)
    check_eq(count(pg, 'audit_log'), audit, 'audit rows after empty PATCHes')
    check_eq(c.patch('/api/v1/sites/%d' % site['id'], {'name': 'x'})[0], 200, 'a real PATCH')
    check_eq(count(pg, 'audit_log'), audit + 1, 'audited')


@case
def a_manager_sees_only_their_buildings_figures(pg):
    site, flats = mgmtd.seed(pg, site_number=960, cidr='127.96.0.0/24', flats=1,
                             building=1)
    mine = pg.scalar('SELECT building_id FROM dpn.flats WHERE id = %d' % flats[0])
    c = admin()
    status, other = c.post('/api/v1/sites/%d/buildings' % site,
                           {'number': 2, 'floors': 1, 'units_per_floor': 1})
    check_eq(status, 201, 'second building')
    other_flat = int(pg.scalar('SELECT id FROM dpn.flats WHERE building_id = %d' % other['id']))
    gw = S['srv'].client().basic(*mgmtd.add_gateway(pg, other_flat))
    check_eq(gw.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:96:01'})[0],
             200, 'a block for the other building')
    pw = mgmtd.add_user(pg, 'mgr960', role='manager', buildings=[mine])
    m = S['srv'].client()
    m.login('mgr960', pw)
    status, util = m.get('/api/v1/sites/%d/utilisation' % site)
    check_eq(status, 200, 'manager utilisation')
    item = util['items'][0]
    check_eq((item['blocks'], item['allotted'], item['assigned'], item['free']),
             (0, 0, 0, None), "the other building's block is not counted: %r" % item)
    check_eq(item['size'], 254, 'the pool size stays')
    item = c.get('/api/v1/sites/%d/utilisation' % site)[1]['items'][0]
    check_eq((item['blocks'], item['free']), (1, 254 - item['allotted']), 'operator figures')
    # Renumbering to another building's number would reveal it with a 409.
    status, err = m.patch('/api/v1/buildings/%s' % mine, {'number': 2})
    check_eq((status, err.get('field')), (403, 'number'), 'manager renumbers: %r' % err)
    check('exists' not in err['error'], 'says nothing of the others: %r' % err)
    check_eq(m.patch('/api/v1/buildings/%s' % mine, {'number': 1, 'name': 'A'})[0], 200,
             'the same number with a new name')
    check_eq(m.patch('/api/v1/buildings/%d' % other['id'], {'number': 3})[0], 404,
             "another manager's building")
    check_eq(c.patch('/api/v1/buildings/%s' % mine, {'number': 2})[0], 409,
             'an operator gets the 409')


@case
def a_manager_cannot_probe_other_buildings_macs_or_circuit_ids(pg):
    site, flats = mgmtd.seed(pg, site_number=961, cidr='127.96.1.0/24', flats=1,
                             building=1)
    mine = flats[0]
    bld = pg.scalar('SELECT building_id FROM dpn.flats WHERE id = %d' % mine)
    c = admin()
    status, other = c.post('/api/v1/sites/%d/buildings' % site,
                           {'number': 2, 'floors': 1, 'units_per_floor': 1})
    check_eq(status, 201, 'second building')
    theirs = int(pg.scalar('SELECT id FROM dpn.flats WHERE building_id = %d' % other['id']))
    taken_mac = '02:00:00:00:96:11'
    check_eq(c.post('/api/v1/flats/%d/handsets' % theirs, {'mac': taken_mac})[0], 201,
             "a handset with a MAC in the other building")
    check_eq(c.patch('/api/v1/flats/%d' % theirs, {'circuit_id': 'probe-961'})[0], 200,
             "the other flat's circuit-id")
    pw = mgmtd.add_user(pg, 'mgr961', role='manager', buildings=[bld])
    m = S['srv'].client()
    m.login('mgr961', pw)
    handsets = count(pg, 'handsets')
    # Taken elsewhere or free: the same 403 naming the field, nothing written.
    answers = [m.post('/api/v1/flats/%d/handsets' % mine, {'mac': mac})
               for mac in (taken_mac, '02:00:00:00:96:12')]
    for status, err in answers:
        check_eq((status, err.get('field')), (403, 'mac'), 'manager sets a MAC: %r' % err)
    check_eq(answers[0][1], answers[1][1], 'a taken and a free MAC answer alike')
    check_eq(count(pg, 'handsets'), handsets, 'no handset written')
    status, h = m.post('/api/v1/flats/%d/handsets' % mine, {})
    check_eq((status, h.get('mac')), (201, None), 'a handset without MAC: %r' % h)
    answers = [m.patch('/api/v1/handsets/%d' % h['id'], {'mac': mac})
               for mac in (taken_mac, '02:00:00:00:96:12')]
    for status, err in answers:
        check_eq((status, err.get('field')), (403, 'mac'), 'manager changes a MAC: %r' % err)
    check_eq(answers[0][1], answers[1][1], 'PATCH: a taken and a free MAC answer alike')
    check_eq(c.patch('/api/v1/handsets/%d' % h['id'], {'mac': '02:00:00:00:96:13'})[0], 200,
             'an operator sets the MAC')
    check_eq(m.patch('/api/v1/handsets/%d' % h['id'], {'mac': '02-00-00-00-96-13'})[0], 200,
             'the manager resends the MAC it has')
    check_eq(c.patch('/api/v1/handsets/%d' % h['id'], {'mac': taken_mac})[0], 409,
             'an operator gets the 409')
    # A MAC the handset has is not checked again, even when (learnt by the
    # broker) another building's gateway has it too.
    mgmtd.add_gateway(pg, theirs)
    pg.psql("UPDATE dpn.gateways SET mac = '02:00:00:00:96:14' WHERE flat_id = %d; "
            "UPDATE dpn.handsets SET mac = '02:00:00:00:96:14' WHERE id = %d"
            % (theirs, h['id']))
    check_eq(m.patch('/api/v1/handsets/%d' % h['id'], {'mac': '02:00:00:00:96:14'})[0], 200,
             "the manager resends a MAC another building's gateway has")
    # Circuit-ids, on a flat of the manager's building and on a new one.
    answers = [m.patch('/api/v1/flats/%d' % mine, {'circuit_id': cid})
               for cid in ('probe-961', 'free-961')]
    for status, err in answers:
        check_eq((status, err.get('field')), (403, 'circuit_id'),
                 'manager sets a circuit-id: %r' % err)
    check_eq(answers[0][1], answers[1][1], 'a taken and a free circuit-id answer alike')
    status, flat = m.get('/api/v1/flats/%d' % mine)
    check_eq(m.patch('/api/v1/flats/%d' % mine, {'circuit_id': flat['circuit_id']})[0], 200,
             'the manager resends the circuit-id it has')
    check_eq(m.patch('/api/v1/flats/%d' % theirs, {'circuit_id': 'x-961'})[0], 404,
             "another building's flat stays unknown")
    status, err = m.post('/api/v1/buildings/%s/flats' % bld,
                         {'number': 7, 'circuit_id': 'probe-961'})
    check_eq((status, err.get('field')), (403, 'circuit_id'), 'create with a circuit-id')
    status, new = m.post('/api/v1/buildings/%s/flats' % bld, {'number': 7})
    check_eq((status, new.get('circuit_id')), (201, '0001-0007'),
             'a new flat gets the default circuit-id: %r' % new)
    check_eq(c.patch('/api/v1/flats/%d' % mine, {'circuit_id': 'probe-961'})[0], 409,
             'an operator gets the 409')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        S['pw'] = mgmtd.add_user(cluster, 'admin')
        S['token'] = mgmtd.add_token(cluster, 'admin')
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
