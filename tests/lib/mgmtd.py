"""tests/lib/mgmtd.py — helpers for tests that need mgmtd: migrate a Cluster,
start/stop dpn-mgmtd on a free loopback port, create admins and tokens, and
an HTTP client that speaks the API (cookie + CSRF, bearer, basic).

    from dpn_test import Cluster
    import mgmtd
    with Cluster() as pg:
        mgmtd.migrate(pg)
"""
import os
import subprocess

from dpn_test import BUILD, ROOT

MGMTD = os.path.join(BUILD, 'bin', 'dpn-mgmtd')
SCHEMA = os.path.join(ROOT, 'schema')


def migrate(cluster, schema_dir=SCHEMA, check=True):
    """Run `dpn-mgmtd migrate` on the cluster; return the CompletedProcess
    (stdout/stderr as text). Raises on failure when check is true."""
    p = subprocess.run([MGMTD, 'migrate', '--db', cluster.conninfo,
                        '--schema-dir', schema_dir],
                       capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError('migrate failed (%d): %s' % (p.returncode, p.stderr))
    return p
