"""tests/lib/sip.py — helpers for lib/sip integration tests: start the test
proxy (tests/sip/proxy.c) and sipp peers on 127.0.0.1 with free ports,
bounded in calls and time, and read sipp's verdict.

    with Proxy(target_port) as px:          # px.port, px.stop() -> counters
        uas = Sipp.uas(port, calls=10)       # scenario: built-in or XML
        uac = Sipp.uac(px.port, port2, calls=10)
        uac.wait(); uas.wait()               # .rc, .successful, .failed
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from dpn_test import BUILD, ROOT, free_port, tmpdir, wait_for

SCEN = os.path.join(ROOT, 'tests', 'sip')
SIPP_TIMEOUT = 120          # hard bound on any one sipp run, seconds


def free_udp_port():
    """A port on 127.0.0.1 that was free a moment ago for both UDP and TCP
    (sipp and the proxy use the same number for both)."""
    return free_port(both=True)


class Proxy:
    """The test proxy on 127.0.0.1:port forwarding to 127.0.0.1:target (a
    port, or a list of ports to fork to: in parallel, or in that order when
    serial). t1_ms shortens T1 (and so timer B, 64*T1)."""

    def __init__(self, target_port, tcp=False, timer_c_ms=None, serial=False,
                 t1_ms=None):
        self.port = free_udp_port()
        targets = target_port if isinstance(target_port, (list, tuple)) \
            else [target_port]
        args = [os.path.join(BUILD, 'tests', 'sip', 'sip-proxy'),
                '-l', '127.0.0.1:%d' % self.port] + (['-T'] if tcp else [])
        for t in targets:
            args += ['-t', '127.0.0.1:%d' % t]
        if serial:
            args += ['-S']
        if t1_ms:
            args += ['-1', str(t1_ms)]
        if timer_c_ms:
            args += ['-C', str(timer_c_ms)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if line.strip() != 'ready':
            self.p.kill()
            raise RuntimeError('proxy did not start: %r %s' %
                               (line, self.p.stderr.read()))
        self.counters = None
        self.stderr = ''

    def stop(self):
        """SIGTERM, wait; return the counters line as a dict."""
        if self.counters is None:
            self.p.send_signal(signal.SIGTERM)
            out, self.stderr = self.p.communicate(timeout=30)
            self.rc = self.p.returncode
            self.counters = dict(kv.split('=') for kv in out.split()
                                 if '=' in kv)
        return self.counters

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.stop()


class Sipp:
    """One sipp process in its own temp folder (sipp writes logs to cwd)."""

    def __init__(self, args):
        self.dir = tmpdir('dpn-sipp-')
        self.p = subprocess.Popen(['sipp'] + args + ['-trace_err'],
                                  cwd=self.dir, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.rc = None

    @staticmethod
    def _scenario(name):
        if name in ('uac', 'uas'):
            return ['-sn', name]
        return ['-sf', os.path.join(SCEN, name + '.xml')]

    @classmethod
    def uas(cls, port, calls, scenario='uas', extra=()):
        return cls(cls._scenario(scenario) +
                   ['-i', '127.0.0.1', '-p', str(port), '-m', str(calls),
                    '-timeout', '90'] + list(extra))

    @classmethod
    def uac(cls, proxy_port, port, calls, scenario='uac', extra=()):
        return cls(cls._scenario(scenario) +
                   ['-i', '127.0.0.1', '-p', str(port), '-m', str(calls),
                    '-r', '10', '-l', str(calls), '-timeout', '90',
                    '-timeout_error'] + list(extra) +
                   ['127.0.0.1:%d' % proxy_port])

    def wait(self):
        try:
            self.out, _ = self.p.communicate(timeout=SIPP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.out, _ = self.p.communicate()
        self.rc = self.p.returncode
        self.errors = ''
        for f in os.listdir(self.dir):
            if f.endswith('_errors.log'):
                with open(os.path.join(self.dir, f), errors='replace') as fh:
                    self.errors += fh.read()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self

    def count(self, what):
        """The cumulative 'Successful call' / 'Failed call' figure."""
        m = re.findall(r'%s\s*\|\s*\d+\s*\|\s*(\d+)' % re.escape(what),
                       self.out)
        return int(m[-1]) if m else None

    def lost_and_retrans(self):
        """Sums of the 'Lost' and 'Retrans' columns of the final message
        table (lines with an arrow and at least four counters)."""
        lost = retrans = 0
        table = self.out.rsplit('Messages  Retrans', 1)[-1]
        for line in table.splitlines():
            if '----' not in line or '>' not in line and '<' not in line:
                continue
            nums = [int(x) for x in re.findall(r'\b\d+\b', line)]
            if len(nums) >= 4:
                lost += nums[-1]
                retrans += nums[1]
        return lost, retrans

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)


def message_log(path):
    """The text of sipp's -trace_msg log at path, which is removed; it is
    also appended to the file $SIPP_DUMP names, if set (to read what a
    party saw after a run)."""
    with open(path, errors='replace') as f:
        text = f.read()
    os.unlink(path)
    if os.environ.get('SIPP_DUMP'):
        with open(os.environ['SIPP_DUMP'], 'a') as f:
            f.write(text)
    return text


def udp_exchange(port, data, timeout=5.0):
    """Send one datagram to 127.0.0.1:port from a fresh socket and return
    the first answer (bytes), or None after timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        s.settimeout(timeout)
        s.sendto(data, ('127.0.0.1', port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ans, _ = s.recvfrom(65535)
            except socket.timeout:
                return None
            if not ans.startswith(b'SIP/2.0 100 '):
                return ans
        return None
