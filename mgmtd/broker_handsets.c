/* mgmtd/broker_handsets.c — GET /api/v1/broker/handsets: a gateway's flat
 * and its handsets with what the gateway's registrar needs (suffix, full
 * number, SIP username, HA1 MD5 and SHA-256, MAC, address), authenticated
 * with the gateway's Basic credentials as the other broker calls are.
 *
 * The answer carries an ETag (MD5 of the body): a gateway polls with
 * If-None-Match and gets 304 with no body while nothing changed, so polling
 * every second costs one indexed read. Never a plaintext password: only the
 * HA1s that mgmtd stored. */
#include <string.h>

#include "api_res.h"
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
	"WHERE a.handset_id = h.id)) ORDER BY h.suffix) FROM dpn.handsets h " \
	"WHERE h.flat_id = f.id), '[]'::json))::text AS body " \
	"FROM dpn.gateways g JOIN " RES_FLAT_FROM " ON f.id = g.flat_id " \
	"WHERE g.username = $1 AND g.secret_hash = decode($2, 'hex')) " \
	"SELECT '\"' || md5(body) || '\"', body FROM x"

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
		api_header(r, "WWW-Authenticate", "Basic realm=\"dpn gateway\"");
		api_error(r, 401, NULL, "gateway credentials required");
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

const struct api_route api_broker_handsets_routes[] = {
	{ "GET", "/api/v1/broker/handsets", broker_handsets_get, API_GATEWAY },
	API_ROUTES_END
};
