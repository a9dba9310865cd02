#!/usr/bin/env python3
"""test_gatekeeper — dpn-gatekeeper against a real PostgreSQL and mgmtd, with
flat gateways as UDP user agents bound to their flats' first private
addresses (127.16/16 on loopback) and sipp as gateway and caller: gateway
HA1s stored by mgmtd, REGISTER good (MD5 and SHA-256) / wrong password /
wrong source / too brief, the binding in PostgreSQL; calls to a flat
(sipp, INVITE..BYE), CANCEL, a handset number (handset part arrives),
asserted identity on flat-to-flat calls (claim kept, forged claim
replaced, identity from outside removed), unknown number 404, unregistered
flat 480, another complex and relay attempts refused, a restart keeping
bindings, and a flat deleted in the admin unroutable within a second."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Ua  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from sip import Sipp, free_udp_port  # noqa: E402

N1, N2, N3 = '100-1101-0101', '100-1101-0102', '100-1101-0103'


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=3)
        flats = self.env.flats(b['id'])
        self.f1, self.f2, self.f3 = (Flat(self.env, pg, flats[n], i)
                                     for i, n in enumerate((101, 102, 103)))
        self.gk = Gatekeeper(pg)

    def close(self):
        try:
            self.gk.close()
        finally:
            self.env.srv.stop()


def registered(ctx, flat, alg='MD5'):
    """Register flat's gateway from its first address; returns the UA."""
    ua = flat.ua()
    r = ua.register(ctx.gk.port, flat.number, flat.user, flat.secret, alg)
    check(r is not None and r.status == 200, 'REGISTER %s: %s' % (
        flat.number, r and r.first))
    return ua


def binding_row(ctx, flat):
    return ctx.pg.psql('SELECT host(source_addr), source_port, contact FROM '
                       'dpn.gk_bindings WHERE flat_id = %d' % flat.id)


@case
def mgmtd_stores_gateway_ha1s(ctx):
    f = ctx.f1
    md5, sha = ctx.pg.psql('SELECT ha1_md5, ha1_sha256 FROM dpn.gateways '
                           'WHERE flat_id = %d' % f.id)[0]
    check_eq(f.user, 'gw-' + N1, 'gateway username')
    src = ('%s:dpn:%s' % (f.user, f.secret)).encode()
    check_eq(md5, hashlib.md5(src).hexdigest(), 'HA1 MD5')
    check_eq(sha, hashlib.sha256(src).hexdigest(), 'HA1 SHA-256')


@case
def register_good_md5_and_sha256_written_to_postgresql(ctx):
    ua = registered(ctx, ctx.f1, 'MD5')
    r = ua.register(ctx.gk.port, N1, ctx.f1.user, ctx.f1.secret, 'SHA-256')
    check_eq(r.status, 200, 'SHA-256 REGISTER')
    check('<sip:%s@%s:%d>;expires=' % (N1, ctx.f1.addr, ua.port) in r.one('Contact'),
          'Contact in the 200: %s' % r.one('Contact'))
    wait_for(lambda: binding_row(ctx, ctx.f1) == [[ctx.f1.addr, str(ua.port),
             'sip:%s@%s:%d' % (N1, ctx.f1.addr, ua.port)]], timeout=3,
             what='binding row in dpn.gk_bindings')
    status, g = ctx.env.c.get('/api/v1/flats/%d/gateway' % ctx.f1.id)
    reg = g.get('registration') or {}
    check_eq((status, reg.get('source'), reg.get('user_agent'), reg.get('transport'),
              g.get('has_sip_credentials')),
             (200, '%s:%d' % (ctx.f1.addr, ua.port), '', 'udp', True),
             'registration shown by mgmtd: %r' % g)
    status, g = ctx.env.c.get('/api/v1/flats/%d/gateway' % ctx.f3.id)
    check_eq((status, g.get('registration', 'absent')), (200, None),
             'no registration for flat 3')
    ua.close()
    m = ctx.gk.metrics()
    check_eq(m.get('dpn_gk_registers_total{status="200"}'), 2.0, 'counted')
    check_eq(m.get('dpn_gk_bindings'), 1.0, 'bindings gauge')


@case
def register_wrong_password_wrong_source_too_brief(ctx):
    ua = ctx.f2.ua()
    r = ua.register(ctx.gk.port, N2, ctx.f2.user, 'guess')
    check_eq(r.status, 401, 'wrong password: challenged again')
    # flat 2's own credentials, but from flat 3's address
    other = ctx.f3.ua()
    r = other.register(ctx.gk.port, N2, ctx.f2.user, ctx.f2.secret)
    check_eq(r.status, 403, 'wrong source address')
    # flat 1's gateway credentials for flat 2's number
    r = ua.register(ctx.gk.port, N2, ctx.f1.user, ctx.f1.secret)
    check_eq(r.status, 403, "another flat's credentials")
    r = ua.register(ctx.gk.port, N2, ctx.f2.user, ctx.f2.secret, expires=5)
    check_eq((r.status, r.one('Min-Expires')), (423, '60'), 'too brief')
    time.sleep(0.3)
    check_eq(binding_row(ctx, ctx.f2), [], 'no binding written')
    ua.close()
    other.close()


@case
def call_to_a_flat_sipp_invite_to_bye(ctx):
    ua = registered(ctx, ctx.f1)
    port = ua.port
    ua.close()          # sipp takes the port the gateway registered from
    uas = Sipp(Sipp._scenario('uas') + ['-i', ctx.f1.addr, '-p', str(port),
                                        '-m', '5', '-timeout', '60'])
    try:
        uac = Sipp.uac(ctx.gk.port, free_udp_port(), 5, extra=('-s', N1)).wait()
        uas.wait()
    finally:
        uas.p.kill()
    check_eq(uac.count('Successful call'), 5, 'calls answered and hung up\n'
             + uac.out[-1500:] + uac.errors[-1500:])
    check_eq(uas.rc, 0, 'the gateway saw every ACK and BYE\n' + uas.out[-1500:])
    check_eq(ctx.gk.metrics().get('dpn_gk_requests_total{result="inbound"}'),
             5.0, 'inbound calls counted')


@case
def cancel_before_answer(ctx):
    ua = registered(ctx, ctx.f1)
    port = ua.port
    ua.close()
    uas = Sipp(Sipp._scenario('uas_cancel') + ['-i', ctx.f1.addr, '-p', str(port),
                                               '-m', '3', '-timeout', '60'])
    try:
        uac = Sipp.uac(ctx.gk.port, free_udp_port(), 3, 'uac_cancel', extra=('-s', N1)).wait()
        uas.wait()
    finally:
        uas.p.kill()
    check_eq(uac.count('Successful call'), 3, 'CANCELled calls\n' + uac.out[-1500:])
    check_eq(uas.rc, 0, 'gateway saw CANCEL and answered 487\n' + uas.out[-1500:])


@case
def handset_number_and_asserted_identity_flat_to_flat(ctx):
    gw1, gw2 = registered(ctx, ctx.f1), registered(ctx, ctx.f2)
    caller = Ua('127.0.0.1')
    try:
        # flat 2's gateway calls handset 2 of flat 1, claiming its handset 3
        gw2.call_async = gw2.request(
            ctx.gk.port, 'INVITE', 'sip:%s-2@127.0.0.1:%d' % (N1, ctx.gk.port),
            'sip:%s-2@dpn' % N1, 'P-Asserted-Identity: <sip:666@evil>\r\n',
            call_id='c1', from_user=N2 + '-3')
        inv = gw1.expect_request('INVITE')
        check(inv is not None, 'INVITE reached flat 1')
        check(inv.ruri.startswith('sip:%s-2@%s' % (N1, ctx.f1.addr)),
              'handset part kept: ' + inv.ruri)
        check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s-3@127.0.0.1>' % N2],
                 'identity asserted from the gateway and its claim')
        gw1.answer(inv, 486, 'Busy Here')
        r = gw2.final()
        check_eq(r and r.status, 486, 'busy back to the caller')
        gw2.ack(ctx.gk.port, r)
        # a claim of another flat's handset is replaced by the flat number
        r = gw2.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                        'sip:%s@dpn' % N1, call_id='c2', from_user=N1 + '-1')
        inv = gw1.expect_request('INVITE')
        check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s@127.0.0.1>' % N2],
                 'forged claim replaced')
        gw1.answer(inv, 486, 'Busy Here')
        gw2.ack(ctx.gk.port, gw2.final())
        check_eq(ctx.gk.metrics().get('dpn_gk_identity_claims_replaced_total'),
                 1.0, 'replacement counted')
        # from outside: an identity header is removed
        caller.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (
            N1.replace('-', ''), ctx.gk.port), 'sip:x@dpn',
            'P-Asserted-Identity: <sip:%s@dpn>\r\n' % N2, call_id='c3')
        inv = gw1.expect_request('INVITE')
        check(inv is not None, 'dashless number routed')
        check_eq(inv.get('P-Asserted-Identity'), [], 'outside identity removed')
        gw1.answer(inv, 486, 'Busy Here')
        caller.ack(ctx.gk.port, caller.final())
    finally:
        for u in (gw1, gw2, caller):
            u.close()


@case
def answered_call_ack_and_bye_from_the_callee(ctx):
    """A 2xx's ACK (sent to the dialled number at the gatekeeper, as simple
    UAs do) reaches the gateway; the gateway's BYE, by the Record-Route,
    reaches the caller."""
    gw1, caller = registered(ctx, ctx.f1), Ua('127.0.0.1')
    try:
        caller.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                       'sip:%s@dpn' % N1, call_id='answered')
        inv = gw1.expect_request('INVITE')
        rr = inv.one('Record-Route')
        check(rr is not None and str(ctx.gk.port) in rr, 'record-routed: %s' % rr)
        gw1.answer(inv, 200, 'OK', 'Contact: <sip:%s@%s:%d>\r\nRecord-Route: %s\r\n'
                   % (N1, gw1.addr, gw1.port, rr))
        ok = caller.final()
        check_eq(ok and ok.status, 200, '200 to the caller')
        caller.request(ctx.gk.port, 'ACK', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                       'sip:%s@dpn' % N1, call_id='answered',
                       to_tag=ok.one('To').split('tag=')[1])
        check(gw1.expect_request('ACK', timeout=2) is not None, 'ACK reached the gateway')
        # the gateway hangs up: BYE to the caller's contact, Route: the gatekeeper
        bye = ('BYE sip:caller@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;'
               'branch=z9hG4bKbye1;rport\r\nRoute: %s\r\nMax-Forwards: 70\r\n'
               'From: %s\r\nTo: %s\r\nCall-ID: answered\r\nCSeq: 1 BYE\r\n'
               'Content-Length: 0\r\n\r\n' % (caller.port, gw1.addr, gw1.port, rr,
                                                 ok.one('To'), inv.one('From')))
        gw1.s.sendto(bye.encode(), ('127.0.0.1', ctx.gk.port))
        got = caller.expect_request('BYE')
        check(got is not None, 'BYE from the callee reached the caller')
        caller.answer(got, 200, 'OK')
        r = gw1.final()
        check_eq(r and r.status, 200, '200 for the BYE back at the gateway')
    finally:
        gw1.close()
        caller.close()


@case
def unknown_404_unregistered_480_and_no_open_relay(ctx):
    caller = Ua('127.0.0.1')
    gw1 = registered(ctx, ctx.f1)
    try:
        check_eq(caller.call(ctx.gk.port, '100-1101-0999').status, 404, 'unknown flat')
        check_eq(caller.call(ctx.gk.port, 'alice').status, 404, 'not a number')
        check_eq(caller.call(ctx.gk.port, N3).status, 480, 'flat without gateway')
        check_eq(caller.call(ctx.gk.port, '200-1101-0101').status, 404,
                 'another complex, from outside')
        check_eq(gw1.call(ctx.gk.port, '200-1101-0101').status, 403,
                 'another complex, from a gateway: no outbound route')
        # a request inside a "dialog" towards a stranger is not relayed
        caller.request(ctx.gk.port, 'BYE', 'sip:bob@127.0.0.9:5099',
                       'sip:bob@127.0.0.9', call_id='relay', to_tag='x')
        check_eq(caller.final().status, 403, 'in-dialog relay refused')
        m = ctx.gk.metrics()
        check_eq(m.get('dpn_gk_requests_total{result="not_found"}'), 3.0, '404s')
        check_eq(m.get('dpn_gk_requests_total{result="not_registered"}'), 1.0, '480s')
    finally:
        caller.close()
        gw1.close()


@case
def check_mode_and_sighup_reload(ctx):
    """-n checks the settings and exits; SIGHUP applies a new min-expires
    from the file without a restart (REGISTERs keep being answered)."""
    import signal
    import subprocess
    import tempfile
    from gatekeeper import GK
    base = [GK, '--db', ctx.pg.conninfo, '--site', '100']
    p = subprocess.run(base + ['-n'], capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, '-n with good settings: ' + p.stderr)
    p = subprocess.run(base + ['-n', '--min-expires', '5', '--listen', 'nowhere'],
                       capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 1, '-n with bad settings')
    check('min-expires' in p.stderr and 'listen' in p.stderr,
          'both mistakes named: ' + p.stderr)
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as f:
        f.write('min-expires = 60\n')
    os.chmod(f.name, 0o644)
    gk = Gatekeeper(ctx.pg, args=['-f', f.name])
    ua = ctx.f2.ua()
    try:
        r = ua.register(gk.port, N2, ctx.f2.user, ctx.f2.secret, expires=90)
        check_eq(r.status, 200, '90 s accepted with min-expires 60')
        with open(f.name, 'w') as fh:
            fh.write('min-expires = 120\n')
        gk.p.send_signal(signal.SIGHUP)
        wait_for(lambda: 'reload: min-expires changed' in gk.log(), timeout=5,
                 what='reload logged')
        r = ua.register(gk.port, N2, ctx.f2.user, ctx.f2.secret, expires=90)
        check_eq((r.status, r.one('Min-Expires')), (423, '120'), 'after SIGHUP')
        r = ua.register(gk.port, N2, ctx.f2.user, ctx.f2.secret, expires=0)
        check_eq(r.status, 200, 'unregister')
    finally:
        ua.close()
        gk.close()
        os.unlink(f.name)


@case
def a_burst_of_400_registers_is_answered_in_full(ctx):
    """After a power cut every gateway registers at once: a burst of 400
    REGISTERs (from 400 sockets, sent before any answer is read) gets 400
    challenges; none is lost in the receive buffer (udp-rcvbuf)."""
    import selectors
    sel = selectors.DefaultSelector()
    uas = [Ua('127.0.0.1') for _ in range(400)]
    try:
        for u in uas:
            u.request(ctx.gk.port, 'REGISTER', 'sip:dpn', 'sip:%s@dpn' % N1,
                      'Contact: <sip:%s@127.0.0.1:%d>\r\n' % (N1, u.port))
            sel.register(u.s, selectors.EVENT_READ, u)
        got, end = 0, time.time() + 10
        while got < len(uas) and time.time() < end:
            for key, _ in sel.select(timeout=1):
                m = key.data.recv(0)
                got += m is not None and m.status == 401
        check_eq(got, 400, 'challenges for the burst')
    finally:
        for u in uas:
            u.close()


def tcp_exchange(sock, data, timeout=3.0):
    """Send data on a TCP socket; return the next whole message parsed."""
    from gatekeeper import Msg
    sock.sendall(data.encode())
    sock.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        buf += sock.recv(65535)
    return Msg(buf)


@case
def gateway_over_tcp_registers_and_is_called_on_its_connection(ctx):
    """A gateway behind NAT keeps one TCP connection: it registers on it and
    the gatekeeper sends its calls down the same connection."""
    import socket
    from gatekeeper import digest
    gk = Gatekeeper(ctx.pg, transport='both')
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    caller = Ua('127.0.0.1')
    try:
        t.bind((ctx.f2.addr, 0))
        t.connect(('127.0.0.1', gk.port))
        port = t.getsockname()[1]

        def reg(auth=''):
            return tcp_exchange(t, (
                'REGISTER sip:dpn SIP/2.0\r\nVia: SIP/2.0/TCP %s:%d;branch=z9hG4bK%s\r\n'
                'Max-Forwards: 70\r\nFrom: <sip:%s@dpn>;tag=a\r\nTo: <sip:%s@dpn>\r\n'
                'Call-ID: tcp-reg\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s:%d;'
                'transport=tcp>\r\n%sContent-Length: 0\r\n\r\n'
                % (ctx.f2.addr, port, 'b2' if auth else 'b1', N2, N2, 2 if auth else 1,
                   N2, ctx.f2.addr, port, auth)))
        r = reg()
        check_eq(r.status, 401, 'challenge over TCP')
        chal = [c for c in r.get('WWW-Authenticate') if 'MD5' in c][0]
        r = reg('Authorization: %s\r\n' % digest(chal, 'MD5', ctx.f2.user,
                                                  ctx.f2.secret, 'REGISTER', 'sip:dpn'))
        check_eq(r.status, 200, 'registered over TCP')
        caller.request(gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (N2, gk.port),
                       'sip:%s@dpn' % N2, call_id='tcp-call')
        t.settimeout(3)
        data = t.recv(65535).decode(errors='replace')
        check(data.startswith('INVITE sip:%s@%s:%d' % (N2, ctx.f2.addr, port)),
              'INVITE down the gateway\'s connection: %r' % data[:200])
    finally:
        t.close()
        caller.close()
        gk.close()


@case
def restart_keeps_bindings(ctx):
    gw1 = registered(ctx, ctx.f1)
    wait_for(lambda: binding_row(ctx, ctx.f1) != [], timeout=3, what='row')
    time.sleep(0.2)
    ctx.gk.close()
    ctx.gk = Gatekeeper(ctx.pg, port=ctx.gk.port)
    caller = Ua('127.0.0.1')
    try:
        caller.request(ctx.gk.port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                       'sip:x@dpn', call_id='after-restart')
        inv = gw1.expect_request('INVITE')
        check(inv is not None, 'restored binding routes the call')
        gw1.answer(inv, 486, 'Busy Here')
        caller.ack(ctx.gk.port, caller.final())
    finally:
        caller.close()
        gw1.close()


@case
def flat_deleted_in_admin_unroutable_within_a_second(ctx):
    gw3 = registered(ctx, ctx.f1)
    caller = Ua('127.0.0.1')
    try:
        status, _ = ctx.env.c.delete('/api/v1/flats/%d' % ctx.f1.id)
        check_eq(status, 204, 'DELETE flat')
        wait_for(lambda: ctx.gk.metrics().get('dpn_gk_flats') == 2.0,
                 timeout=1.0, what='flat gone from memory within a second',
                 step=0.05)
        check_eq(caller.call(ctx.gk.port, N1).status, 404, 'deleted flat')
    finally:
        caller.close()
        gw3.close()


if __name__ == '__main__':
    run_in_cluster(Ctx)
