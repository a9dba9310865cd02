#!/usr/bin/env python3
"""test_gatekeeper_out — calls out of a complex through dpn-gatekeeper's
two sides, end to end, against a real PostgreSQL and mgmtd: sipp as a
flat's gateway on the private side (the gatekeeper's private address
127.0.0.2, the gateway on its flat's first address in 127.16/16) calls a
number of another complex through an outbound route (made through
mgmtd's API) to sipp as the route's peer on the public side (127.0.2.5),
with topology hiding on. The peer sees the calling handset's full number
asserted and no private address in anything it receives (Via,
Record-Route, Contact, Call-ID, From, To); the call is hung up by the
peer (its BYE names the public Call-ID and reaches the gateway with the
private one) or by the gateway, cancelled by the gateway, or refused by
the peer (486); each leaves its call record (read through mgmtd)."""
import os
import re
import shutil
import socket
import sys
import threading
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Msg, call_record  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from sip import Sipp, free_udp_port, message_log  # noqa: E402

PUB, PRIV = '127.0.0.1', '127.0.0.2'
PRIVATE = (PRIV, '127.16.')     # what the peer must never see
PEER = '127.0.2.5'
TCP_PEER = '127.0.2.6'
OTHER = '400-1101-0101'         # a flat of complex 400, behind the route


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        self.site = self.env.site['id']
        b = self.env.building(1101, floors=1, units_per_floor=1)
        self.flat = Flat(self.env, pg, self.env.flats(b['id'])[101], 0x50)
        self.handset = self.flat.number + '-2'
        self.peer_port = free_udp_port()
        st, g = self.env.c.post('/api/v1/sites/%d/peer-groups' % self.site,
                                {'name': 'complex-400'})
        check_eq(st, 201, 'peer group')
        st, _ = self.env.c.post('/api/v1/peer-groups/%d/peers' % g['id'],
                                {'address': PEER, 'port': self.peer_port})
        check_eq(st, 201, 'peer')
        st, _ = self.env.c.post('/api/v1/sites/%d/routes' % self.site,
                                {'prefix': '400', 'group_id': g['id']})
        check_eq(st, 201, 'route')
        self.pport = free_udp_port()
        # no probing: sipp as the peer would take an OPTIONS for a stray
        # request; the loopback sources are exempt from the flood limit
        self.gk = Gatekeeper(pg, trusted='127.0.0.0/8', args=[
            '--listen-private', '%s:%d' % (PRIV, self.pport),
            '--probe-interval', '0'])
        self.tmp = tmpdir('dpn-gkout-')

    def register(self):
        """The flat's gateway registered on the private side; the port it
        registered from (where sipp, as the gateway, then listens)."""
        ua = self.flat.ua()
        ua.peer_host = PRIV
        try:
            r = ua.register(self.pport, self.flat.number, self.flat.user,
                            self.flat.secret)
            check(r is not None and r.status == 200, 'gateway registered')
            return ua.port
        finally:
            ua.close()

    def record(self, prefix):
        """The call record whose (private) Call-ID starts with prefix."""
        return call_record(self.env.c, 'flats/%d' % self.flat.id,
                           lambda c: c['call_id'].startswith(prefix))

    def close(self):
        try:
            self.gk.close()
        finally:
            self.env.srv.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


def received(log):
    """The messages sipp's -trace_msg log says it received, as Msgs."""
    out = []
    for part in re.split(r'\n-{20,}[^\n]*\n', log):
        head, _, msg = part.partition('\n\n')
        if 'message received' in head and msg.strip():
            out.append(Msg(msg.strip('\n').replace('\n', '\r\n').encode() + b'\r\n\r\n'))
    return out


def out_call(ctx, uac, uas, tag):
    """The gateway (sipp scenario uac, Call-ID tag-N-PID@its address)
    calls OTHER out; the peer plays uas. Returns (what the peer
    received, the peer's whole log, the Call-ID prefix)."""
    port = ctx.register()
    log = os.path.join(ctx.tmp, uuid.uuid4().hex + '.log')
    peer = Sipp(Sipp._scenario(uas) + ['-i', PEER, '-p', str(ctx.peer_port), '-m', '1',
                                       '-timeout', '30', '-trace_msg',
                                       '-message_file', log])
    try:
        gw = Sipp(Sipp._scenario(uac) + [
            '-i', ctx.flat.addr, '-p', str(port), '-m', '1', '-l', '1',
            '-timeout', '30', '-timeout_error', '-s', OTHER,
            '-key', 'caller', ctx.handset, '-cid_str', tag + '-%u-%p@%s',
            '%s:%d' % (PRIV, ctx.pport)]).wait()
        peer.wait()
    finally:
        peer.kill()
    text = message_log(log)             # $SIPP_DUMP keeps it, to read
    check_eq(gw.count('Successful call'), 1, 'the gateway saw its scenario through\n'
             + gw.out[-1500:] + gw.errors[-2500:])
    check_eq(peer.rc, 0, 'the peer saw its scenario through\n' + peer.out[-1500:]
             + peer.errors[-2500:])
    msgs = received(text)
    check(msgs, 'the peer logged what it received')
    for p in PRIVATE:
        at = text.find(p)
        check(at < 0, 'private address %s seen by the peer:\n%s'
              % (p, text[max(0, at - 800):at + 200]))
    return msgs, text, '%s-1-' % tag


def check_invite(ctx, msgs):
    """The INVITE the peer got: the handset's full number asserted, the
    Call-ID ours, one Via, our Record-Route and Contact."""
    inv = [m for m in msgs if m.method == 'INVITE'][0]
    check_eq(inv.get('P-Asserted-Identity'), ['<sip:%s@%s>' % (ctx.handset, PUB)],
             'the full asserted caller number')
    check(inv.one('From').startswith('"%s" <sip:%s@%s' % (ctx.handset, ctx.handset, PUB)),
          'From: ' + inv.one('From'))
    check(re.match(r'gk-[0-9a-f]{16}@%s$' % re.escape(PUB), inv.one('Call-ID')),
          'public Call-ID: ' + inv.one('Call-ID'))
    check_eq(len(inv.get('Via')), 1, 'our Via alone')
    check_eq(inv.get('Record-Route'), ['<sip:%s:%d;lr>' % (PUB, ctx.gk.port)],
             'our public Record-Route alone')
    check(inv.one('Contact').startswith('<sip:gk-'), 'Contact: ' + inv.one('Contact'))
    return inv


def check_record(ctx, prefix, want):
    rec = ctx.record(prefix)
    got = {k: rec[k] for k in want}
    check_eq(got, want, 'call record %r' % rec)
    check(rec['call_id'].endswith('@' + ctx.flat.addr),
          'recorded by the Call-ID the gateway chose: ' + rec['call_id'])
    check(rec['started_at'] <= rec['ended_at'], 'start <= end')
    if rec['answered_at']:
        check(rec['started_at'] <= rec['answered_at'] <= rec['ended_at'],
              'start <= answer <= end')
    return rec


@case
def peer_hangs_up_a_call_out_through_both_sides(ctx):
    msgs, text, cid = out_call(ctx, 'uac_out_bye_in', 'uas_topo_bye_out', 'outpeerbye')
    inv = check_invite(ctx, msgs)
    check('BYE sip:gk-' in text, "the peer's BYE went to our hidden Contact")
    check_eq([m.one('Call-ID') for m in msgs if m.status == 200 and
              'BYE' in m.one('CSeq')], [inv.one('Call-ID')],
             "the 200 for the peer's BYE names the public Call-ID")
    rec = check_record(ctx, cid, {
        'direction': 'out', 'caller': ctx.handset, 'callee': OTHER,
        'caller_flat_id': ctx.flat.id, 'callee_flat_id': None,
        'ended_by': 'callee', 'status': 200})
    check(rec['answered_at'], 'answered')


@case
def gateway_hangs_up_a_call_out_through_both_sides(ctx):
    msgs, text, cid = out_call(ctx, 'uac_out', 'uas_peer', 'outgwbye')
    inv = check_invite(ctx, msgs)
    byes = [m for m in msgs if m.method == 'BYE']
    check_eq([b.one('Call-ID') for b in byes], [inv.one('Call-ID')],
             "the gateway's BYE names the public Call-ID")
    check_record(ctx, cid, {
        'direction': 'out', 'caller': ctx.handset, 'callee': OTHER,
        'caller_flat_id': ctx.flat.id, 'ended_by': 'caller', 'status': 200})


def unanswered(ctx, uac, uas, tag, seen, ended_by, status):
    """A call out that ends before an answer: the peer saw `seen` (the
    gateway's CANCEL, the ACK of its own refusal) and the record says
    who ended it with which status."""
    msgs, _, cid = out_call(ctx, uac, uas, tag)
    check([m for m in msgs if m.method == seen], seen + ' reached the peer')
    rec = check_record(ctx, cid, {
        'direction': 'out', 'callee': OTHER, 'caller_flat_id': ctx.flat.id,
        'ended_by': ended_by, 'status': status})
    check_eq(rec['answered_at'], None, 'not answered')


@case
def gateway_cancels_a_call_out(ctx):
    unanswered(ctx, 'uac_cancel', 'uas_cancel', 'outcancel', 'CANCEL', 'caller', 487)


@case
def peer_refuses_a_call_out_486(ctx):
    unanswered(ctx, 'uac_486', 'uas_486', 'outbusy', 'ACK', 'callee', 486)


def peer_state(ctx, group):
    st, g = ctx.env.c.get('/api/v1/peer-groups/%d' % group)
    check_eq(st, 200, 'peer group')
    return g['peers'][0]['state']


def tcp_uas(port):
    """sipp's built-in uas on TCP at TCP_PEER:port, answering OPTIONS
    (-aa), bounded in time."""
    return Sipp(['-sn', 'uas', '-t', 't1', '-aa', '-i', TCP_PEER, '-p', str(port),
                 '-timeout', '60'])


@case
def tcp_peer_probed_down_when_stopped_and_up_again(ctx):
    """A route's peer on TCP (sipp -t t1) is probed with OPTIONS on a
    connection of the gatekeeper's own: up while it answers, down when
    it is stopped (new calls to its route get 503), up when it is back,
    down again when what answers on its port sends only garbage."""
    port = free_udp_port()
    st, g = ctx.env.c.post('/api/v1/sites/%d/peer-groups' % ctx.site,
                           {'name': 'complex-500'})
    check_eq(st, 201, 'peer group')
    st, _ = ctx.env.c.post('/api/v1/peer-groups/%d/peers' % g['id'], {
        'address': TCP_PEER, 'port': port, 'transport': 'tcp'})
    check_eq(st, 201, 'TCP peer')
    st, _ = ctx.env.c.post('/api/v1/sites/%d/routes' % ctx.site,
                           {'prefix': '500', 'group_id': g['id']})
    check_eq(st, 201, 'route 500')
    gk = Gatekeeper(ctx.pg, transport='both', trusted='127.0.0.0/8', args=[
        '--probe-interval', '250ms', '--probe-down', '2', '--probe-up', '1'])
    gw, uas = ctx.flat.ua(), tcp_uas(port)
    try:
        r = gw.register(gk.port, ctx.flat.number, ctx.flat.user, ctx.flat.secret)
        check(r is not None and r.status == 200, 'gateway registered')
        wait_for(lambda: peer_state(ctx, g['id']) == 'up', timeout=5, what='up')
        answered = gk.metrics()['dpn_gk_probes_answered_total']
        check(answered >= 1, 'answers counted')
        uas.kill()
        wait_for(lambda: peer_state(ctx, g['id']) == 'down', timeout=5,
                 what='down once stopped')
        check_eq(gk.metrics().get('dpn_gk_probes_answered_total'), answered,
                 'no answer counted while stopped')
        r = gw.call(gk.port, '500-1101-0101')
        check_eq((r and r.status, r and r.first), (503, 'SIP/2.0 503 No peer available'),
                 'a new call to the route of a peer that is down')
        uas = tcp_uas(port)
        wait_for(lambda: peer_state(ctx, g['id']) == 'up', timeout=5,
                 what='up again once started')
        check(gk.metrics().get('dpn_gk_peer_up_total', 0) >= 1, 'back up counted')
        uas.kill()
        with socket.socket() as s:  # accepts, reads, answers only garbage
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((TCP_PEER, port))
            s.listen(16)
            stop = threading.Event()
            t = threading.Thread(target=garbage_peer, args=(s, stop), daemon=True)
            t.start()
            try:
                wait_for(lambda: peer_state(ctx, g['id']) == 'down', timeout=5,
                         what='down while only garbage comes back')
            finally:
                stop.set()
                t.join()
        check(gk.p.poll() is None, 'the gatekeeper is alive')
    finally:
        uas.kill()
        gw.close()
        gk.close()


def garbage_peer(s, stop):
    """Accept the probes' connections; answer each with a CRLF keep-alive
    and 5 KB of garbage (never a SIP response)."""
    s.settimeout(0.05)
    conns = []
    while not stop.is_set():
        try:
            c, _ = s.accept()
            c.sendall(b'\r\n\r\n' + b'x' * 5000)
            conns.append(c)
        except (socket.timeout, OSError):
            pass
    for c in conns:
        c.close()


if __name__ == '__main__':
    with Cluster() as pg:
        ctx = Ctx(pg)
        try:
            run(ctx)
        finally:
            ctx.close()
