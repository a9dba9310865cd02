"""tests/lib/dialog.py — one end of a SIP dialog through the gatekeeper on
a gatekeeper.Ua, for media tests and benchmarks: requests with an SDP body,
answers, tags, CSeq, route set and remote target kept; an SDP offer of one
audio stream and its c=/m= read back; a SIP-I style multipart body around
an SDP (sent with `ctype=MP`).

    caller = Leg(Ua('127.0.0.1'), gk_port, 'caller')
    caller.invite(number, sdp(addr, port)); ok = caller.response(200)
    caller.learn(ok); caller.in_dialog('ACK'); caller.in_dialog('BYE')
"""
import re
import uuid

from dpn_test import check


def sdp(addr, port):
    return ('v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n'
            'm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' % (addr, addr, port))


MP = 'multipart/mixed;boundary=dpn-b1'
ISUP = ('Content-Type: application/ISUP;version=itu-t92+\r\n'
        'Content-Disposition: signal;handling=required\r\n\r\n'
        '\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21')


def multipart(sdp_body, sdp_type='application/sdp'):
    """A SIP-I style body (Content-Type MP): the SDP part, then a binary
    ISUP part."""
    return ('--dpn-b1\r\nContent-Type: %s\r\n\r\n%s\r\n--dpn-b1\r\n%s'
            '\r\n--dpn-b1--\r\n' % (sdp_type, sdp_body, ISUP))


def media_of(body):
    """(c= address, m=audio port) of an SDP body."""
    c = re.search(r'^c=IN IP4 (\S+)', body, re.M)
    m = re.search(r'^m=audio (\d+)', body, re.M)
    check(c and m, 'SDP with c= and m=audio: %r' % body)
    return c.group(1), int(m.group(1))


def route_values(headers):
    """The values of Record-Route header lines, one per entry (a line may
    hold several, comma-separated: a proxy's double Record-Route)."""
    return [v.strip() for h in headers for v in re.findall(r'<[^>]*>[^,]*', h)]


class Leg:
    """One end of a dialog through the gatekeeper, on a Ua: sends requests
    with an SDP body, answers them, keeps tags, CSeq, route set, target."""

    def __init__(self, ua, gk_port, user):
        self.ua, self.gk, self.user = ua, gk_port, user
        self.tag = uuid.uuid4().hex[:8]
        self.cseq = 0
        self.route = []
        self.target = None
        self.remote = None      # the other end's From/To value with tag
        self.call_id = None

    def host(self):
        """Where the gatekeeper is for this end (Ua.peer_host: a gateway
        on the private side)."""
        return getattr(self.ua, 'peer_host', '127.0.0.1')

    def contact(self):
        return '<sip:%s@%s:%d>' % (self.user, self.ua.addr, self.ua.port)

    def send(self, method, ruri, body='', to=None, cseq=None, extra='',
             branch=None, ctype='application/sdp'):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        if branch is None:
            self.branch = branch = uuid.uuid4().hex[:10]
        route = ''.join('Route: %s\r\n' % r for r in self.route)
        ctype = 'Content-Type: %s\r\n' % ctype if body else ''
        msg = ('%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
               'Max-Forwards: 70\r\n%sFrom: <sip:%s@%s>;tag=%s\r\nTo: %s\r\n'
               'Call-ID: %s\r\nCSeq: %d %s\r\nContact: %s\r\n%s%s'
               'Content-Length: %d\r\n\r\n%s'
               % (method, ruri, self.ua.addr, self.ua.port, branch,
                  route, self.user, self.ua.addr, self.tag, to or self.remote,
                  self.call_id, cseq, method, self.contact(), extra, ctype,
                  len(body.encode()), body))
        self.ua.s.sendto(msg.encode(), (self.host(), self.gk))

    def invite(self, number, body, call_id=None, ctype='application/sdp',
               extra=''):
        self.call_id = call_id or uuid.uuid4().hex
        ruri = 'sip:%s@%s:%d' % (number, self.host(), self.gk)
        self.send('INVITE', ruri, body, to='<%s>' % ruri, ctype=ctype,
                  extra=extra)

    def in_dialog(self, method, body='', extra=''):
        self.send(method, self.target, body,
                  cseq=self.cseq if method == 'ACK' else None, extra=extra)

    def learn(self, resp):
        """From a 2xx to our INVITE: the callee's tag, target, route set."""
        self.remote = resp.one('To')
        self.target = re.search(r'<([^>]+)>', resp.one('Contact')).group(1)
        self.route = list(reversed(route_values(resp.get('Record-Route'))))

    def accept(self, req):
        """Take the dialog of an incoming INVITE (we are the callee)."""
        self.call_id = req.one('Call-ID')
        self.remote = req.one('From')
        self.route = req.get('Record-Route')
        self.target = re.search(r'<([^>]+)>', req.one('Contact')).group(1)

    def answer(self, req, status, body='', ctype='application/sdp',
               record_route=(), extra=''):
        """Answer req; `record_route`: values of proxies between us and
        the request's sender put above its Record-Routes; `extra`: header
        lines (e.g. Require: 100rel and RSeq of a reliable 1xx)."""
        vias = ''.join('Via: %s\r\n' % v for v in req.get('Via'))
        rr = ''.join('Record-Route: %s\r\n' % v for v in
                     list(record_route) + req.get('Record-Route'))
        to = req.one('To')
        if ';tag=' not in to and status > 100:
            to += ';tag=' + self.tag
        ctype = 'Content-Type: %s\r\n' % ctype if body else ''
        msg = ('SIP/2.0 %d X\r\n%s%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n'
               'CSeq: %s\r\nContact: %s\r\n%s%sContent-Length: %d\r\n\r\n%s'
               % (status, vias, rr, req.one('From'), to, req.one('Call-ID'),
                  req.one('CSeq'), self.contact(), extra, ctype,
                  len(body.encode()), body))
        self.ua.s.sendto(msg.encode(), req.src)

    def response(self, want=None, timeout=5.0):
        """The next response of status `want` (or the next final), or None."""
        while True:
            m = self.ua.recv(timeout)
            if m is None or (m.status and (m.status == want or
                                           (want is None and m.status >= 200))):
                return m
