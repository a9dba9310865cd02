#!/usr/bin/env python3
"""bench/dhcp_perf.py — zero-drop DHCPv4 leases per second of kea-dhcp4 on
loopback, measured with perfdhcp (DORA, relayed with option 82), for:

  (a) memfile leases, no reservations (the ceiling)
  (b) + PostgreSQL host reservations looked up by circuit-id, no hook
  (c) + the dpn hook: flex-id reservations (circuit-id || MAC) of devices
      enrolled in dpn, identity checks, lease events written to dpn
  (d) PostgreSQL host reservations by hw-address that Kea finds (the same
      addresses as (c), in a subnet of their own), no hook: what Kea itself
      costs when every client has a reservation outside any pool, so that
      (c)/(d) is the hook's own share
  (u) (c) with the hook's host cache off ("host-cache": false): every
      reservation lookup goes to PostgreSQL, as Kea 2.2 does by itself

The same CLIENTS MACs (perfdhcp -M) and circuit-id are used in every run;
for (c) they are the flat's enrolled handsets. For each configuration the
rate goes up RATES until a run drops a packet; the figure is the highest
zero-drop rate's completed leases per second. Bounded: RUN_S seconds per
run, at most len(RATES) runs per configuration after one warm-up run
(--warm seconds at --warm-rate, not counted), loopback only.

With --cpu-rate R, each configuration then runs once more at R/s while
the CPU time (user + system, from /proc) of kea-dhcp4 and of the
PostgreSQL processes is counted, the hook's own connections apart: where
the cost of a lease goes.

  bench/dhcp_perf.py [--clients 500] [--run 5] [--rates 200,300,...]
                     [--configs abc] [--cpu-rate 1500]
  (needs make: build/rel/lib/libdpn_dhcp.so and build/rel/bin/dpn-mgmtd)
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
os.environ.setdefault('DPN_BUILD', os.path.join(ROOT, 'build', 'rel'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
from dpn_test import Cluster, free_port, tmpdir, wait_for  # noqa: E402
import broker  # noqa: E402
import dhcp  # noqa: E402

CIRCUIT = b'1101-1201'
CIDR = '127.16.0.0/16'


def perfdhcp(kea, client_port, macs_file, rate, clients, run_s, circuit=CIRCUIT):
    """One perfdhcp run; returns (leases_per_s, drops)."""
    opt82 = (bytes([1, len(circuit)]) + circuit).hex()
    args = ['perfdhcp', '-4', '-l', '127.0.0.1', '-N', str(kea.port),
            '-L', str(client_port), '-r', str(rate), '-R', str(clients),
            '-M', macs_file, '-p', str(run_s), '-W', '500000',
            '-o', '82,' + opt82, '127.0.0.1']
    p = subprocess.run(args, capture_output=True, text=True,
                       timeout=run_s + 30)
    out = p.stdout
    blocks = re.split(r'\*\*\*Statistics for: ', out)
    stats = {}
    for b in blocks[1:]:
        name = b.split('*', 1)[0].strip()
        sent = int(re.search(r'sent packets: (\d+)', b).group(1))
        recv = int(re.search(r'received packets: (\d+)', b).group(1))
        drops = int(re.search(r'drops: (\d+)', b).group(1))
        stats[name] = (sent, recv, drops)
    if 'REQUEST-ACK' not in stats:
        raise RuntimeError('perfdhcp said:\n' + out + p.stderr)
    drops = sum(v[2] for v in stats.values())
    return stats['REQUEST-ACK'][1] / float(run_s), drops


def alive(kea, cport, macs_file, args):
    """On this shared machine kea-dhcp4 processes were seen SIGKILLed from
    outside; restart a dead one (and warm it up again) rather than count
    the dead server's silence as drops."""
    if kea.proc is not None and kea.proc.poll() is None:
        return
    kea.restarts = getattr(kea, 'restarts', 0) + 1
    if kea.restarts > 5:
        raise RuntimeError('kea-dhcp4 keeps dying:\n' + kea.output())
    kea.proc = None
    kea.start()
    perfdhcp(kea, cport, macs_file, args.warm_rate, args.clients, args.warm)


def measure(keas, macs_file, args):
    """Raise the rate for every configuration in turn (a, b, c at one rate,
    then the next rate), so that the machine's changing load hits them
    alike; a configuration stops at the first rate where --tries runs in a
    row dropped (one noisy run on a shared machine does not end it). Returns
    {name: best zero-drop leases/s}."""
    best = {name: 0.0 for name in keas}
    live = sorted(keas)
    for rate in args.rates:
        for name in list(live):
            kea, cport = keas[name]
            attempt = 0
            while attempt < args.tries:
                alive(kea, cport, macs_file, args)
                lps, drops = perfdhcp(kea, cport, macs_file, rate, args.clients,
                                      args.run)
                if kea.proc.poll() is not None:
                    print('  %s rate %5d: kea-dhcp4 was killed (exit %s) during '
                          'the run: not counted' % (name, rate, kea.proc.returncode),
                          flush=True)
                    continue
                print('  %s rate %5d: %7.1f leases/s, drops %d' % (
                    name, rate, lps, drops), flush=True)
                attempt += 1
                if not drops:
                    break
            if drops:
                live.remove(name)
            else:
                best[name] = max(best[name], lps)
        if not live:
            break
    return best


def enrolment(pg, s, kea, cport, tmp, args):
    """First sight: each rate on a flat of its own whose devices are all
    new (the DISCOVER enrols them). Returns [(rate, leases/s, drops,
    enrolled)]."""
    out = []
    bld = int(pg.scalar("SELECT building_id FROM dpn.flats WHERE id = %d"
                        % s['flats'][0]))
    for i, rate in enumerate(args.enrol_rates):
        number = 1300 + i
        pg.psql("INSERT INTO dpn.flats (building_id, number) VALUES (%d, %d)"
                % (bld, number))
        circuit = ('1101-%04d' % number).encode()
        n = rate * args.run
        macs = [broker.mac(0x200000 + 0x1000 * i + k) for k in range(n)]
        f = os.path.join(tmp, 'enrol-%d.txt' % rate)
        with open(f, 'w') as fh:
            fh.write('\n'.join(macs) + '\n')
        before = kea.stats()['enrolled']
        lps, drops = perfdhcp(kea, cport, f, rate, n, args.run, circuit)
        got = kea.stats()['enrolled'] - before
        print('  enrol rate %4d: %6.1f leases/s, drops %d, enrolled %d'
              % (rate, lps, drops, got), flush=True)
        out.append((rate, lps, drops, got))
    return out


def cpu_of(pid):
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def pg_backends(pg):
    """{pid: cpu seconds} of the cluster's postmaster and its children."""
    with open(os.path.join(pg.dir, 'data', 'postmaster.pid')) as f:
        master = int(f.readline())
    out = {master: cpu_of(master)}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            out[int(d)] = cpu_of(int(d))
    return out


def xacts(pg):
    """Transactions committed in the dpn database so far."""
    return int(pg.scalar("SELECT xact_commit FROM pg_stat_database "
                         "WHERE datname = 'dpn'"))


def cpu_profile(pg, keas, macs_file, args):
    """Each configuration alone at --cpu-rate: CPU seconds of kea-dhcp4,
    of all PostgreSQL processes and of the hook's connections among them."""
    for name in sorted(keas):
        kea, cport = keas[name]
        alive(kea, cport, macs_file, args)
        hook = {int(r[0]) for r in pg.psql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = "
            "'dpn-dhcp-hook'")}
        x0 = xacts(pg)
        k0, p0 = cpu_of(kea.proc.pid), pg_backends(pg)
        lps, drops = perfdhcp(kea, cport, macs_file, args.cpu_rate,
                              args.clients, args.run)
        k1, p1 = cpu_of(kea.proc.pid), pg_backends(pg)
        time.sleep(1.5)     # backends report their statistics within 1 s
        x1 = xacts(pg)
        delta = {pid: p1[pid] - p0.get(pid, 0.0) for pid in p1}
        print('  %s cpu at %d/s for %d s: %.1f leases/s, drops %d; CPU s: '
              'kea-dhcp4 %.2f, postgres %.2f (hook connections %.2f); '
              '%.2f transactions per lease'
              % (name, args.cpu_rate, args.run, lps, drops, k1 - k0,
                 sum(delta.values()),
                 sum(v for pid, v in delta.items() if pid in hook),
                 (x1 - x0) / max(1.0, lps * args.run)), flush=True)


D_SUBNET, D_CIDR = 999999, '127.17.0.0/16'


def hw_reservations(pg, site_id):
    """(d): a hw-address reservation in subnet D_SUBNET for every device of
    the site, at its dpn address moved to D_CIDR."""
    pg.psql("INSERT INTO public.hosts (dhcp_identifier, dhcp_identifier_type,"
            " dhcp4_subnet_id, ipv4_address) SELECT decode(replace(mac::text,"
            " ':', ''), 'hex'), 0, %d, addr + 65536 FROM dpn.assignments"
            " WHERE site_id = %d" % (D_SUBNET, site_id))


def site(pg, clients):
    """One flat with a gateway and `clients` enrolled handsets; their MACs."""
    s = broker.make_site(pg, flats=1, block_size=4, max_block_size=1024)
    pg.psql("UPDATE dpn.sites SET w_handset = 4 WHERE id = %d" % s['site'])
    macs = [broker.mac(0x10000 + i) for i in range(clients)]
    dhcp.allocate(pg, s['gateways'][0], broker.mac(0x1), macs)
    return s, macs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--clients', type=int, default=500)
    ap.add_argument('--run', type=int, default=5)
    ap.add_argument('--rates', default='200,300,400,500,600,700,800,900,1000,1200,1500')
    ap.add_argument('--warm', type=int, default=8, help='warm-up seconds')
    ap.add_argument('--warm-rate', type=int, default=100)
    ap.add_argument('--configs', default='abc')
    ap.add_argument('--tries', type=int, default=2,
                    help='runs at one rate before it counts as dropping')
    ap.add_argument('--cpu-rate', type=int, default=0,
                    help='then count CPU seconds per process at this rate')
    ap.add_argument('--enrol-rates', default='50,100,200',
                    help='first-sight enrolment runs (c only; empty: none)')
    args = ap.parse_args()
    args.rates = [int(r) for r in args.rates.split(',')]
    args.enrol_rates = [int(r) for r in args.enrol_rates.split(',') if r]
    results = {}
    with Cluster() as pg:
        tmp = tmpdir('dpn-dhcp-bench-')
        try:
            dhcp.migrate(pg)
            s, macs = site(pg, args.clients)
            macs_file = os.path.join(tmp, 'macs.txt')
            with open(macs_file, 'w') as f:
                f.write('\n'.join(macs) + '\n')
            pool = [(s['pool'], CIDR)]
            configs = [
                ('a', dict(hook=False, hosts_db=False, dynamic_pool='127.16.128.1 - 127.16.255.254')),
                ('b', dict(hook=False, identifiers=('circuit-id',),
                           dynamic_pool='127.16.128.1 - 127.16.255.254')),
                # The hook with its production defaults (the tests' Kea
                # sweeps every second).
                ('c', dict(hook_params={'sweep-interval': 5})),
                ('d', dict(hook=False, identifiers=('hw-address',))),
                # (c) without the hook's host cache: every lookup goes to
                # Kea's PostgreSQL hosts backend.
                ('u', dict(hook_params={'sweep-interval': 5,
                                        'host-cache': False})),
            ]
            if 'd' in args.configs:
                hw_reservations(pg, s['site'])
            keas = {}
            try:
                for name, kw in configs:
                    if name not in args.configs:
                        continue
                    run_dir = os.path.join(tmp, name)
                    os.mkdir(run_dir)
                    os.chmod(run_dir, 0o755)
                    cport = free_port(socket.SOCK_DGRAM)
                    keas[name] = (dhcp.Kea(pg, run_dir, [(D_SUBNET, D_CIDR)]
                                           if name == 'd' else pool,
                                           client_port=cport,
                                           lease_cmds=False, **kw).start(), cport)
                    # Warm-up, not measured: every client gets its lease and
                    # the hook's identity cache fills.
                    cold = perfdhcp(keas[name][0], cport, macs_file,
                                    args.warm_rate, args.clients, args.warm)
                    print('  %s warm-up %d/s: %.1f leases/s, drops %d'
                          % (name, args.warm_rate, cold[0], cold[1]), flush=True)
                results.update(measure(keas, macs_file, args))
                if args.cpu_rate:
                    cpu_profile(pg, keas, macs_file, args)
                if 'c' in keas and args.enrol_rates:
                    alive(keas['c'][0], keas['c'][1], macs_file, args)
                    results['enrol'] = enrolment(pg, s, keas['c'][0], keas['c'][1],
                                                 tmp, args)
                if 'c' in keas:
                    kc = keas['c'][0]
                    wait_for(lambda: kc.stats()['queue-depth'] == 0, 30,
                             'hook queue drained')
                    results['c-stats'] = kc.stats()
            finally:
                for name, (kea, _) in keas.items():
                    kea.stop()
                    warn = [l for l in kea.output().splitlines() if 'DPN_DHCP' in l]
                    if warn:
                        print('  %s hook log:\n    %s' % (name, '\n    '.join(warn[-10:])))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print('RESULT clients=%d run=%ds' % (args.clients, args.run))
    for k in args.configs:
        print('RESULT (%s) %.0f leases/s' % (k, results.get(k, 0)))
    for base in ('b', 'd', 'u'):
        if results.get(base) and 'c' in results:
            print('RESULT (c)/(%s) = %.0f%%' % (base, 100.0 * results['c'] / results[base]))
    for rate, lps, drops, got in results.get('enrol', []):
        print('RESULT enrolment at %d/s: %.0f leases/s, drops %d, enrolled %d'
              % (rate, lps, drops, got))
    print('RESULT hook counters: %r' % results.get('c-stats'))


if __name__ == '__main__':
    main()
