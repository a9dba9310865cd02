#!/usr/bin/env python3
"""bench/sip_vs_kamailio.py — the test proxy (tests/sip/proxy.c, on the
lib/sip core) and Kamailio 5.6 (bench/kamailio.cfg: tm, rr, sl, maxfwd, an
htable number -> address lookup, `-x tlsf`) side by side in one run, each
between a sipp UAC and a sipp UAS on 127.0.0.1 (UDP):

  callgrind  user-space instructions per call: 600 calls at 20/s under
             valgrind --tool=callgrind (every process of the element),
             minus an idle run of the same length, divided by 600. The
             regression guard: it does not depend on machine load.
  cpu        CPU-seconds of the element (all its processes, /proc) per
             10,000 calls at 1,000 calls/s; runs interleaved dpn, kam,
             dpn, kam, ...; medians. Load-sensitive.
             With build/rel/bench/udp_floor built, a third element runs
             interleaved: a relay that only moves datagrams (no SIP
             work) — the kernel's floor for the same path.
  rate       the highest rate (calls/s, 5 s at each step) with < 0.1%
             failed calls. Load-sensitive.

    make && bench/sip_vs_kamailio.py [callgrind] [cpu] [rate]   (default all)
    BENCH_RUNS=5 (cpu runs per element), BENCH_RATES=1000,2000,...,
    BENCH_PROXY=path (another sip-proxy binary)

Everything is bounded: sipp by -m and `timeout`, elements stopped by PID.
Prints one line per figure and `uptime` before each mode."""
import glob
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = os.environ.get('BENCH_PROXY') or os.path.join(
    ROOT, 'build', 'rel', 'tests', 'sip', 'sip-proxy')
FLOOR = os.path.join(ROOT, 'build', 'rel', 'bench', 'udp_floor')
KCFG = os.path.join(ROOT, 'bench', 'kamailio.cfg')
KGKCFG = os.path.join(ROOT, 'bench', 'kamailio_gk.cfg')
UAS_NO180 = os.path.join(ROOT, 'bench', 'sip_uas_no180.xml')
WORK = tempfile.mkdtemp(prefix='dpn-sipbench-')


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def udp_bound(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return True
    return False


class Element:
    """dpn or kam on 127.0.0.1:port forwarding to the UAS at target."""

    def __init__(self, kind, target, wrap=(), cfg_edit=None):
        """kind 'kamgk': bench/kamailio_gk.cfg, whose placeholders
        cfg_edit fills (bench/gk_vs_kamailio.py)."""
        self.kind, self.port = kind, free_port()
        if kind == 'dpn':
            cmd = [PROXY, '-l', '127.0.0.1:%d' % self.port,
                   '-t', '127.0.0.1:%d' % target]
        elif kind == 'floor':
            cmd = [FLOOR, '-l', str(self.port), '-t', str(target)]
        else:
            cfg = os.path.join(WORK, 'kamailio-%d.cfg' % self.port)
            with open(KGKCFG if kind == 'kamgk' else KCFG) as f:
                text = f.read().replace('LISTEN_PORT', str(self.port))
            with open(cfg, 'w') as f:
                f.write(cfg_edit(text) if cfg_edit else text.replace(
                    'TARGET', 'sip:127.0.0.1:%d' % target))
            cmd = ['kamailio', '-f', cfg, '-DD', '-E', '-x', 'tlsf',
                   '-m', '256', '-M', '16', '-Y', WORK,
                   '-P', os.path.join(WORK, 'k%d.pid' % self.port)]
        self.p = subprocess.Popen(list(wrap) + cmd, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(
                                      WORK, '%s-%d.err' % (kind, self.port)),
                                      'w'))
        deadline = time.time() + 60
        while not udp_bound(self.port):
            if time.time() > deadline or self.p.poll() is not None:
                self.stop()
                raise RuntimeError('%s did not start' % kind)
            time.sleep(0.2)
        time.sleep(1.0 if wrap else 0.3)   # workers up

    def pids(self):
        """The element's processes: the main one and its children."""
        out = [self.p.pid]
        for st in glob.glob('/proc/[0-9]*/stat'):
            try:
                with open(st) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.p.pid:
                out.append(int(st.split('/')[2]))
        return out

    def cpu_s(self):
        """(user, system) CPU-seconds of all the element's processes."""
        tick = os.sysconf('SC_CLK_TCK')
        user = system = 0
        for pid in self.pids():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
        return user / tick, system / tick

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def sipp(args, timeout):
    d = tempfile.mkdtemp(dir=WORK)
    p = subprocess.run(['timeout', '-k', '5', str(timeout), 'sipp'] + args,
                       cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return p.stdout


def count(out, what):
    m = re.findall(r'%s\s*\|\s*\d+\s*\|\s*(\d+)' % re.escape(what), out)
    return int(m[-1]) if m else 0


def uas(port, calls, scen, addr='127.0.0.1'):
    sc = ['-sn', 'uas'] if scen is None else ['-sf', scen]
    return subprocess.Popen(['timeout', '-k', '5', '600', 'sipp'] + sc +
                            ['-i', addr, '-p', str(port),
                             '-m', str(calls)],
                            cwd=WORK, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)


def uac(el_port, calls, rate, tmo, service='service'):
    args = ['-sn', 'uac', '-i', '127.0.0.1', '-p', str(free_port()),
            '-m', str(calls), '-r', str(rate), '-l', str(max(calls, 100)),
            '-recv_timeout', '10000', '-max_recv_loops', '20000',
            '-max_sched_loops', '20000', '-s', service,
            '127.0.0.1:%d' % el_port]
    out = sipp(args, tmo)
    return count(out, 'Successful call'), count(out, 'Failed call')


def stop_uas(u):
    """Kill the UAS's session: `timeout` and the sipp under it (killing
    `timeout` alone left sipp running, e.g. the idle runs' UAS)."""
    try:
        os.killpg(u.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    u.wait()


def callgrind_total(prefix):
    total = 0
    for fn in glob.glob(prefix + '*'):
        with open(fn, errors='replace') as f:
            for line in f:
                if line.startswith('summary:') or line.startswith('totals:'):
                    total += int(line.split()[1])
                    break
    return total


def cg_run(kind, calls):
    tport = free_port()
    prefix = os.path.join(WORK, 'cg-%s-%d-' % (kind, calls))
    wrap = ['valgrind', '--tool=callgrind', '--trace-children=yes',
            '--callgrind-out-file=' + prefix + '%p']
    u = uas(tport, max(calls, 1), None)
    el = Element(kind, tport, wrap)
    t0 = time.time()
    ok = failed = 0
    if calls:
        ok, failed = uac(el.port, calls, 20, calls // 20 + 120)
    else:
        time.sleep(cg_run.duration)
    cg_run.duration = time.time() - t0
    el.stop()
    stop_uas(u)
    return callgrind_total(prefix), ok, failed


cg_run.duration = 30


def mode_callgrind():
    res = {}
    for kind in ('dpn', 'kam'):
        full, ok, failed = cg_run(kind, 600)
        idle, _, _ = cg_run(kind, 0)
        res[kind] = (full - idle) / 600
        print('callgrind %s: %d instructions/call (600 calls at 20/s: %d '
              'ok, %d failed; total %d, idle %d over %.0f s)' %
              (kind, res[kind], ok, failed, full, idle, cg_run.duration),
              flush=True)
    print('callgrind ratio dpn/kam: %.3f' % (res['dpn'] / res['kam']),
          flush=True)


def cpu_run(kind, calls=10000, rate=1000):
    tport = free_port()
    u = uas(tport, calls, UAS_NO180)
    el = Element(kind, tport)
    c0 = el.cpu_s()
    ok, failed = uac(el.port, calls, rate, calls // rate + 120)
    c1 = el.cpu_s()
    el.stop()
    stop_uas(u)
    return (c1[0] - c0[0], c1[1] - c0[1]), ok, failed


def mode_cpu():
    runs = int(os.environ.get('BENCH_RUNS', '5'))
    kinds = ('dpn', 'kam', 'floor') if os.path.exists(FLOOR) else \
        ('dpn', 'kam')
    got = {k: [] for k in kinds}
    for i in range(runs):
        for kind in kinds:
            (usr, sys_), ok, failed = cpu_run(kind)
            got[kind].append(usr + sys_)
            print('cpu run %d %s: %.2f CPU-s per 10000 calls at 1000/s '
                  '(user %.2f, system %.2f; %d ok, %d failed)' %
                  (i + 1, kind, usr + sys_, usr, sys_, ok, failed),
                  flush=True)
    m = {k: statistics.median(v) for k, v in got.items()}
    print('cpu median: dpn %.2f s, kam %.2f s, ratio %.3f' %
          (m['dpn'], m['kam'], m['dpn'] / m['kam']), flush=True)
    if 'floor' in m:
        print('cpu median: floor (kernel only, 5 of the 6 sends) %.2f s = '
              '%.3f of kam' % (m['floor'], m['floor'] / m['kam']), flush=True)


def highest_rate(kinds, rates, run):
    """For each kind, the rates in turn until one has >= 0.1% failed calls
    (5 s of calls each); run(kind, rate, calls) -> (ok, failed). Prints a
    line per step and the highest good rate. Shared with
    bench/gk_vs_kamailio.py."""
    for kind in kinds:
        best = 0
        for r in rates:
            ok, failed = run(kind, r, r * 5)
            good = ok + failed >= r * 5 and failed * 1000 < r * 5
            print('rate %s %d/s: %d ok, %d failed%s' %
                  (kind, r, ok, failed, '' if good else '  <- over'),
                  flush=True)
            if not good:
                break
            best = r
        print('rate %s: highest with < 0.1%% failed: %d calls/s' %
              (kind, best), flush=True)


def rate_steps(default):
    return [int(r) for r in os.environ.get('BENCH_RATES', default).split(',')]


def mode_rate():
    def run(kind, r, calls):
        tport = free_port()
        u = uas(tport, calls, UAS_NO180)
        el = Element(kind, tport)
        got = uac(el.port, calls, r, 5 + 120)
        el.stop()
        stop_uas(u)
        return got
    highest_rate(('dpn', 'kam'), rate_steps('1000,2000,3000,4000,5000,6000,'
                                            '8000'), run)


def main():
    modes = sys.argv[1:] or ['callgrind', 'cpu', 'rate']
    if not os.path.exists(PROXY):
        sys.exit('build first: make (needs %s)' % PROXY)
    try:
        for m in modes:
            print('== %s  (%s)' % (m, subprocess.run(
                ['uptime'], capture_output=True, text=True).stdout.strip()),
                flush=True)
            {'callgrind': mode_callgrind, 'cpu': mode_cpu,
             'rate': mode_rate}[m]()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == '__main__':
    main()
