/* mgmtd/api_flats.c — flats: /api/v1/buildings/{id}/flats (list, create)
 * and /api/v1/flats/{id} (get with block, gateway, handsets and
 * assignments; change number or circuit-id; delete, its block returned to
 * the pool through dpn.broker_delete_gateway in the same transaction). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_res.h"

static const struct api_constraint flat_constraints[] = {
	{ "flats_number_unique", 409, "number", "a flat with this number exists in the building" },
	{ "flats_number_fits", 422, "number", "number has more digits than the site's flat width" },
	{ "flats_circuit_unique", 409, "circuit_id", "another flat of the site has this circuit_id" },
	{ "flats_circuit_id_text", 422, "circuit_id",
	  "circuit_id must be 1 to 64 printable ASCII characters without spaces" },
	API_CONSTRAINTS_END
};

/* A flat in full (f, b, s in scope). */
#define FLAT_DETAIL "json_build_object('id', f.id, 'building_id', f.building_id, " \
	"'number', f.number, 'circuit_id', f.circuit_id, 'full_number', " RES_FLAT_NUMBER ", " \
	"'block', (SELECT dpn.block_json(k.range) FROM dpn.blocks k WHERE k.flat_id = f.id), " \
	"'gateway', (SELECT json_build_object('id', g.id, 'username', g.username, " \
	"'mac', g.mac::text, 'address', (SELECT dpn.ip4(a.addr) FROM dpn.assignments a " \
	"WHERE a.gateway_id = g.id)) FROM dpn.gateways g WHERE g.flat_id = f.id), " \
	"'handsets', coalesce((SELECT json_agg(" RES_HANDSET_JSON " ORDER BY h.suffix) " \
	"FROM dpn.handsets h WHERE h.flat_id = f.id), '[]'), " \
	"'assignments', coalesce((SELECT json_agg(json_build_object('address', " \
	"dpn.ip4(a.addr), 'mac', a.mac::text, 'device', CASE WHEN a.gateway_id IS NULL " \
	"THEN 'handset' ELSE 'gateway' END, 'handset_id', a.handset_id, 'online', " \
	"a.online, 'last_seen', a.last_seen) ORDER BY a.addr) FROM dpn.assignments a " \
	"WHERE a.flat_id = f.id), '[]'))"

/* What an operator checks on each flat of a list (f in scope): its block,
 * its gateway (credentials made; the address it holds, and whether that
 * address is in use per the DHCP lease events) and its handsets (how many,
 * how many lack an address or SIP credentials, how many are online). SIP
 * registration is not known to mgmtd yet (no gatekeeper): a 'registered'
 * member joins 'gateway' when it is. */
#define FLAT_STATUS "json_build_object(" \
	"'block', (SELECT dpn.block_json(k.range) FROM dpn.blocks k WHERE k.flat_id = f.id), " \
	"'gateway', (SELECT json_build_object('mac', g.mac::text, 'address', " \
	"dpn.ip4(a.addr), 'online', coalesce(a.online, false), 'last_seen', a.last_seen) " \
	"FROM dpn.gateways g LEFT JOIN dpn.assignments a ON a.gateway_id = g.id " \
	"WHERE g.flat_id = f.id), " \
	"'handsets', (SELECT json_build_object('total', count(*), 'without_address', " \
	"count(*) FILTER (WHERE a.id IS NULL), 'without_credentials', count(*) FILTER " \
	"(WHERE h.ha1_md5 IS NULL), 'online', count(*) FILTER (WHERE a.online)) " \
	"FROM dpn.handsets h LEFT JOIN dpn.assignments a ON a.handset_id = h.id " \
	"WHERE h.flat_id = f.id))"

/* Flat f needs attention: no gateway credentials, or its gateway's address
 * not in use, or a handset without an address or SIP credentials. */
#define FLAT_ATTENTION "(NOT EXISTS (SELECT 1 FROM dpn.gateways g JOIN " \
	"dpn.assignments a ON a.gateway_id = g.id WHERE g.flat_id = f.id AND a.online) " \
	"OR EXISTS (SELECT 1 FROM dpn.handsets h WHERE h.flat_id = f.id AND " \
	"(h.ha1_md5 IS NULL OR NOT EXISTS (SELECT 1 FROM dpn.assignments a " \
	"WHERE a.handset_id = h.id))))"

/* ---- read ----------------------------------------------------------------- */

/* ?state= when given must be "attention": 0, or answers 422 naming it. */
static int state_check(struct api_req *r)
{
	const char *s = api_query(r, "state");

	if (s && strcmp(s, "attention") != 0) {
		api_error(r, 422, "state", "state must be attention (or absent)");
		return EINVAL;
	}
	return 0;
}

static void flats_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p) || state_check(r))
		return;
	/* q: the start of a flat number as stored ("12" finds 1201..1299) or as
	 * shown, zero-padded to the site's flat width ("0101" finds 101), or a
	 * circuit-id. */
	api_get_one(r, "no such building", "WITH m AS (SELECT f.* FROM dpn.flats f "
	    "JOIN dpn.sites s ON s.id = f.site_id "
	    "WHERE f.building_id = $1 AND ($2::text IS NULL OR starts_with(f.number::text, $2) "
	    "OR starts_with(lpad(f.number::text, s.w_flat, '0'), $2) OR f.circuit_id = $2) "
	    "AND ($7::text IS NULL OR " FLAT_ATTENTION ")) "
	    "SELECT json_build_object('items', coalesce((SELECT json_agg(" RES_FLAT_JSON
	    "::jsonb || jsonb_build_object('status', " FLAT_STATUS ") ORDER BY f.number) "
	    "FROM (SELECT * FROM m ORDER BY number LIMIT $4 OFFSET $5) f), "
	    "'[]'), 'total', (SELECT count(*) FROM m), 'page', $6::bigint, 'per_page', $4::bigint) "
	    "FROM dpn.buildings b JOIN dpn.sites s ON s.id = b.site_id "
	    "WHERE b.id = $1 AND " RES_SCOPE("3", "b.id"),
	    r->id[0], api_query(r, "q"), api_scope(r), p.limit, p.offset, p.page,
	    api_query(r, "state"));
}

static void flat_get(struct api_req *r)
{
	api_get_one(r, "no such flat", "SELECT " FLAT_DETAIL " FROM " RES_FLAT_FROM
	    " WHERE f.id = $1 AND " RES_SCOPE("2", "f.building_id"), r->id[0], api_scope(r));
}

/* ---- create / update ------------------------------------------------------ */

struct flat_in {
	struct api_req *r;
	int64_t number;
	const char *circuit_id;
	struct api_field f[3];
};

static int flat_decode(struct api_req *r, struct flat_in *fl, unsigned required)
{
	struct api_field f[] = {
		API_INT("number", required, &fl->number, 0, 999999999),
		API_STR("circuit_id", 0, &fl->circuit_id, 1, 64),
		API_FIELDS_END
	};

	if (api_decode(r, f))
		return EINVAL;
	memcpy(fl->f, f, sizeof(f));
	return 0;
}

/* Circuit-ids are unique per site: a manager setting one would learn from
 * the 409 that a flat of another building presents it. Managers' flats get
 * the default circuit-id: a manager's circuit_id is refused (403), on a
 * PATCH (tx given) only when it differs from the one the flat has (a flat
 * out of scope goes on to its 404). */
static int flat_circuit_scoped(struct api_tx *tx, struct flat_in *fl)
{
	PGresult *res;
	int change = 1;

	if (!api_scope(fl->r) || !fl->f[1].present)
		return 0;
	if (tx) {
		if (api_sql(tx, &res, "SELECT 1 FROM dpn.flats f WHERE f.id = $1 AND "
		    "f.circuit_id <> $3 AND " RES_SCOPE("2", "f.building_id"),
		    fl->r->id[0], api_scope(fl->r), fl->circuit_id))
			return -1;
		change = PQntuples(res) > 0;
		PQclear(res);
	}
	if (!change)
		return 0;
	api_error(fl->r, 403, "circuit_id", "only operators set a flat's circuit-id; "
	    "leave it out for the default (building-flat)");
	return -1;
}

static int flat_create_txn(struct api_tx *tx, void *arg)
{
	struct flat_in *fl = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH n AS (INSERT INTO dpn.flats (building_id, number, "
	    "circuit_id) SELECT b.id, $3, $4 FROM dpn.buildings b WHERE b.id = $1 AND "
	    RES_SCOPE("2", "b.id") " RETURNING *) SELECT " RES_FLAT_JSON " FROM n f "
	    "JOIN dpn.buildings b ON b.id = f.building_id JOIN dpn.sites s ON s.id = f.site_id",
	    fl->r->id[0], api_scope(fl->r), api_param(&fl->f[0]), api_param(&fl->f[1])))
		return -1;
	return api_answer_audited(tx, res, 201, "no such building", "flat.create", "flat");
}

static void flat_create(struct api_req *r)
{
	struct flat_in fl = { .r = r };

	if (flat_decode(r, &fl, API_REQUIRED) == 0 && flat_circuit_scoped(NULL, &fl) == 0)
		api_txn(r, flat_create_txn, &fl, flat_constraints);
}

/* A new circuit-id cascades to the flat's assignments and so to Kea's
 * reservations (the schema's foreign keys and trigger). */
static int flat_update_txn(struct api_tx *tx, void *arg)
{
	struct flat_in *fl = arg;
	PGresult *res;

	if (flat_circuit_scoped(tx, fl))
		return -1;
	if (api_sql(tx, &res, "UPDATE dpn.flats f SET number = coalesce($3, f.number), "
	    "circuit_id = coalesce($4, f.circuit_id) FROM dpn.buildings b, dpn.sites s "
	    "WHERE f.id = $1 AND b.id = f.building_id AND s.id = f.site_id AND "
	    RES_SCOPE("2", "f.building_id") " RETURNING " RES_FLAT_JSON,
	    fl->r->id[0], api_scope(fl->r), api_param(&fl->f[0]), api_param(&fl->f[1])))
		return -1;
	return api_answer_audited(tx, res, 200, "no such flat", "flat.update", "flat");
}

static void flat_update(struct api_req *r)
{
	struct flat_in fl = { .r = r };

	if (flat_decode(r, &fl, 0) == 0)
		api_txn(r, flat_update_txn, &fl, flat_constraints);
}

/* ---- delete --------------------------------------------------------------- */

static int flat_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "SELECT f.id FROM dpn.flats f WHERE f.id = $1 AND "
	    RES_SCOPE("2", "f.building_id") " FOR UPDATE", r->id[0], api_scope(r)))
		return -1;
	if (res_found(r, res, "no such flat"))
		return -1;
	if (api_sql(tx, &res, "SELECT dpn.broker_delete_gateway(f.id) FROM dpn.flats f "
	    "WHERE f.id = $1 AND (EXISTS (SELECT 1 FROM dpn.blocks k WHERE k.flat_id = f.id) "
	    "OR EXISTS (SELECT 1 FROM dpn.gateways g WHERE g.flat_id = f.id))", r->id[0]))
		return -1;
	PQclear(res);
	if (api_sql(tx, &res, "WITH d AS (DELETE FROM dpn.flats WHERE id = $1 RETURNING *) "
	    "SELECT " RES_FLAT_JSON " FROM d f JOIN dpn.buildings b ON b.id = f.building_id "
	    "JOIN dpn.sites s ON s.id = f.site_id", r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such flat", "flat.delete", "flat");
}

static void flat_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, flat_delete_txn, r, flat_constraints);
}

const struct api_route api_flats_routes[] = {
	{ "GET", "/api/v1/buildings/{id}/flats", flats_list, API_ADMIN },
	{ "POST", "/api/v1/buildings/{id}/flats", flat_create, API_ADMIN },
	{ "GET", "/api/v1/flats/{id}", flat_get, API_ADMIN },
	{ "PATCH", "/api/v1/flats/{id}", flat_update, API_ADMIN },
	{ "DELETE", "/api/v1/flats/{id}", flat_delete, API_ADMIN },
	API_ROUTES_END
};
