#!/usr/bin/env python3
"""tests/integration/test_sip_proxy.py — the test proxy built from lib/sip
between a sipp UAC and a sipp UAS on 127.0.0.1: calls (INVITE, 180, 200,
ACK, BYE), reliable provisional responses (183 with RSeq, PRACK with
RAck), 486 from the UAS, CANCEL before the answer, calls with packet
loss on the UAC leg (sipp -lost, so both sides retransmit through the
proxy's transactions), and malformed or unroutable requests answered with
the right status. Every sipp run is bounded in calls and time."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import case, check, check_eq, run  # noqa: E402
from sip import Proxy, Sipp, free_udp_port, udp_exchange  # noqa: E402


def call_round(calls, uac_scen='uac', uas_scen='uas', uac_extra=(),
               uas_extra=(), tcp=False, timer_c_ms=None):
    """Run `calls` calls UAC -> proxy -> UAS (all legs over TCP when tcp);
    return (uac, uas, counters)."""
    uas_port, uac_port = free_udp_port(), free_udp_port()
    if tcp:
        uac_extra, uas_extra = ('-t', 't1') + uac_extra, ('-t', 't1') + uas_extra
    with Proxy(uas_port, tcp=tcp, timer_c_ms=timer_c_ms) as px:
        uas = Sipp.uas(uas_port, calls, uas_scen, uas_extra)
        try:
            uac = Sipp.uac(px.port, uac_port, calls, uac_scen, uac_extra)
            uac.wait()
            uas.wait()
        finally:
            uas.kill()
        counters = px.stop()
        check(px.rc == 0, 'proxy exit %s: %s' % (px.rc, px.stderr[-2000:]))
        check('Sanitizer' not in px.stderr, px.stderr[-3000:])
    for s, name in ((uac, 'uac'), (uas, 'uas')):
        check(s.rc == 0, '%s exit %s\n%s\n%s' % (name, s.rc, s.out[-1500:],
                                                 s.errors[-1500:]))
    check_eq(uac.count('Successful call'), calls, 'successful calls')
    check_eq(uac.count('Failed call'), 0, 'failed calls')
    return uac, uas, counters


@case
def calls_invite_ringing_ok_ack_bye(ctx):
    _, _, c = call_round(20)
    check_eq(c['forwarded'], '40', 'INVITE and BYE forwarded statefully')
    check_eq(c['stray'], '20', 'ACKs for 2xx forwarded statelessly')
    check_eq(c['rx_bad'], '0', 'nothing malformed')


@case
def busy_486_from_uas(ctx):
    _, _, c = call_round(10, 'uac_486', 'uas_486')
    check_eq(c['forwarded'], '10', 'INVITEs forwarded')


@case
def reliable_183_and_prack_pass(ctx):
    """RFC 3262 between two sipp ends: Require: 100rel, the reliable 183
    (RSeq) and the PRACK (RAck, with SDP) pass the proxy; the PRACK is
    forwarded statefully as any non-INVITE, its 200 comes back."""
    _, _, c = call_round(5, 'uac_100rel', 'uas_100rel')
    check_eq(c['forwarded'], '15', 'INVITE, PRACK and BYE forwarded statefully')
    check_eq(c['stray'], '5', 'ACKs for 2xx forwarded statelessly')
    check_eq(c['rx_bad'], '0', 'nothing malformed')

@case
def cancel_before_answer(ctx):
    _, _, c = call_round(10, 'uac_cancel', 'uas_cancel')
    check_eq(c['answered'], '10', 'CANCELs answered 200 by the proxy')
    check_eq(c['timeouts'], '0', 'no transaction timed out')


@case
def timer_c_cancels_a_callee_ringing_too_long(ctx):
    # The UAS rings and never answers; after timer C (1 s here) the proxy
    # sends CANCEL, the UAS answers 487, and the UAC gets the 487.
    _, _, c = call_round(5, 'uac_ring', 'uas_cancel', timer_c_ms=1000)
    check_eq(c['forwarded'], '5', 'INVITEs forwarded')
    check_eq(c['answered'], '0', 'the proxy answered nothing itself')


@case
def calls_with_packet_loss(ctx):
    # UAC leg (tests/sip/uac_lossy.xml): 10% of INVITEs, BYEs and their
    # responses are lost, sending and receiving; the proxy's server
    # transactions absorb the UAC's retransmissions and repeat their
    # answers. UAS leg (uas_lossy.xml): 10% of the INVITEs and BYEs it
    # receives are lost; the proxy's client transactions retransmit them
    # (timers A and E). The 2xx ACK is end to end: not lost here.
    uac, uas, c = call_round(40, 'uac_lossy', 'uas_lossy')
    lost, retrans = uac.lost_and_retrans()
    check(lost > 0 and retrans > 0, 'no loss on the UAC leg (lost %d, '
          'retrans %d)' % (lost, retrans))
    lost, _ = uas.lost_and_retrans()
    check(lost > 0, 'no loss on the UAS leg')
    check_eq(c['forwarded'], '80', 'one INVITE and BYE forwarded per call')
    check_eq(c['timeouts'], '0', 'no transaction timed out')


@case
def calls_over_tcp(ctx):
    _, _, c = call_round(10, tcp=True)
    check_eq(c['forwarded'], '20', 'INVITE and BYE forwarded over TCP')
    check_eq(c['stray'], '10', 'ACKs forwarded over TCP')


@case
def busy_and_cancel_over_tcp(ctx):
    call_round(5, 'uac_486', 'uas_486', tcp=True)
    _, _, c = call_round(5, 'uac_cancel', 'uas_cancel', tcp=True)
    check_eq(c['answered'], '5', 'CANCELs answered over TCP')


_branch = [0]


def bad_request(port, first_line, extra_headers='', cseq='1 OPTIONS',
                max_forwards='70'):
    """A request with its own branch (a new transaction each time)."""
    _branch[0] += 1
    return ('%s\r\n'
            'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad%d;rport\r\n'
            'From: <sip:t@127.0.0.1>;tag=x1\r\nTo: <sip:u@127.0.0.1>\r\n'
            'Call-ID: bad1@127.0.0.1\r\nCSeq: %s\r\nMax-Forwards: %s\r\n'
            '%sContent-Length: 0\r\n\r\n' % (first_line, _branch[0], cseq,
                                            max_forwards,
                                            extra_headers)).encode()


@case
def bad_requests_get_clear_answers(ctx):
    target = free_udp_port()     # nobody listens: nothing may be forwarded
    with Proxy(target) as px:
        uri = 'sip:u@127.0.0.1:%d' % px.port
        cases = [
            (bad_request(px.port, 'OPTIONS %s SIP/2.0' % uri, cseq='1 INVITE'),
             b'SIP/2.0 400 Bad CSeq: method does not match Request-Line'),
            (bad_request(px.port, 'OPTIONS  %s SIP/2.0' % uri),
             b'SIP/2.0 400 Malformed Request-Line: extra white space'),
            (bad_request(px.port, 'OPTIONS %s SIP/3.0' % uri),
             b'SIP/2.0 505 Version Not Supported'),
            (bad_request(px.port, 'OPTIONS %s SIP/2.0' % uri,
                         'To: <sip:dup@127.0.0.1>\r\n'),
             b'SIP/2.0 400 Multiple To header fields'),
            (bad_request(px.port, 'OPTIONS %s SIP/2.0' % uri,
                         max_forwards='0'),
             b'SIP/2.0 483 Too Many Hops'),
            (bad_request(px.port, 'OPTIONS %s SIP/2.0' % uri,
                         'Proxy-Require: foo\r\n'),
             b'SIP/2.0 420 Bad Extension'),
            (bad_request(px.port, 'OPTIONS mailto:u@127.0.0.1 SIP/2.0'),
             b'SIP/2.0 416 Unsupported URI Scheme'),
        ]
        for msg, want in cases:
            ans = udp_exchange(px.port, msg)
            check(ans is not None, 'no answer to %r' % msg[:60])
            check_eq(ans.split(b'\r\n')[0], want, 'answer to %r' % msg[:40])
        ans = udp_exchange(px.port, bad_request(
            px.port, 'OPTIONS %s SIP/2.0' % uri, 'Proxy-Require: foo\r\n'))
        check(b'\r\nUnsupported: foo\r\n' in ans, '420 lists the tag')
        # NUL-laden and oversized garbage: dropped, counted, no answer
        check(udp_exchange(px.port, b'\0' * 500, timeout=0.5) is None,
              'NULs answered')
        check(udp_exchange(px.port, b'X' * 60000, timeout=0.5) is None,
              'garbage answered')
        c = px.stop()
        check_eq(c['forwarded'], '0', 'nothing forwarded')
        check_eq(c['rx_bad'], '6', 'malformed messages counted')
        check('Sanitizer' not in px.stderr, px.stderr[-3000:])


@case
def tcp_bytewise_keepalive_and_answer(ctx):
    import socket
    import time
    target = free_udp_port()
    with Proxy(target, tcp=True) as px:
        with socket.create_connection(('127.0.0.1', px.port), timeout=5) as s:
            s.sendall(b'\r\n\r\n')              # RFC 5626 ping
            check_eq(s.recv(16), b'\r\n', 'pong')
            msg = bad_request(px.port, 'OPTIONS sip:u@127.0.0.1:%d SIP/2.0'
                              % px.port, max_forwards='0')
            for i in range(len(msg)):               # one byte at a time
                s.sendall(msg[i:i + 1])
                if i % 50 == 0:
                    time.sleep(0.001)
            data = b''
            while b'\r\n\r\n' not in data:
                chunk = s.recv(4096)
                check(chunk, 'connection closed before the answer')
                data += chunk
            check_eq(data.split(b'\r\n')[0], b'SIP/2.0 483 Too Many Hops',
                     'answer on the same connection')
        c = px.stop()
        check_eq(c['forwarded'], '0', 'nothing forwarded')


@case
def request_without_final_crlf_is_forwarded_not_503(ctx):
    # A datagram whose header block lacks the empty line parses (RFC 3261
    # 18.3: the datagram ends the message); it must be forwarded, not
    # answered 503 because the transaction's copy failed to re-parse.
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as uas:
        uas.bind(('127.0.0.1', 0))
        uas.settimeout(3.0)
        with Proxy(uas.getsockname()[1]) as px:
            msg = bad_request(px.port, 'OPTIONS sip:u@127.0.0.1:%d SIP/2.0'
                              % px.port)
            check(msg.endswith(b'\r\n\r\n'), 'test message shape')
            ans = udp_exchange(px.port, msg[:-2], timeout=1.0)
            check(ans is None, 'answered: %r' % ans)
            got = uas.recv(65535)
            check(got.startswith(b'OPTIONS sip:u@127.0.0.1:%d ' %
                                 uas.getsockname()[1]),
                  'forwarded: %r' % got[:80])
            check(b'Max-Forwards: 69\r\n' in got, 'Max-Forwards decremented')
            c = px.stop()
            check_eq(c['forwarded'], '1', 'forwarded')


def response_via(top_port, next_port, branch):
    return ('SIP/2.0 200 OK\r\n'
            'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n'
            'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKup%s\r\n'
            'From: <sip:t@127.0.0.1>;tag=x1\r\nTo: <sip:u@127.0.0.1>;tag=y\r\n'
            'Call-ID: stray@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n'
            'Content-Length: 0\r\n\r\n' % (top_port, branch, next_port,
                                            branch)).encode()


@case
def stray_response_forwarded_only_when_top_via_is_ours(ctx):
    # RFC 3261 16.11 (and 16.7 step 3): a response whose top Via is not
    # this proxy's is dropped, not sent on to the second Via.
    import socket
    target = free_udp_port()
    with Proxy(target) as px, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
        up.bind(('127.0.0.1', 0))
        up.settimeout(1.0)
        upport = up.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(response_via(free_udp_port(), upport, 'foreign'),
                     ('127.0.0.1', px.port))
            try:
                got = up.recv(65535)
            except socket.timeout:
                got = None
            check(got is None, 'a foreign response was forwarded: %r' % got)
            s.sendto(response_via(px.port, upport, 'ours'),
                     ('127.0.0.1', px.port))
            got = up.recv(65535)
            check(b'z9hG4bKupours' in got and b'z9hG4bKours' not in got,
                  'ours forwarded with our Via removed: %r' % got)
        c = px.stop()
        check_eq(c['dropped'], '1', 'foreign response counted')
        check_eq(c['stray'], '1', 'our stray response forwarded')


if __name__ == '__main__':
    run()
