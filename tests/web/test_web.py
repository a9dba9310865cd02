#!/usr/bin/env python3
"""test_web — the web admin end to end: a throwaway PostgreSQL, dpn-mgmtd on
a free loopback port serving web/, an operator account, then the browser
cases of tests/web/admin.mjs in Debian's headless Chromium (playwright-core).
Exit status and the closing "N passed, N failed" line are node's."""
import os
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import ROOT, Cluster  # noqa: E402
import mgmtd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def need(path, what):
    if not os.path.exists(path):
        print('test_web: %s missing: %s' % (what, path))
        sys.exit(1)


def main():
    need(mgmtd.MGMTD, 'dpn-mgmtd (make SANITIZE=1 tests)')
    need(os.path.join(ROOT, 'node_modules', 'playwright-core'), 'playwright-core (scripts/setup runs npm ci)')
    need(os.environ.get('CHROMIUM', '/usr/bin/chromium'), 'chromium (scripts/setup)')
    node = shutil.which('node')
    need(node or '/usr/bin/node', 'node')
    with Cluster() as pg:
        mgmtd.migrate(pg)
        with mgmtd.Server(pg) as srv:
            pw = mgmtd.add_user(pg, 'admin')
            env = dict(os.environ, DPN_WEB_URL=srv.url, DPN_ADMIN_USER='admin',
                       DPN_ADMIN_PASSWORD=pw)
            try:
                rc = subprocess.run([node, os.path.join(HERE, 'admin.mjs')],
                                    env=env, timeout=600).returncode
            except subprocess.TimeoutExpired:
                print('test_web: browser cases timed out')
                rc = 1
            if rc != 0:
                print('--- mgmtd log (tail) ---')
                print(srv.log())
    sys.exit(rc)


if __name__ == '__main__':
    main()
