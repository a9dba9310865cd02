#!/usr/bin/env python3
"""test_gatekeeper_media — media anchoring through a real rtpengine (user
space, interfaces pub 127.0.0.1 and priv 127.0.0.2) by a real
dpn-gatekeeper (public side 127.0.0.1, private side 127.0.0.2 with topology
hiding, as deployed) on a real PostgreSQL: an outside -> flat call with RTP
both ways through rtpengine (packets counted at each end, the SDP address
each side received checked), flat -> flat with direct media (rtpengine not
involved), a re-INVITE changing the port, re-INVITEs without SDP from
either end (offer in the 2xx, answer in the ACK), an UPDATE offered by the flat, a
late offer (offer in the 2xx, answer in the ACK), multipart bodies (the
SDP part rewritten, the others kept; malformed ones refused), early media of two
handsets (183s under two To tags) and a 2xx retransmission, RFC 3262
(an offer in a reliable 183 and its answer in the PRACK, also forked to
two handsets, also with sipp at both ends, bad bodies in either; an offer
in an unreliable 183 answered in the ACK; an
answer in a reliable 183, then offers in the PRACK and in an UPDATE of the
early dialog), a CANCELled and
a rejected call leaving no stream, latching (a caller whose SDP names an
unreachable address still receives audio after its first packet), two
rtpengines with one stopped, none running -> 503, and media timeout ending
the call both ways (also through record-routing proxies on each side).
Calls out (outbound routes to peers on 127.0.2.x):
flat -> outside with RTP both ways (the peer's SDP names rtpengine's
public address under the public Call-ID, the gateway's its private one), a
re-INVITE and the BYE from the peer naming the public Call-ID, a re-INVITE
from the gateway, failover to
the second peer with the same offer and no stream of the first, every peer
failing (a failed peer's early monologue kept, its cost a port pair; why:
every ng way to drop it alone at rtpengine is tried), a late offer, a
CANCEL, no rtpengine (503), the media-timeout BYE
to the peer that answered after a failover; and complex -> complex through two gatekeepers and
two rtpengines on the same private range, audio both ways."""
import contextlib
import os
import re
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, tmpdir, wait_for  # noqa: E402
from dialog import MP, Leg, media_of, multipart, sdp  # noqa: E402
from gatekeeper import GK, Flat, Gatekeeper, Ua, first_invite  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from rtpengine import Rtpengine, RtpEndpoint  # noqa: E402
from sip import Sipp, free_udp_port, message_log  # noqa: E402

N1, N2 = '100-1101-0101', '100-1101-0102'
PUB, PRIV = '127.0.0.1', '127.0.0.2'


def sided(pg, args):
    """A gatekeeper with its public side on 127.0.0.1 and its private side
    (the flats') on PRIV, as deployed; gk.pport is the private port."""
    pport = free_udp_port()
    # the test agents send calls in quick succession: exempt from the
    # flood limit (test_gatekeeper_guard.py tests it)
    gk = Gatekeeper(pg, args=['--listen-private', '%s:%d' % (PRIV, pport)]
                    + args, trusted='127.0.0.0/8')
    gk.pport = pport
    return gk


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=2)
        flats = self.env.flats(b['id'])
        self.f1, self.f2 = (Flat(self.env, pg, flats[n], i + 20)
                            for i, n in enumerate((101, 102)))
        self.rtp = Rtpengine(PUB, PRIV)
        # route peers are test agents: no OPTIONS probing
        self.gk = sided(pg, ['--rtpengine', self.rtp.ng_addr,
                             '--probe-interval', '0'])
        self.npeers = 0      # route peers made (route())
        self.gw1 = self.register(self.gk, self.f1)
        self.gw2 = self.register(self.gk, self.f2)

    def register(self, gk, flat):
        ua = flat.ua()
        ua.peer_host = PRIV
        r = ua.register(gk.pport, flat.number, flat.user, flat.secret)
        check(r is not None and r.status == 200, 'REGISTER %s: %s\n%s'
              % (flat.number, r and r.first, gk.log()))
        return ua

    def close(self):
        for p in getattr(self, 'peers', ()):
            p.close()
        try:
            self.gk.close()
        finally:
            self.rtp.stop()
            self.env.srv.stop()


def no_streams(rtp):
    wait_for(lambda: rtp.calls() == [], timeout=3,
             what='rtpengine holds no call (list is empty)')


def fnv1a64(s):
    """The gatekeeper's hash of a Call-ID (lib/ng.c ng_pick)."""
    h = 1469598103934665603
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def rr_of(ua):
    return '<sip:%s:%d;lr>' % (ua.addr, ua.port)


def anchored_call(ctx, caller_sdp_addr=None, gk=None, gw=None, call_id=None,
                  hop=None, gw_rr=False):
    """Outside caller -> flat 1, answered; returns (caller leg, gw leg,
    caller RTP, gw RTP, where the caller sends, where the gw sends).
    hop: a socket that stands for a record-routing proxy between the
    caller and us (its Record-Route in the INVITE; the caller's requests
    come as if through it); gw_rr: the gateway record-routes (as gatewayd
    does: its own address in the 2xx)."""
    gk = gk or ctx.gk
    gw = gw or ctx.gw1
    cu = Ua('127.0.0.1')
    c_rtp, g_rtp = RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)
    caller, callee = Leg(cu, gk.port, 'caller'), Leg(gw, gk.pport, N1)
    caller.invite(N1, sdp(caller_sdp_addr or c_rtp.addr, c_rtp.port), call_id,
                  extra='Record-Route: %s\r\n' % rr_of(hop) if hop else '')
    inv = gw.expect_request('INVITE')
    check(inv is not None, 'INVITE reached the flat\n' + gk.log())
    g_to = media_of(inv.body)
    callee.accept(inv)
    callee.answer(inv, 200, sdp(g_rtp.addr, g_rtp.port),
                  record_route=[rr_of(gw)] if gw_rr else ())
    ok = caller.response(200)
    check(ok is not None, 'caller got the 200\n' + gk.log())
    c_to = media_of(ok.body)
    caller.learn(ok)
    if hop:
        caller.route.remove(rr_of(hop))     # its hop takes its own Route
    caller.in_dialog('ACK')
    check(gw.expect_request('ACK') is not None, 'ACK reached the flat')
    return caller, callee, c_rtp, g_rtp, c_to, g_to


def hang_up(caller, callee):
    """caller's BYE reaches callee, which answers 200; the BYE."""
    caller.in_dialog('BYE')
    bye = callee.ua.expect_request('BYE')
    check(bye is not None, 'the BYE reached the other end')
    callee.answer(bye, 200)
    check(caller.response(200) is not None, '200 to the BYE')
    return bye


def outside_caller(ctx):
    """An outside UA on loopback and the two legs of its call to flat 1's
    gateway (the caller's, and the gateway's behind the private side)."""
    cu = Ua('127.0.0.1')
    return cu, Leg(cu, ctx.gk.port, 'caller'), Leg(ctx.gw1, ctx.gk.pport, N1)


@contextlib.contextmanager
def outside_media(ctx):
    """outside_caller's two legs and an RTP endpoint at each end (the
    caller's on loopback, the flat's at its address), all closed after."""
    cu, caller, callee = outside_caller(ctx)
    c_rtp, g_rtp = RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)
    try:
        yield caller, callee, c_rtp, g_rtp
    finally:
        for x in (cu, c_rtp, g_rtp):
            x.close()


@case
def outside_to_flat_rtp_both_ways_through_rtpengine(ctx):
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(ctx)
    try:
        check_eq(c_to[0], PUB, 'the caller sees the public address')
        check_eq(g_to[0], PRIV, 'the flat sees the private address')
        check(ctx.rtp.in_range(c_to[1]) and ctx.rtp.in_range(g_to[1]),
              'ports from rtpengine: %r %r' % (c_to, g_to))
        check_eq(len(ctx.rtp.calls()), 1, 'one call in rtpengine')
        c_rtp.send_to(*c_to, n=20, gap=0.005)
        g_rtp.send_to(*g_to, n=20, gap=0.005)
        check_eq(g_rtp.count(20), 20, 'flat received the caller\'s packets')
        check_eq(c_rtp.count(20), 20, 'caller received the flat\'s packets')
        check_eq(c_rtp.sources, {(PUB, c_to[1])}, 'caller\'s audio from rtpengine')
        check_eq(g_rtp.sources, {(PRIV, g_to[1])}, 'flat\'s audio from rtpengine')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
        m = ctx.gk.metrics()
        check(m.get('dpn_gk_media_calls_total{result="anchored"}', 0) >= 1,
              'anchored call counted')
    finally:
        caller.ua.close()
        c_rtp.close()
        g_rtp.close()


def reinvite(offerer, answerer, new_ep, ans_ep, off_sees, ans_sees,
             method='INVITE'):
    """offerer (a Leg of an answered call) re-INVITEs (or sends `method`,
    UPDATE) with RTP end new_ep, answerer answers with ans_ep; the
    request's SDP names ans_sees, the 200's off_sees; a re-INVITE's ACK
    reaches the answerer. Returns (where the offerer sends, where the
    answerer sends, the request, its 200)."""
    offerer.in_dialog(method, sdp(new_ep.addr, new_ep.port))
    req = answerer.ua.expect_request(method)
    check(req is not None, 'the %s reached the other end' % method)
    a_to = media_of(req.body)
    check_eq(a_to[0], ans_sees, 'the %s\'s SDP' % method)
    answerer.answer(req, 200, sdp(ans_ep.addr, ans_ep.port))
    ok = offerer.response(200)
    check(ok is not None, 'the 200 to the %s' % method)
    o_to = media_of(ok.body)
    check_eq(o_to[0], off_sees, 'the 200\'s SDP')
    if method == 'INVITE':
        offerer.in_dialog('ACK')
        check(answerer.ua.expect_request('ACK') is not None, 'the ACK reached the other end')
    return o_to, a_to, req, ok


@case
def reinvite_changes_the_port(ctx):
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(ctx)
    c2 = RtpEndpoint('127.0.0.1')
    try:
        c_to2, g_to2, _, _ = reinvite(caller, callee, c2, g_rtp, PUB, PRIV)
        c2.send_to(*c_to2, n=5, gap=0.005)     # from the new port
        g_rtp.send_to(*g_to2, n=20, gap=0.005)
        check_eq(c2.count(20), 20, 'audio reaches the new port')
        check_eq(c_rtp.drain(), 0, 'nothing to the old port')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (caller.ua, c_rtp, g_rtp, c2):
            x.close()


def flows(c_rtp, g_rtp, c_to, g_to, n=10):
    """n RTP packets each way between the caller's and the flat's endpoint
    (each sending to where its SDP said), all received."""
    c0, g0 = c_rtp.drain(), g_rtp.drain()
    c_rtp.send_to(*c_to, n=n, gap=0.005)
    g_rtp.send_to(*g_to, n=n, gap=0.005)
    check_eq(g_rtp.count(g0 + n) - g0, n, 'the flat hears the caller')
    check_eq(c_rtp.count(c0 + n) - c0, n, 'the caller hears the flat')


def reinvite_without_sdp(gk, sender, receiver, s_rtp, r_rtp):
    """sender re-INVITEs without SDP, receiver's 2xx offers r_rtp, sender's
    ACK answers with s_rtp; returns (the 2xx's media as the sender got it,
    the ACK's as the receiver got it)."""
    sender.in_dialog('INVITE')
    inv = receiver.ua.expect_request('INVITE')
    check(inv is not None and inv.body == '',
          're-INVITE without SDP reached the other end\n' + gk.log())
    receiver.answer(inv, 200, sdp(r_rtp.addr, r_rtp.port))
    ok = sender.response()
    check(ok is not None and ok.status == 200, '200 to the re-INVITE: %s\n%s'
          % (ok and ok.first, gk.log()))
    sender.in_dialog('ACK', sdp(s_rtp.addr, s_rtp.port))
    ack = receiver.ua.expect_request('ACK')
    check(ack is not None, 'ACK reached the other end\n' + gk.log())
    return media_of(ok.body), media_of(ack.body)


@case
def reinvite_without_sdp_from_either_side(ctx):
    """A re-INVITE without SDP from the caller, then one from the flat: the
    2xx carries the offer (ng offer from the answering end), the ACK the
    answer; each end sees its own side's address and RTP flows both ways
    after each; nothing left at rtpengine after the BYE."""
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(ctx)
    try:
        c_to, g_to = reinvite_without_sdp(ctx.gk, caller, callee, c_rtp, g_rtp)
        check_eq((c_to[0], g_to[0]), (PUB, PRIV),
                 'offer in the 2xx to the caller, answer in the ACK to the flat')
        flows(c_rtp, g_rtp, c_to, g_to)
        g_to, c_to = reinvite_without_sdp(ctx.gk, callee, caller, g_rtp, c_rtp)
        check_eq((c_to[0], g_to[0]), (PUB, PRIV),
                 'offer in the 2xx to the flat, answer in the ACK to the caller')
        flows(c_rtp, g_rtp, c_to, g_to)
        check_eq(len(ctx.rtp.calls()), 1, 'still one call in rtpengine')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (caller.ua, c_rtp, g_rtp):
            x.close()


@case
def update_from_the_flat_side(ctx):
    """The flat offers (UPDATE with SDP): the private side is the offerer's
    (ng direction [priv, pub]), each side still sees its own address."""
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(ctx)
    g2 = RtpEndpoint(ctx.f1.addr)
    try:
        g_to2, c_to2, _, _ = reinvite(callee, caller, g2, c_rtp, PRIV, PUB, 'UPDATE')
        c_rtp.send_to(*c_to2, n=10, gap=0.005)
        check_eq(g2.count(10), 10, 'audio to the flat\'s new port')
        g2.send_to(*g_to2, n=10, gap=0.005)
        check_eq(c_rtp.count(10), 10, 'audio from it')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (caller.ua, c_rtp, g_rtp, g2):
            x.close()


@case
def latching_caller_sdp_names_an_unreachable_address(ctx):
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(
        ctx, caller_sdp_addr='10.255.255.1')
    try:
        g_rtp.send_to(*g_to, n=5, gap=0.005)
        check_eq(c_rtp.count(1, timeout=0.3), 0, 'nothing before its first packet')
        c_rtp.send_to(*c_to, n=1)
        g_rtp.send_to(*g_to, n=20, gap=0.005)
        check_eq(c_rtp.count(20), 20, 'audio after the first packet (latched)')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (caller.ua, c_rtp, g_rtp):
            x.close()


@case
def early_media_of_two_handsets_and_2xx_retransmission(ctx):
    """Two 183s with SDP under different To tags (two handsets ringing
    behind the gateway), then a 200 from the second, sent twice: every
    one rewritten (ng answer per to-tag), the retransmission the same."""
    cu, caller, callee = outside_caller(ctx)
    c_rtp, h1, h2 = (RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr),
                     RtpEndpoint(ctx.f1.addr))
    try:
        caller.invite(N1, sdp(c_rtp.addr, c_rtp.port))
        inv = ctx.gw1.expect_request('INVITE')
        g_to = media_of(inv.body)
        callee.accept(inv)
        seen = []
        for ep in (h1, h2):
            callee.tag = uuid.uuid4().hex[:8]
            callee.answer(inv, 183, sdp(ep.addr, ep.port))
            r = caller.response(183)
            check(r is not None, '183 reached the caller')
            seen.append((r.one('To'), media_of(r.body)))
        check_eq([m[0] for _, m in seen], [PUB, PUB], '183 SDPs public')
        check(seen[0][0] != seen[1][0], 'two early dialogs')
        callee.answer(inv, 200, sdp(h2.addr, h2.port))
        ok = caller.response(200)
        callee.answer(inv, 200, sdp(h2.addr, h2.port))     # retransmitted
        again = caller.response(200, timeout=2)
        check(again is not None, 'the retransmission reached the caller')
        check_eq(again.body, ok.body, 'the same answer both times')
        c_to = media_of(ok.body)
        check_eq(c_to[0], PUB, '200 SDP public')
        caller.learn(ok)
        caller.in_dialog('ACK')
        ctx.gw1.expect_request('ACK')
        c_rtp.send_to(*c_to, n=10, gap=0.005)
        check_eq(h2.count(10), 10, 'the answering handset hears the caller')
        h2.send_to(*g_to, n=10, gap=0.005)
        check_eq(c_rtp.count(10), 10, 'the caller hears it')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (cu, c_rtp, h1, h2):
            x.close()


def late_offer(ctx, caller, callee, inv, c_rtp, e_rtp):
    """The callee answers inv (without SDP) 200 with its offer (RTP end
    e_rtp), the caller ACKs with its answer (c_rtp); 10 packets each way
    to the addresses each got. Returns (the caller's media address from
    the 200, the callee's from the ACK, the ACK)."""
    callee.accept(inv)
    callee.answer(inv, 200, sdp(e_rtp.addr, e_rtp.port))
    ok = caller.response(200)
    check(ok is not None, 'the 200 reached the caller\n' + ctx.gk.log())
    c_to = media_of(ok.body)
    caller.learn(ok)
    caller.in_dialog('ACK', sdp(c_rtp.addr, c_rtp.port))
    ack = callee.ua.expect_request('ACK')
    check(ack is not None, 'the ACK reached the callee')
    e_to = media_of(ack.body)
    c_rtp.send_to(*c_to, n=10, gap=0.005)
    e_rtp.send_to(*e_to, n=10, gap=0.005)
    check_eq((e_rtp.count(10), c_rtp.count(10)), (10, 10), 'audio both ways')
    return c_to, e_to, ack


@case
def late_offer_in_the_2xx_answer_in_the_ack(ctx):
    """An INVITE without SDP from outside: the flat's 2xx carries the offer
    (the caller sees the public address), the caller's ACK the answer (the
    flat sees the private address); RTP flows both ways."""
    with outside_media(ctx) as (caller, callee, c_rtp, g_rtp):
        caller.invite(N1, '')
        inv = ctx.gw1.expect_request('INVITE')
        check(inv is not None and inv.body == '', 'INVITE without SDP reached the flat')
        c_to, g_to, _ = late_offer(ctx, caller, callee, inv, c_rtp, g_rtp)
        check_eq(c_to[0], PUB, 'the offer in the 2xx: public address')
        check_eq(g_to[0], PRIV, 'the answer in the ACK: private address')
        check(ctx.rtp.in_range(g_to[1]), 'a port of rtpengine: %r' % (g_to,))
        hang_up(caller, callee)
        no_streams(ctx.rtp)



def rel(rseq):
    """The header lines of a reliable provisional response (RFC 3262)."""
    return 'Require: 100rel\r\nRSeq: %d\r\n' % rseq


def prack(caller, r, body='', ctype='application/sdp'):
    """The caller PRACKs reliable 1xx r (its early dialog: tag, target,
    route set from r), with `body`."""
    caller.learn(r)
    caller.send('PRACK', caller.target, body, ctype=ctype,
                extra='RAck: %s %s\r\n' % (r.one('RSeq'), r.one('CSeq')))


def prack_through(ctx, caller, callee, r, body=''):
    """PRACK r with body; the callee gets it and answers 200 (no body),
    which reaches the caller. Returns the PRACK the callee got."""
    prack(caller, r, body)
    p = callee.ua.expect_request('PRACK')
    check(p is not None, 'the PRACK reached the callee\n' + ctx.gk.log())
    callee.answer(p, 200)
    ok = caller.response(200)
    check(ok is not None and 'PRACK' in ok.one('CSeq'),
          'the 200 to the PRACK reached the caller')
    return p


def answer_invite_without_sdp(ctx, caller, callee, inv):
    """The callee's 200 to the INVITE (no SDP: offer and answer were in
    the 183 and the PRACK), the caller's ACK (CSeq of the INVITE)."""
    callee.answer(inv, 200)
    ok = caller.response(200)
    check(ok is not None and ok.body == '', 'the 200 without SDP passed')
    caller.learn(ok)
    caller.send('ACK', caller.target, cseq=1)
    check(callee.ua.expect_request('ACK') is not None, 'ACK reached the callee')


@case
def reliable_183_offer_answer_in_the_prack(ctx):
    """RFC 3262: an INVITE without SDP from outside; the flat's reliable 183
    (Require: 100rel, RSeq) carries the offer (the caller sees the public
    address; its retransmission the same SDP), the caller's PRACK the answer
    (the flat sees the private address), the 200 to the PRACK passes; early
    media both ways, then the 200 without SDP, audio; a re-INVITE without
    SDP is a late offer of its own (offer in its 2xx, answer in the ACK);
    no stream left."""
    with outside_media(ctx) as (caller, callee, c_rtp, g_rtp):
        caller.invite(N1, '', extra='Require: 100rel\r\n')
        inv = ctx.gw1.expect_request('INVITE')
        check(inv is not None and inv.body == '', 'INVITE without SDP reached the flat')
        callee.accept(inv)
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port), extra=rel(1))
        r = caller.response(183)
        check(r is not None, 'the reliable 183 reached the caller\n' + ctx.gk.log())
        check_eq(r.one('Require'), '100rel', 'Require: 100rel kept')
        c_to = media_of(r.body)
        check_eq(c_to[0], PUB, 'the offer in the 183: public address')
        check(ctx.rtp.in_range(c_to[1]), 'a port of rtpengine: %r' % (c_to,))
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port), extra=rel(1))
        again = caller.response(183, timeout=2)
        check(again is not None and again.body == r.body,
              'the retransmitted 183 carries the same offer')
        p = prack_through(ctx, caller, callee, r, sdp(c_rtp.addr, c_rtp.port))
        g_to = media_of(p.body)
        check_eq(g_to[0], PRIV, 'the answer in the PRACK: private address')
        check(ctx.rtp.in_range(g_to[1]), 'a port of rtpengine: %r' % (g_to,))
        flows(c_rtp, g_rtp, c_to, g_to)
        answer_invite_without_sdp(ctx, caller, callee, inv)
        flows(c_rtp, g_rtp, c_to, g_to)
        c_to, g_to = reinvite_without_sdp(ctx.gk, caller, callee, c_rtp, g_rtp)
        check_eq((c_to[0], g_to[0]), (PUB, PRIV), 'a later late offer: a new one')
        flows(c_rtp, g_rtp, c_to, g_to)
        hang_up(caller, callee)
        no_streams(ctx.rtp)


@case
def unreliable_183_offer_answer_in_the_ack(ctx):
    """An INVITE without SDP; the flat's 183 (not reliable) carries the
    offer and its 200 the same SDP (RFC 6337 3.1): the caller sees the same
    public address and port in both, its ACK answers (the flat sees the
    private address); audio both ways; nothing left."""
    with outside_media(ctx) as (caller, callee, c_rtp, g_rtp):
        caller.invite(N1, '')
        inv = ctx.gw1.expect_request('INVITE')
        callee.accept(inv)
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port))
        r = caller.response(183)
        check(r is not None, 'the 183 reached the caller\n' + ctx.gk.log())
        c_to = media_of(r.body)
        check_eq(c_to[0], PUB, 'the offer in the 183: public address')
        callee.answer(inv, 200, sdp(g_rtp.addr, g_rtp.port))
        ok = caller.response(200)
        check(ok is not None and media_of(ok.body) == c_to, 'the 200 repeats it')
        caller.learn(ok)
        caller.in_dialog('ACK', sdp(c_rtp.addr, c_rtp.port))
        ack = ctx.gw1.expect_request('ACK')
        check(ack is not None, 'the ACK reached the flat')
        g_to = media_of(ack.body)
        check_eq(g_to[0], PRIV, 'the answer in the ACK: private address')
        flows(c_rtp, g_rtp, c_to, g_to)
        hang_up(caller, callee)
        no_streams(ctx.rtp)

@case
def reliable_183_and_prack_with_bad_bodies(ctx):
    """A reliable 183 whose offer is a malformed multipart never reaches
    the caller (nor its private SDP); its retransmission with a good body
    does, rewritten; a PRACK whose answer is malformed gets 400 naming the
    fault and never reaches the flat; counted; no stream left after the
    call is rejected."""
    cu, caller, callee = outside_caller(ctx)
    g_rtp = RtpEndpoint(ctx.f1.addr)
    key = 'dpn_gk_media_events_total{event="bad_body"}'
    before = ctx.gk.metrics().get(key, 0)
    bad = multipart(sdp(g_rtp.addr, g_rtp.port))[:-12]     # no closing boundary
    try:
        caller.invite(N1, '')
        inv = ctx.gw1.expect_request('INVITE')
        callee.accept(inv)
        callee.answer(inv, 183, bad, ctype=MP, extra=rel(1))
        check(caller.response(183, timeout=0.5) is None,
              'the 183 with a malformed offer never reaches the caller')
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port), extra=rel(1))
        r = caller.response(183)
        check(r is not None and media_of(r.body)[0] == PUB,
              'its retransmission with a good body does, public: %s' % (r and r.body))
        prack(caller, r, multipart(sdp('127.0.0.1', 7000))[:-12], ctype=MP)
        p = caller.response()
        check(p is not None and p.status == 400 and 'closing boundary' in p.first,
              'the malformed PRACK: 400 naming the fault: %s' % (p and p.first))
        check(ctx.gw1.recv(0.2) is None, 'nothing reached the flat')
        check_eq(ctx.gk.metrics().get(key, 0) - before, 2.0, 'counted')
        callee.answer(inv, 486)
        check(caller.response(486) is not None, 'the 486 reached the caller')
        no_streams(ctx.rtp)
    finally:
        cu.close()
        g_rtp.close()

@case
def forked_reliable_183_offers_stay_separate(ctx):
    """Two handsets behind the flat each send a reliable 183 with its offer
    (two To tags) to an INVITE without SDP; the caller PRACKs each with its
    answer: two early dialogs at rtpengine, each handset's early media
    reaches the caller; the second answers, audio flows, nothing left."""
    cu, caller, callee = outside_caller(ctx)
    c_rtp, h1, h2 = (RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr),
                     RtpEndpoint(ctx.f1.addr))
    try:
        caller.invite(N1, '', extra='Supported: 100rel\r\n')
        inv = ctx.gw1.expect_request('INVITE')
        callee.accept(inv)
        ends = []
        for ep in (h1, h2):
            callee.tag = uuid.uuid4().hex[:8]
            callee.answer(inv, 183, sdp(ep.addr, ep.port), extra=rel(1))
            r = caller.response(183)
            check(r is not None, '183 reached the caller\n' + ctx.gk.log())
            c_to = media_of(r.body)
            check_eq(c_to[0], PUB, 'each offer public')
            p = prack_through(ctx, caller, callee, r,
                              sdp(c_rtp.addr, c_rtp.port))
            g_to = media_of(p.body)
            check_eq(g_to[0], PRIV, 'each answer private')
            ends.append((ep, c_to, g_to))
        check(ends[0][1] != ends[1][1] and ends[0][2] != ends[1][2],
              'two early dialogs, two port pairs: %r' % ends)
        for ep, c_to, g_to in ends:
            c0 = c_rtp.drain()
            ep.send_to(*g_to, n=10, gap=0.005)
            check_eq(c_rtp.count(c0 + 10) - c0, 10,
                     'the caller hears each handset early')
        ep, c_to, g_to = ends[1]
        answer_invite_without_sdp(ctx, caller, callee, inv)
        flows(c_rtp, ep, c_to, g_to)
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (cu, c_rtp, h1, h2):
            x.close()


def received(text, first):
    """The messages a sipp party received (its -trace_msg log) whose first
    line starts with `first`."""
    return [m for m in re.findall(r'message received \[\d+\] bytes :\n\n(.*?)(?=\n-{20}|\Z)',
                                  text, re.S) if m.startswith(first)]


@case
def sipp_reliable_183_offer_answer_in_the_prack(ctx):
    """The same with sipp at both ends (another RFC 3262 implementation,
    tests/sip/uac_100rel.xml and uas_100rel.xml: RSeq, RAck, the PRACK
    following the early dialog's route set): outside -> flat 2, two calls;
    the caller's 183s name rtpengine's public address, the PRACKs the flat
    got its private one; nothing left at rtpengine."""
    ua = ctx.f2.ua()
    ua.peer_host = PRIV
    r = ua.register(ctx.gk.pport, ctx.f2.number, ctx.f2.user, ctx.f2.secret)
    check(r is not None and r.status == 200, 'flat 2 registered for sipp')
    port = ua.port
    ua.close()
    d = tmpdir('dpn-100rel-')
    clog, glog = os.path.join(d, 'c.log'), os.path.join(d, 'g.log')
    g = Sipp(Sipp._scenario('uas_100rel') + [
        '-i', ctx.f2.addr, '-p', str(port), '-m', '2', '-timeout', '30',
        '-trace_msg', '-message_file', glog])
    try:
        c = Sipp.uac(ctx.gk.port, free_udp_port(), 2, 'uac_100rel', extra=(
            '-s', ctx.f2.number, '-trace_msg', '-message_file', clog)).wait()
        g.wait()
    finally:
        g.kill()
        r = ctx.gw2.register(ctx.gk.pport, ctx.f2.number, ctx.f2.user, ctx.f2.secret)
        check(r is not None and r.status == 200, 'flat 2 back on its UA')
    check_eq(c.count('Successful call'), 2, 'calls\n' + c.out[-1500:] + c.errors[-2500:])
    check_eq(g.rc, 0, 'the gateway saw its scenario through\n' + g.out[-1500:]
             + g.errors[-2500:])
    offers = [media_of(m) for m in received(message_log(clog), 'SIP/2.0 183')]
    answers = [media_of(m) for m in received(message_log(glog), 'PRACK ')]
    check(len(offers) >= 2 and len(answers) == 2, '183s and PRACKs: %r %r'
          % (offers, answers))
    check(all(a == PUB and ctx.rtp.in_range(p) for a, p in offers),
          'the offers the caller got: rtpengine public %r' % offers)
    check(all(a == PRIV and ctx.rtp.in_range(p) for a, p in answers),
          'the answers the flat got: rtpengine private %r' % answers)
    no_streams(ctx.rtp)

@case
def reliable_183_answer_then_prack_and_update_offers(ctx):
    """An INVITE with SDP; the flat's reliable 183 carries the answer; the
    caller's PRACK a new offer (another port) and the 200 to it the answer;
    an UPDATE of the caller's in the early dialog another offer, its 200
    the answer: each rewritten (public to the caller, private to the flat),
    media follows each new port; then the 200 and no stream left."""
    cu, caller, callee = outside_caller(ctx)
    c_rtp, c2, c3, g_rtp = (RtpEndpoint('127.0.0.1'), RtpEndpoint('127.0.0.1'),
                            RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr))
    try:
        caller.invite(N1, sdp(c_rtp.addr, c_rtp.port))
        inv = ctx.gw1.expect_request('INVITE')
        g_to = media_of(inv.body)
        callee.accept(inv)
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port), extra=rel(1))
        r = caller.response(183)
        check(r is not None, 'the reliable 183 reached the caller')
        c_to = media_of(r.body)
        check_eq(c_to[0], PUB, 'the answer in the 183: public address')
        flows(c_rtp, g_rtp, c_to, g_to)
        for method, ep in (('PRACK', c2), ('UPDATE', c3)):
            if method == 'PRACK':
                prack(caller, r, sdp(ep.addr, ep.port))
            else:
                caller.in_dialog('UPDATE', sdp(ep.addr, ep.port))
            q = ctx.gw1.expect_request(method)
            check(q is not None, method + ' reached the flat\n' + ctx.gk.log())
            g_to = media_of(q.body)
            check_eq(g_to[0], PRIV, 'the offer in the %s: private' % method)
            callee.answer(q, 200, sdp(g_rtp.addr, g_rtp.port))
            ok = caller.response(200)
            check(ok is not None and method in ok.one('CSeq'),
                  'the 200 to the %s reached the caller' % method)
            c_to = media_of(ok.body)
            check_eq(c_to[0], PUB, 'the answer in its 200: public')
            flows(ep, g_rtp, c_to, g_to)
        callee.answer(inv, 200, sdp(g_rtp.addr, g_rtp.port))
        ok = caller.response(200)
        check(ok is not None and media_of(ok.body)[0] == PUB, '200: public SDP')
        caller.learn(ok)
        caller.send('ACK', caller.target, cseq=1)
        check(ctx.gw1.expect_request('ACK') is not None, 'ACK reached the flat')
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (cu, c_rtp, c2, c3, g_rtp):
            x.close()

def sdp_part(body):
    m = re.search(r'application/sdp\r\n\r\n(.*?)\r\n--dpn-b1\r\n', body, re.S)
    check(m, 'an SDP part in %r' % body)
    return m.group(1)


def check_multipart(msg, sent, addr):
    """msg's body is `sent` with only its SDP part rewritten (to name
    addr), Content-Type and Content-Length right; the rewritten media."""
    check_eq(msg.one('Content-Type'), MP, 'Content-Type kept')
    check_eq(int(msg.one('Content-Length')), len(msg.body.encode()),
             'Content-Length of the rewritten body')
    got = sdp_part(msg.body)
    check_eq(msg.body.replace(got, sdp_part(sent)), sent,
             'every byte but the SDP part\'s kept')
    media = media_of(got)
    check_eq(media[0], addr, 'the SDP part rewritten')
    return media


@case
def multipart_body_sdp_part_rewritten_others_kept(ctx):
    """Offer and answer in multipart/mixed bodies (SDP + ISUP, as from a
    SIP-I trunk): each side gets its SDP part rewritten, the ISUP part and
    boundaries byte for byte; RTP flows both ways."""
    with outside_media(ctx) as (caller, callee, c_rtp, g_rtp):
        offer = multipart(sdp(c_rtp.addr, c_rtp.port))
        caller.invite(N1, offer, ctype=MP)
        inv = ctx.gw1.expect_request('INVITE')
        check(inv is not None, 'INVITE reached the flat\n' + ctx.gk.log())
        g_to = check_multipart(inv, offer, PRIV)
        callee.accept(inv)
        answer = multipart(sdp(g_rtp.addr, g_rtp.port))
        callee.answer(inv, 200, answer, ctype=MP)
        ok = caller.response(200)
        check(ok is not None, 'caller got the 200\n' + ctx.gk.log())
        c_to = check_multipart(ok, answer, PUB)
        check(g_rtp.addr not in ok.body, 'no private address outside')
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(ctx.gw1.expect_request('ACK') is not None, 'ACK reached the flat')
        flows(c_rtp, g_rtp, c_to, g_to)
        hang_up(caller, callee)
        no_streams(ctx.rtp)


@case
def malformed_multipart_refused_never_forwarded(ctx):
    """A malformed multipart INVITE from outside: 400 naming the fault,
    nothing reaches the flat; a flat's 2xx with two SDP parts: the caller
    gets 500, never that 2xx (nor its retransmission); both counted, no
    stream left."""
    cu, caller, callee = outside_caller(ctx)
    key = 'dpn_gk_media_events_total{event="bad_body"}'
    before = ctx.gk.metrics().get(key, 0)
    try:
        for body, why in ((multipart(sdp('127.0.0.1', 7000))[:-12],
                           'closing boundary'),
                          (multipart(sdp('127.0.0.1', 7000), 'multipart/mixed;'
                                     'boundary=x'), 'nested multipart')):
            caller.invite(N1, body, ctype=MP)
            r = caller.response()
            check(r is not None and r.status == 400 and why in r.first,
                  '400 naming the fault: %s' % (r and r.first))
            caller.send('ACK', 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port),
                        to=r.one('To'), cseq=caller.cseq, branch=caller.branch)
        check(ctx.gw1.recv(0.2) is None, 'nothing reached the flat')
        caller.invite(N1, sdp('127.0.0.1', 7000))
        inv = ctx.gw1.expect_request('INVITE')
        check(inv is not None, 'INVITE reached the flat')
        callee.accept(inv)
        two = multipart(sdp(ctx.f1.addr, 7002), 'application/sdp').replace(
            'application/ISUP;version=itu-t92+', 'application/sdp')
        callee.answer(inv, 200, two, ctype=MP)
        r = caller.response()
        check(r is not None and r.status == 500, 'caller got %s' % (r and r.first))
        callee.answer(inv, 200, two, ctype=MP)     # retransmitted
        r = caller.response(200, timeout=0.5)
        check(r is None, 'the 2xx never reaches the caller: %s' % (r and r.body))
        check_eq(ctx.gk.metrics().get(key, 0) - before, 3.0, 'counted')
        no_streams(ctx.rtp)
    finally:
        cu.close()


@case
def flat_to_flat_media_direct(ctx):
    gw2, gw1 = Leg(ctx.gw2, ctx.gk.pport, N2), Leg(ctx.gw1, ctx.gk.pport, N1)
    offer, answer = sdp(ctx.f2.addr, 4000), sdp(ctx.f1.addr, 5000)
    gw2.invite(N1, offer)
    inv = ctx.gw1.expect_request('INVITE')
    check(inv is not None, 'INVITE reached flat 1')
    check_eq(inv.body, offer, 'offer unchanged')
    gw1.accept(inv)
    gw1.answer(inv, 200, answer)
    ok = gw2.response(200)
    check_eq(ok.body, answer, 'answer unchanged')
    check_eq(ctx.rtp.calls(), [], 'rtpengine not involved')
    gw2.learn(ok)
    gw2.in_dialog('ACK')
    ctx.gw1.expect_request('ACK')
    gw2.in_dialog('BYE')
    bye = ctx.gw1.expect_request('BYE')
    gw1.answer(bye, 200)
    gw2.response(200)
    check(ctx.gk.metrics().get('dpn_gk_media_calls_total{result="direct"}', 0) >= 1,
          'direct call counted')


@case
def cancelled_and_rejected_calls_leave_no_stream(ctx):
    cu = Ua('127.0.0.1')
    try:
        caller, callee = Leg(cu, ctx.gk.port, 'caller'), Leg(ctx.gw1, ctx.gk.pport, N1)
        caller.invite(N1, sdp('127.0.0.1', 7000))
        inv = ctx.gw1.expect_request('INVITE')
        callee.answer(inv, 180)
        check_eq(len(ctx.rtp.calls()), 1, 'a stream while it rings')
        ruri = 'sip:%s@127.0.0.1:%d' % (N1, ctx.gk.port)
        caller.send('CANCEL', ruri, to='<%s>' % ruri, cseq=1, branch=caller.branch)
        cancel = ctx.gw1.expect_request('CANCEL')
        check(cancel is not None, 'CANCEL reached the flat')
        callee.answer(cancel, 200)
        callee.answer(inv, 487)
        check(caller.response(487) is not None, '487 to the caller')
        no_streams(ctx.rtp)
        # rejected
        caller.invite(N1, sdp('127.0.0.1', 7002))
        inv = ctx.gw1.expect_request('INVITE')
        callee.answer(inv, 486)
        check(caller.response(486) is not None, '486 to the caller')
        no_streams(ctx.rtp)
    finally:
        cu.close()


@case
def media_timeout_ends_the_call_both_ways(ctx):
    rtp = Rtpengine(PUB, PRIV, timeout=2)
    gk = sided(ctx.pg, ['--rtpengine', rtp.ng_addr,
                                  '--media-check', '1s'])
    gw = ctx.register(gk, ctx.f1)
    caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(ctx, gk=gk, gw=gw)
    try:
        # no RTP: rtpengine's --timeout=2 ends it, the gatekeeper learns it
        bye_gw = gw.expect_request('BYE', timeout=8)
        check(bye_gw is not None, 'BYE to the flat\n' + gk.log())
        bye_c = caller.ua.expect_request('BYE', timeout=3)
        check(bye_c is not None, 'BYE to the caller')
        check_eq(bye_c.one('Call-ID'), caller.call_id, 'the same call')
        check('media timeout' in (bye_gw.one('Reason') or ''),
              'Reason says why: %r' % bye_gw.one('Reason'))
        # counted just after the BYEs are sent: wait for it
        wait_for(lambda: gk.metrics().get(
            'dpn_gk_media_events_total{event="media_timeout"}') == 1.0,
            timeout=2, what='media timeout counted')
        no_streams(rtp)
    finally:
        for x in (caller.ua, c_rtp, g_rtp, gw):
            x.close()
        gk.close()
        rtp.stop()


@case
def media_timeout_bye_after_prack_and_update_cseq_above(ctx):
    """A call whose caller sent a PRACK and an UPDATE in the early dialog
    (CSeq 2 and 3, before the 200): when its media stops, the BYE the flat
    gets speaks for the caller with a CSeq above those (RFC 3261 12.2.2:
    a lower one is refused 500)."""
    rtp = Rtpengine(PUB, PRIV, timeout=2)
    gk = sided(ctx.pg, ['--rtpengine', rtp.ng_addr, '--media-check', '1s'])
    gw = ctx.register(gk, ctx.f1)
    cu = Ua('127.0.0.1')
    c_rtp, g_rtp = RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)
    caller, callee = Leg(cu, gk.port, 'caller'), Leg(gw, gk.pport, N1)
    try:
        caller.invite(N1, sdp(c_rtp.addr, c_rtp.port))
        inv = gw.expect_request('INVITE')
        check(inv is not None, 'INVITE reached the flat\n' + gk.log())
        callee.accept(inv)
        callee.answer(inv, 183, sdp(g_rtp.addr, g_rtp.port), extra=rel(1))
        r = caller.response(183)
        check(r is not None, 'the reliable 183 reached the caller')
        prack(caller, r)
        caller.in_dialog('UPDATE', sdp(c_rtp.addr, c_rtp.port))
        for method in ('PRACK', 'UPDATE'):
            q = gw.expect_request(method)
            check(q is not None, method + ' reached the flat\n' + gk.log())
            callee.answer(q, 200, sdp(g_rtp.addr, g_rtp.port) if method == 'UPDATE' else '')
            check(caller.response(200) is not None, '200 to the ' + method)
        callee.answer(inv, 200)
        ok = caller.response(200)
        check(ok is not None and 'INVITE' in ok.one('CSeq'), '200 to the INVITE')
        caller.learn(ok)
        caller.send('ACK', caller.target, cseq=1)
        check(gw.expect_request('ACK') is not None, 'ACK reached the flat')
        bye = gw.expect_request('BYE', timeout=8)
        check(bye is not None, 'BYE to the flat\n' + gk.log())
        check_eq(bye.one('CSeq'), '4 BYE', 'one above the UPDATE')
        check(caller.ua.expect_request('BYE', timeout=3) is not None, 'BYE to the caller')
        no_streams(rtp)
    finally:
        for x in (cu, c_rtp, g_rtp, gw):
            x.close()
        gk.close()
        rtp.stop()

def no_request(ua, method, timeout=0.3):
    check(ua.expect_request(method, timeout) is None,
          'no %s at %s:%d' % (method, ua.addr, ua.port))


@case
def media_timeout_byes_follow_the_route_set(ctx):
    """A record-routing proxy before the caller (a socket standing for
    it) and a gateway that record-routes: after in-dialog requests from
    both ends, the media-timeout BYE to each end goes through its route
    set (to the caller's proxy, to the gateway with its Route), its
    Contact as Request-URI, the tags as that end knows them and a CSeq one
    above the other end's last; none reaches the caller directly."""
    rtp = Rtpengine(PUB, PRIV, timeout=2)
    gk = sided(ctx.pg, ['--rtpengine', rtp.ng_addr, '--media-check', '1s'])
    gw = ctx.register(gk, ctx.f1)
    hop = Ua('127.0.0.1')
    caller = None
    try:
        caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(
            ctx, gk=gk, gw=gw, hop=hop, gw_rr=True)
        caller.cseq, callee.cseq = 6, 40
        caller.in_dialog('INFO')                # CSeq 7
        info = gw.expect_request('INFO')
        check(info is not None and info.get('Route') == [rr_of(gw)],
              'INFO to the flat through its route set\n' + gk.log())
        callee.answer(info, 200)
        check(caller.response(200) is not None, '200 to the INFO')
        callee.in_dialog('INFO')                # CSeq 41, through hop
        info = hop.expect_request('INFO')
        check(info is not None, 'INFO to the caller\'s proxy\n' + gk.log())
        caller.answer(info, 200)
        check(callee.response(200) is not None, '200 to the flat\'s INFO')
        for ua, leg, other, cseq, rr in ((gw, callee, caller, 8, gw),
                                         (hop, caller, callee, 42, hop)):
            bye = ua.expect_request('BYE', timeout=8)
            check(bye is not None, 'BYE at %s\n%s' % (rr_of(rr), gk.log()))
            check_eq(bye.ruri, re.search(r'<([^>]+)>', leg.contact()).group(1),
                     'Request-URI: the end\'s Contact')
            check_eq(bye.get('Route'), [rr_of(rr)], 'the route set')
            check_eq(bye.one('Call-ID'), caller.call_id, 'Call-ID')
            check(bye.one('From').endswith('tag=' + other.tag) and
                  bye.one('To').endswith('tag=' + leg.tag),
                  'tags: %s / %s' % (bye.one('From'), bye.one('To')))
            check_eq(bye.one('CSeq'), '%d BYE' % cseq, 'CSeq above the last')
            check('media timeout' in (bye.one('Reason') or ''), 'Reason')
            leg.answer(bye, 200)
        no_request(caller.ua, 'BYE')
        no_streams(rtp)
    finally:
        for x in (hop, gw) + ((caller.ua, c_rtp, g_rtp) if caller else ()):
            x.close()
        gk.close()
        rtp.stop()


@case
def two_rtpengines_one_stopped(ctx):
    other = Rtpengine(PUB, PRIV)
    gk = sided(ctx.pg, ['--rtpengine', '%s,%s' % (other.ng_addr,
                                                            ctx.rtp.ng_addr),
                                  '--ng-timeout', '300ms'])
    gw = ctx.register(gk, ctx.f1)
    try:
        other.stop()
        # the first call hashes to the stopped one: its offer times out
        # and goes to the running one; the stopped one is skipped after
        first = next(c for c in (uuid.uuid4().hex for _ in range(100))
                     if fnv1a64(c) % 2 == 0)
        for i in range(6):
            caller, callee, c_rtp, g_rtp, c_to, g_to = anchored_call(
                ctx, gk=gk, gw=gw, call_id=first if i == 0 else None)
            check_eq(len(ctx.rtp.calls()), 1, 'call %d on the running one' % i)
            hang_up(caller, callee)
            for x in (caller.ua, c_rtp, g_rtp):
                x.close()
            no_streams(ctx.rtp)
        m = gk.metrics()
        check_eq(m.get('dpn_gk_media_calls_total{result="no_relay"}'), 0.0,
                 'no call refused')
        check(m.get('dpn_gk_ng_total{what="timeout"}', 0) >= 1,
              'the offer to the stopped one timed out (probes may too)')
    finally:
        gw.close()
        gk.close()
        other.stop()


@case
def no_rtpengine_running_503(ctx):
    dead = '127.0.0.1:%d' % free_udp_port()
    gk = sided(ctx.pg, ['--rtpengine', dead, '--ng-timeout', '200ms'])
    gw = ctx.register(gk, ctx.f1)
    cu = Ua('127.0.0.1')
    try:
        for _ in range(2):
            caller = Leg(cu, gk.port, 'caller')
            caller.invite(N1, sdp('127.0.0.1', 7000))
            r = caller.response()
            check(r is not None and r.status == 503, '503: %s' % (r and r.first))
        check(gw.recv(0.2) is None, 'nothing reached the flat')
        check_eq(gk.metrics().get('dpn_gk_media_calls_total{result="no_relay"}'),
                 2.0, 'counted')
    finally:
        cu.close()
        gw.close()
        gk.close()


@case
def rtpengine_gone_before_the_answer_500_not_the_2xx(ctx):
    """rtpengine stops between offer and answer: the caller gets 500, never
    the 2xx with an SDP it cannot use; counted."""
    rtp = Rtpengine(PUB, PRIV)
    gk = sided(ctx.pg, ['--rtpengine', rtp.ng_addr,
                                  '--ng-timeout', '300ms'])
    gw = ctx.register(gk, ctx.f1)
    cu = Ua('127.0.0.1')
    try:
        caller, callee = Leg(cu, gk.port, 'caller'), Leg(gw, gk.pport, N1)
        caller.invite(N1, sdp('127.0.0.1', 7000))
        inv = gw.expect_request('INVITE')
        check(inv is not None, 'INVITE reached the flat')
        rtp.stop()
        callee.answer(inv, 200, sdp(ctx.f1.addr, 7002))
        r = caller.response()
        check(r is not None and r.status == 500, 'caller got %s' % (r and r.first))
        callee.answer(inv, 200, sdp(ctx.f1.addr, 7002))     # retransmitted
        r = caller.response(200, timeout=0.5)
        check(r is None, 'the 2xx never reaches the caller: %s' % (r and r.body))
        check_eq(gk.metrics().get(
            'dpn_gk_media_events_total{event="answer_failed"}'), 1.0, 'counted')
    finally:
        cu.close()
        gw.close()
        gk.close()
        rtp.stop()



# ---- calls out: flat -> outside through an outbound route, and complex ->
# complex through both gatekeepers ----

OUT = '300-5550-0100'        # a number of complex 300: routed to PEERS
PEERS = ('127.0.2.1', '127.0.2.2')


def route(ctx, prefix, peers):
    """Complex 100 routes numbers starting with prefix to a group holding
    peers ((addr, port), ...), through mgmtd; waits until the gatekeeper
    read it."""
    c, site = ctx.env.c, ctx.env.site['id']
    st, g = c.post('/api/v1/sites/%d/peer-groups' % site, {'name': 'to-' + prefix})
    check_eq(st, 201, 'peer group to %s' % prefix)
    for a, port in peers:
        st, b = c.post('/api/v1/peer-groups/%d/peers' % g['id'],
                       {'address': a, 'port': port})
        check_eq(st, 201, 'peer %s:%d: %r' % (a, port, b))
    ctx.npeers += len(peers)
    wait_for(lambda: ctx.gk.metrics().get('dpn_gk_peers_up') == ctx.npeers, timeout=3,
             what='the gatekeeper read the peers')
    st, _ = c.post('/api/v1/sites/%d/routes' % site, {'prefix': prefix, 'group_id': g['id']})
    check_eq(st, 201, 'route %s' % prefix)
    ctx.nroutes = getattr(ctx, 'nroutes', 0) + 1
    want = 'site 100: %d routes, %d peers' % (ctx.nroutes, ctx.npeers)
    wait_for(lambda: want in ctx.gk.log(), timeout=3,
             what='the gatekeeper read route %s' % prefix)


def peers(ctx):
    """The two peers outside that complex 300's route tries in turn (made
    once: user agents on 127.0.2.1 and .2)."""
    if not hasattr(ctx, 'peers'):
        ctx.peers = [Ua(a) for a in PEERS]
        route(ctx, '300', [(p.addr, p.port) for p in ctx.peers])
    return ctx.peers


def out_call(ctx, body):
    """Flat 1's gateway dials OUT with `body` under a Call-ID with a host
    part (topology hiding gives it another outside); returns (caller leg,
    Call-ID, the peer that got the INVITE, the INVITE)."""
    ps = peers(ctx)
    caller = Leg(ctx.gw1, ctx.gk.pport, N1)
    cid = uuid.uuid4().hex + '@' + ctx.f1.addr
    caller.invite(OUT, body, cid)
    peer, inv = first_invite(ps)
    if inv is None:
        r = caller.response(timeout=0.5)
        check(False, 'the INVITE reached a peer (the gateway got %s)\n%s'
              % (r and r.first, ctx.gk.log()))
    return caller, cid, peer, inv


def talk(a, a_to, b, b_to, n=20):
    """n packets from RTP end a to a_to and from b to b_to: each end gets
    all n, from the address and port it sends to (its anchor: symmetric
    RTP)."""
    a.send_to(*a_to, n=n, gap=0.005)
    b.send_to(*b_to, n=n, gap=0.005)
    check_eq((b.count(n), a.count(n)), (n, n), 'packets received each way')
    check_eq((a.sources, b.sources), ({tuple(a_to)}, {tuple(b_to)}),
             'each end hears its anchor')


def no_private(msg, ctx, what):
    """Nothing of the private side (rtpengine's or the gatekeeper's
    private address, the flat's) in a message the peer got, headers or
    SDP."""
    for a in (PRIV, ctx.f1.addr):
        check(a not in msg.raw, '%s: no private address %s in %r' % (what, a, msg.raw))


@case
def flat_to_outside_rtp_both_ways_the_peer_reinvites_and_hangs_up(ctx):
    """A handset's call out through a route: the peer sees rtpengine's
    public address (never the private one) under the public Call-ID, the
    gateway the private address; RTP flows both ways; a re-INVITE and the
    BYE from the peer, naming the public Call-ID, find the same ng call
    (one call in rtpengine, then none)."""
    g_rtp = RtpEndpoint(ctx.f1.addr)
    caller, cid, peer, inv = out_call(ctx, sdp(g_rtp.addr, g_rtp.port))
    p_rtp, p2 = RtpEndpoint(peer.addr), RtpEndpoint(peer.addr)
    try:
        pub_cid = inv.one('Call-ID')
        check(pub_cid.startswith('gk-') and pub_cid != cid,
              'the peer knows the call by the public Call-ID: %s' % pub_cid)
        p_to = media_of(inv.body)
        check_eq(p_to[0], PUB, 'the peer sees rtpengine\'s public address')
        no_private(inv, ctx, 'the INVITE the peer got')
        callee = Leg(peer, ctx.gk.port, OUT)
        callee.accept(inv)
        callee.answer(inv, 200, sdp(p_rtp.addr, p_rtp.port))
        ok = caller.response(200)
        check(ok is not None, 'the gateway got the 200\n' + ctx.gk.log())
        g_to = media_of(ok.body)
        check_eq(g_to[0], PRIV, 'the gateway sees rtpengine\'s private address')
        check(ctx.rtp.in_range(p_to[1]) and ctx.rtp.in_range(g_to[1]),
              'ports of rtpengine: %r %r' % (p_to, g_to))
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(peer.expect_request('ACK') is not None, 'the ACK reached the peer')
        talk(g_rtp, g_to, p_rtp, p_to)
        # the peer moves its media (re-INVITE under the public Call-ID)
        _, g_to2, re_inv, ok2 = reinvite(callee, caller, p2, g_rtp, PUB, PRIV)
        check_eq(re_inv.one('Call-ID'), cid, 'the gateway gets the private Call-ID')
        no_private(ok2, ctx, 'the 200 the peer got')
        check_eq(ctx.rtp.calls(), [cid.encode()], 'one call in rtpengine, by the private Call-ID')
        g_rtp.send_to(*g_to2, n=10, gap=0.005)
        check_eq(p2.count(10), 10, 'audio reaches the peer\'s new port')
        # the peer hangs up, naming the public Call-ID
        bye = hang_up(callee, caller)
        check_eq(bye.one('Call-ID'), cid, 'the gateway gets the private Call-ID')
        no_streams(ctx.rtp)
    finally:
        for x in (g_rtp, p_rtp, p2):
            x.close()


def ports_held(q):
    """The local ports of every stream of an ng query's answer."""
    return len({(s.get('local address'), s['local port'])
                for t in q.get('tags', {}).values() for m in t.get('medias', [])
                for s in m.get('streams', []) if 'local port' in s})


def failover(ctx, early):
    """The gateway calls out; the first peer answers 503 (after a 183
    with SDP when `early`), the second gets the same rewritten offer and
    answers; audio both ways; the gateway hangs up. Returns the tags
    rtpengine held for the call while it was up besides caller and
    callee, the first peer's tag (None without early media) and the ports
    rtpengine held for the call."""
    g_rtp = RtpEndpoint(ctx.f1.addr)
    caller, cid, first, inv1 = out_call(ctx, sdp(g_rtp.addr, g_rtp.port))
    second = [p for p in ctx.peers if p is not first][0]
    p_rtp = RtpEndpoint(second.addr)
    e = None
    try:
        if early:
            e = Leg(first, ctx.gk.port, OUT)
            e.accept(inv1)
            e.answer(inv1, 183, sdp(first.addr, 9000))
            r = caller.response(183)
            check(r is not None and media_of(r.body)[0] == PRIV,
                  'the early SDP reached the gateway, private: %r' % (r and r.body))
            e.answer(inv1, 503)
        else:
            first.answer(inv1, 503)
        inv2 = second.expect_request('INVITE')
        check(inv2 is not None, 'failover: the second peer got the INVITE\n' + ctx.gk.log())
        check_eq(inv2.body, inv1.body, 'the same rewritten offer')
        callee = Leg(second, ctx.gk.port, OUT)
        callee.accept(inv2)
        callee.answer(inv2, 200, sdp(p_rtp.addr, p_rtp.port))
        ok = caller.response(200)
        check(ok is not None, 'the second peer\'s 200 reached the gateway')
        g_to, p_to = media_of(ok.body), media_of(inv2.body)
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(second.expect_request('ACK') is not None, 'the ACK reached the second peer')
        g_rtp.send_to(*g_to, n=10, gap=0.005)
        p_rtp.send_to(*p_to, n=10, gap=0.005)
        check_eq((p_rtp.count(10), g_rtp.count(10)), (10, 10), 'audio both ways')
        q = ctx.rtp.ng({'command': 'query', 'call-id': cid}) or {}
        tags = set(q.get('tags', {}))
        check(caller.tag in tags and callee.tag in tags, 'caller and callee at rtpengine: %r'
              % tags)
        hang_up(caller, callee)
        no_streams(ctx.rtp)
        return tags - {caller.tag, callee.tag}, e and e.tag, ports_held(q)
    finally:
        g_rtp.close()
        p_rtp.close()


def early_branch_dropped(rtp, cid, alone, d):
    """At rtpengine (ng only): A offers, the first peer P1 answers (its
    early 183), then (unless `alone`) the next peer P2 is answered first;
    then ng message d drops P1. Returns (whether rtpengine still has the
    call, packets the caller got of P2's 10, P2 got of the caller's 10)."""
    a, p2 = RtpEndpoint(PRIV), RtpEndpoint(PUB)
    try:
        o = rtp.ng({'command': 'offer', 'call-id': cid, 'from-tag': 'A',
                    'direction': ['priv', 'pub'], 'sdp': sdp(a.addr, a.port)})
        peer_to = media_of(o['sdp'].decode())
        ans = dict(command='answer', **{'call-id': cid, 'from-tag': 'A'})
        rtp.ng(dict(ans, sdp=sdp(PUB, 9000), **{'to-tag': 'P1'}))
        a2 = None if alone else rtp.ng(dict(ans, sdp=sdp(p2.addr, p2.port),
                                            **{'to-tag': 'P2'}))
        check_eq(rtp.ng(dict(d, **{'call-id': cid}))['result'], b'ok', 'ng %r' % d)
        if alone:
            a2 = rtp.ng(dict(ans, sdp=sdp(p2.addr, p2.port), **{'to-tag': 'P2'}))
        if a2.get('result') != b'ok':
            return False, 0, 0
        p2.send_to(*peer_to, n=10, gap=0.003)
        a.send_to(*media_of(a2['sdp'].decode()), n=10, gap=0.003)
        return True, a.count(10, timeout=0.5), p2.count(10, timeout=0.5)
    finally:
        rtp.ng({'command': 'delete', 'call-id': cid})
        a.close()
        p2.close()


@case
def rtpengine_cannot_drop_a_failed_early_branch_alone(ctx):
    """Why a route peer that failed after early media keeps its monologue
    until the call ends (docs/gatekeeper.md, "Calls out"): with this
    rtpengine, every ng way to drop that branch alone either ends the
    whole call (done before the next peer answers) or cuts the next
    peer's audio to the caller (done after: the offer's ports, which every
    peer was given, are the failed branch's). If this fails, rtpengine
    learnt it: drop the branch in media.c."""
    ways = {'delete to-tag': {'command': 'delete', 'from-tag': 'A', 'to-tag': 'P1',
                              'flags': ['to-tag'], 'delete delay': 0},
            'delete its from-tag': {'command': 'delete', 'from-tag': 'P1',
                                    'delete delay': 0},
            'unsubscribe': {'command': 'unsubscribe', 'from-tag': 'P1',
                            'to-tag': 'A'}}
    for name, d in ways.items():
        for alone in (True, False):
            up, heard, sent = early_branch_dropped(
                ctx.rtp, 'drop-%s-%s' % (name.replace(' ', '-'), alone), alone, d)
            check(not up or heard < 10,
                  '%s (%s): call kept and the next peer heard: %r'
                  % (name, 'alone' if alone else 'after the next answer',
                     (up, heard, sent)))
    no_streams(ctx.rtp)

@case
def flat_to_outside_the_gateway_reinvites(ctx):
    """The gateway moves its media in a call out (re-INVITE from the
    private side): the peer gets rtpengine's public address under the
    public Call-ID, the gateway's new port gets the peer's audio, and the
    gateway's BYE leaves nothing at rtpengine."""
    g_rtp, g2 = RtpEndpoint(ctx.f1.addr), RtpEndpoint(ctx.f1.addr)
    caller, cid, peer, inv = out_call(ctx, sdp(g_rtp.addr, g_rtp.port))
    p_rtp = RtpEndpoint(peer.addr)
    try:
        callee = Leg(peer, ctx.gk.port, OUT)
        callee.accept(inv)
        callee.answer(inv, 200, sdp(p_rtp.addr, p_rtp.port))
        ok = caller.response(200)
        check(ok is not None, 'the 200 reached the gateway')
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(peer.expect_request('ACK') is not None, 'the ACK reached the peer')
        g_to, p_to, re_inv, _ = reinvite(caller, callee, g2, p_rtp, PRIV, PUB)
        check_eq(re_inv.one('Call-ID'), inv.one('Call-ID'), 'under the public Call-ID')
        no_private(re_inv, ctx, 'the re-INVITE the peer got')
        check_eq(ctx.rtp.calls(), [cid.encode()], 'still one call at rtpengine')
        talk(g2, g_to, p_rtp, p_to)
        hang_up(caller, callee)
        no_streams(ctx.rtp)
    finally:
        for x in (g_rtp, g2, p_rtp):
            x.close()


@case
def flat_to_outside_failover_leaves_no_stream_of_the_first_peer(ctx):
    """The first peer answers 503: the second gets the same offer (the
    rewritten SDP serves every branch), and rtpengine holds nothing of
    the first branch (no monologue besides caller and callee). A first
    peer that sent early media (183 with SDP) before its 503: its
    monologue carries the call's media on the ports the offer named, and
    everything goes with the BYE."""
    before = ctx.gk.metrics().get('dpn_gk_route_failovers_total', 0)
    extra, _, plain = failover(ctx, early=False)
    check_eq(extra, set(), 'no monologue of the failed branch')
    check_eq(plain, 4, 'RTP and RTCP of caller and callee')
    extra, first, held = failover(ctx, early=True)
    check_eq(extra, {first}, 'the early monologue of the failed peer kept')
    check_eq(held - plain, 2, 'what it costs until the call ends: a port pair')
    check_eq(ctx.gk.metrics().get('dpn_gk_route_failovers_total', 0), before + 2,
             'failovers counted')


@case
def flat_to_outside_every_peer_fails_no_stream(ctx):
    caller, cid, first, inv1 = out_call(ctx, sdp(ctx.f1.addr, 7000))
    first.answer(inv1, 503)
    second = [p for p in ctx.peers if p is not first][0]
    inv2 = second.expect_request('INVITE')
    check(inv2 is not None, 'the second peer got the INVITE')
    check_eq(len(ctx.rtp.calls()), 1, 'the call at rtpengine while it is tried')
    second.answer(inv2, 503)
    r = caller.response()
    check(r is not None and r.status == 500, 'the gateway got 500: %s' % (r and r.first))
    no_streams(ctx.rtp)


@case
def flat_to_outside_late_offer(ctx):
    """An INVITE without SDP out: the peer's 200 carries the offer (the
    gateway sees the private address), the ACK the answer (the peer sees
    the public one); RTP both ways."""
    g_rtp = RtpEndpoint(ctx.f1.addr)
    caller, cid, peer, inv = out_call(ctx, '')
    p_rtp = RtpEndpoint(peer.addr)
    try:
        check_eq(inv.body, '', 'no SDP in the INVITE the peer got')
        callee = Leg(peer, ctx.gk.port, OUT)
        g_to, p_to, ack = late_offer(ctx, caller, callee, inv, g_rtp, p_rtp)
        check_eq(g_to[0], PRIV, 'the offer in the 200: the private address')
        check_eq(p_to[0], PUB, 'the answer in the ACK: the public address')
        no_private(ack, ctx, 'the ACK the peer got')
        hang_up(callee, caller)
        no_streams(ctx.rtp)
    finally:
        g_rtp.close()
        p_rtp.close()


@case
def flat_to_outside_reliable_183_offer_answer_in_the_prack(ctx):
    """An INVITE without SDP out: the peer's reliable 183 carries the offer
    (the gateway sees the private address), the gateway's PRACK the answer
    (the peer sees the public one, under the public Call-ID, nothing
    private); early media and audio both ways; nothing left."""
    g_rtp = RtpEndpoint(ctx.f1.addr)
    caller, cid, peer, inv = out_call(ctx, '')
    p_rtp = RtpEndpoint(peer.addr)
    try:
        callee = Leg(peer, ctx.gk.port, OUT)
        callee.accept(inv)
        callee.answer(inv, 183, sdp(p_rtp.addr, p_rtp.port), extra=rel(1))
        r = caller.response(183)
        check(r is not None, 'the 183 reached the gateway\n' + ctx.gk.log())
        g_to = media_of(r.body)
        check_eq(g_to[0], PRIV, 'the offer in the 183: the private address')
        p = prack_through(ctx, caller, callee, r, sdp(g_rtp.addr, g_rtp.port))
        p_to = media_of(p.body)
        check_eq(p_to[0], PUB, 'the answer in the PRACK: the public address')
        no_private(p, ctx, 'the PRACK the peer got')
        flows(g_rtp, p_rtp, g_to, p_to)
        answer_invite_without_sdp(ctx, caller, callee, inv)
        flows(g_rtp, p_rtp, g_to, p_to)
        hang_up(callee, caller)
        no_streams(ctx.rtp)
    finally:
        g_rtp.close()
        p_rtp.close()

@case
def flat_to_outside_cancelled_leaves_no_stream(ctx):
    """The gateway CANCELs a call out while the peer rings: 487, and
    rtpengine holds nothing."""
    caller, cid, peer, inv = out_call(ctx, sdp(ctx.f1.addr, 7000))
    peer.answer(inv, 180)
    check(caller.response(180) is not None, '180 reached the gateway')
    check_eq(ctx.rtp.calls(), [cid.encode()], 'a stream while it rings')
    ruri = 'sip:%s@%s:%d' % (OUT, PRIV, ctx.gk.pport)
    caller.send('CANCEL', ruri, to='<%s>' % ruri, cseq=1, branch=caller.branch)
    cancel = peer.expect_request('CANCEL')
    check(cancel is not None, 'the CANCEL reached the peer')
    peer.answer(cancel, 200)
    peer.answer(inv, 487)
    r = caller.response(487)
    check(r is not None, '487 reached the gateway')
    no_streams(ctx.rtp)


@case
def flat_to_outside_no_rtpengine_503(ctx):
    """No rtpengine answering: a call out gets 503, counted, and nothing
    reaches the peers (never a call out with the handset's private SDP)."""
    ps = peers(ctx)
    dead = '127.0.0.1:%d' % free_udp_port()
    gk = sided(ctx.pg, ['--rtpengine', dead, '--ng-timeout', '200ms',
                        '--probe-interval', '0'])
    gw = ctx.register(gk, ctx.f1)
    try:
        caller = Leg(gw, gk.pport, N1)
        caller.invite(OUT, sdp(ctx.f1.addr, 7000))
        r = caller.response()
        check(r is not None and r.status == 503, '503: %s' % (r and r.first))
        check_eq(first_invite(ps, timeout=0.3), (None, None), 'nothing reached a peer')
        check_eq(gk.metrics().get('dpn_gk_media_calls_total{result="no_relay"}'), 1.0,
                 'counted')
    finally:
        gw.close()
        gk.close()


@case
def flat_to_outside_media_timeout_byes_the_peer_that_answered(ctx):
    """A call out answered by the second peer (the first 503): when its
    media stops, the BYE goes to that peer, not the one the offer was
    first made for, under the public Call-ID with nothing private in it,
    and to the gateway by the private side under its own Call-ID."""
    ps = peers(ctx)
    rtp = Rtpengine(PUB, PRIV, timeout=2)
    gk = sided(ctx.pg, ['--rtpengine', rtp.ng_addr, '--media-check', '1s',
                        '--probe-interval', '0'])
    gw = ctx.register(gk, ctx.f1)
    try:
        caller = Leg(gw, gk.pport, N1)
        caller.invite(OUT, sdp(ctx.f1.addr, 7000), uuid.uuid4().hex + '@' + ctx.f1.addr)
        first, inv1 = first_invite(ps)
        check(inv1 is not None, 'the INVITE reached a peer\n' + gk.log())
        first.answer(inv1, 503)
        second = [p for p in ps if p is not first][0]
        inv2 = second.expect_request('INVITE')
        check(inv2 is not None, 'failover to the second peer')
        callee = Leg(second, gk.port, OUT)
        callee.accept(inv2)
        callee.answer(inv2, 200, sdp(second.addr, 7002))
        ok = caller.response(200)
        check(ok is not None, 'the 200 reached the gateway')
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(second.expect_request('ACK') is not None, 'the ACK reached the peer')
        bye = second.expect_request('BYE', timeout=8)
        check(bye is not None, 'the media-timeout BYE reached the peer that answered\n'
              + gk.log())
        check('media timeout' in (bye.one('Reason') or ''), 'with its Reason')
        check_eq(bye.one('Call-ID'), inv2.one('Call-ID'), 'the public Call-ID')
        check(bye.one('From').endswith('tag=' + caller.tag) and
              bye.one('To').endswith('tag=' + callee.tag), 'the peer\'s tags')
        no_private(bye, ctx, 'the BYE the peer got')
        bye = gw.expect_request('BYE', timeout=3)
        check(bye is not None, 'and the gateway')
        check_eq((bye.one('Call-ID'), bye.src), (caller.call_id, (PRIV, gk.pport)),
                 'its own Call-ID, by the private side')
        no_streams(rtp)
    finally:
        gw.close()
        gk.close()
        rtp.stop()


@case
def complex_to_complex_through_two_gatekeepers_and_two_rtpengines(ctx):
    """Complex 200 with its own gatekeeper (public 127.0.0.1, private
    127.0.0.4) and rtpengine (pub 127.0.0.3, priv 127.0.0.4) on the same
    private range as complex 100 (127.16.0.0/16: its flat has the very
    address of flat 1 here). A's handset dials B's flat: anchored at both
    entrances (each side of each sees its own address), audio both ways,
    both rtpengines empty after the BYE."""
    c = ctx.env.c
    st, site = c.post('/api/v1/sites', {'number': 200})
    check_eq(st, 201, 'complex 200')
    st, _ = c.post('/api/v1/sites/%d/pools' % site['id'], {'cidr': ctx.env.cidr})
    check_eq(st, 201, 'the same private range')
    st, b = c.post('/api/v1/sites/%d/buildings' % site['id'],
                   {'number': 1101, 'floors': 1, 'units_per_floor': 1})
    check_eq(st, 201, 'building')
    fb = Flat(ctx.env, ctx.pg, ctx.env.flats(b['id'])[101], 40)
    check_eq(fb.addr, ctx.f1.addr, 'B\'s flat has A\'s flat\'s address')
    rtp_b = Rtpengine('127.0.0.3', '127.0.0.4')
    pport = free_udp_port()
    gk_b = Gatekeeper(ctx.pg, site=200, args=[
        '--listen-private', '127.0.0.4:%d' % pport, '--rtpengine', rtp_b.ng_addr,
        '--probe-interval', '0'])
    gw_b, a_rtp, b_rtp = fb.ua(), RtpEndpoint(ctx.f1.addr), RtpEndpoint(fb.addr)
    try:
        gw_b.peer_host = '127.0.0.4'
        r = gw_b.register(pport, fb.number, fb.user, fb.secret)
        check(r is not None and r.status == 200, 'B\'s gateway registered')
        route(ctx, '200', [('127.0.0.1', gk_b.port)])
        caller = Leg(ctx.gw1, ctx.gk.pport, N1)
        caller.invite(fb.number, sdp(a_rtp.addr, a_rtp.port),
                      uuid.uuid4().hex + '@' + ctx.f1.addr)
        inv = gw_b.expect_request('INVITE')
        check(inv is not None, 'the INVITE reached B\'s gateway\n' + ctx.gk.log() + gk_b.log())
        b_to = media_of(inv.body)
        check_eq(b_to[0], '127.0.0.4', 'B\'s flat sees B\'s rtpengine, private side')
        callee = Leg(gw_b, pport, fb.number)
        callee.accept(inv)
        callee.answer(inv, 200, sdp(b_rtp.addr, b_rtp.port))
        ok = caller.response(200)
        check(ok is not None, 'A\'s gateway got the 200\n' + ctx.gk.log() + gk_b.log())
        a_to = media_of(ok.body)
        check_eq(a_to[0], PRIV, 'A\'s flat sees A\'s rtpengine, private side')
        check_eq((len(ctx.rtp.calls()), len(rtp_b.calls())), (1, 1),
                 'anchored at both entrances')
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(gw_b.expect_request('ACK') is not None, 'the ACK reached B\'s gateway')
        talk(a_rtp, a_to, b_rtp, b_to)      # each through its own entrance
        hang_up(callee, caller)      # B hangs up, through both gatekeepers
        no_streams(ctx.rtp)
        no_streams(rtp_b)
    finally:
        for x in (gw_b, a_rtp, b_rtp):
            x.close()
        gk_b.close()
        rtp_b.stop()


@case
def settings_checked(ctx):
    """-n names the bad media settings; a good set passes."""
    base = [GK, '-n', '--db', ctx.pg.conninfo, '--site', '100']
    for extra, want in ((['--rtpengine', '127.0.0.1:2223', '--media-private', 'pub'],
                         'media-public, media-private'),
                        (['--rtpengine', '127.0.0.1:99999'], '--rtpengine'),
                        (['--ng-timeout', '10ms'], 'ng-timeout')):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=20)
        check(r.returncode != 0 and want in r.stderr,
              '%s refused naming %s: %s' % (extra, want, r.stderr))
    r = subprocess.run(base + ['--rtpengine', '127.0.0.1:2223, 127.0.0.1:2224'],
                       capture_output=True, text=True, timeout=20)
    check_eq(r.returncode, 0, 'two instances accepted: ' + r.stderr)


if __name__ == '__main__':
    run_in_cluster(Ctx)
