"""tests/lib/gatewayd.py — dpn-gatewayd for the integration tests: a config
file in a temp folder (short poll and retry times), the log, /metrics.

    g = Gatewayd(flat, mgmtd_url, secret, pool, gk_port, mac)
    g.wait_log(r'first address (\\S+)'); g.metric('dpn_gw_flat_reachable')
    g.stop()                     # SIGTERM; the exit code
"""
import http.client
import os
import re
import signal
import subprocess

from dpn_test import BUILD, free_port, tmpdir, wait_for
from sip import free_udp_port

GATEWAYD = os.path.join(BUILD, 'bin', 'dpn-gatewayd')


class Gatewayd:
    """dpn-gatewayd for `flat` with a config file in a temp folder; log in
    .log_path."""

    def __init__(self, flat, mgmtd_url, secret, pool, gk_port, mac, extra=(),
                 sip_port=None, start=True):
        self.dir = tmpdir('dpn-gw-')
        self.sip_port = sip_port or free_udp_port()
        self.metrics_port = free_port()
        sec = os.path.join(self.dir, 'secret')
        with open(sec, 'w') as f:
            f.write(secret + '\n')
        os.chmod(sec, 0o600)
        self.conf = os.path.join(self.dir, 'gatewayd.conf')
        with open(self.conf, 'w') as f:
            f.write('flat = %s\nmgmtd-url = %s\ngateway-secret-file = %s\n'
                    'mac = %s\naddresses = %s\nsip-port = %d\n'
                    'gatekeeper = 127.0.0.1:%d\nmetrics-listen = 127.0.0.1:%d\n'
                    'poll-interval = 300ms\nretry-max = 2s\nhttp-timeout = 3s\n'
                    % (flat, mgmtd_url, sec, mac, pool, self.sip_port, gk_port,
                       self.metrics_port))
        self.extra = list(extra)
        self.log_path = os.path.join(self.dir, 'log')
        self.p = None
        if start:
            self.start()

    def start(self, args=()):
        log = open(self.log_path, 'a')
        self.p = subprocess.Popen([GATEWAYD, '-f', self.conf] + self.extra + list(args),
                                  stdout=log, stderr=log)
        log.close()
        return self.p

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=20):
        return wait_for(lambda: re.search(pattern, self.log()), timeout=timeout,
                        what='gatewayd log %r; log:\n%s' % (pattern, self.log()[-3000:]))

    def metric(self, name):
        """A value from /metrics: `name` alone matches any labels, a name
        with {labels} that series only; None when absent."""
        c = http.client.HTTPConnection('127.0.0.1', self.metrics_port, timeout=5)
        try:
            c.request('GET', '/metrics')
            text = c.getresponse().read().decode()
        finally:
            c.close()
        labels = '' if '{' in name else r'(?:\{[^}]*\})?'
        m = re.search(r'^%s%s (\S+)$' % (re.escape(name), labels), text, re.M)
        return float(m.group(1)) if m else None

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode if self.p else None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *a):
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise RuntimeError('gatewayd exited %s:\n%s' % (rc, self.log()[-3000:]))
