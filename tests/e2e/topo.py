"""tests/e2e/topo.py — network namespaces for the system test: create them
with a per-run prefix (e2e<pid>-), wire them with veth pairs and bridges
made inside the namespaces (never in the host's own), run processes in
them, open sockets in them from this process, and tear everything down on
exit, failure, timeout or a signal; namespaces of dead earlier runs are
removed first.

    t = Topo()                       # prefix e2e<pid>-, cleanup registered
    t.ns('out'); t.ns('gk')
    t.veth('out', 'eth0', 'gk', 'pub0')
    t.addr('gk', 'pub0', '203.0.113.1/24')
    p = t.spawn('gk', ['dpn-gatekeeper', ...], log=path)
    with t.inside('out'):            # sockets made here live in 'out'
        s = socket.socket(...)
    t.close()
"""
import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
PREFIX_RE = re.compile(r'^e2e(\d+)-')


def sh(*args, check=True, ns=None, timeout=20):
    """Run a command (in namespace ns if given); its stdout as text."""
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(cmd), p.returncode,
                                                 p.stderr.strip()))
    return p.stdout


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_ns(name):
    """Kill what runs in namespace name (only processes inside it), then
    delete it."""
    pids = sh('ip', 'netns', 'pids', name, check=False).split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(int(p))]
        time.sleep(0.02)
    sh('ip', 'netns', 'del', name, check=False)


STATE = '/run/dpn-e2e'           # what each run must undo: STATE/<pid>


def remove_stale():
    """Delete the namespaces of e2e runs whose process is gone (killed
    with SIGKILL), and stop the database clusters and remove the folders
    they recorded."""
    for line in sh('ip', 'netns', 'list', check=False).splitlines():
        name = line.split()[0] if line.split() else ''
        m = PREFIX_RE.match(name)
        if m and not _alive(int(m.group(1))):
            _remove_ns(name)
    for pid in os.listdir(STATE) if os.path.isdir(STATE) else ():
        if pid.isdigit() and not _alive(int(pid)):
            _undo(os.path.join(STATE, pid))


def _undo(path):
    with open(path) as f:
        lines = [ln.rstrip('\n').split(' ', 1) for ln in f if ' ' in ln]
    for kind, arg in reversed(lines):
        if kind == 'pg':
            subprocess.run([os.path.join(os.path.dirname(__file__), '..', '..',
                                         'scripts', 'pgcluster'), 'stop', arg],
                           capture_output=True, timeout=60)
        elif kind == 'dir':
            shutil.rmtree(arg, ignore_errors=True)
    os.unlink(path)


class Topo:
    """The namespaces of one run; close() (also run at exit and on SIGINT,
    SIGTERM, SIGHUP, SIGALRM) stops every process and deletes every
    namespace it made."""

    def __init__(self):
        if os.geteuid() != 0:
            raise RuntimeError('the system test needs root (ip netns)')
        remove_stale()
        self.prefix = 'e2e%d-' % os.getpid()
        self.state = os.path.join(STATE, str(os.getpid()))
        self.names = []
        self.procs = []
        self.signal_cleanups = []
        self.closed = False
        atexit.register(self.close)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, self._on_signal)

    def remember(self, kind, arg):
        """Record what a later run must undo should this one be killed
        (SIGKILL leaves no chance): 'pg' DIR (a cluster to stop), 'dir'
        PATH (a folder to remove)."""
        os.makedirs(STATE, exist_ok=True)
        with open(self.state, 'a') as f:
            f.write('%s %s\n' % (kind, arg))

    def on_signal(self, fn):
        """Also call fn (the caller's cleanup: a database cluster, temp
        folders) when a signal ends the run."""
        self.signal_cleanups.append(fn)

    def _on_signal(self, signum, frame):
        """Tear down and exit at once: unwinding instead would let the
        test's own finally blocks run against namespaces already gone."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)      # one teardown, not nested
        self.close()
        for fn in reversed(self.signal_cleanups):
            try:
                fn()
            except Exception as e:      # the rest must still run
                print('e2e: cleanup: %s' % e, flush=True)
        print('e2e: stopped by signal %d, everything removed' % signum, flush=True)
        os._exit(128 + signum)

    def full(self, name):
        return self.prefix + name

    def ns(self, name):
        """Create namespace name (loopback up); returns its full name."""
        full = self.full(name)
        sh('ip', 'netns', 'add', full)
        self.names.append(full)
        sh('ip', 'link', 'set', 'lo', 'up', ns=full)
        return full

    def drop(self, name):
        """Delete namespace name and what runs in it (a power cut)."""
        full = self.full(name)
        mine = [p for p in self.procs if getattr(p, 'e2e_ns', None) == full]
        for p in mine:              # killed and reaped: no zombie to wait for
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = [p for p in self.procs if p not in mine]
        _remove_ns(full)
        if full in self.names:
            self.names.remove(full)

    def has(self, name):
        return self.full(name) in self.names

    def veth(self, ns_a, if_a, ns_b, if_b, mac_a=None):
        """A veth pair: if_a in ns_a, if_b in ns_b, both up."""
        a, b = self.full(ns_a), self.full(ns_b)
        sh('ip', 'link', 'add', if_a, 'type', 'veth', 'peer', 'name', if_b,
           'netns', b, ns=a)
        if mac_a:
            sh('ip', 'link', 'set', if_a, 'address', mac_a, ns=a)
        sh('ip', 'link', 'set', if_a, 'up', ns=a)
        sh('ip', 'link', 'set', if_b, 'up', ns=b)

    def bridge(self, ns, name, ports=(), mac=None):
        """A bridge (up) in ns with the given interfaces as ports. Give it
        a mac when it has an address: a bridge without one takes the lowest
        MAC of its ports, so it changes when a port comes or goes and its
        neighbours' ARP entries then point nowhere for seconds."""
        full = self.full(ns)
        sh('ip', 'link', 'add', name, 'type', 'bridge', 'forward_delay', '0', ns=full)
        if mac:
            sh('ip', 'link', 'set', name, 'address', mac, ns=full)
        sh('ip', 'link', 'set', name, 'up', ns=full)
        for p in ports:
            self.port(ns, name, p)

    def port(self, ns, bridge, ifname):
        sh('ip', 'link', 'set', ifname, 'master', bridge, ns=self.full(ns))

    def addr(self, ns, ifname, cidr, *extra):
        sh('ip', 'addr', 'add', cidr, 'dev', ifname, *extra, ns=self.full(ns))

    def route(self, ns, *args):
        sh('ip', 'route', 'replace', *args, ns=self.full(ns))

    def sysctl(self, ns, key, value):
        sh('sysctl', '-qw', '%s=%s' % (key, value), ns=self.full(ns))

    def run(self, ns, *args, check=True, timeout=20):
        return sh(*args, ns=self.full(ns), check=check, timeout=timeout)

    def spawn(self, ns, args, log=None, cwd=None, env=None, stdout=None):
        """Start args in ns; the Popen is stopped by close() (by PID)."""
        out = open(log, 'ab') if log else subprocess.DEVNULL
        p = subprocess.Popen(['ip', 'netns', 'exec', self.full(ns)] + list(args),
                             stdout=stdout or out, stderr=out, cwd=cwd, env=env)
        if log:
            out.close()
        p.e2e_ns = self.full(ns)
        self.procs.append(p)
        return p

    def inside(self, ns):
        """Context manager: this thread is in namespace ns meanwhile."""
        return _Inside(self.full(ns))

    def close(self):
        if self.closed:
            return
        self.closed = True
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name in reversed(self.names):
            _remove_ns(name)
        self.names = []
        if os.path.exists(self.state):
            os.unlink(self.state)


class _Inside:
    def __init__(self, full):
        self.full = full

    def __enter__(self):
        self.home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
        fd = os.open('/run/netns/' + self.full, os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            _setns(self.home)
        finally:
            os.close(self.home)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'setns: ' + os.strerror(err))


if __name__ == '__main__':      # python3 topo.py clean: remove stale runs
    if sys.argv[1:] == ['clean']:
        remove_stale()
