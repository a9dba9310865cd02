#!/usr/bin/env python3
"""test_gatewayd_settings — the flat settings of issue 12 end to end: real
PostgreSQL + mgmtd, dpn-gatewayd, small UDP user agents as the handsets and
as the gatekeeper (the caller and the forward's far end), and one case
through the real dpn-gatekeeper:

- do-not-disturb: the flat fork skips the handset, dialled directly 486;
- ring timeout: both handsets CANCELled, 408 to the caller;
- forward on no answer: after the ring timeout the call goes to the
  gatekeeper for the target with the flat as caller, the answer comes back;
- forward when nobody is registered: at once (a sip: URI target);
- a settings change in the API reaches gatewayd within 2 s;
- the API: bad input 4xx naming the field, no partial write, manager scope,
  audit rows, the broker endpoint's ETag; reachability as gatewayd reports it;
- the real gatekeeper asserts the flat on the forward to another flat."""
import os
import re
import sys
import time
import uuid
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, wait_for  # noqa: E402
import gatewayd  # noqa: E402
import mgmtd  # noqa: E402
from gatekeeper import Gatekeeper, Ua  # noqa: E402
from sip import free_udp_port  # noqa: E402

POOL = '127.34.0.0/24'
FLAT, FLAT2 = '100-1101-1201', '100-1101-1202'
S = {}


class Gw(gatewayd.Gatewayd):
    """dpn-gatewayd for FLAT against mgmtd and the gatekeeper at
    127.0.0.1:S['gk_port'], polling mgmtd at the default interval (1 s):
    the 2 s goal is measured as shipped."""

    def __init__(self):
        super().__init__(S['srv'].url, FLAT, S['gw_secret'], '02:00:00:34:00:00', POOL,
                         S['gk_port'], extra=['--poll-interval', '1s'])


# ---- SIP helpers -----------------------------------------------------------

def phone(h, register=True):
    """A handset UA on its own address, registered with the gateway."""
    ua = Ua(h['address'])
    ua.peer_host = S['first']
    ua.user_agent = 'dpn-test-phone/%d' % h['suffix']
    if register:
        r = ua.register(S['gw'].sip_port, h['number'], h['sip_username'], h['sip_password'])
        check(r is not None and r.status == 200, '%s registered: %r'
              % (h['number'], r and r.first))
    return ua


def unregister(ua, h):
    r = ua.register(S['gw'].sip_port, h['number'], h['sip_username'], h['sip_password'],
                    expires=0)
    check(r is not None and r.status == 200, 'unregistered %s' % h['number'])


def next_msg(ua, want, timeout=5.0):
    """The next message for which want(msg) holds; a REGISTER (the flat's,
    at the gatekeeper stand-in) is answered 200 and skipped."""
    end = time.time() + timeout
    while time.time() < end:
        m = ua.recv(end - time.time())
        if m is None:
            return None
        if m.method == 'REGISTER':
            ua.answer(m, 200, 'OK', 'Contact: %s;expires=3600\r\n' % m.one('Contact'))
        elif want(m):
            return m
    return None


def invite(ua, number):
    """INVITE sip:number@gateway from the gatekeeper stand-in."""
    ruri = 'sip:%s@%s:%d' % (number, S['first'], S['gw'].sip_port)
    ua.request(S['gw'].sip_port, 'INVITE', ruri, ruri, call_id=uuid.uuid4().hex,
               from_user='caller-' + uuid.uuid4().hex[:6])


def final(ua, timeout=5.0):
    """The final answer to ua's last request."""
    r = next_msg(ua, lambda m: m.status and m.status >= 200 and
                 m.one('Call-ID') == ua.last_call_id, timeout)
    if r is not None and r.status >= 300:
        ua.ack(S['gw'].sip_port, r)
    return r


def rings(ua, timeout=3.0):
    """The handset's INVITE, answered 180."""
    inv = next_msg(ua, lambda m: m.method == 'INVITE', timeout)
    check(inv is not None, 'handset %s:%d rang' % (ua.addr, ua.port))
    ua.answer(inv, 180, 'Ringing')
    return inv


def cancelled(ua, inv, timeout=12.0):
    """The CANCEL of inv arrives: 200 for it, 487 for the INVITE."""
    c = next_msg(ua, lambda m: m.method == 'CANCEL', timeout)
    check(c is not None, 'handset %s got CANCEL' % ua.addr)
    ua.answer(c, 200, 'OK')
    ua.answer(inv, 487, 'Request Terminated')
    return c


def quiet(ua, secs=0.6):
    m = next_msg(ua, lambda m: m.method == 'INVITE', secs)
    check(m is None, 'handset %s did not ring' % ua.addr)


def put_settings(body, status=200):
    got, ans = S['admin'].put('/api/v1/flats/%d/settings' % S['flat'], body)
    check_eq(got, status, 'PUT settings %r: %r' % (body, ans))
    return ans


def wait_applied(pred, what):
    """pred() until true, within 2 s of the API change: issue 12's goal."""
    t0 = time.monotonic()
    wait_for(pred, timeout=2.0, what=what, step=0.1)
    return time.monotonic() - t0


# ---- cases -----------------------------------------------------------------

def counted(series, ok, what):
    """Wait (3 s at most) until gatewayd's metric series satisfies ok: a
    counter goes up just after the message that the test reacts to is
    sent, and /metrics is served by another thread."""
    end = time.monotonic() + 3
    while not ok(S['gw'].metric(series) or 0) and time.monotonic() < end:
        time.sleep(0.05)
    v = S['gw'].metric(series)
    check(ok(v or 0), '%s: %s is %r' % (what, series, v))


@case
def gateway_starts_with_its_handsets(pg):
    S['gk'] = gk = Ua('127.0.0.1', S['gk_port'])
    S['gw'] = Gw()
    S['first'] = first = S['gw'].wait_log(r'first address (127\.34\.0\.\d+)').group(1)
    gk.peer_host = first
    S['hs'] = []
    for n in range(1, 4):
        status, h = S['admin'].post('/api/v1/flats/%d/handsets' % S['flat'],
                                    {'mac': '02:00:00:34:00:%02x' % n})
        check_eq(status, 201, 'handset %d: %r' % (n, h))
        S['hs'].append(h)
    for h in S['hs']:
        h['address'] = wait_for(lambda: pg.scalar(
            "SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'" % h['mac']),
            what='address of %s' % h['mac'])
    S['gw'].wait_log(r'3 handsets from mgmtd \(3 with an address\)')
    S['p1'], S['p2'] = phone(S['hs'][0]), phone(S['hs'][1])


@case
def api_settings_defaults_and_bad_input(pg):
    a, fid = S['admin'], S['flat']
    status, got = a.get('/api/v1/flats/%d/settings' % fid)
    check_eq(status, 200, 'GET settings: %r' % got)
    check_eq((got['ring_timeout'], got['forward_to'], got['forward_when']),
             (None, None, 'never'), 'defaults')
    check_eq([h['dnd'] for h in got['handsets']], [False] * 3, 'no DND')
    bad = [({'ring_timeout': 4}, 422, 'ring_timeout'),
           ({'ring_timeout': 91}, 422, 'ring_timeout'),
           ({'ring_timeout': '20'}, 400, 'ring_timeout'),
           ({'forward_to': 'call my mobile'}, 422, 'forward_to'),
           ({'forward_to': 'sip:@example.net'}, 422, 'forward_to'),
           ({'forward_to': '<sip:a@b>'}, 422, 'forward_to'),
           ({'forward_to': 'sip:a@b?Route=%3Csip:x%3E'}, 422, 'forward_to'),
           ({'forward_to': 'sip:a@b\r\nVia: x'}, 422, 'forward_to'),
           ({'forward_to': '1' * 129}, 422, 'forward_to'),
           ({'forward_when': 'sometimes', 'forward_to': '0171'}, 422, 'forward_when'),
           ({'forward_when': 'no_answer'}, 422, 'forward_to'),
           ({'forward_when': 'both', 'forward_to': None}, 422, 'forward_to'),
           ({'ring_timeout': 20, 'colour': 'red'}, 400, 'colour')]
    for body, want, field in bad:
        status, ans = a.put('/api/v1/flats/%d/settings' % fid, body)
        check_eq((status, ans.get('field')), (want, field), '%r -> %r' % (body, ans))
    status, ans = a.put('/api/v1/handsets/%d/settings' % S['hs'][0]['id'], {'dnd': 'yes'})
    check_eq((status, ans.get('field')), (400, 'dnd'), 'dnd must be a boolean: %r' % ans)
    status, ans = a.put('/api/v1/handsets/%d/settings' % S['hs'][0]['id'], {})
    check_eq((status, ans.get('field')), (400, 'dnd'), 'dnd is required: %r' % ans)
    check_eq(a.put('/api/v1/flats/999999/settings', {'ring_timeout': 20})[0], 404, 'no flat')
    check_eq(a.put('/api/v1/handsets/999999/settings', {'dnd': True})[0], 404, 'no handset')
    check_eq(pg.scalar('SELECT count(*) FROM dpn.flat_settings'), '0', 'nothing written')
    check_eq(pg.scalar('SELECT count(*) FROM dpn.handset_settings'), '0', 'nothing written')
    mgr = S['srv'].client().bearer(S['mgr_token'])
    check_eq(mgr.get('/api/v1/flats/%d/settings' % fid)[0], 404, 'manager of another building')
    check_eq(mgr.put('/api/v1/flats/%d/settings' % fid, {'ring_timeout': 20})[0], 404,
             'manager cannot write it either')
    check_eq(mgr.get('/api/v1/flats/%d/reachability' % fid)[0], 404, 'nor see reachability')


@case
def api_change_is_audited_and_changes_the_broker_etag(pg):
    c = S['srv'].client().basic(S['gw_user'], S['gw_secret'])
    status, _ = c.get('/api/v1/broker/handsets')
    check_eq(status, 200, 'broker handsets')
    etag = c.headers['etag']
    got = put_settings({'ring_timeout': 30, 'forward_to': '+49171', 'forward_when': 'no_answer'})
    check_eq((got['ring_timeout'], got['forward_to'], got['forward_when']),
             (30, '+49171', 'no_answer'), 'stored and answered')
    status, body = c.raw('GET', '/api/v1/broker/handsets', headers={'If-None-Match': etag})
    check_eq(status, 200, 'a new body for the old ETag')
    check_eq(body['settings'], {'ring_timeout': 30, 'forward_to': '+49171',
                                'forward_when': 'no_answer'}, 'settings carried')
    check(c.headers['etag'] != etag, 'ETag changed')
    status, ans = S['admin'].put('/api/v1/handsets/%d/settings' % S['hs'][2]['id'], {'dnd': True})
    check_eq((status, ans.get('dnd')), (200, True), 'DND set: %r' % ans)
    body = c.get('/api/v1/broker/handsets')[1]
    check_eq([h['dnd'] for h in body['handsets']], [False, False, True], 'DND carried')
    check_eq(S['admin'].put('/api/v1/handsets/%d/settings' % S['hs'][2]['id'],
                            {'dnd': False})[0], 200, 'DND off')
    rows = pg.psql("SELECT action FROM dpn.audit_log WHERE action IN ('flat.settings', "
                   "'handset.settings') ORDER BY id")
    check_eq([r[0] for r in rows], ['flat.settings', 'handset.settings', 'handset.settings'],
             'audit rows')
    put_settings({})
    check_eq(c.get('/api/v1/broker/handsets')[1]['settings'],
             {'ring_timeout': None, 'forward_to': None, 'forward_when': 'never'},
             'an empty PUT is the defaults again')


@case
def reachability_shows_what_gatewayd_reports(pg):
    h1, h3 = S['hs'][0], S['hs'][2]

    def reported():
        status, r = S['admin'].get('/api/v1/flats/%d/reachability' % S['flat'])
        return status == 200 and r['handsets'][0]['registered'] and r
    r = wait_for(reported, timeout=5, what='h1 registered in the reachability')
    one = r['handsets'][0]
    check_eq(one['number'], h1['number'], 'the handset')
    check_eq(one['address'], '%s:%d' % (S['p1'].addr, S['p1'].port), 'address it registered from')
    check_eq(one['user_agent'], 'dpn-test-phone/1', 'user agent')
    check(one['since'] and one['reported_at'], 'since and reported_at: %r' % one)
    three = r['handsets'][2]
    check_eq((three['number'], three['registered'], three['since']), (h3['number'], False, None),
             'handset 3 not registered')


@case
def dnd_handset_is_skipped_by_the_flat_and_busy_when_dialled(pg):
    gk, p1, p2, h2 = S['gk'], S['p1'], S['p2'], S['hs'][1]
    status, _ = S['admin'].put('/api/v1/handsets/%d/settings' % h2['id'], {'dnd': True})
    check_eq(status, 200, 'DND on handset 2')

    def busy():
        invite(gk, h2['number'])
        inv = next_msg(p2, lambda m: m.method == 'INVITE', 0.3)
        if inv:         # not applied yet: it rang; end that call
            p2.answer(inv, 486, 'Busy Here')
        r = final(gk)
        return inv is None and r is not None and r.status == 486
    took = wait_applied(busy, 'handset 2 dialled directly: 486')
    check(took < 2.0, 'within 2 s of the change (%.2f s)' % took)
    invite(gk, FLAT)
    inv = rings(p1)
    quiet(p2)
    p1.answer(inv, 486, 'Busy Here')
    r = final(gk)
    check(r is not None and r.status == 486, 'only handset 1 rang; its 486 came back: %r'
          % (r and r.first))
    check(S['gw'].metric('dpn_gw_dnd_total{action="skipped"}') >= 1, 'skipped counted')
    check(S['gw'].metric('dpn_gw_dnd_total{action="refused"}') >= 1, 'refused counted')
    check_eq(S['admin'].put('/api/v1/handsets/%d/settings' % h2['id'], {'dnd': False})[0],
             200, 'DND off')
    S['gw'].wait_log(r'(?s)rings 1 handset.*forward off')


@case
def ring_timeout_cancels_the_handsets_and_answers_408(pg):
    gk, p1, p2 = S['gk'], S['p1'], S['p2']
    put_settings({'ring_timeout': 5})
    S['gw'].wait_log(r'ring timeout 5 s, forward off')
    t0 = time.monotonic()
    invite(gk, FLAT)
    i1, i2 = rings(p1), rings(p2)
    cancelled(p1, i1)
    cancelled(p2, i2)
    r = final(gk, timeout=3)
    took = time.monotonic() - t0
    check(r is not None and r.status == 408, 'the caller got 408: %r' % (r and r.first))
    check(4.5 <= took <= 8, 'after the ring timeout of 5 s (%.2f s)' % took)
    counted('dpn_gw_ring_timeouts_total', lambda v: v == 1, 'one ring timeout counted')


@case
def forward_on_no_answer_reaches_the_target_as_the_flat(pg):
    gk, p1, p2 = S['gk'], S['p1'], S['p2']
    put_settings({'ring_timeout': 5, 'forward_to': '0171-555', 'forward_when': 'no_answer'})
    S['gw'].wait_log(r'ring timeout 5 s, forward 0171-555 on no answer')
    invite(gk, FLAT)
    i1, i2 = rings(p1), rings(p2)
    fwd = next_msg(gk, lambda m: m.method == 'INVITE', timeout=8)
    check(fwd is not None, 'the forward reached the gatekeeper')
    check_eq(fwd.ruri, 'sip:0171-555@127.0.0.1:%d' % S['gk_port'], 'Request-URI is the target')
    check(fwd.one('P-Asserted-Identity') == '<sip:%s@%s>' % (FLAT, S['first']),
          'the flat is the caller: %r' % fwd.get('P-Asserted-Identity'))
    check('sip:%s@' % FLAT in (fwd.one('Diversion') or '') and
          'reason=no-answer' in fwd.one('Diversion'), 'Diversion: %r' % fwd.one('Diversion'))
    check(fwd.one('From').startswith('<sip:caller-'), "the caller's From is kept: %r"
          % fwd.one('From'))
    for ua, inv in ((p1, i1), (p2, i2)):
        cancelled(ua, inv, timeout=2)
    gk.answer(fwd, 180, 'Ringing')
    gk.answer(fwd, 200, 'OK', 'Contact: <sip:target@127.0.0.1:%d>\r\n' % S['gk_port'])
    r = final(gk)
    check(r is not None and r.status == 200, "the target's answer came back to the caller: %r"
          % (r and r.first))
    counted('dpn_gw_forwarded_total{why="no_answer"}', lambda v: v == 1,
            'one forward on no answer counted')


@case
def forward_when_nobody_is_registered_at_once(pg):
    gk, p1, p2 = S['gk'], S['p1'], S['p2']
    unregister(p1, S['hs'][0])
    unregister(p2, S['hs'][1])
    invite(gk, FLAT)
    r = final(gk)
    check(r is not None and r.status == 480, 'nobody registered, no forward: 480')
    put_settings({'forward_to': 'sip:mobile@example.net', 'forward_when': 'unregistered'})

    def forwarded():
        invite(gk, FLAT)
        m = next_msg(gk, lambda m: m.method == 'INVITE' or (m.status and m.status >= 200
                     and m.one('Call-ID') == gk.last_call_id), timeout=2)
        if m is not None and m.status:
            gk.ack(S['gw'].sip_port, m)
            return None
        return m
    t0 = time.monotonic()
    fwd = wait_for(forwarded, timeout=2.0, what='forwarded at once', step=0.1)
    check(time.monotonic() - t0 < 2.5, 'within 2 s of the change')
    check_eq(fwd.ruri, 'sip:mobile@example.net', 'the URI target as it is')
    check('reason=unavailable' in (fwd.one('Diversion') or ''), 'Diversion says why')
    gk.answer(fwd, 486, 'Busy Here')
    r = final(gk)
    check(r is not None and r.status == 486, 'its answer came back: %r' % (r and r.first))
    counted('dpn_gw_forwarded_total{why="unregistered"}', lambda v: v >= 1,
            'the forward counted')
    put_settings({})


@case
def the_real_gatekeeper_asserts_the_flat_on_the_forward(pg):
    """caller -> dpn-gatekeeper -> gatewayd -> handset (no answer) -> ring
    timeout -> gatewayd -> dpn-gatekeeper -> flat 2's gateway, which sees
    flat 1 asserted by the gatekeeper."""
    S['gk'].close()
    check_eq(S['gw'].stop(), 0, 'clean stop')
    status, cred = S['admin'].put('/api/v1/flats/%d/gateway' % S['flat2'])
    check_eq(status, 201, 'flat 2 gateway')
    c2 = S['srv'].client().basic(cred['username'], cred['secret'])
    status, blk = c2.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:34:01:00'})
    check_eq(status, 200, 'flat 2 block: %r' % blk)
    with Gatekeeper(pg, site=100, port=S['gk_port']) as gk:
        gw2 = Ua(blk['gateway']['address'])
        r = gw2.register(gk.port, FLAT2, cred['username'], cred['secret'])
        check(r is not None and r.status == 200, 'flat 2 registered at the gatekeeper')
        S['gw'].start()
        S['gw'].wait_log(r'flat %s reachable via gatekeeper' % FLAT)
        S['gw'].wait_log(r'3 handsets from mgmtd')
        put_settings({'ring_timeout': 5, 'forward_to': FLAT2, 'forward_when': 'no_answer'})
        S['gw'].wait_log(r'forward %s on no answer' % FLAT2)
        p1 = phone(S['hs'][0])
        caller = Ua('127.0.0.1')
        ruri = 'sip:%s@127.0.0.1:%d' % (FLAT, gk.port)
        caller.request(gk.port, 'INVITE', ruri, ruri, call_id=uuid.uuid4().hex)
        inv = rings(p1)
        cancelled(p1, inv)
        fwd = gw2.expect_request('INVITE', timeout=5)
        check(fwd is not None, "the forward reached flat 2's gateway: %s" % gk.log())
        check(re.match(r'<sip:%s@' % FLAT, fwd.one('P-Asserted-Identity') or ''),
              'the gatekeeper asserts flat 1: %r' % fwd.get('P-Asserted-Identity'))
        gw2.answer(fwd, 486, 'Busy Here')
        r = caller.final(timeout=5)
        check(r is not None and r.status == 486, 'the answer went back to the caller: %r'
              % (r and r.first))
        caller.ack(gk.port, r)
        for ua in (p1, caller, gw2):
            ua.close()
    check_eq(S['gw'].stop(), 0, 'gatewayd exits cleanly')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        site, flats = mgmtd.seed(cluster, cidr=POOL, flats=2)
        S['flat'], S['flat2'] = flats
        S['gk_port'] = free_udp_port()
        mgmtd.add_user(cluster, 'op')
        other = cluster.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES (%d, 1102) "
                               "RETURNING id" % site)
        mgmtd.add_user(cluster, 'mgr', role='manager', buildings=(other,))
        S['mgr_token'] = mgmtd.add_token(cluster, 'mgr')
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            S['admin'] = server.client().bearer(mgmtd.add_token(cluster, 'op'))
            status, cred = S['admin'].put('/api/v1/flats/%d/gateway' % S['flat'])
            assert status == 201, cred
            S['gw_user'], S['gw_secret'] = cred['username'], cred['secret']
            try:
                run(cluster)
            finally:
                if S.get('gw'):
                    S['gw'].stop()
                    print(S['gw'].log()[-4000:])
