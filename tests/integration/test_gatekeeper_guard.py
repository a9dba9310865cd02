#!/usr/bin/env python3
"""test_gatekeeper_guard — the gatekeeper's protections against a real
PostgreSQL and mgmtd, attackers being UDP user agents on their own loopback
addresses (127.0.0.1 is trusted by the fixture, as a peer would be): a
flood from one source banned and counted while another source is served; a
wrong-password burst locking a gateway's username at the attacker's source
while the right password from the gateway's own address still registers,
also when a decoy Authorization comes first;
a scanner's User-Agent dropped (its source banned, a trusted source with
the same User-Agent served); a route's peer above the flood limit served
and never banned while an unknown source is (until the peer is deleted);
an oversized datagram dropped and counted;
bans in dpn.gk_bans, listed by mgmtd and lifted through it (NOTIFY to the
gatekeeper); bans kept across a restart, old ones deleted; new limits by
SIGHUP."""
import os
import re
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Ua, digest  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

N1 = '100-1101-0101'
FLOOD, LOCKER, SCANNER, OTHER = '127.0.0.66', '127.0.0.70', '127.0.0.80', '127.0.0.90'
DECOY = '127.0.0.71'
PEER, STRANGER = '127.0.0.60', '127.0.0.67'     # a route's peer, an unknown source
LIMIT = 30          # requests per 2 s window and source


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        self.site = self.env.site['id']
        b = self.env.building(1101, floors=1, units_per_floor=1)
        f = Flat(self.env, pg, self.env.flats(b['id'])[101], 1)
        self.user, self.secret, self.flat_addr = f.user, f.secret, f.addr
        self.gk = self.start()

    def start(self, extra=()):
        return Gatekeeper(self.pg, args=['--pike-limit', str(LIMIT),
                                         '--pike-window', '2s'] + list(extra))

    def close(self):
        try:
            self.gk.close()
        finally:
            self.env.srv.stop()


def options(ua, gk, extra='', timeout=1.0):
    """OPTIONS to the gatekeeper itself; the final response or None."""
    ruri = 'sip:127.0.0.1:%d' % gk.port
    ua.request(gk.port, 'OPTIONS', ruri, ruri, extra)
    return ua.final(timeout)


def burst(ua, gk, n, want):
    """n OPTIONS to the gatekeeper at once; how many were answered: counted
    until the `want` expected came (10 s at most: on a loaded machine the
    gatekeeper may pause longer than the quiet gap below), then until none
    came for 0.5 s (so one too many still shows)."""
    ruri = 'sip:127.0.0.1:%d' % gk.port
    for _ in range(n):
        ua.request(gk.port, 'OPTIONS', ruri, ruri)
    answered, end = 0, time.monotonic() + 10
    while answered < want and time.monotonic() < end:
        if ua.recv(max(0.05, end - time.monotonic())) is None:
            break
        answered += 1
    while ua.recv(0.5) is not None:
        answered += 1
    return answered


def metric(gk, name, **labels):
    key = name + ('{%s}' % ','.join('%s="%s"' % kv for kv in labels.items())
                  if labels else '')
    return gk.metrics().get(key, 0.0)


def ban_rows(ctx, source):
    return ctx.pg.psql("SELECT reason, username, hits > 0 FROM dpn.gk_bans "
                       "WHERE source = '%s' AND until_at > now() ORDER BY "
                       "username" % source)


@case
def flood_from_one_source_banned_and_counted_while_another_is_served(ctx):
    gk = ctx.gk
    bad, good = Ua(FLOOD), Ua(OTHER)
    try:
        check_eq(burst(bad, gk, 3 * LIMIT, LIMIT), LIMIT, 'answers before the ban (the limit)')
        check(options(bad, gk) is None, 'the banned source is not answered')
        r = options(good, gk, timeout=5)
        check(r is not None and r.status == 200, 'another source is served')
        wait_for(lambda: metric(gk, 'dpn_gk_guard_bans_total', reason='flood') == 1
                 and metric(gk, 'dpn_gk_guard_dropped_total', reason='banned')
                 >= 2 * LIMIT + 1, timeout=10, what='ban and drops counted')
        check_eq(metric(gk, 'dpn_gk_guard_bans'), 1.0, 'bans in force')
        wait_for(lambda: ban_rows(ctx, FLOOD) == [['flood', '', 't']], timeout=10,
                 what='the ban in dpn.gk_bans with its hits')
    finally:
        bad.close()
        good.close()


@case
def wrong_password_burst_locks_the_username_at_that_source_only(ctx):
    gk = ctx.gk
    thief, gw = Ua(LOCKER), Ua(ctx.flat_addr)
    try:
        for i in range(5):
            r = thief.register(gk.port, N1, ctx.user, 'guess%d' % i)
            check_eq(r.status, 401, 'wrong password %d' % i)
        r = thief.register(gk.port, N1, ctx.user, ctx.secret)
        check_eq((r.status, r.first.split(' ', 2)[2]),
                 (403, 'Too many failed attempts'),
                 'locked at the attacker\'s source, even with the right password')
        r = gw.register(gk.port, N1, ctx.user, ctx.secret)
        check_eq(r.status, 200, 'the right password from the gateway registers')
        r = options(thief, gk, timeout=5)
        check(r is not None and r.status == 200,
              'only the username is locked, not the source')
        wait_for(lambda: metric(gk, 'dpn_gk_guard_bans_total', reason='lockout') == 1
                 and metric(gk, 'dpn_gk_guard_auth_failures_total') == 5
                 and metric(gk, 'dpn_gk_guard_dropped_total', reason='locked') == 1,
                 timeout=10, what='lockout counted')
        wait_for(lambda: ban_rows(ctx, LOCKER) == [['lockout', ctx.user, 't']],
                 timeout=10, what='the lockout in dpn.gk_bans')
    finally:
        thief.close()
        gw.close()


@case
def a_decoy_authorization_does_not_dodge_the_lockout(ctx):
    """The username counted is the one of the Authorization the registrar
    checks (realm dpn), not a decoy header put before it."""
    gk, thief = ctx.gk, Ua(DECOY)
    try:
        to = 'sip:%s@dpn' % N1
        for i in range(5):
            thief.request(gk.port, 'REGISTER', 'sip:dpn', to)
            chal = thief.final().one('WWW-Authenticate')
            auth = digest(chal, 'MD5', ctx.user, 'guess%d' % i, 'REGISTER', 'sip:dpn')
            thief.request(gk.port, 'REGISTER', 'sip:dpn', to,
                          'Authorization: Digest username="decoy%d", realm="other", '
                          'nonce="x", uri="sip:dpn", response="0"\r\n'
                          'Authorization: %s\r\n' % (i, auth))
            check_eq(thief.final().status, 401, 'wrong password %d' % i)
        r = thief.register(gk.port, N1, ctx.user, ctx.secret)
        check_eq(r.status, 403, 'locked despite the decoys')
        check('Too many' in r.first, 'the lockout: ' + r.first)
    finally:
        thief.close()


@case
def scanner_user_agent_dropped_and_banned_trusted_source_exempt(ctx):
    gk = ctx.gk
    scan, trusted = Ua(SCANNER), Ua('127.0.0.1')
    try:
        check(options(scan, gk, 'User-Agent: friendly-scanner\r\n') is None,
              'friendly-scanner dropped')
        check(options(scan, gk, 'User-Agent: Linphone/5.0\r\n') is None,
              'its source is banned')
        r = options(trusted, gk, 'User-Agent: sipvicious 0.3\r\n', timeout=5)
        check(r is not None and r.status == 200, 'a trusted source is exempt')
        wait_for(lambda: metric(gk, 'dpn_gk_guard_dropped_total', reason='scanner') == 1
                 and metric(gk, 'dpn_gk_guard_bans_total', reason='scanner') == 1,
                 timeout=10, what='scanner counted')
    finally:
        scan.close()
        trusted.close()


def oversized_dropped(ua, gk, whose):
    """A 20 kB OPTIONS from ua is not answered (max-msg-size 16k) and is
    counted."""
    before = metric(gk, 'dpn_gk_guard_bad_messages_total')
    ruri = 'sip:127.0.0.1:%d' % gk.port
    ua.request(gk.port, 'OPTIONS', ruri, ruri, 'X-Pad: %s\r\n' % ('a' * 20000))
    check(ua.final(1.0) is None, '%s 20 kB OPTIONS not answered' % whose)
    wait_for(lambda: metric(gk, 'dpn_gk_guard_bad_messages_total') == before + 1,
             timeout=10, what='oversized message counted')


def route_loads(gk):
    return metric(gk, 'dpn_gk_route_loads_total')


def routes_changed(ctx, gk, method, path, body=None):
    """A change of the routes through mgmtd, once gk has read them again
    (NOTIFY); returns the answer's body."""
    before = route_loads(gk)
    c = ctx.env.c
    st, b = c.delete(path) if method == 'DELETE' else c.post(path, body)
    check(st in (201, 204), '%s %s: %s %r' % (method, path, st, b))
    wait_for(lambda: route_loads(gk) > before, timeout=10, what='routes reloaded')
    return b


@case
def route_peer_above_the_flood_limit_served_until_it_is_no_peer(ctx):
    """A route's peer (another complex's gatekeeper, a trunk) sends three
    times the limit and is answered in full, never banned, while an
    unknown source doing the same is banned; the size limit holds for the
    peer too; once the peer is deleted (routes reloaded) it is limited
    like anyone. A gatekeeper of its own, its bans deleted afterwards (the
    cases below count the shared one's)."""
    gk = ctx.start()
    p, stranger = Ua(PEER), Ua(STRANGER)
    try:
        g = routes_changed(ctx, gk, 'POST', '/api/v1/sites/%d/peer-groups' % ctx.site,
                           {'name': 'trunk'})
        # the peer's SIP port is not the agent's: probes go nowhere
        peer = routes_changed(ctx, gk, 'POST', '/api/v1/peer-groups/%d/peers' % g['id'],
                              {'address': PEER, 'port': 5060})
        bans = metric(gk, 'dpn_gk_guard_bans_total', reason='flood')
        check_eq(burst(p, gk, 3 * LIMIT, 3 * LIMIT), 3 * LIMIT, 'every request of the peer answered')
        check_eq(burst(stranger, gk, 3 * LIMIT, LIMIT), LIMIT, 'an unknown source: the limit')
        check(options(stranger, gk) is None, 'the unknown source is banned')
        r = options(p, gk, timeout=5)
        check(r is not None and r.status == 200, 'the peer is still served')
        check_eq(metric(gk, 'dpn_gk_guard_bans_total', reason='flood'), bans + 1,
                 'one ban: the unknown source')
        oversized_dropped(p, gk, "the peer's")
        routes_changed(ctx, gk, 'DELETE', '/api/v1/peers/%d' % peer['id'])
        check_eq(burst(p, gk, 3 * LIMIT, LIMIT), LIMIT, 'no longer a peer: the limit')
        check(options(p, gk) is None, 'and banned')
    finally:
        p.close()
        stranger.close()
        gk.close()
        ctx.pg.psql("DELETE FROM dpn.gk_bans WHERE source IN ('%s', '%s')"
                    % (PEER, STRANGER))


@case
def oversized_datagram_dropped_and_counted(ctx):
    gk = ctx.gk
    ua = Ua('127.0.0.91')
    try:
        oversized_dropped(ua, gk, 'a')
        r = options(ua, gk, timeout=5)
        check(r is not None and r.status == 200, 'a normal one is answered')
    finally:
        ua.close()


@case
def bans_listed_by_mgmtd_and_lifted_through_it(ctx):
    c, gk = ctx.env.c, ctx.gk
    status, body = c.get('/api/v1/sites/%d/bans' % ctx.site)
    check_eq(status, 200, 'GET bans')
    by = {(b['source'], b['username']): b for b in body['items']}
    check_eq(sorted(by), sorted([(FLOOD, ''), (LOCKER, ctx.user), (DECOY, ctx.user),
                                 (SCANNER, '')]), 'bans listed: %r' % body)
    check_eq(body['total'], 4, 'total')
    flood = by[(FLOOD, '')]
    check(flood['reason'] == 'flood' and flood['hits'] > 0 and
          flood['until'] > flood['since'], 'a ban\'s fields: %r' % flood)
    check_eq(c.get('/api/v1/sites/999999/bans')[0], 404, 'no such site')
    check_eq(c.delete('/api/v1/sites/%d/bans/999999' % ctx.site)[0], 404, 'no such ban')
    check_eq(c.get('/api/v1/sites/%d/bans?per_page=0' % ctx.site)[0], 422, 'bad paging')
    ua = Ua(FLOOD)
    try:
        check(options(ua, gk, timeout=0.5) is None, 'banned before the lift')
        status, _ = c.delete('/api/v1/sites/%d/bans/%d' % (ctx.site, flood['id']))
        check_eq(status, 204, 'DELETE ban')
        wait_for(lambda: (options(ua, gk, timeout=0.3) or ua).status == 200,
                 timeout=10, what='the source served again after the lift')
        check_eq(ctx.env.audit_count('ban.delete'), 1, 'lift audited')
        status, body = c.get('/api/v1/sites/%d/bans' % ctx.site)
        check_eq(sorted(b['source'] for b in body['items']), [LOCKER, DECOY, SCANNER],
                 'the lifted ban is gone from the list')
        # the lockout: lifted for that username at that source
        lock = [b for b in body['items'] if b['source'] == LOCKER][0]
        check_eq(c.delete('/api/v1/sites/%d/bans/%d' % (ctx.site, lock['id']))[0],
                 204, 'DELETE lockout')
        thief = Ua(LOCKER)
        try:
            wait_for(lambda: 'Too many' not in thief.register(
                         gk.port, N1, ctx.user, ctx.secret).first, timeout=10,
                     what='no longer locked: the right password reaches the '
                     'source check (403 wrong source, not the lockout)')
            check_eq(metric(gk, 'dpn_gk_guard_dropped_total', reason='locked'), 2.0,
                     'no more lockout refusals')
        finally:
            thief.close()
    finally:
        ua.close()


@case
def bans_kept_across_a_restart_old_ones_forgotten(ctx):
    ctx.gk.close()
    ctx.pg.psql("INSERT INTO dpn.gk_bans (site_id, source, reason, since, until_at) "
                "VALUES (%d, '192.0.2.99', 'flood', now() - interval '3 days', "
                "now() - interval '2 days')" % ctx.site)
    ctx.gk = ctx.start()
    ua = Ua(SCANNER)
    try:
        check(options(ua, ctx.gk) is None, 'the scanner is still banned')
        check('2 of 2 bans restored' in ctx.gk.log(), 'restore logged (the scanner, '
              'the decoy\'s lockout)')
        wait_for(lambda: ctx.pg.scalar("SELECT count(*) FROM dpn.gk_bans WHERE "
                                       "source = '192.0.2.99'") == '0', timeout=10,
                 what='a ban over for two days deleted')
    finally:
        ua.close()


@case
def sighup_applies_new_limits(ctx):
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as f:
        f.write('pike-limit = 1000\n')
    os.chmod(f.name, 0o644)
    gk = Gatekeeper(ctx.pg, args=['-f', f.name])
    ua = Ua('127.0.0.95')
    try:
        check_eq(burst(ua, gk, 40, 40), 40, 'all answered with pike-limit 1000')
        with open(f.name, 'w') as fh:
            fh.write('pike-limit = 5\ntrusted = 127.0.0.1\n')
        gk.p.send_signal(signal.SIGHUP)
        # "N settings changed" comes once the new limits are in force
        wait_for(lambda: re.search(r'reload: pike-limit changed(?s:.*)reload: \d+ '
                                   r'settings? changed', gk.log()), timeout=10,
                 what='reload logged')
        fresh = Ua('127.0.0.96')    # a source with a window of its own
        try:
            check_eq(burst(fresh, gk, 20, 5), 5, 'answers with pike-limit 5 after SIGHUP')
        finally:
            fresh.close()
    finally:
        ua.close()
        gk.close()
        os.unlink(f.name)


if __name__ == '__main__':
    run_in_cluster(Ctx)
