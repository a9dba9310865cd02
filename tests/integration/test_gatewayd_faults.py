#!/usr/bin/env python3
"""test_gatewayd_faults — a mgmtd that answers garbage, too much or too
slowly never stalls SIP: dpn-gatewayd against a hostile HTTP server (a
Python stand-in: the real mgmtd never misbehaves this way) that gives a
good block and then answers the handsets poll with broken JSON, a 2 MiB
body, or not at all; SIP OPTIONS on the first address keep being answered
at once, the faults are logged and counted, and the old handset list is
kept. Also: a block outside `addresses` is refused, a bad config fails -n,
a SIGTERM that comes while the settings are read ends in a clean stop."""
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import (BUILD, case, check, check_eq, free_port, run, stop_process,  # noqa: E402
                      tmpdir, wait_for)
from sip import free_udp_port  # noqa: E402

GATEWAYD = os.path.join(BUILD, 'bin', 'dpn-gatewayd')
FIRST = '127.34.0.1'
S = {'mode': 'good'}

BLOCK = ('{"flat_id": 1, "block": {"first": "127.34.0.1", "last": "127.34.0.4", "size": 4},'
         ' "gateway": {"mac": "02:00:00:34:00:00", "address": "127.34.0.1"}, "handsets": []}')
HANDSETS = ('{"flat_id": 1, "flat": "100-1101-1201", "realm": "dpn", "handsets": '
            '[{"suffix": 1, "number": "100-1101-1201-1", "sip_username": "100-1101-1201-1",'
            ' "ha1_md5": "00000000000000000000000000000000", "ha1_sha256": null,'
            ' "mac": "02:00:00:34:00:01", "address": "127.34.0.2"}]}')


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def answer(self, body, status=200):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.path == '/api/v1/broker/allocate':
            self.answer(BLOCK if S['mode'] != 'outside' else BLOCK.replace('127.34.', '127.35.'))
        else:
            self.answer('{"differences": []}')

    def do_GET(self):
        S['polls'] = S.get('polls', 0) + 1
        mode = S['mode']
        if mode == 'garbage':
            self.answer('{"handsets": [ {"suffix": "x"')
        elif mode == 'huge':
            self.answer(b'[' + b'0,' * (1 << 20) + b'0]')
        elif mode == 'slow':
            time.sleep(3)
            self.answer(HANDSETS)
        else:
            self.answer(HANDSETS)


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # gatewayd hanging up on a huge or slow answer is the point


def options_rtt(port):
    """Seconds an OPTIONS to the first address takes to be answered (None:
    no answer within 2 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        s.settimeout(2)
        t0 = time.monotonic()
        s.sendto(('OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%d\r\n'
                  'From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %f@t\r\n'
                  'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
                  % (FIRST, port, s.getsockname()[1], int(t0 * 1e6), FIRST, t0)).encode(),
                 (FIRST, port))
        try:
            data = s.recv(65535)
        except socket.timeout:
            return None
        return time.monotonic() - t0 if data.startswith(b'SIP/2.0 200') else None


class Gw:
    def __init__(self, addresses='127.34.0.0/24', extra=()):
        self.dir = tmpdir('dpn-gwf-')
        sec = os.path.join(self.dir, 'secret')
        with open(sec, 'w') as f:
            f.write('s3cret\n')
        self.port = free_udp_port()
        self.args = [GATEWAYD, '--flat', '100-1101-1201', '--mgmtd-url',
                     'http://127.0.0.1:%d' % S['http_port'], '--gateway-secret-file', sec,
                     '--mac', '02:00:00:34:00:00', '--addresses', addresses,
                     '--sip-port', str(self.port), '--gatekeeper', '127.0.0.1:%d' % free_udp_port(),
                     '--poll-interval', '200ms', '--http-timeout', '1s', '--retry-max', '1s'] + list(extra)
        self.log_path = os.path.join(self.dir, 'log')
        with open(self.log_path, 'w') as log:
            self.p = subprocess.Popen(self.args, stdout=log, stderr=log)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=15):
        return wait_for(lambda: re.search(pattern, self.log()), timeout=timeout,
                        what='log %r:\n%s' % (pattern, self.log()[-2000:]))

    def stop(self):
        return stop_process(self.p)


def sip_stays_prompt(g, seconds):
    """OPTIONS answered within 0.5 s throughout."""
    end = time.monotonic() + seconds
    worst = 0
    while time.monotonic() < end:
        rtt = options_rtt(g.port)
        check(rtt is not None, 'OPTIONS answered while mgmtd misbehaves')
        worst = max(worst, rtt)
        time.sleep(0.1)
    check(worst < 0.5, 'SIP not stalled: worst %.3f s' % worst)


@case
def garbage_huge_and_slow_answers_do_not_stall_sip(ctx):
    S['mode'] = 'good'
    g = Gw()
    try:
        g.wait_log(r'SIP on %s:%d' % (re.escape(FIRST), g.port))
        g.wait_log(r'1 handset from mgmtd \(1 with an address\)')
        S['mode'] = 'garbage'
        sip_stays_prompt(g, 1.5)
        g.wait_log(r'handsets: a malformed answer; kept the old list')
        S['mode'] = 'huge'
        sip_stays_prompt(g, 1.5)
        g.wait_log(r'handsets: Message too long')
        S['mode'] = 'slow'
        sip_stays_prompt(g, 2.5)
        g.wait_log(r'handsets: Connection timed out')
        S['mode'] = 'good'
    finally:
        check_eq(g.stop(), 0, 'clean exit (no leak under ASan): %s' % g.log()[-1500:])


@case
def malformed_sip_is_refused_and_the_flat_keeps_working(ctx):
    S['mode'] = 'good'
    g = Gw()
    try:
        g.wait_log(r'SIP on %s:%d' % (re.escape(FIRST), g.port))
        junk = [b'\x00\xff' * 700, b'INVITE\r\n\r\n', b'SIP/2.0 200 OK\r\n\r\n',
                b'INVITE sip:x@y SIP/2.0\r\nVia: nonsense\r\nContent-Length: 99999\r\n\r\n',
                b'REGISTER sip:%s SIP/2.0\r\n' % FIRST.encode() + b'X: y\r\n' * 600 + b'\r\n']
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for j in junk * 20:
                s.sendto(j, (FIRST, g.port))
        time.sleep(0.2)
        check(options_rtt(g.port) is not None, 'still answers after 100 malformed datagrams')
        check(g.p.poll() is None, 'still running')
    finally:
        check_eq(g.stop(), 0, 'clean exit (no leak under ASan): %s' % g.log()[-1500:])


@case
def a_block_outside_the_allowed_addresses_is_refused(ctx):
    S['mode'] = 'outside'
    g = Gw()
    try:
        g.wait_log(r'block 127\.35\.0\.1-127\.35\.0\.4 is outside addresses 127\.34\.0\.0/24; not used')
        check('SIP on' not in g.log(), 'nothing bound')
    finally:
        S['mode'] = 'good'
        check_eq(g.stop(), 0, 'clean exit')


@case
def sigterm_while_the_settings_load_still_stops_it_cleanly(ctx):
    """A stop that comes while the daemon is still reading its settings
    (here: a FIFO whose writer holds it open) is kept for the loop: the
    daemon starts, then stops with exit 0 and its clean exit (sanitizers'
    leak check), not killed by SIGTERM's default action (-15)."""
    fifo = os.path.join(tmpdir('dpn-gwf-'), 'gatewayd.conf')
    os.mkfifo(fifo)
    g = Gw(extra=('-f', fifo))
    try:
        fd = wait_for(lambda: os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), timeout=20,
                      what='gatewayd opening its settings')   # ENXIO until then
        g.p.send_signal(signal.SIGTERM)     # it is blocked reading them
        os.write(fd, b'# everything is on the command line\n')
        os.close(fd)
        check_eq(g.p.wait(timeout=30), 0, 'exit status: %s' % g.log()[-1500:])
        check(re.search(r'signal 15: shutting down', g.log()), 'the stop was logged: %s'
              % g.log()[-1500:])
    finally:
        stop_process(g.p)


@case
def bad_settings_fail_the_check(ctx):
    d = tmpdir('dpn-gwf-')
    sec = os.path.join(d, 'secret')
    open(sec, 'w').write('x\n')
    p = subprocess.run([GATEWAYD, '-n', '--flat', '100-1101', '--mgmtd-url', 'ftp://x',
                        '--gateway-secret-file', sec, '--mac', 'zz', '--addresses', '10.0.0.1/8',
                        '--gatekeeper', '127.0.0.1:5060'], capture_output=True, text=True,
                       timeout=30)
    check_eq(p.returncode, 1, 'exit 1')
    for field in ('flat', 'mgmtd-url', 'mac', 'addresses'):
        check(re.search(r'^dpn-gatewayd: %s: ' % field, p.stderr, re.M),
              '%s named: %s' % (field, p.stderr))
    p = subprocess.run([GATEWAYD, '-n'], capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 1, 'required settings missing: exit 1')
    check('gatekeeper' in p.stderr and 'flat' in p.stderr, 'names them: %s' % p.stderr)


if __name__ == '__main__':
    srv = QuietServer(('127.0.0.1', free_port()), Hostile)
    S['http_port'] = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        run()
    finally:
        srv.shutdown()
