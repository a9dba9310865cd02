/* mgmtd/api_sites.c — sites (complexes) and their address pools:
 * /api/v1/sites, /api/v1/sites/{id}/pools, /api/v1/pools/{id},
 * /api/v1/sites/{id}/utilisation. The worked example of api.h: JSON is
 * built by PostgreSQL, writes are operators', managers see the sites that
 * hold one of their buildings. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* A site as the API shows it (alias s). */
#define SITE_JSON "json_build_object('id', s.id, 'number', s.number, 'name', s.name, " \
	"'widths', json_build_object('complex', s.w_complex, 'building', s.w_building, " \
	"'flat', s.w_flat, 'handset', s.w_handset), 'block_size', s.block_size, " \
	"'max_block_size', s.max_block_size)"

/* Manager scope of site s.id with the scope parameter $N. */
#define SITE_SCOPE(n) "($" n "::bigint IS NULL OR EXISTS (SELECT 1 FROM " \
	"dpn.user_buildings ub JOIN dpn.buildings b ON b.id = ub.building_id " \
	"WHERE ub.user_id = $" n "::bigint AND b.site_id = s.id))"

#define POOL_JSON "json_build_object('id', p.id, 'site_id', p.site_id, " \
	"'cidr', p.cidr::text)"

static const struct api_constraint site_constraints[] = {
	{ "sites_number_unique", 409, "number", "a site with this number exists" },
	{ "sites_number_fits", 422, "number", "number has more digits than widths.complex allows" },
	{ "sites_block_size_range", 422, "block_size", "block_size must be 2 to 4096" },
	{ "sites_max_block_size_range", 422, "max_block_size",
	  "max_block_size must be at least block_size and at most 65536" },
	{ "sites_block_size_fits_handsets", 422, "block_size",
	  "block_size is larger than the handset numbers of widths.handset" },
	{ "sites_name_length", 422, "name", "name is longer than 200 characters" },
	{ "buildings_number_fits", 422, "widths.building",
	  "a building number does not fit the new widths.building" },
	{ "flats_number_fits", 422, "widths.flat", "a flat number does not fit the new widths.flat" },
	{ "handsets_suffix_fits", 422, "widths.handset",
	  "a handset number does not fit the new widths.handset" },
	{ "blocks_size_range", 422, "max_block_size", "a flat's block is larger than max_block_size" },
	{ "pools_no_overlap", 409, "cidr", "cidr overlaps another pool of this site" },
	{ "pools_ipv4", 422, "cidr", "cidr must be IPv4 with a prefix of /8 to /30" },
	{ "blocks_pool", 409, NULL, "the pool still has blocks allotted" },
	API_CONSTRAINTS_END
};

/* ---- one site ------------------------------------------------------------ */

static void site_get(struct api_req *r)
{
	api_get_one(r, "no such site", "SELECT " SITE_JSON " FROM dpn.sites s "
	    "WHERE s.id = $1 AND " SITE_SCOPE("2"), r->id[0], api_scope(r));
}

/* ---- list ---------------------------------------------------------------- */

struct list {
	struct api_req *r;
	char limit[24], offset[24], page_text[24];
	int64_t page, per_page;
};

static int sites_list_txn(struct api_tx *tx, void *arg)
{
	struct list *l = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH m AS (SELECT * FROM dpn.sites s WHERE "
	    "($1::text IS NULL OR s.name ILIKE '%' || $1 || '%' OR s.number::text = $1) "
	    "AND " SITE_SCOPE("2") ") "
	    "SELECT json_build_object('items', coalesce((SELECT json_agg(" SITE_JSON
	    " ORDER BY s.number) FROM (SELECT * FROM m ORDER BY number LIMIT $3 OFFSET $4) s), "
	    "'[]'), 'total', (SELECT count(*) FROM m), 'page', $5::bigint, "
	    "'per_page', $3::bigint)",
	    api_query(l->r, "q"), api_scope(l->r), l->limit, l->offset, l->page_text))
		return -1;
	api_json_text(l->r, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static void sites_list(struct api_req *r)
{
	struct list l = { .r = r };

	if (api_paging(r, l.limit, l.offset, &l.page, &l.per_page))
		return;
	snprintf(l.page_text, sizeof(l.page_text), "%lld", (long long)l.page);
	api_txn_ro(r, sites_list_txn, &l);
}

/* ---- create / update ----------------------------------------------------- */

struct site_in {
	struct api_req *r;
	const char *name;
	int64_t number, wc, wb, wf, wh, block_size, max_block_size;
	struct api_field f[6], w[5];
};

/* Decodes a site body; on create `required` marks number. */
static int site_decode(struct api_req *r, struct site_in *s, unsigned required)
{
	json_object *widths = NULL;
	struct api_field f[] = {
		API_INT("number", required, &s->number, 0, 999999999),
		API_STR("name", 0, &s->name, 0, 200),
		API_OBJ("widths", 0, &widths),
		API_INT("block_size", 0, &s->block_size, 2, 4096),
		API_INT("max_block_size", 0, &s->max_block_size, 2, 65536),
		API_FIELDS_END
	};
	struct api_field w[] = {
		API_INT("complex", 0, &s->wc, 1, 9),
		API_INT("building", 0, &s->wb, 1, 9),
		API_INT("flat", 0, &s->wf, 1, 9),
		API_INT("handset", 0, &s->wh, 1, 9),
		API_FIELDS_END
	};

	if (api_decode(r, f))
		return EINVAL;
	if (widths && api_decode_obj(r, widths, "widths", w))
		return EINVAL;
	memcpy(s->f, f, sizeof(f));
	memcpy(s->w, w, sizeof(w));
	return 0;
}

/* The columns a create may set, in the order of site_create_txn's fields.
 * A column the body leaves out is not named, so the schema's DEFAULT applies
 * and the defaults are written in one place (schema/). The SQL text holds
 * only these fixed names; every value is a parameter. */
static const char *const site_cols[] = { "number", "name", "w_complex",
	"w_building", "w_flat", "w_handset", "block_size", "max_block_size" };
#define SITE_NCOLS (sizeof(site_cols) / sizeof(site_cols[0]))

static int site_create_txn(struct api_tx *tx, void *arg)
{
	struct site_in *s = arg;
	const struct api_field *fld[SITE_NCOLS] = { &s->f[0], &s->f[1],
		&s->w[0], &s->w[1], &s->w[2], &s->w[3], &s->f[3], &s->f[4] };
	const char *vals[SITE_NCOLS];
	char cols[160] = "", ph[64] = "", sql[1024];
	int n = 0;
	PGresult *res;

	for (size_t i = 0; i < SITE_NCOLS; i++) {
		if (!(vals[n] = api_param(fld[i])))
			continue;
		n++;
		snprintf(cols + strlen(cols), sizeof(cols) - strlen(cols), "%s%s",
		    n > 1 ? ", " : "", site_cols[i]);
		snprintf(ph + strlen(ph), sizeof(ph) - strlen(ph), "%s$%d",
		    n > 1 ? ", " : "", n);
	}
	if ((size_t)snprintf(sql, sizeof(sql), "INSERT INTO dpn.sites AS s (%s) "
	    "VALUES (%s) RETURNING " SITE_JSON, cols, ph) >= sizeof(sql))
		fatalx("site_create_txn: sql[] too small");  /* fixed text: a build bug */
	if (api_sql_v(tx, &res, sql, n, vals))
		return -1;
	return api_answer_audited(tx, res, 201, "no such site", "site.create", "site");
}

static void site_create(struct api_req *r)
{
	struct site_in s = { .r = r };

	if (site_decode(r, &s, API_REQUIRED))
		return;
	api_txn(r, site_create_txn, &s, site_constraints);
}

static int site_update_txn(struct api_tx *tx, void *arg)
{
	struct site_in *s = arg;
	PGresult *res;

	if (api_sql(tx, &res, "UPDATE dpn.sites AS s SET number = coalesce($2, number), "
	    "name = coalesce($3, name), w_complex = coalesce($4, w_complex), "
	    "w_building = coalesce($5, w_building), w_flat = coalesce($6, w_flat), "
	    "w_handset = coalesce($7, w_handset), block_size = coalesce($8, block_size), "
	    "max_block_size = coalesce($9, max_block_size) WHERE id = $1 RETURNING " SITE_JSON,
	    s->r->id[0], api_param(&s->f[0]), api_param(&s->f[1]), api_param(&s->w[0]), api_param(&s->w[1]),
	    api_param(&s->w[2]), api_param(&s->w[3]), api_param(&s->f[3]), api_param(&s->f[4])))
		return -1;
	return api_answer_audited(tx, res, 200, "no such site", "site.update", "site");
}

static void site_update(struct api_req *r)
{
	struct site_in s = { .r = r };

	if (site_decode(r, &s, 0))
		return;
	api_txn(r, site_update_txn, &s, site_constraints);
}

/* ---- delete -------------------------------------------------------------- */

static int site_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;
	int n;

	if (api_sql(tx, &res, "SELECT (SELECT count(*) FROM dpn.buildings b "
	    "WHERE b.site_id = s.id), " SITE_JSON " FROM dpn.sites s WHERE s.id = $1 "
	    "FOR UPDATE", r->id[0]))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(r, 404, NULL, "no such site");
		return -1;
	}
	n = atoi(PQgetvalue(res, 0, 0));
	if (n > 0) {
		PQclear(res);
		api_error(r, 409, NULL, "the site still has %d building%s; delete them first",
		    n, n == 1 ? "" : "s");
		return -1;
	}
	if (api_audit(tx, "site.delete", "site", PQgetvalue(res, 0, 1))) {
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (api_sql(tx, &res, "DELETE FROM dpn.sites WHERE id = $1", r->id[0]))
		return -1;
	PQclear(res);
	api_no_content(r);
	return 0;
}

static void site_delete(struct api_req *r)
{
	if (api_decode_empty(r))
		return;
	api_txn(r, site_delete_txn, r, site_constraints);
}

/* ---- pools --------------------------------------------------------------- */

/* "a.b.c.d/n", n 8..30, host bits zero: 0, or answers 422 naming cidr. */
static int cidr_check(struct api_req *r, const char *cidr)
{
	char addr[16];
	const char *slash = strchr(cidr, '/');
	struct in_addr a;
	char *end;
	long bits;

	if (!slash || slash - cidr > 15)
		goto bad;
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	bits = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &a) != 1 || *end || end == slash + 1 ||
	    bits < 8 || bits > 30)
		goto bad;
	if (ntohl(a.s_addr) & (0xffffffffu >> bits)) {
		api_error(r, 422, "cidr", "cidr %s has host bits set", cidr);
		return EINVAL;
	}
	return 0;
bad:
	api_error(r, 422, "cidr", "cidr must be an IPv4 network like 10.16.0.0/16 "
	    "with a prefix of /8 to /30");
	return EINVAL;
}

struct pool_in {
	struct api_req *r;
	const char *cidr;
};

static int pool_create_txn(struct api_tx *tx, void *arg)
{
	struct pool_in *p = arg;
	PGresult *res;

	if (api_sql(tx, &res, "INSERT INTO dpn.pools AS p (site_id, cidr) "
	    "SELECT s.id, $2::cidr FROM dpn.sites s WHERE s.id = $1 RETURNING " POOL_JSON,
	    p->r->id[0], p->cidr))
		return -1;
	return api_answer_audited(tx, res, 201, "no such site", "pool.create", "pool");
}

static void pool_create(struct api_req *r)
{
	struct pool_in p = { .r = r };
	struct api_field f[] = {
		API_STR("cidr", API_REQUIRED, &p.cidr, 1, 18),
		API_FIELDS_END
	};

	if (api_decode(r, f) || cidr_check(r, p.cidr))
		return;
	api_txn(r, pool_create_txn, &p, site_constraints);
}

static void pools_list(struct api_req *r)
{
	api_get_one(r, "no such site", "SELECT json_build_object('items', "
	    "coalesce((SELECT json_agg(" POOL_JSON " ORDER BY p.cidr) FROM dpn.pools p "
	    "WHERE p.site_id = s.id), '[]')) FROM dpn.sites s WHERE s.id = $1 AND "
	    SITE_SCOPE("2"), r->id[0], api_scope(r));
}

static void pool_get(struct api_req *r)
{
	api_get_one(r, "no such pool", "SELECT " POOL_JSON " FROM dpn.pools p "
	    "JOIN dpn.sites s ON s.id = p.site_id WHERE p.id = $1 AND " SITE_SCOPE("2"),
	    r->id[0], api_scope(r));
}

static int pool_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "DELETE FROM dpn.pools p WHERE p.id = $1 RETURNING "
	    POOL_JSON, r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such pool", "pool.delete", "pool");
}

static void pool_delete(struct api_req *r)
{
	if (api_decode_empty(r))
		return;
	api_txn(r, pool_delete_txn, r, site_constraints);
}

/* ---- utilisation --------------------------------------------------------- */

/* A manager's figures count their buildings only (schema 020). */
static void utilisation(struct api_req *r)
{
	api_get_one(r, "no such site", "SELECT json_build_object('items', "
	    "dpn.pool_utilisation_scoped(s.id, $2)) FROM dpn.sites s WHERE s.id = $1 AND "
	    SITE_SCOPE("2"), r->id[0], api_scope(r));
}

const struct api_route api_sites_routes[] = {
	{ "GET", "/api/v1/sites", sites_list, API_ADMIN },
	{ "POST", "/api/v1/sites", site_create, API_OPERATOR },
	{ "GET", "/api/v1/sites/{id}", site_get, API_ADMIN },
	{ "PATCH", "/api/v1/sites/{id}", site_update, API_OPERATOR },
	{ "DELETE", "/api/v1/sites/{id}", site_delete, API_OPERATOR },
	{ "GET", "/api/v1/sites/{id}/pools", pools_list, API_ADMIN },
	{ "POST", "/api/v1/sites/{id}/pools", pool_create, API_OPERATOR },
	{ "GET", "/api/v1/sites/{id}/utilisation", utilisation, API_ADMIN },
	{ "GET", "/api/v1/pools/{id}", pool_get, API_ADMIN },
	{ "DELETE", "/api/v1/pools/{id}", pool_delete, API_OPERATOR },
	API_ROUTES_END
};
