/* mgmtd/api_audit.c — GET /api/v1/audit: the audit log, newest first,
 * paginated. Each row also says which object it is about, readably (kind,
 * object_id, label: "100-1101-1201", "gw-100-1101-1201", "127.20.0.0/24")
 * and, for a change, which fields changed from what (against the object's
 * previous audit row). Filters: q (substring of action, object or actor),
 * actor (exact, or every actor starting with it when it ends in ':', e.g.
 * "gateway:"), kind, object_id (with kind: one object's history).
 * Operators only: the log names every building, so a manager (who must not
 * learn of others' buildings) gets 403. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_res.h"

/* Kinds of object the log knows (dpn.audit_kind, schema/030). */
static const char *const audit_kinds[] = {
	"site", "pool", "building", "flat", "gateway", "handset", "user", "session", NULL
};

/* A readable name of row a's object (kind a.kind, id a.oid): from the row
 * itself, else the object as it is now (broker rows name only the id),
 * else as mgmtd last wrote it down (a flat deleted since). */
#define AUDIT_LABEL "coalesce(CASE a.kind " \
	"WHEN 'flat' THEN a.detail->>'full_number' " \
	"WHEN 'handset' THEN a.detail->>'number' " \
	"WHEN 'gateway' THEN a.detail->>'username' " \
	"WHEN 'pool' THEN a.detail->>'cidr' " \
	"WHEN 'site' THEN a.detail->>'number' " \
	"WHEN 'user' THEN coalesce(a.detail->>'username', " \
	"CASE WHEN a.object NOT IN ('user', 'session') THEN a.object END) " \
	"WHEN 'building' THEN (SELECT lpad(s.number::text, s.w_complex, '0') || '-' || " \
	"lpad(a.detail->>'number', s.w_building, '0') FROM dpn.sites s " \
	"WHERE s.id::text = a.detail->>'site_id') END, " \
	"(SELECT " RES_FLAT_NUMBER " FROM " RES_FLAT_FROM " WHERE a.kind = 'flat' " \
	"AND f.id = a.oid), " \
	"(SELECT " RES_FLAT_NUMBER " || '-' || lpad(h.suffix::text, s.w_handset, '0') " \
	"FROM dpn.handsets h JOIN " RES_FLAT_FROM " ON f.id = h.flat_id " \
	"WHERE a.kind = 'handset' AND h.id = a.oid), " \
	"(SELECT g.username FROM dpn.gateways g WHERE a.kind = 'gateway' AND g.id = a.oid), " \
	"(SELECT coalesce(p.detail->>'full_number', p.detail->>'number', p.detail->>'username') " \
	"FROM dpn.audit_log p WHERE a.kind IN ('flat', 'handset', 'gateway') AND " \
	"dpn.audit_kind(p.object, p.action) = a.kind AND " \
	"dpn.audit_object_id(p.object, p.detail) = a.oid AND p.action NOT LIKE 'broker.%' " \
	"ORDER BY p.id DESC LIMIT 1), " \
	"a.detail->>'number')"

/* For a change (*.update): [{field, from, to}] against the object's
 * previous row written by mgmtd; null when there is none to compare. */
#define AUDIT_CHANGED "CASE WHEN a.action LIKE '%.update' THEN (SELECT (SELECT " \
	"coalesce(json_agg(json_build_object('field', n.key, 'from', p.detail->n.key, " \
	"'to', n.value) ORDER BY n.key) FILTER (WHERE p.detail->n.key IS DISTINCT FROM " \
	"n.value), '[]') FROM jsonb_each(CASE WHEN jsonb_typeof(a.detail) = 'object' " \
	"THEN a.detail ELSE '{}' END) n) FROM (SELECT p.detail FROM dpn.audit_log p WHERE " \
	"dpn.audit_kind(p.object, p.action) = a.kind AND " \
	"dpn.audit_object_id(p.object, p.detail) = a.oid AND p.id < a.id AND " \
	"p.action NOT LIKE 'broker.%' AND jsonb_typeof(p.detail) = 'object' " \
	"ORDER BY p.id DESC LIMIT 1) p) END"

#define AUDIT_ITEM "json_build_object('id', a.id, 'at', a.at, 'actor', a.actor, " \
	"'action', a.action, 'object', a.object, 'detail', a.detail, 'kind', a.kind, " \
	"'object_id', a.oid, 'label', " AUDIT_LABEL ", 'changed', " AUDIT_CHANGED ")"

/* ?kind= and ?object_id=: 0, or answers 422 naming the field. */
static int audit_filters_check(struct api_req *r)
{
	const char *kind = api_query(r, "kind");
	const char *id = api_query(r, "object_id");
	size_t n;
	int known = 0;

	for (int i = 0; kind && audit_kinds[i]; i++)
		known |= strcmp(kind, audit_kinds[i]) == 0;
	if (kind && !known) {
		api_error(r, 422, "kind", "kind must be one of site, pool, building, flat, "
		    "gateway, handset, user, session");
		return EINVAL;
	}
	n = id ? strspn(id, "0123456789") : 0;
	if (id && (n == 0 || n > 18 || id[n])) {
		api_error(r, 422, "object_id", "object_id must be a whole number");
		return EINVAL;
	}
	if (id && !kind) {
		api_error(r, 422, "object_id", "object_id needs kind");
		return EINVAL;
	}
	return 0;
}

/* Audit row a matches the filters ($1 q, $5 actor, $6 kind, $7 object_id;
 * a NULL parameter matches everything). */
#define AUDIT_MATCH "($1::text IS NULL OR " \
	"strpos(a.action || ' ' || a.object || ' ' || a.actor, $1) > 0) " \
	"AND ($5::text IS NULL OR a.actor = $5 OR (right($5, 1) = ':' AND " \
	"starts_with(a.actor, $5))) " \
	"AND ($6::text IS NULL OR dpn.audit_kind(a.object, a.action) = $6) " \
	"AND ($7::bigint IS NULL OR dpn.audit_object_id(a.object, a.detail) = $7)"

static void audit_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p) || audit_filters_check(r))
		return;
	/* The page walks audit_log_newest (or audit_log_object,
	 * audit_log_actor) newest first and stops after it; kind and object id
	 * are worked out for its rows only; only the count reads every match. */
	api_get_one(r, "no audit log", "SELECT json_build_object('items', coalesce(("
	    "SELECT json_agg(" AUDIT_ITEM " ORDER BY a.at DESC, a.id DESC) FROM (SELECT x.*, "
	    "dpn.audit_kind(x.object, x.action) AS kind, "
	    "dpn.audit_object_id(x.object, x.detail) AS oid FROM (SELECT a.* FROM "
	    "dpn.audit_log a WHERE " AUDIT_MATCH " ORDER BY a.at DESC, a.id DESC "
	    "LIMIT $2 OFFSET $3) x) a), '[]'), "
	    "'total', (SELECT count(*) FROM dpn.audit_log a WHERE " AUDIT_MATCH "), "
	    "'page', $4::bigint, 'per_page', $2::bigint)",
	    api_query(r, "q"), p.limit, p.offset, p.page, api_query(r, "actor"),
	    api_query(r, "kind"), api_query(r, "object_id"));
}

const struct api_route api_audit_routes[] = {
	{ "GET", "/api/v1/audit", audit_list, API_OPERATOR },
	API_ROUTES_END
};
