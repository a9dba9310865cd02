#!/usr/bin/env python3
"""test_mgmtd_skeleton — dpn-mgmtd serve on the daemon skeleton (lib/daemon):
a config file with the command line's names, `-n` naming FILE:LINE and
exiting non-zero, SIGHUP applying a changed reloadable setting (and
refusing a bad file without changing anything), the privilege drop, and
the separate /metrics + /healthz endpoint switched on by one setting."""
import os
import pwd
import signal
import subprocess
import sys
import urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import (Cluster, case, check, check_eq, free_port, run,  # noqa: E402
                      tmpdir, wait_for)
import mgmtd  # noqa: E402

S = {}


def conf(text):
    d = S.setdefault('dir', tmpdir())
    # Read again on SIGHUP, after the privilege drop: readable by all.
    os.chmod(d, 0o755)
    path = os.path.join(d, 'mgmtd.conf')
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def check_only(*args):
    return subprocess.run([mgmtd.MGMTD, 'serve', '-n'] + list(args),
                          capture_output=True, text=True)


@case
def check_names_file_and_line_of_every_error(pg):
    path = conf('# mgmtd\n'
                'db = "%s"\n'
                'threads = 0\n'
                'listen = localhost:80\n'
                'max-conns-per-ip = 10\n'
                'login-rate = 30\n'
                'no-such-setting = 1\n'
                'login-rate = 31\n' % pg.conninfo)
    p = check_only('-f', path)
    check(p.returncode != 0, '-n on a bad file exits non-zero: %r' % p.stdout)
    for line, what in ((3, 'threads: must be 1 to 256'),
                       (4, 'listen: want a numeric ADDRESS:PORT'),
                       (7, 'no-such-setting: no such setting'),
                       (8, 'login-rate: set twice (first on line 6)')):
        check('%s:%d: %s' % (path, line, what) in p.stderr,
              'error names %s:%d: %s' % (path, line, p.stderr))
    check('configuration OK' not in p.stdout, 'not OK')
    good = conf('db = "%s"\nthreads = 2\ntimeout = 1m\n' % pg.conninfo)
    p = check_only('-f', good)
    check_eq((p.returncode, p.stdout.strip()), (0, 'dpn-mgmtd: configuration OK'),
             'good file: ' + p.stderr)
    # The command line wins over the file, and is checked the same way.
    p = check_only('-f', good, '--timeout', '2h')
    check(p.returncode != 0 and '--timeout: must be 1 to 3600 s' in p.stderr,
          'command line checked: %r' % p.stderr)
    p = check_only('-f', '/nonexistent/mgmtd.conf')
    check(p.returncode != 0 and '/nonexistent/mgmtd.conf: No such file' in p.stderr,
          'missing file named: %r' % p.stderr)


@case
def help_lists_every_setting(pg):
    p = subprocess.run([mgmtd.MGMTD, 'serve', '--help'], capture_output=True,
                       text=True)
    check_eq(p.returncode, 0, '--help')
    for opt in ('--db CONNINFO', '--listen ADDR:PORT', '--max-conns N',
                '--kea-socket PATH', '-d, --debug', '--metrics-listen ADDR:PORT',
                '-f, --config FILE', '-n, --check'):
        check(opt in p.stdout, '%s in --help' % opt)


def log_has(srv, text):
    return text in srv.log()


@case
def sighup_applies_a_changed_setting(pg):
    path = conf('debug = no\nmax-conns = 500\n')
    with mgmtd.Server(pg, ['-f', path]) as srv:
        c = srv.client()
        check_eq(c.get('/healthz')[0], 200, 'healthz')
        sock = c.conn.sock
        check(not log_has(srv, 'GET /healthz -> 200'), 'no debug lines yet')
        conf('debug = yes\nmax-conns = 600\n')
        srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log_has(srv, 'reload: 1 setting changed'),
                 what='the reload')
        check(log_has(srv, 'reload: debug changed'), 'debug reloaded')
        check(log_has(srv, 'max-conns: changed; needs a restart'),
              'max-conns needs a restart: ' + srv.log())
        check_eq(c.get('/healthz')[0], 200, 'healthz after the reload')
        check(c.conn is not None and c.conn.sock is sock,
              'the keep-alive connection opened before SIGHUP still serves')
        wait_for(lambda: log_has(srv, 'GET /healthz -> 200'),
                 what='a debug line per request after the reload')
        # A bad file changes nothing and the server goes on.
        conf('debug = no\nmax-conns = nope\n')
        srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log_has(srv, 'reload: the configuration has errors'),
                 what='the refused reload')
        check('%s:2: max-conns: want a whole number' % path in srv.log(),
              'reload error names the line')
        status, text = c.get('/metrics')
        check_eq(status, 200, 'metrics')
        check('dpn_config_reloads_total{result="ok"} 1' in text and
              'dpn_config_reloads_total{result="error"} 1' in text,
              'reloads counted')
        n = srv.log().count('GET /healthz -> 200')
        check_eq(c.get('/healthz')[0], 200, 'still serving')
        wait_for(lambda: srv.log().count('GET /healthz -> 200') > n,
                 what='debug still on after the refused reload')


@case
def drops_privileges_after_binding(pg):
    if os.getuid() != 0:
        print('  (not root: nothing to drop; CI runs this as root)')
        return
    with mgmtd.Server(pg) as srv:
        pw = pwd.getpwnam('dpn')
        with open('/proc/%d/status' % srv.proc.pid) as f:
            st = dict(line.split(':', 1) for line in f)
        check_eq(set(st['Uid'].split()), {str(pw.pw_uid)}, 'uids')
        check_eq(set(st['Gid'].split()), {str(pw.pw_gid)}, 'gids')
        check_eq(st['Groups'].split(), [str(pw.pw_gid)], 'supplementary groups')
        check('running as dpn' in srv.log(), 'logged')
    # A user that does not exist: refused by -n, before binding anything.
    p = check_only('--db', pg.conninfo, '--user', 'no-such-user-dpn')
    check(p.returncode != 0 and 'user: no-such-user-dpn: no such user' in p.stderr,
          'unknown user: %r' % p.stderr)


def get(port, path):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@case
def metrics_listen_serves_metrics_and_healthz(pg):
    port = free_port()
    with mgmtd.Server(pg, ['--metrics-listen', '127.0.0.1:%d' % port]) as srv:
        check_eq(srv.client().get('/healthz')[0], 200, 'main port')
        status, text = get(port, '/metrics')
        check_eq(status, 200, '/metrics')
        check('dpn_http_requests_total{method="GET",route="/healthz",code="200"} '
              in text, 'requests counted: ' + text[:400])
        check('dpn_broker_operations_total{op="allocate",result="ok"} 0' in text,
              'broker families')
        check('dpn_db_errors_total' in text, 'scraped at render time')
        check_eq(get(port, '/healthz'), (200, '{"status":"ok"}\n'), '/healthz')
        check_eq(get(port, '/api/v1/sites')[0], 404, 'nothing else there')
        pg.stop()
        try:
            status, body = get(port, '/healthz')
            check_eq(status, 503, 'healthz without the database: ' + body)
            check('database unavailable' in body, body)
        finally:
            pg.start()


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        run(cluster)
