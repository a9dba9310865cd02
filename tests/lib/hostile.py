"""tests/lib/hostile.py — hostile HTTP clients on loopback, for the test and
the bench of mgmtd's connection guard: connections from many 127/8
addresses that send a request line and then trickle one header byte at a
time (slowloris), reconnecting whenever the server cuts them, and a
gateway's timed allocation requests while that goes on. Bounded: every
attack has a fixed number of sockets and a duration.

    with hostile.Attack(port, ['127.0.7.%d' % i for i in range(2, 10)],
                        per_address=16, trickle_s=0.5) as attack:
        latencies = hostile.probe(port, gw_user, gw_secret, mac, count=8)
"""
import base64
import json
import selectors
import socket
import threading
import time

HEAD = b'POST /api/v1/broker/allocate HTTP/1.1\r\nHost: dpn\r\nX-Slow: '


class Attack:
    """per_address connections from each address, each sending HEAD and then
    one byte every trickle_s; a connection the server closes is opened
    again after reconnect_s (idle: connections that send nothing). Runs in
    a thread from __enter__ to __exit__
    (or duration seconds). .cuts counts connections the server closed;
    .refused connects that failed."""

    def __init__(self, port, addresses, per_address, trickle_s=1.0,
                 reconnect_s=0.05, duration=30.0, idle=False):
        self.port = port
        self.idle = idle          # connect and send nothing at all
        self.slots = [a for a in addresses for _ in range(per_address)]
        self.trickle_s = trickle_s
        self.reconnect_s = reconnect_s
        self.duration = duration
        self.cuts = self.refused = 0
        self.open = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self, addr):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((addr, 0))
            s.connect_ex(('127.0.0.1', self.port))
        except OSError:
            s.close()
            self.refused += 1
            return None
        return s

    def _run(self):
        sel = selectors.DefaultSelector()
        socks = [None] * len(self.slots)
        due = [0.0] * len(self.slots)   # next byte, or next reconnect
        sent = [0] * len(self.slots)
        end = time.monotonic() + self.duration
        while not self.stop.is_set() and time.monotonic() < end:
            now = time.monotonic()
            for i, addr in enumerate(self.slots):
                if socks[i] is None and now >= due[i]:
                    socks[i] = self._connect(addr)
                    sent[i] = 0
                    due[i] = now + (0 if socks[i] else self.reconnect_s)
                    if socks[i]:
                        sel.register(socks[i], selectors.EVENT_READ, i)
                if socks[i] is not None and now >= due[i] and not self.idle:
                    try:
                        socks[i].send(HEAD if sent[i] == 0 else b'x')
                        sent[i] += 1
                        due[i] = now + self.trickle_s
                    except (BlockingIOError, InterruptedError):
                        due[i] = now + 0.05
                    except OSError:
                        self._drop(sel, socks, due, i, now)
            self.open = sum(1 for s in socks if s is not None)
            for key, _ in sel.select(timeout=0.02):
                i = key.data
                try:
                    data = socks[i].recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b''
                if not data:           # cut by the server
                    self._drop(sel, socks, due, i, time.monotonic())
        for s in socks:
            if s is not None:
                s.close()
        sel.close()

    def _drop(self, sel, socks, due, i, now):
        sel.unregister(socks[i])
        socks[i].close()
        socks[i] = None
        self.cuts += 1
        due[i] = now + self.reconnect_s

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def allocation_request(user, secret, mac, close=True):
    """The bytes of a gateway's POST /api/v1/broker/allocate."""
    auth = base64.b64encode(('%s:%s' % (user, secret)).encode()).decode()
    body = json.dumps({'gateway_mac': mac}).encode()
    return (b'POST /api/v1/broker/allocate HTTP/1.1\r\nHost: dpn\r\n'
            b'Authorization: Basic ' + auth.encode() + b'\r\n'
            b'Content-Type: application/json\r\n' +
            (b'Connection: close\r\n' if close else b'') +
            b'Content-Length: %d\r\n\r\n' % len(body) + body)


def read_answer(s):
    """Reads one HTTP answer (with Content-Length) from socket s; its status,
    or None when the connection ended first."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    n = [int(h.split(b':')[1]) for h in head.split(b'\r\n')
         if h.lower().startswith(b'content-length:')]
    while n and len(body) < n[0]:
        chunk = s.recv(4096)
        if not chunk:
            return None
        body += chunk
    return int(head.split(b' ', 2)[1])


def allocate_once(port, user, secret, mac, timeout=5.0):
    """One allocation on a fresh connection; (status, seconds) — status None
    when the connection failed or timed out."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            s.sendall(allocation_request(user, secret, mac))
            status = read_answer(s)
    except OSError:
        status = None
    return status, time.monotonic() - t0


def probe(port, user, secret, mac, count, every_s=0.5):
    """count allocations every every_s seconds; the list of (status, s)."""
    out = []
    for _ in range(count):
        out.append(allocate_once(port, user, secret, mac))
        time.sleep(every_s)
    return out
