/* mgmtd/api_handsets.c — a flat's gateway credentials and its handsets:
 * /api/v1/flats/{id}/gateway (PUT makes or regenerates the gateway's
 * username and 256-bit secret, shown once, stored as SHA-256 and as the
 * digest HA1s the gatekeeper checks its REGISTER with; GET, with the
 * gateway's registration at the gatekeeper; DELETE =
 * dpn.broker_delete_gateway), /api/v1/flats/{id}/handsets (list, create
 * with SIP credentials shown once), /api/v1/handsets/{id} (get, change MAC,
 * delete freeing its address through dpn.broker_delete_handset) and
 * /api/v1/handsets/{id}/credentials (regenerate).
 *
 * SIP credentials: username = the handset's full number, password 128
 * random bits; stored are HA1 = MD5 and SHA-256 of "username:dpn:password"
 * (realm RES_SIP_REALM, the same for every site). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_res.h"
#include "numplan.h"

static const struct api_constraint handset_constraints[] = {
	{ "handsets_suffix_unique", 409, "suffix", "the flat has a handset with this suffix" },
	{ "handsets_sip_username_unique", 409, "suffix", "the flat has a handset with this suffix" },
	{ "handsets_suffix_fits", 422, "suffix", "suffix has more digits than the site's handset width" },
	{ "handsets_mac_unique", 409, "mac", "a handset of this site has this MAC" },
	{ "gateways_username_unique", 409, NULL, "another gateway has this flat's username" },
	API_CONSTRAINTS_END
};

/* Handset h with its flat, building and site. */
#define HANDSET_FROM "dpn.handsets h JOIN dpn.flats f ON f.id = h.flat_id " \
	"JOIN dpn.buildings b ON b.id = f.building_id JOIN dpn.sites s ON s.id = f.site_id"

/* ---- SIP credentials ------------------------------------------------------ */

struct sip_creds {
	char username[NUMPLAN_MAX_LEN];
	char password[33], md5[33], sha256[65];
};

/* HA1s (MD5 and SHA-256 hex) of "user:dpn:password". 0 or EIO. */
static int sip_ha1s(const char *user, const char *password, char md5[33],
		    char sha256[65])
{
	char in[NUMPLAN_MAX_LEN + sizeof(RES_SIP_REALM) + 72];
	int rc = 0;

	snprintf(in, sizeof(in), "%s:" RES_SIP_REALM ":%s", user, password);
	if (res_md5_hex(in, md5))
		rc = EIO;
	else
		auth_sha256_hex(in, strlen(in), sha256);
	explicit_bzero(in, sizeof(in));
	return rc;
}

/* Fresh password and its HA1s for username (already in c->username). */
static int sip_creds_make(struct sip_creds *c)
{
	if (auth_random_hex(c->password, 16))
		return EIO;
	return sip_ha1s(c->username, c->password, c->md5, c->sha256);
}

/* ---- gateway credentials -------------------------------------------------- */

struct gw_txn {
	struct api_req *r;
	char secret[65], hash[65];
	char md5[33], sha256[65];
};

/* The gateway's digest HA1s (realm "dpn", as handsets'): the gatekeeper
 * authenticates the gateway's REGISTER with them. */
static int gateway_ha1s(struct gw_txn *g, const char *username)
{
	if (sip_ha1s(username, g->secret, g->md5, g->sha256) == 0)
		return 0;
	api_error(g->r, 500, NULL, "cannot hash the gateway credentials");
	return -1;
}

static int gateway_put_txn(struct api_tx *tx, void *arg)
{
	struct gw_txn *g = arg;
	PGresult *res;
	unsigned status;
	int rc;

	/* The username is the flat's full number: unique, and readable on the box. */
	if (api_sql(tx, &res, "SELECT 'gw-' || " RES_FLAT_NUMBER " FROM " RES_FLAT_FROM
	    " WHERE f.id = $1 AND " RES_SCOPE("2", "f.building_id") " FOR NO KEY UPDATE OF f",
	    g->r->id[0], api_scope(g->r)))
		return -1;
	if (PQntuples(res) == 0)
		return res_found(g->r, res, "no such flat");
	rc = gateway_ha1s(g, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc)
		return -1;
	if (api_sql(tx, &res, "INSERT INTO dpn.gateways AS g (flat_id, username, secret_hash, "
	    "ha1_md5, ha1_sha256) SELECT f.id, 'gw-' || " RES_FLAT_NUMBER ", decode($2, 'hex'), "
	    "$3, $4 FROM " RES_FLAT_FROM " WHERE f.id = $1 ON CONFLICT (flat_id) DO UPDATE SET "
	    "secret_hash = EXCLUDED.secret_hash, username = EXCLUDED.username, "
	    "ha1_md5 = EXCLUDED.ha1_md5, ha1_sha256 = EXCLUDED.ha1_sha256 "
	    "RETURNING json_build_object('flat_id', g.flat_id, "
	    "'username', g.username, 'mac', g.mac::text), g.xmax = 0",
	    g->r->id[0], g->hash, g->md5, g->sha256))
		return -1;
	status = strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? 201 : 200;
	if (api_audit(tx, status == 201 ? "gateway.create" : "gateway.credentials",
	    "gateway", PQgetvalue(res, 0, 0))) {
		PQclear(res);
		return -1;
	}
	res_answer_with(g->r, status, PQgetvalue(res, 0, 0), "secret", g->secret);
	PQclear(res);
	return 0;
}

static void gateway_put(struct api_req *r)
{
	struct gw_txn g = { .r = r };

	if (res_decode_nothing(r))
		return;
	if (auth_random_hex(g.secret, 32)) {
		api_error(r, 503, NULL, "no random numbers; try again");
		return;
	}
	auth_sha256_hex(g.secret, strlen(g.secret), g.hash);
	api_txn(r, gateway_put_txn, &g, handset_constraints);
	explicit_bzero(&g, sizeof(g));
}

/* The gateway's registration with the gatekeeper (dpn.gk_bindings), or
 * null when it has none that is still valid; `reachable`: the gatekeeper's
 * OPTIONS probing of it (dpn.gk_gateway_state; null before a verdict). */
#define GATEWAY_REGISTRATION "(SELECT json_build_object('contact', k.contact, " \
	"'source', host(k.source_addr) || ':' || k.source_port, 'transport', " \
	"k.transport, 'user_agent', k.user_agent, 'since', k.registered_at, " \
	"'expires_at', k.expires_at, 'reachable', (SELECT st.reachable FROM " \
	"dpn.gk_gateway_state st WHERE st.flat_id = k.flat_id)) FROM " \
	"dpn.gk_bindings k WHERE k.flat_id = g.flat_id AND k.expires_at > now())"

static void gateway_get(struct api_req *r)
{
	api_get_one(r, "the flat has no gateway", "SELECT json_build_object('flat_id', "
	    "g.flat_id, 'username', g.username, 'mac', g.mac::text, 'address', (SELECT "
	    "dpn.ip4(a.addr) FROM dpn.assignments a WHERE a.gateway_id = g.id), "
	    "'created_at', g.created_at, 'registration', " GATEWAY_REGISTRATION
	    ", 'has_sip_credentials', g.ha1_md5 IS NOT NULL) FROM dpn.gateways g JOIN dpn.flats f ON "
	    "f.id = g.flat_id WHERE g.flat_id = $1 AND " RES_SCOPE("2", "f.building_id"),
	    r->id[0], api_scope(r));
}

/* The broker's own audit row (broker.delete_gateway) records this write. */
static int gateway_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "SELECT dpn.broker_delete_gateway(g.flat_id) FROM "
	    "dpn.gateways g JOIN dpn.flats f ON f.id = g.flat_id WHERE g.flat_id = $1 AND "
	    RES_SCOPE("2", "f.building_id"), r->id[0], api_scope(r)))
		return -1;
	return api_answer_row(r, res, 200, "the flat has no gateway");
}

static void gateway_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, gateway_delete_txn, r, handset_constraints);
}

/* "full-suffix" with the suffix zero-padded to width into out (truncated
 * at NUMPLAN_MAX_LEN: never, for widths of at most 9 digits). */
static void sip_username(char out[NUMPLAN_MAX_LEN], const char *full,
    const char *sfx, int width)
{
	size_t at = (size_t)snprintf(out, NUMPLAN_MAX_LEN, "%s-", full);

	if (at >= NUMPLAN_MAX_LEN)
		return;

	for (int pad = width - (int)strlen(sfx); pad > 0 && at + 1 < NUMPLAN_MAX_LEN; pad--)
		out[at++] = '0';
	snprintf(out + at, NUMPLAN_MAX_LEN - at, "%s", sfx);
}

/* ---- handsets ------------------------------------------------------------- */

struct handset_in {
	struct api_req *r;
	int64_t suffix;
	const char *mac;
	struct api_field f[3];
	struct sip_creds c;
};

/* Refuses a MAC the broker could not serve (zero, multicast: 422) or that is
 * a gateway's of the same site (409); flat is the flat's id parameter. */
static int handset_mac_ok(struct api_tx *tx, const char *flat, const char *mac)
{
	struct api_req *r = api_tx_req(tx);
	PGresult *res;
	int taken;

	if (!mac)
		return 0;
	if (api_sql(tx, &res, "SELECT dpn.broker_check_mac($2::macaddr, 'mac'), EXISTS "
	    "(SELECT 1 FROM dpn.gateways g JOIN dpn.flats f ON f.site_id = g.site_id "
	    "WHERE f.id = $1 AND g.mac = $2::macaddr)", flat, mac))
		return -1;
	taken = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	if (taken) {
		api_error(r, 409, "mac", "mac is a gateway's of this site");
		return -1;
	}
	return 0;
}

/* MACs are unique per site: a manager setting one would learn from the 409
 * that a handset of another building holds it. Managers add handsets
 * without a MAC (the broker learns it from the device's first request) and
 * may resend the MAC a handset already has (cur; NULL on create). */
static int handset_mac_scoped(struct api_req *r, const char *mac, const char *cur)
{
	if (!api_scope(r) || !mac || (cur && strcmp(mac, cur) == 0))
		return 0;
	api_error(r, 403, "mac", "only operators set a handset's MAC; "
	    "leave it out and it is learnt from the handset's first DHCP request");
	return -1;
}

/* The flat (locked against the broker), its full number, handset width and
 * lowest free suffix (0: none); answers 404 when it is not there or not in
 * scope. The suffix is read by a statement of its own, after the lock: in
 * READ COMMITTED only a new statement sees what the previous holder of the
 * lock committed. */
static int handset_flat(struct api_tx *tx, char full[NUMPLAN_MAX_LEN], int *width,
    long long *next)
{
	struct api_req *r = api_tx_req(tx);
	PGresult *res;

	if (api_sql(tx, &res, "SELECT " RES_FLAT_NUMBER ", s.w_handset FROM " RES_FLAT_FROM
	    " WHERE f.id = $1 AND " RES_SCOPE("2", "f.building_id") " FOR NO KEY UPDATE OF f",
	    r->id[0], api_scope(r)))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(r, 404, NULL, "no such flat");
		return -1;
	}
	snprintf(full, NUMPLAN_MAX_LEN, "%s", PQgetvalue(res, 0, 0));
	*width = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (api_sql(tx, &res, "SELECT coalesce((SELECT x FROM generate_series(1, "
	    "(10::numeric ^ f.w_handset)::integer - 1) x WHERE NOT EXISTS (SELECT 1 FROM "
	    "dpn.handsets z WHERE z.flat_id = f.id AND z.suffix = x) LIMIT 1), 0) "
	    "FROM dpn.flats f WHERE f.id = $1", r->id[0]))
		return -1;
	*next = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int handset_create_txn(struct api_tx *tx, void *arg)
{
	struct handset_in *h = arg;
	char full[NUMPLAN_MAX_LEN], sfx[24];
	long long suffix;
	int width;
	PGresult *res;

	if (handset_flat(tx, full, &width, &suffix) || handset_mac_ok(tx, h->r->id[0], h->mac))
		return -1;
	if (h->f[0].present)
		suffix = h->suffix;
	else if (suffix == 0) {
		api_error(h->r, 409, "suffix", "flat full: every handset number is in use");
		return -1;
	}
	snprintf(sfx, sizeof(sfx), "%lld", suffix);
	sip_username(h->c.username, full, sfx, width);
	if (sip_creds_make(&h->c)) {
		api_error(h->r, 503, NULL, "no random numbers; try again");
		return -1;
	}
	if (api_sql(tx, &res, "WITH n AS (INSERT INTO dpn.handsets (flat_id, suffix, mac, "
	    "sip_username, ha1_md5, ha1_sha256) VALUES ($1, $2, $3::macaddr, $4, $5, $6) "
	    "RETURNING *) SELECT " RES_HANDSET_JSON " FROM n h JOIN dpn.flats f ON "
	    "f.id = h.flat_id JOIN dpn.buildings b ON b.id = f.building_id JOIN dpn.sites s "
	    "ON s.id = f.site_id", h->r->id[0], sfx, h->mac, h->c.username, h->c.md5,
	    h->c.sha256))
		return -1;
	if (api_audit(tx, "handset.create", "handset", PQgetvalue(res, 0, 0))) {
		PQclear(res);
		return -1;
	}
	res_answer_with(h->r, 201, PQgetvalue(res, 0, 0), "sip_password", h->c.password);
	PQclear(res);
	return 0;
}

/* POST: {suffix?, mac?}, or no body at all. */
static int handset_decode(struct api_req *r, struct handset_in *h)
{
	struct api_field f[] = {
		API_INT("suffix", 0, &h->suffix, 1, 999999999),
		API_MAC("mac", 0, &h->mac),
		API_FIELDS_END
	};

	if (r->body_len == 0)
		return 0;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(h->f, f, sizeof(f));
	return 0;
}

static void handset_create(struct api_req *r)
{
	struct handset_in h = { .r = r };

	if (handset_decode(r, &h) == 0 && handset_mac_scoped(r, h.mac, NULL) == 0)
		api_txn(r, handset_create_txn, &h, handset_constraints);
	explicit_bzero(&h.c, sizeof(h.c));
}

static void handsets_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p))
		return;
	api_get_one(r, "no such flat", "SELECT json_build_object('items', coalesce(("
	    "SELECT json_agg(" RES_HANDSET_JSON " ORDER BY h.suffix) FROM (SELECT * FROM "
	    "dpn.handsets z WHERE z.flat_id = f.id ORDER BY z.suffix LIMIT $3 OFFSET $4) h), "
	    "'[]'), 'total', (SELECT count(*) FROM dpn.handsets z WHERE z.flat_id = f.id), "
	    "'page', $5::bigint, 'per_page', $3::bigint) FROM " RES_FLAT_FROM " WHERE "
	    "f.id = $1 AND " RES_SCOPE("2", "f.building_id"),
	    r->id[0], api_scope(r), p.limit, p.offset, p.page);
}

static void handset_get(struct api_req *r)
{
	api_get_one(r, "no such handset", "SELECT " RES_HANDSET_JSON " FROM " HANDSET_FROM
	    " WHERE h.id = $1 AND " RES_SCOPE("2", "f.building_id"), r->id[0], api_scope(r));
}

/* The handset's flat id, locked (flat first, as the broker does), or 404. */
static int handset_lock(struct api_tx *tx, char flat[24], char mac[18])
{
	struct api_req *r = api_tx_req(tx);
	PGresult *res;

	if (api_sql(tx, &res, "SELECT f.id, coalesce(h.mac::text, '') FROM dpn.handsets h "
	    "JOIN dpn.flats f ON f.id = h.flat_id WHERE h.id = $1 AND "
	    RES_SCOPE("2", "f.building_id") " FOR NO KEY UPDATE OF f", r->id[0], api_scope(r)))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(r, 404, NULL, "no such handset");
		return -1;
	}
	snprintf(flat, 24, "%s", PQgetvalue(res, 0, 0));
	snprintf(mac, 18, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

/* A new MAC cascades to the handset's assignment and Kea's reservation. */
static int handset_update_txn(struct api_tx *tx, void *arg)
{
	struct handset_in *h = arg;
	char flat[24], mac[18];
	PGresult *res;

	if (handset_lock(tx, flat, mac) || handset_mac_scoped(h->r, h->mac, mac))
		return -1;
	/* The MAC it has is not checked again: no 409 from another building. */
	if (strcmp(h->mac, mac) != 0 && handset_mac_ok(tx, flat, h->mac))
		return -1;
	if (api_sql(tx, &res, "UPDATE dpn.handsets h SET mac = $2::macaddr FROM dpn.flats f, "
	    "dpn.buildings b, dpn.sites s WHERE h.id = $1 AND f.id = h.flat_id AND "
	    "b.id = f.building_id AND s.id = f.site_id RETURNING " RES_HANDSET_JSON,
	    h->r->id[0], h->mac))
		return -1;
	return api_answer_audited(tx, res, 200, "no such handset", "handset.update", "handset");
}

static void handset_update(struct api_req *r)
{
	struct handset_in h = { .r = r };
	struct api_field f[] = {
		API_MAC("mac", API_REQUIRED, &h.mac),
		API_FIELDS_END
	};

	if (api_decode(r, f) == 0)
		api_txn(r, handset_update_txn, &h, handset_constraints);
}

static int handset_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	char flat[24], mac[18];
	PGresult *res;

	if (handset_lock(tx, flat, mac))
		return -1;
	if (mac[0]) {
		if (api_sql(tx, &res, "SELECT dpn.broker_delete_handset($1, $2::macaddr)", flat, mac))
			return -1;
		PQclear(res);
	}
	if (api_sql(tx, &res, "WITH d AS (DELETE FROM dpn.handsets WHERE id = $1 RETURNING *) "
	    "SELECT " RES_HANDSET_JSON " FROM d h JOIN dpn.flats f ON f.id = h.flat_id "
	    "JOIN dpn.buildings b ON b.id = f.building_id JOIN dpn.sites s ON s.id = f.site_id",
	    r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such handset", "handset.delete", "handset");
}

static void handset_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, handset_delete_txn, r, handset_constraints);
}

static int credentials_txn(struct api_tx *tx, void *arg)
{
	struct handset_in *h = arg;
	char flat[24], mac[18];
	PGresult *res;

	if (handset_lock(tx, flat, mac))
		return -1;
	if (api_sql(tx, &res, "SELECT " RES_FLAT_NUMBER " || '-' || lpad(h.suffix::text, "
	    "s.w_handset, '0') FROM " HANDSET_FROM " WHERE h.id = $1", h->r->id[0]))
		return -1;
	snprintf(h->c.username, sizeof(h->c.username), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (sip_creds_make(&h->c)) {
		api_error(h->r, 503, NULL, "no random numbers; try again");
		return -1;
	}
	if (api_sql(tx, &res, "UPDATE dpn.handsets h SET sip_username = $2, ha1_md5 = $3, "
	    "ha1_sha256 = $4 FROM dpn.flats f, dpn.buildings b, dpn.sites s WHERE h.id = $1 "
	    "AND f.id = h.flat_id AND b.id = f.building_id AND s.id = f.site_id RETURNING "
	    RES_HANDSET_JSON, h->r->id[0], h->c.username, h->c.md5, h->c.sha256))
		return -1;
	if (api_audit(tx, "handset.credentials", "handset", PQgetvalue(res, 0, 0))) {
		PQclear(res);
		return -1;
	}
	res_answer_with(h->r, 200, PQgetvalue(res, 0, 0), "sip_password", h->c.password);
	PQclear(res);
	return 0;
}

static void handset_credentials(struct api_req *r)
{
	struct handset_in h = { .r = r };

	if (res_decode_nothing(r) == 0)
		api_txn(r, credentials_txn, &h, handset_constraints);
	explicit_bzero(&h.c, sizeof(h.c));
}

const struct api_route api_handsets_routes[] = {
	{ "GET", "/api/v1/flats/{id}/gateway", gateway_get, API_ADMIN },
	{ "PUT", "/api/v1/flats/{id}/gateway", gateway_put, API_ADMIN },
	{ "DELETE", "/api/v1/flats/{id}/gateway", gateway_delete, API_ADMIN },
	{ "GET", "/api/v1/flats/{id}/handsets", handsets_list, API_ADMIN },
	{ "POST", "/api/v1/flats/{id}/handsets", handset_create, API_ADMIN },
	{ "GET", "/api/v1/handsets/{id}", handset_get, API_ADMIN },
	{ "PATCH", "/api/v1/handsets/{id}", handset_update, API_ADMIN },
	{ "DELETE", "/api/v1/handsets/{id}", handset_delete, API_ADMIN },
	{ "POST", "/api/v1/handsets/{id}/credentials", handset_credentials, API_ADMIN },
	API_ROUTES_END
};
