#!/usr/bin/env python3
"""bench/broker_profile.py — where the broker's SQL time goes, per
function (track_functions = all), for three serial workloads on a throwaway
PostgreSQL (fsync on with --durable), each one psql session:

  enrol      1,000 first-sight enrolments through dpn.dhcp_identify (the
             hook's call): 500 new flats, 2 devices each
  cycle      500 allocations without handsets, each followed by the
             gateway's deletion request (a block made and freed; the
             functions mgmtd calls)
  powerlist  500 allocations listing 4 handsets (cold)
  handsets   500 allocations without handsets, then 2,000 separate
             handset requests (dpn.broker_gateway_add_handset), the power cut's
             second half

Prints the wall time of each workload, its WAL records, bytes and flushes
per statement (pg_stat_wal) and its 12 costliest functions by self time
(ms). Serial and CPU-bound: steadier on a shared machine than
the throughput benches, and what to read before optimising.

    make && bench/broker_profile.py [--durable] [--only enrol]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import PGCLUSTER, Cluster  # noqa: E402
import broker  # noqa: E402
import dhcp  # noqa: E402


def reaped_cpu(pg):
    """CPU seconds of the PostgreSQL processes that exited (the postmaster's
    cutime + cstime): a psql session's backend once it is gone. Unlike wall
    time, not stretched by the other work on a shared machine."""
    with open(os.path.join(pg.dir, 'data', 'postmaster.pid')) as f:
        pid = f.readline().strip()
    with open('/proc/%s/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf('SC_CLK_TCK')


def profile(pg, name, statements):
    fd, path = tempfile.mkstemp(prefix='dpn-profile-', suffix='.sql')
    with os.fdopen(fd, 'w') as f:
        f.write("SET track_functions = 'all';\n" + '\n'.join(statements) + '\n')
    os.chmod(path, 0o644)     # psql runs as the cluster's user
    pg.psql('SELECT pg_stat_reset()')
    pg.psql("SELECT pg_stat_reset_shared('wal')")
    cpu0 = reaped_cpu(pg)
    t0 = time.monotonic()
    try:
        subprocess.run([PGCLUSTER, 'psql', pg.dir, '-q', '-o', '/dev/null', '-f', path],
                       check=True)
    finally:
        os.unlink(path)
    secs = time.monotonic() - t0
    time.sleep(0.7)      # the statistics collector's next report
    cpu = reaped_cpu(pg) - cpu0     # the backend has exited by now
    print('== %s: %d statements, %.2f s, backend CPU %.2f s' % (name, len(statements),
                                                                 secs, cpu))
    rec, nbytes, syncs = pg.psql('SELECT wal_records, wal_bytes, wal_sync FROM pg_stat_wal')[0]
    n = len(statements)
    print('WAL per statement: %.1f records, %.0f bytes, %.2f flushes (fdatasync)'
          % (int(rec) / n, int(nbytes) / n, int(syncs) / n))
    print('| function | calls | total ms | self ms |\n|---|---|---|---|')
    for r in pg.psql("SELECT funcname, calls, round(total_time::numeric, 1), "
                     "round(self_time::numeric, 1) FROM pg_stat_user_functions "
                     "ORDER BY self_time DESC LIMIT 12"):
        print('| %s |' % ' | '.join(r))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--durable', action='store_true')
    ap.add_argument('--only', default='')
    a = ap.parse_args()
    with Cluster(durable=a.durable) as pg:
        dhcp.migrate(pg)
        s = broker.make_site(pg, cidr='127.64.0.0/12', flats=500, block_size=8,
                             max_block_size=64)
        bld = int(pg.scalar("INSERT INTO dpn.buildings (site_id, number) VALUES "
                            "(%d, 2001) RETURNING id" % s['site']))
        pg.psql("INSERT INTO dpn.flats (building_id, number) SELECT %d, 1201 + g "
                "FROM generate_series(0, 499) g" % bld)
        pg.psql('ANALYZE')
        g, f = s['gateways'], s['flats']
        if 'enrol' in (a.only or 'enrol'):
            profile(pg, 'enrol', [
                "SELECT dpn.dhcp_identify(%d, '2001-%04d', '%s', true);"
                % (s['pool'], 1201 + i, broker.mac(0x400000 + d * 500 + i))
                for d in range(2) for i in range(500)])
        if 'cycle' in (a.only or 'cycle'):
            profile(pg, 'cycle', [
                "SELECT dpn.broker_allocate(%d, '%s', '{}'); "
                "SELECT dpn.broker_gateway_delete(%d);"
                % (g[i], broker.mac(0x100000 + i), g[i]) for i in range(500)])
        if 'powerlist' in (a.only or 'powerlist'):
            profile(pg, 'powerlist', [
                "SELECT dpn.broker_allocate(%d, '%s', ARRAY[%s]::macaddr[]);"
                % (g[i], broker.mac(0x100000 + i), ','.join(
                    "'%s'" % broker.mac(0x200000 + 4 * i + k) for k in range(4)))
                for i in range(500)])
        if 'handsets' in (a.only or 'handsets'):
            pg.psql('DELETE FROM dpn.blocks')
            pg.psql('DELETE FROM dpn.handsets')
            profile(pg, 'handsets', [
                "SELECT dpn.broker_allocate(%d, '%s', '{}');" % (g[i], broker.mac(0x100000 + i))
                for i in range(500)] + [
                "SELECT dpn.broker_gateway_add_handset(%d, '%s');"
                % (g[i], broker.mac(0x300000 + 4 * i + k)) for k in range(4) for i in range(500)])


if __name__ == '__main__':
    main()
