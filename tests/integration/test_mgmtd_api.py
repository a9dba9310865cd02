#!/usr/bin/env python3
"""test_mgmtd_api — the mgmtd framework over real HTTP against a real
PostgreSQL: sessions, CSRF, bearer tokens, gateway Basic auth, roles,
request limits, static files, healthz/metrics, privilege drop, and what
happens when PostgreSQL goes away and comes back."""
import http.client
import os
import shutil
import socket
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for  # noqa: E402
import mgmtd  # noqa: E402

S = {}   # shared: server, users, tokens


def count(pg, table):
    return int(pg.scalar('SELECT count(*) FROM dpn.%s' % table))


@case
def healthz_answers_with_security_headers(pg):
    c = S['srv'].client()
    status, body = c.get('/healthz')
    check_eq((status, body), (200, {'status': 'ok', 'database': 'ok'}), 'healthz')
    check_eq(c.headers.get('x-content-type-options'), 'nosniff', 'nosniff')
    check('frame-ancestors' in c.headers.get('content-security-policy', ''), 'CSP')
    check_eq(c.headers.get('content-type'), 'application/json', 'content type')


@case
def wrong_password_gets_401_and_no_session(pg):
    c = S['srv'].client()
    for user, pw in (('admin', 'wrong-password'), ('nobody', 'whatever12')):
        status, body = c.post('/api/v1/session', {'username': user, 'password': pw})
        check_eq(status, 401, 'login %s' % user)
        check('set-cookie' not in c.headers, 'no cookie on failure')
    check_eq(count(pg, 'sessions'), 0, 'sessions after failed logins')


@case
def session_cookie_csrf_and_logout(pg):
    c = S['srv'].client()
    body = c.login('admin', S['pw'])
    cookie = c.headers['set-cookie']
    for flag in ('HttpOnly', 'SameSite=Strict', 'Path=/'):
        check(flag in cookie, 'cookie has %s: %s' % (flag, cookie))
    check_eq(body['user']['role'], 'operator', 'role')
    status, me = c.get('/api/v1/session')
    check_eq((status, me['csrf'], me['user']['username']), (200, c.csrf, 'admin'),
             'GET session')
    csrf, c.csrf = c.csrf, None
    before = mgmtd.dump(pg)
    status, err = c.post('/api/v1/sites', {'number': 901})
    check_eq(status, 403, 'write without CSRF')
    check('CSRF' in err['error'], 'says CSRF: %r' % err)
    c.csrf = 'f' * 64
    check_eq(c.post('/api/v1/sites', {'number': 901})[0], 403, 'wrong CSRF')
    check_eq(mgmtd.dump(pg), before, 'nothing written without CSRF')
    c.csrf = csrf
    status, site = c.post('/api/v1/sites', {'number': 901, 'name': 'csrf ok'})
    check_eq(status, 201, 'write with CSRF')
    check_eq(c.delete('/api/v1/sites/%d' % site['id'])[0], 204, 'delete site')
    check_eq(c.delete('/api/v1/session')[0], 204, 'logout')
    check_eq(c.get('/api/v1/session')[0], 401, 'session gone after logout')
    check_eq(count(pg, 'sessions'), 0, 'session row removed')


@case
def cookie_secure_flag_behind_tls(pg):
    with mgmtd.Server(pg, ['--cookie-secure']) as srv:
        c = srv.client()
        c.login('admin', S['pw'])
        check('; Secure' in c.headers['set-cookie'], 'Secure: %s' % c.headers['set-cookie'])
        check_eq(c.delete('/api/v1/session')[0], 204, 'logout')
        check('; Secure' in c.headers['set-cookie'], 'Secure on the cleared cookie')
    c = S['srv'].client()
    c.login('admin', S['pw'])
    check('Secure' not in c.headers['set-cookie'], 'no Secure by default')
    c.delete('/api/v1/session')


@case
def expired_sessions_are_refused(pg):
    c = S['srv'].client()
    c.login('admin', S['pw'])
    check_eq(c.get('/api/v1/session')[0], 200, 'fresh session')
    pg.psql("UPDATE dpn.sessions SET expires_at = now() - interval '1 second'")
    check_eq(c.get('/api/v1/session')[0], 401, 'expired session')
    c.cookie = 'not-a-token'
    check_eq(c.get('/api/v1/session')[0], 401, 'garbage cookie')
    # The next login sweeps expired sessions away.
    S['srv'].client().login('admin', S['pw'])
    check_eq(pg.scalar('SELECT count(*) FROM dpn.sessions WHERE expires_at < now()'),
             '0', 'expired sessions removed')
    pg.psql('DELETE FROM dpn.sessions')


@case
def bearer_token_needs_no_csrf_and_bad_tokens_are_refused(pg):
    c = S['srv'].client().bearer(S['token'])
    status, site = c.post('/api/v1/sites', {'number': 902})
    check_eq(status, 201, 'bearer write')
    check_eq(c.delete('/api/v1/sites/%d' % site['id'])[0], 204, 'bearer delete')
    for bad in ('0' * 64, 'short', S['token'][:-1] + 'x', ''):
        status, body = S['srv'].client().bearer(bad).get('/api/v1/sites')
        check_eq(status, 401, 'bad bearer %r' % bad)
    status, body = c.get('/api/v1/session')
    check_eq((status, body['csrf']), (200, None), 'bearer session has no csrf')
    check_eq(c.delete('/api/v1/session')[0], 400, 'no session to end with a token')
    actors = pg.psql("SELECT DISTINCT actor FROM dpn.audit_log WHERE action LIKE 'site.%'")
    check(['user:admin'] in actors, 'audit names the token user: %r' % actors)


@case
def gateway_credentials_only_open_the_broker(pg):
    site, flats = mgmtd.seed(pg, site_number=200, cidr='127.20.0.0/24', flats=1,
                             building=1)
    user, secret = mgmtd.add_gateway(pg, flats[0])
    gw = S['srv'].client().basic(user, secret)
    check_eq(gw.get('/api/v1/sites')[0], 401, 'gateway on an admin route')
    admin = S['srv'].client().bearer(S['token'])
    check_eq(admin.post('/api/v1/broker/allocate',
                        {'gateway_mac': '02:00:00:00:00:01'})[0], 401,
             'admin token on the broker')
    bad = S['srv'].client().basic(user, secret[:-1] + ('1' if secret[-1] == '0' else '0'))
    status, body = bad.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:00:01'})
    check_eq(status, 401, 'wrong secret')
    check('Basic' in bad.headers.get('www-authenticate', ''), 'WWW-Authenticate')
    for header in ('Basic !!!', 'Basic ' + 'QUFB' * 200, 'Basic Zm9v', 'Digest x'):
        status, _ = S['srv'].client().raw(
            'POST', '/api/v1/broker/allocate', '{}', {'Authorization': header})
        check_eq(status, 401, 'malformed %r' % header[:20])
    status, body = gw.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:00:01'})
    check_eq(status, 200, 'right secret: %r' % body)
    check_eq(body['gateway']['address'], '127.20.0.1', 'first address')
    S['gw_site'] = site


@case
def manager_sees_only_sites_of_their_buildings(pg):
    b = pg.scalar('SELECT id FROM dpn.buildings WHERE site_id = %d' % S['gw_site'])
    pw = mgmtd.add_user(pg, 'manager1', role='manager', buildings=[b])
    other = pg.scalar("INSERT INTO dpn.sites (number) VALUES (777) RETURNING id")
    c = S['srv'].client()
    body = c.login('manager1', pw)
    check_eq((body['user']['role'], body['user']['buildings']), ('manager', [int(b)]),
             'manager session')
    status, lst = c.get('/api/v1/sites')
    check_eq([s['id'] for s in lst['items']], [S['gw_site']], 'manager site list')
    check_eq(c.get('/api/v1/sites/%s' % other)[0], 404, 'other site hidden')
    check_eq(c.get('/api/v1/sites/%d' % S['gw_site'])[0], 200, 'own site')
    check_eq(c.post('/api/v1/sites', {'number': 903})[0], 403, 'manager site write')
    check_eq(c.delete('/api/v1/pools/1')[0], 403, 'manager pool delete')


@case
def bodies_methods_and_paths_are_bounded(pg):
    c = S['srv'].client().bearer(S['token'])
    before = mgmtd.dump(pg)
    status, body = c.raw('POST', '/api/v1/sites', '{"number": 1, "name": "%s"}'
                         % ('x' * 70000))
    check_eq(status, 413, 'body over 64 KiB')
    # Declared too big: answered before the body is read.
    conn = http.client.HTTPConnection('127.0.0.1', S['srv'].port, timeout=10)
    conn.putrequest('POST', '/api/v1/sites')
    conn.putheader('Authorization', 'Bearer ' + S['token'])
    conn.putheader('Content-Type', 'application/json')
    conn.putheader('Content-Length', str(100 * 1024 * 1024))
    conn.endheaders()
    resp = conn.getresponse()
    check_eq(resp.status, 413, 'declared 100 MiB')
    conn.close()
    # Chunked, no length given: counted while it arrives.
    s = socket.create_connection(('127.0.0.1', S['srv'].port), timeout=10)
    s.sendall(('POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s'
               '\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked'
               '\r\n\r\n' % S['token']).encode())
    try:
        for _ in range(10):
            s.sendall(b'2000\r\n' + b' ' * 0x2000 + b'\r\n')
        s.sendall(b'0\r\n\r\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
    check(s.recv(100).startswith(b'HTTP/1.1 413'), 'chunked body over 64 KiB')
    s.close()
    c = S['srv'].client().bearer(S['token'])
    status, body = c.raw('POST', '/api/v1/sites', '{"number": 5}',
                         {'Content-Type': 'text/plain'})
    check_eq(status, 415, 'not JSON')
    check_eq(c.raw('PUT', '/api/v1/sites', '{}')[0], 405, 'wrong method')
    status, body = c.get('/api/v1/nothing/here')
    check_eq((status, body['error']), (404, 'no such resource'), 'unknown path')
    check_eq(c.get('/api/v1/sites/abc')[0], 404, 'non-numeric id')
    check_eq(c.get('/api/v1/sites/0')[0], 404, 'id 0')
    check_eq(c.get('/api/v1/sites/99999999999999999999')[0], 404, 'huge id')
    check_eq(c.get('/api/v1/sites?per_page=501')[0], 422, 'per_page over 500')
    check_eq(c.get('/api/v1/sites?page=x')[1].get('field'), 'page', 'page named')
    check_eq(mgmtd.dump(pg), before, 'database unchanged')


@case
def idle_connections_and_slow_senders_are_cut(pg):
    with mgmtd.Server(pg, ['--timeout', '2']) as srv:
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
        s.sendall(b'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\n')
        data = s.recv(100)   # the server closes the connection: b''
        s.close()
        check(data == b'' or data.startswith(b'HTTP/1.1 4'), 'closed: %r' % data)


@case
def static_files_are_safe(pg):
    c = S['srv'].client()
    status, text = c.get('/')
    check(status == 200 and '<html' in text, '/ is index.html')
    check_eq(c.headers['content-type'], 'text/html; charset=utf-8', 'html type')
    check("default-src 'self'" in c.headers['content-security-policy'], 'CSP')
    check_eq(c.get('/css/app.css')[0], 200, 'css')
    check_eq(c.headers['content-type'], 'text/css; charset=utf-8', 'css type')
    check_eq(c.get('/js/app.js')[0], 200, 'js')
    check_eq(c.headers['content-type'], 'text/javascript; charset=utf-8', 'js type')
    for path in ('/../mgmtd/main.c', '/%2e%2e/Makefile', '/js/../../Makefile',
                 '/js/', '/js', '/build.mk', '/.hidden',
                 '/index.html/x', '//etc/passwd', '/nonexistent.html'):
        status, body = c.get(path)
        check_eq(status, 404, 'GET %s' % path)
    check_eq(c.raw('POST', '/index.html', '{}')[0], 405, 'POST to a file')


@case
def static_files_never_follow_links_out_of_the_web_folder(pg):
    web = tmpdir('dpn-web-')
    try:
        with open(os.path.join(web, 'index.html'), 'w') as f:
            f.write('<html>home</html>')
        with open(os.path.join(web, 'ok.txt'), 'w') as f:
            f.write('fine')
        os.symlink('/etc/passwd', os.path.join(web, 'passwd.txt'))
        os.symlink('/etc', os.path.join(web, 'etc'))
        with mgmtd.Server(pg, ['--web-dir', web]) as srv:
            c = srv.client()
            check_eq(c.get('/ok.txt'), (200, 'fine'), 'a plain file')
            for path in ('/passwd.txt', '/etc/hostname.txt', '/etc/passwd'):
                check_eq(c.get(path)[0], 404, 'GET %s' % path)
    finally:
        shutil.rmtree(web)


@case
def connections_per_address_are_limited(pg):
    with mgmtd.Server(pg, ['--max-conns-per-ip', '3']) as srv:
        def served_connection():
            # The start-up probe's connection may still count for a moment.
            s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
            try:
                s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
                if s.recv(4096).startswith(b'HTTP/1.1 200'):
                    return s
            except OSError:
                pass
            s.close()
            return None
        held = [wait_for(served_connection, timeout=10, what='a connection')
                for _ in range(3)]
        extra = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        try:
            extra.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            data = extra.recv(4096)
        except ConnectionResetError:
            data = b''
        check_eq(data, b'', 'a fourth connection from one address is closed')
        for s in held + [extra]:
            s.close()
        wait_for(lambda: srv.client().get('/healthz')[0] == 200, timeout=10,
                 what='served again once the others closed')


@case
def metrics_count_requests(pg):
    c = S['srv'].client()
    status, text = c.get('/metrics')
    check_eq(status, 200, 'metrics')
    check('dpn_http_requests_total{method="POST",route="/api/v1/session",code="401"}'
          in text, 'login failures counted')
    check('dpn_http_request_seconds_bucket{le="+Inf"}' in text, 'histogram')
    check('dpn_broker_operations_total{op="allocate",result="ok"} 1' in text,
          'broker operation counted')
    check('dpn_pool_addresses{site="200",pool="127.20.0.0/24",state="free"} 250'
          in text, 'pool utilisation: %s' % text[-600:])


@case
def login_attempts_are_rate_limited(pg):
    with mgmtd.Server(pg, ['--login-rate', '5']) as srv:
        c = srv.client()
        codes = [c.post('/api/v1/session', {'username': 'admin', 'password': 'bad-bad-bad'})[0]
                 for _ in range(7)]
        check_eq(codes, [401] * 5 + [429] * 2, 'login answers')
        check_eq(c.headers.get('retry-after'), '60', 'Retry-After')


@case
def serve_runs_unprivileged_after_binding(pg):
    pid = S['srv'].proc.pid
    with open('/proc/%d/status' % pid) as f:
        uids = [line.split()[1:] for line in f if line.startswith('Uid:')][0]
    want = os.getuid()
    if os.getuid() == 0:
        import pwd
        want = pwd.getpwnam('dpn').pw_uid
    check_eq(set(uids), {str(want)}, 'real/effective/saved/fs uid of mgmtd')


@case
def check_only_flag_validates_options(pg):
    ok = subprocess.run([mgmtd.MGMTD, 'serve', '-n', '--db', pg.conninfo],
                        capture_output=True, text=True)
    check_eq(ok.returncode, 0, 'good config: ' + ok.stderr)
    for args in (['--listen', 'nowhere'], ['--threads', '0'],
                 ['--web-dir', '/nonexistent'], ['--bogus']):
        p = subprocess.run([mgmtd.MGMTD, 'serve', '-n', '--db', pg.conninfo] + args,
                           capture_output=True, text=True)
        check(p.returncode != 0 and p.stderr, 'refused %r' % args)


@case
def account_commands(pg):
    p = subprocess.run([mgmtd.MGMTD, 'user', 'add', '--db', pg.conninfo, 'gen1'],
                       input='', capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.startswith('password: '), 'generated: %r' % p.stdout)
    pw = p.stdout.split()[1]
    S['srv'].client().login('gen1', pw)
    p = subprocess.run([mgmtd.MGMTD, 'user', 'add', '--db', pg.conninfo, 'short1'],
                       input='abc\n', capture_output=True, text=True)
    check(p.returncode != 0 and 'password' in p.stderr, 'short password refused')
    p = subprocess.run([mgmtd.MGMTD, 'user', 'add', '--db', pg.conninfo, 'gen1'],
                       input='long-enough-1\n', capture_output=True, text=True)
    check(p.returncode != 0, 'duplicate user refused')
    p = subprocess.run([mgmtd.MGMTD, 'token', 'add', '--db', pg.conninfo, 'nosuch'],
                       capture_output=True, text=True)
    check(p.returncode != 0 and 'no such user' in p.stderr, 'token for nobody')
    hashes = pg.psql("SELECT password_hash FROM dpn.users WHERE username = 'gen1'")
    check(hashes[0][0].startswith('$y$') and pw not in hashes[0][0], 'yescrypt stored')


@case
def database_gone_gives_503_then_recovers(pg):
    c = S['srv'].client().bearer(S['token'])
    check_eq(c.get('/api/v1/sites')[0], 200, 'before')
    pg.stop()
    try:
        status, body = c.get('/healthz')
        check_eq((status, body['database']), (503, 'unavailable'), 'healthz down')
        status, body = c.get('/api/v1/sites/1')
        check_eq(status, 503, 'API while down: %r' % body)
        check('database unavailable' in body['error'], 'clear message: %r' % body)
        status, body = S['srv'].client().basic('gw', 'x').post(
            '/api/v1/broker/allocate', {'gateway_mac': '02:00:00:00:00:09'})
        check_eq(status, 503, 'broker while down')
    finally:
        pg.start()
    mgmtd.wait_status(c, '/healthz', 200)
    check_eq(c.get('/api/v1/sites')[0], 200, 'API after the restart')
    check(S['srv'].proc.poll() is None, 'mgmtd still running')


@case
def starts_without_the_database_and_connects_when_it_comes(pg):
    pg.stop()
    try:
        with mgmtd.Server(pg, wait_healthy=False) as srv:
            c = srv.client()
            status, body = c.get('/healthz')
            check_eq(status, 503, 'healthz before the database: %r' % body)
            check_eq(c.get('/')[0], 200, 'static files need no database')
            pg.start()
            mgmtd.wait_status(c, '/healthz', 200)
            check_eq(srv.client().bearer(S['token']).get('/api/v1/sites')[0], 200,
                     'API once the database is up')
    finally:
        pg.start()

if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        S['pw'] = mgmtd.add_user(cluster, 'admin')
        S['token'] = mgmtd.add_token(cluster, 'admin')
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
