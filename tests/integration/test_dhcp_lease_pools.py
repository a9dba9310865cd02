#!/usr/bin/env python3
"""tests/integration/test_dhcp_lease_pools.py — two complexes on the same
private range share one PostgreSQL, with one kea-dhcp4 and one mgmtd
(--kea-socket) each (Kea 2.2 refuses two subnets with the same prefix in
one server). Each mgmtd's lease-deletion drain (mgmtd/kea_ctrl.c) must take
only the deletions of the subnets its own Kea serves, learnt from Kea's
config-get: each lease is removed by the Kea that holds it, a row of a
subnet its Kea lacks stays untouched (attempts 0, next_try unchanged, no
error counted), a Kea restarted or reconfigured with more subnets is seen,
and a config-get answer that is malformed or too large changes nothing
(a stand-in control socket sends those: a real Kea never would)."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for
import broker
import dhcp
import mgmtd

CIDR = '127.16.0.0/16'      # both complexes: the same private range
FLATS = 4


class Ctx:
    pass


def macs_of(site_no, i):
    return [broker.mac(site_no * 0x100 + 4 * i + n) for n in range(4)]


def allocate_all(ctx, site, site_no):
    for i, g in enumerate(site['gateways']):
        dhcp.allocate(ctx.pg, g, macs_of(site_no, i)[0], macs_of(site_no, i)[1:])


def queued(ctx, site):
    return int(ctx.pg.scalar("SELECT count(*) FROM dpn.lease_deletions WHERE "
                             "pool_id = %d" % site['pool']))


def rows_of(ctx, site):
    """(id, attempts, next_try) of the site's queued deletions."""
    return sorted(tuple(r) for r in ctx.pg.psql(
        "SELECT id, attempts, next_try FROM dpn.lease_deletions WHERE "
        "pool_id = %d" % site['pool']))


def errors(server):
    return dhcp.mgmtd_metric(server, 'dpn_kea_lease_deletions_total{result="error"}')


def done(server):
    return dhcp.mgmtd_metric(server, 'dpn_kea_lease_deletions_total{result="ok"}')


def subnets(server):
    return dhcp.mgmtd_metric(server, 'dpn_kea_subnets')


def lease_devices(ctx, relay, building, site_no, n=3):
    """DORA for the first handset of n flats; {mac: address}."""
    out = {}
    for i in range(n):
        m = macs_of(site_no, i)[1]
        out[m] = dhcp.acked(relay, b'%d-%d' % (building, 1201 + i), m).yiaddr
    return out


@case
def each_kea_removes_only_its_own_leases(ctx):
    allocate_all(ctx, ctx.a, 1)
    allocate_all(ctx, ctx.b, 2)
    la = lease_devices(ctx, ctx.relay_a, 1101, 1)
    lb = lease_devices(ctx, ctx.relay_b, 2101, 2)
    # The same range: the same addresses are leased in both Keas.
    check(set(la.values()) & set(lb.values()), 'overlapping leases %r %r' % (la, lb))
    ok_a, ok_b = done(ctx.ma), done(ctx.mb)
    # Both complexes' deletions in one transaction: due at once, in one
    # batch of either drain.
    dhcp.delete_flats(ctx.pg, {'flats': ctx.a['flats'] + ctx.b['flats']})
    n = 4 * FLATS
    wait_for(lambda: queued(ctx, ctx.a) == 0 and queued(ctx, ctx.b) == 0, 20,
             'both outboxes drained')
    # Each drain sent exactly its own complex's deletions (Kea answers a
    # lease4-del for a subnet it lacks with "not found", which would count
    # as done and lose the row: the counts would then differ).
    check_eq(done(ctx.ma) - ok_a, n, 'deletions sent by complex A\'s mgmtd')
    check_eq(done(ctx.mb) - ok_b, n, 'deletions sent by complex B\'s mgmtd')
    check_eq(errors(ctx.ma) + errors(ctx.mb), 0, 'failed lease4-del calls')
    check_eq((subnets(ctx.ma), subnets(ctx.mb)), (1, 1), 'subnets learnt')
    for kea, leases in ((ctx.kea_a, la), (ctx.kea_b, lb)):
        for m, addr in leases.items():
            got = kea.command('lease4-get', {'ip-address': addr})
            check_eq(got['result'], 3, 'lease of %s at %s after its deletion' % (m, addr))


@case
def row_of_a_subnet_its_kea_lacks_is_left_alone(ctx):
    """Complex C's pool is served by no Kea yet: its rows stay as queued
    (no attempt, same next_try, no error, no warning) while A's drain
    empties its own; once Kea A is restarted with C's subnet too, A's drain
    learns it and takes them."""
    allocate_all(ctx, ctx.c, 3)
    dhcp.delete_flats(ctx.pg, ctx.c)
    before = rows_of(ctx, ctx.c)
    check_eq(len(before), 4 * FLATS, 'complex C\'s deletions queued')
    check(all(r[1] == '0' for r in before), 'no attempt yet')
    allocate_all(ctx, ctx.a, 1)
    e_a, e_b = errors(ctx.ma), errors(ctx.mb)
    dhcp.delete_flats(ctx.pg, ctx.a)
    wait_for(lambda: queued(ctx, ctx.a) == 0, 20, 'A\'s outbox drained')
    # Nothing to wait for: proving that nothing happens takes some rounds
    # of both drains (poll 100 ms).
    time.sleep(1.5)
    check_eq(rows_of(ctx, ctx.c), before, 'C\'s rows (attempts, next_try) untouched')
    check_eq((errors(ctx.ma), errors(ctx.mb)), (e_a, e_b), 'failed lease4-del calls')
    for s in (ctx.ma, ctx.mb):
        check('refused to remove' not in s.log(), 'warning about a foreign row:\n'
              + s.log()[-1500:])
    # Kea A restarted with C's subnet as well.
    restart_kea_a(ctx, [(ctx.a['pool'], CIDR), (ctx.c['pool'], '127.17.0.0/16')])
    wait_for(lambda: queued(ctx, ctx.c) == 0, 20,
             'C\'s rows taken once Kea A serves C\'s subnet')
    check_eq(subnets(ctx.ma), 2, 'subnets learnt after the restart')
    check_eq(errors(ctx.ma), e_a, 'failed lease4-del calls')
    restart_kea_a(ctx, [(ctx.a['pool'], CIDR)])
    c_rows_stay(ctx, ctx.ma, 'after Kea A was restarted without C')


def c_rows_stay(ctx, server, what):
    """Queues complex C's deletions again: the drain of server, whose Kea
    no longer serves C, learns that and leaves them (then removed by
    hand, so that later cases start from an empty outbox)."""
    allocate_all(ctx, ctx.c, 3)
    dhcp.delete_flats(ctx.pg, ctx.c)
    before = rows_of(ctx, ctx.c)
    check_eq(len(before), 4 * FLATS, 'complex C\'s deletions queued ' + what)
    e0 = errors(server)
    wait_for(lambda: subnets(server) == 1, 10, 'subnet C forgotten ' + what)
    time.sleep(1)   # a few rounds: nothing must happen
    check_eq(rows_of(ctx, ctx.c), before, 'C\'s rows untouched ' + what)
    check_eq(errors(server), e0, 'failed lease4-del calls ' + what)
    ctx.pg.psql("DELETE FROM dpn.lease_deletions WHERE pool_id = %d" % ctx.c['pool'])


def restart_kea_a(ctx, pools):
    ctx.kea_a.stop()
    ctx.kea_a.write_config(dhcp.kea_config(ctx.kea_a.tmp, ctx.pg.dir, pools))
    ctx.kea_a.start()


@case
def config_set_is_seen_without_a_restart(ctx):
    """Kea B given C's subnet by config-set (same process, new
    configuration: status-get's "reload" tells): B's drain takes C's rows."""
    allocate_all(ctx, ctx.c, 3)
    dhcp.delete_flats(ctx.pg, ctx.c)
    cfg = ctx.kea_b.config_with()
    cfg['subnet4'] = cfg['subnet4'] + [dict(cfg['subnet4'][0], id=ctx.c['pool'],
                                            subnet='127.17.0.0/16')]
    ans = ctx.kea_b.command('config-set', {'Dhcp4': cfg})
    check_eq(ans['result'], 0, 'config-set: %r' % ans)
    try:
        wait_for(lambda: queued(ctx, ctx.c) == 0, 20, 'C\'s rows taken by B')
        check_eq(subnets(ctx.mb), 2, 'subnets learnt after config-set')
        check_eq(errors(ctx.mb), 0, 'failed lease4-del calls')
    finally:
        ans = ctx.kea_b.command('config-set', {'Dhcp4': ctx.kea_b.config_with()})
        check_eq(ans['result'], 0, 'config-set back: %r' % ans)
    c_rows_stay(ctx, ctx.mb, 'after config-set without C')


class FakeKea:
    """A stand-in control socket: answers status-get with self.pid,
    config-get with self.config (bytes), lease4-del with result 0 (and
    records it), anything else with "unsupported"."""

    def __init__(self, path):
        self.path = path
        self.pid, self.config, self.dels, self.cmds = 1000, b'', [], []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        if os.getuid() == 0:
            import pwd
            dpn = pwd.getpwnam('dpn')
            os.chown(path, dpn.pw_uid, dpn.pw_gid)
        self.srv.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def answer(self, req):
        cmd = req.get('command')
        self.cmds.append(cmd)
        if cmd == 'status-get':
            return json.dumps({'result': 0, 'arguments': {
                'pid': self.pid, 'reload': 5, 'uptime': 5}}).encode()
        if cmd == 'config-get':
            return self.config
        if cmd == 'lease4-del':
            self.dels.append(req['arguments'])
            return b'{"result": 0, "text": "IPv4 lease deleted."}'
        return b'{"result": 2, "text": "unsupported"}'

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                buf = b''
                try:
                    while True:
                        buf += c.recv(4096)
                        try:
                            req = json.loads(buf)
                            break
                        except ValueError:
                            continue
                    c.sendall(self.answer(req))
                except OSError:
                    pass     # mgmtd hung up on an answer it would not read

    def close(self):
        self.srv.close()
        os.unlink(self.path)


def new_answer(fake, config):
    """Serve config under a new pid, then wait until the drain asked for
    it and started its next round (a later status-get): whatever that
    answer made it do is done."""
    n = fake.cmds.count('config-get')
    fake.config = config
    fake.pid += 1

    def next_round():
        c = fake.cmds[:]
        if c.count('config-get') <= n:
            return False
        last = len(c) - 1 - c[::-1].index('config-get')
        return 'status-get' in c[last:]
    wait_for(next_round, 10, 'the drain read the new answer')


def config_answer(ids, pad=0):
    subs = [{'id': i, 'subnet': '127.18.0.0/16'} for i in ids]
    return json.dumps({'result': 0, 'arguments': {'Dhcp4': {
        'subnet4': subs, 'pad': 'x' * pad}}}).encode()


@case
def bad_config_get_answers_change_nothing(ctx):
    """Each bad answer (a new pid makes the drain ask at once): no row is
    taken before a good answer came, a warning says why, mgmtd stays up;
    after a good one, a bad one keeps what was learnt."""
    fake = FakeKea(os.path.join(ctx.tmp, 'fake.sock'))
    allocate_all(ctx, ctx.d, 4)
    dhcp.delete_flats(ctx.pg, ctx.d)
    n = queued(ctx, ctx.d)
    before = rows_of(ctx, ctx.d)
    pool = ctx.d['pool']
    bad = [b'garbage', b'{"result": 1, "text": "busy"}',
           b'{"result": 0, "arguments": {"Dhcp4": {"subnet4": [{"id": 0}]}}}',
           b'{"result": 0, "arguments": {"Dhcp4": {"subnet4": {"id": %d}}}}' % pool,
           config_answer([pool], pad=4 << 20),      # over 4 MiB
           config_answer(list(range(1, 4098)))]     # over 4096 subnets
    srv = None
    try:
        fake.config = bad[0]
        srv = mgmtd.Server(ctx.pg, ['--kea-socket', fake.path, '--kea-poll-ms', '100'])
        for i, answer in enumerate(bad):
            new_answer(fake, answer)
            check('cannot read the subnets' in srv.log(), 'no warning:\n' +
                  srv.log()[-1500:])
            check(srv.proc.poll() is None, 'mgmtd exited after answer %d' % i)
            check_eq(subnets(srv), 0, 'subnets after bad answer %d' % i)
            check_eq(fake.dels, [], 'lease4-del sent after bad answer %d' % i)
        check_eq(rows_of(ctx, ctx.d), before, 'rows untouched')
        check('no lease deletion is taken' in srv.log(), srv.log()[-1500:])
        check(srv.log().count('cannot read the subnets') <= 2,
              'config-get warnings not rate-limited:\n' + srv.log()[-1500:])
        fake.config = config_answer([pool])
        fake.pid += 1
        wait_for(lambda: queued(ctx, ctx.d) == 0, 10, 'rows taken after a good answer')
        check_eq(len(fake.dels), n, 'lease4-del sent')
        check(all(d['subnet-id'] == pool for d in fake.dels), repr(fake.dels[:3]))
        check_eq(errors(srv), 0, 'failed lease4-del calls')
        # A bad answer now keeps the subnet learnt before (asked for at the
        # next due row: an empty outbox needs no word with Kea).
        reads = fake.cmds.count('config-get')
        fake.config = bad[0]
        fake.pid += 1
        allocate_all(ctx, ctx.d, 4)
        dhcp.delete_flats(ctx.pg, ctx.d)
        wait_for(lambda: queued(ctx, ctx.d) == 0, 10, 'rows taken with the old subnets')
        check(fake.cmds.count('config-get') > reads, 'the bad answer was read')
        check_eq(subnets(srv), 1, 'subnets kept')
    finally:
        if srv:
            rc = srv.stop()
            os.unlink(srv.log_path)
            check_eq(rc, 0, 'mgmtd exit status on SIGTERM')
        fake.close()


def main():
    with Cluster() as pg:
        tmp = tmpdir('dpn-dhcp-pools-')
        ctx = Ctx()
        ctx.pg, ctx.tmp = pg, tmp
        ctx.kea_a = ctx.kea_b = ctx.relay_a = ctx.relay_b = None
        ctx.ma = ctx.mb = None
        try:
            dhcp.migrate(pg)
            ctx.a = broker.make_site(pg, number=100, cidr=CIDR, flats=FLATS,
                                     building=1101)
            ctx.b = broker.make_site(pg, number=200, cidr=CIDR, flats=FLATS,
                                     building=2101)
            ctx.c = broker.make_site(pg, number=300, cidr=CIDR, flats=FLATS,
                                     building=3101)
            ctx.d = broker.make_site(pg, number=400, cidr=CIDR, flats=FLATS,
                                     building=4101)
            for side in ('a', 'b'):
                d = os.path.join(tmp, side)
                os.mkdir(d)
                os.chmod(d, 0o755)
                site = getattr(ctx, side)
                kea = dhcp.Kea(pg, d, [(site['pool'], CIDR)]).start()
                setattr(ctx, 'kea_' + side, kea)
                setattr(ctx, 'relay_' + side, dhcp.Relay(kea.port))
                setattr(ctx, 'm' + side, mgmtd.Server(
                    pg, ['--kea-socket', kea.sock, '--kea-poll-ms', '100']))
            run(ctx)
        finally:
            for side in ('b', 'a'):
                sub = Ctx()
                sub.relay = getattr(ctx, 'relay_' + side)
                sub.mgmtd = getattr(ctx, 'm' + side)
                sub.kea = getattr(ctx, 'kea_' + side)
                dhcp.teardown(sub, tmp if side == 'a' else os.path.join(tmp, side))


if __name__ == '__main__':
    main()
