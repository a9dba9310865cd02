#!/usr/bin/env python3
"""tests/integration/test_dhcp_setup.py — scripts/setup leaves other
kea-dhcp4 processes alone (issue 14 item 4): a kea-dhcp4 this test starts
(as a running test or the demo would) still answers its control socket
after scripts/setup, which is what `make check` and `make demo` run first.
The old setup ran `service kea-dhcp4-server stop`, whose init script stops
every /usr/sbin/kea-dhcp4 on the machine and kills it 30 s later."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import ROOT, case, check, check_eq, run, tmpdir
import dhcp


class Ctx:
    pass


class NoDatabase:
    """Kea without the dpn hook and without a hosts database: the config
    generator still wants a folder for the (unused) database socket."""
    dir = '/nonexistent'


@case
def setup_leaves_a_running_kea_alone(ctx):
    pid = ctx.kea.proc.pid
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(ROOT, 'scripts', 'setup')],
                       capture_output=True, text=True, timeout=300)
    secs = time.monotonic() - t0
    check_eq(p.returncode, 0, 'scripts/setup exit status: ' + p.stderr[-500:])
    # A kill would come up to 35 s after the stop began; ask after that.
    time.sleep(max(0.0, 36 - secs) if secs > 1 else 0.5)
    check(ctx.kea.proc.poll() is None,
          'kea-dhcp4 (pid %d) did not survive scripts/setup: exit %s'
          % (pid, ctx.kea.proc.returncode))
    check_eq(ctx.kea.command('version-get')['result'], 0, 'control socket answers')


def main():
    tmp = tmpdir('dpn-dhcp-setup-')
    ctx = Ctx()
    ctx.kea = None
    try:
        ctx.kea = dhcp.Kea(NoDatabase(), tmp, [(1, '127.17.0.0/24')], hook=False,
                           hosts_db=False, lease_cmds=False).start()
        run(ctx)
    finally:
        if ctx.kea:
            ctx.kea.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
