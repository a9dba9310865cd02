/* mgmtd/api_bans.c — the gatekeeper's bans of a site (dpn.gk_bans,
 * schema/080): GET /api/v1/sites/{id}/bans lists those in force (newest
 * first, paginated); DELETE /api/v1/sites/{id}/bans/{ban} lifts one: its
 * row is deleted, and NOTIFY dpn_gk 'unban SITE SOURCE USERNAME' in the
 * same transaction tells the site's gatekeeper to drop it from memory.
 * Operators only: a ban names sources of the whole site. */
#include <stdio.h>

#include "api_res.h"

#define BAN_JSON "json_build_object('id', b.id, 'source', host(b.source), " \
	"'username', b.username, 'reason', b.reason, 'since', b.since, " \
	"'until', b.until_at, 'hits', b.hits)"

static void bans_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p))
		return;
	api_get_one(r, "no such site", "SELECT json_build_object('items', "
	    "coalesce((SELECT json_agg(x.j ORDER BY x.since DESC, x.id DESC) FROM "
	    "(SELECT " BAN_JSON " AS j, b.since, b.id FROM dpn.gk_bans b WHERE "
	    "b.site_id = s.id AND b.until_at > now() ORDER BY b.since DESC, b.id "
	    "DESC LIMIT $2 OFFSET $3) x), '[]'), 'total', (SELECT count(*) FROM "
	    "dpn.gk_bans b WHERE b.site_id = s.id AND b.until_at > now()), "
	    "'page', $4::bigint, 'per_page', $2::bigint) FROM dpn.sites s "
	    "WHERE s.id = $1", r->id[0], p.limit, p.offset, p.page);
}

static int ban_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH d AS (DELETE FROM dpn.gk_bans b WHERE "
	    "b.site_id = $1 AND b.id = $2 RETURNING b.*), n AS (SELECT "
	    "pg_notify('dpn_gk', 'unban ' || d.site_id || ' ' || host(d.source) "
	    "|| ' ' || d.username) FROM d) SELECT (SELECT " BAN_JSON " FROM d b), "
	    "(SELECT count(*) FROM n)", r->id[0], r->id[1]))
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		PQclear(res);
		api_error(r, 404, NULL, "no such ban");
		return -1;
	}
	if (api_audit(tx, "ban.delete", "ban", PQgetvalue(res, 0, 0))) {
		PQclear(res);
		return -1;
	}
	PQclear(res);
	api_no_content(r);
	return 0;
}

static void ban_delete(struct api_req *r)
{
	if (api_decode_empty(r))
		return;
	api_txn(r, ban_delete_txn, r, NULL);
}

const struct api_route api_bans_routes[] = {
	{ "GET", "/api/v1/sites/{id}/bans", bans_list, API_OPERATOR },
	{ "DELETE", "/api/v1/sites/{id}/bans/{id}", ban_delete, API_OPERATOR },
	API_ROUTES_END
};
