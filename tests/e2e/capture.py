"""tests/e2e/capture.py — what the outside host sees: every IPv4 packet on
its LAN (the bridge br0 in promiscuous mode, so frames between two
entrances count too), captured from a thread for the whole run, and a
check that no private address of a complex is in any of them.

    cap = Capture(topo, 'out', 'br0', exclude=OUTSIDE)
    ... calls ...
    n, leaks, drops = cap.stop()
"""
import re
import socket
import struct
import threading

ETH_P_ALL = 3
SOL_PACKET = 263
PACKET_STATISTICS = 6
MAX_PACKETS = 50000         # bounded: a run sends a few thousand
PRIVATE = re.compile(rb'(?<![\d.])(10\.\d{1,3}\.\d{1,3}\.\d{1,3}|'
                     rb'172\.(?:1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3}|'
                     rb'192\.168\.\d{1,3}\.\d{1,3})(?![\d])')


def is_private(addr):
    """addr (4 bytes) in 10/8, 172.16/12 or 192.168/16."""
    return addr[0] == 10 or (addr[0] == 172 and 16 <= addr[1] <= 31) or \
        (addr[0] == 192 and addr[1] == 168)


def leaks_of(ip):
    """What private addresses the IPv4 packet ip shows: its own source or
    destination, those an ICMP error quotes, and any written as text in a
    UDP or TCP payload (SIP headers, SDP). A list of strings."""
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return []
    hl, proto = (ip[0] & 15) * 4, ip[9]
    out = ['IP %s %s' % ('source' if i == 12 else 'destination', socket.inet_ntoa(ip[i:i + 4]))
           for i in (12, 16) if is_private(ip[i:i + 4])]
    body = ip[hl:]
    if proto == 1 and len(body) >= 8 + 20:          # ICMP error: the quoted header
        out += ['ICMP quotes ' + x for x in leaks_of(body[8:])]
    elif proto == 17:
        body = body[8:]
    elif proto == 6 and len(body) >= 20:
        body = body[(body[12] >> 4) * 4:]
    out += ['text %s' % m.decode() for m in PRIVATE.findall(body)]
    return out


class Capture:
    """Packets on interface ifname of namespace ns, from now until stop();
    packets whose IPv4 source is `exclude` (the outside host's own) are
    not judged: it may address a private range on purpose."""

    def __init__(self, topo, ns, ifname, exclude):
        self.exclude = socket.inet_aton(exclude)
        topo.run(ns, 'ip', 'link', 'set', ifname, 'promisc', 'on')
        with topo.inside(ns):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((ifname, 0))
        self.s.settimeout(0.1)
        self.judged, self.sip, self.leaks = 0, 0, []
        self.done = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.done:
            try:
                frame = self.s.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(frame) < 34 or frame[12:14] != b'\x08\x00' or frame[26:30] == self.exclude:
                continue
            if self.judged >= MAX_PACKETS:
                continue
            self.judged += 1
            ip = frame[14:]
            self.sip += b'SIP/2.0' in ip
            for leak in leaks_of(ip):
                if len(self.leaks) < 20:
                    self.leaks.append('%s (%s -> %s): %r' % (
                        leak, socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]),
                        ip[28:200]))

    def stop(self):
        """Stop capturing; (packets judged, of them with SIP, leaks found,
        packets the kernel dropped before this process read them)."""
        self.done = True
        self.t.join(2)
        stats = self.s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.s.close()
        _, drops = struct.unpack('II', stats)
        return self.judged, self.sip, self.leaks, drops
