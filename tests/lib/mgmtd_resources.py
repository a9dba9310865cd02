"""tests/lib/mgmtd_resources.py — helpers for the tests of mgmtd's resource
endpoints (buildings, flats, gateways, handsets, numbers, audit, users):
a running mgmtd with an operator logged in and a site with one pool, the
site's free addresses, allocation through the broker as a gateway would,
and audit-row counting.

    with Cluster() as pg:
        with Env(pg) as env:
            b = env.building(1101, floors=25, units_per_floor=4)
"""
import hashlib

import mgmtd


class Env:
    """mgmtd on a migrated cluster, operator `admin` logged in as .c (cookie
    + CSRF), a site (.site: its JSON) with pool .cidr."""

    def __init__(self, pg, site_number=100, cidr='127.16.0.0/16', site=None):
        self.pg = pg
        mgmtd.migrate(pg)
        self.srv = mgmtd.Server(pg)
        try:
            self.pw = mgmtd.add_user(pg, 'admin')
            self.c = self.srv.client()
            self.c.login('admin', self.pw)
            body = dict({'number': site_number}, **(site or {}))
            status, self.site = self.c.post('/api/v1/sites', body)
            if status != 201:
                raise RuntimeError('site: %s %r' % (status, self.site))
            self.cidr = cidr
            status, self.pool = self.c.post('/api/v1/sites/%d/pools' % self.site['id'],
                                            {'cidr': cidr})
            if status != 201:
                raise RuntimeError('pool: %s %r' % (status, self.pool))
        except BaseException:
            self.srv.stop()
            raise

    def building(self, number, **kw):
        """POST a building; returns its JSON (raises unless 201)."""
        status, b = self.c.post('/api/v1/sites/%d/buildings' % self.site['id'],
                                dict({'number': number}, **kw))
        if status != 201:
            raise RuntimeError('building: %s %r' % (status, b))
        return b

    def flats(self, building_id):
        """Every flat of a building, {number: flat JSON}."""
        status, body = self.c.get('/api/v1/buildings/%d/flats?per_page=500' % building_id)
        if status != 200:
            raise RuntimeError('flats: %s %r' % (status, body))
        return {f['number']: f for f in body['items']}

    def gateway(self, flat_id):
        """PUT the flat's gateway credentials; returns a broker client."""
        status, g = self.c.put('/api/v1/flats/%d/gateway' % flat_id)
        if status not in (200, 201):
            raise RuntimeError('gateway: %s %r' % (status, g))
        return self.srv.client().basic(g['username'], g['secret'])

    def allocate(self, flat_id, gw_mac, handset_macs=()):
        """The flat's gateway asks for its block; returns the answer."""
        status, a = self.gateway(flat_id).post(
            '/api/v1/broker/allocate', {'gateway_mac': gw_mac,
                                        'handset_macs': list(handset_macs)})
        if status != 200:
            raise RuntimeError('allocate: %s %r' % (status, a))
        return a

    def utilisation(self):
        """(allotted, blocks) of the site's pool, from the API."""
        status, u = self.c.get('/api/v1/sites/%d/utilisation' % self.site['id'])
        if status != 200:
            raise RuntimeError('utilisation: %s %r' % (status, u))
        return u['items'][0]['allotted'], u['items'][0]['blocks']

    def audit_count(self, action=None):
        where = " WHERE action = '%s'" % action if action else ''
        return int(self.pg.scalar('SELECT count(*) FROM dpn.audit_log' + where))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stops mgmtd; a clean run must end with a clean exit (leak check)."""
        self.c.close()
        self.srv.__exit__(exc_type, exc, tb)


def ha1(user, password, realm='dpn', algo='md5'):
    """The SIP digest HA1 a handset's credentials must be stored as."""
    return hashlib.new(algo, ('%s:%s:%s' % (user, realm, password)).encode()).hexdigest()
