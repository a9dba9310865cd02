#!/usr/bin/env python3
"""test_gatewayd — dpn-gatewayd against real PostgreSQL + mgmtd, with sipp
as the gatekeeper and as handsets (a small Python digest client registers
the handsets, so that wrong passwords and SHA-256 can be tried):

- start: allocation request -> block, first address bound (SIP answers
  there), the flat registers with the "gatekeeper" (digest gw-<flat>);
- handsets made in the admin get addresses through the gateway (FIG. 10)
  and the report agrees with the database;
- handset REGISTER: good (MD5, SHA-256), wrong password, wrong source;
- the flat number rings every registered handset, the first answer wins
  and the other gets CANCEL with Reason; a handset number rings one;
- a handset's outgoing call reaches the gatekeeper;
- restart -> same block; mgmtd down -> retried until it is back;
- --decommission frees the block."""
import hashlib
import os
import re
import secrets
import socket
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run, tmpdir, wait_for  # noqa: E402
import mgmtd  # noqa: E402
from sip import Sipp, free_udp_port, SCEN  # noqa: E402
import gatewayd  # noqa: E402

POOL = '127.33.0.0/24'
FLAT = '100-1101-1201'
S = {}


# ---- helpers ---------------------------------------------------------------

class Gatewayd(gatewayd.Gatewayd):
    """This file's flat's dpn-gatewayd (tests/lib/gatewayd.py), not waited
    for: some cases start it where it cannot come up."""

    def __init__(self, extra=(), sip_port=None, start=True):
        super().__init__(S['srv'].url, FLAT, S['gw_secret'], '02:00:00:33:00:00',
                         POOL, S['gk_port'], extra, sip_port=sip_port,
                         start=start, wait=False)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *a):
        rc = self.stop()
        if exc_type is None and rc != 0:
            raise RuntimeError('gatewayd exited %s:\n%s' % (rc, self.log()[-3000:]))


def first_address(pg):
    return pg.scalar("SELECT dpn.ip4(lower(range)) FROM dpn.blocks WHERE flat_id = %d"
                     % S['flat'])


def handset_address(pg, mac):
    return pg.scalar("SELECT dpn.ip4(addr) FROM dpn.assignments WHERE mac = '%s'" % mac)


def sip_request(dst, src, text, timeout=3.0):
    """Send one request from src (ip, port) to dst; return the first final
    (or non-100) answer as text, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(src)
        s.settimeout(timeout)
        s.sendto(text.encode(), dst)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                return None
            if data.startswith(b'SIP/2.0 ') and not data.startswith(b'SIP/2.0 100 '):
                return data.decode('utf-8', 'replace')
    return None


def register_msg(dst, src, user, number, cseq, contact_port, auth=None, expires=300,
                 call_id='reg'):
    return ('REGISTER sip:%s:%d SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
            'From: <sip:%s@%s>;tag=t%d\r\nTo: <sip:%s@%s>\r\n'
            'Call-ID: %s@test\r\nCSeq: %d REGISTER\r\n'
            'Contact: <sip:%s@%s:%d>\r\nExpires: %d\r\nMax-Forwards: 70\r\n'
            '%sContent-Length: 0\r\n\r\n'
            % (dst[0], dst[1], src[0], src[1], secrets.token_hex(6), number, dst[0],
               src[1], number, dst[0], call_id, cseq, number, src[0],
               contact_port, expires, ('Authorization: %s\r\n' % auth) if auth else ''))


def digest(chal_text, user, password, uri, alg):
    """Authorization value for the challenge of algorithm alg."""
    for line in chal_text.split('\r\n'):
        if line.lower().startswith('www-authenticate:') and \
                ('algorithm=%s' % alg).lower() in line.lower().replace('"', ''):
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(':', 1)[1]))
            break
    else:
        raise AssertionError('no %s challenge in %r' % (alg, chal_text))
    h = hashlib.md5 if alg == 'MD5' else hashlib.sha256
    ha1 = h(('%s:%s:%s' % (user, params['realm'], password)).encode()).hexdigest()
    ha2 = h(('REGISTER:%s' % uri).encode()).hexdigest()
    cnonce = secrets.token_hex(4)
    resp = h(('%s:%s:00000001:%s:auth:%s' % (ha1, params['nonce'], cnonce, ha2)).encode()).hexdigest()
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, qop=auth, nc=00000001, cnonce="%s"'
            % (user, params['realm'], params['nonce'], uri, resp, alg, cnonce))


def register(gw_addr, src, hs, password=None, alg='MD5', contact_port=None):
    """Register handset hs (mgmtd's record + sip_password) from src; return
    the final status of the authenticated REGISTER (or of the first one)."""
    dst = (gw_addr, S['gw'].sip_port)
    if not src[1]:
        src = (src[0], free_udp_port())
    contact_port = contact_port or src[1]
    cid = 'reg-' + secrets.token_hex(8)
    first = sip_request(dst, src, register_msg(dst, src, hs['sip_username'], hs['number'],
                                               1, contact_port, call_id=cid))
    check(first is not None, 'an answer to the first REGISTER')
    if not first.startswith('SIP/2.0 401'):
        return int(first.split()[1])
    auth = digest(first, hs['sip_username'], password or hs['sip_password'],
                  'sip:%s:%d' % dst, alg)
    ans = sip_request(dst, src, register_msg(dst, src, hs['sip_username'], hs['number'],
                                             2, contact_port, auth, call_id=cid))
    check(ans is not None, 'an answer to the authenticated REGISTER')
    return int(ans.split()[1])


def gk_registrar_scenario(user, secret):
    """A sipp 'gatekeeper' that challenges one REGISTER and checks the
    digest answer with verifyauth: 200 when right, 403 (and a failed call)
    when wrong."""
    path = os.path.join(S['dir'], 'gk_register.xml')
    with open(path, 'w') as f:
        f.write('''<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="gatekeeper registrar">
  <recv request="REGISTER"/>
  <send><![CDATA[

SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=gk[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="dpn", nonce="n[call_number]x7", algorithm=MD5
Content-Length: 0

]]></send>
  <recv request="REGISTER">
    <action>
      <ereg regexp="username=&quot;%s&quot;" search_in="hdr" header="Authorization:" check_it="true" assign_to="u"/>
      <ereg regexp="&lt;sip:%s@" search_in="hdr" header="Contact:" check_it="true" assign_to="c"/>
      <verifyauth assign_to="authok" username="%s" password="%s"/>
    </action>
  </recv>
  <nop test="authok" next="good"/>
  <send><![CDATA[

SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=gk[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <nop next="bad"/>
  <label id="good"/>
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=gk[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=3600
Content-Length: 0

]]></send>
  <nop next="end"/>
  <label id="bad"/>
  <!-- a wrong answer fails the call: nothing comes, the recv times out -->
  <recv request="OPTIONS" timeout="100"/>
  <label id="end"/>
  <Reference variables="u,c"/>
</scenario>
''' % (re.escape(user), re.escape(FLAT), user, secret))
    return path


def sipp(args):
    return Sipp(args + ['-timeout', '60', '-timeout_error'])


def sipp_at(scenario, ip, port, service=None, target=None):
    """One call of tests/sip/<scenario>.xml from ip:port (to target)."""
    args = ['-sf', os.path.join(SCEN, scenario + '.xml'), '-i', ip, '-p', str(port), '-m', '1']
    if service:
        args += ['-s', service, target]
    return sipp(args)


def call_gateway(ip, port, service):
    """sipp calling `service` at the gateway from ip:port."""
    return sipp_at('uac_fork', ip, port, service, '%s:%d' % (S['first'], S['gw'].sip_port))


def register_two():
    """Handsets 1 and 2 registered with contacts on fresh ports; returns
    the ports."""
    ports = free_udp_port(), free_udp_port()
    for h, p in zip(S['hs'][:2], ports):
        check_eq(register(S['first'], (h['address'], 0), h, contact_port=p), 200,
                 '%s registered' % h['number'])
    return ports


def invite(user, src):
    """A bare INVITE for user from src (ip, port); the final answer."""
    first = S['first']
    return sip_request((first, S['gw'].sip_port), src,
                       'INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s\r\n'
                       'From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@t\r\n'
                       'CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
                       % (user, first, src[0], src[1] or 9, secrets.token_hex(6), user, first,
                          secrets.token_hex(6)))


def wait_all(*procs):
    for p in procs:
        p.wait()


# ---- cases -----------------------------------------------------------------

@case
def start_allocates_binds_and_registers_the_flat(pg):
    gk = sipp(['-sf', gk_registrar_scenario(S['gw_user'], S['gw_secret']), '-i', '127.0.0.1',
               '-p', str(S['gk_port']), '-m', '1'])
    S['gw'] = g = Gatewayd()
    g.wait_log(r'SIP on 127\.33\.0\.\d+:%d' % g.sip_port)
    first = first_address(pg)
    check(first is not None, 'a block in the database')
    check('first address %s' % first in g.log(), 'the log names the first address')
    S['first'] = first
    ans = sip_request((first, g.sip_port), ('127.0.0.1', 0),
                      'OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKo1\r\n'
                      'From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:%s:%d>\r\nCall-ID: o1@t\r\n'
                      'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
                      % (first, g.sip_port, first, g.sip_port))
    check(ans and ans.startswith('SIP/2.0 200'), 'SIP answers on the first address: %r' % ans)
    gk.wait()
    check_eq(gk.rc, 0, 'the gatekeeper accepted the digest answer: %s %s' % (gk.out[-1500:], gk.errors))
    g.wait_log(r'flat %s reachable' % FLAT)
    wait_for(lambda: g.metric('dpn_gw_flat_reachable') == 1, what='reachable metric')


@case
def handsets_from_the_admin_get_addresses_and_the_report_agrees(pg):
    a = S['admin']
    S['hs'] = []
    for n in range(1, 4):
        status, h = a.post('/api/v1/flats/%d/handsets' % S['flat'],
                           {'mac': '02:00:00:33:00:%02x' % n})
        check_eq(status, 201, 'handset %d: %r' % (n, h))
        S['hs'].append(h)
    for h in S['hs']:
        wait_for(lambda: handset_address(pg, h['mac']), what='address of %s' % h['mac'])
        h['address'] = handset_address(pg, h['mac'])
    S['gw'].wait_log(r'3 handsets from mgmtd \(3 with an address\)')
    ans = invite(FLAT, ('127.0.0.1', 0))
    check(ans and ans.startswith('SIP/2.0 480'), 'no handset registered: 480, got %r' % ans)
    S['gw'].wait_log(r'allotted and free addresses agree with mgmtd')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def handset_registers_from_its_own_address_only(pg):
    h1, h2 = S['hs'][0], S['hs'][1]
    first = S['first']
    check_eq(register(first, (h1['address'], 0), h1, password='wrong' * 4), 401,
             'wrong password: 401')
    check_eq(register(first, (h2['address'], 0), h1), 403,
             "from another handset's address: 403")
    check_eq(register(first, ('127.0.0.1', 0), h1), 403, 'from outside the block: 403')
    check_eq(register(first, (h1['address'], 0), h1, alg='SHA-256'), 200, 'SHA-256: 200')
    check_eq(register(first, (h1['address'], 0), h1, alg='MD5'), 200, 'MD5: 200')
    S['gw'].wait_log(r'handset %s registered' % h1['number'])
    row = wait_for(lambda: pg.psql(
        "SELECT r.registered, r.contact, r.since IS NOT NULL FROM dpn.handset_registrations r "
        "WHERE r.handset_id = %d AND r.registered" % h1['id']), timeout=5,
        what='registration state in mgmtd')
    check_eq(row[0][0], 't', 'registered in the database')
    check(row[0][1].startswith('sip:%s@%s:' % (h1['number'], h1['address'])),
          'contact there: %r' % row)
    check_eq(row[0][2], 't', 'since set')
    other = pg.scalar("SELECT registered FROM dpn.handset_registrations WHERE handset_id = %d"
                      % S['hs'][1]['id'])
    check_eq(other, 'f', 'a handset not registered says so')


@case
def flat_number_rings_all_first_answer_wins(pg):
    h1, h2 = S['hs'][0], S['hs'][1]
    p1, p2 = register_two()
    ans = sipp_at('uas_fork_answer', h1['address'], p1)
    lose = sipp_at('uas_fork_cancel', h2['address'], p2)
    time.sleep(0.5)
    caller = call_gateway('127.0.0.1', free_udp_port(), FLAT)
    wait_all(caller, ans, lose)
    check_eq(caller.rc, 0, 'caller got the call: %s %s' % (caller.out[-1500:], caller.errors))
    check_eq(ans.rc, 0, 'one handset answered: %s' % ans.errors)
    check_eq(lose.rc, 0, 'the other got CANCEL with Reason: %s %s' % (lose.out[-800:], lose.errors))
    S['gw'].wait_log(r'flat %s rings 2 handsets' % FLAT)


@case
def handset_number_rings_that_one_only(pg):
    h1, h2 = S['hs'][0], S['hs'][1]
    p1, p2 = register_two()
    ans = sipp_at('uas_fork_answer', h2['address'], p2)
    # h1 listens too: any INVITE there would be a call it must not get.
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind((h1['address'], p1))
    quiet.settimeout(0.1)
    time.sleep(0.5)
    caller = call_gateway('127.0.0.1', free_udp_port(), h2['number'])
    wait_all(caller, ans)
    got = []
    try:
        while True:
            got.append(quiet.recvfrom(65535)[0])
    except socket.timeout:
        pass
    quiet.close()
    check_eq(caller.rc, 0, 'caller got the call: %s %s' % (caller.out[-1500:], caller.errors))
    check_eq(ans.rc, 0, 'handset 2 answered: %s' % ans.errors)
    check_eq([x for x in got if x.startswith(b'INVITE')], [], 'handset 1 did not ring')
    ans = invite(S['hs'][2]['number'], ('127.0.0.1', 0))
    check(ans and ans.startswith('SIP/2.0 480'), 'unregistered handset: 480, got %r' % ans)
    ans = invite('100-1101-1299', ('127.0.0.1', 0))
    check(ans and ans.startswith('SIP/2.0 404'), 'another flat: 404, got %r' % ans)


@case
def all_busy_gives_486(pg):
    h1, h2 = S['hs'][0], S['hs'][1]
    p1, p2 = register_two()
    b1 = sipp_at('uas_486', h1['address'], p1)
    b2 = sipp_at('uas_486', h2['address'], p2)
    time.sleep(0.5)
    caller = sipp_at('uac_486', '127.0.0.1', free_udp_port(), FLAT,
                     '%s:%d' % (S['first'], S['gw'].sip_port))
    wait_all(caller, b1, b2)
    check_eq((caller.rc, b1.rc, b2.rc), (0, 0, 0),
             'both rang, both busy, the caller got 486: %s' % caller.errors)


@case
def caller_cancels_every_branch_is_cancelled(pg):
    h1, h2 = S['hs'][0], S['hs'][1]
    p1, p2 = register_two()
    # One rings (180), the other only says 100: the caller sees one 180
    # before it cancels, and both must get the CANCEL.
    with open(os.path.join(SCEN, 'uas_fork_cancel.xml')) as f:
        quiet = re.sub(r'<recv request="CANCEL">.*?</recv>', '<recv request="CANCEL"/>',
                       f.read(), flags=re.S).replace('<Reference variables="reason"/>', '')
    path = os.path.join(S['dir'], 'uas_trying_cancel.xml')
    with open(path, 'w') as f:
        f.write(quiet)
    r1 = sipp_at('uas_cancel', h1['address'], p1)
    r2 = sipp(['-sf', path, '-i', h2['address'], '-p', str(p2), '-m', '1'])
    time.sleep(0.5)
    caller = sipp_at('uac_cancel', '127.0.0.1', free_udp_port(), FLAT,
                     '%s:%d' % (S['first'], S['gw'].sip_port))
    wait_all(caller, r1, r2)
    check_eq((caller.rc, r1.rc, r2.rc), (0, 0, 0),
             'both rang and got CANCEL; the caller got 487: %s %s %s'
             % (caller.errors, r1.errors, r2.errors))


@case
def new_credentials_and_removal_take_effect_within_2s(pg):
    h3 = S['hs'][2]
    status, cr = S['admin'].post('/api/v1/handsets/%d/credentials' % h3['id'])
    check_eq(status, 200, 'new credentials: %r' % cr)
    t0 = time.monotonic()
    new = dict(h3, sip_password=cr['sip_password'])
    wait_for(lambda: register(S['first'], (h3['address'], 0), new) == 200, timeout=2,
             what='the new password works', step=0.1)
    check_eq(register(S['first'], (h3['address'], 0), h3), 401, 'the old one does not')
    check(time.monotonic() - t0 < 2.5, 'within 2 s')
    status, _ = S['admin'].delete('/api/v1/handsets/%d' % h3['id'])
    check_eq(status, 204, 'handset removed in the admin')
    wait_for(lambda: register(S['first'], (h3['address'], 0), new) == 401, timeout=2,
             what='a removed handset can no longer register', step=0.1)
    S['gw'].wait_log(r'handset %s: credentials or address changed; binding removed'
                     % h3['number'])


@case
def outgoing_call_from_a_handset_reaches_the_gatekeeper(pg):
    h1 = S['hs'][0]
    port = free_udp_port()
    check_eq(register(S['first'], (h1['address'], port), h1), 200, 'h1 registered from its port')
    # The handset claims another identity; the gatekeeper must see only
    # the handset's own full number asserted.
    with open(os.path.join(SCEN, 'uac_fork.xml')) as f:
        spoof = f.read().replace('CSeq: 1 INVITE\n', 'CSeq: 1 INVITE\n'
                                 '      P-Asserted-Identity: <sip:999-9999-9999-9@evil>\n', 1)
    check('999-9999' in spoof, 'spoofed header in the scenario')
    with open(os.path.join(SCEN, 'uas_fork_answer.xml')) as f:
        gk_scen = f.read().replace(
            '<recv request="INVITE"/>',
            '<recv request="INVITE"><action><ereg regexp="^ *&lt;sip:%s@" search_in="hdr" '
            'header="P-Asserted-Identity:" check_it="true" assign_to="pai"/></action></recv>'
            % re.escape(h1['number']), 1).replace('</scenario>', '<Reference variables="pai"/></scenario>')
    paths = [os.path.join(S['dir'], n) for n in ('uac_spoof.xml', 'gk_pai.xml')]
    for path, text in zip(paths, (spoof, gk_scen)):
        with open(path, 'w') as f:
            f.write(text)
    gk = sipp(['-sf', paths[1], '-i', '127.0.0.1', '-p', str(S['gk_port']), '-m', '1'])
    time.sleep(0.5)
    caller = sipp(['-sf', paths[0], '-i', h1['address'], '-p', str(port), '-m', '1',
                   '-s', '200-1101-1201', '%s:%d' % (S['first'], S['gw'].sip_port)])
    wait_all(caller, gk)
    check_eq(caller.rc, 0, 'the call went through: %s %s' % (caller.out[-1500:], caller.errors))
    check_eq(gk.rc, 0, "the gatekeeper got it, asserted as the handset's number: %s"
             % gk.errors)
    ans = invite('200-1101-1201', (S['hs'][2]['address'], 0))
    check(ans and ans.startswith('SIP/2.0 403'), 'an unregistered device: 403, got %r' % ans)


@case
def gatekeeper_refusal_is_retried_with_backoff(pg):
    g = S['gw']
    check_eq(g.stop(), 0, 'clean stop')
    wrong = sipp(['-sf', gk_registrar_scenario(S['gw_user'], 'not-the-secret'), '-i',
                  '127.0.0.1', '-p', str(S['gk_port']), '-m', '1'])
    g.start()
    wrong.wait()
    check(wrong.rc != 0, 'sipp saw a digest made with another secret (verifyauth works)')
    g.wait_log(r'flat %s NOT reachable via gatekeeper .*: answered 403' % FLAT)
    check_eq(g.metric('dpn_gw_flat_reachable'), 0, 'metric says unreachable')
    good = sipp(['-sf', gk_registrar_scenario(S['gw_user'], S['gw_secret']), '-i',
                 '127.0.0.1', '-p', str(S['gk_port']), '-m', '1'])
    good.wait()
    check_eq(good.rc, 0, 're-registered after the backoff: %s' % good.errors)
    g.wait_log(r'(?s)answered 403.*flat %s reachable' % FLAT)
    wait_for(lambda: g.metric('dpn_gw_flat_reachable') == 1, what='reachable again')


@case
def a_moved_block_moves_sip_to_the_new_first_address(pg):
    # Flat 2 takes the addresses right after flat 1's block, so flat 1
    # cannot grow in place: its fifth device moves it to a new block.
    status, cred = S['admin'].put('/api/v1/flats/%d/gateway' % S['flat2'])
    check_eq(status, 201, 'flat 2 gateway: %r' % cred)
    c2 = S['srv'].client().basic(cred['username'], cred['secret'])
    status, a = c2.post('/api/v1/broker/allocate', {'gateway_mac': '02:00:00:33:01:00'})
    check_eq(status, 200, 'flat 2 allocated: %r' % a)
    old = S['first']
    for n in (0x0a, 0x0b):
        status, h = S['admin'].post('/api/v1/flats/%d/handsets' % S['flat'],
                                    {'mac': '02:00:00:33:00:%02x' % n})
        check_eq(status, 201, 'handset made: %r' % h)
    g = S['gw']
    m = g.wait_log(r'block moved: first address now (127\.33\.0\.\d+)')
    new = m.group(1)
    check(new != old, 'a new first address')
    check_eq(first_address(pg), new, 'the database agrees')
    g.wait_log(r'SIP on %s:%d' % (re.escape(new), g.sip_port))
    ans = sip_request((new, g.sip_port), ('127.0.0.1', 0),
                      'OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKm1\r\n'
                      'From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: m1@t\r\n'
                      'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
                      % (new, g.sip_port, new))
    check(ans and ans.startswith('SIP/2.0 200'), 'SIP answers on the new address: %r' % ans)
    S['first'] = new
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def the_real_gatekeeper_rings_the_flat_through_gatewayd(pg):
    """dpn-gatekeeper in place of the sipp stand-in: the flat registers with
    it (digest against the HA1s mgmtd stored, from the first address) and a
    call to the flat number at the gatekeeper rings the handsets."""
    from gatekeeper import Gatekeeper
    g = S['gw']
    check_eq(g.stop(), 0, 'clean stop')
    with Gatekeeper(pg, site=100, port=S['gk_port']) as gk:
        g.start()
        g.wait_log(r'flat %s reachable via gatekeeper' % FLAT)
        h1, h2 = S['hs'][0], S['hs'][1]
        if h1['address'] != handset_address(pg, h1['mac']):
            for h in (h1, h2):      # the block moved in an earlier case
                h['address'] = handset_address(pg, h['mac'])
        g.wait_log(r'handsets from mgmtd \(\d+ with an address\)')
        p1, p2 = register_two()
        ans = sipp_at('uas_fork_answer', h1['address'], p1)
        lose = sipp_at('uas_fork_cancel', h2['address'], p2)
        time.sleep(0.5)
        caller = sipp_at('uac_fork', '127.0.0.1', free_udp_port(), FLAT,
                         '127.0.0.1:%d' % gk.port)
        wait_all(caller, ans, lose)
        check_eq((caller.rc, ans.rc, lose.rc), (0, 0, 0),
                 'caller -> gatekeeper -> gatewayd -> both handsets, one answered, the other '
                 'CANCELled: %s %s %s\n%s' % (caller.errors, ans.errors, lose.errors, gk.log()))


@case
def restart_gets_the_same_block(pg):
    first = S['first']
    check_eq(S['gw'].stop(), 0, 'clean stop')
    S['gw'].start()
    S['gw'].wait_log(r'first address %s' % re.escape(first))
    check_eq(first_address(pg), first, 'same block in the database')


@case
def mgmtd_down_is_retried_with_backoff(pg):
    g = S['gw']
    check_eq(g.stop(), 0, 'clean stop')
    S['srv'].stop()
    g.start()
    g.wait_log(r'mgmtd: allocate: .*(refused|Couldn|timed out|connect)', timeout=15)
    time.sleep(2)
    S['srv'].start()
    g.wait_log(r'(?s)allocate: .*first address %s' % re.escape(S['first']), timeout=20)
    check(g.metric('dpn_gw_mgmtd_errors_total') >= 1, 'failures counted')


@case
def decommission_frees_the_block(pg):
    g = S['gw']
    check_eq(g.stop(), 0, 'clean stop')
    p = g.start(['--decommission'])
    check_eq(p.wait(timeout=30), 0, 'decommission exits 0: %s' % g.log()[-2000:])
    check_eq(first_address(pg), None, 'no block any more')
    check_eq(pg.scalar('SELECT count(*) FROM dpn.assignments WHERE flat_id = %d' % S['flat']),
             '0', 'no assignments')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


if __name__ == '__main__':
    with Cluster() as cluster:
        mgmtd.migrate(cluster)
        site, flats = mgmtd.seed(cluster, cidr=POOL, flats=2)
        S['flat'], S['flat2'] = flats[0], flats[1]
        S['dir'] = tmpdir('dpn-gwtest-')
        S['gk_port'] = free_udp_port()
        mgmtd.add_user(cluster, 'op')
        token = mgmtd.add_token(cluster, 'op')
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            S['admin'] = server.client().bearer(token)
            status, cred = S['admin'].put('/api/v1/flats/%d/gateway' % S['flat'])
            assert status == 201, cred
            S['gw_user'], S['gw_secret'] = cred['username'], cred['secret']
            try:
                run(cluster)
            finally:
                if S.get('gw'):
                    S['gw'].stop()
                    print(S['gw'].log()[-4000:])
