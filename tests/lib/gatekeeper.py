"""tests/lib/gatekeeper.py — helpers for the dpn-gatekeeper tests: start the
gatekeeper on a free 127.0.0.1 port against a cluster, and a small UDP SIP
user agent (a flat gateway or an outside caller) that registers with digest
(MD5 or SHA-256), sends requests and answers them, bounded in time.

    gk = Gatekeeper(pg, site=100)          # gk.port, gk.metrics(), gk.stop()
    gw = Ua('127.16.0.1')                  # bound to the flat's first address
    gw.register(gk.port, '100-1101-0101', user, secret) -> status
"""
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

from dpn_test import BUILD, check, check_eq, free_port, wait_for
from sip import free_udp_port

GK = os.path.join(BUILD, 'bin', 'dpn-gatekeeper')


class Gatekeeper:
    """dpn-gatekeeper on 127.0.0.1:port (UDP) for site `site`; SIGTERM on
    stop, which must exit 0 (the sanitizers' leak check runs at exit)."""

    def __init__(self, pg, site=100, args=(), port=None, transport='udp',
                 trusted='127.0.0.1', wrap=()):
        # 127.0.0.1 (sipp, bursts from one socket address) is trusted by
        # default: the flood limit is for the guard tests, which send
        # from other loopback addresses.
        self.pg, self.site, self.args = pg, site, list(args)
        self.wrap = list(wrap)          # e.g. valgrind (bench/gk_topo_cost.py)
        if trusted:
            self.args = ['--trusted', trusted] + self.args
        self.transport = transport
        self.port = port or free_udp_port()
        self.mport = free_port()
        fd, self.log_path = tempfile.mkstemp(prefix='dpn-gk-', suffix='.log')
        os.close(fd)
        self.start()

    def start(self):
        log = open(self.log_path, 'a')
        self.p = subprocess.Popen(
            self.wrap + [GK, '--db', self.pg.conninfo, '--listen', '127.0.0.1:%d' % self.port,
             '--transport', self.transport, '--site', str(self.site), '--t1', '100ms',
             '--metrics-listen', '127.0.0.1:%d' % self.mport, '-d',
             # gateways here are test agents (sipp, Ua) that would take an
             # OPTIONS probe for a stray request: on only where asked for
             '--gateway-probe-interval', '0'] + self.args,
            stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        line = self.p.stdout.readline()
        if line.strip() != 'ready':
            self.p.kill()
            self.p.wait()
            raise RuntimeError('gatekeeper did not start: %r %s' % (line, self.log()))

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def metrics(self):
        """/metrics as {name{labels}: value}."""
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % self.mport,
                                    timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith('#'):
                k, v = line.rsplit(' ', 1)
                out[k] = float(v)
        return out

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def close(self):
        rc = self.stop()
        with open(self.log_path) as f:
            log = f.read()
        if os.environ.get('GK_LOG'):        # keep it for debugging
            with open(os.environ['GK_LOG'], 'a') as f:
                f.write(log)
        os.unlink(self.log_path)
        log = log[-4000:]
        if rc != 0:
            raise RuntimeError('gatekeeper exited %s:\n%s' % (rc, log))
        if 'Sanitizer' in log or 'runtime error' in log:
            raise RuntimeError('sanitizer report:\n' + log)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.stop()


def _h(alg, s):
    return hashlib.new('sha256' if alg == 'SHA-256' else 'md5',
                       s.encode()).hexdigest()


def digest(chal, alg, user, password, method, uri, nc=1):
    """The Authorization value answering WWW-Authenticate value chal."""
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', chal))
    cnonce = uuid.uuid4().hex[:16]
    ha1 = _h(alg, '%s:%s:%s' % (user, p['realm'], password))
    ha2 = _h(alg, '%s:%s' % (method, uri))
    resp = _h(alg, '%s:%s:%08x:%s:auth:%s' % (ha1, p['nonce'], nc, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=%s, qop=auth, nc=%08x, cnonce="%s"'
            % (user, p['realm'], p['nonce'], uri, resp, alg, nc, cnonce))


class Msg:
    """A parsed SIP message: .first (start line), .hdrs [(name, value)]."""

    def __init__(self, data):
        text = self.raw = data.decode(errors='replace')
        head, _, self.body = text.partition('\r\n\r\n')
        lines = head.split('\r\n')
        self.first = lines[0]
        self.hdrs = [tuple(x.strip() for x in ln.split(':', 1))
                     for ln in lines[1:] if ':' in ln]
        self.status = int(self.first.split()[1]) if self.first.startswith('SIP/') else None
        self.method = None if self.status else self.first.split()[0]
        self.ruri = None if self.status else self.first.split()[1]

    def get(self, name):
        return [v for n, v in self.hdrs if n.lower() == name.lower()]

    def one(self, name):
        v = self.get(name)
        return v[0] if v else None


class Ua:
    """A UDP user agent bound to (addr, port); its requests go to
    peer_host (the gatekeeper's 127.0.0.1, or a gatewayd's address)."""

    def __init__(self, addr='127.0.0.1', port=0, peer_host='127.0.0.1'):
        self.peer_host = peer_host
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((addr, port))
        self.addr, self.port = self.s.getsockname()
        self.cseq = 0
        self.call_id = uuid.uuid4().hex + '@' + addr
        self.user_agent = None          # a User-Agent for REGISTER

    def close(self):
        self.s.close()

    def recv(self, timeout=3.0):
        """The next message (skipping nothing), or None at the timeout."""
        self.s.settimeout(timeout)
        try:
            data, src = self.s.recvfrom(65535)
        except socket.timeout:
            return None
        m = Msg(data)
        m.src = src
        return m

    def request(self, gk_port, method, ruri, to, extra='', call_id=None,
                from_user=None, to_tag=None):
        """Send a request to the gatekeeper; returns the text sent."""
        self.cseq += 1
        self.branch = 'z9hG4bK' + uuid.uuid4().hex[:12]
        self.last_to, self.last_ruri = to, ruri
        self.last_call_id = call_id or self.call_id
        msg = ('%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n'
               'Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=t%d\r\nTo: <%s>%s\r\n'
               'Call-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: 0\r\n\r\n'
               % (method, ruri, self.addr, self.port, self.branch,
                  from_user or 'caller', self.addr, self.port, to,
                  ';tag=' + to_tag if to_tag else '',
                  self.last_call_id, self.cseq, method, extra))
        self.s.sendto(msg.encode(), (self.peer_host, gk_port))
        return msg

    def final(self, timeout=5.0):
        """The first final response (provisionals skipped), or None."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.recv(end - time.time())
            if m is None:
                return None
            if m.status and m.status >= 200:
                return m
        return None

    def ack(self, gk_port, resp):
        """ACK a non-2xx final response (same branch, To with its tag)."""
        msg = ('ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n'
               'Max-Forwards: 70\r\nFrom: <sip:caller@%s>;tag=t%d\r\nTo: %s\r\n'
               'Call-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n'
               % (self.last_ruri, self.addr, self.port, self.branch, self.addr,
                  self.port, resp.one('To'), self.last_call_id, self.cseq))
        self.s.sendto(msg.encode(), (self.peer_host, gk_port))

    def call(self, gk_port, number, extra='', from_user=None):
        """INVITE sip:number@gatekeeper; returns the final response (ACKed
        when not 2xx)."""
        ruri = 'sip:%s@127.0.0.1:%d' % (number, gk_port)
        self.request(gk_port, 'INVITE', ruri, ruri, extra,
                     call_id=uuid.uuid4().hex, from_user=from_user)
        r = self.final()
        if r is not None and r.status >= 300:
            self.ack(gk_port, r)
        return r

    def register(self, gk_port, aor, user, password, alg='MD5', expires=600,
                 contact_port=None):
        """REGISTER aor with Contact at this UA; answers one challenge.
        Returns the final response."""
        to = 'sip:%s@dpn' % aor
        extra = ('Contact: <sip:%s@%s:%d>\r\nExpires: %d\r\n'
                 % (aor, self.addr, contact_port or self.port, expires))
        if self.user_agent:
            extra += 'User-Agent: %s\r\n' % self.user_agent
        self.request(gk_port, 'REGISTER', 'sip:dpn', to, extra)
        r = self.final()
        if r is None or r.status != 401:
            return r
        chal = [c for c in r.get('WWW-Authenticate') if alg in c][0]
        auth = digest(chal, alg, user, password, 'REGISTER', 'sip:dpn')
        self.request(gk_port, 'REGISTER', 'sip:dpn', to,
                     extra + 'Authorization: %s\r\n' % auth)
        return self.final()

    def answer(self, req, status, reason='X', extra=''):
        """Answer request req (to where it came from)."""
        vias = ''.join('Via: %s\r\n' % v for v in req.get('Via'))
        to = req.one('To')
        if status > 100 and ';tag=' not in to:
            to += ';tag=gw%d' % self.port
        msg = ('SIP/2.0 %d %s\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n'
               'CSeq: %s\r\n%sContent-Length: 0\r\n\r\n'
               % (status, reason, vias, req.one('From'), to,
                  req.one('Call-ID'), req.one('CSeq'), extra))
        self.s.sendto(msg.encode(), req.src)

    def expect_request(self, method, timeout=5.0):
        """The next request of `method` (others skipped), or None."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.recv(end - time.time())
            if m is None:
                return None
            if m.method == method:
                return m
        return None


class Flat:
    """A flat with gateway credentials from mgmtd (env: a
    mgmtd_resources.Env) and a block, so a first private address, allotted
    through the broker; n makes the gateway's MAC unique."""

    def __init__(self, env, pg, flat, n):
        from dpn_test import check, check_eq
        self.id, self.number = flat['id'], flat['full_number']
        status, g = env.c.put('/api/v1/flats/%d/gateway' % self.id)
        check(status in (200, 201), 'gateway credentials: %s %r' % (status, g))
        self.user, self.secret = g['username'], g['secret']
        status, a = env.srv.client().basic(self.user, self.secret).post(
            '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:01:%02x' % n,
                                        'handset_macs': []})
        check_eq(status, 200, 'allocate')
        self.addr = pg.scalar('SELECT first_addr FROM dpn.gk_flats WHERE '
                              'flat_id = %d' % self.id)

    def ua(self):
        return Ua(self.addr)


def wait_metric(gk, key, want, timeout=5.0):
    wait_for(lambda: gk.metrics().get(key) == want, timeout=timeout,
             what='%s == %s' % (key, want))


def call_record(client, path, pick, timeout=5.0):
    """The first call record of GET /api/v1/PATH/calls (the newest 200)
    for which pick(record) is true, waited for (records are written within
    about a second of the call's end)."""
    found = []

    def written():
        status, body = client.get('/api/v1/%s/calls?limit=200' % path)
        check_eq(status, 200, 'GET %s/calls: %r' % (path, body))
        found[:] = [c for c in body['items'] if pick(c)]
        return bool(found)
    wait_for(written, timeout=timeout, what='a call record of ' + path)
    return found[0]


def first_invite(peers, timeout=3.0):
    """(peer, INVITE) of the first of peers (Ua-like: recv(timeout)) that
    gets an INVITE, or (None, None)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in peers:
            m = p.recv(0.02)
            if m is not None and m.method == 'INVITE':
                return p, m
    return None, None
