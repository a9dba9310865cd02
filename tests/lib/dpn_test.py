"""tests/lib/dpn_test.py — what every dpn integration test shares: a
throwaway PostgreSQL cluster (scripts/pgcluster), free loopback ports,
waiting with a deadline, and a tiny runner that prints one line per case and
closes with "N passed, N failed".

Usage in a test program (tests/integration/NAME.py):

    import sys, os; sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
    from dpn_test import Cluster, case, run

    @case
    def allocation_is_idempotent(ctx): ...

    if __name__ == '__main__':
        with Cluster() as pg:
            run(pg)
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.environ.get('DPN_ROOT') or os.path.abspath(
    os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.environ.get('DPN_BUILD') or os.path.join(ROOT, 'build', 'san')
PGCLUSTER = os.path.join(ROOT, 'scripts', 'pgcluster')


def tmpdir(prefix='dpn-test-'):
    """A new temp folder that the unprivileged user dpn can reach."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


# Ports handed to the processes under test come from below the kernel's
# ephemeral range (32768-60999 on Debian): a port the kernel picks for some
# socket bound to port 0 (a starting sipp's, a client's) can then never be
# the one a test has just chosen and released.
PORT_LOW, PORT_HIGH = 20000, 32767
_ports = random.Random(os.getpid() ^ int(time.time() * 1000))
_given = set()      # handed out by this process: several may be unbound yet


def free_port(kind=socket.SOCK_STREAM, both=False):
    """A port on 127.0.0.1 that was free a moment ago (for UDP and TCP
    alike when `both`), chosen at random below the ephemeral range, never
    one this process was given before (a test often takes two or three
    before anything binds them)."""
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if both else (kind,)
    if len(_given) > (PORT_HIGH - PORT_LOW) // 4:     # a long bench loop
        _given.clear()
    for _ in range(200):
        port = _ports.randint(PORT_LOW, PORT_HIGH)
        if port in _given:
            continue
        try:
            for k in kinds:
                with socket.socket(socket.AF_INET, k) as s:
                    s.bind(('127.0.0.1', port))
        except OSError:
            continue
        _given.add(port)
        return port
    raise RuntimeError('no free port')


def wait_for(pred, timeout=10.0, what='condition', step=0.05):
    """Call pred() until it returns a true value; raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception:  # the thing waited for is not up yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError('timed out waiting for ' + what)
        time.sleep(step)


def handles_signal(pid, sig=signal.SIGTERM):
    """True once process pid blocks or catches sig, i.e. its own handling
    of sig is in place (or it is gone): before that, sig kills it by the
    default action, skipping its clean exit and the sanitizers' leak
    check."""
    try:
        with open('/proc/%d/status' % pid) as f:
            st = dict(ln.split(':', 1) for ln in f if ':' in ln)
    except (FileNotFoundError, ProcessLookupError):
        return True
    if st.get('State', '').split()[:1] == ['Z']:
        return True
    bit = 1 << (sig - 1)
    return any(int(st.get(k, '0'), 16) & bit for k in ('SigBlk', 'SigCgt'))


def stop_process(p, sig=signal.SIGTERM, timeout=20):
    """Send sig to the subprocess p once it handles sig (a daemon started
    a moment ago may not have blocked it yet: waited for up to timeout s),
    wait up to timeout s for it to exit, then SIGKILL; its exit status."""
    if p.poll() is None:
        deadline = time.monotonic() + timeout
        while (p.poll() is None and not handles_signal(p.pid, sig)
               and time.monotonic() < deadline):
            time.sleep(0.01)
        if p.poll() is None:
            p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


class Cluster:
    """A PostgreSQL cluster in a temp folder, removed on exit, with the Kea
    schema loaded (pgcluster start does that). `durable` keeps fsync on."""

    def __init__(self, durable=False):
        self.base = tmpdir('dpn-pg-')
        self.dir = os.path.join(self.base, 'pg')
        args = [PGCLUSTER, 'init', self.dir] + (['--durable'] if durable else [])
        subprocess.run(args, check=True)
        self.start()
        self.conninfo = 'host=%s dbname=dpn user=dpn' % self.dir

    def start(self):
        subprocess.run([PGCLUSTER, 'start', self.dir], check=True)

    def stop(self):
        subprocess.run([PGCLUSTER, 'stop', self.dir], check=True)

    def psql(self, sql, *extra):
        """Run SQL; return rows as lists of strings (NULL -> '')."""
        out = subprocess.run([PGCLUSTER, 'psql', self.dir, '-tA', '-F', '\t',
                              '-c', sql] + list(extra), check=True,
                             capture_output=True, text=True).stdout
        return [line.split('\t') for line in out.splitlines() if line != '']

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    def remove(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_cases = []


def case(fn):
    """Register a test case; cases run in the order they are defined."""
    _cases.append(fn)
    return fn


class Failed(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failed('%s: got %r, want %r' % (what, got, want))


def run(ctx=None):
    """Run the registered cases (those whose name contains $CASE, if set) with
    ctx; print one line each and a closing count; exit 0 only if all pass."""
    only = os.environ.get('CASE', '')
    passed = failed = 0
    for fn in _cases:
        if only not in fn.__name__:
            continue
        t0 = time.monotonic()
        try:
            fn(ctx)
            passed += 1
            print('ok     %-55s %6.2fs' % (fn.__name__, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            print('not ok %-55s %6.2fs' % (fn.__name__, time.monotonic() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


def run_in_cluster(make_ctx):
    """A test file's usual main: a throwaway PostgreSQL cluster, the file's
    context made on it (make_ctx(pg), which has a close()), every case run
    with it (run), the context closed whatever happened."""
    with Cluster() as pg:
        ctx = make_ctx(pg)
        try:
            run(ctx)
        finally:
            ctx.close()
