/* mgmtd/api.h — what a resource file (mgmtd/api_*.c) needs: routes,
 * strict JSON decoding, answers, SQL in a transaction with retries, roles and
 * building scope, audit. mgmtd/api_sites.c is the worked example.
 *
 * 1. Routes. A resource file exports one table, ended by API_ROUTES_END, and
 *    mgmtd/routes.c lists it (one line there):
 *
 *        const struct api_route api_sites_routes[] = {
 *            { "GET",  "/api/v1/sites",      sites_list,   API_ADMIN },
 *            { "POST", "/api/v1/sites",      sites_create, API_OPERATOR },
 *            { "GET",  "/api/v1/sites/{id}", sites_get,    API_ADMIN },
 *            API_ROUTES_END
 *        };
 *
 *    A `{id}` segment matches a positive decimal id only (anything else is
 *    404); its text is r->id[0], r->id[1]... in order (ready as an SQL
 *    parameter, digits only) and its value r->idv[i]. A `{*}` segment matches
 *    any one non-empty segment into r->arg[i]. Method not allowed on a known
 *    path -> 405. The flags say who may call (API_PUBLIC, API_ADMIN: any
 *    admin user, API_OPERATOR: operators only (managers get 403),
 *    API_GATEWAY: gateway Basic auth, checked by the handler's own SQL —
 *    see struct api_gateway) and API_BULK (body up to 1 MiB instead
 *    of 64 KiB). The framework authenticates, checks CSRF on cookie writes,
 *    caps bodies (413) and refuses non-JSON bodies (415) before the handler
 *    runs.
 *
 * 2. Handlers: `void fn(struct api_req *r)`. Every path through a handler
 *    answers exactly once with api_json / api_json_text / api_error /
 *    api_no_content (a handler that forgets gets a logged 500). A handler
 *    never frees what the framework owns (r, the decoded body).
 *
 * 3. Body: api_decode(r, fields) with a field table; every problem answers
 *    400/422 naming the field and returns nonzero, so the handler just
 *    returns:
 *
 *        const char *name = NULL; int64_t number;
 *        struct api_field f[] = {
 *            API_INT("number", API_REQUIRED, &number, 1, 999999999),
 *            API_STR("name", 0, &name, 1, 200),   // optional
 *            API_FIELDS_END
 *        };
 *        if (api_decode(r, f)) return;
 *
 *    Missing required field -> 400 "number is required"; wrong JSON type ->
 *    400; out of range -> 422; unknown field -> 400 naming it. f[i].present
 *    says whether an optional field came. String outputs point into the
 *    decoded body (alive until the request ends); API_INT also sets .text,
 *    the decimal text, handy as an SQL parameter; api_param(&f[i]) gives any
 *    field as an SQL parameter (NULL when absent: "coalesce($2, name)" in a
 *    PATCH). A null value is refused like a wrong type. Nested objects:
 *    API_OBJ then api_decode_obj(r, obj, "widths", fields) names fields
 *    "widths.flat". Bodyless requests: api_decode_empty(r).
 *
 * 4. SQL: api_txn(r, fn, arg, constraints) runs fn in one transaction on a
 *    pooled connection, retries the whole fn on serialization failure or
 *    deadlock (40001, 40P01), and answers for you when a statement fails:
 *    D1001 -> 404, D1002/D1003 -> 409, D1004 -> 422, 23505/23P01 -> 409,
 *    23514 and class 22 -> 422, database unreachable -> 503. The optional
 *    constraints table maps a constraint name to the field and sentence to
 *    answer with. Inside fn use api_sql(tx, &res, SQL, params...) — SQL must
 *    be a string literal (it is prepared once per connection, keyed by its
 *    address); params are strings or NULL (SQL NULL). fn returns 0 to
 *    commit, or, having answered itself (say 404), nonzero to roll back; it
 *    answers on success itself too (usually from a row it read). It may run
 *    more than once: no side effects outside the database in fn. Every
 *    PGresult it gets is its own to PQclear.
 *
 *        static int rename_txn(struct api_tx *tx, void *arg) {
 *            struct rename *x = arg; PGresult *res;
 *            if (api_sql(tx, &res, "UPDATE dpn.sites s SET name = $2 "
 *                "WHERE id = $1 RETURNING " SITE_JSON, x->r->id[0], x->name))
 *                return -1;
 *            return api_answer_audited(tx, res, 200, "no such site",
 *                "site.update", "site");   // 404, or audit + answer
 *        }
 *        ... api_txn(r, rename_txn, &x, site_constraints);
 *
 *    Reads in one statement need no transaction function:
 *        api_get_one(r, "no such site", "SELECT " SITE_JSON " FROM dpn.sites s "
 *            "WHERE s.id = $1", r->id[0]);
 *    and api_sql1(r, &res, constraints, SQL, ...) runs any one statement
 *    as its own transaction (the broker's calls). Build answers in SQL
 *    (json_build_object, json_agg): one row, one column, handed through.
 *
 * 5. Roles and scope: r->user is set for admin routes. Operators see all;
 *    a manager sees only the buildings in dpn.user_buildings. Pass
 *    api_scope(r) as an SQL parameter and filter with
 *        ($N::bigint IS NULL OR EXISTS (SELECT 1 FROM dpn.user_buildings ub
 *          WHERE ub.user_id = $N AND ub.building_id = <building id>))
 *    and answer 404 when the row is filtered out (a manager must not learn
 *    that other buildings exist).
 *
 * 6. Audit: api_audit(tx, action, object, detail_json) inside the same
 *    transaction as the change (api_answer_audited does it for the usual
 *    case). The actor is "user:NAME" or "gateway:NAME"; api_txn also sets
 *    dpn.actor for the schema's own audit records.
 */
#ifndef DPN_MGMTD_API_H
#define DPN_MGMTD_API_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "log.h"

#define API_MAX_PARAMS 4      /* {id}/{*} segments per route */

struct api_req;
struct api_tx;

typedef void (*api_handler)(struct api_req *r);

enum {
	API_PUBLIC   = 1 << 0,   /* no authentication */
	API_ADMIN    = 1 << 1,   /* admin session (cookie + CSRF) or bearer */
	API_OPERATOR = 1 << 2,   /* as API_ADMIN, and role operator */
	API_GATEWAY  = 1 << 3,   /* gateway Basic auth (the broker; see api_gateway) */
	API_BULK     = 1 << 4,   /* body cap 1 MiB instead of 64 KiB */
};

struct api_route {
	const char *method;
	const char *pattern;
	api_handler fn;
	unsigned flags;
};
#define API_ROUTES_END { NULL, NULL, NULL, 0 }

enum api_role { API_ROLE_NONE, API_ROLE_OPERATOR, API_ROLE_MANAGER };

struct api_user {
	char id[24];             /* decimal user id ("" when none) */
	char username[72];
	enum api_role role;
};

/* API_GATEWAY routes: the credentials as sent, not yet checked. The
 * handler's statement must check them (broker.c's AS_GATEWAY: username and
 * secret_hash against dpn.gateways) and answer 401 when no gateway matches:
 * one round trip for authentication and work. */
struct api_gateway {
	char username[72];
	char secret_hash[65];    /* hex SHA-256 of the secret */
};

struct api_req {
	const char *method;
	const char *path;
	const char *id[API_MAX_PARAMS];    /* {id} segments, digits */
	int64_t idv[API_MAX_PARAMS];
	const char *arg[API_MAX_PARAMS];   /* {*} segments */
	const char *body;                  /* NUL-terminated; "" when none */
	size_t body_len;
	struct api_user user;              /* admin routes */
	struct api_gateway gw;             /* API_GATEWAY routes */
	struct api_http *http;             /* framework internals */
};

/* ---- answers ------------------------------------------------------------ */

/* Answers `status` with obj serialised; takes ownership of obj (one
 * reference), also on failure. */
void api_json(struct api_req *r, unsigned status, json_object *obj);

/* Answers `status` with JSON text already made (e.g. a jsonb column);
 * copies it. */
void api_json_text(struct api_req *r, unsigned status, const char *text);

/* Answers {"error": "<sentence>", "field": field} (field may be NULL). */
void api_error(struct api_req *r, unsigned status, const char *field,
    const char *fmt, ...) DPN_PRINTF(4, 5);

/* 204, no body. */
void api_no_content(struct api_req *r);

/* Adds a response header to the answer given next (e.g. Set-Cookie). Both
 * strings are copied. 0 or ENOMEM. */
int api_header(struct api_req *r, const char *name, const char *value);

/* 1 if the handler has answered already. */
int api_answered(const struct api_req *r);

/* Query string value, or NULL. Owned by the framework. */
const char *api_query(struct api_req *r, const char *key);

/* Reads ?page=&per_page= (defaults 1 and 50, per_page at most 500) and
 * gives limit/offset as SQL text. Answers 422 naming the field and returns
 * nonzero on a bad value. */
int api_paging(struct api_req *r, char limit[24], char offset[24],
    int64_t *page, int64_t *per_page);

/* ---- strict JSON decoding ----------------------------------------------- */

enum api_type {
	API_T_STR, API_T_INT, API_T_BOOL, API_T_OBJ, API_T_ARR, API_T_MAC,
	API_T_IPV4,
};

enum { API_REQUIRED = 1 << 0, API_NULLABLE = 1 << 1 };

struct api_field {
	const char *name;
	enum api_type type;
	unsigned flags;
	void *out;        /* STR/MAC/IPV4: const char **; INT: int64_t *;
	                     BOOL: int *; OBJ/ARR: json_object ** (borrowed) */
	int64_t min, max; /* INT: value range; STR: length range (bytes) */
	int present;      /* set by api_decode: 1 if the field came, and not null */
	const char *text; /* set by api_decode for INT: decimal text */
};
#define API_STR(n, fl, o, mn, mx)  { (n), API_T_STR, (fl), (o), (mn), (mx), 0, NULL }
#define API_INT(n, fl, o, mn, mx)  { (n), API_T_INT, (fl), (o), (mn), (mx), 0, NULL }
#define API_BOOL(n, fl, o)         { (n), API_T_BOOL, (fl), (o), 0, 0, 0, NULL }
#define API_OBJ(n, fl, o)          { (n), API_T_OBJ, (fl), (o), 0, 0, 0, NULL }
#define API_ARR(n, fl, o, mx)      { (n), API_T_ARR, (fl), (o), 0, (mx), 0, NULL }
/* A MAC in any case with ':' or '-'; out gets the canonical lower-case
 * "aa:bb:cc:dd:ee:ff" (framework-owned). */
#define API_MAC(n, fl, o)          { (n), API_T_MAC, (fl), (o), 0, 0, 0, NULL }
/* A dotted quad; out gets the text as sent (validated). */
#define API_IPV4(n, fl, o)         { (n), API_T_IPV4, (fl), (o), 0, 0, 0, NULL }
#define API_FIELDS_END             { NULL, API_T_STR, 0, NULL, 0, 0, 0, NULL }

/* Parses the body as one JSON object and decodes it against fields (see the
 * top of this file). 0 on success; otherwise it has answered and returns
 * EINVAL. */
int api_decode(struct api_req *r, struct api_field *fields);

/* Same for a nested object; field names in answers get "prefix.". */
int api_decode_obj(struct api_req *r, json_object *obj, const char *prefix,
    struct api_field *fields);

/* A decoded field as an SQL parameter: its text (INT: decimal, BOOL:
 * "true"/"false"), or NULL (SQL NULL) when it did not come — handy for
 * "coalesce($n, column)" in PATCH. */
const char *api_param(const struct api_field *f);

/* For requests that take no body (DELETE, most POST actions): 0 when the
 * body is empty; otherwise answers 400 and returns EINVAL. */
int api_decode_empty(struct api_req *r);

/* Validates and canonicalises a MAC into out[18] ("aa:bb:cc:dd:ee:ff").
 * 0 or EINVAL. */
int api_mac_canon(const char *s, char out[18]);

/* ---- SQL ---------------------------------------------------------------- */

struct api_constraint {
	const char *name;       /* constraint name from the schema */
	unsigned status;        /* 409, 422, ... */
	const char *field;      /* may be NULL */
	const char *message;
};
#define API_CONSTRAINTS_END { NULL, 0, NULL, NULL }

typedef int (*api_txn_fn)(struct api_tx *tx, void *arg);

/* The count and array of a macro's variadic SQL parameters (strings). */
#define API_PARAMS(...)                                                    \
	(int)(sizeof((const char *[]){ NULL, __VA_ARGS__ }) /              \
	    sizeof(const char *)) - 1,                                     \
	(const char *const *)(&((const char *[]){ NULL, __VA_ARGS__ })[1])

/* Runs fn in one transaction (see the top of this file). Returns 0 when
 * committed; otherwise an answer has been given (by fn or by the mapping)
 * and it returns nonzero. */
int api_txn(struct api_req *r, api_txn_fn fn, void *arg,
    const struct api_constraint *constraints);

/* Same, read-only (SET TRANSACTION READ ONLY): for GETs. */
int api_txn_ro(struct api_req *r, api_txn_fn fn, void *arg);

/* Runs one statement. On success *out is a result the caller PQclears. On
 * failure returns nonzero, records the error for api_txn to answer, and the
 * caller must return nonzero from fn at once. */
int api_sql_v(struct api_tx *tx, PGresult **out, const char *sql,
    int nparams, const char *const *params);
#define api_sql(tx, out, sql, ...) \
	api_sql_v((tx), (out), (sql), API_PARAMS(__VA_ARGS__))

/* One statement as its own transaction (autocommit): cheaper than api_txn
 * for a single call such as a broker function; same retries and error
 * answers. On success *out is the caller's to PQclear; otherwise it has
 * answered and returns nonzero. */
int api_sql1_v(struct api_req *r, PGresult **out,
    const struct api_constraint *constraints, const char *sql, int nparams,
    const char *const *params);
#define api_sql1(r, out, constraints, sql, ...) \
	api_sql1_v((r), (out), (constraints), (sql), API_PARAMS(__VA_ARGS__))

/* Answers row 0, column 0 of res (JSON text) with status, or 404 with
 * the sentence notfound when res has no row. Clears res. Returns 0 when it
 * answered the row, -1 otherwise: `return api_answer_row(...)` ends a txn
 * fn (commit on a row, roll back on 404). */
int api_answer_row(struct api_req *r, PGresult *res, unsigned status,
    const char *notfound);

/* A read in one statement: runs sql (autocommit), answers 200 with the
 * JSON of row 0, column 0, or 404 notfound. 0 when a row was answered. */
int api_get_one_v(struct api_req *r, const char *notfound, const char *sql,
    int nparams, const char *const *params);
#define api_get_one(r, notfound, sql, ...) \
	api_get_one_v((r), (notfound), (sql), API_PARAMS(__VA_ARGS__))

/* The request a transaction runs for. */
struct api_req *api_tx_req(struct api_tx *tx);

/* The manager-scope SQL parameter: NULL for operators (no filter), the user
 * id for managers. */
const char *api_scope(const struct api_req *r);

/* Appends an audit record (dpn.audit_log) in tx: actor from r, detail is
 * JSON text or NULL. 0 or nonzero as api_sql. */
int api_audit(struct api_tx *tx, const char *action, const char *object,
    const char *detail_json);

/* The usual end of a write: res holds the changed row's JSON (RETURNING)
 * in row 0, column 0. No row -> 404 notfound; else an audit record
 * (action, object, the row as detail) and the answer: status with the row,
 * or 204 without. Clears res. Returns 0 (commit) or -1 (roll back). */
int api_answer_audited(struct api_tx *tx, PGresult *res, unsigned status,
    const char *notfound, const char *action, const char *object);

/* Ends every admin session of user_id but the one r came with (a
 * password change must log the old holders out). 0 or nonzero as api_sql. */
int api_end_sessions(struct api_tx *tx, const char *user_id);

/* ---- secrets ------------------------------------------------------------ */
/* 2*nbytes lower-case hex digits of fresh random bytes (at most 64) and a
 * NUL into out. 0, or EIO when there is no randomness (or nbytes > 64). */
int auth_random_hex(char *out, size_t nbytes);

/* Lower-case hex SHA-256 of s[0..len) into out. */
void auth_sha256_hex(const char *s, size_t len, char out[65]);

/* The yescrypt hash (libcrypt, fresh salt) of password pw into out[size]
 * (CRYPT_OUTPUT_SIZE is always enough). 0, ENOSPC, ENOMEM or EIO. */
int auth_password_hash(const char *pw, char *out, size_t size);

/* ---- route tables (mgmtd/routes.c) -------------------------------------- */

extern const struct api_route *const api_route_tables[];

#endif
