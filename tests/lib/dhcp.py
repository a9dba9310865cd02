"""tests/lib/dhcp.py — what the dhcp-hook tests and benches share: relayed
DHCPv4 packets (DISCOVER, REQUEST, RELEASE, DECLINE with option 82
circuit-id, giaddr 127.0.0.1 and the relay-port sub-option so that Kea
answers the test's own port), a Kea configuration generator, a kea-dhcp4
process runner and a control-socket client.

    kea = Kea(pg, tmp, pools=[(pool_id, '10.77.0.0/24')])
    kea.start()
    relay = Relay(kea.port)
    ack = relay.dora(b'1101-1201', mac)     # -> Reply or None
    kea.command('dpn-stats')
    kea.stop(); relay.close()
"""
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

from dpn_test import BUILD, ROOT, free_port, wait_for

sys.path.insert(0, os.path.join(ROOT, 'dhcp-hook'))
import kea_config as _kc  # noqa: E402  (the generator deployments use)

KEA_DHCP4 = os.environ.get('KEA_DHCP4', '/usr/sbin/kea-dhcp4')
KEA_HOOKS = _kc.KEA_HOOKS
HOOK = os.path.join(BUILD, 'lib', 'libdpn_dhcp.so')

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE = 1, 2, 3, 4, 5, 6, 7
MAGIC = b'\x63\x82\x53\x63'
GIADDR = '127.0.0.1'


def mac_bytes(mac):
    """'aa:bb:..' or 'aa-bb-..' -> 6 bytes."""
    return bytes(int(x, 16) for x in mac.replace('-', ':').split(':'))


def option(code, data):
    return bytes([code, len(data)]) + data


def relay_agent(circuit, relay_port=True):
    """Option 82: circuit-id (sub-option 1) and, by default, an empty
    relay-port sub-option (19, RFC 8357) so Kea answers our source port."""
    sub = b''
    if circuit is not None:
        sub += bytes([1, len(circuit)]) + circuit
    if relay_port:
        sub += bytes([19, 0])
    return option(82, sub)


def packet(msgtype, mac, circuit, xid, ciaddr='0.0.0.0', requested=None,
           server_id=None, giaddr=GIADDR, extra=b''):
    """A relayed BOOTREQUEST: circuit is bytes (None: no option 82)."""
    chaddr = mac_bytes(mac).ljust(16, b'\0')
    hdr = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 1, xid, 0, 0,
                      socket.inet_aton(ciaddr), b'\0' * 4, b'\0' * 4,
                      socket.inet_aton(giaddr), chaddr, b'', b'')
    opts = option(53, bytes([msgtype]))
    if requested:
        opts += option(50, socket.inet_aton(requested))
    if server_id:
        opts += option(54, socket.inet_aton(server_id))
    opts += extra
    # Option 82 goes last (RFC 3046), before the end option.
    opts += relay_agent(circuit) if circuit is not None else b''
    return hdr + MAGIC + opts + b'\xff'


class Reply:
    """A parsed BOOTREPLY: type (OFFER/ACK/NAK), yiaddr, server_id, xid."""

    def __init__(self, data):
        if len(data) < 240 or data[236:240] != MAGIC:
            raise ValueError('not a DHCP reply')
        self.xid = struct.unpack('!I', data[4:8])[0]
        self.yiaddr = socket.inet_ntoa(data[16:20])
        self.options = {}
        i = 240
        while i < len(data) and data[i] != 255:
            if data[i] == 0:
                i += 1
                continue
            code, ln = data[i], data[i + 1]
            self.options[code] = data[i + 2:i + 2 + ln]
            i += 2 + ln
        self.type = self.options.get(53, b'\0')[0]
        sid = self.options.get(54)
        self.server_id = socket.inet_ntoa(sid) if sid else None

    def __repr__(self):
        return 'Reply(type=%d, yiaddr=%s)' % (self.type, self.yiaddr)


class Relay:
    """A relay agent on 127.0.0.1 talking to Kea on `port`."""

    def __init__(self, port, timeout=2.0):
        self.kea = ('127.0.0.1', port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def exchange(self, pkt, timeout=None, want_reply=True):
        """Send pkt; return the Reply with the same xid, or None on timeout."""
        xid = struct.unpack('!I', pkt[4:8])[0]
        self.sock.sendto(pkt, self.kea)
        if not want_reply:
            return None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(4096)
            except socket.timeout:
                return None
            try:
                r = Reply(data)
            except ValueError:
                continue
            if r.xid == xid:
                return r

    def discover(self, circuit, mac, timeout=None):
        return self.exchange(packet(DISCOVER, mac, circuit, _xid()), timeout)

    def request(self, circuit, mac, addr, server_id=None, renew=False,
                timeout=None):
        """SELECTING (requested address + server id) or, with renew, a
        RENEWING request (ciaddr set), both relayed."""
        if renew:
            pkt = packet(REQUEST, mac, circuit, _xid(), ciaddr=addr)
        else:
            pkt = packet(REQUEST, mac, circuit, _xid(), requested=addr,
                         server_id=server_id)
        return self.exchange(pkt, timeout)

    def dora(self, circuit, mac, timeout=None):
        """DISCOVER then REQUEST; the final Reply (ACK/NAK) or None."""
        offer = self.discover(circuit, mac, timeout)
        if offer is None or offer.type != OFFER:
            return offer
        return self.request(circuit, mac, offer.yiaddr, offer.server_id,
                            timeout=timeout)

    def release(self, circuit, mac, addr, server_id):
        self.exchange(packet(RELEASE, mac, circuit, _xid(), ciaddr=addr,
                             server_id=server_id), want_reply=False)

    def decline(self, circuit, mac, addr, server_id):
        self.exchange(packet(DECLINE, mac, circuit, _xid(), requested=addr,
                             server_id=server_id), want_reply=False)


def _xid():
    return random.getrandbits(32)


def kea_config(tmp, pg_dir, pools, **kw):
    """dhcp-hook/kea_config.py's configuration with the tests' defaults: the
    hook of this build, relayed from GIADDR."""
    kw.setdefault('hook_path', HOOK)
    kw.setdefault('relay', GIADDR)
    return _kc.kea_config(tmp, pg_dir, pools, **kw)


class Kea:
    """A kea-dhcp4 process on 127.0.0.1:port (free port) with the config
    from kea_config(); files in tmp. stop() always kills it by PID."""

    def __init__(self, pg, tmp, pools, client_port=None, **cfg_args):
        self.tmp = tmp
        self.port = free_port(socket.SOCK_DGRAM)
        self.client_port = client_port     # -P: where relayed answers go
        self.conf = os.path.join(tmp, 'kea-dhcp4.conf')
        self.sock = os.path.join(tmp, 'kea.sock')
        self.log = os.path.join(tmp, 'kea.log')
        self.out = os.path.join(tmp, 'kea.out')
        self.proc = None
        self.write_config(kea_config(tmp, pg.dir, pools, **cfg_args))

    def config_with(self, **hook_params):
        """This Kea's Dhcp4 configuration with the dpn hook's parameters
        changed (for config-set); the running configuration is untouched."""
        cfg = dict(self.config['Dhcp4'])
        cfg['hooks-libraries'] = [dict(l) for l in cfg['hooks-libraries']]
        cfg['hooks-libraries'][-1]['parameters'] = dict(
            cfg['hooks-libraries'][-1]['parameters'], **hook_params)
        return cfg

    def write_config(self, cfg):
        self.config = cfg
        with open(self.conf, 'w') as f:
            json.dump(cfg, f, indent=1)

    def start(self):
        env = dict(os.environ, KEA_PIDFILE_DIR=self.tmp,
                   KEA_LOCKFILE_DIR=self.tmp)
        # ASan options of the test run do not apply: kea-dhcp4 is not built
        # with it, and neither is the hook it loads.
        env.pop('LD_PRELOAD', None)
        with open(self.out, 'ab') as out:
            args = [KEA_DHCP4, '-c', self.conf, '-p', str(self.port)]
            if self.client_port:
                args += ['-P', str(self.client_port)]
            self.proc = subprocess.Popen(args,
                stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self._alive() and self.command('version-get'),
                 timeout=20, what='kea-dhcp4 control socket')
        # mgmtd drops to user dpn and must reach the socket (a deployment
        # gives the dpn user the socket's group instead).
        if os.getuid() == 0:
            import pwd
            dpn = pwd.getpwnam('dpn')
            os.chown(self.sock, dpn.pw_uid, dpn.pw_gid)
        return self

    def _alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError('kea-dhcp4 exited %s:\n%s' % (
                self.proc.returncode, self.output()))
        return True

    def output(self):
        text = ''
        for p in (self.out, self.log):
            if os.path.exists(p):
                with open(p, errors='replace') as f:
                    text += f.read()[-4000:]
        return text

    def command(self, name, arguments=None, timeout=10):
        """Send a control command; return the decoded answer (a dict)."""
        req = {'command': name}
        if arguments is not None:
            req['arguments'] = arguments
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(json.dumps(req).encode())
            buf = b''
            while True:
                try:
                    ans = json.loads(buf.decode()) if buf else None
                    if ans is not None:
                        return ans
                except ValueError:
                    pass
                chunk = s.recv(65536)
                if not chunk:
                    return json.loads(buf.decode())
                buf += chunk

    def stats(self):
        """The hook's counters (dpn-stats)."""
        ans = self.command('dpn-stats')
        if ans.get('result') != 0:
            raise RuntimeError('dpn-stats: %r' % ans)
        return ans['arguments']

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def migrate(pg):
    """Apply the dpn schema with the real runner (dpn-mgmtd migrate)."""
    import mgmtd
    mgmtd.migrate(pg)


# ---- dpn side of the tests: broker set-up and what the hook recorded.

def allocate(pg, gateway_id, gateway_mac, handsets=()):
    """Flow 1 through the broker (dpn.broker_allocate)."""
    arr = "ARRAY[%s]::macaddr[]" % ','.join("'%s'" % m for m in handsets)
    return pg.scalar("SELECT dpn.broker_allocate(%d, '%s', %s)"
                     % (gateway_id, gateway_mac, arr))


def delete_flats(pg, site):
    """Deletes every flat's gateway of a broker.make_site() site with
    dpn.broker_delete_gateway (credentials kept), queueing the lease
    deletions of all its assignments."""
    pg.psql("SELECT count(dpn.broker_delete_gateway(f, true)) FROM "
            "unnest(ARRAY[%s]::bigint[]) f" % ','.join(map(str, site['flats'])))


def mgmtd_metric(server, name):
    """The value of a sample of a mgmtd Server's /metrics, name with its
    labels (e.g. 'dpn_kea_lease_deletions_total{result="error"}')."""
    import re
    from dpn_test import check, check_eq
    status, text = server.client().get('/metrics')
    check_eq(status, 200, '/metrics')
    m = re.search(r'^%s (\d+)$' % re.escape(name), text, re.M)
    check(m is not None, '%s in /metrics' % name)
    return int(m.group(1))


def lease_events(pg, kind, mac):
    """How many lease events of this kind the hook wrote for mac."""
    return int(pg.scalar("SELECT count(*) FROM dpn.lease_events WHERE "
                         "kind = '%s' AND mac = '%s'" % (kind, mac)))


def acked(relay, circuit, mac, timeout=None):
    """DORA that must end in an ACK; returns the ACK."""
    from dpn_test import check
    ack = relay.dora(circuit, mac, timeout)
    check(ack is not None and ack.type == ACK, 'dora %s: %r' % (mac, ack))
    return ack


def check_recorded(pg, kind, mac, addr, online, count=1, timeout=15):
    """Wait until the hook has written `count` events of kind for mac, then
    check the device's online flag and the event's address."""
    from dpn_test import check_eq
    wait_for(lambda: lease_events(pg, kind, mac) == count, timeout,
             '%s event of %s' % (kind, mac))
    check_eq(pg.scalar("SELECT online FROM dpn.assignments WHERE mac = '%s'"
                       % mac), 't' if online else 'f', 'online after ' + kind)
    check_eq(pg.scalar("SELECT dpn.ip4(addr) FROM dpn.lease_events WHERE "
                       "kind = '%s' AND mac = '%s' ORDER BY id DESC LIMIT 1"
                       % (kind, mac)), addr, kind + ' address')


def api_assignment(client, flat_id, mac):
    """The flat's assignment of mac as mgmtd shows it (GET /flats/{id}:
    {address, mac, device, online, last_seen}), or None."""
    status, body = client.get('/api/v1/flats/%d' % flat_id)
    if status != 200:
        raise RuntimeError('GET /flats/%d: %s %r' % (flat_id, status, body))
    for a in body.get('assignments') or []:
        if a.get('mac', '').lower() == mac.lower():
            return a
    return None


def api_admin(pg, server):
    """An operator's API client (bearer token) for a mgmtd Server."""
    import mgmtd
    mgmtd.add_user(pg, 'dhcp-test-op')
    return server.client().bearer(mgmtd.add_token(pg, 'dhcp-test-op'))


def teardown(ctx, tmp):
    """Stop what a test started (ctx.api, ctx.relay, ctx.mgmtd, ctx.kea; any
    may be None) and remove tmp (kept, with Kea's log printed, when
    DPN_KEEP_LOGS is set)."""
    import shutil
    rc = 0
    for name, stop in (('api', 'close'), ('relay', 'close'),
                       ('mgmtd', 'stop'), ('kea', 'stop')):
        obj = getattr(ctx, name, None)
        if obj is not None:
            r = getattr(obj, stop)()
            if name == 'mgmtd':
                rc, log = r, obj.log()
                os.unlink(obj.log_path)
    # mgmtd (with its Kea lease remover) must stop cleanly on SIGTERM: under
    # the sanitizers a leak makes the exit status non-zero (checked below).
    if os.environ.get('DPN_KEEP_LOGS'):
        if getattr(ctx, 'kea', None):
            print(ctx.kea.output())
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if rc:
        raise RuntimeError('mgmtd exited %s on SIGTERM:\n%s' % (rc, log))
