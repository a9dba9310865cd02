"""tests/lib/mgmtd.py — helpers for tests that need mgmtd: migrate a Cluster,
start/stop dpn-mgmtd on a free loopback port, create admins, API tokens and
gateway credentials, dump the dpn tables, and an HTTP client that speaks the
API (session cookie + CSRF, bearer token, gateway basic auth).

    from dpn_test import Cluster
    import mgmtd
    with Cluster() as pg:
        mgmtd.migrate(pg)
        with mgmtd.Server(pg) as srv:
            pw = mgmtd.add_user(pg, 'admin')
            c = srv.client()
            c.login('admin', pw)
            status, body = c.post('/api/v1/sites', {'number': 100})
"""
import base64
import hashlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import tempfile

from dpn_test import BUILD, ROOT, free_port, wait_for

MGMTD = os.path.join(BUILD, 'bin', 'dpn-mgmtd')
SCHEMA = os.path.join(ROOT, 'schema')
WEB = os.path.join(ROOT, 'web')


def migrate(cluster, schema_dir=SCHEMA, check=True):
    """Run `dpn-mgmtd migrate` on the cluster; return the CompletedProcess
    (stdout/stderr as text). Raises on failure when check is true."""
    p = subprocess.run([MGMTD, 'migrate', '--db', cluster.conninfo,
                        '--schema-dir', schema_dir],
                       capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError('migrate failed (%d): %s' % (p.returncode, p.stderr))
    return p


def add_user(cluster, name, role='operator', password=None, buildings=()):
    """Create an admin user with `dpn-mgmtd user add`; return the password
    (a random one unless given)."""
    password = password or secrets.token_urlsafe(12)
    args = [MGMTD, 'user', 'add', '--db', cluster.conninfo, '--role', role]
    for b in buildings:
        args += ['--building', str(b)]
    subprocess.run(args + [name], input=password + '\n', check=True,
                   capture_output=True, text=True, timeout=60)
    return password


def add_token(cluster, user, name=None):
    """Create an admin API token with `dpn-mgmtd token add`; return it."""
    args = [MGMTD, 'token', 'add', '--db', cluster.conninfo]
    if name:
        args += ['--name', name]
    p = subprocess.run(args + [user], check=True, capture_output=True,
                       text=True, timeout=60)
    return p.stdout.strip()


def add_gateway(cluster, flat_id):
    """Give flat flat_id a gateway with fresh credentials straight in SQL (the
    way PUT /flats/{id}/gateway stores them); return (username, secret)."""
    user = 'gw-%d-%s' % (flat_id, secrets.token_hex(4))
    secret = secrets.token_hex(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    cluster.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash) "
                 "VALUES (%d, '%s', decode('%s', 'hex')) "
                 "ON CONFLICT (flat_id) DO UPDATE SET username = EXCLUDED.username, "
                 "secret_hash = EXCLUDED.secret_hash" % (flat_id, user, digest))
    return user, secret


def seed(cluster, site_number=100, cidr='127.16.0.0/16', flats=4,
         building=1101, block_size=4, max_block_size=10):
    """A site with one pool and one building of `flats` flats (numbers 1201,
    1202, ...) made straight in SQL; return (site_id, [flat ids])."""
    site = cluster.scalar(
        "INSERT INTO dpn.sites (number, block_size, max_block_size) VALUES "
        "(%d, %d, %d) RETURNING id" % (site_number, block_size, max_block_size))
    cluster.psql("INSERT INTO dpn.pools (site_id, cidr) VALUES (%s, '%s')"
                 % (site, cidr))
    b = cluster.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES "
                       "(%s, %d) RETURNING id" % (site, building))
    cluster.psql("INSERT INTO dpn.flats (building_id, number) SELECT %s, "
                 "1201 + g FROM generate_series(0, %d) g" % (b, flats - 1))
    ids = [int(r[0]) for r in cluster.psql(
        "SELECT id FROM dpn.flats WHERE building_id = %s ORDER BY number" % b)]
    return int(site), ids


def invariants(cluster):
    """What must hold whatever happened: a list of violations (empty when
    all is well). Every block has its gateway's assignment at its first
    address, every assignment lies in its flat's block and has its Kea host
    row, no address is held twice in a site, no blocks overlap."""
    checks = {
        'block without its gateway assignment':
            "SELECT b.id FROM dpn.blocks b WHERE NOT EXISTS (SELECT 1 FROM "
            "dpn.assignments a WHERE a.block_id = b.id AND a.gateway_id IS NOT "
            "NULL AND a.addr = lower(b.range))",
        'assignment outside a block of its flat':
            "SELECT a.id FROM dpn.assignments a LEFT JOIN dpn.blocks b ON "
            "b.id = a.block_id AND b.flat_id = a.flat_id WHERE b.id IS NULL OR "
            "NOT b.range @> a.addr",
        'assignment without its Kea host row':
            "SELECT a.id FROM dpn.assignments a WHERE NOT EXISTS (SELECT 1 FROM "
            "public.hosts h WHERE h.dhcp_identifier = dpn.kea_flex_id("
            "a.circuit_id, a.mac) AND h.dhcp_identifier_type = 4 AND "
            "h.dhcp4_subnet_id = a.pool_id AND h.ipv4_address = a.addr)",
        'Kea host row without an assignment':
            "SELECT h.host_id FROM public.hosts h WHERE NOT EXISTS (SELECT 1 "
            "FROM dpn.assignments a WHERE h.dhcp_identifier = dpn.kea_flex_id("
            "a.circuit_id, a.mac) AND h.dhcp4_subnet_id = a.pool_id)",
        'address held twice':
            "SELECT site_id, addr FROM dpn.assignments GROUP BY 1, 2 "
            "HAVING count(*) > 1",
        'overlapping blocks':
            "SELECT x.id FROM dpn.blocks x JOIN dpn.blocks y ON x.site_id = "
            "y.site_id AND x.id < y.id AND x.range && y.range",
    }
    bad = []
    for what, sql in checks.items():
        rows = cluster.psql(sql)
        if rows:
            bad.append('%s: %r' % (what, rows[:5]))
    return bad


def dump(cluster, skip=('sessions',)):
    """Every row of every dpn table and of public.hosts, as text, for
    before/after comparisons."""
    tables = [r[0] for r in cluster.psql(
        "SELECT table_name FROM information_schema.tables WHERE "
        "table_schema = 'dpn' AND table_type = 'BASE TABLE' ORDER BY 1")]
    out = []
    for t in tables:
        if t in skip:
            continue
        rows = cluster.psql('SELECT * FROM dpn.%s t ORDER BY t::text' % t)
        out.append('%s %r' % (t, rows))
    out.append('hosts %r' % cluster.psql(
        'SELECT dhcp_identifier, dhcp4_subnet_id, ipv4_address FROM public.hosts '
        'ORDER BY 1, 2'))
    return '\n'.join(out)


class Client:
    """One keep-alive HTTP/1.1 connection to mgmtd. Answers are
    (status, body): body is the decoded JSON, or the text when not JSON.
    The last answer's headers are in .headers."""

    def __init__(self, port, timeout=30, source=None, tls=None):
        self.port = port
        self.timeout = timeout
        self.source = source      # a loopback address to connect from
        self.tls = tls            # an ssl.SSLContext: speak HTTPS
        self.conn = None
        self.cookie = None
        self.csrf = None
        self.auth = None
        self.headers = {}

    def bearer(self, token):
        self.auth = 'Bearer ' + token
        return self

    def basic(self, user, secret):
        self.auth = 'Basic ' + base64.b64encode(
            ('%s:%s' % (user, secret)).encode()).decode()
        return self

    def raw(self, method, path, body=None, headers=None):
        """Send body (bytes/str as is, else JSON) and return (status, body)."""
        h = {}
        if isinstance(body, (dict, list, int, bool)):
            body = json.dumps(body)
        if body is not None:
            h['Content-Type'] = 'application/json'
        if self.auth:
            h['Authorization'] = self.auth
        if self.cookie:
            h['Cookie'] = 'dpn_session=' + self.cookie
        if self.csrf and method not in ('GET', 'HEAD'):
            h['X-CSRF-Token'] = self.csrf
        h.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                src = (self.source, 0) if self.source else None
                if self.tls:
                    self.conn = http.client.HTTPSConnection(
                        '127.0.0.1', self.port, timeout=self.timeout,
                        source_address=src, context=self.tls)
                else:
                    self.conn = http.client.HTTPConnection(
                        '127.0.0.1', self.port, timeout=self.timeout,
                        source_address=src)
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError):
                self.close()
                if attempt:
                    raise
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.getheader('Connection', '').lower() == 'close':
            self.close()
        text = data.decode('utf-8', 'replace')
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text

    def get(self, path):
        return self.raw('GET', path)

    def post(self, path, body=None):
        return self.raw('POST', path, json.dumps(body) if body is not None else None)

    def patch(self, path, body):
        return self.raw('PATCH', path, json.dumps(body))

    def put(self, path, body=None):
        return self.raw('PUT', path, json.dumps(body) if body is not None else None)

    def delete(self, path):
        return self.raw('DELETE', path)

    def login(self, username, password):
        """POST /api/v1/session; keeps the cookie and CSRF token."""
        status, body = self.post('/api/v1/session',
                                 {'username': username, 'password': password})
        if status != 200:
            raise RuntimeError('login failed: %s %r' % (status, body))
        cookie = self.headers.get('set-cookie', '')
        self.cookie = cookie.split(';')[0].split('=', 1)[1]
        self.csrf = body['csrf']
        return body

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


class Server:
    """dpn-mgmtd serve on a free 127.0.0.1 port against a cluster; stopped
    (SIGTERM, then SIGKILL) on exit. Its log is in .log_path."""

    def __init__(self, cluster, args=(), wait_healthy=True, tls=None):
        self.cluster = cluster
        self.tls = tls            # ssl.SSLContext when it serves HTTPS
        self.args = list(args)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        fd, self.log_path = tempfile.mkstemp(prefix='dpn-mgmtd-', suffix='.log')
        os.close(fd)
        self.proc = None
        self.start(wait_healthy)

    def start(self, wait_healthy=True):
        log = open(self.log_path, 'a')
        self.proc = subprocess.Popen(
            [MGMTD, 'serve', '--db', self.cluster.conninfo, '--listen',
             '127.0.0.1:%d' % self.port, '--web-dir', WEB] + self.args,
            stdout=log, stderr=log)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError('mgmtd exited %s: %s' % (self.proc.returncode,
                                                            self.log()))
            c = Client(self.port, timeout=5, tls=self.tls)
            try:
                status, _ = c.get('/healthz')
            finally:
                c.close()
            return status == 200 or not wait_healthy
        wait_for(up, timeout=30, what='mgmtd on port %d' % self.port)

    def client(self, source=None):
        """A Client of this server, connecting from address source (any
        127/8 address) when given."""
        return Client(self.port, source=source, tls=self.tls)

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop(self, sig=signal.SIGTERM):
        """Stop by PID; returns the exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        """kill -9 by PID; a later start() brings it back on the same port."""
        self.stop(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stops mgmtd; a clean stop must exit 0 (the sanitizers' leak check
        runs at exit and fails it otherwise)."""
        rc = self.stop()
        log = self.log()
        os.unlink(self.log_path)
        if exc_type is None and rc != 0:
            raise RuntimeError('mgmtd exited %s on SIGTERM:\n%s' % (rc, log))


def wait_status(client, path, want, timeout=20):
    """Poll GET path until its status is want; return the last (status, body)."""
    last = [None]

    def ok():
        last[0] = client.get(path)
        return last[0][0] == want
    wait_for(ok, timeout=timeout, what='%s -> %d' % (path, want), step=0.2)
    return last[0]
