#!/usr/bin/env python3
"""test_api_pool_blocks — GET /api/v1/pools/{id}/blocks over real HTTP
against a real PostgreSQL: blocks allotted by the broker (as gateways ask)
are listed exactly, with their flat, building and devices, in address
order; pages cover every block once; a manager sees only the blocks of
their buildings; deleted flats leave the map; bad input is refused."""
import ipaddress
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from dpn_test import Cluster, case, check, check_eq, run  # noqa: E402
import mgmtd  # noqa: E402
from mgmtd_resources import Env  # noqa: E402

E = {}


def mac(flat, n):
    return '02:00:00:05:%02x:%02x' % (flat % 256, n)


def ip(a):
    return int(ipaddress.IPv4Address(a))


def blocks_url(pool_id, query=''):
    return '/api/v1/pools/%d/blocks%s' % (pool_id, query)


def all_blocks(client, pool_id, per_page=500):
    """Every block the client may see, page by page: (blocks, total)."""
    out, page = [], 1
    while True:
        status, body = client.get(blocks_url(pool_id, '?page=%d&per_page=%d'
                                             % (page, per_page)))
        if status != 200:
            raise RuntimeError('blocks page %d: %s %r' % (page, status, body))
        out += body['blocks']
        if not body['blocks'] or len(out) >= body['total']:
            return out, body['total']
        page += 1


@case
def an_empty_pool_has_no_blocks(pg):
    env = E['env']
    status, body = env.c.get(blocks_url(env.pool['id']))
    check_eq(status, 200, 'GET: %r' % body)
    check_eq(body['pool'], {'id': env.pool['id'], 'site_id': env.site['id'],
                            'cidr': '127.16.0.0/16', 'first': '127.16.0.1',
                            'last': '127.16.255.254', 'size': 65534}, 'pool')
    check_eq((body['blocks'], body['total'], body['page'], body['per_page']),
             ([], 0, 1, 50), 'no blocks yet')


@case
def blocks_allotted_by_the_broker_are_listed_with_their_devices(pg):
    env = E['env']
    ba = env.building(1101, floors=3, units_per_floor=2)
    bb = env.building(1102, floors=2, units_per_floor=2)
    fa, fb = env.flats(ba['id']), env.flats(bb['id'])
    E.update(ba=ba, bb=bb, fa=fa, fb=fb)
    answers = {}
    for i, (flats, n, handsets) in enumerate((
            (fa, 101, 2), (fa, 102, 0), (fa, 301, 3), (fb, 201, 1), (fb, 102, 2))):
        fid = flats[n]['id']
        answers[fid] = env.allocate(fid, mac(i, 0), [mac(i, k + 1) for k in range(handsets)])
    E['answers'] = answers
    blocks, total = all_blocks(env.c, env.pool['id'])
    check_eq(total, 5, 'five blocks')
    check_eq([b['flat_id'] for b in blocks],
             sorted(answers, key=lambda f: ip(answers[f]['block']['first'])),
             'by address')
    by_num = {f['id']: (b, n) for b, fl in ((ba, fa), (bb, fb)) for n, f in fl.items()}
    for blk in blocks:
        a = answers[blk['flat_id']]
        building, number = by_num[blk['flat_id']]
        check_eq((blk['first'], blk['last'], blk['size']),
                 (a['block']['first'], a['block']['last'], a['block']['size']),
                 'block range of flat %d' % number)
        check_eq((blk['flat_number'], blk['building_id'], blk['building_number'],
                  blk['full_number']),
                 (number, building['id'], building['number'],
                  '100-%d-%04d' % (building['number'], number)), 'flat %d' % number)
        want = [{'address': a['gateway']['address'], 'device': 'gateway',
                 'mac': a['gateway']['mac'], 'online': False}]
        want += [{'address': h['address'], 'device': 'handset', 'suffix': h['suffix'],
                  'mac': h['mac'], 'online': False} for h in a['handsets']]
        got = [{k: v for k, v in x.items() if k != 'handset_id' and v is not None}
               for x in blk['assignments']]
        check_eq(got, sorted(want, key=lambda x: ip(x['address'])),
                 'devices of flat %d' % number)
        check(all((x['handset_id'] is None) == (x['device'] == 'gateway')
                  for x in blk['assignments']), 'handset ids on handsets only')
    sql = pg.psql("SELECT dpn.ip4(lower(range)), count(*) OVER () FROM dpn.blocks "
                  "WHERE pool_id = %d ORDER BY lower(range)" % env.pool['id'])
    check_eq([b['first'] for b in blocks], [r[0] for r in sql], 'same blocks as SQL')
    E['blocks'] = blocks


@case
def online_state_follows_the_database(pg):
    env = E['env']
    blk = E['blocks'][0]
    addr = blk['assignments'][0]['address']
    pg.psql("UPDATE dpn.assignments SET online = true WHERE addr = dpn.ip4_num('%s')" % addr)
    blocks, _ = all_blocks(env.c, env.pool['id'])
    check_eq(blocks[0]['assignments'][0]['online'], True, 'online shown')
    check_eq(sum(x['online'] for b in blocks for x in b['assignments']), 1, 'only that one')


@case
def pages_cover_every_block_once_in_order(pg):
    env = E['env']
    want = [b['first'] for b in E['blocks']]
    for per_page in (1, 2, 3, 5, 500):
        blocks, total = all_blocks(env.c, env.pool['id'], per_page)
        check_eq(([b['first'] for b in blocks], total), (want, 5),
                 'pages of %d' % per_page)
    status, body = env.c.get(blocks_url(env.pool['id'], '?page=2&per_page=2'))
    check_eq((status, [b['first'] for b in body['blocks']], body['page'],
              body['per_page'], body['total']), (200, want[2:4], 2, 2, 5), 'page 2 of 2')
    status, body = env.c.get(blocks_url(env.pool['id'], '?page=99&per_page=2'))
    check_eq((status, body['blocks'], body['total']), (200, [], 5), 'past the end')


@case
def from_starts_at_the_block_holding_an_address(pg):
    env = E['env']
    blocks = E['blocks']
    firsts = [b['first'] for b in blocks]
    third = blocks[2]
    inside = str(ipaddress.IPv4Address(ip(third['first']) + 1))
    for frm, want, why in ((third['first'], firsts[2:], 'a block\'s first address'),
                           (inside, firsts[2:], 'inside a block'),
                           (third['last'], firsts[2:], 'a block\'s last address'),
                           (str(ipaddress.IPv4Address(ip(third['last']) + 1)), firsts[3:],
                            'just after a block'),
                           ('0.0.0.0', firsts, 'before the pool'),
                           ('127.16.255.255', [], 'after every block')):
        status, body = env.c.get(blocks_url(env.pool['id'], '?per_page=500&from=' + frm))
        check_eq((status, [b['first'] for b in body['blocks']], body['total']),
                 (200, want, len(want)), 'from %s (%s)' % (frm, why))
    status, body = env.c.get(blocks_url(env.pool['id'], '?per_page=1&page=2&from=' + inside))
    check_eq([b['first'] for b in body['blocks']], firsts[3:4], 'pages after from')


@case
def a_manager_sees_only_the_blocks_of_their_buildings(pg):
    env = E['env']
    pw = mgmtd.add_user(pg, 'mgr-b', role='manager', buildings=[E['bb']['id']])
    m = env.srv.client()
    try:
        m.login('mgr-b', pw)
        blocks, total = all_blocks(m, env.pool['id'], 1)
        mine = {f['id'] for f in E['fb'].values()}
        check_eq((total, sorted(b['flat_id'] for b in blocks)),
                 (2, sorted(f for f in E['answers'] if f in mine)), 'building 1102 only')
        check(all(b['building_id'] == E['bb']['id'] for b in blocks), 'no other building')
        others = {a['gateway']['address'] for f, a in E['answers'].items() if f not in mine}
        shown = {x['address'] for b in blocks for x in b['assignments']}
        shown |= {b['first'] for b in blocks} | {b['last'] for b in blocks}
        check_eq(shown & others, set(), 'no address of another building leaks')
        # A site with none of the manager's buildings: its pool does not exist for them.
        status, site2 = env.c.post('/api/v1/sites', {'number': 200})
        check_eq(status, 201, 'second site')
        status, pool2 = env.c.post('/api/v1/sites/%d/pools' % site2['id'],
                                   {'cidr': '127.17.0.0/24'})
        check_eq(status, 201, 'second pool')
        check_eq(env.c.get(blocks_url(pool2['id']))[0], 200, 'operator sees it')
        status, err = m.get(blocks_url(pool2['id']))
        check_eq((status, err.get('error')), (404, 'no such pool'), 'manager: 404 like unknown')
        E['pool2'] = pool2
    finally:
        m.close()


@case
def a_deleted_flat_leaves_the_map(pg):
    env = E['env']
    fid = E['fa'][301]['id']
    check_eq(env.c.delete('/api/v1/flats/%d' % fid)[0], 204, 'DELETE flat')
    blocks, total = all_blocks(env.c, env.pool['id'])
    check_eq(total, 4, 'one block fewer')
    check(fid not in {b['flat_id'] for b in blocks}, 'its block is gone')
    gone = {x['address'] for x in [E['answers'][fid]['gateway']] + E['answers'][fid]['handsets']}
    shown = {x['address'] for b in blocks for x in b['assignments']}
    check_eq(shown & gone, set(), 'its addresses are free again')
    check_eq(mgmtd.invariants(pg), [], 'invariants')


@case
def bad_input_is_refused_and_writes_nothing(pg):
    env = E['env']
    pid = env.pool['id']
    before = mgmtd.dump(pg)
    for q, field in (('?page=0', 'page'), ('?page=-1', 'page'), ('?page=abc', 'page'),
                     ('?page=1.5', 'page'), ('?page=', 'page'),
                     ('?page=99999999999999999999', 'page'),
                     ('?per_page=0', 'per_page'), ('?per_page=501', 'per_page'),
                     ('?per_page=1e3', 'per_page'),
                     ('?page=1&per_page=x', 'per_page'), ('?from=', 'from'),
                     ('?from=127.16.0', 'from'), ('?from=127.16.0.256', 'from'),
                     ('?from=::1', 'from'), ('?from=127.16.0.1/24', 'from'),
                     ("?from=1'%3B--", 'from')):
        status, err = env.c.get(blocks_url(pid, q))
        check_eq((status, err.get('field')), (422, field), '%s: %r' % (q, err))
    status, err = env.c.get(blocks_url(pid, '?per_page=%00'))
    check_eq(status, 400, '%%00 in the query (refused for the whole URL): %r' % err)
    for path in ('/api/v1/pools/999999/blocks', '/api/v1/pools/0/blocks',
                 '/api/v1/pools/abc/blocks', '/api/v1/pools/-1/blocks',
                 '/api/v1/pools/%d/blocks/x' % pid,
                 '/api/v1/pools/99999999999999999999999/blocks'):
        status, err = env.c.get(path)
        check_eq(status, 404, '%s: %r' % (path, err))
    status, _ = env.c.post(blocks_url(pid), {})
    check_eq(status, 405, 'POST not allowed')
    anon = env.srv.client()
    try:
        check_eq(anon.get(blocks_url(pid))[0], 401, 'needs a session')
    finally:
        anon.close()
    check_eq(mgmtd.dump(pg), before, 'nothing written')
    check_eq(env.c.get(blocks_url(pid))[0], 200, 'still answers')


if __name__ == '__main__':
    with Cluster() as pg:
        with Env(pg) as env:
            E['env'] = env
            run(pg)
