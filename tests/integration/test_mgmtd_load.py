#!/usr/bin/env python3
"""test_mgmtd_load — 64 gateways at once, allocating, adding handsets and
deleting at random through mgmtd for a bounded time: no 5xx or deadlock
reaches a client, no address is ever held twice (watched in SQL during the
run), and the pool's free count returns to the start. Then kill -9 of mgmtd
in the middle of that load: after a restart no half-made allocation exists
and every gateway is served again."""
import os
import random
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402

CLIENTS = 64
SECONDS = float(os.environ.get('DPN_LOAD_SECONDS', '6'))
HANDSETS = 6          # MACs each flat's handsets use
S = {}


def mac(flat, n):
    return '02:00:%02x:%02x:00:%02x' % (flat >> 8, flat & 255, n)


def free_count(pg):
    return int(pg.scalar("SELECT sum((e->>'free')::int) FROM jsonb_array_elements("
                         "dpn.pool_utilisation(%d)) e" % S['site']))


class Gateway(threading.Thread):
    """One flat's gateway doing random broker operations until `stop`."""

    def __init__(self, i, stop, tolerate_errors=False):
        super().__init__(daemon=True)
        self.i, self.stop, self.tolerate = i, stop, tolerate_errors
        self.rng = random.Random(i)
        self.codes = {}
        self.problems = []
        self.errors = 0
        self.allocated = False

    def op(self, c):
        # As gatewayd does: no handset traffic before the gateway's own
        # allocation (a handset first seen by DHCP is the hook's business).
        r = self.rng.random() if self.allocated else 0
        if r < 0.3:
            hs = [mac(self.i, n) for n in self.rng.sample(range(1, HANDSETS + 1), 2)]
            return 'allocate', c.post('/api/v1/broker/allocate',
                                      {'gateway_mac': mac(self.i, 0), 'handset_macs': hs})
        if r < 0.6:
            return 'handsets', c.post('/api/v1/broker/handsets',
                                      {'mac': mac(self.i, self.rng.randint(1, HANDSETS))})
        if r < 0.9:
            return 'delete', c.post('/api/v1/broker/delete',
                                    {'mac': mac(self.i, self.rng.randint(1, HANDSETS))})
        return 'gateway', c.post('/api/v1/broker/delete', {'gateway': True})

    def check_answer(self, what, status, body):
        self.codes[status] = self.codes.get(status, 0) + 1
        if status >= 500 or status not in (200, 404, 409):
            self.problems.append('%s -> %s %r' % (what, status, body))
        elif status == 200 and what == 'allocate':
            first = body['block']['first']
            if body['gateway']['address'] != first:
                self.problems.append('gateway not at the first address: %r' % body)

    def run(self):
        c = S['srv'].client().basic(*S['creds'][self.i])
        c.timeout = 30
        while not self.stop.is_set():
            try:
                what, (status, body) = self.op(c)
            except OSError as e:
                self.allocated = False
                if not self.tolerate:
                    self.problems.append('connection: %r' % e)
                self.errors += 1
                c.close()
                time.sleep(0.05)
                continue
            self.check_answer(what, status, body)
            if status == 200 and what in ('allocate', 'gateway'):
                self.allocated = what == 'allocate'
        c.close()


def watch_duplicates(stop, found):
    """Checks in SQL, while the load runs, that no address is held twice."""
    while not stop.is_set():
        rows = S['pg'].psql('SELECT site_id, addr FROM dpn.assignments '
                            'GROUP BY 1, 2 HAVING count(*) > 1')
        if rows:
            found.extend(rows)
        time.sleep(0.2)


def delete_all_gateways():
    for i in range(CLIENTS):
        status, body = S['srv'].client().basic(*S['creds'][i]).post(
            '/api/v1/broker/delete', {'gateway': True})
        check_eq(status, 200, 'final gateway delete %d: %r' % (i, body))


def load(seconds, tolerate_errors=False, during=None):
    stop = threading.Event()
    gws = [Gateway(i, stop, tolerate_errors) for i in range(CLIENTS)]
    dups = []
    watcher = threading.Thread(target=watch_duplicates, args=(stop, dups), daemon=True)
    for t in gws + [watcher]:
        t.start()
    if during:
        during()
    time.sleep(seconds)
    stop.set()
    for t in gws + [watcher]:
        t.join(timeout=60)
    return gws, dups


@case
def random_load_of_64_gateways(pg):
    start = free_count(pg)
    gws, dups = load(SECONDS)
    codes = {}
    for g in gws:
        for k, v in g.codes.items():
            codes[k] = codes.get(k, 0) + v
    print('answers by status: %r' % codes)
    problems = [p for g in gws for p in g.problems]
    check_eq(problems[:5], [], 'answers a client must never see')
    check(codes.get(200, 0) > CLIENTS * 5, 'real load ran: %r' % codes)
    check_eq(dups, [], 'addresses held twice during the run')
    check_eq(mgmtd.invariants(pg), [], 'invariants after the run')
    delete_all_gateways()
    check_eq(free_count(pg), start, 'pool free count back to the start')


@case
def kill_9_mid_load_leaves_no_half_made_allocation(pg):
    start = free_count(pg)

    def kill_soon():
        time.sleep(min(2.0, SECONDS / 2))
        S['srv'].kill9()
    gws, dups = load(SECONDS / 2, tolerate_errors=True, during=kill_soon)
    check(sum(g.errors for g in gws) > 0, 'clients saw mgmtd die')
    problems = [p for g in gws for p in g.problems]
    check_eq(problems[:5], [], 'no 5xx before the kill')
    check_eq(dups, [], 'addresses held twice')
    check_eq(mgmtd.invariants(pg), [], 'invariants after kill -9')
    # Sessions the kill cut are gone from PostgreSQL too: nothing locked.
    S['srv'].start()
    for i in range(CLIENTS):
        status, body = S['srv'].client().basic(*S['creds'][i]).post(
            '/api/v1/broker/allocate', {'gateway_mac': mac(i, 0)})
        check_eq(status, 200, 'gateway %d served after the restart: %r' % (i, body))
    check_eq(mgmtd.invariants(pg), [], 'invariants after the restart')
    delete_all_gateways()
    check_eq(free_count(pg), start, 'pool free count back to the start')


if __name__ == '__main__':
    with Cluster() as cluster:
        S['pg'] = cluster
        mgmtd.migrate(cluster)
        S['site'], flats = mgmtd.seed(cluster, cidr='127.50.0.0/20', flats=CLIENTS)
        S['creds'] = [mgmtd.add_gateway(cluster, f) for f in flats]
        with mgmtd.Server(cluster) as server:
            S['srv'] = server
            try:
                run(cluster)
            finally:
                print(server.log())
