#!/usr/bin/env python3
"""test_gatewayd_calls — calls through dpn-gatewayd with the real
dpn-gatekeeper, real PostgreSQL + mgmtd, two flats (A and B), each with its
own gatewayd, and Python UAs as handsets (exact control over who answers
when):

- two handsets of flat A answer at the same moment: the caller gets one
  2xx (naming the answering handset in P-Asserted-Identity), the other
  handset an ACK and a BYE with Reason cause=200 from gatewayd; the same
  with sipp handsets and a sipp caller (last: it moves the contacts);
- a handset flooding gatewayd is throttled and counted while the flat
  keeps ringing for the others, and is not banned once it stops;
- a handset of flat A calls flat B through the gatekeeper: B's handset
  sees A's handset's full number asserted, A's handset sees B's, and ACK
  and BYE follow the route set across both gatewayds and the gatekeeper."""
import os
import re
import select
import socket
import sys
import time
import uuid
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for  # noqa: E402
import mgmtd  # noqa: E402
from gatekeeper import Gatekeeper, Ua  # noqa: E402
from gatewayd import Gatewayd, first_hop, in_dialog  # noqa: E402
from sip import SCEN, Sipp, free_udp_port  # noqa: E402

POOL = '127.37.0.0/24'
S = {}


# ---- helpers ---------------------------------------------------------------

def reply(ua, req, status):
    """Answer req as a handset: Record-Route copied, Contact on 2xx."""
    extra = ''.join('Record-Route: %s\r\n' % v for v in req.get('Record-Route'))
    if 200 <= status < 300:
        extra += 'Contact: <sip:%s@%s:%d>\r\n' % (ua.number, ua.addr, ua.port)
    ua.answer(req, status, 'OK' if status == 200 else 'X', extra)


def handset(gw, h):
    """A registered handset UA of gw for mgmtd's handset record h."""
    ua = Ua(h['address'], 0, peer_host=gw.first)
    ua.number = h['number']
    r = ua.register(gw.sip_port, h['number'], h['sip_username'], h['sip_password'])
    check(r is not None and r.status == 200, '%s registered: %s' % (h['number'], r and r.first))
    return ua


def call(caller, gw, number):
    """INVITE sip:number@gatewayd from caller; returns the INVITE's CSeq."""
    ruri = 'sip:%s@%s:%d' % (number, gw.first, gw.sip_port)
    caller.last_sent = caller.request(gw.sip_port, 'INVITE', ruri, ruri,
                                      call_id=uuid.uuid4().hex).encode()
    return caller.cseq


def rung(caller, gw, handsets, within=5.0):
    """The INVITE each handset got, resent by the caller every 0.5 s as a
    UA does (timer A) until all rang; None for a handset that did not."""
    got, end = {}, time.monotonic() + within
    while len(got) < len(handsets) and time.monotonic() < end:
        socks = {u.s: u for u in handsets if u not in got}
        ready = select.select(list(socks), [], [], 0.5)[0]
        for sk in ready:
            m = socks[sk].recv(0)
            if m is not None and m.method == 'INVITE':
                got[socks[sk]] = m
        if not ready:
            caller.s.sendto(caller.last_sent, (gw.first, gw.sip_port))
    return [got.get(u) for u in handsets]


def finals(ua, within):
    """Every final response ua receives within `within` seconds."""
    out, end = [], time.monotonic() + within
    while time.monotonic() < end:
        m = ua.recv(max(0.01, end - time.monotonic()))
        if m is not None and m.status and m.status >= 200:
            out.append(m)
    return out


def hang_up(caller, cseq, ok, callee):
    """ACK and BYE the 2xx ok along its route set; callee answers the BYE."""
    caller.s.sendto(in_dialog(caller, cseq, ok, 'ACK'), first_hop(ok))
    check(callee.expect_request('ACK') is not None, 'the callee got the ACK')
    caller.s.sendto(in_dialog(caller, cseq, ok, 'BYE'), first_hop(ok))
    bye = callee.expect_request('BYE')
    check(bye is not None, 'the callee got the BYE')
    reply(callee, bye, 200)
    r = caller.final()
    check(r is not None and r.status == 200 and 'BYE' in r.one('CSeq'),
          'the BYE was answered 200: %s' % (r and r.first))


def to_tag(m):
    t = re.search(r';tag=([^;>\s]+)', m.one('To') or '')
    return t.group(1) if t else None


# ---- cases -----------------------------------------------------------------

@case
def two_handsets_answering_at_once_give_the_caller_one_call(ctx):
    gw, (h1, h2) = S['A'], S['ua'][:2]
    caller = Ua('127.0.0.1', 0, peer_host=gw.first)
    cseq = call(caller, gw, gw.flat)
    invs = rung(caller, gw, (h1, h2))
    check(all(invs), 'both handsets rang')
    for u, inv in zip((h1, h2), invs):
        reply(u, inv, 180)
    for u, inv in zip((h1, h2), invs):      # the same moment
        reply(u, inv, 200)
    # The handset that lost gets ACK and BYE at once (it answers the BYE
    # before anyone looks at the caller, so a resent BYE would be a fault).
    first, end = {}, time.monotonic() + 3
    while not first and time.monotonic() < end:
        for u in select.select([h1.s, h2.s], [], [], 0.5)[0]:
            ua = h1 if u is h1.s else h2
            m = ua.recv(0)
            if m is not None and m.method in ('ACK', 'BYE'):
                first[ua] = m
    check_eq(len(first), 1, 'exactly one handset got an ACK or BYE from gatewayd')
    loser = list(first)[0]
    winner = h2 if loser is h1 else h1
    ack = first[loser] if first[loser].method == 'ACK' else None
    bye = loser.expect_request('BYE')
    check(ack is not None and bye is not None, 'the other handset got ACK, then BYE')
    check_eq(bye.src, (gw.first, gw.sip_port), 'the BYE came from gatewayd')
    check_eq(to_tag(bye), 'gw%d' % loser.port, "the BYE ends the other handset's dialog")
    check('cause=200' in (bye.one('Reason') or ''), 'Reason cause=200: %r' % bye.one('Reason'))
    reply(loser, bye, 200)
    oks = [m for m in finals(caller, 1.5) if m.status == 200]
    check(oks, 'the caller got a 200')
    check_eq(sorted({to_tag(m) for m in oks}), ['gw%d' % winner.port],
             "every 2xx the caller got is the other handset's")
    ok = oks[0]
    check_eq(ok.get('P-Asserted-Identity'), ['<sip:%s@%s>' % (winner.number, gw.first)],
             "the answering handset's full number in the 2xx")
    check_eq(bye.one('Call-ID'), ok.one('Call-ID'), 'the same call')
    hang_up(caller, cseq, ok, winner)
    check(loser.expect_request('BYE', timeout=0.3) is None, 'the answered BYE is not resent')
    caller.close()


@case
def a_flooding_handset_is_throttled_and_the_flat_keeps_ringing(ctx):
    gw, (h1, h2) = S['A'], S['ua'][:2]
    h3 = S['hs_a'][2]
    before = gw.metric('dpn_gw_flood_dropped_total') or 0
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind((h3['address'], 0))
    port = flood.getsockname()[1]

    def options(n):
        for i in range(n):
            if i % 50 == 49:
                time.sleep(0.005)   # a flood, not a socket-buffer overflow
            flood.sendto(('OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKf%d'
                          '%s\r\nFrom: <sip:f@%s>;tag=f\r\nTo: <sip:%s>\r\nCall-ID: f%d@x\r\n'
                          'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
                          % (gw.first, gw.sip_port, h3['address'], port, i, uuid.uuid4().hex[:6],
                             h3['address'], gw.first, i)).encode(), (gw.first, gw.sip_port))
    caller = Ua('127.0.0.1', 0, peer_host=gw.first)
    t0 = time.monotonic()
    options(200)
    cseq = call(caller, gw, gw.flat)
    options(200)
    invs = rung(caller, gw, (h1, h2))
    check(all(invs), 'both other handsets rang during the flood')
    reply(h1, invs[0], 180)
    reply(h2, invs[1], 180)
    reply(h2, invs[1], 200)
    ok = caller.final()
    # the 200 came after every OPTIONS was taken (one socket, in order);
    # the bucket refilled 30 a second until then
    secs = time.monotonic() - t0
    check(ok is not None and ok.status == 200, 'the call was answered: %s' % (ok and ok.first))
    check_eq(ok.get('P-Asserted-Identity'), ['<sip:%s@%s>' % (h2.number, gw.first)],
             'the answering handset named')
    cancel = h1.expect_request('CANCEL')
    check(cancel is not None and 'cause=200' in (cancel.one('Reason') or ''),
          'the ringing handset got CANCEL with Reason')
    hang_up(caller, cseq, ok, h2)
    answered = 0
    flood.settimeout(0.3)
    try:
        while True:
            flood.recvfrom(65535)
            answered += 1
    except socket.timeout:
        pass
    flood.close()
    dropped = gw.metric('dpn_gw_flood_dropped_total') - before
    most = max(120, int(60 + 30 * secs) + 10)
    check(50 <= answered <= most, '400 requests in %.1f s: about the burst (60) and 30/s '
          'answered (at most %d), got %d' % (secs, most, answered))
    check(dropped >= min(250, 370 - answered), 'the rest dropped and counted: %s' % dropped)
    gw.wait_log(r'flood from %s: over 30 requests/s, dropping' % re.escape(h3['address']))
    ua = wait_for(lambda: handset(gw, h3), timeout=5, what='the flooder may register again')
    ua.close()
    caller.close()


@case
def a_handset_of_flat_a_calls_flat_b_through_the_gatekeeper(ctx):
    a1, b1 = S['ua'][0], S['ub'][0]
    cseq = call(a1, S['A'], S['B'].flat)
    inv = b1.expect_request('INVITE', timeout=5)
    check(inv is not None, "B's handset rang")
    check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s@127.0.0.1>' % a1.number],
             "the far end sees A's handset's full number, asserted by the gatekeeper")
    reply(b1, inv, 180)
    reply(b1, inv, 200)
    ok = a1.final()
    check(ok is not None and ok.status == 200, 'answered: %s' % (ok and ok.first))
    check_eq(ok.get('P-Asserted-Identity'), ['<sip:%s@%s>' % (b1.number, S['B'].first)],
             "A's handset sees which handset of B answered")
    hang_up(a1, cseq, ok, b1)


@case
def two_sipp_handsets_answering_at_once_both_end_cleanly(ctx):
    """The same with sipp as the handsets and the caller: both handsets
    answer 300 ms after the INVITE with no provisional (so no CANCEL can
    reach them first, RFC 3261 9.1); each sipp handset needs its ACK and a
    BYE to pass, the caller sends one BYE: the other came from gatewayd."""
    gw, uas = S['A'], S['ua'][:2]
    with open(os.path.join(SCEN, 'uas_fork_answer.xml')) as f:
        text = re.sub(r'<send>\s*<!\[CDATA\[\s*SIP/2.0 180 Ringing.*?</send>', '',
                      f.read(), count=1, flags=re.S)
    check('180 Ringing' not in text, 'the handsets send no 180')
    path = os.path.join(tmpdir('dpn-gwcalls-'), 'uas_answer_no180.xml')
    with open(path, 'w') as f:
        f.write(text)
    phones = []
    for ua, h in zip(uas, S['hs_a']):
        port = free_udp_port()
        phones.append(Sipp(['-sf', path, '-i', ua.addr, '-p', str(port), '-m', '1',
                            '-timeout', '30', '-timeout_error']))
        r = ua.register(gw.sip_port, h['number'], h['sip_username'], h['sip_password'],
                        contact_port=port)
        check(r is not None and r.status == 200, 'contact moved to sipp: %s' % (r and r.first))
    caller = Sipp(['-sf', os.path.join(SCEN, 'uac_fork.xml'), '-i', '127.0.0.1',
                   '-p', str(free_udp_port()), '-m', '1', '-s', gw.flat,
                   '-timeout', '30', '-timeout_error', '%s:%d' % (gw.first, gw.sip_port)])
    for p in [caller] + phones:
        p.wait()
    check_eq(caller.rc, 0, 'the caller had its call: %s' % caller.errors)
    check_eq([p.rc for p in phones], [0, 0],
             'both handsets got ACK and BYE: %s' % [p.errors for p in phones])


def make_handsets(ctx, flat_id, gw, n, tag):
    hs = []
    for i in range(n):
        status, h = S['admin'].post('/api/v1/flats/%d/handsets' % flat_id,
                                    {'mac': '02:00:00:37:%02x:%02x' % (tag, i + 1)})
        check_eq(status, 201, 'handset made: %r' % h)
        hs.append(h)
    gw.wait_log(r'%d handsets? from mgmtd \(%d with an address\)' % (n, n))
    for h in hs:
        h['address'] = ctx.scalar("SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'"
                                  % h['mac'])
    return hs


def main():
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        _, flats = mgmtd.seed(cluster, cidr=POOL, flats=2)
        mgmtd.add_user(cluster, 'op')
        token = mgmtd.add_token(cluster, 'op')
        gws = []
        with mgmtd.Server(cluster) as srv, Gatekeeper(cluster, site=100) as gk:
            S['admin'] = srv.client().bearer(token)
            try:
                for n, (fid, name) in enumerate(zip(flats, 'AB')):
                    status, cred = S['admin'].put('/api/v1/flats/%d/gateway' % fid)
                    assert status == 201, cred
                    gw = Gatewayd(srv.url, '100-1101-%d' % (1201 + n), cred['secret'],
                                  '02:00:00:37:%02x:00' % n, POOL, gk.port)
                    gws.append(gw)
                    S[name] = gw
                    gw.wait_log(r'flat %s reachable via gatekeeper' % gw.flat)
                S['hs_a'] = make_handsets(cluster, flats[0], S['A'], 3, 0)
                S['hs_b'] = make_handsets(cluster, flats[1], S['B'], 1, 1)
                S['ua'] = [handset(S['A'], h) for h in S['hs_a'][:2]]
                S['ub'] = [handset(S['B'], h) for h in S['hs_b']]
                run(cluster)
            finally:
                for gw in gws:
                    gw.close()


if __name__ == '__main__':
    main()
