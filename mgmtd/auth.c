/* mgmtd/auth.c — who is asking: admin sessions (cookie + CSRF), admin API
 * tokens (Bearer), gateway credentials (Basic), roles; the /api/v1/session
 * endpoints with a per-address login rate limit; token helpers. */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "server.h"

#define SESSION_SECONDS 43200                 /* 12 hours */
#define RL_BUCKETS 4096
#define RL_MAX_KEYS 65536

/* Login rate limits: a token bucket per client address ("a:ADDR") and per
 * account name ("u:NAME"), each holding per_min tokens and refilling
 * per_min a minute. Keys live in a hash table (keyed with a random seed)
 * until their bucket is full again, so no bucket is forgotten while it
 * holds a debt; when RL_MAX_KEYS buckets are all in debt, new keys are
 * refused (fail closed) until some refill. */
struct rl_entry {
	struct rl_entry *next;
	double tokens;
	uint64_t at_ns;
	char key[];
};

static struct {
	pthread_mutex_t mu;
	struct rl_entry *bucket[RL_BUCKETS];
	size_t n;
	uint64_t seed;
	double per_min;
} rl = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Behind TLS: the session cookie carries Secure. */
static int cookie_secure;

/* A yescrypt hash of nothing anybody knows: unknown users cost the same. */
static char dummy_hash[CRYPT_OUTPUT_SIZE];

int auth_password_hash(const char *pw, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	int rc = EIO;

	if (!(cd = calloc(1, sizeof(*cd))))
		return ENOMEM;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) &&
	    crypt_rn(pw, salt, cd, sizeof(*cd)) && cd->output[0] != '*')
		rc = (size_t)snprintf(out, size, "%s", cd->output) < size ? 0 : ENOSPC;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int auth_init(const struct mgmtd_config *cfg)
{
	char pw[65];

	rl.per_min = cfg->login_per_min;
	cookie_secure = cfg->cookie_secure;
	if (RAND_bytes((unsigned char *)&rl.seed, sizeof(rl.seed)) != 1 ||
	    auth_random_hex(pw, 32))
		return EIO;
	return auth_password_hash(pw, dummy_hash, sizeof(dummy_hash));
}

void auth_free(void)
{
	pthread_mutex_lock(&rl.mu);
	for (size_t b = 0; b < RL_BUCKETS; b++)
		while (rl.bucket[b]) {
			struct rl_entry *e = rl.bucket[b];

			rl.bucket[b] = e->next;
			free(e);
		}
	rl.n = 0;
	pthread_mutex_unlock(&rl.mu);
}

void auth_sha256_hex(const char *s, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int auth_random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return EIO;
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * nbytes] = '\0';
	explicit_bzero(b, sizeof(b));
	return 0;
}
/* 1 if s is 64 lower-case hex digits (the form of every token we make). */
static int is_token(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The tokens in e's bucket now. */
static double rl_level(const struct rl_entry *e, uint64_t now)
{
	double t = e->tokens + (double)(now - e->at_ns) / 1e9 * rl.per_min / 60.0;

	return t > rl.per_min ? rl.per_min : t;
}

/* Drops the buckets that are full again: a new one would be the same. */
static void rl_prune(uint64_t now)
{
	for (size_t b = 0; b < RL_BUCKETS; b++) {
		struct rl_entry **p = &rl.bucket[b];

		while (*p) {
			struct rl_entry *e = *p;

			if (rl_level(e, now) >= rl.per_min) {
				*p = e->next;
				free(e);
				rl.n--;
			} else {
				p = &e->next;
			}
		}
	}
}

/* The bucket of key, made full when new; NULL when every slot holds a
 * bucket in debt, or out of memory. Called with rl.mu held. */
static struct rl_entry *rl_find(const char *key, uint64_t now)
{
	uint64_t h = 1469598103934665603u ^ rl.seed;
	struct rl_entry **head, *e;
	size_t n = strlen(key);

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	head = &rl.bucket[(h ^ (h >> 29)) % RL_BUCKETS];
	for (e = *head; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	if (rl.n >= RL_MAX_KEYS)
		rl_prune(now);
	if (rl.n >= RL_MAX_KEYS || !(e = malloc(sizeof(*e) + n + 1)))
		return NULL;
	memcpy(e->key, key, n + 1);
	e->tokens = rl.per_min;
	e->at_ns = now;
	e->next = *head;
	*head = e;
	rl.n++;
	return e;
}

/* If the bucket of kind:name holds a token, takes `take` (0 or 1) of them
 * and returns 0; else EBUSY. */
static int rl_take(char kind, const char *name, int take)
{
	char key[96];
	uint64_t now = http_now_ns();
	struct rl_entry *e;
	int rc = EBUSY;

	snprintf(key, sizeof(key), "%c:%s", kind, name);
	pthread_mutex_lock(&rl.mu);
	if ((e = rl_find(key, now))) {
		e->tokens = rl_level(e, now);
		e->at_ns = now;
		if (e->tokens >= 1.0) {
			e->tokens -= take;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&rl.mu);
	return rc;
}

static void set_user(struct api_req *r, const char *id, const char *name,
    const char *role)
{
	snprintf(r->user.id, sizeof(r->user.id), "%s", id);
	snprintf(r->user.username, sizeof(r->user.username), "%s", name);
	r->user.role = strcmp(role, "operator") == 0 ? API_ROLE_OPERATOR :
	    API_ROLE_MANAGER;
}

/* Finds the row of a token by its SHA-256 ($1, hex). 0 found; ENOENT not
 * a token of ours; EAGAIN database away (answered). */
static int lookup_token(struct api_http *h, PGresult **out, const char *sql,
    const char *token)
{
	char hash[65];
	const char *p[1] = { hash };
	int rc;

	if (!is_token(token))
		return ENOENT;
	auth_sha256_hex(token, 64, hash);
	rc = db_query(out, sql, 1, p);

	if (rc) {
		api_error(&h->req, 503, NULL, "database unavailable; try again later");
		return EAGAIN;
	}
	if (PQntuples(*out) == 0) {
		PQclear(*out);
		return ENOENT;
	}
	return 0;
}

static int auth_bearer(struct api_http *h, const char *token)
{
	PGresult *res;
	int rc = lookup_token(h, &res, "SELECT u.id, u.username, u.role FROM "
	    "dpn.api_tokens t JOIN dpn.users u ON u.id = t.user_id "
	    "WHERE t.token_hash = decode($1, 'hex')", token);

	if (rc)
		return rc;
	set_user(&h->req, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

static int is_safe_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* The session's CSRF token must come with every write. */
static int csrf_ok(struct api_http *h, const char *want)
{
	const char *got = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND,
	    "X-CSRF-Token");

	return got && strlen(got) == strlen(want) &&
	    CRYPTO_memcmp(got, want, strlen(want)) == 0;
}

static int auth_cookie(struct api_http *h, const char *token)
{
	PGresult *res;
	int rc = lookup_token(h, &res, "SELECT u.id, u.username, u.role, s.csrf "
	    "FROM dpn.sessions s JOIN dpn.users u ON u.id = s.user_id "
	    "WHERE s.token_hash = decode($1, 'hex') AND s.expires_at > now()", token);

	if (rc)
		return rc;
	if (!is_safe_method(h->req.method) && !csrf_ok(h, PQgetvalue(res, 0, 3))) {
		PQclear(res);
		api_error(&h->req, 403, NULL, "missing or wrong X-CSRF-Token header");
		return EPERM;
	}
	set_user(&h->req, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2));
	h->cookie_auth = 1;
	PQclear(res);
	return 0;
}

static const char *authorization(struct api_http *h, const char *scheme)
{
	const char *a = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n = strlen(scheme);

	if (!a || strncasecmp(a, scheme, n) != 0 || a[n] != ' ')
		return NULL;
	a += n;
	while (*a == ' ')
		a++;
	return a;
}

static int auth_admin(struct api_http *h)
{
	const char *bearer = authorization(h, "Bearer");
	const char *cookie = MHD_lookup_connection_value(h->conn, MHD_COOKIE_KIND,
	    "dpn_session");
	int rc = ENOENT;

	if (bearer)
		rc = auth_bearer(h, bearer);
	else if (cookie)
		rc = auth_cookie(h, cookie);
	if (rc == ENOENT)
		api_error(&h->req, 401, NULL, "authentication required");
	if (rc)
		return rc;
	if ((h->route->flags & API_OPERATOR) && h->req.user.role != API_ROLE_OPERATOR) {
		api_error(&h->req, 403, NULL, "only operators may do this");
		return EPERM;
	}
	return 0;
}

/* Decodes "Basic base64(user:secret)" into user and secret. */
static int basic_decode(const char *b64, char *user, size_t ulen, char *secret,
    size_t slen)
{
	unsigned char buf[256];
	size_t n = strlen(b64);
	int len;
	char *colon;

	if (n == 0 || n > 340 || n % 4)
		return EINVAL;
	len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return EINVAL;
	while (len > 0 && n > 0 && b64[--n] == '=')
		len--;
	buf[len] = '\0';
	if (memchr(buf, '\0', (size_t)len) || !(colon = strchr((char *)buf, ':')))
		return EINVAL;
	*colon = '\0';
	if (strlen((char *)buf) >= ulen || strlen(colon + 1) >= slen)
		return EINVAL;
	snprintf(user, ulen, "%s", (char *)buf);
	snprintf(secret, slen, "%s", colon + 1);
	return 0;
}

/* Parses the gateway's Basic credentials into r->gw (username and the
 * secret's SHA-256); the broker's statement checks them against
 * dpn.gateways in the same round trip as its work (broker.c). */
static int auth_gateway(struct api_http *h)
{
	const char *basic = authorization(h, "Basic");
	char user[65], secret[129];
	struct api_gateway *gw = &h->req.gw;

	if (!basic || basic_decode(basic, user, sizeof(user), secret, sizeof(secret)) ||
	    user[0] == '\0' || secret[0] == '\0') {
		api_header(&h->req, "WWW-Authenticate", "Basic realm=\"dpn gateway\"");
		api_error(&h->req, 401, NULL, "gateway credentials required");
		return EACCES;
	}
	auth_sha256_hex(secret, strlen(secret), gw->secret_hash);
	snprintf(gw->username, sizeof(gw->username), "%s", user);
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

int auth_check(struct api_http *h)
{
	unsigned f = h->route->flags;

	if (f & API_PUBLIC)
		return 0;
	if (f & API_GATEWAY)
		return auth_gateway(h);
	return auth_admin(h);
}

int api_end_sessions(struct api_tx *tx, const char *user_id)
{
	struct api_req *r = api_tx_req(tx);
	const char *cookie = r->http->cookie_auth ? MHD_lookup_connection_value(
	    r->http->conn, MHD_COOKIE_KIND, "dpn_session") : NULL;
	char hash[65];
	PGresult *res;

	if (cookie)
		auth_sha256_hex(cookie, strlen(cookie), hash);
	if (api_sql(tx, &res, "DELETE FROM dpn.sessions WHERE user_id = $1 AND "
	    "($2::text IS NULL OR token_hash <> decode($2, 'hex'))", user_id,
	    cookie ? hash : NULL))
		return EIO;
	PQclear(res);
	return 0;
}

/* ---- /api/v1/session ----------------------------------------------------- */

/* 0 if password matches the yescrypt hash. */
static int password_ok(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	int ok = 0;

	if (!cd)
		return 0;
	if (crypt_rn(password, hash, cd, sizeof(*cd)) && cd->output[0] != '*' &&
	    strlen(cd->output) == strlen(hash))
		ok = CRYPTO_memcmp(cd->output, hash, strlen(hash)) == 0;
	free(cd);
	return ok;
}

/* {"id","username","role","buildings":[...]} of the user in res row 0,
 * columns id, username, role, buildings (a JSON array text). */
static json_object *user_json(PGresult *res)
{
	json_object *u = json_object_new_object();

	if (!u)
		return NULL;
	json_object_object_add(u, "id", json_object_new_int64(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	json_object_object_add(u, "username", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(u, "role", json_object_new_string(PQgetvalue(res, 0, 2)));
	json_object_object_add(u, "buildings", json_tokener_parse(PQgetvalue(res, 0, 3)));
	return u;
}

static void answer_session(struct api_req *r, PGresult *res, const char *csrf)
{
	json_object *o = json_object_new_object();

	if (o) {
		json_object_object_add(o, "user", user_json(res));
		json_object_object_add(o, "csrf", csrf ? json_object_new_string(csrf) : NULL);
	}
	api_json(r, 200, o);
}

struct login {
	const char *username, *password;
	char token[65], csrf[65];
	PGresult *user;          /* the user's row (USER_COLS) */
};

#define USER_COLS "u.id, u.username, u.role, " \
	"coalesce((SELECT json_agg(ub.building_id ORDER BY ub.building_id) " \
	"FROM dpn.user_buildings ub WHERE ub.user_id = u.id), '[]'), u.password_hash"

/* Writes the session of the user in l->user (row 0) and answers. */
static int login_txn(struct api_tx *tx, void *arg)
{
	struct login *l = arg;
	struct api_req *r = api_tx_req(tx);
	char hash[65], detail[128];
	PGresult *res;

	auth_sha256_hex(l->token, 64, hash);
	snprintf(detail, sizeof(detail), "{\"address\":\"%s\"}", r->http->client);
	if (api_sql(tx, &res, "DELETE FROM dpn.sessions WHERE expires_at < now()"))
		return -1;
	PQclear(res);
	if (api_sql(tx, &res, "INSERT INTO dpn.sessions (token_hash, user_id, csrf, "
	    "expires_at) VALUES (decode($1, 'hex'), $2, $3, now() + "
	    "make_interval(secs => 43200))", hash, r->user.id, l->csrf))
		return -1;
	PQclear(res);
	if (api_audit(tx, "login", "session", detail))
		return -1;
	answer_session(r, l->user, l->csrf);
	return 0;
}

/* Checks the password outside any transaction (yescrypt is slow on
 * purpose: no connection is held meanwhile); unknown users cost the same.
 * 0 and l->user set, or answered. */
static int login_check(struct api_req *r, struct login *l)
{
	PGresult *res;
	int known;

	if (api_sql1(r, &res, NULL, "SELECT " USER_COLS " FROM dpn.users u "
	    "WHERE u.username = $1", l->username))
		return EIO;
	known = PQntuples(res) > 0;
	if (!password_ok(l->password, known ? PQgetvalue(res, 0, 4) : dummy_hash) ||
	    !known) {
		PQclear(res);
		api_error(r, 401, NULL, "wrong username or password");
		return EACCES;
	}
	set_user(r, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	l->user = res;
	return 0;
}

static void session_create(struct api_req *r)
{
	struct login l = { 0 };
	char cookie[160];
	int rc;
	struct api_field f[] = {
		API_STR("username", API_REQUIRED, &l.username, 1, 64),
		API_STR("password", API_REQUIRED, &l.password, 1, 1024),
		API_FIELDS_END
	};

	if (rl_take('a', r->http->client, 1) ||
	    (api_decode(r, f) == 0 && rl_take('u', l.username, 0))) {
		api_header(r, "Retry-After", "60");
		api_error(r, 429, NULL, "too many login attempts; wait a minute");
		return;
	}
	if (api_answered(r))
		return;
	if (auth_random_hex(l.token, 32) || auth_random_hex(l.csrf, 32)) {
		api_error(r, 503, NULL, "no randomness available");
		return;
	}
	/* A wrong password costs the account a token; a right one does not,
	 * so an attacker's guesses lock the account for no longer than they
	 * last. */
	if ((rc = login_check(r, &l)) == EACCES)
		rl_take('u', l.username, 1);
	if (rc)
		return;
	rc = api_txn(r, login_txn, &l, NULL);
	PQclear(l.user);
	if (rc)
		return;
	snprintf(cookie, sizeof(cookie), "dpn_session=%s; HttpOnly; SameSite=Strict; "
	    "Path=/; Max-Age=%d%s", l.token, SESSION_SECONDS,
	    cookie_secure ? "; Secure" : "");
	api_header(r, "Set-Cookie", cookie);
}

static int session_get_txn(struct api_tx *tx, void *arg)
{
	struct api_req *r = api_tx_req(tx);
	const char *cookie = arg;
	char hash[65];
	PGresult *res;

	if (api_sql(tx, &res, "SELECT " USER_COLS " FROM dpn.users u WHERE u.id = $1",
	    r->user.id))
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		api_error(r, 401, NULL, "authentication required");
		return -1;
	}
	if (!cookie) {
		answer_session(r, res, NULL);
		PQclear(res);
		return 0;
	}
	PGresult *s;
	auth_sha256_hex(cookie, strlen(cookie), hash);
	if (api_sql(tx, &s, "SELECT csrf FROM dpn.sessions WHERE token_hash = "
	    "decode($1, 'hex')", hash)) {
		PQclear(res);
		return -1;
	}
	answer_session(r, res, PQntuples(s) ? PQgetvalue(s, 0, 0) : NULL);
	PQclear(s);
	PQclear(res);
	return 0;
}

static void session_get(struct api_req *r)
{
	const char *cookie = r->http->cookie_auth ? MHD_lookup_connection_value(
	    r->http->conn, MHD_COOKIE_KIND, "dpn_session") : NULL;

	api_txn_ro(r, session_get_txn, (void *)cookie);
}

static int session_delete_txn(struct api_tx *tx, void *arg)
{
	char hash[65];
	const char *cookie = arg;
	PGresult *res;

	auth_sha256_hex(cookie, strlen(cookie), hash);
	if (api_sql(tx, &res, "DELETE FROM dpn.sessions WHERE token_hash = "
	    "decode($1, 'hex')", hash))
		return -1;
	PQclear(res);
	if (api_audit(tx, "logout", "session", NULL))
		return -1;
	api_no_content(api_tx_req(tx));
	return 0;
}

static void session_delete(struct api_req *r)
{
	const char *cookie = r->http->cookie_auth ? MHD_lookup_connection_value(
	    r->http->conn, MHD_COOKIE_KIND, "dpn_session") : NULL;

	if (!cookie) {
		api_error(r, 400, NULL, "no session to end (bearer tokens stay valid)");
		return;
	}
	if (api_txn(r, session_delete_txn, (void *)cookie, NULL) == 0)
		api_header(r, "Set-Cookie", cookie_secure ? "dpn_session=; HttpOnly; "
		    "SameSite=Strict; Path=/; Max-Age=0; Secure" : "dpn_session=; "
		    "HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
}

const struct api_route api_session_routes[] = {
	{ "POST", "/api/v1/session", session_create, API_PUBLIC },
	{ "GET", "/api/v1/session", session_get, API_ADMIN },
	{ "DELETE", "/api/v1/session", session_delete, API_ADMIN },
	API_ROUTES_END
};
