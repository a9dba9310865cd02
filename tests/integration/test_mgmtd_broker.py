#!/usr/bin/env python3
"""test_mgmtd_broker — the broker flows over HTTP as gatewayd drives them:
allocation (idempotent), one more handset with the block extended when full,
deletion of a handset and of the gateway's whole block, and the gateway's
report reconciled with the database; each checked against the rows in
PostgreSQL and Kea's reservations."""
import ipaddress
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, wait_for  # noqa: E402
import mgmtd  # noqa: E402
from broker import Session  # noqa: E402

S = {}


def gw(i):
    """Client of flat i's gateway."""
    user, secret = S['creds'][i]
    return S['srv'].client().basic(user, secret)


def mac(flat, n):
    return '02:00:00:00:%02x:%02x' % (flat, n)


def assigned(pg, flat_id):
    """{mac: address} of the flat's assignments, from SQL."""
    return {m: a for m, a in pg.psql(
        'SELECT mac::text, dpn.ip4(addr) FROM dpn.assignments WHERE flat_id = %d'
        % flat_id)}


def free_count(pg):
    return int(pg.scalar(
        "SELECT (e->>'free')::int FROM jsonb_array_elements("
        "dpn.pool_utilisation(%d)) e" % S['site']))


@case
def allocation_gives_a_block_and_is_idempotent(pg):
    c = gw(0)
    req = {'gateway_mac': mac(0, 0).upper(), 'handset_macs': [mac(0, 1), mac(0, 2).replace(':', '-')]}
    status, a = c.post('/api/v1/broker/allocate', req)
    check_eq(status, 200, 'allocate: %r' % a)
    first = ipaddress.ip_address(a['block']['first'])
    check_eq(a['block']['size'], 4, 'block size of the site')
    check_eq(a['gateway'], {'mac': mac(0, 0), 'address': str(first)}, 'gateway first address')
    got = {h['mac']: h['address'] for h in a['handsets']}
    check_eq(sorted(got), [mac(0, 1), mac(0, 2)], 'both handsets')
    for addr in got.values():
        check(first < ipaddress.ip_address(addr) <= first + 3, 'inside the block')
    check_eq(assigned(pg, S['flats'][0]), dict(got, **{mac(0, 0): str(first)}),
             'assignments in SQL')
    hosts = pg.scalar('SELECT count(*) FROM public.hosts WHERE dhcp4_subnet_id = %s'
                      % S['pool'])
    check_eq(hosts, '3', 'Kea reservations')
    status, again = c.post('/api/v1/broker/allocate', req)
    check_eq((status, again), (200, a), 'second allocation: same answer')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def more_handsets_extend_the_block(pg):
    c = gw(0)
    seen = set(assigned(pg, S['flats'][0]).values())
    for n in range(3, 10):
        status, h = c.post('/api/v1/broker/handsets', {'mac': mac(0, n)})
        check_eq(status, 200, 'handset %d: %r' % (n, h))
        check(h['address'] not in seen, 'a new address for handset %d' % n)
        seen.add(h['address'])
        blk = h['block']
        lo, hi = (ipaddress.ip_address(blk['first']), ipaddress.ip_address(blk['last']))
        check(lo < ipaddress.ip_address(h['address']) <= hi, 'inside its block')
    check_eq(h['block']['size'], 10, 'block grew to max_block_size')
    status, again = c.post('/api/v1/broker/handsets', {'mac': mac(0, 9)})
    check_eq((status, again['address']), (200, h['address']), 'idempotent')
    # Gateway + 9 handsets fill max_block_size 10 and the handset numbers 1-9.
    status, full = c.post('/api/v1/broker/handsets', {'mac': mac(0, 10)})
    check_eq(status, 409, 'flat full: %r' % full)
    status, a = c.post('/api/v1/broker/allocate', {'gateway_mac': mac(0, 0)})
    check_eq(a['gateway']['address'], h['block']['first'], 'gateway kept its address')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def handset_deletion_frees_its_address_for_reuse(pg):
    c = gw(0)
    before = assigned(pg, S['flats'][0])
    status, d = c.post('/api/v1/broker/delete', {'mac': mac(0, 3)})
    check_eq((status, d['deleted']), (200, [before[mac(0, 3)]]), 'deleted')
    check(mac(0, 3) not in assigned(pg, S['flats'][0]), 'gone from SQL')
    queued = pg.scalar("SELECT count(*) FROM dpn.lease_deletions WHERE dpn.ip4(addr) = '%s'"
                       % before[mac(0, 3)])
    check_eq(queued, '1', 'lease deletion queued for Kea')
    # The handset keeps its number; the block is full but for the freed one.
    status, h = c.post('/api/v1/broker/handsets', {'mac': mac(0, 3)})
    check_eq(status, 200, 'handset after a deletion: %r' % h)
    check_eq(h['address'], before[mac(0, 3)], 'freed address reused')
    status, d = c.post('/api/v1/broker/delete', {'mac': '02:ff:ff:ff:ff:ff'})
    check_eq(status, 404, 'unknown handset: %r' % d)


@case
def report_is_reconciled_and_the_database_wins(pg):
    c = gw(0)
    truth = assigned(pg, S['flats'][0])
    wrong_addr = '127.30.0.250'
    report = {'allotted': [{'mac': mac(0, 1), 'address': wrong_addr}],
              'free': [truth[mac(0, 2)]]}
    before = mgmtd.dump(pg, skip=('sessions', 'audit_log'))
    status, r = c.post('/api/v1/broker/report', report)
    check_eq(status, 200, 'report: %r' % r)
    diffs = {d['address'] for d in r['differences']}
    check(wrong_addr in diffs and truth[mac(0, 2)] in diffs,
          'both differences listed: %r' % r['differences'])
    check_eq({a['mac']: a['address'] for a in r['assignments']}, truth,
             'answer carries the database view')
    check_eq(mgmtd.dump(pg, skip=('sessions', 'audit_log')), before,
             'the database won: nothing changed')


@case
def gateway_deletion_returns_the_whole_block(pg):
    start = S['free0']
    c1 = gw(1)
    status, a = c1.post('/api/v1/broker/allocate',
                        {'gateway_mac': mac(1, 0), 'handset_macs': [mac(1, 1)]})
    check_eq(status, 200, 'second flat allocates')
    check(a['block']['first'] != gw(0).post('/api/v1/broker/allocate',
                                           {'gateway_mac': mac(0, 0)})[1]['block']['first'],
          'different blocks')
    for i in (0, 1):
        status, d = gw(i).post('/api/v1/broker/delete', {'gateway': True})
        check_eq(status, 200, 'delete gateway %d: %r' % (i, d))
    check_eq(free_count(pg), start, 'pool free count back to the start')
    check_eq(pg.scalar('SELECT count(*) FROM dpn.assignments'), '0', 'no assignments')
    check_eq(pg.scalar('SELECT count(*) FROM public.hosts'), '0', 'no reservations')
    status, a = gw(0).post('/api/v1/broker/allocate', {'gateway_mac': mac(0, 0)})
    check_eq(status, 200, 'the gateway can ask again after its deletion')
    gw(0).post('/api/v1/broker/delete', {'gateway': True})
    check_eq(mgmtd.invariants(pg), [], 'invariants')


def heard(listener, notes):
    """Adds the notifications listener's psql printed since the last call
    to notes (as (channel, payload)); returns notes."""
    for row in listener.query('SELECT 1'):
        line = '\t'.join(row)
        if line.startswith('Asynchronous notification'):
            parts = line.split('"')
            notes.append((parts[1], parts[3]))
    return notes


@case
def notifications_leave_after_the_commit_and_a_restart_resyncs(pg):
    """mgmtd's writes notify after their commit (schema 103): an allocation
    and its deletion through HTTP are heard on dpn_hosts (each reservation)
    and dpn_gk (the flat), mgmtd's sessions keep nothing queued, and a
    restarted mgmtd, which may have died between a commit and its
    notifications, tells the hook to flush and each site's gatekeeper to
    reload."""
    ls = Session(pg)
    try:
        ls.query('LISTEN dpn_hosts')
        ls.query('LISTEN dpn_gk')
        status, a = gw(2).post('/api/v1/broker/allocate',
                               {'gateway_mac': mac(2, 0), 'handset_macs': [mac(2, 1)]})
        check_eq(status, 200, 'allocate: %r' % a)
        notes = []
        flat = ('dpn_gk', 'flat %d %d' % (S['site'], S['flats'][2]))
        wait_for(lambda: len([n for n in heard(ls, notes) if n[0] == 'dpn_hosts']) >= 2
                 and flat in notes, 5, 'the reservations and the flat notified')
        check(('dpn_hosts', 'flush') not in notes, 'no flush: %r' % notes)
        status, d = gw(2).post('/api/v1/broker/delete', {'gateway': True})
        check_eq(status, 200, 'delete: %r' % d)
        notes = []
        wait_for(lambda: len([n for n in heard(ls, notes) if n[0] == 'dpn_hosts']) >= 2
                 and flat in notes, 5, 'the deletion notified')
        check_eq(pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                           "application_name = 'dpn-mgmtd' AND state LIKE 'idle in%'"),
                 '0', 'no mgmtd session left in a transaction')
        S['srv'].stop()
        S['srv'].start()
        notes = []
        check_eq(gw(2).post('/api/v1/broker/allocate', {'gateway_mac': mac(2, 0)})[0],
                 200, 'allocate after the restart')
        wait_for(lambda: ('dpn_hosts', 'flush') in heard(ls, notes)
                 and ('dpn_gk', 'site %d' % S['site']) in notes, 5,
                 'flush and site reload after the restart')
        gw(2).post('/api/v1/broker/delete', {'gateway': True})
    finally:
        ls.close()
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def notifications_still_leave_after_mgmtd_reconnects(pg):
    """The flush mgmtd sends after a write is a statement prepared on each
    connection: after PostgreSQL dropped mgmtd's sessions, the reconnected
    one prepares it again. The first write after the loss resyncs (its
    earlier flush may be lost); the following ones are heard line by line,
    with no further resync (a flush sent to a statement that no longer
    exists would fail and resync each time)."""
    ls = Session(pg)
    try:
        ls.query('LISTEN dpn_hosts')
        ls.query('LISTEN dpn_gk')
        check_eq(gw(3).post('/api/v1/broker/allocate', {'gateway_mac': mac(3, 0)})[0],
                 200, 'allocate before the loss')
        check(int(pg.scalar("SELECT count(pg_terminate_backend(pid)) FROM "
                            "pg_stat_activity WHERE application_name = 'dpn-mgmtd'")) >= 1,
              'mgmtd had a session to drop')
        notes = []
        wait_for(lambda: gw(3).post('/api/v1/broker/delete', {'gateway': True})[0] == 200,
                 10, 'delete after the loss')
        wait_for(lambda: ('dpn_hosts', 'flush') in heard(ls, notes), 5,
                 'the write after the loss resyncs')
        flat = ('dpn_gk', 'flat %d %d' % (S['site'], S['flats'][3]))
        for i in range(3):
            notes = []
            status, a = gw(3).post('/api/v1/broker/allocate',
                                   {'gateway_mac': mac(3, 0), 'handset_macs': [mac(3, 1)]})
            check_eq(status, 200, 'allocate %d: %r' % (i, a))
            check_eq(gw(3).post('/api/v1/broker/delete', {'gateway': True})[0], 200,
                     'delete %d' % i)
            wait_for(lambda: len([n for n in heard(ls, notes) if n[0] == 'dpn_hosts']) >= 4
                     and notes.count(flat) >= 2, 5, 'round %d notified' % i)
            check(('dpn_hosts', 'flush') not in heard(ls, notes),
                  'round %d resynced again: %r' % (i, notes))
    finally:
        ls.close()
    check_eq(mgmtd.invariants(pg), [], 'invariants')


def admin():
    if 'admin' not in S:
        mgmtd.add_user(S['pg'], 'broker-op')
        S['admin'] = mgmtd.add_token(S['pg'], 'broker-op')
    return S['srv'].client().bearer(S['admin'])


def circuit(pg, flat_id):
    return pg.scalar('SELECT circuit_id FROM dpn.flats WHERE id = %d' % flat_id)


@case
def gateway_box_enrolled_as_handset_is_taken_over(pg):
    """Issue 14 item 2: the box asked DHCP before its allocation request and
    the hook enrolled its MAC as a handset of its own flat; the allocation
    request claiming that MAC takes it over (no operator needed). A handset
    without SIP credentials (only ever the box) goes; one the operator made
    keeps its credentials and waits for its own device: here the handset
    the same request lists (item 3: the oldest handset without a MAC)."""
    for i, with_creds in ((20, False), (21, True)):
        f, box = S['flats'][i], mac(i, 0x33)
        if with_creds:
            status, h = admin().post('/api/v1/flats/%d/handsets' % f, {'mac': box})
            check_eq(status, 201, 'admin handset: %r' % h)
        else:
            pg.scalar("SELECT dpn.broker_enrol(%d, '%s', '%s')"
                      % (S['site'], circuit(pg, f), box))
            check_eq(assigned(pg, f).get(box) is not None, True,
                     'box has a handset address')
        status, body = gw(i).post('/api/v1/broker/allocate',
                                  {'gateway_mac': box, 'handset_macs': [mac(i, 1)]})
        check_eq(status, 200, 'allocation claiming the box MAC: %r' % body)
        check_eq(body['gateway'], {'mac': box, 'address': body['block']['first']},
                 'gateway in the answer')
        check_eq(assigned(pg, f).get(box), body['block']['first'], 'box address')
        check_eq([h['mac'] for h in body['handsets']], [mac(i, 1)], 'handsets')
        rows = pg.psql("SELECT suffix, mac::text, sip_username IS NOT NULL FROM "
                       "dpn.handsets WHERE flat_id = %d ORDER BY suffix" % f)
        want = [['1', mac(i, 1), 't']] if with_creds else [['1', mac(i, 1), 'f']]
        check_eq(rows, want, 'handsets of the flat (credentials: %s)' % with_creds)
    # Another flat's handset stays another flat's: still refused.
    status, body = gw(22).post('/api/v1/broker/allocate', {'gateway_mac': mac(20, 1)})
    check_eq((status, body.get('field')), (422, 'gateway_mac'), 'other flat: %r' % body)


@case
def handset_created_without_mac_is_filled_by_the_first_device(pg):
    """Issue 14 item 3: handsets made in the admin without a MAC get the
    first unknown devices of their flat, oldest first, with their SIP
    credentials; only then is a new handset enrolled."""
    i, f = 23, S['flats'][23]
    made = []
    for _ in range(2):
        status, h = admin().post('/api/v1/flats/%d/handsets' % f, {})
        check_eq(status, 201, 'admin handset without MAC: %r' % h)
        made.append(h)
    check_eq(gw(i).post('/api/v1/broker/allocate', {'gateway_mac': mac(i, 0)})[0], 200,
             'allocation')
    got = []
    for n in (1, 2, 3):
        status, body = gw(i).post('/api/v1/broker/handsets', {'mac': mac(i, n)})
        check_eq(status, 200, 'handset %d: %r' % (n, body))
        got.append(body['suffix'])
    check_eq(got, [made[0]['suffix'], made[1]['suffix'], 3], 'suffixes taken')
    rows = pg.psql("SELECT suffix, mac::text, sip_username FROM dpn.handsets "
                   "WHERE flat_id = %d ORDER BY suffix" % f)
    check_eq([r[:2] for r in rows], [['1', mac(i, 1)], ['2', mac(i, 2)], ['3', mac(i, 3)]],
             'handsets of the flat')
    check_eq([r[2] for r in rows[:2]], [made[0]['sip_username'], made[1]['sip_username']],
             'credentials kept')


@case
def another_flats_handset_is_named_by_its_index(pg):
    """Issue 14 item 7: the 422 names handset_macs[i], not mac."""
    a, b = 24, 25
    check_eq(gw(a).post('/api/v1/broker/allocate', {'gateway_mac': mac(a, 0),
                                                    'handset_macs': [mac(a, 1)]})[0],
             200, 'flat a')
    status, body = gw(b).post('/api/v1/broker/allocate', {
        'gateway_mac': mac(b, 0), 'handset_macs': [mac(b, 1), mac(a, 1)]})
    check_eq((status, body.get('field')), (422, 'handset_macs[1]'), 'answer: %r' % body)
    check_eq(assigned(pg, S['flats'][b]), {}, 'nothing written for flat b')


def race(pg, i, admin_sql, path='/api/v1/broker/allocate', body=None,
         function='broker_allocate'):
    """Flat i's gateway POSTs body to path (its allocation by default) while
    an admin transaction running admin_sql (holding the flat's lock) is
    open; the transaction commits once the request waits in function.
    Returns the request's (status, body)."""
    import threading
    import broker
    if body is None:
        body = {'gateway_mac': mac(i, 0), 'handset_macs': [mac(i, 1)]}
    adm = broker.Session(pg)
    out = {}
    try:
        adm.query('BEGIN')
        for sql in admin_sql:
            adm.query(sql)
        t = threading.Thread(target=lambda: out.update(r=gw(i).post(path, body)))
        t.start()
        wait_for(lambda: pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%dpn.%s(%%'" % function) == '1', 10,
            'request waiting in ' + function)
        adm.query('COMMIT')
        t.join(20)
    finally:
        adm.close()
    return out['r']


def delete_gateway_sql(i):
    return ['SELECT dpn.broker_delete_gateway(%d)' % S['flats'][i]]


def delete_flat_sql(i):
    return ['SELECT id FROM dpn.flats WHERE id = %d FOR UPDATE' % S['flats'][i],
            'SELECT dpn.broker_delete_gateway(%d)' % S['flats'][i],
            'DELETE FROM dpn.flats WHERE id = %d' % S['flats'][i]]


def check_clean_401(status, body, what):
    """The answer to a request whose gateway is gone, the same as to one
    that came after the deletion: 401 asking for credentials, naming
    neither a constraint nor an internal id."""
    check_eq((status, body), (401, {'error': 'gateway credentials required'}), what)


@case
def allocation_racing_the_gateway_deletion_is_a_401(pg):
    """Issue 14 item 6: the admin deletes the gateway, or its whole flat
    (flat locked, not yet committed), while the gateway's allocation
    request runs; the request waits and is then answered as one that came
    after the deletion: 401, no constraint name, no internal id."""
    for i, what, sql in ((26, 'gateway', delete_gateway_sql(26)),
                         (27, 'flat', delete_flat_sql(27))):
        check_eq(gw(i).post('/api/v1/broker/allocate', {'gateway_mac': mac(i, 0)})[0],
                 200, 'allocation before')
        status, body = race(pg, i, sql)
        check_clean_401(status, body, 'allocation of a %s deleted meanwhile' % what)
        check_eq(gw(i).post('/api/v1/broker/allocate', {'gateway_mac': mac(i, 0)})[0],
                 401, 'allocation after the deletion')
        check_eq(assigned(pg, S['flats'][i]), {}, 'nothing allotted (%s deleted)' % what)
    S.setdefault('gone', set()).update({26, 27})


def allocated(i, handsets=()):
    status, body = gw(i).post('/api/v1/broker/allocate', {
        'gateway_mac': mac(i, 0), 'handset_macs': [mac(i, n) for n in handsets]})
    check_eq(status, 200, 'allocation before: %r' % body)
    return body


@case
def handset_request_racing_the_gateway_deletion_is_a_401(pg):
    """Issue 14: /broker/handsets for a new MAC while the admin deletes the
    gateway (the flat stays) or the whole flat: 401 once the deletion
    commits, and no handset enrolled on the flat."""
    for i, what, sql in ((30, 'gateway', delete_gateway_sql(30)),
                         (31, 'flat', delete_flat_sql(31))):
        allocated(i)
        status, body = race(pg, i, sql, '/api/v1/broker/handsets', {'mac': mac(i, 5)},
                            'broker_gateway_add_handset')
        check_clean_401(status, body, 'handset request, %s deleted meanwhile' % what)
        check_eq(pg.scalar("SELECT count(*) FROM dpn.handsets WHERE mac = '%s'"
                           % mac(i, 5)), '0', 'no handset enrolled (%s deleted)' % what)
        check_eq(gw(i).post('/api/v1/broker/handsets', {'mac': mac(i, 5)})[0], 401,
                 'handset request after the deletion')
    S['gone'].update({30, 31})


@case
def delete_requests_racing_the_gateway_deletion_are_401(pg):
    """Issue 14: the gateway's deletion of a handset's address, and of its
    own block, while the admin deletes the gateway: 401 once the admin's
    deletion commits (not 200 for a gateway that no longer exists, not 404
    naming the flat's id when the flat went too)."""
    for i, what, sql, req in (
            (32, 'gateway', delete_gateway_sql(32), {'mac': mac(32, 1)}),
            (33, 'flat', delete_flat_sql(33), {'mac': mac(33, 1)}),
            (34, 'gateway', delete_gateway_sql(34), {'gateway': True}),
            (35, 'flat', delete_flat_sql(35), {'gateway': True})):
        allocated(i, handsets=[1])
        function = 'broker_gateway_delete_handset' if 'mac' in req else 'broker_gateway_delete'
        status, body = race(pg, i, sql, '/api/v1/broker/delete', req, function)
        check_clean_401(status, body, 'delete %r, %s deleted meanwhile' % (req, what))
        check_eq(gw(i).post('/api/v1/broker/delete', req)[0], 401,
                 'delete %r after the deletion' % req)
        check_eq(assigned(pg, S['flats'][i]), {}, 'nothing left allotted')
    S['gone'].update({32, 33, 34, 35})


@case
def report_racing_the_gateway_deletion_is_a_401(pg):
    """Issue 14: the gateway's report while the admin deletes the gateway
    or its flat: 401 (not 404 naming the gateway's id)."""
    for i, what, sql in ((36, 'gateway', delete_gateway_sql(36)),
                         (37, 'flat', delete_flat_sql(37))):
        a = allocated(i)
        req = {'allotted': [{'mac': mac(i, 0), 'address': a['gateway']['address']}],
               'free': []}
        check_eq(gw(i).post('/api/v1/broker/report', req)[0], 200, 'report before')
        status, body = race(pg, i, sql, '/api/v1/broker/report', req,
                            'broker_gateway_report')
        check_clean_401(status, body, 'report, %s deleted meanwhile' % what)
        check_eq(gw(i).post('/api/v1/broker/report', req)[0], 401, 'report after')
    S['gone'].update({36, 37})


@case
def pool_exhaustion_is_a_409(pg):
    # 127.30.0.0/24 has 254 usable addresses: 63 blocks of 4, then 2 left.
    codes = {}
    for i in range(len(S['flats'])):
        if i in S.get('gone', ()):
            continue
        status, body = gw(i).post('/api/v1/broker/allocate', {'gateway_mac': mac(i, 0)})
        codes.setdefault(status, []).append(i)
    check_eq(sorted(codes), [200, 409], 'answers: %r' % {k: len(v) for k, v in codes.items()})
    check_eq(len(codes[200]), 63, 'blocks that fit')
    status, body = gw(codes[409][0]).post('/api/v1/broker/allocate',
                                          {'gateway_mac': mac(codes[409][0], 0)})
    check('exhausted' in body['error'] or 'room' in body['error'], 'says why: %r' % body)
    for i in codes[200]:
        gw(i).post('/api/v1/broker/delete', {'gateway': True})
    check_eq(free_count(pg), S['free0'], 'pool free count back to the start')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        S['site'], S['flats'] = mgmtd.seed(cluster, cidr='127.30.0.0/24', flats=80)
        S['pool'] = cluster.scalar('SELECT id FROM dpn.pools')
        S['pg'] = cluster
        S['creds'] = [mgmtd.add_gateway(cluster, f) for f in S['flats']]
        S['free0'] = free_count(cluster)
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
