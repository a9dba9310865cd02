#!/usr/bin/env python3
"""scripts/demo-handsets.py — the simulated handsets of one demo flat: each
registers with the flat's dpn-gatewayd with digest from its own address,
rings on an INVITE (180), answers after its delay (200 with SDP), sends and
counts 20 ms RTP until the BYE, and stops ringing on a CANCEL (487). What
happens is written as JSON lines to EVENTS, where scripts/demo-call.py reads
who rang, who answered and the RTP counts.

  demo-handsets.py GW_ADDR:PORT EVENTS HANDSETS_FILE

HANDSETS_FILE (mode 0600): one handset a line, `NUMBER USER PASSWORD ADDRESS
ANSWER_AFTER_SECONDS`. Runs until SIGTERM (scripts/demo stop). Bounded: one
call a handset at a time (486 for another), RTP for at most 120 s a call, a
call forgotten 32 s after it ended or when its 200 is never ACKed; SIP from
anywhere but the gateway's address, or that we cannot read, is dropped."""
import json
import os
import select
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_sip as sip  # noqa: E402

EXPIRES = 120
RTP_MAX = 120.0


class Handset:
    def __init__(self, gw, events, number, user, password, addr, delay):
        self.gw, self.events = gw, events
        self.number, self.user, self.password, self.addr = number, user, password, addr
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.port = self.sock.getsockname()[1]
        self.reg_cid = sip.token() + '@' + addr
        self.reg_cseq = 0
        self.reg_at = 0.0          # when to send the next REGISTER
        self.registered = False
        self.reg_authed = False
        self.dropped = 0
        self.call = None

    def log(self, event, **kw):
        kw.update(t=round(time.time(), 3), handset=self.number, event=event)
        self.events.write(json.dumps(kw) + '\n')
        self.events.flush()

    def send(self, data, dest):
        try:
            self.sock.sendto(data, dest)
        except OSError as e:
            self.log('send-error', error=str(e))

    # --- registration with the flat's gatewayd ---
    def register(self, auth=None):
        self.reg_cseq += 1
        ruri = 'sip:%s:%d' % self.gw
        msg = ('REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
               'From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n'
               'CSeq: %d REGISTER\r\nContact: <sip:%s@%s:%d>\r\nExpires: %d\r\n'
               'Max-Forwards: 70\r\nUser-Agent: dpn-demo-handset\r\n%sContent-Length: 0\r\n\r\n'
               % (ruri, self.addr, self.port, sip.token(), self.number, self.gw[0],
                  self.reg_cid[:8], self.number, self.gw[0], self.reg_cid, self.reg_cseq,
                  self.number, self.addr, self.port, EXPIRES,
                  ('Authorization: %s\r\n' % auth) if auth else ''))
        self.reg_authed = auth is not None
        self.send(msg.encode(), self.gw)
        self.reg_at = time.monotonic() + 5      # retry when unanswered

    def on_register_answer(self, m):
        if m.status == 401 and m.cseq_method() == 'REGISTER':
            for ch in m.all('WWW-Authenticate'):
                auth = sip.digest_md5(ch, self.user, self.password, 'REGISTER',
                                      'sip:%s:%d' % self.gw)
                if auth and not self.reg_authed:
                    self.register(auth)
                    return
        if 200 <= m.status < 300:
            if not self.registered:
                self.log('registered', contact='%s:%d' % (self.addr, self.port))
            self.registered = True
            self.reg_at = time.monotonic() + EXPIRES / 2
        elif m.status >= 300:
            self.log('register-failed', status=m.first)
            self.registered = False
            self.reg_at = time.monotonic() + 2

    # --- calls ---
    def on_request(self, m, src):
        c = self.call
        same = c is not None and c['cid'] == m.get('Call-ID')
        if m.method == 'OPTIONS':
            self.send(sip.response(m, 200, 'OK'), src)
        elif m.method == 'INVITE':
            self.on_invite(m, src, c, same)
        elif m.method == 'CANCEL':
            self.on_cancel(m, src, c, same)
        elif m.method == 'ACK':
            if same and c['state'] == 'answered':
                c['state'] = 'talking'
                c['rtp_until'] = time.monotonic() + RTP_MAX
                c['rtp_next'] = time.monotonic()
        elif m.method == 'BYE':
            self.on_bye(m, src, c, same)
        else:
            self.send(sip.response(m, 501, 'Not Implemented'), src)

    def on_invite(self, m, src, c, same):
        if same:                                   # a retransmission
            self.send(c['last'], c['src'])
            return
        if c is not None and c['state'] != 'ended':
            self.send(sip.response(m, 486, 'Busy Here', to_tag=sip.token()), src)
            return
        c = self.call = {'cid': m.get('Call-ID'), 'inv': m, 'src': src, 'tag': sip.token(),
                         'state': 'ringing', 'answer_at': time.monotonic() + self.delay,
                         'rtp': sip.Rtp(self.addr), 'forget_at': None}
        c['rtp'].peer = sip.sdp_media(m.body)
        c['last'] = sip.response(m, 180, 'Ringing', to_tag=c['tag'])
        self.send(c['last'], src)
        self.log('ringing', call_id=c['cid'], caller_from=m.get('From'),
                 caller_pai=m.get('P-Asserted-Identity'),
                 rtp_to='%s:%d' % c['rtp'].peer if c['rtp'].peer else None,
                 rtp_from='%s:%d' % (self.addr, c['rtp'].port))

    def on_cancel(self, m, src, c, same):
        if not same or c['state'] != 'ringing':
            self.send(sip.response(m, 481 if not same else 200, 'OK' if same else
                                   'Call/Transaction Does Not Exist'), src)
            return
        self.send(sip.response(m, 200, 'OK'), src)
        self.send(sip.response(c['inv'], 487, 'Request Terminated', to_tag=c['tag']), c['src'])
        self.end(c, 'cancelled', reason=m.get('Reason'))

    def on_bye(self, m, src, c, same):
        if not same:
            self.send(sip.response(m, 481, 'Call/Transaction Does Not Exist'), src)
            return
        self.send(sip.response(m, 200, 'OK'), src)
        if c['state'] != 'ended':
            self.end(c, 'hung-up', reason=m.get('Reason'))

    def answer(self, c):
        body = sip.sdp(self.addr, c['rtp'].port)
        c['last'] = sip.response(c['inv'], 200, 'OK', to_tag=c['tag'], body=body,
                                 contact='<sip:%s@%s:%d>' % (self.number, self.addr, self.port))
        c['state'] = 'answered'
        c['resend'], c['resend_at'] = 0.5, time.monotonic() + 0.5
        c['give_up'] = time.monotonic() + 32
        self.send(c['last'], c['src'])
        self.log('answered', call_id=c['cid'])

    def end(self, c, event, **kw):
        c['rtp'].drain()
        kw.update(call_id=c['cid'], rtp_sent=c['rtp'].sent, rtp_received=c['rtp'].received)
        self.log(event, **kw)
        c['rtp'].close()
        c['state'], c['forget_at'] = 'ended', time.monotonic() + 32

    def tick(self, now):
        """Run what is due; the seconds until the next thing is."""
        if now >= self.reg_at:
            self.register()
        nxt = [self.reg_at - now]
        c = self.call
        if c is None:
            return max(0.0, min(nxt))
        if c['state'] == 'ringing':
            if now >= c['answer_at']:
                self.answer(c)
            else:
                nxt.append(c['answer_at'] - now)
        if c['state'] == 'answered':
            if now >= c['give_up']:
                self.end(c, 'no-ack')
            elif now >= c['resend_at']:
                self.send(c['last'], c['src'])
                c['resend'] = min(c['resend'] * 2, 4)
                c['resend_at'] = now + c['resend']
            nxt.append(0.1)
        if c['state'] == 'talking':
            c['rtp'].drain()
            if now < c['rtp_until']:
                while now >= c['rtp_next']:
                    c['rtp'].send()
                    c['rtp_next'] += 0.02
                nxt.append(c['rtp_next'] - now)
        if c['state'] == 'ended' and now >= c['forget_at']:
            self.call = None
        return max(0.0, min(nxt))

    def fds(self):
        c = self.call
        if c is not None and c['state'] == 'talking':
            return [self.sock, c['rtp'].sock]
        return [self.sock]

    def readable(self):
        try:
            data, src = self.sock.recvfrom(65535)
        except OSError:
            return
        if src[0] != self.gw[0]:
            self.dropped += 1         # a handset behind the flat's gateway hears only it
            if self.dropped in (1, 10, 100, 1000):
                self.log('dropped', source='%s:%d' % src, count=self.dropped)
            return
        m = sip.parse(data)
        if m is None:
            return
        if m.is_response:
            if m.cseq_method() == 'REGISTER' and m.get('Call-ID') == self.reg_cid:
                self.on_register_answer(m)
        else:
            self.on_request(m, src)


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5:
                out.append((parts[0], parts[1], parts[2], parts[3], float(parts[4])))
    return out


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    host, _, port = argv[1].rpartition(':')
    gw = (host, int(port))
    events = open(argv[2], 'a')
    phones = [Handset(gw, events, *h) for h in load(argv[3])]
    if not phones:
        sys.exit('demo-handsets: no handsets in %s' % argv[3])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        now = time.monotonic()
        wait = min(p.tick(now) for p in phones)
        socks = {}
        for p in phones:
            for s in p.fds():
                socks[s] = p
        try:
            ready, _, _ = select.select(list(socks), [], [], min(wait, 1.0))
        except InterruptedError:
            continue
        for s in ready:
            if s is socks[s].sock:
                try:
                    socks[s].readable()
                except (ValueError, KeyError, IndexError, TypeError) as e:  # a message we cannot use
                    socks[s].log('bad-message', error=repr(e))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
