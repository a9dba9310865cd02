/* mgmtd/broker.c — the broker endpoints gatewayd calls with its Basic
 * credentials: allocation request, one more handset, deletion request and
 * address report. Each is one statement, one round trip: it checks the
 * credentials (username and SHA-256 of the secret, parsed by auth.c), tells
 * the audit log who acts, and calls the dpn.broker_* function (one
 * transaction, docs/schema.md) for that gateway: one deleted while its
 * request runs is seen gone (the function answers NULL). No row or NULL:
 * 401. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "server.h"

#define BROKER_MAX_MACS 1000      /* handsets listed in one request */
#define BROKER_MAX_REPORT 4096    /* addresses in one report */

/* The gateway g whose username is $1 and secret's SHA-256 $2 (hex), with
 * dpn.actor set for the audit log in the statement's own transaction before
 * the function in the select list runs: a FROM subquery with a volatile
 * call is evaluated first and never flattened. */
#define AS_GATEWAY "FROM dpn.gateways g, (SELECT set_config('dpn.actor', " \
	"'gateway:' || $1, true)) AS actor WHERE g.username = $1 " \
	"AND g.secret_hash = decode($2, 'hex')"

/* Answers a broker function's jsonb result, or 401 when the credentials
 * matched no gateway, or matched one that was deleted while the request
 * ran (the function answers NULL): the same answer as for a request that
 * came after the deletion. */
static void broker_answer(struct api_req *r, const char *op, PGresult *res)
{
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		api_header(r, "WWW-Authenticate", "Basic realm=\"dpn gateway\"");
		api_error(r, 401, NULL, "gateway credentials required");
		metrics_broker(op, 0);
	} else {
		api_json_text(r, 200, PQgetvalue(res, 0, 0));
		metrics_broker(op, 1);
	}
	PQclear(res);
}

/* Turns a JSON array of MAC strings into a PostgreSQL array literal of
 * canonical MACs (safe: only hex digits and colons); answers 4xx naming
 * the element on a bad one. *out is kept for the request. */
static int mac_array(struct api_req *r, json_object *arr, const char *name,
    const char **out)
{
	size_t n = arr ? json_object_array_length(arr) : 0;
	char *lit = malloc(n * 18 + 3), mac[18], field[64];
	size_t len = 0;

	if (!lit || !http_keep(r->http, lit)) {
		api_error(r, 503, NULL, "out of memory");
		return ENOMEM;
	}
	lit[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);

		snprintf(field, sizeof(field), "%s[%zu]", name, i);
		if (!json_object_is_type(v, json_type_string) ||
		    api_mac_canon(json_object_get_string(v), mac)) {
			api_error(r, json_object_is_type(v, json_type_string) ? 422 : 400,
			    field, "%s must be a MAC address like aa:bb:cc:dd:ee:ff", field);
			return EINVAL;
		}
		if (i)
			lit[len++] = ',';
		memcpy(lit + len, mac, 17);
		len += 17;
	}
	lit[len++] = '}';
	lit[len] = '\0';
	*out = lit;
	return 0;
}

static void broker_allocate(struct api_req *r)
{
	const char *gw_mac, *macs;
	json_object *list = NULL;
	struct api_field f[] = {
		API_MAC("gateway_mac", API_REQUIRED, &gw_mac),
		API_ARR("handset_macs", 0, &list, BROKER_MAX_MACS),
		API_FIELDS_END
	};
	PGresult *res;

	if (api_decode(r, f) || mac_array(r, list, "handset_macs", &macs))
		return;
	if (api_sql1(r, &res, NULL, "SELECT dpn.broker_allocate(g.id, $3::macaddr, "
	    "$4::macaddr[], gone_is_null => true) " AS_GATEWAY, r->gw.username, r->gw.secret_hash, gw_mac,
	    macs)) {
		metrics_broker("allocate", 0);
		return;
	}
	broker_answer(r, "allocate", res);
}

static void broker_handsets(struct api_req *r)
{
	const char *mac;
	struct api_field f[] = {
		API_MAC("mac", API_REQUIRED, &mac),
		API_FIELDS_END
	};
	PGresult *res;

	if (api_decode(r, f))
		return;
	if (api_sql1(r, &res, NULL, "SELECT dpn.broker_gateway_add_handset("
	    "g.id, $3::macaddr) " AS_GATEWAY, r->gw.username, r->gw.secret_hash, mac)) {
		metrics_broker("handsets", 0);
		return;
	}
	broker_answer(r, "handsets", res);
}

static void broker_delete(struct api_req *r)
{
	const char *mac = NULL;
	int gateway = 0;
	struct api_field f[] = {
		API_MAC("mac", 0, &mac),
		API_BOOL("gateway", 0, &gateway),
		API_FIELDS_END
	};
	PGresult *res;
	int rc;

	if (api_decode(r, f))
		return;
	if (f[0].present == f[1].present) {
		api_error(r, f[0].present ? 422 : 400, f[0].present ? "gateway" : "mac",
		    "give either mac (a handset) or \"gateway\": true");
		return;
	}
	if (f[1].present && !gateway) {
		api_error(r, 422, "gateway", "gateway must be true (or give mac)");
		return;
	}
	if (mac)
		rc = api_sql1(r, &res, NULL, "SELECT dpn.broker_gateway_delete_handset("
		    "g.id, $3::macaddr) " AS_GATEWAY, r->gw.username,
		    r->gw.secret_hash, mac);
	else
		rc = api_sql1(r, &res, NULL, "SELECT dpn.broker_gateway_delete("
		    "g.id) " AS_GATEWAY, r->gw.username, r->gw.secret_hash);
	if (rc) {
		metrics_broker("delete", 0);
		return;
	}
	broker_answer(r, "delete", res);
}

static int is_ipv4(json_object *v)
{
	uint32_t a;

	return json_object_is_type(v, json_type_string) &&
	    addr4_parse(json_object_get_string(v),
		(size_t)json_object_get_string_len(v), &a) == 0;
}

/* allotted: [{"mac", "address"}], each checked strictly. */
static int check_allotted(struct api_req *r, json_object *arr)
{
	char prefix[48];

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *mac, *addr;
		struct api_field f[] = {
			API_MAC("mac", API_REQUIRED, &mac),
			API_IPV4("address", API_REQUIRED, &addr),
			API_FIELDS_END
		};

		snprintf(prefix, sizeof(prefix), "allotted[%zu]", i);
		if (!json_object_is_type(v, json_type_object)) {
			api_error(r, 400, prefix, "%s must be an object {mac, address}", prefix);
			return EINVAL;
		}
		if (api_decode_obj(r, v, prefix, f))
			return EINVAL;
		/* The function reads the canonical MAC. */
		json_object_object_add(v, "mac", json_object_new_string(mac));
	}
	return 0;
}

static int check_free(struct api_req *r, json_object *arr)
{
	char field[48];

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);

		if (!is_ipv4(v)) {
			snprintf(field, sizeof(field), "free[%zu]", i);
			api_error(r, json_object_is_type(v, json_type_string) ? 422 : 400,
			    field, "%s must be an IPv4 address like 10.0.0.1", field);
			return EINVAL;
		}
	}
	return 0;
}

static const char *json_text(json_object *v)
{
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "[]";
}

static void broker_report(struct api_req *r)
{
	json_object *allotted = NULL, *freel = NULL;
	struct api_field f[] = {
		API_ARR("allotted", API_REQUIRED, &allotted, BROKER_MAX_REPORT),
		API_ARR("free", API_REQUIRED, &freel, BROKER_MAX_REPORT),
		API_FIELDS_END
	};
	PGresult *res;

	if (api_decode(r, f) || check_allotted(r, allotted) || check_free(r, freel))
		return;
	if (api_sql1(r, &res, NULL, "SELECT dpn.broker_gateway_report(g.id, "
	    "$3::jsonb, $4::jsonb) " AS_GATEWAY, r->gw.username, r->gw.secret_hash,
	    json_text(allotted), json_text(freel))) {
		metrics_broker("report", 0);
		return;
	}
	broker_answer(r, "report", res);
}

const struct api_route api_broker_routes[] = {
	{ "POST", "/api/v1/broker/allocate", broker_allocate, API_GATEWAY },
	{ "POST", "/api/v1/broker/handsets", broker_handsets, API_GATEWAY },
	{ "POST", "/api/v1/broker/delete", broker_delete, API_GATEWAY },
	{ "POST", "/api/v1/broker/report", broker_report, API_GATEWAY },
	API_ROUTES_END
};
