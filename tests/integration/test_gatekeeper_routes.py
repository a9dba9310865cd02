#!/usr/bin/env python3
"""test_gatekeeper_routes — outbound routes of dpn-gatekeeper (issue 10)
against a real PostgreSQL and mgmtd: peer groups, peers and routes made
through mgmtd's API (bad input 4xx naming the field, audit rows, operators
only); a flat gateway calling a number of another complex reaches the
longest matching route's peer with the asserted caller ID; no failover
after 486; failover to the next peer after a 503 and after a peer that
does not answer; ACK and BYE of an answered call go to the peer the INVITE
took; a trusted peer's identity kept, an untrusted one's removed; outside
-> outside refused; a route edited through the API takes effect without a
restart; OPTIONS probing marks a silent peer down (state through mgmtd,
/metrics), new calls skip it, and it comes back when it answers again.

Peers are UDP user agents on 127.0.2.x that answer OPTIONS from a thread
(or stay silent when told)."""
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Msg, Ua, first_invite  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd import add_user  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from sip import SCEN, Sipp, free_udp_port  # noqa: E402

N1 = '100-1101-0101'
# The gateway, peers and sipp here send calls in quick succession: exempt
# from the flood limit (tests/integration/test_gatekeeper_guard.py tests it).
LOOPBACK = '127.0.0.0/8'
OTHER = '200-1101-0101'      # a flat of complex 200


class Peer(Ua):
    """A route peer: answers OPTIONS 200 from a thread while .alive;
    every other message is queued for recv()."""

    def __init__(self, addr):
        super().__init__(addr)
        self.alive, self.stop_ = True, False
        self.q = queue.Queue()
        self.options = 0
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        self.s.settimeout(0.1)
        while not self.stop_:
            try:
                data, src = self.s.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            m = Msg(data)
            m.src = src
            if m.method == 'OPTIONS':
                self.options += 1
                if self.alive:
                    self.answer(m, 200, 'OK')
                continue
            self.q.put(m)

    def recv(self, timeout=3.0):
        try:
            return self.q.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            return None

    def drain(self):
        while not self.q.empty():
            self.q.get_nowait()

    def close(self):
        self.stop_ = True
        self.t.join()
        super().close()


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        self.site = self.env.site['id']
        b = self.env.building(1101, floors=1, units_per_floor=1)
        f = Flat(self.env, pg, self.env.flats(b['id'])[101], 1)
        self.flat_id, self.addr = f.id, f.addr
        self.user, self.secret = f.user, f.secret
        self.p1, self.p2, self.p3 = (Peer('127.0.2.%d' % i) for i in (1, 2, 3))
        self.peers = (self.p1, self.p2, self.p3)
        # a peer is down after ~0.75 s of silence; a slow answer under
        # load must not be taken for one
        self.gk = Gatekeeper(pg, args=['--probe-interval', '250ms',
                                       '--probe-down', '3', '--probe-up', '1'],
                             trusted=LOOPBACK)
        self.gw = Ua(self.addr)
        r = self.gw.register(self.gk.port, N1, self.user, self.secret)
        check(r is not None and r.status == 200, 'gateway registered')

    def api(self, method, path, body=None):
        c = self.env.c
        if method == 'GET':
            return c.get(path)
        if method == 'DELETE':
            return c.delete(path)
        return getattr(c, method.lower())(path, body)

    def close(self):
        try:
            self.gw.close()
            for p in self.peers:
                p.close()
            self.gk.close()
        finally:
            self.env.srv.stop()


def wait_routes(ctx, peers_up):
    wait_for(lambda: ctx.gk.metrics().get('dpn_gk_peers_up') == peers_up,
             timeout=3, what='routes reloaded: %d peers up' % peers_up)


def invite(ctx, number, call_id=None):
    """The gateway INVITEs number at the gatekeeper; returns the Call-ID.
    What the peers still hold of earlier calls (retransmissions) is
    dropped first."""
    for p in ctx.peers:
        p.drain()
    cid = call_id or uuid.uuid4().hex
    ctx.gw.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (number, ctx.gk.port),
                   'sip:%s@dpn' % number, call_id=cid, from_user=N1 + '-1')
    return cid


def loads(ctx):
    return ctx.gk.metrics().get('dpn_gk_route_loads_total')


def patch_route(ctx, prefix):
    """PATCH the route's prefix; wait until the gatekeeper reloaded."""
    before = loads(ctx)
    st, _ = ctx.api('PATCH', '/api/v1/routes/%d' % ctx.route, {'prefix': prefix})
    check_eq(st, 200, 'route changed to ' + prefix)
    wait_for(lambda: loads(ctx) > before, timeout=1.0, step=0.02,
             what='routes reloaded within a second')


def ack_and_bye_reach(ctx, peer, ok, cid, ruri, extra=''):
    """The gateway ACKs the 200 `ok` of call cid and hangs up (requests to
    ruri, with `extra` headers): both reach `peer`, the 200 for the BYE
    comes back."""
    tag = ok.one('To').split('tag=')[1]
    for method in ('ACK', 'BYE'):
        ctx.gw.request(ctx.gk.port, method, ruri, 'sip:%s@dpn' % OTHER, extra,
                       call_id=cid, to_tag=tag, from_user=N1 + '-1')
        m = peer.recv(3)
        while m is not None and m.method != method:
            m = peer.recv(3)
        check(m is not None, '%s reached the peer that took the call' % method)
    peer.answer(m, 200, 'OK')
    r = ctx.gw.final()
    check_eq(r and r.status, 200, '200 for the BYE')


def refused(ctx, number):
    r = ctx.gw.call(ctx.gk.port, number)
    return r and r.status


@case
def api_routes_bad_input_roles_and_audit(ctx):
    site = '/api/v1/sites/%d' % ctx.site
    st, b = ctx.api('POST', site + '/peer-groups', {})
    check_eq((st, b.get('field')), (400, 'name'), 'group without name')
    st, b = ctx.api('POST', site + '/peer-groups', {'name': 'x' * 65})
    check_eq((st, b.get('field')), (422, 'name'), 'group name too long')
    st, ga = ctx.api('POST', site + '/peer-groups', {'name': 'complex-200'})
    check_eq(st, 201, 'group created')
    ctx.ga = ga['id']
    st, b = ctx.api('POST', site + '/peer-groups', {'name': 'complex-200'})
    check_eq((st, b.get('field')), (409, 'name'), 'group name twice')
    grp = '/api/v1/peer-groups/%d/peers' % ctx.ga
    st, b = ctx.api('POST', grp, {'address': 'peer.example', 'port': 5060})
    check_eq((st, b.get('field')), (422, 'address'), 'peer address not IPv4')
    st, b = ctx.api('POST', grp, {'address': '127.0.2.1', 'port': 70000})
    check_eq((st, b.get('field')), (422, 'port'), 'peer port out of range')
    st, b = ctx.api('POST', grp, {'address': '127.0.2.1', 'transport': 'sctp'})
    check_eq((st, b.get('field')), (422, 'transport'), 'peer transport')
    st, b = ctx.api('POST', grp, {'address': '127.0.2.1', 'weight': 0})
    check_eq((st, b.get('field')), (422, 'weight'), 'peer weight')
    st, b = ctx.api('POST', '/api/v1/peer-groups/999999/peers', {'address': '127.0.2.1'})
    check_eq(st, 404, 'peer of a missing group')
    for p, trusted in ((ctx.p1, True), (ctx.p2, False)):
        st, b = ctx.api('POST', grp, {'address': p.addr, 'port': p.port,
                                      'trusted': trusted})
        check_eq(st, 201, 'peer %s: %r' % (p.addr, b))
        check_eq((b['state'], b['weight'], b['transport']), ('unknown', 1, 'udp'),
                 'state before any probe, defaults')
    st, b = ctx.api('POST', grp, {'address': ctx.p1.addr, 'port': ctx.p1.port})
    check_eq((st, b.get('field')), (409, 'address'), 'same peer twice')
    st, gb = ctx.api('POST', site + '/peer-groups', {'name': 'complex-2009'})
    st, b = ctx.api('POST', '/api/v1/peer-groups/%d/peers' % gb['id'],
                    {'address': ctx.p3.addr, 'port': ctx.p3.port})
    check_eq(st, 201, 'peer 3')
    ctx.gb = gb['id']
    st, b = ctx.api('POST', site + '/routes', {'prefix': '2x', 'group_id': ctx.ga})
    check_eq((st, b.get('field')), (422, 'prefix'), 'prefix not digits')
    st, b = ctx.api('POST', site + '/routes', {'prefix': '200'})
    check_eq((st, b.get('field')), (400, 'group_id'), 'route without group')
    st, b = ctx.api('POST', site + '/routes', {'prefix': '200', 'group_id': 999999})
    check_eq((st, b.get('field')), (422, 'group_id'), 'route to a missing group')
    st, r = ctx.api('POST', site + '/routes', {'prefix': '200', 'group_id': ctx.ga})
    check_eq(st, 201, 'route 200')
    ctx.route = r['id']
    st, b = ctx.api('POST', site + '/routes', {'prefix': '200', 'group_id': ctx.gb})
    check_eq((st, b.get('field')), (409, 'prefix'), 'prefix twice')
    st, _ = ctx.api('POST', site + '/routes', {'prefix': '2009', 'group_id': ctx.gb})
    check_eq(st, 201, 'route 2009')
    st, b = ctx.api('DELETE', '/api/v1/peer-groups/%d' % ctx.ga)
    check_eq(st, 409, 'group in use not deleted')
    st, b = ctx.api('GET', site + '/routes')
    check_eq([(x['prefix'], x['group']) for x in b['items']],
             [('200', 'complex-200'), ('2009', 'complex-2009')], 'routes listed')
    check_eq(ctx.env.audit_count('route.create'), 2, 'route audit rows')
    check_eq(ctx.env.audit_count('peer.create'), 3, 'peer audit rows')
    add_user(ctx.pg, 'mgr', role='manager', password='manager-pass-1')
    m = ctx.env.srv.client()
    m.login('mgr', 'manager-pass-1')
    st, _ = m.get(site + '/routes')
    check_eq(st, 403, 'a manager may not read routes')
    st, _ = m.post(site + '/routes', {'prefix': '9', 'group_id': ctx.ga})
    check_eq(st, 403, 'nor write them')
    wait_routes(ctx, 3)


@case
def api_routes_refuse_malformed_input_and_write_nothing(ctx):
    """Malformed JSON, wrong types, unknown fields, unknown ids, huge
    bodies: a 4xx JSON answer naming the field, and no row changed."""
    g, r, s = ctx.ga, ctx.route, ctx.site
    peer = ctx.api('GET', '/api/v1/peer-groups/%d' % g)[1]['peers'][0]['id']
    table = [
        ('POST', '/sites/%d/peer-groups' % s, '{"name": ', 400, None),
        ('POST', '/sites/%d/peer-groups' % s, '["x"]', 400, None),
        ('POST', '/sites/%d/peer-groups' % s, '{"name": 7}', 400, 'name'),
        ('POST', '/sites/%d/peer-groups' % s, '{"name": "x", "colour": 1}', 400, 'colour'),
        ('POST', '/sites/987654321/peer-groups', '{"name": "x"}', 404, None),
        ('PATCH', '/peer-groups/%d' % g, '{"name": ""}', 422, 'name'),
        ('PATCH', '/peer-groups/987654321', '{"name": "y"}', 404, None),
        ('DELETE', '/peer-groups/987654321', None, 404, None),
        ('POST', '/peer-groups/%d/peers' % g, '{"port": 5060}', 400, 'address'),
        ('POST', '/peer-groups/%d/peers' % g, '{"address": "127.0.2.9", "trusted": "yes"}',
         400, 'trusted'),
        ('POST', '/peer-groups/%d/peers' % g, '{"address": "127.0.2.9", "port": 0}', 422, 'port'),
        ('POST', '/peer-groups/%d/peers' % g, '{"address": "0.0.0.0/8"}', 422, 'address'),
        ('PATCH', '/peers/%d' % peer, '{"transport": "tls"}', 422, 'transport'),
        ('PATCH', '/peers/%d' % peer, '{"port": "5060"}', 400, 'port'),
        ('PATCH', '/peers/%d' % peer, '{"weight": 1001}', 422, 'weight'),
        ('PATCH', '/peers/987654321', '{"port": 5061}', 404, None),
        ('DELETE', '/peers/987654321', None, 404, None),
        ('POST', '/sites/%d/routes' % s, '{"prefix": 200, "group_id": %d}' % g, 400, 'prefix'),
        ('POST', '/sites/%d/routes' % s, '{"prefix": "", "group_id": %d}' % g, 422, 'prefix'),
        ('POST', '/sites/%d/routes' % s, '{"prefix": "%s", "group_id": %d}' % ('1' * 33, g),
         422, 'prefix'),
        ('POST', '/sites/%d/routes' % s, '{"prefix": "7", "group_id": 0}', 422, 'group_id'),
        ('PATCH', '/routes/%d' % r, '{"group_id": 987654321}', 422, 'group_id'),
        ('PATCH', '/routes/%d' % r, '{"prefix": "+49"}', 422, 'prefix'),
        ('PATCH', '/routes/987654321', '{"prefix": "7"}', 404, None),
        ('DELETE', '/routes/987654321', None, 404, None),
        ('DELETE', '/routes/%d' % r, '{"x": 1}', 400, None),
        ('POST', '/sites/%d/peer-groups' % s, '{"name": "%s"}' % ('x' * 70000), 413, None),
    ]
    skip = ('sessions', 'gk_peer_state', 'gk_gateway_state', 'gk_bindings')
    before = mgmtd.dump(ctx.pg, skip=skip)
    for method, path, body, status, field in table:
        got, err = ctx.env.c.raw(method, '/api/v1' + path, body)
        what = '%s %s %.60r' % (method, path, body)
        check_eq(got, status, what + ': %r' % (err,))
        check(isinstance(err, dict) and err.get('error'), what + ': JSON error body')
        check_eq(err.get('field'), field, what + ' names the field')
    check_eq(mgmtd.dump(ctx.pg, skip=skip), before, 'database unchanged')


@case
def gateway_reaches_the_route_peer_with_asserted_caller_id(ctx):
    invite(ctx, OTHER)
    peer, inv = first_invite(ctx.peers)
    check(peer in (ctx.p1, ctx.p2), 'INVITE reached a peer of route 200')
    check(inv.ruri.startswith('sip:%s@%s:%d' % (OTHER, peer.addr, peer.port)),
          'Request-URI at the peer: ' + inv.ruri)
    check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s-1@127.0.0.1>' % N1],
             'asserted caller ID')
    peer.answer(inv, 486, 'Busy Here')
    r = ctx.gw.final()
    check_eq(r and r.status, 486, 'busy back to the gateway')
    ctx.gw.ack(ctx.gk.port, r)
    other = ctx.p2 if peer is ctx.p1 else ctx.p1
    check(first_invite([other], timeout=1.0)[0] is None, 'no failover after 486')
    # the longest prefix wins
    invite(ctx, '20091101010')
    peer, inv = first_invite(ctx.peers)
    check(peer is ctx.p3, 'prefix 2009 to its own group')
    peer.answer(inv, 404, 'Not Found')
    ctx.gw.ack(ctx.gk.port, ctx.gw.final())
    check_eq(ctx.gk.metrics().get('dpn_gk_routed_calls_total'), 2.0, 'routed counted')


@case
def failover_to_the_second_peer_after_a_503(ctx):
    """The first peer answers 503, the second takes the call; the
    gateway's ACK and BYE, sent to the number at the gatekeeper without a
    Route, follow the call to the second peer, not to the Call-ID's
    first."""
    cid = invite(ctx, OTHER)
    first, inv = first_invite((ctx.p1, ctx.p2))
    check(first is not None, 'first peer tried')
    first.answer(inv, 503, 'Service Unavailable')
    second, inv2 = first_invite((ctx.p1, ctx.p2))
    check(second is not None and second is not first, 'second peer tried')
    second.answer(inv2, 200, 'OK', 'Contact: <sip:x@%s:%d>\r\n' % (second.addr, second.port))
    r = ctx.gw.final()
    check_eq(r and r.status, 200, "the second peer's answer")
    check_eq(ctx.gk.metrics().get('dpn_gk_route_failovers_total'), 1.0, 'failover counted')
    ack_and_bye_reach(ctx, second, r, cid, 'sip:%s@127.0.0.1:%d' % (OTHER, ctx.gk.port))
    check(all(m.method != 'BYE' for m in iter(lambda: first.recv(0.2), None)),
          'nothing of the call at the first peer')


@case
def failover_when_a_peer_does_not_answer(ctx):
    """A peer alive to OPTIONS that never answers the INVITE: timer B
    (64 x t1 = 6.4 s here) ends its branch and the next peer is tried."""
    invite(ctx, OTHER)
    first, inv = first_invite((ctx.p1, ctx.p2))
    check(first is not None, 'first peer tried')
    other = ctx.p2 if first is ctx.p1 else ctx.p1
    second, inv2 = first_invite([other], timeout=9.0)
    check(second is not None and second is not first,
          'second peer tried after the timeout')
    second.answer(inv2, 480, 'Temporarily Unavailable')
    r = ctx.gw.final()
    check_eq(r and r.status, 480, "the second peer's answer")
    ctx.gw.ack(ctx.gk.port, r)
    for p in (ctx.p1, ctx.p2):
        p.drain()


@case
def answered_call_ack_and_bye_go_to_the_peer_of_the_invite(ctx):
    cid = invite(ctx, OTHER)
    peer, inv = first_invite((ctx.p1, ctx.p2))
    rr = inv.one('Record-Route')
    check(rr is not None, 'record-routed')
    peer.answer(inv, 200, 'OK', 'Contact: <sip:x@%s:%d>\r\nRecord-Route: %s\r\n'
                % (peer.addr, peer.port, rr))
    ok = ctx.gw.final()
    check_eq(ok and ok.status, 200, '200 to the gateway')
    ack_and_bye_reach(ctx, peer, ok, cid, 'sip:x@%s:%d' % (peer.addr, peer.port),
                      'Route: %s\r\n' % rr)


@case
def trusted_peer_keeps_identity_and_outside_to_outside_is_refused(ctx):
    pai = 'P-Asserted-Identity: <sip:200-1101-0101@peer>\r\n'
    for p, want in ((ctx.p1, ['<sip:200-1101-0101@peer>']), (ctx.p2, [])):
        p.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                  'sip:%s@dpn' % N1, pai, call_id=uuid.uuid4().hex)
        inv = ctx.gw.expect_request('INVITE')
        check(inv is not None, 'call from peer %s reached the gateway' % p.addr)
        check_eq(inv.get('P-Asserted-Identity'), want, 'identity from ' + p.addr)
        ctx.gw.answer(inv, 486, 'Busy Here')
        r = p.final()
        check_eq(r and r.status, 486, 'busy back to the peer')
        p.ack(ctx.gk.port, r)
    outside = Ua('127.0.0.1')
    try:
        check_eq(outside.call(ctx.gk.port, OTHER).status, 404, 'outside -> route refused')
        outside.request(ctx.gk.port, 'BYE', 'sip:x@%s:%d' % (ctx.p1.addr, ctx.p1.port),
                        'sip:x@dpn', call_id='relay', to_tag='x')
        check_eq(outside.final().status, 403, 'outside -> peer in dialog refused')
    finally:
        outside.close()
    r = ctx.p1.call(ctx.gk.port, OTHER)
    check_eq(r and r.status, 404, 'peer -> another complex refused')


@case
def route_edited_through_the_api_applies_without_restart(ctx):
    patch_route(ctx, '300')
    check_eq(refused(ctx, OTHER), 403, '200 no longer routed')
    invite(ctx, '300-1101-0101')
    peer, inv = first_invite((ctx.p1, ctx.p2))
    check(peer is not None, 'new prefix routed')
    peer.answer(inv, 486, 'Busy Here')
    ctx.gw.ack(ctx.gk.port, ctx.gw.final())
    patch_route(ctx, '200')
    check_eq(refused(ctx, '300-1101-0101'), 403, '300 no longer routed')


@case
def probing_marks_a_silent_peer_down_and_new_calls_skip_it(ctx):
    ctx.p1.alive = False
    wait_routes(ctx, 2)
    st, g = ctx.api('GET', '/api/v1/peer-groups/%d' % ctx.ga)
    check_eq({p['address']: p['state'] for p in g['peers']},
             {ctx.p1.addr: 'down', ctx.p2.addr: 'up'}, 'state through mgmtd')
    check_eq(ctx.gk.metrics().get('dpn_gk_peer_down_total'), 1.0, 'down counted')
    for p in (ctx.p1, ctx.p2):
        p.drain()
    for _ in range(6):       # Call-IDs that would start at either peer
        invite(ctx, OTHER)
        peer, inv = first_invite((ctx.p1, ctx.p2))
        check(peer is ctx.p2, 'the live peer only')
        peer.answer(inv, 486, 'Busy Here')
        ctx.gw.ack(ctx.gk.port, ctx.gw.final())
    ctx.p1.alive = True
    wait_routes(ctx, 3)
    st, g = ctx.api('GET', '/api/v1/peer-groups/%d' % ctx.ga)
    check_eq(g['peers'][0]['state'], 'up', 'back up through mgmtd')


@case
def every_peer_down_503_and_sighup_keeps_state(ctx):
    ctx.p1.alive = ctx.p2.alive = False
    wait_routes(ctx, 1)
    check_eq(refused(ctx, OTHER), 503, 'no peer up')
    before = loads(ctx)
    ctx.gk.p.send_signal(signal.SIGHUP)
    wait_for(lambda: loads(ctx) > before, timeout=3, what='routes reloaded on SIGHUP')
    check_eq(ctx.gk.metrics().get('dpn_gk_peers_up'), 1.0, 'down peers stay down')
    ctx.p1.alive = ctx.p2.alive = True
    wait_routes(ctx, 3)


@case
def dead_gateway_shown_unreachable_through_mgmtd_and_metrics(ctx):
    """A gatekeeper probing gateways every second: a registered gateway that
    stops answering OPTIONS is unreachable (GET /flats/{id}/gateway,
    /metrics) within a few seconds, and reachable again when it answers."""
    gk = Gatekeeper(ctx.pg, args=['--gateway-probe-interval', '1s',
                                  '--probe-down', '2', '--probe-up', '1'],
                    trusted=LOOPBACK)
    gw = Peer(ctx.addr)
    path = '/api/v1/flats/%d/gateway' % ctx.flat_id

    def reachable():
        st, g = ctx.api('GET', path)
        return g['registration'] and g['registration']['reachable']
    try:
        r = gw.register(gk.port, N1, ctx.user, ctx.secret)
        check(r is not None and r.status == 200, 'registered')
        wait_for(lambda: reachable() is True, timeout=5, what='reachable')
        check(gw.options > 0, 'probed with OPTIONS')
        gw.alive = False
        wait_for(lambda: reachable() is False, timeout=8, what='unreachable')
        check_eq(gk.metrics().get('dpn_gk_gateways_unreachable'), 1.0, 'gauge')
        check(gk.metrics().get('dpn_gk_gateway_probes_failed_total') >= 2,
              'failures counted')
        gw.alive = True
        wait_for(lambda: reachable() is True, timeout=5, what='reachable again')
        check_eq(gk.metrics().get('dpn_gk_gateways_unreachable'), 0.0, 'gauge back')
    finally:
        gw.close()
        gk.close()


@case
def sipp_gateway_calls_through_a_route_to_a_sipp_peer(ctx):
    """sipp as the gateway (from the flat's first address) calls 5 numbers
    of another complex through a gatekeeper whose route sends them to sipp
    as the peer, which answers only INVITEs asserting the flat's number;
    ACK and BYE reach the same peer. Last case: the shared gatekeeper stops
    (its peer probing would send the sipp peer OPTIONS)."""
    ctx.gk.stop()
    port = free_udp_port()
    site = '/api/v1/sites/%d' % ctx.site
    st, g = ctx.api('POST', site + '/peer-groups', {'name': 'sipp'})
    check_eq(st, 201, 'group')
    st, _ = ctx.api('POST', '/api/v1/peer-groups/%d/peers' % g['id'],
                    {'address': '127.0.2.4', 'port': port})
    check_eq(st, 201, 'sipp peer')
    st, _ = ctx.api('POST', site + '/routes', {'prefix': '400', 'group_id': g['id']})
    check_eq(st, 201, 'route 400')
    gk = Gatekeeper(ctx.pg, args=['--probe-interval', '0'], trusted=LOOPBACK)
    gw = Ua(ctx.addr)
    uas = Sipp(['-sf', os.path.join(SCEN, 'uas_pai.xml'), '-i', '127.0.2.4', '-p',
                str(port), '-m', '5', '-timeout', '60'])
    try:
        r = gw.register(gk.port, N1, ctx.user, ctx.secret)
        check(r is not None and r.status == 200, 'registered')
        uac = Sipp(['-sn', 'uac', '-i', ctx.addr, '-p', str(free_udp_port()),
                    '-m', '5', '-r', '10', '-l', '5', '-timeout', '60',
                    '-timeout_error', '-s', '400-1101-0101',
                    '127.0.0.1:%d' % gk.port]).wait()
        uas.wait()
    finally:
        uas.kill()
        gw.close()
        gk.close()
    check_eq(uac.count('Successful call'), 5, 'calls answered and hung up\n'
             + uac.out[-1500:] + uac.errors[-1500:])
    check_eq(uas.rc, 0, 'the peer saw the identity, every ACK and BYE\n'
             + uas.out[-1500:] + uas.errors[-1500:])


if __name__ == '__main__':
    run_in_cluster(Ctx)
