#!/usr/bin/env python3
"""test_gatekeeper_cdr — call records of dpn-gatekeeper (dpn.calls) read
back through mgmtd's API, with a real PostgreSQL, mgmtd, the gatekeeper,
sipp and UDP user agents as flat gateways and outside callers: an
answered call hung up by the caller (sipp) and one by the callee (the
handset named by the 2xx's P-Asserted-Identity, a foreign one ignored),
a rejected call (486 with its Reason), a CANCELled call (sipp), an
unknown number (404: recorded only when a flat's gateway dialled it),
an unregistered flat (480); the lists' paging, filters, manager scope and
bad input; and a full writer queue (PostgreSQL stopped) counted in
/metrics while calls are still answered at once."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, wait_for  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Ua, call_record  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from sip import Sipp, free_udp_port  # noqa: E402

N1, N2, N3 = '100-1101-0101', '100-1101-0102', '100-1101-0103'


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=3)
        self.other = self.env.building(1102, floors=1, units_per_floor=1)
        flats = self.env.flats(b['id'])
        self.f1, self.f2, self.f3 = (Flat(self.env, pg, flats[n], i)
                                     for i, n in enumerate((101, 102, 103)))
        self.gk = Gatekeeper(pg)
        self.site = self.env.site['id']

    def register(self, flat):
        ua = Ua(flat.addr)
        r = ua.register(self.gk.port, flat.number, flat.user, flat.secret)
        check(r is not None and r.status == 200, 'REGISTER %s' % flat.number)
        return ua

    def calls(self, path, query=''):
        status, body = self.env.c.get('/api/v1/%s/calls%s' % (path, query))
        check_eq(status, 200, 'GET %s/calls%s: %r' % (path, query, body))
        return body

    def call(self, call_id, timeout=5.0):
        """The record of call_id through the site list, once written."""
        return call_record(self.env.c, 'sites/%d' % self.site,
                           lambda c: c['call_id'] == call_id, timeout)

    def close(self):
        try:
            self.gk.close()
        finally:
            self.env.srv.stop()


def fields(rec, *names):
    return tuple(rec[n] for n in names)


def times_in_order(rec, answered):
    check(rec['started_at'] <= rec['ended_at'], 'start <= end: %r' % rec)
    if answered:
        check(rec['started_at'] <= rec['answered_at'] <= rec['ended_at'],
              'start <= answer <= end: %r' % rec)
    else:
        check_eq((rec['answered_at'], rec['answered_by']), (None, None),
                 'not answered')


@case
def answered_call_hung_up_by_the_caller_sipp(ctx):
    gw = ctx.register(ctx.f1)
    port = gw.port
    gw.close()          # sipp answers on the port the gateway registered from
    uas = Sipp(Sipp._scenario('uas') + ['-i', ctx.f1.addr, '-p', str(port),
                                        '-m', '1', '-timeout', '30'])
    try:
        uac = Sipp.uac(ctx.gk.port, free_udp_port(), 1,
                       extra=('-s', N1, '-cid_str', 'cdr-sipp-%u')).wait()
        uas.wait()
    finally:
        uas.kill()
    check_eq(uac.count('Successful call'), 1, 'call answered and hung up\n'
             + uac.out[-1500:])
    rec = ctx.call('cdr-sipp-1')
    check_eq(fields(rec, 'direction', 'caller', 'callee', 'callee_flat_id',
                    'caller_flat_id', 'answered_by', 'answered_handset',
                    'ended_by', 'status'),
             ('in', 'sipp', N1, ctx.f1.id, None, N1, None, 'caller', 200),
             'record of an inbound call the caller hung up: %r' % rec)
    times_in_order(rec, True)
    check(rec['duration_s'] is not None and rec['duration_s'] >= 0, 'duration')


def invite(port, caller, number, call_id, from_user=None):
    caller.request(port, 'INVITE', 'sip:%s@127.0.0.1:%d' % (number, port),
                   'sip:%s@dpn' % number, call_id=call_id, from_user=from_user)


def answer_200(gw, inv, pai=None):
    rr = inv.one('Record-Route')
    extra = 'Contact: <sip:x@%s:%d>\r\nRecord-Route: %s\r\n' % (gw.addr, gw.port, rr)
    if pai:
        extra += 'P-Asserted-Identity: <sip:%s@dpn>\r\n' % pai
    gw.answer(inv, 200, 'OK', extra)
    return rr


def bye(ua, gk_port, rr, frm, to, call_id, ruri):
    msg = ('BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
           'Route: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n'
           'CSeq: 9 BYE\r\nReason: Q.850;cause=16;text="Normal call clearing"\r\n'
           'Content-Length: 0\r\n\r\n' % (ruri, ua.addr, ua.port, call_id[-8:], rr,
                                           frm, to, call_id))
    ua.s.sendto(msg.encode(), ('127.0.0.1', gk_port))


def answered_then_bye(ctx, caller, gw, number, call_id, pai, callee_hangs_up,
                      from_user=None):
    """caller calls number (flat gw's), gw answers 200 with pai as its
    P-Asserted-Identity, then one side hangs up by the Record-Route."""
    invite(ctx.gk.port, caller, number, call_id, from_user=from_user)
    inv = gw.expect_request('INVITE')
    check(inv is not None, 'INVITE reached the flat')
    rr = answer_200(gw, inv, pai=pai)
    ok = caller.final()
    check_eq(ok and ok.status, 200, '200 to the caller')
    if callee_hangs_up:     # From is the 200's To (with the callee's tag)
        by, to, frm, dest = gw, caller, ok.one('To'), inv.one('From')
    else:
        by, to, frm, dest = caller, gw, inv.one('From'), ok.one('To')
    bye(by, ctx.gk.port, rr, frm, dest, call_id, 'sip:x@%s:%d' % (to.addr, to.port))
    got = to.expect_request('BYE')
    check(got is not None, 'BYE reached the other side')
    to.answer(got, 200, 'OK')


@case
def flat_to_flat_answered_by_a_handset_hung_up_by_the_callee(ctx):
    gw1, gw2 = ctx.register(ctx.f1), ctx.register(ctx.f2)
    try:
        answered_then_bye(ctx, gw2, gw1, N1, 'cdr-f2f', N1 + '-2', True,
                          from_user=N2 + '-3')
    finally:
        gw1.close()
        gw2.close()
    rec = ctx.call('cdr-f2f')
    check_eq(fields(rec, 'direction', 'caller', 'callee', 'caller_flat_id',
                    'callee_flat_id', 'answered_by', 'answered_handset',
                    'ended_by', 'status', 'reason'),
             ('flat', N2 + '-3', N1, ctx.f2.id, ctx.f1.id, N1 + '-2', 2, 'callee',
              200, 'Q.850;cause=16;text="Normal call clearing"'),
             'flat-to-flat record: %r' % rec)
    times_in_order(rec, True)
    for f in (ctx.f1, ctx.f2):
        ids = [c['call_id'] for c in ctx.calls('flats/%d' % f.id)['items']]
        check('cdr-f2f' in ids, 'in the list of flat %s: %r' % (f.number, ids))


@case
def foreign_handset_in_the_2xx_ignored_dialled_handset_kept(ctx):
    gw1, caller = ctx.register(ctx.f1), Ua('127.0.0.1')
    try:        # the 2xx names a handset of flat 2, not of flat 1
        answered_then_bye(ctx, caller, gw1, N1, 'cdr-foreign', N2 + '-1', False,
                          from_user='0301234567')
        # a handset dialled, no identity in the 2xx: only that one rang
        answered_then_bye(ctx, caller, gw1, N1 + '-1', 'cdr-dialled', None, True)
    finally:
        gw1.close()
        caller.close()
    rec = ctx.call('cdr-foreign')
    check_eq(fields(rec, 'direction', 'caller', 'answered_by', 'answered_handset',
                    'ended_by'),
             ('in', '0301234567', N1, None, 'caller'),
             'answered by the flat, hung up by the caller: %r' % rec)
    rec = ctx.call('cdr-dialled')
    check_eq(fields(rec, 'callee', 'answered_by', 'answered_handset', 'ended_by'),
             (N1 + '-1', N1 + '-1', 1, 'callee'), 'the dialled handset answered: %r' % rec)


@case
def rejected_486_with_its_reason(ctx):
    gw1, caller = ctx.register(ctx.f1), Ua('127.0.0.1')
    try:
        # a caller's name with bytes a text column must not take
        invite(ctx.gk.port, caller, N1 + '-1', 'cdr-busy', from_user='caf%C3%A9%01')
        inv = gw1.expect_request('INVITE')
        gw1.answer(inv, 486, 'Busy Here', 'Reason: Q.850;cause=17\r\n')
        r = caller.final()
        check_eq(r and r.status, 486, 'busy')
        caller.ack(ctx.gk.port, r)
    finally:
        gw1.close()
        caller.close()
    rec = ctx.call('cdr-busy')
    check_eq(fields(rec, 'direction', 'caller', 'callee', 'callee_flat_id', 'status',
                    'ended_by', 'reason'),
             ('in', 'caf???', N1 + '-1', ctx.f1.id, 486, 'callee', 'Q.850;cause=17'),
             'rejected call: %r' % rec)
    times_in_order(rec, False)


@case
def cancelled_by_the_caller_sipp(ctx):
    gw = ctx.register(ctx.f1)
    port = gw.port
    gw.close()
    uas = Sipp(Sipp._scenario('uas_cancel') + ['-i', ctx.f1.addr, '-p', str(port),
                                               '-m', '1', '-timeout', '30'])
    try:
        uac = Sipp.uac(ctx.gk.port, free_udp_port(), 1, 'uac_cancel',
                       extra=('-s', N1, '-cid_str', 'cdr-cancel-%u')).wait()
        uas.wait()
    finally:
        uas.kill()
    check_eq(uac.count('Successful call'), 1, 'CANCELled\n' + uac.out[-1500:])
    rec = ctx.call('cdr-cancel-1')
    check_eq(fields(rec, 'status', 'ended_by', 'answered_at'), (487, 'caller', None),
             'cancelled call: %r' % rec)


@case
def unknown_number_recorded_only_from_a_flat_and_480(ctx):
    gw2, caller = ctx.register(ctx.f2), Ua('127.0.0.1')
    try:
        for ua, cid in ((caller, 'cdr-404-out'), (gw2, 'cdr-404-flat')):
            invite(ctx.gk.port, ua, '100-1101-0999', cid)
            r = ua.final()
            check_eq(r and r.status, 404, 'unknown number')
            ua.ack(ctx.gk.port, r)
        # written in one batch with the 404's record: quoting in the arrays
        invite(ctx.gk.port, caller, N3, 'cdr-480', from_user='a%22b%5Cc,%7Bx%7D')
        r = caller.final()
        check_eq(r and r.status, 480, 'unregistered flat')
        caller.ack(ctx.gk.port, r)
    finally:
        gw2.close()
        caller.close()
    rec = ctx.call('cdr-404-flat')
    check_eq(fields(rec, 'direction', 'caller', 'callee', 'caller_flat_id',
                    'callee_flat_id', 'status', 'ended_by'),
             ('out', N2, '100-1101-0999', ctx.f2.id, None, 404, None),
             'a flat dialling an unknown number: %r' % rec)
    rec = ctx.call('cdr-480')
    check_eq(fields(rec, 'direction', 'caller', 'callee_flat_id', 'status', 'ended_by'),
             ('in', 'a"b\\c,{x}', ctx.f3.id, 480, None), 'unregistered flat: %r' % rec)
    items = ctx.calls('sites/%d' % ctx.site, '?limit=200')['items']
    check_eq([c for c in items if c['call_id'] == 'cdr-404-out'], [],
             'an unknown number from outside is not recorded')


@case
def lists_page_filter_and_scope(ctx):
    everything = ctx.calls('sites/%d' % ctx.site, '?limit=200')['items']
    check(len(everything) >= 7, 'calls so far: %d' % len(everything))
    seen, cursor = [], ''
    for _ in range(10):
        page = ctx.calls('sites/%d' % ctx.site, '?limit=3' + cursor)
        check(len(page['items']) <= 3, 'limit honoured')
        seen += [c['id'] for c in page['items']]
        if not page['next_cursor']:
            break
        cursor = '&cursor=' + page['next_cursor']
    check_eq(seen, [c['id'] for c in everything], 'pages walk every call once, newest first')
    starts = [c['started_at'] for c in everything]
    check_eq(starts, sorted(starts, reverse=True), 'newest first')
    busy = ctx.calls('sites/%d' % ctx.site, '?status=486')['items']
    check_eq([c['call_id'] for c in busy], ['cdr-busy'], 'status filter')
    ans = ctx.calls('flats/%d' % ctx.f1.id, '?status=answered')['items']
    check(ans and all(c['answered_at'] for c in ans), 'answered filter')
    by_num = ctx.calls('sites/%d' % ctx.site, '?number=' + (N2 + '-3').replace('-', ''))
    check_eq([c['call_id'] for c in by_num['items']], ['cdr-f2f'], 'number filter, no dashes')
    future = ctx.calls('sites/%d' % ctx.site, '?since=2100-01-01')
    check_eq(future, {'items': [], 'next_cursor': None}, 'since in the future')
    past = ctx.calls('sites/%d' % ctx.site, '?until=2000-01-01T00:00:00Z')
    check_eq(past['items'], [], 'until in the past')
    # a manager of another building sees neither flat 1 nor its calls
    pw = mgmtd.add_user(ctx.pg, 'mgr', role='manager', buildings=(ctx.other['id'],))
    m = ctx.env.srv.client()
    m.login('mgr', pw)
    status, _ = m.get('/api/v1/flats/%d/calls' % ctx.f1.id)
    check_eq(status, 404, "a manager: another building's flat")
    status, body = m.get('/api/v1/sites/%d/calls' % ctx.site)
    check_eq((status, body.get('items')), (200, []), 'a manager: no call of theirs')


@case
def lists_bad_input(ctx):
    base = '/api/v1/sites/%d/calls' % ctx.site
    for query, field in (('limit=0', 'limit'), ('limit=201', 'limit'),
                         ('limit=x', 'limit'), ('cursor=12', 'cursor'),
                         ('cursor=a-1', 'cursor'), ('since=yesterday', 'since'),
                         ('until=2026-13-01', 'until'), ('status=999', 'status'),
                         ('status=busy', 'status'), ('number=12a', 'number'),
                         ('number=-', 'number'), ('number=' + '1' * 40, 'number')):
        status, body = ctx.env.c.get(base + '?' + query)
        check_eq((status, body.get('field')), (422, field), query + ': %r' % body)
    for path in ('/api/v1/sites/999999/calls', '/api/v1/flats/999999/calls'):
        status, _ = ctx.env.c.get(path)
        check_eq(status, 404, path)
    status, _ = ctx.env.srv.client().get(base)
    check_eq(status, 401, 'not logged in')


@case
def full_writer_queue_counted_not_a_stall(ctx):
    """With PostgreSQL stopped, a gatekeeper with room for 16 records keeps
    answering calls at once; the 17th record on is dropped and counted; the
    16 queued are written once the database is back."""
    gk = Gatekeeper(ctx.pg, args=['--call-queue', '16'])
    caller = Ua('127.0.0.1')
    try:
        ctx.pg.stop()
        t0 = time.monotonic()
        for i in range(24):
            invite(gk.port, caller, N3, 'cdr-q-%d' % i)
            r = caller.final(timeout=2)
            check_eq(r and r.status, 480, 'call %d answered with the database down' % i)
            caller.ack(gk.port, r)
        took = time.monotonic() - t0
        # the SIP loop never waits for the writer or the database
        check(took < 10, '24 calls took %.1f s with the database down' % took)
        try:
            wait_for(lambda: gk.metrics().get('dpn_gk_call_records_total{result="dropped"}')
                     == 8.0, timeout=5, what='8 records dropped')
        except TimeoutError:
            print({k: v for k, v in gk.metrics().items() if 'call' in k or 'requests' in k})
            raise
        check_eq(gk.metrics().get('dpn_gk_call_records_queued'), 16.0, '16 queued')
        ctx.pg.start()
        wait_for(lambda: ctx.pg.scalar("SELECT count(*) FROM dpn.calls WHERE call_id "
                                       "LIKE 'cdr-q-%'") == '16', timeout=10,
                 what='the 16 queued records written')
        wait_for(lambda: gk.metrics().get('dpn_gk_call_records_queued') == 0.0,
                 timeout=5, what='queue empty')
    finally:
        caller.close()
        gk.close()


@case
def a_full_call_table_counted_calls_still_routed(ctx):
    """With room to follow 16 calls, 20 ringing calls all reach the flat;
    4 are counted as not recorded; the 16 are written when the gatekeeper
    stops with them still ringing."""
    gk = Gatekeeper(ctx.pg, args=['--max-calls', '16'])
    gw, caller = Ua(ctx.f2.addr), Ua('127.0.0.1')
    try:
        r = gw.register(gk.port, ctx.f2.number, ctx.f2.user, ctx.f2.secret)
        check_eq(r and r.status, 200, 'REGISTER')
        for i in range(20):
            invite(gk.port, caller, N2, 'cdr-full-%d' % i)
        got = set()
        while len(got) < 20:
            inv = gw.expect_request('INVITE', timeout=3)
            check(inv is not None, 'INVITEs reached the flat: %d' % len(got))
            got.add(inv.one('Call-ID'))
        # The record is taken just after the INVITE is sent on: the last
        # one may reach the flat a moment before it is counted.
        def counts():
            m = gk.metrics()
            return (m.get('dpn_gk_calls_active'),
                    m.get('dpn_gk_calls_untracked_total'))
        try:
            wait_for(lambda: counts() == (16.0, 4.0), timeout=3,
                     what='16 calls followed, 4 not')
        except Exception:
            pass
        check_eq(counts(), (16.0, 4.0), 'calls followed and not')
    finally:
        gw.close()
        caller.close()
        gk.close()
    rows = ctx.pg.psql("SELECT status, ended_by, reason FROM dpn.calls WHERE "
                       "call_id LIKE 'cdr-full-%' GROUP BY 1, 2, 3")
    check_eq(rows, [['500', 'timeout', 'gatekeeper stopped']], 'written on stop')
    check_eq(ctx.pg.scalar("SELECT count(*) FROM dpn.calls WHERE call_id LIKE 'cdr-full-%'"),
             '16', 'the 16 followed')


@case
def deleted_flat_keeps_its_calls_and_old_ones_are_pruned(ctx):
    before = ctx.call('cdr-480')
    status, _ = ctx.env.c.delete('/api/v1/flats/%d' % ctx.f3.id)
    check_eq(status, 204, 'DELETE flat 3')
    after = ctx.call('cdr-480')
    check_eq((after['id'], after['callee_flat_id'], after['callee']),
             (before['id'], None, N3), 'the record stays, its flat gone')
    ctx.pg.psql("UPDATE dpn.calls SET started_at = started_at - interval '91 days', "
                "answered_at = answered_at - interval '91 days', ended_at = ended_at - "
                "interval '91 days' WHERE call_id = 'cdr-480'")
    n = ctx.pg.scalar("SELECT dpn.calls_prune(%d, interval '90 days')" % ctx.site)
    check_eq(n, '1', 'one call older than 90 days pruned')
    ids = [c['call_id'] for c in ctx.calls('sites/%d' % ctx.site, '?limit=200')['items']]
    check('cdr-480' not in ids and 'cdr-busy' in ids, 'only the old one went')


if __name__ == '__main__':
    run_in_cluster(Ctx)
