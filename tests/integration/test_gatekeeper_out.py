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
from dpn_test import case, check, check_eq, run_in_cluster, tmpdir, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Msg, Ua, call_record  # noqa: E402
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


def rows(ctx, *call_ids):
    return ctx.pg.scalar("SELECT count(*) FROM dpn.gk_topo_dialogs WHERE call_id "
                         "IN (%s)" % ', '.join("'%s'" % c.replace("'", "''")
                                               for c in call_ids))


def bye_gets_in(ctx, by, target, call_id, to_tag, gw, want_call_id):
    """`by` (outside) sends a BYE to target in dialog call_id: it reaches
    the gateway gw with want_call_id, and gw's 200 comes back out."""
    by.request(ctx.gk.port, 'BYE', target, 'sip:x@%s' % PUB, call_id=call_id,
               to_tag=to_tag)
    bye = gw.expect_request('BYE')
    while bye is not None and bye.one('Call-ID') != want_call_id:
        gw.answer(bye, 200, 'OK')       # a retransmission of an earlier one
        bye = gw.expect_request('BYE')
    check(bye is not None, 'BYE of %s reached the gateway: %r' % (call_id, by.final(0.2)))
    check_eq((bye.ruri, bye.one('Call-ID')), ('sip:gw@%s:%d' % (gw.addr, gw.port),
                                              want_call_id), 'the private dialog')
    gw.answer(bye, 200, 'OK')
    r = by.final()
    check_eq((r and r.status, r and r.one('Call-ID')), (200, call_id), '200 out')


@case
def hidden_dialogs_survive_a_restart(ctx):
    """An answered call from outside and an answered call out (public
    Call-ID), then the gatekeeper restarts: a BYE from outside in each
    still reaches the gateway (its Contact, its own Call-ID); the rows
    in dpn.gk_topo_dialogs go once the calls end."""
    gw = ctx.flat.ua()
    gw.peer_host = PRIV
    caller, peer = Ua(PUB), Ua(PEER, ctx.peer_port)
    contact = 'Contact: <sip:gw@%s:%d>\r\n' % (gw.addr, gw.port)
    # what an array literal of the batched write must quote: " \ { }
    cid_in = 'in-"{a}\\%s' % uuid.uuid4().hex
    cid_out = 'out-%s@%s' % (uuid.uuid4().hex, gw.addr)
    try:
        r = gw.register(ctx.pport, ctx.flat.number, ctx.flat.user, ctx.flat.secret)
        check(r is not None and r.status == 200, 'gateway registered')
        caller.request(ctx.gk.port, 'INVITE', 'sip:%s@%s:%d' % (
            ctx.flat.number, PUB, ctx.gk.port), 'sip:%s@%s' % (ctx.flat.number, PUB),
            call_id=cid_in)
        inv = gw.expect_request('INVITE')
        check(inv is not None, 'the call from outside reached the gateway')
        gw.answer(inv, 200, 'OK', contact)
        ok_in = caller.final()
        check_eq(ok_in and ok_in.status, 200, 'answered')
        gw.request(ctx.pport, 'INVITE', 'sip:%s@%s:%d' % (OTHER, PRIV, ctx.pport),
                   'sip:%s@dpn' % OTHER, contact, call_id=cid_out,
                   from_user=ctx.handset)
        inv_out = peer.expect_request('INVITE')
        check(inv_out is not None, 'the call out reached the peer')
        peer.answer(inv_out, 200, 'OK', 'Contact: <sip:p@%s:%d>\r\n' % (PEER, peer.port))
        check_eq((gw.final() or gw).status, 200, 'answered by the peer')
        wait_for(lambda: rows(ctx, cid_in, cid_out) == '2', timeout=5,
                 what='both dialogs in dpn.gk_topo_dialogs')
        ctx.gk.stop()
        ctx.gk.start()
        check('2 of 2 hidden dialogs restored' in ctx.gk.log(), 'restore logged')
        bye_gets_in(ctx, caller, ok_in.one('Contact').strip('<>'), cid_in,
                    ok_in.one('To').split('tag=')[1], gw, cid_in)
        bye_gets_in(ctx, peer, inv_out.one('Contact').strip('<>'),
                    inv_out.one('Call-ID'), inv_out.one('From').split('tag=')[1],
                    gw, cid_out)
        wait_for(lambda: rows(ctx, cid_in, cid_out) == '0', timeout=5,
                 what='the rows gone once the calls ended')
    finally:
        gw.close()
        caller.close()
        peer.close()


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
    run_in_cluster(Ctx)
