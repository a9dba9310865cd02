"""tests/lib/gatewayd.py — dpn-gatewayd for integration tests: one daemon
for one flat with its config in a temp folder, its log and /metrics; and
the in-dialog requests a test UA sends after a 2xx (route set from
Record-Route).

    gw = Gatewayd(url, flat, secret, mac, pool, gk_port)   # .first, .sip_port
    gw.wait_log(r'flat .* reachable'); gw.metric('dpn_gw_flat_reachable')
    gw.stop(); gw.start()                                   # a restart
    ua.s.sendto(in_dialog(ua, resp, 'ACK'), gw.first_hop(resp))
"""
import http.client
import os
import re
import subprocess

from dpn_test import BUILD, free_port, stop_process, tmpdir, wait_for
from sip import free_udp_port

GATEWAYD = os.path.join(BUILD, 'bin', 'dpn-gatewayd')


class Gatewayd:
    """dpn-gatewayd for `flat` (started under `wrap`, e.g. valgrind, when
    given); SIGTERM on stop, which must exit 0 (the sanitizers' leak check
    runs at exit)."""

    def __init__(self, mgmtd_url, flat, secret, mac, pool, gk_port, extra=(),
                 wrap=(), start_timeout=20, sip_port=None, start=True,
                 wait=True):
        """start: run it now; wait: and wait for its SIP socket (its first
        address in .first then)."""
        self.dir = tmpdir('dpn-gw-')
        self.flat = flat
        self.p = None
        self.run_from = 0               # where this run's lines begin
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
        self.log_path = os.path.join(self.dir, 'log')
        self.cmd = list(wrap) + [GATEWAYD, '-f', self.conf] + list(extra)
        if not start:
            return
        self.start()
        if wait:
            m = self.wait_log(r'SIP on (127\.\d+\.\d+\.\d+):%d' % self.sip_port,
                              timeout=start_timeout)
            self.first = m.group(1)

    def start(self, args=()):
        """(Re)start the daemon, with args after the others; its log goes
        on in the same file (run_log() and wait_log() see this run's part).
        Returns the process."""
        with open(self.log_path, 'ab') as log:
            self.run_from = log.tell()
            self.p = subprocess.Popen(self.cmd + list(args), stdout=log,
                                      stderr=log)
        return self.p

    def log(self):
        """The whole log, every run."""
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def run_log(self):
        """The log of the latest start only."""
        with open(self.log_path, 'rb') as f:
            f.seek(self.run_from)
            return f.read().decode(errors='replace')

    def wait_log(self, pattern, timeout=20):
        """The first match of pattern in the latest start's log, waited
        for (a line of an earlier run never answers it)."""
        return wait_for(lambda: re.search(pattern, self.run_log()), timeout=timeout,
                        what='gatewayd %s log %r; log:\n%s'
                        % (self.flat, pattern, self.log()[-3000:]))

    def metric(self, name):
        c = http.client.HTTPConnection('127.0.0.1', self.metrics_port, timeout=5)
        try:
            c.request('GET', '/metrics')
            text = c.getresponse().read().decode()
        finally:
            c.close()
        labels = '' if '{' in name else r'(?:\{[^}]*\})?'   # a series, or any
        m = re.search(r'^%s%s (\S+)$' % (re.escape(name), labels), text, re.M)
        return float(m.group(1)) if m else None

    def stop(self):
        """SIGTERM once it handles it (SIGKILL after 20 s); the exit status
        (None: never started)."""
        if self.p is None:
            return None
        return stop_process(self.p)

    def close(self):
        """Stop; raise if it did not exit 0 or a sanitizer spoke."""
        self.stop()
        log = self.log()[-4000:]
        if self.p.returncode != 0 or 'Sanitizer' in log or 'runtime error' in log:
            raise RuntimeError('gatewayd %s exited %s:\n%s'
                               % (self.flat, self.p.returncode, log))


def _uri(addr):
    """The URI inside a name-addr value ('<sip:x@h;lr>' -> 'sip:x@h;lr')."""
    m = re.search(r'<([^>]*)>', addr)
    return m.group(1) if m else addr.split(';')[0].strip()


def route_set(resp):
    """The UAC's route set from a 2xx: Record-Route values, last first."""
    rr = []
    for v in resp.get('Record-Route'):
        rr += [x.strip() for x in v.split(',')]
    return list(reversed(rr))


def first_hop(resp):
    """(host, port) of the first route of resp's route set."""
    m = re.match(r'sips?:(?:[^@]*@)?([^:;>]+)(?::(\d+))?', _uri(route_set(resp)[0]))
    return m.group(1), int(m.group(2) or 5060)


def in_dialog(ua, inv_cseq, resp, method, from_user='caller', extra=''):
    """The ACK (cseq of the INVITE) or BYE (one more) of UA ua for the 2xx
    resp: Request-URI its Contact, Route the route set."""
    import uuid
    cseq = inv_cseq if method == 'ACK' else inv_cseq + 1
    routes = ''.join('Route: %s\r\n' % r for r in route_set(resp))
    return ('%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
            '%sMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n'
            'CSeq: %d %s\r\n%sContent-Length: 0\r\n\r\n'
            % (method, _uri(resp.one('Contact')), ua.addr, ua.port,
               uuid.uuid4().hex[:12], routes, resp.one('From'), resp.one('To'),
               resp.one('Call-ID'), cseq, method, extra)).encode()
