#!/usr/bin/env python3
"""bench/gatewayd_bench.py — what dpn-gatewayd costs (issue 12), against a
real PostgreSQL + mgmtd + dpn-gatekeeper (tests/lib fixtures), release
build, Python UAs as the caller and the handsets on loopback:

  mem        Private_Dirty and Rss (/proc/PID/smaps_rollup) idle (block and
             8 handsets known, none registered), with 8 registered, and
             after the fork runs.
  fork       from the flat INVITE sent by the caller to the last of the 8
             handsets' INVITEs received, p50/p99 over BENCH_CALLS (300)
             calls; every handset answers 486. Timestamps are taken in
             Python at the sockets (loopback and the Python wake-up
             included): an upper bound of gatewayd's own time.
  callgrind  user-space instructions per flat call with 4 handsets
             (INVITE forked to 4, 180 from each, one 200, three CANCEL/487,
             ACK, BYE), dpn-gatewayd against Kamailio 5.6
             (bench/kamailio_fork.cfg: usrloc lookup with 4 contacts,
             t_relay, `-x tlsf`) in the same run: BENCH_CG_CALLS (1000)
             calls under valgrind --tool=callgrind minus an idle run of the
             same length (same registrations), divided by the calls.
             Each element then runs idle a second time: the difference of
             the two idle runs, per call, is printed as the error of the
             subtraction (what start-up and timers cost varies a little
             from run to run). gatewayd runs with --poll-interval 1h here,
             so that no handsets poll to mgmtd (10 s otherwise) falls in
             one run and not in the other.

    make && bench/gatewayd_bench.py [mem] [fork] [callgrind]   (default all)

BENCH_KEEP=1 keeps the callgrind files (for callgrind_annotate).

Bounded: every wait has a timeout, processes are stopped by PID. Prints
`uptime` before each mode."""
import glob
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster  # noqa: E402
import mgmtd  # noqa: E402
from gatekeeper import Gatekeeper, Ua  # noqa: E402
from gatewayd import Gatewayd, first_hop, in_dialog  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, 'bench'))
import sip_vs_kamailio as svk  # noqa: E402  (its Element.stop, callgrind_total)
shutil.rmtree(svk.WORK, ignore_errors=True)     # made at its import, unused

POOL = '127.38.0.0/24'
FLAT = '100-1101-1201'
KCFG = os.path.join(ROOT, 'bench', 'kamailio_fork.cfg')
WORK = tempfile.mkdtemp(prefix='dpn-gwbench-')
os.chmod(WORK, 0o711)      # gatewayd (user dpn) reaches its callgrind file
CALLS = int(os.environ.get('BENCH_CALLS', '300'))
CG_CALLS = int(os.environ.get('BENCH_CG_CALLS', '1000'))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---- handsets and the caller -----------------------------------------------

class Phones:
    """UAs that ring (180) and answer: `busy` -> 486 at once; otherwise
    phone 0 answers 200 after its 180 and the others wait for CANCEL."""

    def __init__(self, uas, busy):
        self.uas, self.busy = uas, busy
        self.by_sock = {u.s: u for u in uas}
        self.invites = {}          # (ua, call-id) -> INVITE
        self.seen = {}             # call-id -> [perf_counter_ns of INVITEs]

    def pump(self, timeout):
        ready = select.select(list(self.by_sock), [], [], timeout)[0]
        now = time.perf_counter_ns()
        for s in ready:
            ua = self.by_sock[s]
            m = ua.recv(0)
            if m is not None and m.method:
                self.on_request(ua, m, now)

    def on_request(self, ua, m, now):
        cid = m.one('Call-ID')
        if m.method == 'INVITE':
            self.seen.setdefault(cid, []).append(now)
            self.invites[(ua, cid)] = m
            if self.busy:
                ua.answer(m, 486, 'Busy Here')
                return
            rr = ''.join('Record-Route: %s\r\n' % v for v in m.get('Record-Route'))
            ua.answer(m, 180, 'Ringing', rr)
            if ua is self.uas[0]:
                ua.answer(m, 200, 'OK', rr + 'Contact: <sip:h@%s:%d>\r\n' % (ua.addr, ua.port))
        elif m.method == 'CANCEL':
            ua.answer(m, 200, 'OK')
            inv = self.invites.pop((ua, cid), None)
            if inv is not None:
                ua.answer(inv, 487, 'Request Terminated')
        elif m.method == 'BYE':
            ua.answer(m, 200, 'OK')
            self.invites.pop((ua, cid), None)


def one_call(caller, host, port, phones, limit=10.0):
    """A flat call: INVITE, and ACK (+ BYE after a 200). Returns the final
    status of the INVITE (0 on a timeout)."""
    ruri = 'sip:%s@%s:%d' % (FLAT, host, port)
    caller.request(port, 'INVITE', ruri, ruri, call_id=uuid.uuid4().hex)
    cseq, end = caller.cseq, time.monotonic() + limit
    final = None
    while final is None and time.monotonic() < end:
        phones.pump(0.002)
        m = caller.recv(0.0005) if select.select([caller.s], [], [], 0)[0] else None
        if m is not None and m.status and m.status >= 200 and 'INVITE' in m.one('CSeq'):
            final = m
    if final is None:
        return 0
    if final.status >= 300:
        caller.ack(port, final)
        return final.status
    caller.s.sendto(in_dialog(caller, cseq, final, 'ACK'), first_hop(final))
    caller.s.sendto(in_dialog(caller, cseq, final, 'BYE'), first_hop(final))
    while time.monotonic() < end:
        phones.pump(0.002)
        m = caller.recv(0.0005) if select.select([caller.s], [], [], 0)[0] else None
        if m is not None and m.status and 'BYE' in m.one('CSeq'):
            break
    for _ in range(20):        # the 487s' ACKs, the last CANCELs
        phones.pump(0.001)
    return final.status


# ---- the set-up --------------------------------------------------------------

class Site:
    """PostgreSQL, mgmtd, the gatekeeper, a flat with 8 handsets."""

    def __init__(self, cluster, srv):
        self.cluster, self.srv, self.gk = cluster, srv, None
        _, flats = mgmtd.seed(cluster, cidr=POOL, flats=1, block_size=10,
                              max_block_size=16)
        mgmtd.add_user(cluster, 'op')
        self.admin = srv.client().bearer(mgmtd.add_token(cluster, 'op'))
        st, cred = self.admin.put('/api/v1/flats/%d/gateway' % flats[0])
        assert st == 201, cred
        self.secret = cred['secret']
        self.flat_id = flats[0]
        self.hs = None

    def gatewayd(self, wrap=(), timeout=20, poll='10s'):
        gw = Gatewayd(self.srv.url, FLAT, self.secret, '02:00:00:38:00:00', POOL,
                      self.gk.port, extra=['--poll-interval', poll], wrap=wrap,
                      start_timeout=timeout)
        if self.hs is None:
            self.hs = []
            for i in range(8):
                st, h = self.admin.post('/api/v1/flats/%d/handsets' % self.flat_id,
                                        {'mac': '02:00:00:38:01:%02x' % i})
                assert st == 201, h
                self.hs.append(h)
        gw.wait_log(r'8 handsets from mgmtd \(8 with an address\)', timeout=max(timeout, 30))
        for h in self.hs:
            h['address'] = self.cluster.scalar(
                "SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'" % h['mac'])
        return gw

    def phones(self, gw, n):
        uas = []
        for h in self.hs[:n]:
            ua = Ua(h['address'], 0, peer_host=gw.first)
            r = ua.register(gw.sip_port, h['number'], h['sip_username'], h['sip_password'],
                            expires=3600)
            assert r is not None and r.status == 200, r and r.first
            uas.append(ua)
        return uas


def mem(pid):
    out = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('Rss', 'Private_Dirty'):
                out[k] = int(v.split()[0])
    return out


def top_mappings(pid, n=6):
    """The n mappings with the most Private_Dirty: [(kB, name)]."""
    out, name = [], None
    with open('/proc/%d/smaps' % pid) as f:
        for line in f:
            head = line.split()
            if '-' in head[0] and not head[0].endswith(':'):
                name = head[5] if len(head) > 5 else '[anon]'
            elif head[0] == 'Private_Dirty:' and int(head[1]):
                out.append((int(head[1]), os.path.basename(name)))
    return sorted(out, reverse=True)[:n]


def show_mem(what, pid):
    m = mem(pid)
    print('mem %-38s Private_Dirty %5d kB   Rss %5d kB   (largest: %s)'
          % (what, m['Private_Dirty'], m['Rss'],
             ', '.join('%s %d' % (nm, kb) for kb, nm in top_mappings(pid))), flush=True)


def close_all(uas):
    for u in uas:
        u.close()


# ---- modes -------------------------------------------------------------------

def mode_mem_fork(site, do_mem, do_fork):
    gw = site.gatewayd()
    try:
        time.sleep(1)
        if do_mem:
            show_mem('idle (block, 8 handsets known)', gw.p.pid)
        uas = site.phones(gw, 8)
        time.sleep(0.5)
        if do_mem:
            show_mem('8 handsets registered', gw.p.pid)
        if do_fork:
            fork(gw, uas)
            if do_mem:
                show_mem('after %d calls forked to 8' % CALLS, gw.p.pid)
        close_all(uas)
    finally:
        gw.close()


def fork(gw, uas):
    phones = Phones(uas, busy=True)
    caller = Ua('127.0.0.1', 0, peer_host=gw.first)
    lat, bad = [], 0
    for _ in range(CALLS):
        t0 = time.perf_counter_ns()
        st = one_call(caller, gw.first, gw.sip_port, phones)
        seen = phones.seen.pop(caller.last_call_id, [])
        if st != 486 or len(seen) != 8:
            bad += 1
            continue
        lat.append((max(seen) - t0) / 1000.0)
    caller.close()
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print('fork: flat INVITE sent -> 8th handset INVITE received, %d calls (%d not '
          'counted): p50 %.0f us, p99 %.0f us, max %.0f us, mean %.0f us'
          % (CALLS, bad, p(0.50), p(0.99), lat[-1], statistics.mean(lat)), flush=True)


def valgrind(prefix):
    return ['valgrind', '--tool=callgrind', '--trace-children=yes',
            '--callgrind-out-file=' + prefix + '%p']


def cg_calls(host, port, uas, calls, idle_s):
    """`calls` flat calls (answered by phone 0), or idle_s seconds of
    nothing when calls is 0. Returns (answered, seconds)."""
    if not calls:
        time.sleep(idle_s)
        return 0, idle_s
    phones = Phones(uas, busy=False)
    caller = Ua('127.0.0.1', 0, peer_host=host)
    ok = 0
    t0 = time.monotonic()
    for _ in range(calls):
        ok += one_call(caller, host, port, phones, limit=20) == 200
    caller.close()
    return ok, time.monotonic() - t0


def cg_gatewayd(site, calls, duration, run=0):
    prefix = os.path.join(WORK, 'cg-gw-%d-%d-' % (calls, run))
    # gatewayd drops to user dpn and callgrind writes its file at the end:
    # one file made beforehand that dpn may write (callgrind made it root's).
    with open(prefix + 'out', 'w'):
        pass
    os.chmod(prefix + 'out', 0o666)
    wrap = valgrind(prefix)
    wrap[-1] = '--callgrind-out-file=' + prefix + 'out'
    gw = site.gatewayd(wrap=wrap, timeout=90, poll='3600s')
    uas = site.phones(gw, 4)
    try:
        ok, duration = cg_calls(gw.first, gw.sip_port, uas, calls, duration)
    finally:
        close_all(uas)
        gw.close()
    return svk.callgrind_total(prefix), ok, duration


class Kamailio(svk.Element):
    """Kamailio with bench/kamailio_fork.cfg; stop() is the harness's."""

    def __init__(self, wrap):
        self.port = free_port()
        cfg = os.path.join(WORK, 'kam-%d.cfg' % self.port)
        with open(KCFG) as f:
            text = f.read().replace('LISTEN_PORT', str(self.port))
        with open(cfg, 'w') as f:
            f.write(text)
        self.p = subprocess.Popen(
            list(wrap) + ['kamailio', '-f', cfg, '-DD', '-E', '-x', 'tlsf', '-m', '256',
                          '-M', '16', '-Y', WORK, '-P', os.path.join(WORK, 'k%d.pid' % self.port)],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(WORK, 'kam-%d.err' % self.port), 'w'))
        probe = Ua('127.0.0.1', 0)
        end = time.monotonic() + 90
        while time.monotonic() < end:     # up when it answers OPTIONS
            probe.request(self.port, 'OPTIONS', 'sip:127.0.0.1:%d' % self.port,
                          'sip:x@127.0.0.1')
            if probe.final(1.0) is not None:
                break
        probe.close()
        time.sleep(1.0)


def cg_kamailio(calls, duration, run=0):
    prefix = os.path.join(WORK, 'cg-kam-%d-%d-' % (calls, run))
    k = Kamailio(valgrind(prefix))
    uas = []
    try:
        for _ in range(4):
            ua = Ua('127.0.0.1', 0)
            r = ua.register(k.port, FLAT, 'x', 'x', expires=3600)
            assert r is not None and r.status == 200, r and r.first
            uas.append(ua)
        ok, duration = cg_calls('127.0.0.1', k.port, uas, calls, duration)
    finally:
        close_all(uas)
        k.stop()
    return svk.callgrind_total(prefix), ok, duration


def mode_callgrind(site):
    res = {}
    # A handset gets its address through the broker and gatewayd sees it at
    # its next poll: one plain run first, so that the measured runs (one
    # poll at start, none after) start with every address known.
    site.gatewayd().close()
    for kind, run in (('gatewayd', lambda c, d, r: cg_gatewayd(site, c, d, r)),
                      ('kamailio', cg_kamailio)):
        full, ok, dur = run(CG_CALLS, 0, 0)
        idle, _, _ = run(0, dur, 0)
        idle2, _, _ = run(0, dur, 1)
        res[kind] = (full - idle) / CG_CALLS
        print('callgrind %s: %d instructions per flat call with 4 handsets (%d calls, %d '
              'answered; total %d, idle %d over %.0f s; a second idle run %d: '
              'subtraction error %.0f per call)'
              % (kind, res[kind], CG_CALLS, ok, full, idle, dur, idle2,
                 abs(idle2 - idle) / CG_CALLS), flush=True)
    print('callgrind ratio gatewayd/kamailio: %.3f' % (res['gatewayd'] / res['kamailio']),
          flush=True)


def uptime():
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def main():
    modes = sys.argv[1:] or ['mem', 'fork', 'callgrind']
    try:
        with Cluster() as cluster:
            mgmtd.migrate(cluster)
            with mgmtd.Server(cluster) as srv:
                site = Site(cluster, srv)
                site.gk = gk = Gatekeeper(cluster, site=100)
                if 'mem' in modes or 'fork' in modes:
                    print('== %s  (%s)' % (' '.join(m for m in modes if m != 'callgrind'),
                                          uptime()), flush=True)
                    mode_mem_fork(site, 'mem' in modes, 'fork' in modes)
                if 'callgrind' in modes:
                    print('== callgrind  (%s)' % uptime(), flush=True)
                    mode_callgrind(site)
                gk.close()
    finally:
        if os.environ.get('BENCH_KEEP'):
            print('kept', WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)


if __name__ == '__main__':
    main()
