#!/usr/bin/env python3
"""test_bench_rtp_load — the RTP generator of the issue 11 benchmark
(bench/rtp_load.c) counts what it should, on loopback: pairs of streams
sending to each other (everything received, nothing lost), a stream whose
remote nobody listens on (its packets lost, counted, the stream silent),
a relay in between that drops every tenth packet (gaps found by sequence
number), and bad input refused with a message naming it."""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import BUILD, case, check, check_eq, run  # noqa: E402

RTP_LOAD = os.path.join(BUILD, 'bench', 'rtp_load')


def free_ports(n):
    """n UDP ports on 127.0.0.1 free a moment ago."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.1', 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def load(lines, *args):
    """rtp_load fed `lines`; (exit code, JSON summary or None, stderr)."""
    r = subprocess.run([RTP_LOAD, '--drain', '300'] + list(args), input=''.join(lines),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, json.loads(r.stdout) if r.returncode == 0 else None, r.stderr


def line(a, b):
    return '127.0.0.1:%d 127.0.0.1:%d\n' % (a, b)


@case
def pairs_receive_everything(ctx):
    p = free_ports(20)
    rc, res, err = load([line(p[i], p[i ^ 1]) for i in range(20)], '--seconds', '1')
    check_eq(rc, 0, 'exit code (%s)' % err)
    check_eq((res['streams'], res['sockets'], res['ticks']), (20, 20, 50),
             'streams, sockets, ticks of 20 ms in 1 s')
    check_eq((res['sent'], res['received'], res['lost'], res['lost_seq'],
              res['lost_ends'], res['silent_streams'], res['unknown']),
             (1000, 1000, 0, 0, 0, 0, 0), 'sent, received and every kind of loss')


@case
def a_remote_nobody_listens_on_is_lost(ctx):
    a, b, dead, c = free_ports(4)
    rc, res, err = load([line(a, b), line(b, a), line(c, dead)], '--seconds', '1')
    check_eq(rc, 0, 'exit code (%s)' % err)
    check_eq((res['sent'], res['received'], res['lost'], res['silent_streams']),
             (150, 100, 50, 1), 'the third stream\'s 50 packets lost, it heard nothing')


def relay(s1, s2, a_addr, b_addr, stop, dropped):
    """Packets from a (on s1) to b (sent from s2) and back (s2 -> s1, to
    a); every tenth of each way (sequence number) dropped."""
    for s in (s1, s2):
        s.settimeout(0.05)
    while not stop.is_set():
        for s, out, to in ((s1, s2, b_addr), (s2, s1, a_addr)):
            try:
                data = s.recv(2048)
            except socket.timeout:
                continue
            if int.from_bytes(data[2:4], 'big') % 10 == 5:
                dropped.append(1)
                continue
            out.sendto(data, to)


@case
def gaps_found_by_sequence_number(ctx):
    s1, s2 = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (s1, s2):
        s.bind(('127.0.0.1', 0))
    a, b = free_ports(2)
    stop, dropped = threading.Event(), []
    t = threading.Thread(target=relay, args=(s1, s2, ('127.0.0.1', a), ('127.0.0.1', b),
                                             stop, dropped))
    t.start()
    try:
        rc, res, err = load([line(a, s1.getsockname()[1]), line(b, s2.getsockname()[1])],
                            '--seconds', '1')
    finally:
        stop.set()
        t.join()
        s1.close()
        s2.close()
    check_eq(rc, 0, 'exit code (%s)' % err)
    check(len(dropped) >= 8, 'the relay dropped some: %d' % len(dropped))
    check_eq(res['lost'], len(dropped), 'lost = what the relay dropped')
    check_eq(res['lost_seq'] + res['lost_ends'], len(dropped),
             'every drop found, as a gap or at an end')
    check_eq(res['lost_head'] + res['lost_tail'], res['lost_ends'],
             'the ends told apart by the sender\'s SSRC')
    check(res['lost_seq'] >= len(dropped) - 2, 'gaps: %d of %d' % (res['lost_seq'],
                                                                   len(dropped)))


@case
def bad_input_refused(ctx):
    a, b = free_ports(2)
    for lines, args, want in (
            (['garbage\n'], [], 'line 1'),
            ([line(a, b), '10.0.0.1:5000 127.0.0.1:6000\n'], [], 'line 2'),
            (['127.0.0.1:70000 127.0.0.1:6000\n'], [], 'line 1'),
            ([line(a, b), line(b, b), line(a + 1, b)], [], 'twice'),
            ([], [], 'no streams'),
            ([line(a, b)], ['--seconds', '0'], 'usage'),
            ([line(a, b)], ['--seconds', '100000'], 'usage'),
            ([line(a, b)], ['--ptime', '1'], 'usage'),
            ([line(20000 + i % 40000, 20000 + i % 40000) for i in range(10001)], [],
             'more than 10000')):
        rc, res, err = load(lines, *args)
        check_eq(rc, 2, 'exit code for %r...' % lines[:1])
        check(want in err, 'the message names it (%s): %r' % (want, err))


if __name__ == '__main__':
    run()
