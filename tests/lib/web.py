"""tests/lib/web.py — the stack a browser script needs: a throwaway
PostgreSQL cluster, migrated, dpn-mgmtd serving web/ on a free loopback
port, and an operator account; then a node script (tests/web/admin.mjs,
bench/web_admin.mjs) run with DPN_WEB_URL, DPN_ADMIN_USER and
DPN_ADMIN_PASSWORD in its environment (and DPN_PGCLUSTER, DPN_PG_DIR: the
cluster, for what only the DHCP hook writes, e.g. lease events). Everything is stopped and removed
afterwards, pass or fail.

    import web; sys.exit(web.run_node('tests/web/admin.mjs'))
    python3 tests/lib/web.py SCRIPT.mjs      # the same from a shell
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpn_test import PGCLUSTER, ROOT, Cluster  # noqa: E402
import mgmtd  # noqa: E402

ADMIN = 'admin'


def missing():
    """What the stack lacks on this machine, as sentences ([] when ready)."""
    need = [(mgmtd.MGMTD, 'dpn-mgmtd (make SANITIZE=1 tests)'),
            (os.path.join(ROOT, 'node_modules', 'playwright-core'),
             'playwright-core (scripts/setup runs npm ci)'),
            (os.environ.get('CHROMIUM', '/usr/bin/chromium'), 'chromium (scripts/setup)')]
    out = ['%s missing: %s' % (what, path) for path, what in need if not os.path.exists(path)]
    if not shutil.which('node'):
        out.append('node missing (scripts/setup)')
    return out


def run_node(script, timeout=600):
    """Start the stack, run `node script` against it; return its exit
    status (1 when something is missing or it times out). On failure the
    tail of mgmtd's log is printed."""
    problems = missing()
    if problems:
        print('web: ' + '; '.join(problems))
        return 1
    with Cluster() as pg:
        mgmtd.migrate(pg)
        with mgmtd.Server(pg) as srv:
            pw = mgmtd.add_user(pg, ADMIN)
            env = dict(os.environ, DPN_WEB_URL=srv.url, DPN_ADMIN_USER=ADMIN,
                       DPN_ADMIN_PASSWORD=pw, DPN_PGCLUSTER=PGCLUSTER, DPN_PG_DIR=pg.dir)
            try:
                rc = subprocess.run(['node', os.path.join(ROOT, script)], env=env,
                                    timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                print('web: %s timed out after %d s' % (script, timeout))
                rc = 1
            if rc != 0:
                print('--- mgmtd log (tail) ---')
                print(srv.log(), flush=True)
    return rc


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: web.py SCRIPT.mjs')
    sys.exit(run_node(sys.argv[1], timeout=900))
