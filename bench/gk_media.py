#!/usr/bin/env python3
"""bench/gk_media.py — media anchoring figures of issue 11 (not a test: no
pass/fail, figures for docs/bench.md). A real gatekeeper, rtpengine in user
space (interfaces pub 127.0.0.1, priv 127.0.0.2) and PostgreSQL; a caller
and the flat's gateway are UDP user agents of this script.

  1. setup latency, INVITE sent -> 200 OK received at the caller, anchored
     (outside -> flat) and direct (flat -> flat), interleaved in one run:
     p50 and p99 of --latency calls each;
  2. concurrency: for each N of --calls, N anchored calls set up, then 20 ms
     RTP (160-byte PCMU) both ways on every call for --seconds; packets
     lost, whether the load kept the 20 ms pace, and the CPU-seconds
     rtpengine and the gatekeeper spent in that period. The RTP endpoints
     are build/rel/bench/rtp_load (C, `make tests`; --rtp c, the default)
     or this script's one thread (--rtp py, enough up to ~300 calls).
     With --rtp c the steps stop at the first N with a packet lost or
     with the generator behind (--stop-on-loss, the default);
  1b. --out N: the same for calls out (flat 1's gateway -> a number of
     complex 300, routed to a peer on 127.0.2.1 that answers): through
     this gatekeeper (anchored: offer first, then the peer) and through a
     second one of the same site without rtpengine (not anchored),
     interleaved, N calls each;
  3. --callgrind K: user-space instructions per call of the gatekeeper
     (valgrind --tool=callgrind), K outside -> flat calls with and without
     rtpengine configured, anchored with offer and answer in SIP-I
     multipart bodies (SDP + ISUP), and K calls out with and without;
     an idle run (same start, registration, stop) subtracted.

    make tests && bench/gk_media.py [--latency 200] [--out 200]
                              [--calls 50,100,200] [--seconds 30]
                              [--rtp c|py] [--callgrind 100]
"""
import argparse
import json
import os
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests', 'lib'))
os.environ.setdefault('DPN_BUILD', os.path.join(os.path.dirname(__file__), '..',
                                                'build', 'rel'))
import gatekeeper  # noqa: E402
from dialog import MP, Leg, media_of, multipart, sdp  # noqa: E402
from dpn_test import Cluster, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Ua  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from rtpengine import Rtpengine, RtpEndpoint  # noqa: E402

RTP_LOAD = os.path.join(os.environ['DPN_BUILD'], 'bench', 'rtp_load')
N1, N2 = '100-1101-0101', '100-1101-0102'
TICK = os.sysconf('SC_CLK_TCK')
# As root the gatekeeper drops to dpn after start, and callgrind could no
# longer write the file it opened as root: run it as dpn from the start.
AS_DPN = ('setpriv --reuid=dpn --regid=dpn --init-groups '
          if os.geteuid() == 0 else '')


def cpu_s(pid):
    """User + system CPU-seconds of a process so far."""
    with open('/proc/%d/stat' % pid) as f:
        v = f.read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def register(gk, flat):
    ua = flat.ua()
    r = ua.register(gk.port, flat.number, flat.user, flat.secret)
    assert r is not None and r.status == 200, 'REGISTER %s' % flat.number
    return ua


def call(gk, caller_ua, caller_user, gw, callee_number, c_ep, g_ep,
         sipi=False):
    """One call set up to its ACK; (caller leg, callee leg, seconds from
    INVITE to 200, where the caller sends, where the gateway sends).
    sipi: offer and answer in SIP-I multipart bodies (SDP + ISUP)."""
    caller = Leg(caller_ua, gk.port, caller_user)
    callee = Leg(gw, gk.port, callee_number)
    body, ctype = (multipart, MP) if sipi else (str, 'application/sdp')
    t0 = time.perf_counter()
    caller.invite(callee_number, body(sdp(c_ep.addr, c_ep.port)), ctype=ctype)
    inv = gw.expect_request('INVITE')
    callee.accept(inv)
    callee.answer(inv, 200, body(sdp(g_ep.addr, g_ep.port)), ctype=ctype)
    ok = caller.response(200)
    dt = time.perf_counter() - t0
    caller.learn(ok)
    caller.in_dialog('ACK')
    gw.expect_request('ACK')
    return caller, callee, dt, media_of(ok.body), media_of(inv.body)


def hang_up(caller, callee):
    caller.in_dialog('BYE')
    callee.answer(callee.ua.expect_request('BYE'), 200)
    caller.response(200)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def latency(ctx, n):
    gk = ctx.gk
    out = {'anchored': [], 'direct': []}
    outside = Ua('127.0.0.1')
    for _ in range(n):
        for kind in ('anchored', 'direct'):
            c_ep = RtpEndpoint('127.0.0.1' if kind == 'anchored' else ctx.f2.addr)
            g_ep = RtpEndpoint(ctx.f1.addr)
            who, user = (outside, 'caller') if kind == 'anchored' else (ctx.gw2, N2)
            caller, callee, dt, _, _ = call(gk, who, user, ctx.gw1, N1, c_ep, g_ep)
            hang_up(caller, callee)
            out[kind].append(dt * 1000)
            c_ep.close()
            g_ep.close()
    outside.close()
    for kind, v in out.items():
        print('setup %-8s  %d calls  p50 %.2f ms  p99 %.2f ms' % (
            kind, len(v), pct(v, 50), pct(v, 99)), flush=True)


OUT = '300-5550-0100'       # a number of complex 300: the route's peer


def route_out(ctx, peer):
    """Complex 100 routes 300 to peer (through mgmtd); waits until the
    gatekeeper read it."""
    c, site = ctx.env.c, ctx.env.site['id']
    st, g = c.post('/api/v1/sites/%d/peer-groups' % site, {'name': 'bench-out'})
    assert st == 201, g
    st, _ = c.post('/api/v1/peer-groups/%d/peers' % g['id'],
                   {'address': peer.addr, 'port': peer.port})
    assert st == 201
    st, _ = c.post('/api/v1/sites/%d/routes' % site, {'prefix': '300', 'group_id': g['id']})
    assert st == 201
    wait_for(lambda: 'site 100: 1 routes, 1 peers' in ctx.gk.log(), timeout=5,
             what='the route read')


def latency_out(ctx, n):
    """Setup latency of calls out, anchored and not, interleaved."""
    peer = ctx.out_peer()
    plain = Gatekeeper(ctx.pg, args=['--pike-limit', '0', '--probe-interval', '0'])
    out = {'anchored': [], 'plain': []}
    try:
        register(plain, ctx.f1)
        for _ in range(n):
            for kind, gk in (('anchored', ctx.gk), ('plain', plain)):
                g_ep, p_ep = RtpEndpoint(ctx.f1.addr), RtpEndpoint(peer.addr)
                caller, callee, dt, _, _ = call(gk, ctx.gw1, N1, peer, OUT, g_ep, p_ep)
                hang_up(caller, callee)
                out[kind].append(dt * 1000)
                g_ep.close()
                p_ep.close()
    finally:
        plain.close()
    for kind, v in out.items():
        print('setup out %-8s  %d calls  p50 %.2f ms  p99 %.2f ms' % (
            kind, len(v), pct(v, 50), pct(v, 99)), flush=True)


def carry(ctx, n, seconds):
    """n anchored calls, RTP both ways for `seconds`; a result line."""
    outside = Ua('127.0.0.1')
    calls, eps = [], []
    for _ in range(n):
        c_ep, g_ep = RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)
        caller, callee, _, c_to, g_to = call(ctx.gk, outside, 'caller', ctx.gw1,
                                             N1, c_ep, g_ep)
        calls.append((caller, callee))
        eps += [(c_ep, c_to), (g_ep, g_to)]
    sel = selectors.DefaultSelector()
    for ep, _ in eps:
        sel.register(ep.s, selectors.EVENT_READ, ep)
    cpu0 = (cpu_s(ctx.rtp.p.pid), cpu_s(ctx.gk.p.pid))
    start = time.monotonic()
    late = 0
    sent = 0
    for k in range(int(seconds * 50)):
        due = start + k * 0.02
        if time.monotonic() > due + 0.02:
            late += 1
        for ep, to in eps:
            ep.send_to(*to, n=1, gap=0)
            sent += 1
        while True:
            wait = due + 0.02 - time.monotonic()
            if wait <= 0:
                break
            for key, _ in sel.select(wait):
                key.data.drain()
    wall = time.monotonic() - start
    cpu1 = (cpu_s(ctx.rtp.p.pid), cpu_s(ctx.gk.p.pid))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for key, _ in sel.select(0.05):
            key.data.drain()
    got = sum(ep.got for ep, _ in eps)
    for caller, callee in calls:
        hang_up(caller, callee)
    for ep, _ in eps:
        sel.unregister(ep.s)
        ep.close()
    outside.close()
    wait_for(lambda: ctx.rtp.calls() == [], timeout=10, what='streams deleted')
    print('carry %4d calls %5.1f s  packets sent %d lost %d (%.3f%%)  '
          'pace slips %d  CPU-s rtpengine %.2f gatekeeper %.2f  load %s'
          % (n, wall, sent, sent - got, 100.0 * (sent - got) / max(sent, 1), late,
             cpu1[0] - cpu0[0], cpu1[1] - cpu0[1],
             open('/proc/loadavg').read().split()[0]), flush=True)
    return sent - got


def wait_s(pid):
    """Seconds the threads of process pid spent ready to run with no CPU
    free (schedstat, summed over its threads)."""
    total = 0
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                total += int(f.read().split()[1])
        except OSError:
            pass
    return total / 1e9


def ng_counts(gk):
    """The gatekeeper's ng request counters (sent, retransmitted,
    timeouts...) from its /metrics."""
    return {k.split('"')[1]: v for k, v in gk.metrics().items()
            if k.startswith('dpn_gk_ng_total{')}


def fd_limit(pid):
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                return int(line.split()[3])
    return None


def setup_calls(ctx, n, shared=False):
    """n anchored calls outside -> flat 1 to their ACK, with a bound UDP
    socket for each end's media (held so no one takes the port until
    rtp_load binds it; shared: one for every caller, one for every
    gateway); (calls, sockets, the stream lines)."""
    outside = Ua('127.0.0.1')
    calls, socks, lines = [], [], []
    if shared:
        socks = [RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)]
    for _ in range(n):
        if shared:
            c_ep, g_ep = socks
        else:
            c_ep, g_ep = RtpEndpoint('127.0.0.1'), RtpEndpoint(ctx.f1.addr)
            socks += [c_ep, g_ep]
        caller, callee, _, c_to, g_to = call(ctx.gk, outside, 'caller', ctx.gw1,
                                             N1, c_ep, g_ep)
        calls.append((caller, callee))
        for ep, to in ((c_ep, c_to), (g_ep, g_to)):
            lines.append('%s:%d %s:%d\n' % (ep.addr, ep.port, to[0], to[1]))
    return outside, calls, socks, ''.join(lines)


def carry_c(ctx, n, seconds, shared=False):
    """n anchored calls, RTP both ways for `seconds` from rtp_load; the
    result (dict) and a line printed."""
    outside, calls, socks, lines = setup_calls(ctx, n, shared)
    for ep in socks:        # rtp_load binds the same addresses
        ep.close()
    cpu0 = (cpu_s(ctx.rtp.p.pid), cpu_s(ctx.gk.p.pid))
    ng0, wait0 = ng_counts(ctx.gk), wait_s(ctx.rtp.p.pid)
    load0 = open('/proc/loadavg').read().split()[0]
    r = subprocess.run([RTP_LOAD, '--seconds', str(seconds), '--drain', '2000'], input=lines,
                       capture_output=True, text=True, timeout=seconds + 60)
    cpu1 = (cpu_s(ctx.rtp.p.pid), cpu_s(ctx.gk.p.pid))
    if r.returncode != 0:
        raise RuntimeError('rtp_load: ' + r.stderr)
    res = json.loads(r.stdout)
    ng1 = ng_counts(ctx.gk)
    res['rtpengine_wait_s'] = round(wait_s(ctx.rtp.p.pid) - wait0, 2)
    res['gatekeeper_ng'] = {k: int(ng1[k] - ng0.get(k, 0)) for k in ng1}
    res.update(calls=n, rtpengine_cpu_s=round(cpu1[0] - cpu0[0], 2),
               gatekeeper_cpu_s=round(cpu1[1] - cpu0[1], 2),
               rtpengine_drops=ctx.rtp.socket_drops(),
               load_before=load0, load=open('/proc/loadavg').read().split()[0])
    for caller, callee in calls:
        hang_up(caller, callee)
    outside.close()
    wait_for(lambda: ctx.rtp.calls() == [], timeout=30, what='streams deleted')
    print('carry %4d calls%s %5.1f s  packets sent %d lost %d (%.4f%%, by seq %d, '
          'at the ends %d (head %d, tail %d), on our sockets %d, on rtpengine\'s %d)  late ticks %d of %d '
          '(max %.1f ms, sender busy %.0f%%)  CPU-s rtpengine %.2f gatekeeper %.2f '
          'rtp_load %.2f  load %s -> %s' % (
              n, ' (2 sockets)' if shared else '', res['seconds'], res['sent'], res['lost'],
              100.0 * res['lost'] / max(res['sent'], 1), res['lost_seq'], res['lost_ends'], res['lost_head'], res['lost_tail'],
              res['rx_overflow'], res['rtpengine_drops'], res['late_ticks'],
              res['ticks'], res['max_late_ms'], 100 * res['send_busy'],
              res['rtpengine_cpu_s'], res['gatekeeper_cpu_s'], res['cpu_s'],
              load0, res['load']), flush=True)
    print('  waiting for a CPU: rtpengine %.2f s, rtp_load sender %.2f s, '
          'receiver %.2f s' % (res['rtpengine_wait_s'], res['wait_send_s'],
                               res['wait_recv_s']), flush=True)
    print('  gatekeeper ng requests in the run: %s' % ', '.join(
        '%s %d' % kv for kv in res['gatekeeper_ng'].items()), flush=True)
    print('  ' + json.dumps(res), flush=True)
    return res


def behind(res):
    """The generator fell behind: it needed more than 90% of the time to
    send, or ended more than 2% late. (Ticks started late and caught up
    after are counted and shown, not taken for this: on the shared
    machine other processes hold the cores for tens of ms at times.)"""
    return res['send_busy'] > 0.9 or res['seconds'] > res['ticks'] * 0.02 * 1.02


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                return int(line.split()[1])
    raise RuntimeError('no totals in ' + path)


def control(gk, what):
    """callgrind_control WHAT on the gatekeeper (-z zero, -d dump)."""
    subprocess.run(AS_DPN.split() + ['callgrind_control', what, str(gk.p.pid)],
                   check=True, capture_output=True, timeout=60)


def one_call(gk, gw, out_peer, sipi=False):
    """One call to its BYE: outside -> flat 1 (gw its gateway; sipi: in
    SIP-I multipart bodies), or (with out_peer) flat 1 -> the route's
    peer."""
    if out_peer:
        a, b = RtpEndpoint(gw.addr), RtpEndpoint(out_peer.addr)
        caller, callee, _, _, _ = call(gk, gw, N1, out_peer, OUT, a, b)
    else:
        outside = Ua('127.0.0.1')
        a, b = RtpEndpoint('127.0.0.1'), RtpEndpoint(gw.addr)
        caller, callee, _, _, _ = call(gk, outside, 'caller', gw, N1, a, b,
                                       sipi)
    hang_up(caller, callee)
    for x in (a, b) if out_peer else (a, b, outside):
        x.close()


def instructions(ctx, k):
    """Gatekeeper instructions per call with and without rtpengine, for
    calls in (outside -> flat, also with SIP-I multipart bodies) and out
    (flat -> a route's peer)."""
    if not shutil.which('valgrind'):
        print('callgrind: valgrind not installed')
        return
    tmp = tempfile.mkdtemp(prefix='dpn-gk-media-cg-')
    os.chmod(tmp, 0o777)    # written by the user dpn
    real = gatekeeper.GK
    totals = {}
    try:
        peer = ctx.out_peer()
        for name, calls, anchored, out_peer, sipi in (
                ('idle', 0, True, None, False), ('anchored', k, True, None, False),
                ('unanchored', k, False, None, False),
                ('multipart', k, True, None, True),
                ('out-anchored', k, True, peer, False),
                ('out-plain', k, False, peer, False)):
            out = os.path.join(tmp, name + '.out')
            wrap = os.path.join(tmp, name + '.sh')
            with open(wrap, 'w') as f:
                f.write('#!/bin/sh\nexec %svalgrind --tool=callgrind -q '
                        '--callgrind-out-file=%s %s "$@"\n' % (AS_DPN, out, real))
            os.chmod(wrap, 0o755)
            gatekeeper.GK = wrap
            args = ['--ng-timeout', '5s', '--pike-limit', '0', '--probe-interval', '0'] + (
                ['--rtpengine', ctx.rtp.ng_addr] if anchored else [])
            gk = Gatekeeper(ctx.pg, args=args)
            gw = register(gk, ctx.f1)
            control(gk, '-z')       # count the calls only
            for _ in range(calls):
                one_call(gk, gw, out_peer, sipi)
            control(gk, '-d')
            gw.close()
            gk.stop()
            totals[name] = callgrind_total(out + '.1')
    finally:
        gatekeeper.GK = real
        if not os.environ.get('KEEP'):
            shutil.rmtree(tmp, ignore_errors=True)
    for name in ('anchored', 'unanchored', 'multipart', 'out-anchored',
                 'out-plain'):
        print('callgrind %-12s %d calls: %.0f instructions per call (idle %d '
              'subtracted)' % (name, k, (totals[name] - totals['idle']) / k,
                               totals['idle']), flush=True)


class Ctx:
    def __init__(self, pg, ports):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=2)
        flats = self.env.flats(b['id'])
        self.f1, self.f2 = (Flat(self.env, pg, flats[n], i + 40)
                            for i, n in enumerate((101, 102)))
        self.rtp = Rtpengine(ports=ports)
        # the flat gateways' bursts are the load, not a flood: pike off
        self.gk = Gatekeeper(pg, args=['--rtpengine', self.rtp.ng_addr,
                                       '--pike-limit', '0', '--probe-interval', '0'])
        self.gw1, self.gw2 = register(self.gk, self.f1), register(self.gk, self.f2)

    def out_peer(self):
        """The peer on 127.0.2.1 that complex 300's route takes (made
        once)."""
        if not hasattr(self, 'peer'):
            self.peer = Ua('127.0.2.1')
            route_out(self, self.peer)
        return self.peer

    def close(self):
        if hasattr(self, 'peer'):
            self.peer.close()
        try:
            self.gk.close()
        finally:
            self.rtp.stop()
            self.env.srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--latency', type=int, default=200)
    ap.add_argument('--out', type=int, default=200)
    ap.add_argument('--calls', default='50,100,200')
    ap.add_argument('--seconds', type=float, default=30)
    ap.add_argument('--callgrind', type=int, default=100)
    ap.add_argument('--rtp', choices=('c', 'py'), default='c',
                    help='RTP endpoints: rtp_load (c) or this script (py)')
    ap.add_argument('--shared', action='store_true',
                    help='with --rtp c: every caller on one port, every '
                    'gateway on another (the endpoints cost less)')
    ap.add_argument('--no-stop', action='store_true',
                    help='with --rtp c: run every N even after a loss')
    a = ap.parse_args()
    ns = [int(x) for x in a.calls.split(',') if x]
    if ns and a.rtp == 'c' and not os.access(RTP_LOAD, os.X_OK):
        sys.exit('%s missing: make tests (or --rtp py)' % RTP_LOAD)
    if max(ns + [0]) > 5000:
        sys.exit('--calls: at most 5000')
    # two media sockets a call here while they are set up
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with Cluster() as pg:
        # 4 rtpengine ports a call, and room for the ports our own media
        # sockets (ephemeral, 2 a call) may take inside its range
        ctx = Ctx(pg, ports=max(ns + [50]) * 6 + 200)
        try:
            print('uptime:', subprocess.run(['uptime'], capture_output=True,
                                            text=True).stdout.strip(), flush=True)
            print('rtpengine ports %d-%d, open files limit: rtpengine %s, '
                  'this script and rtp_load %d' % (
                      ctx.rtp.port_min, ctx.rtp.port_max, fd_limit(ctx.rtp.p.pid),
                      hard), flush=True)
            if a.latency:
                latency(ctx, a.latency)
            if a.out:
                latency_out(ctx, a.out)
            for n in ns:
                if a.rtp == 'py':
                    carry(ctx, n, a.seconds)
                    continue
                res = carry_c(ctx, n, a.seconds, a.shared)
                if (res['lost'] or behind(res)) and not a.no_stop:
                    print('stopped at %d calls: %s' % (
                        n, 'packets lost' if res['lost'] else 'rtp_load behind'),
                        flush=True)
                    break
            if a.callgrind:
                instructions(ctx, a.callgrind)
        finally:
            ctx.close()


if __name__ == '__main__':
    main()
