"""tests/e2e/system.py — the dpn system of the end-to-end test, built on
tests/e2e/topo.py: an outside host, complexes (each: entrance with the
gatekeeper, management LAN with mgmtd and Kea + the dpn hook, a building
relay running dhcrelay -a with one flat port per flat named after its
circuit-id), flats with a gateway box (udhcpc, then dpn-gatewayd) and
handsets (udhcpc, a REGISTER with the gateway, sipp answering calls).
PostgreSQL is one throwaway cluster on a unix socket, shared by both
complexes. Everything is provisioned through mgmtd's API as an operator
would. docs/system.md draws the topology.
"""
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time

from dpn_test import BUILD, ROOT, Cluster, tmpdir, wait_for
import dhcp
import mgmtd

OUTSIDE = '203.0.113.10'          # the outside host (callers, a peer)
POOL = '10.0.0.0/16'              # the same private range in every complex
ROUTER = '10.0.255.254'           # the relay's address on every flat port
MGMT = ('10.254.0.2', '10.254.0.1')   # mgmtd + Kea, the relay's side
CORE = ('10.253.0.2', '10.253.0.1')   # the gatekeeper's, the relay's side
MGMTD_PORT = 8080
SIP_PORT = 5060
RTP_PORT = 7100                   # what the SDP of the test's UAs names
NG = '127.0.0.1:2223'             # rtpengine's control, inside the entrance
SCEN = os.path.join(ROOT, 'tests', 'sip')
GATEWAYD = os.path.join(BUILD, 'bin', 'dpn-gatewayd')
GATEKEEPER = os.path.join(BUILD, 'bin', 'dpn-gatekeeper')

UDHCPC_SCRIPT = '''#!/bin/sh
# udhcpc event script of the e2e devices: configure eth0, write the lease.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-16}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$ip" >"$E2E_LEASE" ;;
esac
exit 0
'''


def log(msg):
    print('  ' + msg, flush=True)


class Api:
    """An HTTP client of one mgmtd, connecting from inside a namespace."""

    def __init__(self, topo, ns, host, port, auth):
        self.topo, self.ns, self.host, self.port, self.auth = topo, ns, host, port, auth

    def call(self, method, path, body=None):
        h = {'Authorization': self.auth}
        data = None
        if body is not None:
            data = json.dumps(body)
            h['Content-Type'] = 'application/json'
        with self.topo.inside(self.ns):
            c = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                c.request(method, '/api/v1' + path, body=data, headers=h)
                r = c.getresponse()
                text = r.read().decode('utf-8', 'replace')
            finally:
                c.close()
        return r.status, (json.loads(text) if text.startswith(('{', '[')) else text)

    def ok(self, method, path, body=None, want=(200, 201, 204)):
        status, ans = self.call(method, path, body)
        if status not in want:
            raise RuntimeError('%s %s: %s %r' % (method, path, status, ans))
        return ans


def basic(user, secret):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, secret)).encode()).decode()


class Device:
    """A gateway box or a handset: its own namespace with eth0 on a flat
    port of the relay, an address by DHCP."""

    def __init__(self, flat, name, mac):
        self.flat, self.name, self.mac = flat, name, mac
        self.cx = flat.cx
        self.ns = '%s-f%s-%s' % (self.cx.key, flat.number, name)
        self.port = 'f%s%s' % (flat.number, name)          # relay side, <= 15
        self.addr = None

    def plug(self):
        """Namespace + cable into the flat port (the flat's bridge)."""
        t = self.cx.topo
        t.ns(self.ns)
        t.veth(self.ns, 'eth0', self.cx.relay, self.port, mac_a=self.mac)
        t.port(self.cx.relay, self.flat.circuit, self.port)

    def unplug(self):
        """Power off: the namespace goes, with what ran in it; returns once
        the kernel has removed the cable's other end in the relay."""
        t = self.cx.topo
        t.drop(self.ns)
        self.addr = None
        wait_for(lambda: t.run(self.cx.relay, 'ip', 'link', 'show', self.port,
                               check=False) == '', timeout=10,
                 what='port %s gone from the relay' % self.port)

    def dhcp(self, timeout=15):
        """udhcpc in the namespace; returns the address (also self.addr).
        The relay learns a host route to it (what an access switch's DHCP
        snooping does; dhcrelay itself installs none)."""
        lease = os.path.join(self.cx.sys.tmp, 'lease-%s-%s' % (self.ns, secrets.token_hex(3)))
        env = dict(os.environ, E2E_LEASE=lease)
        env.pop('LD_PRELOAD', None)
        p = self.cx.topo.spawn(self.ns, ['udhcpc', '-i', 'eth0', '-f', '-q', '-n',
                                         '-t', str(timeout), '-T', '1', '-A', '1',
                                         '-s', self.cx.sys.udhcpc_script],
                               log=lease + '.log', env=env)
        try:
            p.wait(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if not os.path.exists(lease):
            raise RuntimeError('%s (%s) got no address by DHCP:\n%s' % (
                self.ns, self.mac, open(lease + '.log').read()[-1500:]))
        self.addr = open(lease).read().strip()
        self.cx.topo.route(self.cx.relay, self.addr + '/32', 'dev', self.flat.circuit)
        return self.addr


class Handset(Device):
    """A handset: credentials from the admin, REGISTER with its gateway from
    ADDR:5060, sipp scenarios answering there."""

    def __init__(self, flat, n, mac):
        super().__init__(flat, 'h%d' % n, mac)
        self.suffix = n
        self.id = self.user = self.password = self.number = None

    def provision(self):
        h = self.cx.api.ok('POST', '/flats/%d/handsets' % self.flat.id,
                           {'suffix': self.suffix, 'mac': self.mac})
        self.id, self.user = h['id'], h['sip_username']
        self.password, self.number = h['sip_password'], h['number']

    def register(self, timeout=10.0, want=200):
        """REGISTER with the flat's gateway (digest MD5) until the answer is
        want or the time is up; returns the last status (None: no answer)."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            if self.flat.box.addr is None:      # the box is still booting
                time.sleep(0.05)
                continue
            status = self.register_once()
            if status == want:
                return status
            time.sleep(0.2)
        return status

    def register_once(self):
        gw = (self.flat.box.addr, SIP_PORT)
        cid = secrets.token_hex(8) + '@e2e'
        with self.cx.topo.inside(self.ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.addr, SIP_PORT))
            ans = _sip_exchange(s, gw, _register(gw, self, 1, cid))
            if ans and ans.startswith('SIP/2.0 401'):
                auth = _md5_auth(ans, self.user, self.password, 'sip:%s:%d' % gw)
                ans = _sip_exchange(s, gw, _register(gw, self, 2, cid, auth))
        finally:
            s.close()
        return int(ans.split()[1]) if ans else None

    def sipp(self, scenario, timeout=20):
        """One sipp UAS call of scenario (tests/sip/<name>.xml, or a path)
        on ADDR:5060 (SDP, where the scenario has it, names ADDR:RTP_PORT)."""
        return self.cx.sys.sipp(self.ns, ['-sf', scenario_path(scenario), '-i', self.addr,
                                          '-p', str(SIP_PORT), '-key', 'rtp_port',
                                          str(RTP_PORT)], timeout)

    def listen(self):
        """A UDP socket on ADDR:5060 in the handset's namespace (to see
        that nothing rings it)."""
        with self.cx.topo.inside(self.ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.addr, SIP_PORT))
        return s


class Box(Device):
    """The flat's gateway box: udhcpc, then dpn-gatewayd."""

    def __init__(self, flat, mac):
        super().__init__(flat, 'gw', mac)
        self.proc = None

    def start(self):
        f = self.flat
        d = self.cx.sys.tmp
        sec = os.path.join(d, 'secret-%s' % self.ns)
        with open(sec, 'w') as fh:
            fh.write(f.secret + '\n')
        os.chmod(sec, 0o600)
        self.conf = os.path.join(d, 'gatewayd-%s.conf' % self.ns)
        with open(self.conf, 'w') as fh:
            fh.write('flat = %s\nmgmtd-url = http://%s:%d\ngateway-secret-file = %s\n'
                     'mac = %s\naddresses = %s\nsip-port = %d\ngatekeeper = %s\n'
                     'poll-interval = 300ms\nretry-max = 1s\nhttp-timeout = 3s\n'
                     % (f.full, MGMT[0], MGMTD_PORT, sec, self.mac, POOL, SIP_PORT,
                        self.cx.gk_for_boxes()))
        self.log_path = os.path.join(d, 'gatewayd-%s.log' % self.ns)
        open(self.log_path, 'w').close()
        self.proc = self.cx.topo.spawn(self.ns, [GATEWAYD, '-f', self.conf, '-d'],
                                       log=self.log_path)

    def log(self):
        with open(self.log_path, errors='replace') as fh:
            return fh.read()

    def wait_reachable(self, timeout=15):
        wait_for(lambda: re.search(r'flat %s reachable via gatekeeper' % self.flat.full,
                                   self.log()),
                 timeout=timeout, what='%s registered with the gatekeeper; log:\n%s'
                 % (self.flat.full, self.log()[-2000:]))


class Flat:
    def __init__(self, cx, number, handsets):
        self.cx, self.number = cx, number
        self.circuit = '%d-%d' % (cx.building, number)     # the flat port's name
        self.full = '%d-%d-%d' % (cx.site, cx.building, number)
        m = '02:%s:%02x:%02x' % (cx.mac_prefix, number // 100, number % 100)
        self.box = Box(self, m + ':00:00')
        self.handsets = [Handset(self, n, '%s:00:%02x' % (m, n))
                         for n in range(1, handsets + 1)]
        self.id = self.secret = self.user = None
        self.next_mac = handsets + 1

    def new_handset(self, suffix):
        """A new handset device (next MAC) for suffix, not yet provisioned."""
        m = '02:%s:%02x:%02x:00:%02x' % (self.cx.mac_prefix, self.number // 100,
                                         self.number % 100, 0x40 + self.next_mac)
        self.next_mac += 1
        return Handset(self, suffix, m)


class Complex:
    """One complex: entrance (gatekeeper), management LAN (mgmtd, Kea),
    building relay, flats."""

    def __init__(self, system, key, site, public, flats, mac_prefix):
        self.sys, self.topo, self.key = system, system.topo, key
        self.site, self.building, self.public = site, 1101, public
        self.mac_prefix = mac_prefix
        self.gk, self.mgmt, self.relay = key + '-gk', key + '-mgmt', key + '-relay'
        self.flats = [Flat(self, n, h) for n, h in flats]

    # -- wiring -------------------------------------------------------------
    def wire(self):
        t = self.topo
        for n in (self.gk, self.mgmt, self.relay):
            t.ns(n)
        t.veth(self.gk, 'pub0', 'out', 'to-' + self.key)
        t.port('out', 'br0', 'to-' + self.key)
        t.addr(self.gk, 'pub0', self.public + '/24')
        t.veth(self.gk, 'priv0', self.relay, 'gk0')
        t.addr(self.gk, 'priv0', CORE[0] + '/30')
        t.addr(self.relay, 'gk0', CORE[1] + '/30')
        t.veth(self.mgmt, 'eth0', self.relay, 'mg0')
        t.addr(self.mgmt, 'eth0', MGMT[0] + '/24')
        t.addr(self.relay, 'mg0', MGMT[1] + '/24')
        t.route(self.gk, POOL, 'via', CORE[1])
        t.route(self.mgmt, POOL, 'via', MGMT[1])
        t.route(self.relay, 'default', 'via', CORE[0])
        # The entrance forwards nothing: outside reaches only the gatekeeper.
        t.sysctl(self.gk, 'net.ipv4.ip_forward', 0)
        t.sysctl(self.relay, 'net.ipv4.ip_forward', 1)
        for f in self.flats:
            t.bridge(self.relay, f.circuit, mac='02:%s:ff:%02x:%02x:fe' % (
                self.mac_prefix, f.number // 100, f.number % 100))
            t.addr(self.relay, f.circuit, ROUTER + '/16', 'noprefixroute')
            t.sysctl(self.relay, 'net.ipv4.conf.%s.proxy_arp' % f.circuit, 1)

    # -- the gatekeeper's sides ----------------------------------------------
    # The public side on the outside LAN (callers, peers, other complexes),
    # the private side towards the building (the flats' gateways register
    # and are called there). Topology hiding keeps every private address on
    # the private side; OPTIONS probing of route peers is off, as a sipp
    # peer would take an OPTIONS for a call.
    # The other complexes' gatekeepers are trusted (exempt from the flood
    # guard), as docs/gatekeeper.md advises; the outside host is not.
    def gk_listen(self):
        media = ['--rtpengine', NG] if self.sys.media else []
        others = [c.public for c in self.sys.complexes if c is not self]
        return ['--listen-public', '%s:%d' % (self.public, SIP_PORT),
                '--listen-private', '%s:%d' % (CORE[0], SIP_PORT),
                '--probe-interval', '0s'] + media + (
                    ['--trusted', ','.join(others)] if others else [])

    def start_rtpengine(self):
        """rtpengine in the entrance, user space: a public interface on the
        outside LAN, a private one towards the building."""
        log_path = os.path.join(self.sys.tmp, 'rtpengine-%s.log' % self.key)
        self.rtpengine = self.topo.spawn(self.gk, [
            'rtpengine', '--foreground', '--log-stderr', '--table=-1',
            '--interface=pub/%s' % self.public, '--interface=priv/%s' % CORE[0],
            '--listen-ng=' + NG, '--port-min', '30000', '--port-max', '30100',
            '--pidfile', os.path.join(self.sys.tmp, 'rtpengine-%s.pid' % self.key)],
            log=log_path)
        wait_for(lambda: NG in self.topo.run(self.gk, 'ss', '-lun', check=False),
                 timeout=10, what='rtpengine of %s: %s' % (self.key, log_path))

    def gk_for_boxes(self):
        return '%s:%d' % (CORE[0], SIP_PORT)

    # -- management LAN -----------------------------------------------------
    def provision_site(self):
        """Site, pool, building (its flats come with it), gateway
        credentials, handsets: all through mgmtd's API."""
        api = self.api
        site = api.ok('POST', '/sites', {'number': self.site, 'name': 'complex ' + self.key})
        self.site_id = site['id']
        self.pool_id = api.ok('POST', '/sites/%d/pools' % site['id'], {'cidr': POOL})['id']
        nums = sorted(f.number for f in self.flats)
        b = api.ok('POST', '/sites/%d/buildings' % site['id'],
                   {'number': self.building, 'floors': 1, 'first_floor': nums[0] // 100,
                    'units_per_floor': len(nums)})
        listed = api.ok('GET', '/buildings/%d/flats' % b['id'])['items']
        by_number = {int(x['number']): x for x in listed}
        for f in self.flats:
            f.id = by_number[f.number]['id']
            if by_number[f.number]['circuit_id'] != f.circuit:
                raise RuntimeError('flat %s has circuit-id %r' % (f.full, by_number[f.number]))
            self.provision_flat(f)

    def provision_flat(self, f):
        g = self.api.ok('PUT', '/flats/%d/gateway' % f.id, {})
        f.user, f.secret = g['username'], g['secret']
        # The installer registers the box's MAC (the allocation request of
        # FIG. 9, made once with the box's credentials): its DISCOVER is then
        # known as the gateway's and gets the first address of the block.
        gw = Api(self.topo, self.mgmt, MGMT[0], MGMTD_PORT, basic(f.user, f.secret))
        gw.ok('POST', '/broker/allocate', {'gateway_mac': f.box.mac})
        for h in f.handsets:
            h.provision()

    def start_kea(self):
        s = self.sys
        cfg = dhcp.kea_config(self.kea_dir, s.pg.dir, [(self.pool_id, POOL)], relay=ROUTER,
                              hook_params={'unknown-ttl': 1})
        cfg['Dhcp4']['interfaces-config']['interfaces'] = ['eth0']
        cfg['Dhcp4']['option-data'] = [{'name': 'routers', 'data': ROUTER}]
        conf = os.path.join(self.kea_dir, 'kea-dhcp4.conf')
        with open(conf, 'w') as fh:
            json.dump(cfg, fh, indent=1)
        env = dict(os.environ, KEA_PIDFILE_DIR=self.kea_dir, KEA_LOCKFILE_DIR=self.kea_dir)
        env.pop('LD_PRELOAD', None)
        self.kea = self.topo.spawn(self.mgmt, [dhcp.KEA_DHCP4, '-c', conf],
                                   log=os.path.join(self.kea_dir, 'kea.out'), env=env)
        sock = os.path.join(self.kea_dir, 'kea.sock')
        wait_for(lambda: os.path.exists(sock), timeout=20, what='kea-dhcp4 of ' + self.key)
        import pwd
        dpn = pwd.getpwnam('dpn')
        os.chown(sock, dpn.pw_uid, dpn.pw_gid)
        self.relay_proc = self.topo.spawn(
            self.relay, ['dhcrelay', '-4', '-d', '-a', '-m', 'replace', '-pf',
                         os.path.join(s.tmp, 'dhcrelay-%s.pid' % self.key)]
            + sum((['-id', f.circuit] for f in self.flats), [])
            + ['-iu', 'mg0', MGMT[0]], log=os.path.join(s.tmp, 'dhcrelay-%s.log' % self.key))

    def start_mgmtd(self, token):
        """mgmtd on the management LAN, with its complex's Kea for lease
        deletions: each mgmtd drains only the rows of the subnets its Kea
        serves (docs/dhcp.md), though all share one database."""
        s = self.sys
        self.kea_dir = s.tmpdir('dpn-e2e-kea-')
        self.mgmtd_log = os.path.join(s.tmp, 'mgmtd-%s.log' % self.key)
        # Kea's control socket is named now; Kea starts once the pool exists
        # (its subnet id is the pool id) and mgmtd finds the socket then.
        args = [mgmtd.MGMTD, 'serve', '--db', s.pg.conninfo, '--listen',
                '%s:%d' % (MGMT[0], MGMTD_PORT), '--web-dir', mgmtd.WEB,
                '--kea-socket', os.path.join(self.kea_dir, 'kea.sock')]
        self.mgmtd = self.topo.spawn(self.mgmt, args, log=self.mgmtd_log)
        self.api = Api(self.topo, self.mgmt, MGMT[0], MGMTD_PORT, 'Bearer ' + token)
        wait_for(lambda: self.api.call('GET', '/sites')[0] == 200, timeout=30,
                 what='mgmtd of ' + self.key)

    def start_gatekeeper(self):
        self.gk_log = os.path.join(self.sys.tmp, 'gatekeeper-%s.log' % self.key)
        open(self.gk_log, 'w').close()
        self.gk_proc = self.topo.spawn(self.gk, [
            GATEKEEPER, '--db', self.sys.pg.conninfo, '--site', str(self.site),
            '--transport', 'udp', '-d'] + self.gk_listen(), log=self.gk_log)
        wait_for(lambda: 'gatekeeper: site %d on' % self.site in open(self.gk_log).read(),
                 timeout=20, what='gatekeeper of %s: %s' % (self.key, open(self.gk_log).read()))

    # -- flats --------------------------------------------------------------
    def bring_up(self, flats=None):
        """Plug, DHCP and start every box and handset of flats (all of them
        by default) at once, then register every handset; returns seconds
        from power-on until every flat and handset is registered."""
        flats = self.flats if flats is None else flats
        t0 = time.monotonic()
        errors = []

        steps = {}

        def mark(step):
            steps[step] = max(steps.get(step, 0), time.monotonic() - t0)

        def box(f):
            try:
                f.box.plug()
                mark('boxes plugged')
                f.box.dhcp()
                mark('boxes addressed')
                f.box.start()
                f.box.wait_reachable()
                mark('flats registered')
            except Exception as e:      # reported below, with the others
                errors.append('%s: %s' % (f.box.ns, e))

        def handset(h):
            try:
                h.plug()
                mark('handsets plugged')
                h.dhcp()
                mark('handsets addressed')
                st = h.register(timeout=15)
                mark('handsets registered')
                if st != 200:
                    errors.append('%s: REGISTER answered %s' % (h.number, st))
            except Exception as e:
                errors.append('%s: %s' % (h.ns, e))

        threads = [threading.Thread(target=box, args=(f,)) for f in flats]
        threads += [threading.Thread(target=handset, args=(h,))
                    for f in flats for h in f.handsets]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        if errors:
            raise RuntimeError('bring-up of %s: %s' % (self.key, '; '.join(errors)))
        self.last_steps = steps
        log('complex %s, last of each step after power-on: %s' % (self.key, ', '.join(
            '%s %.2f s' % kv for kv in sorted(steps.items(), key=lambda kv: kv[1]))))
        return time.monotonic() - t0

    def power_cut(self, flats=None):
        for f in self.flats if flats is None else flats:
            for d in [f.box] + f.handsets:
                d.unplug()


class System:
    """The whole test system; close() tears it down."""

    def __init__(self, topo, pg, complexes, media=False):
        """complexes: (key, site, public address, [(flat, handsets)], MAC
        prefix) each; media: run rtpengine at each entrance and give the
        gatekeeper its ng address."""
        self.topo, self.pg, self.media = topo, pg, media
        self.tmp = self.tmpdir('dpn-e2e-')
        self.udhcpc_script = os.path.join(self.tmp, 'udhcpc.script')
        with open(self.udhcpc_script, 'w') as fh:
            fh.write(UDHCPC_SCRIPT)
        os.chmod(self.udhcpc_script, 0o755)
        self.complexes = [Complex(self, *c) for c in complexes]
        self.sipp_dirs = []
        self.sipps = []

    def tmpdir(self, prefix):
        """A temp folder that a later run removes should this one be killed."""
        d = tmpdir(prefix)
        self.topo.remember('dir', d)
        return d

    def build(self):
        t = self.topo
        t.ns('out')
        t.bridge('out', 'br0', mac='02:0e:2e:00:00:01')
        t.addr('out', 'br0', OUTSIDE + '/24')
        mgmtd.migrate(self.pg)
        mgmtd.add_user(self.pg, 'e2e-operator')
        token = mgmtd.add_token(self.pg, 'e2e-operator')
        for cx in self.complexes:
            cx.wire()
            cx.start_mgmtd(token)
            cx.provision_site()
            cx.start_kea()
            if self.media:
                cx.start_rtpengine()
            cx.start_gatekeeper()
            log('complex %s: site %d, pool %s, gatekeeper %s:%d, mgmtd %s:%d, %d flats'
                % (cx.key, cx.site, POOL, cx.public, SIP_PORT, MGMT[0], MGMTD_PORT,
                   len(cx.flats)))

    def daemons(self):
        """(name, Popen, log path) of every dpn daemon running now."""
        out = []
        for cx in self.complexes:
            out += [('gatewayd ' + f.full, f.box.proc, f.box.log_path)
                    for f in cx.flats if f.box.proc and f.box.proc.poll() is None]
            out += [('gatekeeper ' + cx.key, cx.gk_proc, cx.gk_log),
                    ('mgmtd ' + cx.key, cx.mgmtd, cx.mgmtd_log)]
        return out

    def stop_daemons(self):
        """SIGTERM every dpn daemon; returns [(name, problem)] for those
        that did not exit 0 or whose log holds a sanitizer report (the
        leak check runs at exit)."""
        bad = []
        for name, p, path in self.daemons():
            p.terminate()
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            with open(path, errors='replace') as fh:
                text = fh.read()
            if rc != 0 or 'Sanitizer' in text or 'runtime error' in text:
                bad.append((name, 'exit %s\n%s' % (rc, text[-3000:])))
        return bad

    def close(self, keep=False):
        """Remove the temp folders (kept, and named, when keep)."""
        dirs = [self.tmp] + [cx.kea_dir for cx in self.complexes
                             if getattr(cx, 'kea_dir', None)] + self.sipp_dirs
        if keep:
            print('e2e: logs kept in ' + ' '.join(dirs))
            return
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    def sipp(self, ns, args, timeout=20):
        """sipp (one call) in namespace ns; a Popen with .dir."""
        d = self.tmpdir('dpn-e2e-sipp-')
        self.sipp_dirs.append(d)
        p = self.topo.spawn(ns, ['sipp'] + args + ['-m', '1', '-timeout', str(timeout),
                                                   '-timeout_error', '-nostdin',
                                                   '-trace_err', '-trace_msg'],
                            log=os.path.join(d, 'out'), cwd=d)
        p.dir = d
        self.sipps.append(p)
        return p

    def kill_sipps(self):
        """Kill every sipp still running: the start of each call, so that a
        case that failed half-way leaves none holding a handset's port."""
        for p in self.sipps:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.sipps = []

    def caller(self, number, target, scenario='uac_fork', ns='out', src=OUTSIDE,
               port=None, timeout=20, length_ms=100):
        """sipp calling number at target (ADDR:PORT) from src in ns; the
        call lasts length_ms (scenarios with a plain <pause/>)."""
        return self.sipp(ns, ['-sf', scenario_path(scenario), '-i', src,
                              '-p', str(port or _free_udp_in(self.topo, ns, src)),
                              '-key', 'rtp_port', str(RTP_PORT), '-d', str(length_ms),
                              '-s', number, target], timeout)


@contextlib.contextmanager
def cluster(topo):
    """A throwaway PostgreSQL cluster that a signal, or a later run after
    a SIGKILL, also removes."""
    with Cluster() as pg:
        topo.remember('dir', pg.base)
        topo.remember('pg', pg.dir)
        topo.on_signal(pg.remove)
        yield pg


def scenario_path(scenario):
    """A sipp scenario: a path, or the name of one in tests/sip/."""
    return scenario if os.path.isabs(scenario) else os.path.join(SCEN, scenario + '.xml')


def sipp_result(p, timeout=40):
    """Wait for a sipp started by System.sipp: (exit status, errors text,
    message trace)."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    errs = trace = ''
    for f in os.listdir(p.dir):
        with open(os.path.join(p.dir, f), errors='replace') as fh:
            if f.endswith('_errors.log'):
                errs += fh.read()[-2000:]
            elif f.endswith('_messages.log'):
                trace += fh.read()
    return p.returncode, errs, trace


def _free_udp_in(topo, ns, addr):
    with topo.inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _register(gw, h, cseq, cid, auth=None, expires=600):
    src = (h.addr, SIP_PORT)
    return ('REGISTER sip:%s:%d SIP/2.0\r\n'
            'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n'
            'From: <sip:%s@%s>;tag=e%s\r\nTo: <sip:%s@%s>\r\n'
            'Call-ID: %s\r\nCSeq: %d REGISTER\r\n'
            'Contact: <sip:%s@%s:%d>\r\nExpires: %d\r\nMax-Forwards: 70\r\n'
            'User-Agent: dpn-e2e-handset\r\n%sContent-Length: 0\r\n\r\n'
            % (gw[0], gw[1], src[0], src[1], secrets.token_hex(6), h.number, gw[0],
               cid[:8], h.number, gw[0], cid, cseq, h.number, src[0], src[1], expires,
               ('Authorization: %s\r\n' % auth) if auth else '')).encode()


def _sip_exchange(s, dst, data, timeout=2.0, t1=0.25):
    """Send data, retransmitted after t1, 2*t1 ... (RFC 3261 17.1.2.2,
    with a short T1 as on a LAN); the first final answer as text, or None."""
    deadline = time.monotonic() + timeout
    resend, gap = 0.0, t1
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= resend:
            s.sendto(data, dst)
            resend, gap = now + gap, gap * 2
        s.settimeout(max(0.01, min(deadline, resend) - now))
        try:
            ans = s.recv(65535).decode('utf-8', 'replace')
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            return None
        if ans.startswith('SIP/2.0 ') and not ans.startswith('SIP/2.0 1'):
            return ans
    return None


def _md5_auth(answer, user, password, uri):
    for line in answer.split('\r\n'):
        if line.lower().startswith('www-authenticate:') and \
                'algorithm=md5' in line.lower().replace('"', ''):
            p = dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(':', 1)[1]))
            break
    else:
        raise RuntimeError('no MD5 challenge in %r' % answer)
    md5 = lambda t: hashlib.md5(t.encode()).hexdigest()    # noqa: E731
    cnonce = secrets.token_hex(4)
    resp = md5('%s:%s:00000001:%s:auth:%s' % (md5('%s:%s:%s' % (user, p['realm'], password)),
                                               p['nonce'], cnonce, md5('REGISTER:' + uri)))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"'
            % (user, p['realm'], p['nonce'], uri, resp, cnonce))
