"""tests/lib/broker.py — helpers for the schema and broker tests: apply the
migrations with the real runner (dpn-mgmtd migrate), build a small site,
and talk SQL through one persistent psql per caller (so that 64 sessions
cost 64 processes, not one per statement)."""
import json
import os
import subprocess
import threading

from dpn_test import BUILD, ROOT, PGCLUSTER

SCHEMA_DIR = os.path.join(ROOT, 'schema')


def mgmtd_bin():
    """The dpn-mgmtd of this build; the migration runner lives there."""
    for b in (BUILD, os.path.join(ROOT, 'build', 'rel')):
        p = os.path.join(b, 'bin', 'dpn-mgmtd')
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError('dpn-mgmtd not built (make %s/bin/dpn-mgmtd)' % BUILD)


def apply_schema(pg):
    """Apply schema/NNN_*.sql to the cluster with `dpn-mgmtd migrate`."""
    subprocess.run([mgmtd_bin(), 'migrate', '--db', pg.conninfo,
                    '--schema-dir', SCHEMA_DIR], check=True,
                   capture_output=True, text=True)


class SqlError(Exception):
    """A statement failed; sqlstate is the five-character SQLSTATE."""

    def __init__(self, sqlstate, message):
        super().__init__('%s: %s' % (sqlstate, message))
        self.sqlstate = sqlstate
        self.message = message


class Session:
    """One psql process kept open: each query() is one statement (or one
    explicit transaction), answered as rows of strings. Errors come back as
    SqlError with the SQLSTATE; the session stays usable."""

    _MARK = '__dpn_done__'

    def __init__(self, pg, actor=None):
        args = [PGCLUSTER, 'psql', pg.dir, '-tA', '-F', '\t', '-q',
                '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose']
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  bufsize=1)
        self.lock = threading.Lock()
        self.query("\\set VERBOSITY verbose")
        if actor:
            self.query("SET dpn.actor = '%s'" % actor.replace("'", "''"))

    def query(self, sql):
        with self.lock:
            self.p.stdin.write(sql.rstrip().rstrip(';') + ';\n')
            self.p.stdin.write("\\echo %s\n" % self._MARK)
            self.p.stdin.flush()
            lines = []
            while True:
                line = self.p.stdout.readline()
                if line == '':
                    raise RuntimeError('psql ended: ' + ''.join(lines))
                line = line.rstrip('\n')
                if line == self._MARK:
                    break
                lines.append(line)
        errs = [l for l in lines if l.startswith(('ERROR:', 'psql:'))]
        if errs:
            text = '\n'.join(lines)
            state = ''
            for l in lines:
                if 'ERROR:' in l:
                    part = l.split('ERROR:', 1)[1].strip()
                    state = part.split(':', 1)[0].strip()
                    break
            raise SqlError(state, text)
        return [l.split('\t') for l in lines if l != '']

    def json(self, sql):
        """The single jsonb value a broker function returns, decoded."""
        rows = self.query(sql)
        return json.loads(rows[0][0])

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=10)


def q(v):
    """A SQL literal for a Python value (tests only, values are ours)."""
    if v is None:
        return 'NULL'
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, dict)):
        return "'%s'::jsonb" % json.dumps(v).replace("'", "''")
    return "'%s'" % str(v).replace("'", "''")


def mac(n, prefix=0x02):
    """A locally administered MAC made from an integer."""
    b = [prefix] + [(n >> s) & 0xff for s in (32, 24, 16, 8, 0)]
    return ':'.join('%02x' % x for x in b)


def make_site(pg, number=100, cidr='127.16.0.0/16', flats=4, block_size=4,
              max_block_size=10, building=1101, first_flat=1201):
    """A site with one pool, one building and `flats` flats, each with a
    gateway row. Returns dict(site, pool, building, flats=[ids],
    gateways=[ids])."""
    site = int(pg.scalar(
        "INSERT INTO dpn.sites (number, name, block_size, max_block_size) "
        "VALUES (%d, 'test', %d, %d) RETURNING id" % (number, block_size,
                                                     max_block_size)))
    pool = int(pg.scalar("INSERT INTO dpn.pools (site_id, cidr) VALUES "
                         "(%d, %s) RETURNING id" % (site, q(cidr))))
    bld = int(pg.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES "
                        "(%d, %d) RETURNING id" % (site, building)))
    fl = [int(r[0]) for r in pg.psql(
        "INSERT INTO dpn.flats (building_id, number) SELECT %d, %d + g "
        "FROM generate_series(0, %d) g RETURNING id" % (bld, first_flat,
                                                        flats - 1))]
    gws = [int(r[0]) for r in pg.psql(
        "INSERT INTO dpn.gateways (flat_id, username, secret_hash) "
        "SELECT f.id, 'gw-%d-' || f.id, sha256(f.id::text::bytea) "
        "FROM dpn.flats f WHERE f.building_id = %d ORDER BY f.id "
        "RETURNING id" % (site, bld))]
    return dict(site=site, pool=pool, building=bld, flats=fl, gateways=gws)


def add_building(pg, site, number, flats, first_flat=1201):
    """A new building of `flats` flats (numbered from first_flat) with
    gateway rows and nothing allotted, as the admin leaves it before any
    box or handset is plugged in. Returns [(flat id, circuit-id bytes)] in
    flat number order."""
    bld = int(pg.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES "
                        "(%d, %d) RETURNING id" % (site, number)))
    pg.psql("INSERT INTO dpn.flats (building_id, number) SELECT %d, %d + g "
            "FROM generate_series(0, %d) g" % (bld, first_flat, flats - 1))
    pg.psql("INSERT INTO dpn.gateways (flat_id, username, secret_hash) "
            "SELECT id, 'gw-' || id, sha256(id::text::bytea) FROM dpn.flats "
            "WHERE building_id = %d" % bld)
    pg.psql('ANALYZE')
    return [(int(r[0]), r[1].encode()) for r in pg.psql(
        "SELECT id, circuit_id FROM dpn.flats WHERE building_id = %d "
        "ORDER BY number" % bld)]


def run_cases(ctx_class):
    """Run the registered cases against ctx_class(pg) on a fresh cluster,
    closing the context's session (ctx.s) at the end, pass or fail."""
    from dpn_test import Cluster, run
    with Cluster() as pg:
        ctx = ctx_class(pg)
        try:
            run(ctx)
        finally:
            ctx.s.close()
