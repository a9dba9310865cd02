#!/usr/bin/env python3
"""scripts/demo-register.py — registers one demo handset with its flat's
dpn-gatewayd on behalf of a sipp handset (the registrar offers SHA-256
first; this answers its MD5 challenge, with the standard library only).

  demo-register.py GW_ADDR:PORT HANDSET_ADDR CONTACT_PORT USER NUMBER PASSWORD [EXPIRES]

The REGISTER goes out from HANDSET_ADDR (the handset's own address, which
the gateway checks) with Contact sip:NUMBER@HANDSET_ADDR:CONTACT_PORT, where
the sipp handset listens. Prints the final status; exit 0 on 200."""
import hashlib
import re
import secrets
import socket
import sys
import time


def request(gw, src, user, number, port, cseq, cid, expires, auth=None):
    return ('REGISTER sip:%s:%d SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
            'From: <sip:%s@%s>;tag=d%s\r\nTo: <sip:%s@%s>\r\n'
            'Call-ID: %s\r\nCSeq: %d REGISTER\r\n'
            'Contact: <sip:%s@%s:%d>\r\nExpires: %d\r\nMax-Forwards: 70\r\n'
            'User-Agent: dpn-demo\r\n%sContent-Length: 0\r\n\r\n'
            % (gw[0], gw[1], src[0], src[1], secrets.token_hex(6), number, gw[0],
               cid[:8], number, gw[0], cid, cseq, number, src[0], port, expires,
               ('Authorization: %s\r\n' % auth) if auth else '')).encode()


def final_answer(s, deadline):
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(65535).decode('utf-8', 'replace')
        except socket.timeout:
            break
        if data.startswith('SIP/2.0 ') and not data.startswith('SIP/2.0 1'):
            return data
    return None


def md5_auth(answer, user, password, uri):
    for line in answer.split('\r\n'):
        if line.lower().startswith('www-authenticate:') and \
                'algorithm=md5' in line.lower().replace('"', ''):
            p = dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(':', 1)[1]))
            break
    else:
        return None
    md5 = lambda t: hashlib.md5(t.encode()).hexdigest()
    cnonce = secrets.token_hex(4)
    resp = md5('%s:%s:00000001:%s:auth:%s' % (md5('%s:%s:%s' % (user, p['realm'], password)),
                                               p['nonce'], cnonce, md5('REGISTER:' + uri)))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"'
            % (user, p['realm'], p['nonce'], uri, resp, cnonce))


def main(argv):
    if len(argv) not in (7, 8):
        sys.exit(__doc__)
    host, _, port = argv[1].rpartition(':')
    gw = (host, int(port))
    addr, cport, user, number, password = argv[2], int(argv[3]), argv[4], argv[5], argv[6]
    expires = int(argv[7]) if len(argv) == 8 else 300
    cid = secrets.token_hex(8) + '@dpn-demo'
    deadline = time.monotonic() + 5
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((addr, 0))
        src = s.getsockname()
        s.sendto(request(gw, src, user, number, cport, 1, cid, expires), gw)
        ans = final_answer(s, deadline)
        if ans and ans.startswith('SIP/2.0 401'):
            auth = md5_auth(ans, user, password, 'sip:%s:%d' % gw)
            if auth:
                s.sendto(request(gw, src, user, number, cport, 2, cid, expires, auth), gw)
                ans = final_answer(s, deadline)
    status = ans.split('\r\n', 1)[0] if ans else 'no answer within 5 s'
    print(status)
    return 0 if ans and ans.startswith('SIP/2.0 200') else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
