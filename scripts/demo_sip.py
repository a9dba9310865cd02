"""scripts/demo_sip.py — the little SIP, SDP and RTP the demo's Python
user agents need (scripts/demo-handsets.py, scripts/demo-call.py), on the
standard library only. Not a SIP stack: one message per UDP datagram,
bounded in size, enough to register with digest, ring, answer, cancel and
hang up on loopback."""
import hashlib
import re
import secrets
import socket
import struct

MAX_DATAGRAM = 8192      # larger datagrams are dropped unread
RTP_PAYLOAD = b'\xff' * 160   # 20 ms of PCMU silence


class Msg:
    """A parsed SIP message: first line, headers in order, body."""

    def __init__(self, data):
        text = data.decode('utf-8', 'replace')
        head, _, self.body = text.partition('\r\n\r\n')
        lines = head.split('\r\n')
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(':')
            if sep:
                self.headers.append((name.strip(), value.strip()))
        parts = self.first.split(' ', 2)
        self.is_response = parts[0] == 'SIP/2.0'
        self.status = int(parts[1]) if self.is_response and parts[1:2] and parts[1].isdigit() else 0
        self.method = None if self.is_response else parts[0]
        self.ruri = None if self.is_response else (parts[1] if len(parts) > 1 else '')

    def all(self, name):
        compact = {'via': 'v', 'from': 'f', 'to': 't', 'call-id': 'i', 'contact': 'm',
                   'content-length': 'l', 'content-type': 'c'}.get(name.lower())
        return [v for n, v in self.headers if n.lower() in (name.lower(), compact)]

    def get(self, name, default=''):
        v = self.all(name)
        return v[0] if v else default

    def cseq_method(self):
        return self.get('CSeq').split(' ')[-1].upper()


def parse(data):
    """Msg of DATA, or None when it is not a SIP message we can read."""
    if not data or len(data) > MAX_DATAGRAM:
        return None
    try:
        m = Msg(data)
    except (ValueError, IndexError):
        return None
    if not m.get('Call-ID') or not m.get('CSeq') or (m.is_response and not m.status):
        return None
    if not m.get('Via') or not m.get('From') or not m.get('To') or \
            not re.match(r'\d+ [A-Z]+$', m.get('CSeq')):
        return None
    return m


def tag(value):
    """The tag parameter of a From or To value, or ''."""
    m = re.search(r';\s*tag=([^;>\s]+)', value)
    return m.group(1) if m else ''


def uri_hostport(value, default_port=5060):
    """(host, port) of the SIP URI in VALUE (a header or a bare URI)."""
    m = re.search(r'sips?:(?:[^@;>]*@)?([^:;>\s]+)(?::(\d+))?', value)
    if not m:
        return None
    return m.group(1), int(m.group(2) or default_port)


def token():
    return secrets.token_hex(6)


def response(req, status, reason, to_tag='', extra='', body='', contact=''):
    """The bytes of a response to REQ (Vias, From, Call-ID, CSeq copied)."""
    to = req.get('To')
    if to_tag and not tag(to):
        to += ';tag=' + to_tag
    lines = ['SIP/2.0 %d %s' % (status, reason)]
    lines += ['Via: ' + v for v in req.all('Via')]
    lines += ['From: ' + req.get('From'), 'To: ' + to, 'Call-ID: ' + req.get('Call-ID'),
              'CSeq: ' + req.get('CSeq')]
    if req.method == 'INVITE' and 200 <= status < 300:
        lines += ['Record-Route: ' + r for r in req.all('Record-Route')]
    if contact:
        lines.append('Contact: ' + contact)
    if body:
        lines.append('Content-Type: application/sdp')
    lines += [h for h in extra.split('\r\n') if h]
    lines.append('Content-Length: %d' % len(body.encode()))
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


def digest_md5(challenge, user, password, method, uri):
    """An Authorization value answering the MD5 WWW-Authenticate CHALLENGE,
    or None when it is not one (the registrar offers SHA-256 first)."""
    if 'algorithm=md5' not in challenge.lower().replace('"', ''):
        return None
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(' ', 1)[-1]))
    md5 = lambda t: hashlib.md5(t.encode()).hexdigest()
    cnonce = secrets.token_hex(4)
    resp = md5('%s:%s:00000001:%s:auth:%s' % (md5('%s:%s:%s' % (user, p['realm'], password)),
                                               p['nonce'], cnonce, md5(method + ':' + uri)))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"'
            % (user, p['realm'], p['nonce'], uri, resp, cnonce))


def sdp(addr, port):
    """An audio offer or answer: PCMU on ADDR:PORT."""
    sid = secrets.randbelow(1 << 30)
    return ('v=0\r\no=dpn %d %d IN IP4 %s\r\ns=dpn demo\r\nc=IN IP4 %s\r\nt=0 0\r\n'
            'm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n'
            % (sid, sid, addr, addr, port))


def sdp_media(body):
    """(address, port) where the SDP BODY wants its audio, or None."""
    c = re.search(r'^c=IN IP4 ([0-9.]+)', body, re.M)
    m = re.search(r'^m=audio (\d+) ', body, re.M)
    if not c or not m or m.group(1) == '0':
        return None
    return c.group(1), int(m.group(1))


class Rtp:
    """One RTP stream: a socket on ADDR, 20 ms packets to a peer, counts."""

    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.peer = None
        self.sent = self.received = 0
        self.ssrc = secrets.randbelow(1 << 32)

    def send(self):
        """Send the next 20 ms packet to the peer, if there is one."""
        if not self.peer:
            return
        hdr = struct.pack('!BBHII', 0x80, 0, self.sent & 0xffff, (self.sent * 160) & 0xffffffff,
                          self.ssrc)
        try:
            self.sock.sendto(hdr + RTP_PAYLOAD, self.peer)
            self.sent += 1
        except OSError:
            pass

    def drain(self):
        """Count the RTP packets waiting on the socket."""
        while True:
            try:
                data = self.sock.recv(2048)
            except OSError:
                return
            if len(data) >= 12 and data[0] >> 6 == 2:
                self.received += 1

    def close(self):
        self.sock.close()
