/* mgmtd/api_numbers.c — number lookup: GET /api/v1/numbers/{number} ->
 * {number, site, building, flat, handset, address}. The complex part finds
 * the site (lib/numplan.h numplan_complex, trying every complex width), the
 * site's widths parse the rest; a handset number gives the handset and its
 * address, a flat number (no handset part, or handset 0) the flat and its
 * gateway's address. 404 for a well-formed number nobody has (or outside a
 * manager's buildings), 400 naming `number` for anything else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_res.h"
#include "numplan.h"

struct lookup {
	struct api_req *r;
	const char *s;
	size_t len;
	char ws[40], cs[120];   /* candidate complex widths and numbers */
	int parsed;             /* some site's plan parsed the number */
};

static int number_resolve(struct api_tx *tx, struct lookup *l, const char *site,
    const struct numplan *np, const struct number *n)
{
	char canon[NUMPLAN_MAX_LEN], b[16], f[16], h[16];
	PGresult *res;

	if (numplan_format(np, n, canon, sizeof(canon)))
		return 1;
	snprintf(b, sizeof(b), "%u", n->building);
	snprintf(f, sizeof(f), "%u", n->flat);
	snprintf(h, sizeof(h), "%u", n->handset);
	if (api_sql(tx, &res, "SELECT json_build_object('number', $5::text, 'site', "
	    "json_build_object('id', s.id, 'number', s.number, 'name', s.name), 'building', "
	    "json_build_object('id', b.id, 'number', b.number, 'name', b.name), 'flat', "
	    "json_build_object('id', f.id, 'number', f.number, 'circuit_id', f.circuit_id), "
	    "'handset', CASE WHEN h.id IS NULL THEN NULL ELSE json_build_object('id', h.id, "
	    "'suffix', h.suffix, 'mac', h.mac::text, 'sip_username', h.sip_username) END, "
	    "'address', CASE WHEN $4::integer = 0 THEN (SELECT dpn.ip4(a.addr) FROM "
	    "dpn.assignments a WHERE a.flat_id = f.id AND a.gateway_id IS NOT NULL) ELSE "
	    "(SELECT dpn.ip4(a.addr) FROM dpn.assignments a WHERE a.handset_id = h.id) END) "
	    "FROM dpn.sites s JOIN dpn.buildings b ON b.site_id = s.id AND b.number = $2 "
	    "JOIN dpn.flats f ON f.building_id = b.id AND f.number = $3 LEFT JOIN "
	    "dpn.handsets h ON h.flat_id = f.id AND h.suffix = $4 WHERE s.id = $1 AND "
	    "($4::integer = 0 OR h.id IS NOT NULL) AND " RES_SCOPE("6", "b.id"),
	    site, b, f, h, canon, api_scope(l->r)))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 1;
	}
	api_json_text(l->r, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Sites whose (complex width, number) match a reading of the number; the
 * first whose plan parses it and holds it answers. */
static int number_txn(struct api_tx *tx, void *arg)
{
	struct lookup *l = arg;
	PGresult *res;
	int rc = 1;

	if (api_sql(tx, &res, "SELECT s.id, s.w_complex, s.w_building, s.w_flat, s.w_handset "
	    "FROM dpn.sites s JOIN unnest($1::integer[], $2::integer[]) c(w, n) ON "
	    "s.w_complex = c.w AND s.number = c.n ORDER BY s.w_complex", l->ws, l->cs))
		return -1;
	for (int i = 0; i < PQntuples(res) && rc == 1; i++) {
		struct numplan np = { (uint8_t)atoi(PQgetvalue(res, i, 1)),
		    (uint8_t)atoi(PQgetvalue(res, i, 2)), (uint8_t)atoi(PQgetvalue(res, i, 3)),
		    (uint8_t)atoi(PQgetvalue(res, i, 4)) };
		struct number n;

		if (numplan_parse(&np, l->s, l->len, &n))
			continue;
		l->parsed = 1;
		rc = number_resolve(tx, l, PQgetvalue(res, i, 0), &np, &n);
	}
	PQclear(res);
	if (rc == 1)
		api_error(l->r, 404, NULL, "nobody has the number %s", l->s);
	return rc ? -1 : 0;
}

/* Well-formed: digits and dashes that some plan could read (dashed: three
 * or four parts of 1-9 digits; dashless: the default plan's lengths). */
static int number_wellformed(const char *s, size_t len)
{
	static const struct numplan wide = { 9, 9, 9, 9 };
	struct numplan def = NUMPLAN_DEFAULT;
	struct number n;

	if (len == 0 || len >= NUMPLAN_MAX_LEN || strspn(s, "0123456789-") != len)
		return 0;
	return numplan_parse(&def, s, len, &n) == 0 ||
	    (strchr(s, '-') && numplan_parse(&wide, s, len, &n) == 0);
}

static void number_lookup(struct api_req *r)
{
	struct lookup l = { .r = r, .s = r->arg[0], .len = strlen(r->arg[0]) };
	size_t wa = 0, ca = 0;

	if (strspn(l.s, "0123456789-") != l.len || l.len >= NUMPLAN_MAX_LEN) {
		api_error(r, 400, "number", "number must be digits, with optional dashes, "
		    "like 100-1101-1201-1");
		return;
	}
	for (unsigned w = 1; w <= NUMPLAN_MAX_WIDTH; w++) {
		uint32_t c;

		if (numplan_complex(l.s, l.len, w, &c))
			continue;
		wa += (size_t)snprintf(l.ws + wa, sizeof(l.ws) - wa, "%s%u", wa ? "," : "{", w);
		ca += (size_t)snprintf(l.cs + ca, sizeof(l.cs) - ca, "%s%u", ca ? "," : "{", c);
	}
	if (wa == 0) {
		api_error(r, 400, "number", "number %s is not a dpn number", l.s);
		return;
	}
	snprintf(l.ws + wa, sizeof(l.ws) - wa, "}");
	snprintf(l.cs + ca, sizeof(l.cs) - ca, "}");
	if (api_txn_ro(r, number_txn, &l) && !l.parsed && !number_wellformed(l.s, l.len))
		api_error(r, 400, "number", "number %s is not a dpn number", l.s);
}

const struct api_route api_numbers_routes[] = {
	{ "GET", "/api/v1/numbers/{*}", number_lookup, API_ADMIN },
	API_ROUTES_END
};
