/* mgmtd/api_buildings.c — buildings of a site: /api/v1/sites/{id}/buildings
 * (list; create, with every flat of a floors x units grid made by a number
 * pattern in the same transaction and one statement) and
 * /api/v1/buildings/{id} (get, rename or renumber, delete with its flats,
 * their blocks returned to the pool through dpn.broker_delete_gateway). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_res.h"

#define BUILDING_JSON "json_build_object('id', b.id, 'site_id', b.site_id, " \
	"'number', b.number, 'name', b.name, 'flats', (SELECT count(*) FROM " \
	"dpn.flats f WHERE f.building_id = b.id))"

/* A site is visible to a manager holding one of its buildings. */
#define SITE_SCOPE(n) "($" n "::bigint IS NULL OR EXISTS (SELECT 1 FROM " \
	"dpn.user_buildings ub JOIN dpn.buildings x ON x.id = ub.building_id " \
	"WHERE ub.user_id = $" n "::bigint AND x.site_id = s.id))"

#define MAX_FLATS    10000   /* flats per building made in one request */
#define PAT_MAX_SEGS 16
#define PAT_MAX_LEN  64

static const struct api_constraint building_constraints[] = {
	{ "buildings_number_unique", 409, "number", "a building with this number exists in the site" },
	{ "buildings_number_fits", 422, "number", "number has more digits than the site's building width" },
	{ "buildings_name_length", 422, "name", "name is longer than 200 characters" },
	{ "flats_number_fits", 422, "pattern",
	  "pattern gives flat numbers with more digits than the site's flat width" },
	{ "flats_number_unique", 422, "pattern", "pattern gives the same flat number twice" },
	{ "flats_circuit_unique", 409, "number",
	  "a flat of this site already uses a circuit-id of this building number" },
	API_CONSTRAINTS_END
};

/* ---- the numbering pattern ------------------------------------------------ */

enum pat_kind { PAT_DIGITS, PAT_FLOOR, PAT_UNIT };

struct pat_seg {
	enum pat_kind kind;
	int width;            /* zero padding of a token; 0: none */
	const char *lit;      /* PAT_DIGITS: the digits */
	size_t len;
};

/* Reads one "{floor}", "{unit}", "{floor:0N}" or "{unit:0N}" at p; returns
 * its length, or 0 when it is not one. */
static size_t pat_token(const char *p, struct pat_seg *seg)
{
	static const struct { const char *name; enum pat_kind kind; } names[] = {
		{ "floor", PAT_FLOOR }, { "unit", PAT_UNIT },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i].name);

		if (strncmp(p + 1, names[i].name, n) != 0)
			continue;
		seg->kind = names[i].kind;
		seg->width = 0;
		if (p[1 + n] == '}')
			return n + 2;
		if (p[1 + n] == ':' && p[2 + n] == '0' && p[3 + n] >= '1' &&
		    p[3 + n] <= '9' && p[4 + n] == '}') {
			seg->width = p[3 + n] - '0';
			return n + 5;
		}
	}
	return 0;
}

/* Splits pattern into segments: digits and tokens only. 0 or EINVAL. */
static int pat_parse(const char *p, struct pat_seg *segs, int *nseg)
{
	int n = 0;

	while (*p) {
		struct pat_seg s = { PAT_DIGITS, 0, p, 0 };
		size_t len;

		if (n == PAT_MAX_SEGS)
			return EINVAL;
		if (*p == '{') {
			if (!(len = pat_token(p, &s)))
				return EINVAL;
		} else {
			for (len = 0; p[len] >= '0' && p[len] <= '9'; len++)
				;
			if (len == 0)
				return EINVAL;
			s.len = len;
		}
		segs[n++] = s;
		p += len;
	}
	*nseg = n;
	return n ? 0 : EINVAL;
}

/* The flat number of floor fl, unit u; -1 when it has more than 9 digits. */
static long pat_number(const struct pat_seg *segs, int nseg, long fl, long u)
{
	char buf[PAT_MAX_SEGS * 12], *end;
	size_t at = 0;

	for (int i = 0; i < nseg; i++) {
		int k;

		if (segs[i].kind == PAT_DIGITS)
			k = snprintf(buf + at, sizeof(buf) - at, "%.*s", (int)segs[i].len, segs[i].lit);
		else
			k = snprintf(buf + at, sizeof(buf) - at, "%0*ld", segs[i].width,
			    segs[i].kind == PAT_FLOOR ? fl : u);
		if (k < 0 || (size_t)k >= sizeof(buf) - at)
			return -1;
		at += (size_t)k;
	}
	while (at > 1 && buf[0] == '0')
		memmove(buf, buf + 1, at--);
	if (at > 9)
		return -1;
	return strtol(buf, &end, 10);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* ---- create --------------------------------------------------------------- */

struct building_in {
	struct api_req *r;
	const char *name, *pattern;
	int64_t number, floors, units, first_floor;
	struct api_field f[8];
	char *flats;          /* "{1201,1202,...}" or NULL: no flats */
	long nflats;
};

/* The flat numbers of the grid as an SQL array literal in b->flats; answers
 * 422 naming pattern when a number does not fit or repeats. */
static int building_grid(struct api_req *r, struct building_in *b)
{
	struct pat_seg segs[PAT_MAX_SEGS];
	long *nums = NULL;
	size_t at = 0, cap;
	int nseg, rc = EINVAL;

	if (pat_parse(b->pattern, segs, &nseg)) {
		api_error(r, 422, "pattern", "pattern may hold only digits and the tokens "
		    "{floor}, {unit}, {floor:0N} and {unit:0N} (N 1-9)");
		return EINVAL;
	}
	b->nflats = (long)(b->floors * b->units);
	cap = (size_t)b->nflats * 11 + 3;
	nums = calloc((size_t)b->nflats, sizeof(*nums));
	b->flats = malloc(cap);
	if (!nums || !b->flats) {
		api_error(r, 503, NULL, "out of memory");
		rc = ENOMEM;
		goto out;
	}
	for (long i = 0; i < b->nflats; i++) {
		nums[i] = pat_number(segs, nseg, (long)b->first_floor + i / (long)b->units,
		    1 + i % (long)b->units);
		if (nums[i] < 0) {
			api_error(r, 422, "pattern", "pattern gives flat numbers of more than 9 digits");
			goto out;
		}
		at += (size_t)snprintf(b->flats + at, cap - at, "%c%ld", i ? ',' : '{', nums[i]);
	}
	snprintf(b->flats + at, cap - at, "}");
	qsort(nums, (size_t)b->nflats, sizeof(*nums), cmp_long);
	for (long i = 1; i < b->nflats; i++)
		if (nums[i] == nums[i - 1]) {
			api_error(r, 422, "pattern", "pattern gives flat %ld twice; "
			    "use both {floor} and {unit}", nums[i]);
			goto out;
		}
	rc = 0;
out:
	free(nums);
	return rc;
}

static int building_decode(struct api_req *r, struct building_in *b, unsigned required)
{
	struct api_field f[] = {
		API_INT("number", required, &b->number, 0, 999999999),
		API_STR("name", 0, &b->name, 0, 200),
		API_INT("floors", 0, &b->floors, 1, 1000),
		API_INT("units_per_floor", 0, &b->units, 1, 1000),
		API_INT("first_floor", 0, &b->first_floor, 0, 999999),
		API_STR("pattern", 0, &b->pattern, 1, PAT_MAX_LEN),
		API_FIELDS_END
	};

	if (!required)   /* PATCH: number and name only */
		f[2] = (struct api_field)API_FIELDS_END;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(b->f, f, sizeof(f));
	if (!required)
		return 0;
	if (!f[2].present && (f[3].present || f[4].present || f[5].present)) {
		api_error(r, 400, "floors", "floors is required with units_per_floor, "
		    "first_floor or pattern");
		return EINVAL;
	}
	if (f[2].present && !f[3].present) {
		api_error(r, 400, "units_per_floor", "units_per_floor is required with floors");
		return EINVAL;
	}
	if (f[2].present && b->floors * b->units > MAX_FLATS) {
		api_error(r, 422, "floors", "floors x units_per_floor must be at most %d", MAX_FLATS);
		return EINVAL;
	}
	if (!f[4].present)
		b->first_floor = 1;
	if (!f[5].present)
		b->pattern = "{floor}{unit:02}";
	return f[2].present ? building_grid(r, b) : 0;
}

static int building_create_txn(struct api_tx *tx, void *arg)
{
	struct building_in *b = arg;
	PGresult *res;
	char id[24];

	if (api_sql(tx, &res, "INSERT INTO dpn.buildings (site_id, number, name) "
	    "SELECT s.id, $2, coalesce($3, '') FROM dpn.sites s WHERE s.id = $1 RETURNING id",
	    b->r->id[0], api_param(&b->f[0]), api_param(&b->f[1])))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(b->r, 404, NULL, "no such site");
		return -1;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* Every flat in one statement: a 1,000-flat building is one round trip. */
	if (b->flats) {
		if (api_sql(tx, &res, "INSERT INTO dpn.flats (building_id, number) "
		    "SELECT $1, unnest($2::integer[])", id, b->flats))
			return -1;
		PQclear(res);
	}
	if (api_sql(tx, &res, "SELECT " BUILDING_JSON " FROM dpn.buildings b WHERE b.id = $1", id))
		return -1;
	return api_answer_audited(tx, res, 201, "no such building", "building.create", "building");
}

static void building_create(struct api_req *r)
{
	struct building_in b = { .r = r };

	if (building_decode(r, &b, API_REQUIRED) == 0)
		api_txn(r, building_create_txn, &b, building_constraints);
	free(b.flats);
}

/* ---- read ----------------------------------------------------------------- */

static void buildings_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p))
		return;
	api_get_one(r, "no such site", "WITH m AS (SELECT * FROM dpn.buildings b "
	    "WHERE b.site_id = $1 AND ($2::text IS NULL OR strpos(lower(b.name), lower($2)) > 0 "
	    "OR b.number::text = $2) AND " RES_SCOPE("3", "b.id") ") "
	    "SELECT json_build_object('items', coalesce((SELECT json_agg(" BUILDING_JSON
	    " ORDER BY b.number) FROM (SELECT * FROM m ORDER BY number LIMIT $4 OFFSET $5) b), "
	    "'[]'), 'total', (SELECT count(*) FROM m), 'page', $6::bigint, 'per_page', $4::bigint) "
	    "FROM dpn.sites s WHERE s.id = $1 AND " SITE_SCOPE("3"),
	    r->id[0], api_query(r, "q"), api_scope(r), p.limit, p.offset, p.page);
}

static void building_get(struct api_req *r)
{
	api_get_one(r, "no such building", "SELECT " BUILDING_JSON " FROM dpn.buildings b "
	    "WHERE b.id = $1 AND " RES_SCOPE("2", "b.id"), r->id[0], api_scope(r));
}

/* ---- update --------------------------------------------------------------- */

static int building_update_txn(struct api_tx *tx, void *arg)
{
	struct building_in *b = arg;
	PGresult *res;

	if (api_sql(tx, &res, "UPDATE dpn.buildings b SET number = coalesce($3, number), "
	    "name = coalesce($4, name) WHERE b.id = $1 AND " RES_SCOPE("2", "b.id")
	    " RETURNING " BUILDING_JSON, b->r->id[0], api_scope(b->r),
	    api_param(&b->f[0]), api_param(&b->f[1])))
		return -1;
	return api_answer_audited(tx, res, 200, "no such building", "building.update", "building");
}

/* Building numbers are the site's plan: a manager renumbering one would
 * learn from the 409 which numbers the other buildings have. */
static int manager_renumbers(struct api_tx *tx, struct building_in *b)
{
	PGresult *res;
	int other;

	if (!api_scope(b->r) || !b->f[0].present)
		return 0;
	if (api_sql(tx, &res, "SELECT 1 FROM dpn.buildings b WHERE b.id = $1 AND "
	    "b.number <> $3::int AND " RES_SCOPE("2", "b.id"), b->r->id[0],
	    api_scope(b->r), api_param(&b->f[0])))
		return -1;
	other = PQntuples(res) > 0;
	PQclear(res);
	if (other)
		api_error(b->r, 403, "number", "only operators renumber buildings");
	return other ? -1 : 0;
}

static int building_update_scoped_txn(struct api_tx *tx, void *arg)
{
	if (manager_renumbers(tx, arg))
		return -1;
	return building_update_txn(tx, arg);
}

static void building_update(struct api_req *r)
{
	struct building_in b = { .r = r };

	if (building_decode(r, &b, 0) == 0)
		api_txn(r, building_update_scoped_txn, &b, building_constraints);
}

/* ---- delete --------------------------------------------------------------- */

/* The building goes with its flats; each flat holding a block or a gateway
 * goes through dpn.broker_delete_gateway first, so its block returns to the
 * pool and Kea's reservations and leases follow, all in this transaction. */
static int building_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;
	char detail[96];

	if (api_sql(tx, &res, "SELECT b.id FROM dpn.buildings b WHERE b.id = $1 AND "
	    RES_SCOPE("2", "b.id") " FOR UPDATE", r->id[0], api_scope(r)))
		return -1;
	if (res_found(r, res, "no such building"))
		return -1;
	if (api_sql(tx, &res, "SELECT count(dpn.broker_delete_gateway(f.id)) FROM "
	    "(SELECT f.id FROM dpn.flats f WHERE f.building_id = $1 AND (EXISTS (SELECT 1 "
	    "FROM dpn.blocks k WHERE k.flat_id = f.id) OR EXISTS (SELECT 1 FROM "
	    "dpn.gateways g WHERE g.flat_id = f.id)) ORDER BY f.id) f", r->id[0]))
		return -1;
	snprintf(detail, sizeof(detail), "{\"flats_with_blocks\": %s}", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (api_sql(tx, &res, "DELETE FROM dpn.buildings b WHERE b.id = $1 RETURNING "
	    "json_build_object('id', b.id, 'site_id', b.site_id, 'number', b.number, "
	    "'name', b.name)::jsonb || $2::jsonb", r->id[0], detail))
		return -1;
	return api_answer_audited(tx, res, 204, "no such building", "building.delete", "building");
}

static void building_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, building_delete_txn, r, building_constraints);
}

const struct api_route api_buildings_routes[] = {
	{ "GET", "/api/v1/sites/{id}/buildings", buildings_list, API_ADMIN },
	{ "POST", "/api/v1/sites/{id}/buildings", building_create, API_OPERATOR },
	{ "GET", "/api/v1/buildings/{id}", building_get, API_ADMIN },
	{ "PATCH", "/api/v1/buildings/{id}", building_update, API_ADMIN },
	{ "DELETE", "/api/v1/buildings/{id}", building_delete, API_ADMIN },
	API_ROUTES_END
};
