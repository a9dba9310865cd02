#!/usr/bin/env python3
"""test_gatewayd_broker — GET /api/v1/broker/handsets, the endpoint a
gateway polls for its flat's handsets: what it carries (HA1s, never a
password; only the caller's own flat), the gateway's credentials checked,
ETag / If-None-Match 304 while nothing changed and a new ETag as soon as a
handset is added, re-credentialed or removed in the admin API."""
import hashlib
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402

S = {}
PATH = '/api/v1/broker/handsets'


def gw(i):
    user, secret = S['creds'][i]
    return S['srv'].client().basic(user, secret)


def admin():
    return S['srv'].client().bearer(S['token'])


@case
def gives_the_flat_and_its_handsets_with_ha1s(pg):
    a = admin()
    status, h1 = a.post('/api/v1/flats/%d/handsets' % S['flats'][0],
                        {'mac': '02:00:00:00:00:01'})
    check_eq(status, 201, 'handset made: %r' % h1)
    S['h1'] = h1
    status, body = gw(0).get(PATH)
    check_eq(status, 200, 'answer: %r' % body)
    check_eq(body['flat'], '100-1101-1201', 'flat number')
    check_eq(body['realm'], 'dpn', 'realm')
    check_eq(len(body['handsets']), 1, 'one handset')
    h = body['handsets'][0]
    user, pw = h1['sip_username'], h1['sip_password']
    check_eq(h['sip_username'], user, 'username')
    check_eq(h['number'], '100-1101-1201-1', 'full number')
    check_eq(h['suffix'], 1, 'suffix')
    check_eq(h['mac'], '02:00:00:00:00:01', 'mac')
    check_eq(h['ha1_md5'], hashlib.md5(('%s:dpn:%s' % (user, pw)).encode()).hexdigest(),
             'HA1 MD5')
    check_eq(h['ha1_sha256'], hashlib.sha256(('%s:dpn:%s' % (user, pw)).encode()).hexdigest(),
             'HA1 SHA-256')
    check(pw not in str(body), 'no plaintext password anywhere')
    check_eq(h['address'], None, 'no address before allocation')
    status, other = gw(1).get(PATH)
    check_eq((status, other['flat'], other['handsets']), (200, '100-1101-1202', []),
             'the other flat sees only its own (none)')


@case
def wrong_or_missing_credentials_are_401(pg):
    user, secret = S['creds'][0]
    c = S['srv'].client().basic(user, secret[:-1] + ('0' if secret[-1] != '0' else '1'))
    status, body = c.get(PATH)
    check_eq(status, 401, 'wrong secret: %r' % body)
    check('handsets' not in str(body), 'nothing leaks')
    status, body = S['srv'].client().get(PATH)
    check_eq(status, 401, 'no credentials')
    status, body = admin().get(PATH)
    check_eq(status, 401, 'an admin token is not a gateway')
    status, body = gw(0).raw('DELETE', PATH)
    check_eq(status, 405, 'DELETE not allowed')


@case
def etag_gives_304_until_something_changes(pg):
    c = gw(0)
    status, body = c.get(PATH)
    etag = c.headers.get('etag')
    check(etag and etag.startswith('"') and etag.endswith('"'), 'quoted ETag: %r' % etag)
    status, body = c.raw('GET', PATH, headers={'If-None-Match': etag})
    check_eq((status, body), (304, None), 'unchanged: 304, no body')
    check_eq(c.headers.get('etag'), etag, '304 repeats the ETag')
    status, body = c.raw('GET', PATH, headers={'If-None-Match': '"0000"'})
    check_eq(status, 200, 'a stale ETag gets the body')
    # Allocation gives the handset an address: a change.
    status, a = c.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:00',
                                                   'handset_macs': ['02:00:00:00:00:01']})
    check_eq(status, 200, 'allocate: %r' % a)
    status, body = c.raw('GET', PATH, headers={'If-None-Match': etag})
    check_eq(status, 200, 'address given: new body')
    check_eq(body['handsets'][0]['address'], a['handsets'][0]['address'], 'address shown')
    etag2 = c.headers['etag']
    check(etag2 != etag, 'new ETag')
    # New credentials in the admin: a change.
    status, cr = admin().post('/api/v1/handsets/%d/credentials' % S['h1']['id'])
    check_eq(status, 200, 'credentials regenerated: %r' % cr)
    status, body = c.raw('GET', PATH, headers={'If-None-Match': etag2})
    check_eq(status, 200, 'new credentials: new body')
    check_eq(body['handsets'][0]['ha1_md5'], hashlib.md5(
        ('%s:dpn:%s' % (cr['sip_username'], cr['sip_password'])).encode()).hexdigest(),
        'the new HA1')
    etag3 = c.headers['etag']
    # A second handset, then removal of the first.
    status, h2 = admin().post('/api/v1/flats/%d/handsets' % S['flats'][0], {})
    check_eq(status, 201, 'second handset')
    status, body = c.raw('GET', PATH, headers={'If-None-Match': etag3})
    check_eq((status, [h['suffix'] for h in body['handsets']]), (200, [1, 2]), 'added')
    etag4 = c.headers['etag']
    status, _ = admin().delete('/api/v1/handsets/%d' % S['h1']['id'])
    check_eq(status, 204, 'removed')
    status, body = c.raw('GET', PATH, headers={'If-None-Match': etag4})
    check_eq((status, [h['suffix'] for h in body['handsets']]), (200, [2]), 'removed')


@case
def registrations_are_stored_and_bad_input_named(pg):
    c = gw(0)
    P = '/api/v1/broker/registrations'
    status, h = admin().post('/api/v1/flats/%d/handsets' % S['flats'][0], {'suffix': 5})
    check_eq(status, 201, 'a handset to report on: %r' % h)
    for body, field in (({}, 'handsets'),
                        ({'handsets': [{'suffix': 5}]}, 'handsets[0].registered'),
                        ({'handsets': [{'suffix': 5, 'registered': 'yes'}]}, 'handsets[0].registered'),
                        ({'handsets': [{'suffix': 0, 'registered': True}]}, 'handsets[0].suffix'),
                        ({'handsets': [{'suffix': 5, 'registered': True, 'contact': 'x' * 300}]},
                         'handsets[0].contact'),
                        ({'handsets': [{'suffix': 5, 'registered': True, 'oops': 1}]}, 'handsets[0].oops'),
                        ({'handsets': [7]}, 'handsets[0]')):
        status, ans = c.raw('PUT', P, body)
        check(status in (400, 422) and ans.get('field') == field,
              '%r -> 4xx naming %s: %s %r' % (body, field, status, ans))
    check_eq(pg.scalar('SELECT count(*) FROM dpn.handset_registrations'), '0', 'nothing written')
    status, ans = S['srv'].client().basic(S['creds'][0][0], 'nope').raw(
        'PUT', P, {'handsets': [{'suffix': 5, 'registered': True}]})
    check_eq(status, 401, 'wrong secret')
    status, ans = c.raw('PUT', P, {'handsets': [
        {'suffix': 5, 'registered': True, 'since_s': 60, 'contact': 'sip:x@127.31.0.3:5060',
         'user_agent': 'phone/1'},
        {'suffix': 7, 'registered': True}]})
    check_eq((status, ans), (200, {'written': 1}), 'own handset written, unknown suffix skipped')
    row = pg.psql("SELECT registered, contact, user_agent, now() - since > interval '59 s' "
                  "FROM dpn.handset_registrations WHERE handset_id = %d" % h['id'])
    check_eq(row, [['t', 'sip:x@127.31.0.3:5060', 'phone/1', 't']], 'the row')
    status, ans = gw(1).raw('PUT', P, {'handsets': [{'suffix': 5, 'registered': False}]})
    check_eq((status, ans), (200, {'written': 0}), "another flat's gateway cannot touch it")
    status, ans = c.raw('PUT', P, {'handsets': [{'suffix': 5, 'registered': False}]})
    check_eq(pg.psql("SELECT registered, since IS NULL FROM dpn.handset_registrations "
                     "WHERE handset_id = %d" % h['id']), [['f', 't']], 'unregistered')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        S['site'], S['flats'] = mgmtd.seed(cluster, cidr='127.31.0.0/24', flats=2)
        S['creds'] = [mgmtd.add_gateway(cluster, f) for f in S['flats']]
        mgmtd.add_user(cluster, 'op')
        S['token'] = mgmtd.add_token(cluster, 'op')
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
