/* mgmtd/api_flat_settings.c — what the resident's gateway does with calls
 * (schema 085) and what it reports about its handsets (schema 060):
 * /api/v1/flats/{id}/settings (GET, PUT: ring timeout, forward target and
 * when), /api/v1/handsets/{id}/settings (PUT: do-not-disturb) and
 * /api/v1/flats/{id}/reachability (GET: each handset registered or not,
 * since, address, user agent, as the gateway last reported). Managers
 * reach the flats of their buildings only; every change is audited. The
 * gateway picks a change up through GET /api/v1/broker/handsets. */
#include <errno.h>
#include <string.h>

#include "api_res.h"
#include "api_settings.h"

static const struct api_constraint settings_constraints[] = {
	{ "flat_settings_ring_timeout", 422, "ring_timeout",
	  "ring_timeout must be 5 to 90 seconds" },
	{ "flat_settings_forward_to", 422, "forward_to",
	  "forward_to must be a number or a sip: URI with a user part" },
	{ "flat_settings_forward_when", 422, "forward_when",
	  "forward_when must be never, no_answer, unregistered or both" },
	{ "flat_settings_forward_needs_target", 422, "forward_to",
	  "forward_to is required unless forward_when is never" },
	API_CONSTRAINTS_END
};

/* The full number of handset h (needs f, b, s). */
#define HANDSET_NUMBER RES_FLAT_NUMBER " || '-' || lpad(h.suffix::text, s.w_handset, '0')"

/* Settings of flat f (b, s in scope) with fs its row (may be all null). */
#define SETTINGS_JSON "json_build_object('flat_id', f.id, 'ring_timeout', " \
	"fs.ring_timeout, 'forward_to', fs.forward_to, 'forward_when', " \
	"coalesce(fs.forward_when, 'never'), 'handsets', coalesce((SELECT json_agg(" \
	"json_build_object('id', h.id, 'suffix', h.suffix, 'number', " HANDSET_NUMBER \
	", 'dnd', " SETTINGS_HANDSET_DND ") ORDER BY h.suffix) FROM dpn.handsets h " \
	"WHERE h.flat_id = f.id), '[]'))"

/* ---- flat settings -------------------------------------------------------- */

static void settings_get(struct api_req *r)
{
	api_get_one(r, "no such flat", "SELECT " SETTINGS_JSON " FROM " RES_FLAT_FROM
	    " LEFT JOIN dpn.flat_settings fs ON fs.flat_id = f.id WHERE f.id = $1 AND "
	    RES_SCOPE("2", "f.building_id"), r->id[0], api_scope(r));
}

struct settings_in {
	struct api_req *r;
	int64_t ring;
	const char *to, *when;
	struct api_field f[4];
};

/* A dialable number: an optional +, digits and dashes, a digit at both
 * ends, at most 32 characters. */
static int number_like(const char *s)
{
	size_t n;

	if (*s == '+')
		s++;
	n = strlen(s);
	if (n == 0 || n > 32 || s[0] < '0' || s[0] > '9' || s[n - 1] < '0' || s[n - 1] > '9')
		return 0;
	return strspn(s, "0123456789-") == n;
}

/* sip:user@host[:port][;params] without spaces, quotes or angle brackets
 * (it goes into a Request-URI as it is). */
static int sip_uri_like(const char *s)
{
	const char *at, *user;

	if (strncmp(s, "sip:", 4) == 0)
		user = s + 4;
	else if (strncmp(s, "sips:", 5) == 0)
		user = s + 5;
	else
		return 0;
	at = strchr(user, '@');
	return at && at > user && at[1] && !strchr(at + 1, '@') &&
	    strcspn(s, " \t\r\n\"<>\\`{}|^") == strlen(s);
}

/* The values together: 0, or answers 422 naming the field. */
static int settings_check(struct settings_in *x)
{
	static const char *const whens[] = { "never", "no_answer", "unregistered", "both" };
	int ok = !x->when;

	for (size_t i = 0; x->when && i < sizeof(whens) / sizeof(*whens); i++)
		ok |= strcmp(x->when, whens[i]) == 0;
	if (!ok) {
		api_error(x->r, 422, "forward_when",
		    "forward_when must be never, no_answer, unregistered or both");
		return EINVAL;
	}
	if (x->to && !number_like(x->to) && !sip_uri_like(x->to)) {
		api_error(x->r, 422, "forward_to", "forward_to must be a number "
		    "(digits, dashes, a leading +) or a sip: URI like sip:0171234@example.net");
		return EINVAL;
	}
	if (!x->to && x->when && strcmp(x->when, "never") != 0) {
		api_error(x->r, 422, "forward_to",
		    "forward_to is required when forward_when is %s", x->when);
		return EINVAL;
	}
	return 0;
}

static int settings_put_txn(struct api_tx *tx, void *arg)
{
	struct settings_in *x = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH fs AS (INSERT INTO dpn.flat_settings AS o (flat_id, "
	    "ring_timeout, forward_to, forward_when) SELECT f.id, $3::integer, $4, "
	    "coalesce($5, 'never') FROM dpn.flats f WHERE f.id = $1 AND "
	    RES_SCOPE("2", "f.building_id") " ON CONFLICT (flat_id) DO UPDATE SET "
	    "ring_timeout = EXCLUDED.ring_timeout, forward_to = EXCLUDED.forward_to, "
	    "forward_when = EXCLUDED.forward_when RETURNING o.*) SELECT " SETTINGS_JSON
	    " FROM fs JOIN " RES_FLAT_FROM " ON f.id = fs.flat_id",
	    x->r->id[0], api_scope(x->r), api_param(&x->f[0]), x->to, x->when))
		return -1;
	return api_answer_audited(tx, res, 200, "no such flat", "flat.settings", "flat");
}

/* PUT replaces the settings: a field left out (or null) is the default. */
static void settings_put(struct api_req *r)
{
	struct settings_in x = { .r = r };
	struct api_field f[] = {
		API_INT("ring_timeout", API_NULLABLE, &x.ring, 5, 90),
		API_STR("forward_to", API_NULLABLE, &x.to, 1, 128),
		API_STR("forward_when", 0, &x.when, 1, 16),
		API_FIELDS_END
	};

	if (api_decode(r, f))
		return;
	memcpy(x.f, f, sizeof(f));
	if (settings_check(&x) == 0)
		api_txn(r, settings_put_txn, &x, settings_constraints);
}

/* ---- handset do-not-disturb ----------------------------------------------- */

struct dnd_in {
	struct api_req *r;
	int dnd;
};

static int dnd_put_txn(struct api_tx *tx, void *arg)
{
	struct dnd_in *x = arg;
	PGresult *res;

	if (api_sql(tx, &res, "WITH u AS (INSERT INTO dpn.handset_settings AS o "
	    "(handset_id, dnd) SELECT h.id, $3::boolean FROM dpn.handsets h JOIN dpn.flats f "
	    "ON f.id = h.flat_id WHERE h.id = $1 AND " RES_SCOPE("2", "f.building_id")
	    " ON CONFLICT (handset_id) DO UPDATE SET dnd = EXCLUDED.dnd RETURNING o.*) "
	    "SELECT json_build_object('id', h.id, 'flat_id', h.flat_id, 'suffix', h.suffix, "
	    "'number', " HANDSET_NUMBER ", 'dnd', u.dnd) FROM u JOIN dpn.handsets h ON "
	    "h.id = u.handset_id JOIN " RES_FLAT_FROM " ON f.id = h.flat_id",
	    x->r->id[0], api_scope(x->r), x->dnd ? "true" : "false"))
		return -1;
	return api_answer_audited(tx, res, 200, "no such handset", "handset.settings",
	    "handset");
}

static void dnd_put(struct api_req *r)
{
	struct dnd_in x = { .r = r };
	struct api_field f[] = {
		API_BOOL("dnd", API_REQUIRED, &x.dnd),
		API_FIELDS_END
	};

	if (api_decode(r, f) == 0)
		api_txn(r, dnd_put_txn, &x, NULL);
}

/* ---- reachability --------------------------------------------------------- */

/* Each handset of flat f as its gateway last reported it (registered is
 * false, and reported_at null, when it never did). */
#define REACH_JSON "json_build_object('flat_id', f.id, 'handsets', coalesce((SELECT " \
	"json_agg(json_build_object('id', h.id, 'suffix', h.suffix, 'number', " \
	HANDSET_NUMBER ", 'dnd', " SETTINGS_HANDSET_DND ", 'registered', " \
	"coalesce(hr.registered, false), 'since', hr.since, 'address', hr.address, " \
	"'contact', hr.contact, 'user_agent', hr.user_agent, 'reported_at', " \
	"hr.reported_at) ORDER BY h.suffix) FROM dpn.handsets h LEFT JOIN " \
	"dpn.handset_registrations hr ON hr.handset_id = h.id WHERE h.flat_id = f.id), '[]'))"

static void reachability_get(struct api_req *r)
{
	api_get_one(r, "no such flat", "SELECT " REACH_JSON " FROM " RES_FLAT_FROM
	    " WHERE f.id = $1 AND " RES_SCOPE("2", "f.building_id"), r->id[0], api_scope(r));
}

const struct api_route api_flat_settings_routes[] = {
	{ "GET", "/api/v1/flats/{id}/settings", settings_get, API_ADMIN },
	{ "PUT", "/api/v1/flats/{id}/settings", settings_put, API_ADMIN },
	{ "PUT", "/api/v1/handsets/{id}/settings", dnd_put, API_ADMIN },
	{ "GET", "/api/v1/flats/{id}/reachability", reachability_get, API_ADMIN },
	API_ROUTES_END
};
