"""tests/lib/rtpengine.py — a real rtpengine in user space for tests (two
logical interfaces: `pub` and `priv` on two loopback addresses), an ng
client to look into it, and a tiny RTP endpoint that counts packets.

    with Rtpengine() as rtp:            # rtp.ng_addr, rtp.calls(), rtp.stop()
        ep = RtpEndpoint('127.0.0.1')   # ep.port; ep.send_to(addr, port, n)
        ep.count(timeout)               # packets received so far

Every rtpengine started here is stopped by its PID."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

from dpn_test import wait_for
from sip import free_udp_port

RTPENGINE = '/usr/bin/rtpengine'


def benc(x):
    if isinstance(x, int):
        return b'i%de' % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b'%d:' % len(x) + x
    if isinstance(x, list):
        return b'l' + b''.join(benc(i) for i in x) + b'e'
    return b'd' + b''.join(benc(k) + benc(v) for k, v in sorted(x.items())) + b'e'


def bdec(b, i=0):
    """(value, next index) of the bencoded value at b[i:]."""
    c = b[i:i + 1]
    if c == b'i':
        e = b.index(b'e', i)
        return int(b[i + 1:e]), e + 1
    if c in (b'l', b'd'):
        i += 1
        out = []
        while b[i:i + 1] != b'e':
            v, i = bdec(b, i)
            out.append(v)
        if c == b'l':
            return out, i + 1
        return {out[k].decode(): out[k + 1] for k in range(0, len(out), 2)}, i + 1
    colon = b.index(b':', i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n], colon + 1 + n


class Rtpengine:
    """rtpengine --table=-1 with interfaces pub/PUB and priv/PRIV, ng on
    127.0.0.1:ng_port, `ports` ports (4 a call) from a random base,
    sessions deleted at once (so `list` returns to 0 as soon as a call
    ends)."""

    def __init__(self, pub='127.0.0.1', priv='127.0.0.2', timeout=None,
                 ports=200):
        self.pub, self.priv = pub, priv
        self.ng_port = free_udp_port()
        self.ng_addr = '127.0.0.1:%d' % self.ng_port
        self.port_min = random.randrange(20000, 61000 - ports, 200)
        self.port_max = self.port_min + ports - 1
        self.dir = tempfile.mkdtemp(prefix='dpn-rtpengine-')
        self.log_path = os.path.join(self.dir, 'log')
        args = [RTPENGINE, '--config-file=none', '--foreground', '--table=-1', '--log-stderr',
                '--interface=pub/%s' % pub, '--interface=priv/%s' % priv,
                '--listen-ng=%s' % self.ng_addr,
                '--listen-cli=127.0.0.1:%d' % free_udp_port(), '--port-min=%d' % self.port_min,
                '--port-max=%d' % self.port_max, '--delete-delay=0',
                '--num-threads=2', '--pidfile=%s/pid' % self.dir,
                '--log-level=5']
        if timeout:
            args.append('--timeout=%d' % timeout)
        log = open(self.log_path, 'w')
        self.p = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        wait_for(self.alive, timeout=10, what='rtpengine answers ping')

    def ng(self, d, timeout=1.0):
        """Send one ng command; its decoded answer (dict), or None."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            cookie = uuid.uuid4().hex[:12].encode()
            s.sendto(cookie + b' ' + benc(d), ('127.0.0.1', self.ng_port))
            data = s.recv(65535)
            return bdec(data[len(cookie) + 1:])[0]
        except (socket.timeout, ConnectionRefusedError):
            return None
        finally:
            s.close()

    def alive(self):
        if self.p.poll() is not None:
            raise RuntimeError('rtpengine exited: ' + self.log())
        a = self.ng({'command': 'ping'}, timeout=0.3)
        return a is not None and a.get('result') == b'pong'

    def calls(self):
        """Call-IDs rtpengine holds (ng list)."""
        return self.ng({'command': 'list'})['calls']

    def socket_drops(self):
        """Datagrams the kernel dropped on the full receive buffers of this
        rtpengine's UDP sockets (ng and media) so far: /proc/net/udp,
        matched by the inodes of its file descriptors."""
        fds = '/proc/%d/fd' % self.p.pid
        inodes = set()
        for fd in os.listdir(fds):
            try:
                link = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue
            if link.startswith('socket:['):
                inodes.add(link[8:-1])
        with open('/proc/net/udp') as f:
            next(f)
            return sum(int(v[-1]) for v in (ln.split() for ln in f)
                       if v[9] in inodes)

    def in_range(self, port):
        return self.port_min <= port <= self.port_max

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-3000:]
        except OSError:
            return '(no log)'

    def stop(self):
        """Stop it by its PID and forget its folder (log, pid file)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class RtpEndpoint:
    """A UDP socket that sends numbered RTP packets (PCMU, 160 bytes) and
    counts what it receives, from whom."""

    def __init__(self, addr='127.0.0.1'):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((addr, 0))
        self.addr, self.port = self.s.getsockname()
        self.s.setblocking(False)
        self.seq = 0
        self.got = 0
        self.sources = set()
        self.ssrc = random.getrandbits(32)

    def send_to(self, addr, port, n=1, gap=0.02):
        for _ in range(n):
            self.seq += 1
            hdr = bytes([0x80, 0]) + self.seq.to_bytes(2, 'big') + \
                (self.seq * 160).to_bytes(4, 'big') + self.ssrc.to_bytes(4, 'big')
            self.s.sendto(hdr + b'\xff' * 160, (addr, port))
            self.drain()
            if gap:
                time.sleep(gap)

    def drain(self):
        while True:
            try:
                data, src = self.s.recvfrom(2048)
            except (BlockingIOError, ConnectionRefusedError):
                return self.got
            if len(data) >= 12 and data[0] & 0xc0 == 0x80:
                self.got += 1
                self.sources.add(src)

    def count(self, want, timeout=3.0):
        """Wait until `want` packets arrived (or the timeout); the count."""
        end = time.time() + timeout
        while self.drain() < want and time.time() < end:
            time.sleep(0.01)
        return self.got

    def close(self):
        self.s.close()
