/* mgmtd/api_users.c — admin accounts, operators only: /api/v1/users (list,
 * create) and /api/v1/users/{id} (get, change role, password or buildings,
 * delete). A manager holds a list of buildings (dpn.user_buildings) and
 * sees only those; an operator holds none. Passwords: yescrypt (libcrypt),
 * hashed before the transaction (it is slow on purpose). */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_res.h"

#define USER_JSON "json_build_object('id', u.id, 'username', u.username, 'role', " \
	"u.role, 'buildings', coalesce((SELECT json_agg(ub.building_id ORDER BY " \
	"ub.building_id) FROM dpn.user_buildings ub WHERE ub.user_id = u.id), '[]'), " \
	"'created_at', u.created_at)"

#define MAX_USER_BUILDINGS 1000

static const struct api_constraint user_constraints[] = {
	{ "users_username_unique", 409, "username", "a user with this username exists" },
	{ "users_username_text", 422, "username",
	  "username must be 1 to 64 printable ASCII characters without spaces" },
	{ "users_role", 422, "role", "role must be operator or manager" },
	{ "user_buildings_building_id_fkey", 422, "buildings", "buildings names an unknown building" },
	API_CONSTRAINTS_END
};

struct user_in {
	struct api_req *r;
	const char *username, *password, *role;
	json_object *buildings;
	struct api_field f[5];
	char hash[CRYPT_OUTPUT_SIZE];
	char *ids;            /* "{1,2}" when buildings came, else NULL */
	size_t nids;
};

/* The building ids as an SQL array literal in u->ids; 400 naming buildings
 * for anything but positive integers. */
static int user_buildings(struct api_req *r, struct user_in *u)
{
	size_t n = json_object_array_length(u->buildings), at = 0, cap = n * 21 + 3;

	if (!(u->ids = malloc(cap))) {
		api_error(r, 503, NULL, "out of memory");
		return ENOMEM;
	}
	at += (size_t)snprintf(u->ids, cap, "{");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(u->buildings, i);
		int64_t id = json_object_get_int64(v);

		if (json_object_get_type(v) != json_type_int || id < 1) {
			char name[32];

			snprintf(name, sizeof(name), "buildings[%zu]", i);
			api_error(r, 400, name, "%s must be a building id", name);
			return EINVAL;
		}
		at += (size_t)snprintf(u->ids + at, cap - at, "%s%lld", i ? "," : "", (long long)id);
	}
	snprintf(u->ids + at, cap - at, "}");
	u->nids = n;
	return 0;
}

static int user_decode(struct api_req *r, struct user_in *u, int create)
{
	struct api_field f[] = {
		API_STR("role", create ? API_REQUIRED : 0, &u->role, 1, 16),
		API_STR("password", create ? API_REQUIRED : 0, &u->password, 8, 1023),
		API_ARR("buildings", 0, &u->buildings, MAX_USER_BUILDINGS),
		API_STR("username", API_REQUIRED, &u->username, 1, 64),
		API_FIELDS_END
	};

	if (!create)   /* the username stays */
		f[3] = (struct api_field)API_FIELDS_END;
	if (api_decode(r, f))
		return EINVAL;
	memcpy(u->f, f, sizeof(f));
	if (u->role && strcmp(u->role, "operator") && strcmp(u->role, "manager")) {
		api_error(r, 422, "role", "role must be operator or manager");
		return EINVAL;
	}
	if (u->buildings && user_buildings(r, u))
		return EINVAL;
	if (u->role && !strcmp(u->role, "operator") && u->nids) {
		api_error(r, 422, "buildings", "an operator sees every building; "
		    "buildings are for managers");
		return EINVAL;
	}
	if (u->password && auth_password_hash(u->password, u->hash, sizeof(u->hash))) {
		api_error(r, 503, NULL, "could not hash the password; try again");
		return EIO;
	}
	return 0;
}

/* Replaces the user's buildings with u->ids (when they came). */
static int user_set_buildings(struct api_tx *tx, const struct user_in *u, const char *id)
{
	PGresult *res;

	if (!u->ids)
		return 0;
	if (api_sql(tx, &res, "DELETE FROM dpn.user_buildings WHERE user_id = $1", id))
		return -1;
	PQclear(res);
	if (api_sql(tx, &res, "INSERT INTO dpn.user_buildings (user_id, building_id) "
	    "SELECT DISTINCT $1::bigint, unnest($2::bigint[])", id, u->ids))
		return -1;
	PQclear(res);
	return 0;
}

static int user_create_txn(struct api_tx *tx, void *arg)
{
	struct user_in *u = arg;
	PGresult *res;
	char id[24];

	if (api_sql(tx, &res, "INSERT INTO dpn.users (username, password_hash, role) "
	    "VALUES ($1, $2, $3) RETURNING id", u->username, u->hash, u->role))
		return -1;
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (user_set_buildings(tx, u, id) ||
	    api_sql(tx, &res, "SELECT " USER_JSON " FROM dpn.users u WHERE u.id = $1", id))
		return -1;
	return api_answer_audited(tx, res, 201, "no such user", "user.create", "user");
}

static void user_create(struct api_req *r)
{
	struct user_in u = { .r = r };

	if (user_decode(r, &u, 1) == 0)
		api_txn(r, user_create_txn, &u, user_constraints);
	explicit_bzero(u.hash, sizeof(u.hash));
	free(u.ids);
}

/* A user made operator loses its buildings; buildings for an operator are
 * refused. */
static int user_update_txn(struct api_tx *tx, void *arg)
{
	struct user_in *u = arg;
	PGresult *res;
	int oper;

	if (api_sql(tx, &res, "UPDATE dpn.users SET role = coalesce($2, role), "
	    "password_hash = coalesce($3, password_hash) WHERE id = $1 RETURNING role",
	    u->r->id[0], u->role, u->password ? u->hash : NULL))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(u->r, 404, NULL, "no such user");
		return -1;
	}
	oper = strcmp(PQgetvalue(res, 0, 0), "operator") == 0;
	PQclear(res);
	if (oper && u->nids) {
		api_error(u->r, 422, "buildings", "an operator sees every building; "
		    "buildings are for managers");
		return -1;
	}
	if (oper && api_sql(tx, &res, "DELETE FROM dpn.user_buildings WHERE user_id = $1",
	    u->r->id[0]) == 0)
		PQclear(res);
	if (u->password && api_end_sessions(tx, u->r->id[0]))
		return -1;
	if (user_set_buildings(tx, u, u->r->id[0]) ||
	    api_sql(tx, &res, "SELECT " USER_JSON " FROM dpn.users u WHERE u.id = $1", u->r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 200, "no such user", "user.update", "user");
}

static void user_update(struct api_req *r)
{
	struct user_in u = { .r = r };

	if (user_decode(r, &u, 0) == 0)
		api_txn(r, user_update_txn, &u, user_constraints);
	explicit_bzero(u.hash, sizeof(u.hash));
	free(u.ids);
}

static int user_delete_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = arg;
	PGresult *res;

	if (api_sql(tx, &res, "DELETE FROM dpn.users u WHERE u.id = $1 RETURNING "
	    "json_build_object('id', u.id, 'username', u.username, 'role', u.role)", r->id[0]))
		return -1;
	return api_answer_audited(tx, res, 204, "no such user", "user.delete", "user");
}

static void user_delete(struct api_req *r)
{
	if (api_decode_empty(r))
		return;
	if (strcmp(r->id[0], r->user.id) == 0) {
		api_error(r, 409, NULL, "you cannot delete your own account");
		return;
	}
	api_txn(r, user_delete_txn, r, user_constraints);
}

static void users_list(struct api_req *r)
{
	struct res_page p;

	if (res_paging(r, &p))
		return;
	api_get_one(r, "no users", "WITH m AS (SELECT * FROM dpn.users u WHERE $1::text IS "
	    "NULL OR strpos(u.username, $1) > 0) SELECT json_build_object('items', coalesce(("
	    "SELECT json_agg(" USER_JSON " ORDER BY u.username) FROM (SELECT * FROM m ORDER BY "
	    "username LIMIT $2 OFFSET $3) u), '[]'), 'total', (SELECT count(*) FROM m), "
	    "'page', $4::bigint, 'per_page', $2::bigint)",
	    api_query(r, "q"), p.limit, p.offset, p.page);
}

static void user_get(struct api_req *r)
{
	api_get_one(r, "no such user", "SELECT " USER_JSON " FROM dpn.users u WHERE u.id = $1",
	    r->id[0]);
}

const struct api_route api_users_routes[] = {
	{ "GET", "/api/v1/users", users_list, API_OPERATOR },
	{ "POST", "/api/v1/users", user_create, API_OPERATOR },
	{ "GET", "/api/v1/users/{id}", user_get, API_OPERATOR },
	{ "PATCH", "/api/v1/users/{id}", user_update, API_OPERATOR },
	{ "DELETE", "/api/v1/users/{id}", user_delete, API_OPERATOR },
	API_ROUTES_END
};
