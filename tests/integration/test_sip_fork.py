#!/usr/bin/env python3
"""tests/integration/test_sip_fork.py — forking through the lib/sip proxy
core (tests/sip/proxy.c): one sipp UAC, three sipp UASes, over UDP and
TCP. Parallel fork: one callee answers, the others get CANCEL with
`Reason: SIP;cause=200;text="Call completed elsewhere"` (their scenario
fails without it); all busy -> 486; busy and unreachable -> 486 (preferred
over 408); nobody reachable -> 408 once timer B (64*T1, T1 = 100 ms here)
ends each branch (UDP), 500 at once when no TCP connection can be made;
serial fork by q: the first callee's 486 starts the second, which
answers. Every sipp run is bounded in calls and time."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run  # noqa: E402
from sip import Proxy, Sipp, free_udp_port  # noqa: E402

CALLS = 5


def fork_round(uas_scens, uac_scen, calls=CALLS, tcp=False, serial=False,
               unreachable=0, t1_ms=None):
    """UAC -> proxy -> one UAS per scenario (plus `unreachable` targets
    nobody listens on). Returns the proxy's counters after checking that
    every sipp succeeded on every call."""
    ports = [free_udp_port() for _ in uas_scens]
    dead = [free_udp_port() for _ in range(unreachable)]
    tr = ('-t', 't1') if tcp else ()
    uases = []
    with Proxy(ports + dead, tcp=tcp, serial=serial, t1_ms=t1_ms) as px:
        try:
            for port, scen in zip(ports, uas_scens):
                uases.append(Sipp.uas(port, calls, scen, tr))
            uac = Sipp.uac(px.port, free_udp_port(), calls, uac_scen, tr)
            uac.wait()
            for u in uases:
                u.wait()
        finally:
            for u in uases:
                u.kill()
        counters = px.stop()
        check(px.rc == 0, 'proxy exit %s: %s' % (px.rc, px.stderr[-2000:]))
        check('Sanitizer' not in px.stderr, px.stderr[-3000:])
    for s, name in [(uac, 'uac')] + [(u, 'uas %s' % n) for u, n in
                                     zip(uases, uas_scens)]:
        check(s.rc == 0, '%s exit %s\n%s\n%s' % (name, s.rc, s.out[-1500:],
                                                 s.errors[-1500:]))
        check_eq(s.count('Successful call'), calls, name + ' successes')
    return counters


def one_answers(tcp):
    c = fork_round(['uas_fork_answer', 'uas_fork_cancel', 'uas_fork_cancel'],
                   'uac_fork', tcp=tcp)
    check_eq(c['forwarded'], str(2 * CALLS), 'INVITE and BYE forked')
    check_eq(c['cancels'], str(2 * CALLS), 'two losing branches per call')
    check_eq(c['timeouts'], '0', 'no branch timed out')


@case
def parallel_one_answers_others_cancelled_with_reason_udp(ctx):
    one_answers(False)


@case
def parallel_one_answers_others_cancelled_with_reason_tcp(ctx):
    one_answers(True)


@case
def all_busy_gives_486_udp(ctx):
    c = fork_round(['uas_486'] * 3, 'uac_486')
    check_eq(c['answered'], '0', 'the 486 is a callee\'s, forwarded')


@case
def all_busy_gives_486_tcp(ctx):
    fork_round(['uas_486'] * 3, 'uac_486', tcp=True)


@case
def busy_preferred_over_timeout(ctx):
    c = fork_round(['uas_486'], 'uac_486', calls=3, unreachable=2, t1_ms=100)
    check_eq(c['timeouts'], '6', 'two branches per call timed out')


@case
def nobody_reachable_gives_408_udp(ctx):
    c = fork_round([], 'uac_408', calls=3, unreachable=3, t1_ms=100)
    check_eq(c['timeouts'], '9', 'every branch timed out')


@case
def nobody_listening_over_tcp_gives_500_at_once(ctx):
    # Refused TCP connections end their branches at once (503 each, 500
    # upstream), not after timer B (32 s with the default T1 here).
    import time
    t0 = time.monotonic()
    c = fork_round([], 'uac_500', calls=2, unreachable=3, tcp=True)
    check(time.monotonic() - t0 < 20, 'took %.1f s' % (time.monotonic() - t0))
    check_eq(c['send_failed'], '6', 'every branch failed to connect')
    check_eq(c['timeouts'], '0', 'none waited for timer B')


@case
def serial_by_q_busy_then_answer(ctx):
    c = fork_round(['uas_486', 'uas_fork_answer'], 'uac_fork', serial=True)
    check_eq(c['cancels'], '0', 'serial: nothing to cancel')


if __name__ == '__main__':
    run()
