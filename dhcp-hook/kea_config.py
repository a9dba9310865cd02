"""dhcp-hook/kea_config.py — the kea-dhcp4 configuration that serves dpn:
one subnet per dpn pool (subnet id = pool id) relayed from one relay
address, host reservations by flex-id in the dpn database, Debian's
lease_cmds hook (mgmtd's lease remover uses lease4-del) and the dpn hook.
Used by dhcp-hook/dpn-kea-config (deployments, make demo) and by the tests
and benches (tests/lib/dhcp.py), so that what is tested is what is run."""
import ipaddress
import os

KEA_HOOKS = '/usr/lib/x86_64-linux-gnu/kea/hooks'
THREADS_MAX = 16


def default_threads():
    """Kea's packet threads when none are asked for: as many as CPUs, at
    least 8 and at most THREADS_MAX. More than the CPUs because a
    first-sight enrolment waits in its packet thread for a durable commit
    (an fsync, not CPU), and PostgreSQL commits transactions that sent a
    NOTIFY one at a time: the hook groups the enrolments waiting at the
    same moment into one transaction (dhcp-hook/enrol.h), so the more
    threads wait, the more devices one commit serves (docs/bench.md: 8
    threads served a new building faster than 4 on 2 CPUs)."""
    return min(THREADS_MAX, max(8, os.cpu_count() or 1))


def kea_config(tmp, pg_dir, pools, hook_params=None, hook=True,
               identifiers=('flex-id',), lifetime=600, probation=3600,
               extra=None, hosts_db=True, lease_cmds=True, dynamic_pool=None,
               hook_path=None, relay='127.0.0.1', threads=None):
    """Kea dhcp4 configuration (a dict): interfaces ["lo"], udp sockets,
    control socket and memfile leases in tmp, host reservations in the dpn
    database at pg_dir (unix socket), one subnet per (pool_id, cidr) relayed
    from `relay`, and the hook (hook_params merged into the defaults).
    threads: Kea's packet threads (None: default_threads()), and the hook's
    db-pool as large (a first-sight enrolment holds a connection in its
    packet thread until its commit); 1: Kea single-threaded, written out
    so that it stays so on a Kea whose own default is multi-threaded."""
    threads = default_threads() if threads is None else int(threads)
    if not 1 <= threads <= THREADS_MAX:
        raise ValueError('threads must be 1..%d, not %d' % (THREADS_MAX, threads))
    params = {'database': 'host=%s dbname=dpn user=dpn' % pg_dir,
              'sweep-interval': 1, 'decline-probation': probation,
              'db-pool': threads}
    params.update(hook_params or {})
    libs = []
    if lease_cmds:
        libs.append({'library': os.path.join(KEA_HOOKS, 'libdhcp_lease_cmds.so')})
    if hook:
        libs.append({'library': hook_path, 'parameters': params})
    subnets = [{'id': int(pid), 'subnet': str(ipaddress.ip_network(cidr)),
                'relay': {'ip-addresses': [relay]},
                'reservations-in-subnet': True,
                'reservations-out-of-pool': True} for pid, cidr in pools]
    if dynamic_pool:    # benches without reservations: a pool to allocate from
        subnets[0]['pools'] = [{'pool': dynamic_pool}]
    cfg = {
        'interfaces-config': {'interfaces': ['lo'], 'dhcp-socket-type': 'udp'},
        'control-socket': {'socket-type': 'unix',
                           'socket-name': os.path.join(tmp, 'kea.sock')},
        'lease-database': {'type': 'memfile', 'persist': True,
                           'name': os.path.join(tmp, 'leases4.csv'),
                           'lfc-interval': 0},
        # Authoritative: a REQUEST for an address Kea has no lease and no
        # reservation for (a deleted device) gets a NAK, not silence.
        'authoritative': True,
        'host-reservation-identifiers': list(identifiers),
        'valid-lifetime': lifetime, 'min-valid-lifetime': 1,
        'renew-timer': max(1, lifetime // 2),
        'rebind-timer': max(1, lifetime * 7 // 8),
        'decline-probation-period': probation,
        'expired-leases-processing': {'reclaim-timer-wait-time': 1,
                                      'hold-reclaimed-time': 0,
                                      'flush-reclaimed-timer-wait-time': 0},
        'subnet4': subnets,
        'hooks-libraries': libs,
        'loggers': [{'name': 'kea-dhcp4', 'severity': 'INFO',
                     'output_options': [{'output': os.path.join(tmp, 'kea.log')}]}],
    }
    if os.environ.get('DPN_KEA_DEBUG'):
        cfg['loggers'][0].update(severity='DEBUG', debuglevel=55)
    if hosts_db:
        cfg['hosts-database'] = {
            'type': 'postgresql', 'name': 'dpn', 'host': pg_dir, 'user': 'dpn',
            'on-fail': 'serve-retry-continue', 'max-reconnect-tries': 100000,
            'reconnect-wait-time': 500, 'connect-timeout': 2}
    # The packet queue (Kea 2.2's default 64) absorbs a building plugging
    # in at once: 1024 packets are ~2 s of a 500/s burst, under a client's
    # first retransmission (4 s); when it is full Kea drops the oldest.
    cfg['multi-threading'] = {'enable-multi-threading': threads > 1}
    if threads > 1:
        cfg['multi-threading'].update({'thread-pool-size': threads,
                                       'packet-queue-size': 1024})
    cfg.update(extra or {})
    return {'Dhcp4': cfg}
