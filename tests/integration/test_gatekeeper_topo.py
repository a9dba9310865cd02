#!/usr/bin/env python3
"""test_gatekeeper_topo — dpn-gatekeeper's two sides and topology hiding,
against a real PostgreSQL and mgmtd, with sipp as outside caller on the
public side (127.0.0.1) and as flat gateway on the private side (the
gatekeeper on 127.0.0.2, the gateways on their flats' first addresses in
127.16/16): calls from outside answered by a gateway, with a re-INVITE
and a BYE from outside, a BYE from the gateway, or CANCELled, where
nothing the caller sent or received (sipp -trace_msg) names a private
address; REGISTER on
the public side refused (403); an unknown dialog key from outside 481;
OPTIONS and CRLF keep-alives answered on both sides; received/rport; From's
display name of a call leaving a flat; a request from inside (From and
Contact with the gateway's address) seen outside with the gatekeeper's;
the dialog table bounded (503 when full); a gateway's asserted identity
in a 2xx and a To at the gateway's address hidden."""
import os
import shutil
import socket
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, tmpdir, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Msg, Ua  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from sip import Sipp, free_udp_port, message_log  # noqa: E402

PUB, PRIV = '127.0.0.1', '127.0.0.2'
PRIVATE = (PRIV, '127.16.')     # what must never be seen on the public side


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=2)
        flats = self.env.flats(b['id'])
        self.f1, self.f2 = (Flat(self.env, pg, flats[n], 0x40 + i)
                            for i, n in enumerate((101, 102)))
        self.pport = free_udp_port()
        # The gateways here (127.16.x) send many requests in quick
        # succession: exempt from the flood limit (test_gatekeeper_guard
        # tests it).
        self.gk = Gatekeeper(pg, transport='both', trusted='127.0.0.0/8', args=[
            '--listen-private', '%s:%d' % (PRIV, self.pport)])
        self.tmp = tmpdir('dpn-gktopo-')

    def close(self):
        try:
            self.gk.close()
        finally:
            self.env.srv.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


def registered(ctx, flat):
    """flat's gateway registered on the private side; returns its UA."""
    ua = flat.ua()
    ua.peer_host = PRIV
    r = ua.register(ctx.pport, flat.number, flat.user, flat.secret)
    check(r is not None and r.status == 200, 'REGISTER %s on the private '
          'side: %s' % (flat.number, r and r.first))
    return ua


def no_private_address(text, what):
    check('INVITE' in text and 'SIP/2.0 200' in text,
          '%s: messages were captured' % what)
    for p in PRIVATE:
        at = text.find(p)
        check(at < 0, '%s: private address %s seen on the public side:\n%s'
              % (what, p, text[max(0, at - 600):at + 200]))


def public_call(ctx, flat, uac, uas, calls=2):
    """calls calls from outside (sipp scenario uac, its messages logged)
    to flat's gateway (sipp scenario uas on the port it registered from).
    Returns (uac, uas, the caller's message log)."""
    ua = registered(ctx, flat)
    port = ua.port
    ua.close()
    log = os.path.join(ctx.tmp, uuid.uuid4().hex + '.log')
    g = Sipp(Sipp._scenario(uas) + ['-i', flat.addr, '-p', str(port), '-m',
                                    str(calls), '-timeout', '60'])
    try:
        c = Sipp.uac(ctx.gk.port, free_udp_port(), calls, uac, extra=(
            '-s', flat.number, '-trace_msg', '-message_file', log)).wait()
        g.wait()
    finally:
        g.kill()
    text = message_log(log)             # $SIPP_DUMP keeps it, to read
    check_eq(c.count('Successful call'), calls, 'calls from outside\n' +
             c.out[-1500:] + c.errors[-2500:])
    check_eq(g.rc, 0, 'the gateway saw its scenario through\n' + g.out[-1500:]
             + g.errors[-2500:])
    return text


@case
def call_from_outside_reinvite_and_bye_from_outside_hide_the_private_side(ctx):
    text = public_call(ctx, ctx.f1, 'uac_topo', 'uas_topo')
    no_private_address(text, 'caller re-INVITEs and hangs up')
    check('sip:gk-' in text, "the gateway's Contact became the gatekeeper's")
    check('Record-Route: <sip:%s:%d;lr>' % (PUB, ctx.gk.port) in text,
          'the public Record-Route is kept')
    wait_for(lambda: ctx.gk.metrics().get('dpn_gk_topo_dialogs', 0) >= 1,
             timeout=3, what='dialogs held (the gauge follows each second)')


@case
def bye_from_the_flat_reaches_outside_hidden(ctx):
    text = public_call(ctx, ctx.f2, 'uac_topo_bye_in', 'uas_topo_bye_out')
    no_private_address(text, 'the gateway hangs up')
    check('BYE sip:sipp@%s' % PUB in text, 'the BYE came to the caller')


@case
def cancel_from_outside_hidden(ctx):
    text = public_call(ctx, ctx.f1, 'uac_cancel', 'uas_cancel')
    no_private_address(text, 'the caller cancels')
    check('SIP/2.0 487' in text, 'the 487 came out')


@case
def register_on_the_public_side_refused(ctx):
    before = ctx.gk.metrics().get('dpn_gk_register_public_total', 0)
    ua = ctx.f1.ua()            # the right gateway, the wrong side
    try:
        r = ua.register(ctx.gk.port, ctx.f1.number, ctx.f1.user, ctx.f1.secret)
        check_eq(r and r.status, 403, 'REGISTER on the public side')
        check_eq(ctx.gk.metrics().get('dpn_gk_register_public_total'),
                 before + 1, 'counted')
    finally:
        ua.close()


@case
def unknown_dialog_key_from_outside_481(ctx):
    caller = Ua(PUB)
    try:
        caller.request(ctx.gk.port, 'BYE', 'sip:gk-0123456789abcdef@%s:%d' % (
            PUB, ctx.gk.port), 'sip:x@%s' % PUB, call_id='nodialog', to_tag='x')
        check_eq(caller.final().status, 481, 'unknown key')
        caller.request(ctx.gk.port, 'BYE', 'sip:gk-nothex@%s:%d' % (
            PUB, ctx.gk.port), 'sip:x@%s' % PUB, call_id='nodialog2', to_tag='x')
        check_eq(caller.final().status, 404, 'not a key, not a number')
    finally:
        caller.close()
    check(ctx.gk.metrics().get('dpn_gk_topo_refused_total{reason="unknown"}',
                               0) >= 1, 'unknown keys counted')


def hidden(m, what):
    """m (a Msg seen on the public side) names no private address."""
    check(m is not None, what + ': nothing came')
    for p in PRIVATE:
        check(p not in m.raw, '%s: %s in\n%s' % (what, p, m.raw))
    return m


@case
def request_from_inside_to_outside_hides_contact_and_from(ctx):
    """A request a gateway sends out (here one inside a dialog the
    gatekeeper never saw, which needs no outbound route) with its address
    in From and Contact: outside sees the gatekeeper's instead, the
    Call-ID the other end knows is kept, the answer goes in, the 2xx ACK
    out, and a BYE from outside gets in. (A dialog begun inside also gets a public
    Call-ID: test_gk_topo, as no outbound route exists here.)"""
    gw, out = registered(ctx, ctx.f1), Ua(PUB)
    cid = 'theirs-%s@%s' % (uuid.uuid4().hex[:8], PUB)
    try:
        gw.request(ctx.pport, 'INVITE', 'sip:out@%s:%d' % (PUB, out.port),
                   'sip:out@%s' % PUB, 'Contact: <sip:gw@%s:%d>\r\n' % (
                       gw.addr, gw.port), call_id=cid, to_tag='o1')
        inv = hidden(out.expect_request('INVITE'), 'INVITE out')
        check_eq(inv.one('Call-ID'), cid, 'Call-ID of a dialog begun outside')
        check_eq(len(inv.get('Via')), 1, 'our Via alone')
        check(inv.one('From').startswith('<sip:caller@%s>;tag=' % PUB),
              "the gateway's From names the gatekeeper: " + inv.one('From'))
        out.answer(inv, 200, 'OK', 'Contact: <sip:out@%s:%d>\r\n' % (PUB, out.port))
        ok = gw.final()
        check_eq(ok and ok.status, 200, 'the answer reached the gateway')
        gw.request(ctx.pport, 'ACK', 'sip:out@%s:%d' % (PUB, out.port),
                   'sip:out@%s' % PUB, call_id=cid, to_tag='o1')
        hidden(out.expect_request('ACK'), "the gateway's 2xx ACK")
        target = inv.one('Contact').strip('<>')
        check(target.startswith('sip:gk-'), 'Contact hidden: ' + target)
        out.request(ctx.gk.port, 'BYE', target, 'sip:caller@%s' % PUB, call_id=cid,
                    to_tag=inv.one('From').split('tag=')[1])
        bye = gw.expect_request('BYE')
        check(bye is not None, 'BYE from outside reached the gateway')
        check_eq(bye.ruri, 'sip:gw@%s:%d' % (gw.addr, gw.port), 'private target')
        gw.answer(bye, 200, 'OK')
        r = hidden(out.final(), '200 for the BYE')
        check_eq(r.status, 200, 'answer outside')
    finally:
        gw.close()
        out.close()


@case
def dialog_table_is_bounded_503_when_full(ctx):
    """max-dialogs 16: sixteen calls from outside are held (a refused call
    lingers 32 s), the seventeenth gets 503 and is counted."""
    pport = free_udp_port()
    gk = Gatekeeper(ctx.pg, args=['--listen-private', '%s:%d' % (PRIV, pport),
                                  '--max-dialogs', '16'])
    gw, caller = ctx.f1.ua(), Ua(PUB)
    gw.peer_host = PRIV
    try:
        r = gw.register(pport, ctx.f1.number, ctx.f1.user, ctx.f1.secret)
        check_eq(r and r.status, 200, 'registered')
        for i in range(16):
            caller.request(gk.port, 'INVITE', 'sip:%s@%s:%d' % (
                ctx.f1.number, PUB, gk.port), 'sip:x@%s' % PUB,
                call_id='full-%d' % i)
            inv = gw.expect_request('INVITE')
            check(inv is not None, 'call %d reached the gateway' % i)
            gw.answer(inv, 486, 'Busy Here')
            caller.ack(gk.port, caller.final())
        check_eq(caller.call(gk.port, ctx.f1.number).status, 503, 'table full')
        check_eq(gk.metrics().get('dpn_gk_topo_refused_total{reason="full"}'),
                 1.0, 'counted')
    finally:
        gw.close()
        caller.close()
        gk.close()


def options(ua, host, port):
    ua.peer_host = host
    ua.request(port, 'OPTIONS', 'sip:%s:%d' % (host, port), 'sip:%s' % host)
    return ua.final()


@case
def options_and_crlf_keepalives_answered_on_both_sides(ctx):
    out, gw = Ua(PUB), registered(ctx, ctx.f1)
    try:
        check_eq(options(out, PUB, ctx.gk.port).status, 200, 'public OPTIONS')
        check_eq(options(gw, PRIV, ctx.pport).status, 200, 'private OPTIONS')
    finally:
        out.close()
        gw.close()
    for host, port in ((PUB, ctx.gk.port), (PRIV, ctx.pport)):
        with socket.create_connection((host, port), timeout=3) as t:
            t.sendall(b'\r\n\r\n')
            check_eq(t.recv(16), b'\r\n', 'CRLF keep-alive on %s' % host)


@case
def both_sides_counted(ctx):
    """Messages and malformed ones are counted per side in /metrics."""
    key = 'dpn_gk_sip_messages_total{side="%s",result="%s"}'
    before = ctx.gk.metrics()
    for host, port in ((PUB, ctx.gk.port), (PRIV, ctx.pport)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b'INVITE nonsense\r\n\r\n', (host, port))
    wait_for(lambda: all(ctx.gk.metrics().get(key % (side, 'malformed'), 0) >
                         before.get(key % (side, 'malformed'), 0)
                         for side in ('public', 'private')),
             timeout=3, what='a malformed message counted on each side')
    m = ctx.gk.metrics()
    check(m.get(key % ('private', 'received'), 0) > 0 and
          m.get(key % ('public', 'received'), 0) > 0, 'received on both: %r' % m)


@case
def received_and_rport_honoured(ctx):
    """A UA behind NAT writes an address it does not have in its Via: the
    answer goes to where the request came from, and says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((PUB, 0))
        s.settimeout(3)
        port = s.getsockname()[1]
        s.sendto(('OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;'
                  'branch=z9hG4bKnat1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:n@x>;'
                  'tag=1\r\nTo: <sip:%s>\r\nCall-ID: nat1\r\nCSeq: 1 OPTIONS\r\n'
                  'Content-Length: 0\r\n\r\n' % (PUB, ctx.gk.port, PUB)).encode(),
                 (PUB, ctx.gk.port))
        m = Msg(s.recvfrom(65535)[0])
    check_eq(m.status, 200, 'answered at the source')
    check('received=%s;rport=%d' % (PUB, port) in m.one('Via'),
          'received and rport: %s' % m.one('Via'))


def busy(inv, callee, caller, port):
    """callee answers inv 486; the caller (a gateway on the private side)
    gets it and ACKs it."""
    callee.answer(inv, 486, 'Busy Here')
    r = caller.final()
    check_eq(r and r.status, 486, 'busy back to the calling gateway')
    caller.ack(port, r)


@case
def from_display_of_a_call_leaving_a_flat_is_the_handset_number(ctx):
    gw1, gw2 = registered(ctx, ctx.f1), registered(ctx, ctx.f2)
    try:
        gw2.request(ctx.pport, 'INVITE', 'sip:%s@%s:%d' % (
            ctx.f1.number, PRIV, ctx.pport), 'sip:%s@dpn' % ctx.f1.number,
            call_id='display', from_user=ctx.f2.number + '-3')
        inv = gw1.expect_request('INVITE')
        check(inv is not None, 'flat to flat on the private side')
        check(inv.one('From').startswith('"%s-3" <sip:%s-3@' % (
            ctx.f2.number, ctx.f2.number)), 'From display: ' + inv.one('From'))
        check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s-3@%s>' % (
            ctx.f2.number, PUB)], 'asserted identity')
        busy(inv, gw1, gw2, ctx.pport)
    finally:
        gw1.close()
        gw2.close()


@case
def asserted_identity_and_to_with_a_private_host_hidden(ctx):
    """What the e2e capture found: a gateway asserts who answered as
    <sip:HANDSET@FIRST-ADDRESS> in its 2xx, and a handset that dials out
    addresses the To at its gateway. Outside sees the gatekeeper's address
    in both, the numbers kept."""
    gw, out = registered(ctx, ctx.f1), Ua(PUB)
    try:
        out.request(ctx.gk.port, 'INVITE', 'sip:%s@%s:%d' % (ctx.f1.number, PUB, ctx.gk.port),
                    'sip:%s@%s' % (ctx.f1.number, PUB), call_id=uuid.uuid4().hex)
        inv = gw.expect_request('INVITE')
        check(inv is not None, 'the call from outside reached the gateway')
        gw.answer(inv, 200, 'OK', 'Contact: <sip:gw@%s:%d>\r\nP-Asserted-Identity: '
                  '<sip:%s-2@%s>\r\n' % (gw.addr, gw.port, ctx.f1.number, gw.addr))
        ok = hidden(out.final(), "the gateway's 2xx with who answered")
        check_eq(ok.get('P-Asserted-Identity'), ['<sip:%s-2@%s>' % (ctx.f1.number, PUB)],
                 'who answered, under the public address')
        cid = 'to-%s@%s' % (uuid.uuid4().hex[:8], PUB)
        gw.request(ctx.pport, 'INVITE', 'sip:out@%s:%d' % (PUB, out.port),
                   'sip:300-5550-0100@%s:5060' % gw.addr, 'Contact: <sip:gw@%s:%d>\r\n'
                   % (gw.addr, gw.port), call_id=cid, to_tag='o2')
        inv = hidden(out.expect_request('INVITE'), 'INVITE out, To at the gateway')
        check(inv.one('To').startswith('<sip:300-5550-0100@%s>;tag=o2' % PUB),
              'To names the gatekeeper: ' + inv.one('To'))
        busy(inv, out, gw, ctx.pport)
    finally:
        gw.close()
        out.close()


if __name__ == '__main__':
    run_in_cluster(Ctx)
