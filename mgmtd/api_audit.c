/* mgmtd/api_audit.c — GET /api/v1/audit: the audit log, newest first,
 * paginated; q filters on a substring of action, object or actor.
 * Operators only: the log names every building, so a manager (who must not
 * learn of others' buildings) gets 403. */
#include <stdio.h>

#include "api_res.h"

static void audit_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p))
		return;
	api_get_one(r, "no audit log", "WITH m AS (SELECT * FROM dpn.audit_log a WHERE "
	    "$1::text IS NULL OR strpos(a.action || ' ' || a.object || ' ' || a.actor, $1) > 0) "
	    "SELECT json_build_object('items', coalesce((SELECT json_agg(json_build_object("
	    "'id', a.id, 'at', a.at, 'actor', a.actor, 'action', a.action, 'object', a.object, "
	    "'detail', a.detail) ORDER BY a.at DESC, a.id DESC) FROM (SELECT * FROM m "
	    "ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3) a), '[]'), 'total', "
	    "(SELECT count(*) FROM m), 'page', $4::bigint, 'per_page', $2::bigint)",
	    api_query(r, "q"), p.limit, p.offset, p.page);
}

const struct api_route api_audit_routes[] = {
	{ "GET", "/api/v1/audit", audit_list, API_OPERATOR },
	API_ROUTES_END
};
