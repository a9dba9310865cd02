#!/usr/bin/env python3
"""scripts/demo-call.py — one call from "outside" to the demo complex: an
INVITE with an audio offer to dpn-gatekeeper, then, when it is answered,
SECONDS of 20 ms RTP both ways, a BYE, and a report of what happened: which
handsets rang, who answered (the P-Asserted-Identity of the 200), the caller
ID the answering handset saw, the RTP packets each way, and who stopped
ringing with which Reason. The handsets' side is read from the events the
simulated handsets write (scripts/demo-handsets.py) in EVENTS_DIR.

  demo-call.py GK_ADDR:PORT NUMBER EVENTS_DIR [SECONDS]

Exit 0 when the call was answered, carried audio both ways and ended with a
200 to the BYE; 1 otherwise (the reason is printed). Bounded: 32 s for an
answer, SECONDS (at most 30) of audio, 8 s for the BYE's answer."""
import glob
import json
import os
import select
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_sip as sip  # noqa: E402

CALLER = 'outside'


class Caller:
    def __init__(self, gk, number):
        self.gk, self.number = gk, number
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.addr = self.sock.getsockname()
        self.rtp = sip.Rtp('127.0.0.1')
        self.cid = sip.token() + '@dpn-demo-caller'
        self.tag = sip.token()
        self.branch = 'z9hG4bK' + sip.token()

    def head(self, method, ruri, cseq, branch, to, extra=''):
        return ('%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n'
                'From: "Demo caller" <sip:%s@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n'
                'CSeq: %d %s\r\nMax-Forwards: 70\r\n%s'
                % (method, ruri, self.addr[0], self.addr[1], branch, CALLER, self.addr[0],
                   self.tag, to, self.cid, cseq, method, extra))

    def invite(self):
        body = sip.sdp('127.0.0.1', self.rtp.port)
        self.inv_to = '<sip:%s@%s>' % (self.number, self.gk[0])
        msg = self.head('INVITE', 'sip:%s@%s:%d' % (self.number, self.gk[0], self.gk[1]), 1,
                        self.branch, self.inv_to,
                        'Contact: <sip:%s@%s:%d>\r\nContent-Type: application/sdp\r\n'
                        % (CALLER, self.addr[0], self.addr[1]))
        return (msg + 'Content-Length: %d\r\n\r\n%s' % (len(body), body)).encode()

    def recv(self, until):
        """The next SIP response before the monotonic time UNTIL, or None;
        RTP that arrives meanwhile is counted."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock, self.rtp.sock], [], [], left)
            if self.rtp.sock in ready:
                self.rtp.drain()
            if self.sock in ready:
                m = sip.parse(self.sock.recv(65535))
                if m is not None and m.is_response and m.get('Call-ID') == self.cid:
                    return m

    def dialog(self, ok):
        """Remember the route set and remote target of the 2xx OK."""
        self.to = ok.get('To')
        rr = [r for v in ok.all('Record-Route') for r in v.split(',')]
        self.routes = list(reversed([r.strip() for r in rr]))
        contact = ok.get('Contact')
        self.target = contact[contact.find('<') + 1:contact.find('>')] if '<' in contact \
            else contact.split(';')[0]
        hop = sip.uri_hostport(self.routes[0]) if self.routes else sip.uri_hostport(self.target)
        self.next_hop = hop or self.gk

    def in_dialog(self, method, cseq, branch=None):
        route = ''.join('Route: %s\r\n' % r for r in self.routes)
        return (self.head(method, self.target, cseq, branch or 'z9hG4bK' + sip.token(),
                          self.to, route) + 'Content-Length: 0\r\n\r\n').encode()

    def ack_failure(self, resp):
        msg = self.head('ACK', 'sip:%s@%s:%d' % (self.number, self.gk[0], self.gk[1]), 1,
                        self.branch, resp.get('To')) + 'Content-Length: 0\r\n\r\n'
        self.sock.sendto(msg.encode(), self.gk)


def offsets(events_dir):
    return {p: os.path.getsize(p) for p in glob.glob(os.path.join(events_dir, '*.events'))}


def events_since(events_dir, start):
    out = []
    for p in glob.glob(os.path.join(events_dir, '*.events')):
        with open(p) as f:
            f.seek(start.get(p, 0))
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return sorted(out, key=lambda e: e.get('t', 0))


def wait_for_handsets(events_dir, start, within):
    """The handsets' events of this call, once every handset that rang has
    ended its part (or WITHIN seconds passed)."""
    until = time.monotonic() + within
    while True:
        ev = events_since(events_dir, start)
        rang = {e['handset'] for e in ev if e['event'] == 'ringing'}
        done = {e['handset'] for e in ev if e['event'] in ('cancelled', 'hung-up', 'no-ack')}
        if rang <= done or time.monotonic() >= until:
            return ev
        time.sleep(0.05)


def ring(c, say):
    """Send the INVITE and wait for its final answer; the answer or None."""
    inv = c.invite()
    c.sock.sendto(inv, c.gk)
    t0 = time.monotonic()
    until, resend, heard, rang = t0 + 32, 0.5, False, set()
    while True:
        m = c.recv(min(until, time.monotonic() + resend) if not heard else until)
        if m is None:
            if time.monotonic() >= until:
                return None
            c.sock.sendto(inv, c.gk)
            resend = min(resend * 2, 4)
            continue
        if m.cseq_method() != 'INVITE':
            continue
        heard = True
        if m.status >= 200:
            say('%s after %.1f s' % (m.first[8:], time.monotonic() - t0))
            return m
        if m.status > 100 and (m.status, sip.tag(m.get('To'))) not in rang:
            rang.add((m.status, sip.tag(m.get('To'))))
            say('%s after %.1f s%s' % (m.first[8:], time.monotonic() - t0,
                                       ' (%d branches)' % len(rang) if len(rang) > 1 else ''))


def talk(c, seconds, say):
    """RTP both ways for SECONDS; ACKs a retransmitted 2xx meanwhile."""
    until = time.monotonic() + seconds
    c.rtp.peer = c.rtp_peer if c.rtp_peer[1] else None
    nxt = time.monotonic()
    while time.monotonic() < until:
        m = c.recv(min(nxt, until))
        if m is not None and m.status >= 200 and m.cseq_method() == 'INVITE':
            c.sock.sendto(c.ack, c.next_hop)
        while time.monotonic() >= nxt:
            c.rtp.send()
            nxt += 0.02


def hang_up(c):
    """BYE, retransmitted until a final answer (8 s at most); its status line."""
    bye = c.in_dialog('BYE', 2)
    until, resend = time.monotonic() + 8, 0.5
    c.sock.sendto(bye, c.next_hop)
    while True:
        m = c.recv(min(until, time.monotonic() + resend))
        if m is not None and m.cseq_method() == 'BYE' and m.status >= 200:
            return m.first
        if m is not None and m.cseq_method() == 'INVITE' and m.status >= 200:
            c.sock.sendto(c.ack, c.next_hop)
            continue
        if time.monotonic() >= until:
            return 'no answer to the BYE within 8 s'
        if m is None:
            c.sock.sendto(bye, c.next_hop)
            resend = min(resend * 2, 4)


def report_handsets(ev, say):
    """Print the handsets' side; the answering handset's events, or None."""
    rang = [e for e in ev if e['event'] == 'ringing']
    say('rang: %s' % (', '.join(e['handset'] for e in rang) or 'no demo handset'))
    answered = None
    for e in ev:
        if e['event'] == 'answered' and answered is None:
            answered = e['handset']
        elif e['event'] == 'cancelled':
            say('handset %s stopped ringing: CANCEL, Reason %s'
                % (e['handset'], e.get('reason') or '(none)'))
    if answered is None:
        return None
    seen = next(e for e in rang if e['handset'] == answered)
    end = next((e for e in ev if e['handset'] == answered and e['event'] in ('hung-up', 'no-ack')),
               None)
    return {'handset': answered, 'ringing': seen, 'end': end}


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(__doc__)
    host, _, port = argv[1].rpartition(':')
    number, events_dir = argv[2], argv[3]
    seconds = min(30.0, max(0.2, float(argv[4]))) if len(argv) == 5 else 3.0
    say = lambda s: print('  ' + s, flush=True)
    c = Caller((host, int(port)), number)
    start = offsets(events_dir)
    print('calling %s at dpn-gatekeeper %s:%s from sip:%s@%s:%d'
          % (number, host, port, CALLER, c.addr[0], c.addr[1]), flush=True)
    final = ring(c, say)
    if final is None or final.status >= 300:
        if final is not None:
            c.ack_failure(final)
        ev = wait_for_handsets(events_dir, start, 2)
        if ev:
            report_handsets(ev, say)
        why = {403: 'refused', 404: 'no such number here', 480: 'nobody registered to take it',
               486: 'busy', 408: 'nobody answered in time'}.get(final.status if final else 0)
        say('the call failed: %s%s' % (final.first if final else 'no final answer within 32 s',
                                       ' (%s)' % why if why else ''))
        return 1
    c.dialog(final)
    c.rtp_peer = sip.sdp_media(final.body)
    c.ack = c.in_dialog('ACK', 1)
    c.sock.sendto(c.ack, c.next_hop)
    say('answered as %s' % (final.get('P-Asserted-Identity') or
                            'nobody asserted (no P-Asserted-Identity)'))
    if c.rtp_peer is None:
        say('the 200 OK carries no audio SDP: no RTP sent')
        c.rtp_peer = ('0.0.0.0', 0)
    talk(c, seconds, say)
    bye = hang_up(c)
    c.rtp.drain()
    ev = wait_for_handsets(events_dir, start, 3)
    who = report_handsets(ev, say)
    ok = bye.startswith('SIP/2.0 200')
    if who is None:
        say('no demo handset says it answered')
        ok = False
    else:
        r = who['ringing']
        say('answered by handset %s' % who['handset'])
        say('caller ID the handset saw: %s' % (r.get('caller_pai') and
                                               'P-Asserted-Identity ' + r['caller_pai'] or
                                               'From ' + r.get('caller_from', '?')))
        end = who['end'] or {}
        say('RTP, %g s of 20 ms packets: caller -> handset %d sent, %s received; '
            'handset -> caller %s sent, %d received'
            % (seconds, c.rtp.sent, end.get('rtp_received', '?'), end.get('rtp_sent', '?'),
               c.rtp.received))
        say('RTP path: caller %s:%d -> %s:%d (the answer\'s SDP); handset %s -> %s '
            '(the offer it got)' % (c.addr[0], c.rtp.port, c.rtp_peer[0], c.rtp_peer[1],
                                     r.get('rtp_from'), r.get('rtp_to')))
        if not c.rtp.received or not end.get('rtp_received'):
            say('no audio one way')
            ok = False
    say('the caller hung up: BYE answered %s' % bye[8:] if bye.startswith('SIP/2.0')
        else 'the caller hung up: ' + bye)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
