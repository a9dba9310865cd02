#!/usr/bin/env python3
"""test_gatekeeper_badinput — bad input against a running dpn-gatekeeper
(with PostgreSQL and mgmtd): the 49 RFC 4475 torture messages and the fuzz
seed corpus (tests/sip/corpus) over UDP and TCP, then 300 deterministic
mutations of them (truncated, bytes flipped, lines doubled or dropped)
over UDP. After each one the gatekeeper must still answer OPTIONS; at the
end it must exit 0 with no sanitizer report (the fixture checks its log).

The messages name hosts such as 192.0.2.x (this machine's LAN) in Via and
Contact, and the gatekeeper answers there: so the whole test runs in a
network namespace with nothing but `lo` (named gkguard-PID, deleted at
the end) and a resolv.conf pointing at 127.0.0.1, as
../shared/data/rfc4475/MANIFEST.md asks. Needs root (ip netns)."""
import glob
import os
import random
import shutil
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
from dpn_test import ROOT, Cluster, case, check, check_eq, run, wait_for  # noqa: E402
from gatekeeper import Gatekeeper, Ua  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

RFC = os.environ.get('RFC4475_DIR') or os.path.join(ROOT, '..', 'shared', 'data',
                                                    'rfc4475')
NS_ENV = 'DPN_GK_BADINPUT_NETNS'
MUTATIONS = 300


def in_namespace():
    """Re-run this file inside a fresh namespace with only lo; returns its
    exit status."""
    name = 'gkguard-%d' % os.getpid()
    etc = '/etc/netns/' + name
    try:
        subprocess.run(['ip', 'netns', 'add', name], check=True)
        os.makedirs(etc, exist_ok=True)
        with open(etc + '/resolv.conf', 'w') as f:
            f.write('nameserver 127.0.0.1\n')
        subprocess.run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo',
                        'up'], check=True)
        env = dict(os.environ, **{NS_ENV: name})
        return subprocess.run(['ip', 'netns', 'exec', name, sys.executable,
                               os.path.abspath(__file__)], env=env,
                              timeout=300).returncode
    finally:
        subprocess.run(['ip', 'netns', 'delete', name], stderr=subprocess.DEVNULL)
        shutil.rmtree(etc, ignore_errors=True)


def messages():
    """(name, bytes) of the RFC 4475 messages and the seed corpus."""
    files = sorted(glob.glob(os.path.join(RFC, '*.dat'))) + \
        sorted(glob.glob(os.path.join(ROOT, 'tests', 'sip', 'corpus', '*')))
    out = []
    for p in files:
        with open(p, 'rb') as f:
            out.append((os.path.basename(p), f.read()))
    return out


def mutate(rng, data):
    """One deterministic mutation of data."""
    how = rng.randrange(5)
    if how == 0 and len(data) > 1:
        return data[:rng.randrange(1, len(data))]
    b = bytearray(data)
    if how == 1:
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    lines = data.split(b'\r\n')
    i = rng.randrange(len(lines))
    if how == 2:
        lines.insert(i, lines[i])
    elif how == 3:
        del lines[i]
    else:
        lines[i] = lines[i] + b'\x00' + bytes(rng.randrange(256) for _ in range(20))
    return b'\r\n'.join(lines)


class Ctx:
    def __init__(self, pg):
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=2)
        self.env.flats(b['id'])
        self.gk = Gatekeeper(pg, transport='both')
        self.probe = Ua('127.0.0.1')
        self.n = 0

    def source(self):
        """A fresh source address per message (no flood ban in between)."""
        self.n += 1
        return '127.1.%d.%d' % (self.n // 250, self.n % 250 + 1)

    def alive(self, what):
        ruri = 'sip:127.0.0.1:%d' % self.gk.port
        for _ in range(3):
            self.probe.request(self.gk.port, 'OPTIONS', ruri, ruri)
            while True:
                r = self.probe.recv(1.0)
                if r is None or (r.status == 200 and
                                 r.one('CSeq') == '%d OPTIONS' % self.probe.cseq):
                    break
            if r is not None:
                return
        check(self.gk.p.poll() is None, 'gatekeeper exited after %s' % what)
        check(False, 'no answer to OPTIONS after %s' % what)

    def udp(self, data):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.source(), 0))
            s.sendto(data[:65000], ('127.0.0.1', self.gk.port))
        finally:
            s.close()

    def tcp(self, data):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.bind((self.source(), 0))
            s.connect(('127.0.0.1', self.gk.port))
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
        finally:
            s.close()

    def close(self):
        try:
            self.probe.close()
            self.gk.close()
        finally:
            self.env.srv.stop()


@case
def only_lo_in_the_namespace(ctx):
    links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True,
                           check=True).stdout.split('\n')
    check_eq([ln.split(':')[1].strip() for ln in links if ln], ['lo'], 'links')


@case
def rfc4475_and_corpus_over_udp(ctx):
    msgs = messages()
    check(len(msgs) >= 50, 'the RFC 4475 messages are there (%s)' % RFC)
    for name, data in msgs:
        ctx.udp(data)
        ctx.alive('UDP ' + name)


@case
def rfc4475_and_corpus_over_tcp(ctx):
    for name, data in messages():
        ctx.tcp(data)
        ctx.alive('TCP ' + name)


@case
def mutations_over_udp(ctx):
    rng = random.Random(4475)
    msgs = messages()
    for i in range(MUTATIONS):
        name, data = msgs[rng.randrange(len(msgs))]
        ctx.udp(mutate(rng, data))
        ctx.alive('mutation %d of %s' % (i, name))
    wait_for(lambda: ctx.gk.metrics().get('dpn_gk_guard_bad_messages_total', 0)
             > MUTATIONS / 10, timeout=3, what='bad messages counted')


if __name__ == '__main__':
    if not os.environ.get(NS_ENV):
        sys.exit(in_namespace())
    with Cluster() as pg:
        ctx = Ctx(pg)
        try:
            run(ctx)
        finally:
            ctx.close()
