#!/usr/bin/env python3
"""bench/mgmtd_bench.py — mgmtd broker figures on loopback: allocation
requests/s and p50/p99 at 1, 8 and 64 clients (idempotent repeats, and
allocate+delete cycles that make and free a block each time; the first
second of each run is a warm-up, not counted), the 1,000-flat
building provisioning request, and the power-cut case (1,000 gateways and
4,000 handsets all asking at once). Bounded: every run has a time limit.

    make build/rel/bin/dpn-mgmtd build/rel/bench/mgmtd_load
    bench/mgmtd_bench.py [--seconds 5] [--threads N] [--durable] [--quick] [--waits]

--quick runs only what issue 14's goals name: allocate+delete cycles at 64
clients and the cold power cut with 4,000 separate handset requests.

Uses a throwaway PostgreSQL cluster (fsync off unless --durable) and the
release build; prints one JSON line per run and a Markdown table. Each run
also reports the CPU time PostgreSQL (every process of the cluster) and
mgmtd spent per request: steadier than wall time on a shared machine.

Between runs every block goes back to the pool (a mass DELETE), then
VACUUM ANALYZE, as autovacuum would after such a delete: ANALYZE alone
would leave the emptied tables at their old size in pages with no rows,
which the planner reads as "empty whatever the size": every cached plan
made during the next run would assume empty tables (issue 14's third pass
measured the cold power cut that way before; see docs/bench.md)."""
import argparse
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster  # noqa: E402
import mgmtd  # noqa: E402

LOAD = os.path.join(os.environ['DPN_BUILD'], 'bench', 'mgmtd_load')
FLATS = 1000


def setup(pg):
    """Site 100 with pool 127.64.0.0/12 and building 1101 of 1,000 flats
    (SQL), a gateway with fresh credentials per flat; returns the path of
    the load generator's gateway file."""
    mgmtd.migrate(pg)
    site, flats = mgmtd.seed(pg, cidr='127.64.0.0/12', flats=FLATS)
    lines, values = [], []
    for i, f in enumerate(flats):
        user, secret = 'gw-%d' % f, secrets.token_hex(32)
        values.append("(%d, '%s', decode('%s', 'hex'))"
                      % (f, user, hashlib.sha256(secret.encode()).hexdigest()))
        auth = base64.b64encode(('%s:%s' % (user, secret)).encode()).decode()
        lines.append('%s 02:00:%02x:%02x:00:00' % (auth, i >> 8, i & 255))
    pg.psql('INSERT INTO dpn.gateways (flat_id, username, secret_hash) VALUES '
            + ', '.join(values))
    # A running system has planner statistics (autovacuum); a fresh cluster
    # would plan the Kea host trigger's lookups as for empty tables.
    pg.psql('ANALYZE')
    fd, path = tempfile.mkstemp(prefix='dpn-bench-gw-')
    with os.fdopen(fd, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return site, path


def cpu_ticks(pids):
    """utime + stime of the processes pids and of their children that
    ended, in clock ticks (a process that is gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                v = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in v[11:15])
    return total


def cluster_pids(pg):
    """The postmaster and every process it runs (backends, WAL writer...)."""
    with open(os.path.join(pg.dir, 'data', 'postmaster.pid')) as f:
        pm = int(f.readline())
    pids = [pm]
    for task in os.listdir('/proc/%d/task' % pm):
        with open('/proc/%d/task/%s/children' % (pm, task)) as f:
            pids += [int(x) for x in f.read().split()]
    return pids


CPU = {}      # 'pg', 'srv': what load() measures the CPU of
WAITS = []    # --waits: sample what the backends wait for in each run

# What the active backends wait for ("CPU": running), sampled every 10 ms
# inside the server by one session that clears its statistics snapshot at
# each sample.
WAIT_SAMPLER = """CREATE TEMP TABLE w (ev text);
DO $$ BEGIN FOR i IN 1..%d LOOP
  PERFORM pg_stat_clear_snapshot();
  INSERT INTO w SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
    FROM pg_stat_activity WHERE backend_type = 'client backend'
     AND state = 'active' AND pid <> pg_backend_pid();
  PERFORM pg_sleep(0.01);
END LOOP; END $$;
SELECT ev, count(*) FROM w GROUP BY ev ORDER BY 2 DESC LIMIT 12;"""


def sample_waits(pg, seconds):
    """Starts the wait sampler for about seconds; returns its process."""
    return subprocess.Popen(['psql', '-X', '-tA', '-F', ' ', pg.conninfo, '-c',
                             WAIT_SAMPLER % int(seconds * 80)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def waits_of(sampler):
    """The sampler's counts: {wait event: samples}."""
    out = {}
    for ln in sampler.communicate(timeout=60)[0].splitlines():
        ev, _, n = ln.rpartition(' ')
        if n.isdigit():
            out[ev] = int(n)
    return out


def load(port, gwfile, clients, mode, seconds, handsets=4, warmup=0):
    pids = cluster_pids(CPU['pg'])
    pg0, srv0 = cpu_ticks(pids), cpu_ticks([CPU['srv'].proc.pid])
    sampler = sample_waits(CPU['pg'], seconds + warmup) if WAITS else None
    p = subprocess.run([LOAD, '--port', str(port), '--gateways', gwfile,
                        '--clients', str(clients), '--mode', mode,
                        '--seconds', str(seconds), '--handsets', str(handsets),
                        '--warmup', str(warmup)],
                       capture_output=True, text=True, timeout=seconds + warmup + 120)
    if p.stderr:
        sys.stderr.write(p.stderr[-2000:])
    out = json.loads(p.stdout)
    # Backends that ended during the run are counted in the postmaster's
    # children time (fields 14-15), read again here.
    hz = os.sysconf('SC_CLK_TCK')
    pg1 = cpu_ticks(set(pids) | set(cluster_pids(CPU['pg'])))
    srv1 = cpu_ticks([CPU['srv'].proc.pid])
    n = max(1, out['requests'])
    out['pg_cpu_ms_per_req'] = round((pg1 - pg0) * 1000.0 / hz / n, 3)
    out['mgmtd_cpu_ms_per_req'] = round((srv1 - srv0) * 1000.0 / hz / n, 3)
    if sampler:
        out['waits'] = waits_of(sampler)
    print(json.dumps(out), flush=True)
    return out


VACUUM = ['VACUUM ANALYZE']     # --no-vacuum: ANALYZE alone, as before


def reset(pg):
    """Every block back to the pool (cascades to assignments and Kea),
    then what autovacuum would do after that delete (see the top)."""
    pg.psql('DELETE FROM dpn.blocks')
    pg.psql(VACUUM[0])


def provision(pg, srv, token, site):
    """Times POST /sites/{id}/buildings with 25 floors x 40 units (1,000
    flats in one transaction), when the buildings endpoint exists."""
    c = srv.client().bearer(token)
    body = {'number': 2202, 'name': 'bench', 'floors': 25, 'units_per_floor': 40,
            'first_floor': 10}
    t0 = time.monotonic()
    status, answer = c.post('/api/v1/sites/%d/buildings' % site, body)
    secs = time.monotonic() - t0
    flats = pg.scalar("SELECT count(*) FROM dpn.flats f JOIN dpn.buildings b ON "
                      "b.id = f.building_id WHERE b.number = 2202")
    out = {'mode': 'provision', 'status': status, 'flats': int(flats), 'seconds': round(secs, 3)}
    if status != 201:
        out['answer'] = answer
    print(json.dumps(out), flush=True)
    return out


def powerlist(pg, srv, gwfile, rows):
    """Power back: every gateway sends its allocation request listing its
    4 handsets (flow 1), all at once; cold, then warm."""
    reset(pg)
    rows.append(load(srv.port, gwfile, FLATS, 'powerlist', 60, handsets=4))
    rows[-1]['mode'] = 'powercut: allocate listing 4 handsets, cold'
    devices = int(pg.scalar('SELECT count(*) FROM dpn.assignments'))
    print(json.dumps({'powercut_devices_with_address': devices}))
    rows.append(load(srv.port, gwfile, FLATS, 'powerlist', 60, handsets=4))
    rows[-1]['mode'] = 'powercut: allocate listing 4 handsets, warm'


def index_usage(pg):
    """Prints every index of the dpn and public schemas with its scans
    since the cluster started, unscanned ones first (candidates to drop,
    once no query of the code is found to need them). Waits for the idle
    backends' statistics, flushed at most every 10 s."""
    time.sleep(11)
    rows = pg.psql("SELECT schemaname || '.' || indexrelname, idx_scan, "
                   "pg_relation_size(indexrelid), i.indisunique OR i.indisexclusion "
                   "FROM pg_stat_user_indexes JOIN pg_index i USING (indexrelid) "
                   "WHERE schemaname IN ('dpn', 'public') ORDER BY idx_scan, 1")
    for name, scans, size, constraint in rows:
        print(json.dumps({'index': name, 'scans': int(scans), 'bytes': int(size),
                          'unique_or_exclusion': constraint == 't'}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--threads', type=int, default=0,
                    help="mgmtd's --threads (0: mgmtd's default, two per CPU)")
    ap.add_argument('--durable', action='store_true')
    ap.add_argument('--quick', action='store_true',
                    help='only the cycle at 64 clients and the cold power cut '
                         'with separate handset requests')
    ap.add_argument('--no-vacuum', action='store_true',
                    help='between runs ANALYZE only, without VACUUM (the method '
                         'of the earlier passes, see the top)')
    ap.add_argument('--no-hosts-notify', action='store_true',
                    help="disable schema 012's NOTIFY trigger on public.hosts "
                         "(to measure what it costs the broker)")
    ap.add_argument('--waits', action='store_true',
                    help='sample what the active backends wait for during each '
                         'run (pg_stat_activity every 10 ms; adds a little load)')
    ap.add_argument('--index-usage', action='store_true',
                    help="after the runs, list the indexes of dpn's and Kea's "
                         "tables with how often they were scanned")
    a = ap.parse_args()
    if a.waits:
        WAITS.append(1)
    if a.no_vacuum:
        VACUUM[0] = 'ANALYZE'
    rows = []
    with Cluster(durable=a.durable) as pg:
        site, gwfile = setup(pg)
        if a.no_hosts_notify:
            pg.psql('ALTER TABLE public.hosts DISABLE TRIGGER hosts_notify')
        mgmtd.add_user(pg, 'bench')
        token = mgmtd.add_token(pg, 'bench')
        try:
            threads = ['--threads', str(a.threads)] if a.threads else []
            with mgmtd.Server(pg, threads + ['--max-conns-per-ip', '4096',
                                             '--max-conns', '8192']) as srv:
                CPU.update(pg=pg, srv=srv)
                for mode in ('repeat', 'cycle'):
                    for clients in (1, 8, 64):
                        if a.quick and (mode, clients) != ('cycle', 64):
                            continue
                        reset(pg)
                        rows.append(load(srv.port, gwfile, clients, mode, a.seconds,
                                         warmup=1))
                if not a.quick:
                    powerlist(pg, srv, gwfile, rows)
                reset(pg)
                # Cold: nothing allotted yet, every block made and grown.
                rows.append(load(srv.port, gwfile, FLATS, 'powercut', 60, handsets=4))
                rows[-1]['mode'] = 'powercut: allocate + 4 handset requests, cold'
                devices = int(pg.scalar('SELECT count(*) FROM dpn.assignments'))
                print(json.dumps({'powercut_devices_with_address': devices}))
                if a.index_usage:
                    index_usage(pg)
                if a.quick:
                    return print_rows(rows)
                # Warm: power back after a cut, every device asks again.
                rows.append(load(srv.port, gwfile, FLATS, 'powercut', 60, handsets=4))
                rows[-1]['mode'] = 'powercut: allocate + 4 handset requests, warm'
                rows.append(provision(pg, srv, token, site))
        finally:
            os.unlink(gwfile)
    print_rows(rows)


def print_rows(rows):
    print('\n| run | clients | requests | errors | req/s | p50 ms | p99 ms | seconds '
          '| PostgreSQL CPU ms/req | mgmtd CPU ms/req |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        if r['mode'] == 'provision':
            print('| provision 1,000 flats (HTTP %s) | 1 | 1 | %s | | | | %.3f | | |'
                  % (r['status'], 0 if r['status'] == 201 else 1, r['seconds']))
            continue
        print('| %s | %d | %d | %d | %.0f | %.2f | %.2f | %.3f | %.3f | %.3f |' % (
            r['mode'], r['clients'], r['requests'], r['errors'], r['rps'],
            r['p50_ms'], r['p99_ms'], r['seconds'], r['pg_cpu_ms_per_req'],
            r['mgmtd_cpu_ms_per_req']))


if __name__ == '__main__':
    main()
