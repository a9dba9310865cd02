/* mgmtd/api_pool_blocks.c — GET /api/v1/pools/{id}/blocks: a pool's blocks
 * in address order with their flat, building and device assignments, a page
 * at a time, for the web admin's address map. ?from=ADDRESS starts at the
 * block holding that address or the next one (keyset by address: the map
 * shows a window of a large pool without walking the blocks before it).
 * Managers see the pool when its site holds one of their buildings, and
 * only the blocks of their buildings (the total counts those only). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "api.h"
#include "api_res.h"

/* Pool p as the map needs it: first/last usable address and size. */
#define PB_POOL_JSON "json_build_object('id', p.id, 'site_id', p.site_id, " \
	"'cidr', p.cidr::text, 'first', dpn.ip4(lower(p.range)), " \
	"'last', dpn.ip4(upper(p.range) - 1), 'size', upper(p.range) - lower(p.range))"

/* The devices holding addresses of block k, by address. */
#define PB_ASSIGNMENTS_JSON "coalesce((SELECT json_agg(json_build_object(" \
	"'address', dpn.ip4(a.addr), 'device', CASE WHEN a.gateway_id IS NULL " \
	"THEN 'handset' ELSE 'gateway' END, 'suffix', h.suffix, 'handset_id', " \
	"h.id, 'mac', a.mac::text, 'online', a.online) ORDER BY a.addr) " \
	"FROM dpn.assignments a LEFT JOIN dpn.handsets h ON h.id = a.handset_id " \
	"WHERE a.block_id = k.id), '[]')"

/* Block k with its flat f, building b and site s. */
#define PB_BLOCK_JSON "json_build_object('id', k.id, 'first', " \
	"dpn.ip4(lower(k.range)), 'last', dpn.ip4(upper(k.range) - 1), " \
	"'size', upper(k.range) - lower(k.range), 'flat_id', f.id, " \
	"'flat_number', f.number, 'full_number', " RES_FLAT_NUMBER ", " \
	"'building_id', b.id, 'building_number', b.number, 'assignments', " \
	PB_ASSIGNMENTS_JSON ")"

struct pool_blocks {
	struct api_req *r;
	struct res_page page;
	const char *from;        /* dotted quad or NULL */
};

/* ?from= when given must be a dotted quad: 0, or answers 422 naming it. */
static int from_check(struct api_req *r, const char **out)
{
	const char *s = api_query(r, "from");
	struct in_addr a;

	if (s && inet_pton(AF_INET, s, &a) != 1) {
		api_error(r, 422, "from", "from must be an IPv4 address like 10.16.4.0");
		return EINVAL;
	}
	*out = s;
	return 0;
}

/* One statement: the pool (none -> 404), the page of visible blocks and
 * their count. The LIMIT/OFFSET walk uses blocks_pool_lower. */
static int pool_blocks_txn(struct api_tx *tx, void *arg)
{
	struct pool_blocks *q = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH m AS (SELECT k.id, k.range, k.flat_id "
	    "FROM dpn.blocks k JOIN dpn.flats f ON f.id = k.flat_id "
	    "WHERE k.pool_id = $1 AND " RES_SCOPE("2", "f.building_id")
	    " AND ($6::inet IS NULL OR upper(k.range) > dpn.ip4_num($6::inet))) "
	    "SELECT json_build_object('pool', " PB_POOL_JSON ", 'blocks', "
	    "coalesce((SELECT json_agg(" PB_BLOCK_JSON " ORDER BY lower(k.range)) "
	    "FROM (SELECT * FROM m ORDER BY lower(m.range) LIMIT $3 OFFSET $4) k "
	    "JOIN (" RES_FLAT_FROM ") ON f.id = k.flat_id), '[]'), "
	    "'total', (SELECT count(*) FROM m), 'page', $5::bigint, "
	    "'per_page', $3::bigint) FROM dpn.pools p WHERE p.id = $1 AND "
	    "($2::bigint IS NULL OR EXISTS (SELECT 1 FROM dpn.user_buildings ub "
	    "JOIN dpn.buildings ob ON ob.id = ub.building_id WHERE "
	    "ub.user_id = $2::bigint AND ob.site_id = p.site_id))",
	    q->r->id[0], api_scope(q->r), q->page.limit, q->page.offset,
	    q->page.page, q->from))
		return -1;
	return api_answer_row(q->r, res, 200, "no such pool");
}

static void pool_blocks(struct api_req *r)
{
	struct pool_blocks q = { .r = r };

	if (res_paging(r, &q.page) || from_check(r, &q.from))
		return;
	api_txn_ro(r, pool_blocks_txn, &q);
}

const struct api_route api_pool_blocks_routes[] = {
	{ "GET", "/api/v1/pools/{id}/blocks", pool_blocks, API_ADMIN },
	API_ROUTES_END
};
