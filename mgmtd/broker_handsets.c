/* mgmtd/broker_handsets.c — the gateway's handset endpoints, authenticated
 * with its Basic credentials as the other broker calls are.
 * GET /api/v1/broker/handsets: the flat and its handsets with what the
 * gateway's registrar needs (suffix, full number, SIP username, HA1 MD5
 * and SHA-256, MAC, address). PUT /api/v1/broker/registrations: the
 * gateway's view of which handsets are registered (dpn.handset_registrations).
 * The handsets answer also carries the flat settings (schema 085: ring
 * timeout, forward, do-not-disturb per handset), so they share its ETag.
 *
 * The answer carries an ETag (MD5 of the body): a gateway polls with
 * If-None-Match and gets 304 with no body while nothing changed, so polling
 * every second costs one indexed read. Never a plaintext password: only the
 * HA1s that mgmtd stored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_res.h"
#include "api_settings.h"
#include "server.h"

/* Row: the ETag (quoted), the answer's JSON text. No row: the credentials
 * matched no gateway. */
#define HANDSETS_SQL "WITH x AS (SELECT json_build_object('flat_id', f.id, " \
	"'flat', " RES_FLAT_NUMBER ", 'realm', '" RES_SIP_REALM "', 'handsets', " \
	"coalesce((SELECT json_agg(json_build_object('suffix', h.suffix, " \
	"'number', " RES_FLAT_NUMBER " || '-' || lpad(h.suffix::text, " \
	"s.w_handset, '0'), 'sip_username', h.sip_username, 'ha1_md5', " \
	"h.ha1_md5, 'ha1_sha256', h.ha1_sha256, 'mac', h.mac::text, " \
	"'address', (SELECT dpn.ip4(a.addr) FROM dpn.assignments a " \
	"WHERE a.handset_id = h.id), 'dnd', " SETTINGS_HANDSET_DND ") ORDER BY " \
	"h.suffix) FROM dpn.handsets h WHERE h.flat_id = f.id), '[]'::json), " \
	"'settings', " SETTINGS_BROKER_JSON ")::text AS body " \
	"FROM dpn.gateways g JOIN " RES_FLAT_FROM " ON f.id = g.flat_id " \
	"WHERE g.username = $1 AND g.secret_hash = decode($2, 'hex')) " \
	"SELECT '\"' || md5(body) || '\"', body FROM x"

/* The credentials matched no gateway. */
static void unknown_gateway(struct api_req *r)
{
	api_header(r, "WWW-Authenticate", "Basic realm=\"dpn gateway\"");
	api_error(r, 401, NULL, "gateway credentials required");
}

/* Whether If-None-Match names etag (a list, or "*"). */
static int etag_matches(struct api_req *r, const char *etag)
{
	const char *inm = MHD_lookup_connection_value(r->http->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);

	if (!inm)
		return 0;
	return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static void broker_handsets_get(struct api_req *r)
{
	PGresult *res;
	const char *etag;

	if (api_sql1(r, &res, NULL, HANDSETS_SQL, r->gw.username,
	    r->gw.secret_hash))
		return;
	if (PQntuples(res) == 0) {
		unknown_gateway(r);
		PQclear(res);
		return;
	}
	etag = PQgetvalue(res, 0, 0);
	api_header(r, "ETag", etag);
	api_header(r, "Cache-Control", "no-cache");
	if (etag_matches(r, etag))
		http_answer(r->http, 304, NULL, NULL, 0);
	else
		api_json_text(r, 200, PQgetvalue(res, 0, 1));
	PQclear(res);
}

#define REG_MAX 1000	/* handsets in one registrations body */

/* Row: the number of rows written; no row: unknown gateway. Handsets of
 * other flats (a suffix this flat lacks) are skipped. */
#define REGS_SQL "WITH g AS (SELECT g.flat_id FROM dpn.gateways g " \
	"WHERE g.username = $1 AND g.secret_hash = decode($2, 'hex')), " \
	"r AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(suffix int, " \
	"registered bool, since_s bigint, contact text, user_agent text, " \
	"address text)), up AS (INSERT INTO dpn.handset_registrations AS hr " \
	"(handset_id, registered, since, contact, user_agent, address, " \
	"reported_at) SELECT h.id, r.registered, CASE WHEN r.registered THEN " \
	"now() - make_interval(secs => coalesce(r.since_s, 0)) END, r.contact, " \
	"r.user_agent, r.address, now() " \
	"FROM g JOIN dpn.handsets h ON h.flat_id = g.flat_id JOIN r ON " \
	"r.suffix = h.suffix ON CONFLICT (handset_id) DO UPDATE SET " \
	"registered = EXCLUDED.registered, since = EXCLUDED.since, contact = " \
	"EXCLUDED.contact, user_agent = EXCLUDED.user_agent, address = " \
	"EXCLUDED.address, reported_at = now() " \
	"RETURNING 1) SELECT count(*) FROM up " \
	"HAVING EXISTS (SELECT 1 FROM g)"

/* Each element {suffix, registered, since_s?, contact?, user_agent?,
 * address?},
 * checked strictly (4xx naming handsets[i].field). */
static int check_regs(struct api_req *r, json_object *arr)
{
	char prefix[48];

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		int64_t suffix, since;
		int reg;
		const char *contact, *ua, *addr;
		struct api_field f[] = {
			API_INT("suffix", API_REQUIRED, &suffix, 1, 999999999),
			API_BOOL("registered", API_REQUIRED, &reg),
			API_INT("since_s", 0, &since, 0, 10LL * 365 * 86400),
			API_STR("contact", 0, &contact, 1, 256),
			API_STR("user_agent", 0, &ua, 0, 200),
			API_STR("address", 0, &addr, 1, 64),
			API_FIELDS_END
		};

		snprintf(prefix, sizeof(prefix), "handsets[%zu]", i);
		if (!json_object_is_type(v, json_type_object)) {
			api_error(r, 400, prefix, "%s must be an object", prefix);
			return EINVAL;
		}
		if (api_decode_obj(r, v, prefix, f))
			return EINVAL;
	}
	return 0;
}

static void broker_registrations_put(struct api_req *r)
{
	json_object *list = NULL;
	struct api_field f[] = {
		API_ARR("handsets", API_REQUIRED, &list, REG_MAX),
		API_FIELDS_END
	};
	PGresult *res;

	if (api_decode(r, f) || check_regs(r, list))
		return;
	if (api_sql1(r, &res, NULL, REGS_SQL, r->gw.username, r->gw.secret_hash,
	    json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN)))
		return;
	if (PQntuples(res) == 0) {
		unknown_gateway(r);
	} else {
		char body[48];

		snprintf(body, sizeof(body), "{\"written\":%s}", PQgetvalue(res, 0, 0));
		api_json_text(r, 200, body);
	}
	PQclear(res);
}

const struct api_route api_broker_handsets_routes[] = {
	{ "GET", "/api/v1/broker/handsets", broker_handsets_get, API_GATEWAY },
	{ "PUT", "/api/v1/broker/registrations", broker_registrations_put, API_GATEWAY },
	API_ROUTES_END
};
