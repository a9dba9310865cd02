#!/usr/bin/env python3
"""test_gatekeeper_media_checks — the media-timeout checks of many
anchored calls at once (a real dpn-gatekeeper, rtpengine in user space,
PostgreSQL): hundreds of calls fall due together every --media-check, and
rtpengine pauses now and then (busy relaying, as under load). Every call
is still checked each round, no ng request times out, rtpengine's ng
socket drops nothing, the instance is never marked down, and a new call
set up afterwards is anchored (not 503). Before the checks were windowed
(gatekeeper/media.c query_due) a round sent one query a call back to back:
rtpengine's socket buffer overflowed, the retransmissions went the same
way, and the timeouts marked rtpengine down."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run_in_cluster, wait_for  # noqa: E402
from dialog import Leg, media_of, sdp  # noqa: E402
from gatekeeper import Flat, Gatekeeper, Ua  # noqa: E402
from mgmtd_resources import Env  # noqa: E402
from rtpengine import Rtpengine  # noqa: E402

N1 = '100-1101-0101'
CALLS = 600


def ng(gk, what):
    return gk.metrics().get('dpn_gk_ng_total{what="%s"}' % what, 0)


class Ctx:
    def __init__(self, pg):
        self.pg = pg
        self.env = Env(pg)
        b = self.env.building(1101, floors=1, units_per_floor=1)
        self.f1 = Flat(self.env, pg, self.env.flats(b['id'])[101], 30)
        self.rtp = Rtpengine(ports=CALLS * 4 + 200)
        self.gk = Gatekeeper(pg, trusted='127.0.0.0/8', args=[
            '--rtpengine', self.rtp.ng_addr, '--media-check', '1s',
            '--pike-limit', '0', '--probe-interval', '0'])
        self.gw = self.f1.ua()
        r = self.gw.register(self.gk.port, self.f1.number, self.f1.user, self.f1.secret)
        check(r is not None and r.status == 200, 'REGISTER')
        self.outside = Ua('127.0.0.1')

    def call(self, i):
        """Outside -> flat 1, anchored, to its ACK (no RTP: SDP ports
        nobody listens on); (caller leg, callee leg)."""
        caller = Leg(self.outside, self.gk.port, 'caller')
        callee = Leg(self.gw, self.gk.port, N1)
        caller.invite(N1, sdp('127.0.0.1', 20000 + 2 * i))
        inv = self.gw.expect_request('INVITE')
        check(inv is not None, 'INVITE %d reached the flat\n%s' % (i, self.gk.log()))
        callee.accept(inv)
        callee.answer(inv, 200, sdp(self.f1.addr, 20000 + 2 * i))
        ok = caller.response(200)
        check(ok is not None and ok.status == 200,
              'call %d answered: %s\n%s' % (i, ok and ok.first, self.gk.log()))
        check_eq(media_of(ok.body)[0], '127.0.0.1', 'call %d anchored' % i)
        caller.learn(ok)
        caller.in_dialog('ACK')
        check(self.gw.expect_request('ACK') is not None, 'ACK %d' % i)
        return caller, callee

    def close(self):
        for x in (self.outside, self.gw):
            x.close()
        try:
            self.gk.close()
        finally:
            self.rtp.stop()
            self.env.srv.stop()


def pause(rtp, seconds):
    """rtpengine stopped for `seconds` (busy, as under load), then on."""
    rtp.p.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        rtp.p.send_signal(signal.SIGCONT)


@case
def many_calls_due_at_once_while_rtpengine_pauses(ctx):
    calls = [ctx.call(i) for i in range(CALLS)]
    try:
        sent0, drops0 = ng(ctx.gk, 'sent'), ctx.rtp.socket_drops()
        # three rounds of checks; rtpengine stops 0.3 s of each 0.6 s
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            pause(ctx.rtp, 0.3)
            time.sleep(0.3)
        wait_for(lambda: ng(ctx.gk, 'sent') - sent0 >= 2 * CALLS, timeout=5,
                 what='every call checked twice (%d queries)' % (2 * CALLS))
        time.sleep(1.2)         # the last queries' deadline
        check_eq(ng(ctx.gk, 'timeout'), 0, 'ng requests timed out\n' + ctx.gk.log())
        check_eq(ctx.rtp.socket_drops() - drops0, 0,
                 "datagrams dropped on rtpengine's ng socket")
        check('marked down' not in ctx.gk.log(), 'rtpengine marked down\n' + ctx.gk.log())
        calls.append(ctx.call(CALLS))   # a new call: anchored, no 503
        held = ctx.rtp.ng({'command': 'list', 'limit': CALLS + 10})['calls']
        check_eq(len(held), CALLS + 1, 'calls held by rtpengine')
    finally:
        for caller, callee in calls:
            caller.in_dialog('BYE')
            bye = ctx.gw.expect_request('BYE')
            if bye is not None:
                callee.answer(bye, 200)
            caller.response(200)
    wait_for(lambda: ctx.rtp.calls() == [], timeout=10, what='every stream deleted')


if __name__ == '__main__':
    run_in_cluster(Ctx)
