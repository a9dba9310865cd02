/* mgmtd/api_routes.c — a site's outbound routes for dpn-gatekeeper
 * (schema/070_gk_routes.sql), operators only:
 *   /api/v1/sites/{id}/peer-groups    list (with peers and probe state), create
 *   /api/v1/peer-groups/{id}          get, rename, delete (not while a route uses it)
 *   /api/v1/peer-groups/{id}/peers    add a peer (address, port, transport,
 *                                     trusted, weight)
 *   /api/v1/peers/{id}                change, delete
 *   /api/v1/sites/{id}/routes         list, create (prefix -> group_id)
 *   /api/v1/routes/{id}               get, change, delete
 * Every change is audited; the schema's triggers NOTIFY the gatekeeper. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "api_res.h"

#define PEER_JSON "json_build_object('id', p.id, 'group_id', p.group_id, " \
	"'address', host(p.address), 'port', p.port, 'transport', p.transport, " \
	"'trusted', p.trusted, 'weight', p.weight, 'state', coalesce((SELECT CASE WHEN st.up THEN " \
	"'up' ELSE 'down' END FROM dpn.gk_peer_state st WHERE st.peer_id = p.id), " \
	"'unknown'))"

#define GROUP_JSON "json_build_object('id', g.id, 'site_id', g.site_id, " \
	"'name', g.name, 'peers', coalesce((SELECT json_agg(" PEER_JSON \
	" ORDER BY p.id) FROM dpn.gk_peers p WHERE p.group_id = g.id), '[]'), " \
	"'routes', (SELECT count(*) FROM dpn.gk_routes r WHERE r.group_id = g.id))"

#define ROUTE_JSON "json_build_object('id', r.id, 'site_id', r.site_id, " \
	"'prefix', r.prefix, 'group_id', r.group_id, 'group', (SELECT g.name " \
	"FROM dpn.gk_peer_groups g WHERE g.id = r.group_id))"

static const struct api_constraint group_constraints[] = {
	{ "gk_peer_groups_name_unique", 409, "name", "a peer group of this name exists in the site" },
	{ "gk_peer_groups_name_length", 422, "name", "name must be 1 to 64 characters" },
	{ "gk_peer_groups_site_id_fkey", 404, NULL, "no such site" },
	{ "gk_routes_group", 409, NULL, "routes still use this peer group; change or delete them first" },
	API_CONSTRAINTS_END
};

static const struct api_constraint peer_constraints[] = {
	{ "gk_peers_unique", 409, "address", "this group has a peer at this address, port and transport" },
	{ "gk_peers_address_host", 422, "address", "address must be one IPv4 host" },
	{ "gk_peers_port_range", 422, "port", "port must be 1 to 65535" },
	{ "gk_peers_transport", 422, "transport", "transport must be \"udp\" or \"tcp\"" },
	{ "gk_peers_weight_range", 422, "weight", "weight must be 1 to 1000" },
	{ "gk_peers_group_id_fkey", 404, NULL, "no such peer group" },
	API_CONSTRAINTS_END
};

static const struct api_constraint route_constraints[] = {
	{ "gk_routes_prefix_unique", 409, "prefix", "a route with this prefix exists in the site" },
	{ "gk_routes_prefix_digits", 422, "prefix", "prefix must be 1 to 32 digits" },
	{ "gk_routes_group", 422, "group_id", "group_id is no peer group of this site" },
	{ "gk_routes_site_id_fkey", 404, NULL, "no such site" },
	API_CONSTRAINTS_END
};

/* ---- peer groups ---------------------------------------------------------- */

struct group_in {
	struct api_req *r;
	const char *name;
	struct api_field f[2];
};

static int group_decode(struct api_req *r, struct group_in *g)
{
	struct api_field f[] = {
		API_STR("name", API_REQUIRED, &g->name, 1, 64),
		API_FIELDS_END
	};

	memset(g, 0, sizeof(*g));
	g->r = r;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(g->f, f, sizeof(f));
	return 0;
}

static void groups_list(struct api_req *r)
{
	api_get_one(r, "no such site", "SELECT json_build_object('items', "
	    "coalesce((SELECT json_agg(" GROUP_JSON " ORDER BY g.name) FROM "
	    "dpn.gk_peer_groups g WHERE g.site_id = s.id), '[]')) FROM dpn.sites s "
	    "WHERE s.id = $1", r->id[0]);
}

static void group_get(struct api_req *r)
{
	api_get_one(r, "no such peer group", "SELECT " GROUP_JSON
	    " FROM dpn.gk_peer_groups g WHERE g.id = $1", r->id[0]);
}

static int group_create_txn(struct api_tx *tx, void *arg)
{
	struct group_in *g = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH n AS (INSERT INTO dpn.gk_peer_groups "
	    "(site_id, name) VALUES ($1, $2) RETURNING *) SELECT " GROUP_JSON
	    " FROM n g", g->r->id[0], g->name))
		return -1;
	return api_answer_audited(tx, res, 201, "no such site",
	    "peer_group.create", "peer_group");
}

static void group_create(struct api_req *r)
{
	struct group_in g;

	if (group_decode(r, &g) == 0)
		api_txn(r, group_create_txn, &g, group_constraints);
}

static int group_update_txn(struct api_tx *tx, void *arg)
{
	struct group_in *g = arg;
	PGresult *res;

	if (api_sql(tx, &res, "UPDATE dpn.gk_peer_groups g SET name = $2 "
	    "WHERE g.id = $1 RETURNING " GROUP_JSON, g->r->id[0], g->name))
		return -1;
	return api_answer_audited(tx, res, 200, "no such peer group",
	    "peer_group.update", "peer_group");
}

static void group_update(struct api_req *r)
{
	struct group_in g;

	if (group_decode(r, &g) == 0)
		api_txn(r, group_update_txn, &g, group_constraints);
}

static int group_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "DELETE FROM dpn.gk_peer_groups g WHERE g.id = $1 "
	    "RETURNING json_build_object('id', g.id, 'site_id', g.site_id, "
	    "'name', g.name)", r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such peer group",
	    "peer_group.delete", "peer_group");
}

static void group_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, group_delete_txn, r, group_constraints);
}

/* ---- peers ---------------------------------------------------------------- */

struct peer_in {
	struct api_req *r;
	const char *address, *transport;
	int64_t port, weight;
	int trusted;
	struct api_field f[6];
};

static int peer_decode(struct api_req *r, struct peer_in *p, unsigned required)
{
	struct api_field f[] = {
		API_IPV4("address", required, &p->address),
		API_INT("port", 0, &p->port, 1, 65535),
		API_STR("transport", 0, &p->transport, 1, 8),
		API_BOOL("trusted", 0, &p->trusted),
		API_INT("weight", 0, &p->weight, 1, 1000),
		API_FIELDS_END
	};

	memset(p, 0, sizeof(*p));
	p->r = r;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(p->f, f, sizeof(f));
	return 0;
}

static int peer_create_txn(struct api_tx *tx, void *arg)
{
	struct peer_in *p = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH n AS (INSERT INTO dpn.gk_peers (group_id, "
	    "address, port, transport, trusted, weight) VALUES ($1, $2::inet, "
	    "coalesce($3::int, 5060), coalesce($4, 'udp'), coalesce($5::bool, "
	    "false), coalesce($6::int, 1)) RETURNING *) SELECT " PEER_JSON
	    " FROM n p", p->r->id[0], api_param(&p->f[0]), api_param(&p->f[1]),
	    api_param(&p->f[2]), api_param(&p->f[3]), api_param(&p->f[4])))
		return -1;
	return api_answer_audited(tx, res, 201, "no such peer group",
	    "peer.create", "peer");
}

static void peer_create(struct api_req *r)
{
	struct peer_in p;

	if (peer_decode(r, &p, API_REQUIRED) == 0)
		api_txn(r, peer_create_txn, &p, peer_constraints);
}

static int peer_update_txn(struct api_tx *tx, void *arg)
{
	struct peer_in *p = arg;
	PGresult *res;

	if (api_sql(tx, &res, "UPDATE dpn.gk_peers p SET address = "
	    "coalesce($2::inet, address), port = coalesce($3::int, port), "
	    "transport = coalesce($4, transport), trusted = coalesce($5::bool, "
	    "trusted), weight = coalesce($6::int, weight) WHERE p.id = $1 "
	    "RETURNING " PEER_JSON, p->r->id[0], api_param(&p->f[0]),
	    api_param(&p->f[1]), api_param(&p->f[2]), api_param(&p->f[3]),
	    api_param(&p->f[4])))
		return -1;
	return api_answer_audited(tx, res, 200, "no such peer", "peer.update",
	    "peer");
}

static void peer_update(struct api_req *r)
{
	struct peer_in p;

	if (peer_decode(r, &p, 0) == 0)
		api_txn(r, peer_update_txn, &p, peer_constraints);
}

static int peer_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "DELETE FROM dpn.gk_peers p WHERE p.id = $1 "
	    "RETURNING json_build_object('id', p.id, 'group_id', p.group_id, "
	    "'address', host(p.address), 'port', p.port)", r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such peer", "peer.delete",
	    "peer");
}

static void peer_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, peer_delete_txn, r, peer_constraints);
}

/* ---- routes --------------------------------------------------------------- */

struct route_in {
	struct api_req *r;
	const char *prefix;
	int64_t group_id;
	struct api_field f[3];
};

static int route_decode(struct api_req *r, struct route_in *x, unsigned required)
{
	struct api_field f[] = {
		API_STR("prefix", required, &x->prefix, 1, 32),
		API_INT("group_id", required, &x->group_id, 1, INT64_MAX),
		API_FIELDS_END
	};

	memset(x, 0, sizeof(*x));
	x->r = r;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(x->f, f, sizeof(f));
	if (x->prefix && strspn(x->prefix, "0123456789") != strlen(x->prefix)) {
		api_error(r, 422, "prefix", "prefix must be 1 to 32 digits");
		return EINVAL;
	}
	return 0;
}

static void routes_list(struct api_req *r)
{
	api_get_one(r, "no such site", "SELECT json_build_object('items', "
	    "coalesce((SELECT json_agg(" ROUTE_JSON " ORDER BY r.prefix) FROM "
	    "dpn.gk_routes r WHERE r.site_id = s.id), '[]')) FROM dpn.sites s "
	    "WHERE s.id = $1", r->id[0]);
}

static void route_get(struct api_req *r)
{
	api_get_one(r, "no such route", "SELECT " ROUTE_JSON
	    " FROM dpn.gk_routes r WHERE r.id = $1", r->id[0]);
}

static int route_create_txn(struct api_tx *tx, void *arg)
{
	struct route_in *x = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH n AS (INSERT INTO dpn.gk_routes (site_id, "
	    "prefix, group_id) VALUES ($1, $2, $3) RETURNING *) SELECT "
	    "json_build_object('id', r.id, 'site_id', r.site_id, 'prefix', "
	    "r.prefix, 'group_id', r.group_id) FROM n r", x->r->id[0], x->prefix,
	    x->f[1].text))
		return -1;
	return api_answer_audited(tx, res, 201, "no such site", "route.create",
	    "route");
}

static void route_create(struct api_req *r)
{
	struct route_in x;

	if (route_decode(r, &x, API_REQUIRED) == 0)
		api_txn(r, route_create_txn, &x, route_constraints);
}

static int route_update_txn(struct api_tx *tx, void *arg)
{
	struct route_in *x = arg;
	PGresult *res;

	if (api_sql(tx, &res, "UPDATE dpn.gk_routes r SET prefix = coalesce($2, "
	    "prefix), group_id = coalesce($3::bigint, group_id) WHERE r.id = $1 "
	    "RETURNING json_build_object('id', r.id, 'site_id', r.site_id, "
	    "'prefix', r.prefix, 'group_id', r.group_id)", x->r->id[0],
	    api_param(&x->f[0]), api_param(&x->f[1])))
		return -1;
	return api_answer_audited(tx, res, 200, "no such route", "route.update",
	    "route");
}

static void route_update(struct api_req *r)
{
	struct route_in x;

	if (route_decode(r, &x, 0) == 0)
		api_txn(r, route_update_txn, &x, route_constraints);
}

static int route_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "DELETE FROM dpn.gk_routes r WHERE r.id = $1 "
	    "RETURNING json_build_object('id', r.id, 'site_id', r.site_id, "
	    "'prefix', r.prefix, 'group_id', r.group_id)", r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such route", "route.delete",
	    "route");
}

static void route_delete(struct api_req *r)
{
	if (api_decode_empty(r) == 0)
		api_txn(r, route_delete_txn, r, route_constraints);
}

const struct api_route api_routes_routes[] = {
	{ "GET", "/api/v1/sites/{id}/peer-groups", groups_list, API_OPERATOR },
	{ "POST", "/api/v1/sites/{id}/peer-groups", group_create, API_OPERATOR },
	{ "GET", "/api/v1/peer-groups/{id}", group_get, API_OPERATOR },
	{ "PATCH", "/api/v1/peer-groups/{id}", group_update, API_OPERATOR },
	{ "DELETE", "/api/v1/peer-groups/{id}", group_delete, API_OPERATOR },
	{ "POST", "/api/v1/peer-groups/{id}/peers", peer_create, API_OPERATOR },
	{ "PATCH", "/api/v1/peers/{id}", peer_update, API_OPERATOR },
	{ "DELETE", "/api/v1/peers/{id}", peer_delete, API_OPERATOR },
	{ "GET", "/api/v1/sites/{id}/routes", routes_list, API_OPERATOR },
	{ "POST", "/api/v1/sites/{id}/routes", route_create, API_OPERATOR },
	{ "GET", "/api/v1/routes/{id}", route_get, API_OPERATOR },
	{ "PATCH", "/api/v1/routes/{id}", route_update, API_OPERATOR },
	{ "DELETE", "/api/v1/routes/{id}", route_delete, API_OPERATOR },
	API_ROUTES_END
};
