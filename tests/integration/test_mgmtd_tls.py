#!/usr/bin/env python3
"""test_mgmtd_tls — mgmtd serves HTTPS when given a certificate and key
(issue 15, item 4): a throwaway certificate made with openssl at test time
(no key is ever committed), the API and the broker over TLS, Secure session
cookies, plain HTTP refused on the TLS port, and bad TLS options refused at
start."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, free_port, run, tmpdir  # noqa: E402
import mgmtd  # noqa: E402

S = {}


def make_cert(d):
    key, cert = os.path.join(d, 'key.pem'), os.path.join(d, 'cert.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
                    '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)      # readable by root only: read before the drop
    return key, cert


@case
def api_and_broker_over_https(pg):
    ctx = ssl.create_default_context(cafile=S['cert'])
    args = ['--tls-cert', S['cert'], '--tls-key', S['key']]
    with mgmtd.Server(pg, args, tls=ctx) as srv:
        c = srv.client()
        check_eq(c.get('/healthz')[0], 200, 'healthz over TLS')
        c.login('admin', S['pw'])
        check('; Secure' in c.headers['set-cookie'], 'Secure cookie: %s'
              % c.headers['set-cookie'])
        check_eq(c.get('/api/v1/sites')[0], 200, 'API over TLS')
        gw = srv.client().basic(*S['gw'])
        status, body = gw.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:08:01'})
        check_eq(status, 200, 'broker over TLS: %r' % body)
        # Plain HTTP on the TLS port gets no HTTP answer.
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b''
        s.close()
        check(not data.startswith(b'HTTP/1.1 200'), 'plain HTTP answered: %r' % data)
        # A client that does not trust the certificate is refused.
        bad = mgmtd.Client(srv.port, tls=ssl.create_default_context())
        try:
            bad.get('/healthz')
            check(False, 'an untrusted certificate was accepted')
        except ssl.SSLError:
            pass


@case
def bad_tls_options_are_refused(pg):
    def serve(*extra):
        return subprocess.run([mgmtd.MGMTD, 'serve', '--db', pg.conninfo, '-n'] + list(extra),
                              capture_output=True, text=True, timeout=30)
    p = serve('--tls-cert', S['cert'])
    check(p.returncode != 0 and 'go together' in p.stderr, 'cert alone: %r' % p.stderr)
    p = serve('--tls-cert', S['cert'], '--tls-key', S['cert'] + '.missing')
    check(p.returncode != 0 and 'tls' in p.stderr, 'missing key: %r' % p.stderr)
    p = serve('--tls-cert', S['cert'], '--tls-key', S['key'])
    check_eq(p.returncode, 0, 'good options: %s' % p.stderr)
    junk = os.path.join(S['dir'], 'junk.pem')
    with open(junk, 'w') as f:
        f.write('not a key\n')
    p = subprocess.run([mgmtd.MGMTD, 'serve', '--db', pg.conninfo, '--listen',
                        '127.0.0.1:%d' % free_port(), '--tls-cert', S['cert'],
                        '--tls-key', junk], capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, 'a key that is no key: exit %d %r' % (p.returncode, p.stderr))


if __name__ == '__main__':
    S['dir'] = tmpdir('dpn-tls-')
    try:
        S['key'], S['cert'] = make_cert(S['dir'])
        with Cluster() as cluster:
            mgmtd.migrate(cluster)
            S['pw'] = mgmtd.add_user(cluster, 'admin')
            site, flats = mgmtd.seed(cluster, site_number=400, cidr='127.40.0.0/24',
                                     flats=1, building=1)
            S['gw'] = mgmtd.add_gateway(cluster, flats[0])
            run(cluster)
    finally:
        shutil.rmtree(S['dir'], ignore_errors=True)
