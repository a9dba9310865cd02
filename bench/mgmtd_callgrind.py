#!/usr/bin/env python3
"""bench/mgmtd_callgrind.py — PostgreSQL's instructions per broker request
of the cold power cut, counted by callgrind: unlike CPU time, the count does
not depend on what else the machine runs (issue 14; docs/bench.md, "Issue
14, seventh pass"). Also counts the system calls and context switches of
mgmtd's backends in a run without valgrind, which the round trips between
mgmtd and PostgreSQL cost.

    make build/rel/bin/dpn-mgmtd build/rel/bench/mgmtd_load
    bench/mgmtd_callgrind.py [--gateways 100] [--durable]

The setup is mgmtd_bench.py's (1,000 flats, a gateway each); the run is its
power cut on the first N gateways: each allocates once, then asks for 4
handsets one request at a time (5 requests per gateway), cold. PostgreSQL
runs under valgrind --tool=callgrind (a postgres wrapper given to pg_ctl);
only the backend of mgmtd's one connection (--threads 1) is counted,
and only for the measured power cut (a warm-up power cut of other flats
first, counted alone in another run and subtracted). Bounded: valgrind's
start and every run have a time limit."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mgmtd_bench as mb  # noqa: E402
from dpn_test import Cluster, wait_for  # noqa: E402
import mgmtd  # noqa: E402

PGBIN = sorted(d for d in (os.path.join('/usr/lib/postgresql', v, 'bin')
                           for v in os.listdir('/usr/lib/postgresql'))
               if os.path.isdir(d))[-1]
ARGS = ['--max-conns-per-ip', '4096', '--max-conns', '8192']


def as_pg(*cmd):
    return subprocess.run(['runuser', '-u', 'dpn', '--'] + list(cmd), cwd='/',
                          check=True, capture_output=True, text=True)


def start_under_callgrind(pg, outdir):
    """Restarts the cluster with postgres under callgrind (one output file
    per process, named by pid), without autovacuum: its ANALYZEs, at
    moments that vary from run to run, would make the backend plan again."""
    wrapper = os.path.join(outdir, 'postgres')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec valgrind --tool=callgrind --quiet '
                '--callgrind-out-file=%s/cg.%%p %s/postgres "$@"\n' % (outdir, PGBIN))
    os.chmod(wrapper, 0o755)
    pg.stop()
    as_pg(os.path.join(PGBIN, 'pg_ctl'), '-D', os.path.join(pg.dir, 'data'),
          '-l', os.path.join(pg.dir, 'server.log'), '-p', wrapper, '-w',
          '-o', '-c autovacuum=off',
          '-t', '300', 'start')


def backend_pids(pg):
    return [int(r[0]) for r in pg.psql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'dpn-mgmtd'")]


def ctxt_switches(pids):
    """{pid: voluntary + involuntary context switches} (/proc/PID/status):
    a backend sleeps and wakes once per round trip."""
    out = {}
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                out[pid] = sum(int(line.split()[-1]) for line in f
                               if 'ctxt_switches' in line)
        except OSError:
            pass
    return out


def run(srv, gwfile, n):
    p = subprocess.run([mb.LOAD, '--port', str(srv.port), '--gateways', gwfile,
                        '--clients', str(n), '--mode', 'powercut', '--seconds',
                        '120', '--handsets', '4', '--warmup', '0'],
                       capture_output=True, text=True, timeout=900)
    return json.loads(p.stdout)


def instructions(outdir, pids):
    ir = 0
    if not pids:
        raise RuntimeError('no backend of mgmtd found')
    for pid in pids:
        with open(os.path.join(outdir, 'cg.%d' % pid)) as f:
            for line in f:
                if line.startswith('totals:'):
                    ir += int(line.split()[1])
    return ir


def reset(pg):
    """Every block and handset gone, then VACUUM ANALYZE: the next power
    cut enrols every handset again, as the first one did."""
    pg.psql('DELETE FROM dpn.blocks')
    pg.psql('DELETE FROM dpn.handsets')
    pg.psql('VACUUM ANALYZE')


def lines_of(gwfile, first, n):
    """A gateways file with lines first..first+n-1 of gwfile."""
    with open(gwfile) as f:
        lines = f.readlines()[first:first + n]
    fd, path = tempfile.mkstemp(prefix='dpn-gw-', dir=os.path.dirname(gwfile))
    with os.fdopen(fd, 'w') as f:
        f.writelines(lines)
    return path


def counted(pg, outdir, files, n):
    """Instructions of mgmtd's backend (one connection: --threads 1) over
    power cuts of the gateways in files, one after the other."""
    for name in os.listdir(outdir):
        if name.startswith('cg.'):
            os.unlink(os.path.join(outdir, name))
    with mgmtd.Server(pg, ARGS + ['--threads', '1']) as srv:
        outs = [run(srv, f, n) for f in files]
        pids = backend_pids(pg)
    # The backend writes its counts when it exits, after mgmtd's.
    wait_for(lambda: not any(os.path.exists('/proc/%d' % p) for p in pids),
             120, 'callgrind output written', step=0.2)
    return instructions(outdir, pids), outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--gateways', type=int, default=100)
    ap.add_argument('--durable', action='store_true')
    a = ap.parse_args()
    outdir = tempfile.mkdtemp(prefix='dpn-cg-')
    os.chmod(outdir, 0o777)
    try:
        with Cluster(durable=a.durable) as pg:
            _, gwfile = mb.setup(pg)
            warm = lines_of(gwfile, 500, a.gateways)
            cold = lines_of(gwfile, 0, a.gateways)
            # Without valgrind: context switches of mgmtd's backends (one
            # opened during the run counts from its start).
            with mgmtd.Server(pg, ARGS) as srv:
                before = ctxt_switches(backend_pids(pg))
                out = run(srv, cold, a.gateways)
                after = ctxt_switches(backend_pids(pg))
            switches = sum(v - before.get(pid, 0) for pid, v in after.items())
            print(json.dumps({'run': 'plain', 'requests': out['requests'],
                              'errors': out['errors'], 'seconds': out['seconds'],
                              'ctxt_switches_per_req':
                                  round(switches / max(1, out['requests']), 2)}))
            # Under callgrind, one backend: a power cut of other flats to
            # warm its caches and plans, alone and then followed by the
            # measured one; the difference is the measured run's.
            reset(pg)
            start_under_callgrind(pg, outdir)
            ir0, _ = counted(pg, outdir, [warm], a.gateways)
            reset(pg)
            ir1, outs = counted(pg, outdir, [warm, cold], a.gateways)
            n = outs[1]['requests']
            print(json.dumps({'run': 'callgrind', 'requests': n,
                              'errors': outs[0]['errors'] + outs[1]['errors'],
                              'pg_instructions_per_req': round((ir1 - ir0) / max(1, n))}))
            as_pg(os.path.join(PGBIN, 'pg_ctl'), '-D', os.path.join(pg.dir, 'data'),
                  '-m', 'fast', '-w', '-t', '300', 'stop')
            for f in (gwfile, warm, cold):
                os.unlink(f)
    finally:
        if os.environ.get('DPN_KEEP_CALLGRIND'):
            print('callgrind output kept in ' + outdir, file=sys.stderr)
        else:
            shutil.rmtree(outdir, ignore_errors=True)


if __name__ == '__main__':
    main()
