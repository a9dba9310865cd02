/* mgmtd/kea_ctrl.c — the lease-deletion outbox to Kea (see kea_ctrl.h).
 *
 * The drain takes only the rows of the subnets its own Kea serves (pool id
 * = Kea subnet id): several complexes may share one database with one Kea
 * and one mgmtd each, and a row of another Kea's subnet is left untouched
 * for that Kea's mgmtd (no attempt counted, no warning). Which subnets:
 * Kea's own "config-get" answer (at most KC_CONFIG_MAX bytes, at most
 * KEA_SUBNETS_MAX subnets, kea_subnets.c), read when the first row is
 * due (an empty outbox needs no word with Kea), again when "status-get"
 * (asked at the start of every round that has due rows, whatever their
 * subnet: a small answer) shows another pid or a new configuration
 * (config-reload, config-set; one younger than KC_FRESH_S is read again
 * at every round: reload counts whole seconds), after Kea could not be
 * reached, and every KC_SUBNETS_REFRESH_S. An answer too long or malformed changes nothing:
 * the subnets learnt before are kept (none at first: then no row is
 * taken), a rate-limited warning says why, and it is asked again after
 * KC_SUBNETS_RETRY_S.
 *
 * Each round takes up to KC_BATCH due rows of those subnets (next_try
 * passed, oldest first) with FOR UPDATE SKIP LOCKED (several mgmtd
 * processes may drive one Kea), sends lease4-del by subnet and MAC (the
 * address alone could name another device's lease later) and deletes the
 * rows Kea acknowledged, all in one transaction. A row is never dropped:
 * - Kea refused it (answered an error): the row backs off on its own
 *   (next_try = now + poll * 2^attempts, capped at KC_ROW_BACKOFF_MAX_S),
 *   so it costs Kea one call per hour at most and cannot make the drain
 *   spin;
 * - Kea cannot be reached (stopped, restarting, socket gone): the round
 *   stops at once, no row is touched, and the thread waits longer each
 *   time (poll doubled up to KC_DOWN_MAX_MS) until Kea answers again.
 * Warnings are rate-limited (one per minute, with what was suppressed). */
#include "kea_ctrl.h"

#include <errno.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kea_subnets.h"
#include "log.h"
#include "pg.h"

#define KC_STR2(x) #x
#define KC_STR(x) KC_STR2(x)

#define KC_BATCH 64
#define KC_ROW_BACKOFF_MAX_S 3600
#define KC_DOWN_MAX_MS 30000
#define KC_DOWN (-2)		/* kc_round: Kea unreachable */
#define KC_ANSWER_MAX 65536
#define KC_IO_TIMEOUT_S 2
#define KC_ANSWER_TIME_S 5	/* a whole answer, however it trickles */
#define KC_CONFIG_MAX (4 << 20)	/* config-get answer, bytes */
#define KC_FRESH_S 3		/* seconds: a configuration that young is read again */
#define KC_SUBNETS_REFRESH_S 60.0
#define KC_SUBNETS_RETRY_S 10.0	/* after an answer that could not be read */

struct kea_ctrl {
	char *conninfo;
	struct sockaddr_un sun;
	unsigned poll_ms;
	pthread_t thread;
	atomic_int stop;
	atomic_ulong done, errors;
	atomic_ulong nsubnets;
	/* The subnets its Kea serves (drain thread only). */
	struct kea_subnets subnets;
	char *subnets_sql;	/* "{1,7}"; NULL until learnt */
	long kea_pid;
	double kea_reconf;	/* monotonic s of Kea's last configuration */
	double next_fetch;	/* monotonic s */
	int stale;		/* Kea was unreachable: read them again */
};

static double kc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int kc_connect(const struct kea_ctrl *k)
{
	struct timeval tv = { KC_IO_TIMEOUT_S, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&k->sun, sizeof(k->sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads Kea's answer (it closes the connection after one) into *buf
 * (malloc'd, NUL-terminated, *len bytes). Returns 0, ENOTCONN when
 * nothing came within the timeouts, E2BIG when longer than max, ENOMEM. */
static int kc_read(int fd, size_t max, char **buf, size_t *len)
{
	double deadline = kc_now() + KC_ANSWER_TIME_S;
	size_t cap = 16384, n = 0;
	char *b = malloc(cap + 1), *nb;
	ssize_t r;
	int rc = 0;

	while (b && (r = read(fd, b + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n > max || kc_now() > deadline) {
			rc = n > max ? E2BIG : ENOTCONN;
			break;
		}
		if (n == cap) {
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(b, cap + 1);
			if (!nb)
				free(b);
			b = nb;
		}
	}
	if (!b)
		return ENOMEM;
	if (!rc && n == 0)
		rc = ENOTCONN;
	if (rc) {
		free(b);
		return rc;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* Sends a command and reads the answer (kc_read). Returns 0, ENOTCONN
 * when Kea cannot be reached or did not answer, E2BIG, ENOMEM. */
static int kc_request(const struct kea_ctrl *k, const char *cmd, size_t max,
    char **buf, size_t *len)
{
	int fd = kc_connect(k), rc = ENOTCONN;
	size_t n = strlen(cmd);

	if (fd < 0)
		return ENOTCONN;
	if (write(fd, cmd, n) == (ssize_t)n)
		rc = kc_read(fd, max, buf, len);
	close(fd);
	return rc;
}

/* Sends a command and parses the answer; *ans owned by the caller
 * (json_object_put). Returns 0, ENOTCONN (unreachable, no answer), EINVAL
 * (not JSON, or longer than KC_ANSWER_MAX), ENOMEM. */
static int kc_call(const struct kea_ctrl *k, const char *cmd, json_object **ans)
{
	char *buf;
	size_t len;
	int rc = kc_request(k, cmd, KC_ANSWER_MAX, &buf, &len);

	if (rc)
		return rc == E2BIG ? EINVAL : rc;
	*ans = json_tokener_parse(buf);
	free(buf);
	return *ans ? 0 : EINVAL;
}

/* Sends a command; returns Kea's result, or -1 when Kea cannot be reached
 * or its answer cannot be read. */
static int kc_command(const struct kea_ctrl *k, const char *cmd)
{
	json_object *ans, *res;
	int result = -1;

	if (kc_call(k, cmd, &ans))
		return -1;
	if (json_object_object_get_ex(ans, "result", &res))
		result = json_object_get_int(res);
	json_object_put(ans);
	return result;
}

/* Asks Kea to delete the lease of mac in subnet pool_id. Returns 0 when
 * deleted or absent (Kea result 0 or 3), ENOTCONN when Kea cannot be
 * reached (or did not answer), EIO when it answered an error. */
static int kc_lease_del(const struct kea_ctrl *k, const char *pool_id,
    const char *mac)
{
	char cmd[256];
	int n, result;

	n = snprintf(cmd, sizeof(cmd), "{\"command\": \"lease4-del\", "
	    "\"arguments\": {\"subnet-id\": %s, \"identifier-type\": "
	    "\"hw-address\", \"identifier\": \"%s\"}}", pool_id, mac);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return EIO;
	result = kc_command(k, cmd);
	if (result == 0 || result == 3)
		return 0;
	return result < 0 ? ENOTCONN : EIO;
}

static int kc_exec(PGconn *db, const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(db, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	PQclear(r);
	return (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : EIO;
}

/* Settles one outbox row after the attempt to delete its lease. Returns
 * 0, EIO (database error) or ENOTCONN (Kea unreachable: row untouched). */
static int kc_settle(struct kea_ctrl *k, PGconn *db, PGresult *rows, int i)
{
	static struct log_rl rl = LOG_RL_INIT(1, 60);
	const char *id = PQgetvalue(rows, i, 0);
	char poll[16];
	const char *p[2] = { id, poll };
	int rc = kc_lease_del(k, PQgetvalue(rows, i, 1), PQgetvalue(rows, i, 2));

	if (rc == 0) {
		atomic_fetch_add(&k->done, 1);
		return kc_exec(db, "DELETE FROM dpn.lease_deletions WHERE id = $1",
		    1, p);
	}
	atomic_fetch_add(&k->errors, 1);
	if (rc == ENOTCONN)
		return ENOTCONN;
	log_warnx_rl(&rl, "kea_ctrl: Kea refused to remove the lease of %s in "
	    "subnet %s (attempt %d); trying again later",
	    PQgetvalue(rows, i, 2), PQgetvalue(rows, i, 1),
	    atoi(PQgetvalue(rows, i, 3)) + 1);
	snprintf(poll, sizeof(poll), "%.3f", k->poll_ms / 1000.0);
	return kc_exec(db, "UPDATE dpn.lease_deletions SET attempts = attempts + 1, "
	    "next_try = now() + least(" KC_STR(KC_ROW_BACKOFF_MAX_S) ", $2::float8 * "
	    "power(2, least(attempts, 20))) * interval '1 second' WHERE id = $1",
	    2, p);
}

/* Kea's pid and the seconds since its last configuration (status-get).
 * Returns 0, ENOTCONN, or EINVAL when the answer lacks them. */
static int kc_status(const struct kea_ctrl *k, long *pid, long *reload)
{
	json_object *ans, *args, *p, *r;
	int rc = kc_call(k, "{\"command\": \"status-get\"}", &ans);

	if (rc)
		return rc;
	rc = EINVAL;
	if (json_object_object_get_ex(ans, "arguments", &args) &&
	    json_object_object_get_ex(args, "pid", &p) &&
	    json_object_object_get_ex(args, "reload", &r) &&
	    json_object_is_type(p, json_type_int) &&
	    json_object_is_type(r, json_type_int)) {
		*pid = (long)json_object_get_int64(p);
		*reload = (long)json_object_get_int64(r);
		rc = 0;
	}
	json_object_put(ans);
	return rc;
}

/* Reads Kea's configuration into *s. Returns 0, ENOTCONN, or another
 * errno with err saying why. */
static int kc_subnets_read(struct kea_ctrl *k, struct kea_subnets *s,
    char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int rc = kc_request(k, "{\"command\": \"config-get\"}", KC_CONFIG_MAX,
	    &buf, &len);

	if (rc == E2BIG)
		snprintf(err, errlen, "answer longer than %d bytes", KC_CONFIG_MAX);
	else if (rc)
		snprintf(err, errlen, "%s", strerror(rc));
	else
		rc = kea_subnets_parse(buf, len, s, err, errlen);
	free(buf);
	return rc;
}

/* Asks Kea which subnets it serves and, when the answer can be read, takes
 * them as the drain's. Returns 0, ENOTCONN, or another errno (the
 * subnets learnt before are kept). */
static int kc_subnets_fetch(struct kea_ctrl *k, double now)
{
	static struct log_rl rl = LOG_RL_INIT(1, 60);
	struct kea_subnets s = { 0 };
	char err[128], *sql = NULL;
	int rc = kc_subnets_read(k, &s, err, sizeof(err));

	if (!rc && kea_subnets_sql(&s, &sql))
		rc = ENOMEM;
	if (rc) {
		kea_subnets_free(&s);
		k->next_fetch = now + KC_SUBNETS_RETRY_S;
		if (rc != ENOTCONN)
			log_warnx_rl(&rl, "kea_ctrl: cannot read the subnets of "
			    "Kea at %s (config-get: %s); %s", k->sun.sun_path, err,
			    k->subnets_sql ? "keeping those learnt before" :
			    "no lease deletion is taken until it can");
		return rc;
	}
	if (!k->subnets_sql || !kea_subnets_equal(&s, &k->subnets))
		log_info("kea_ctrl: Kea at %s serves %zu subnets; taking their "
		    "lease deletions: %.200s", k->sun.sun_path, s.n, sql);
	kea_subnets_free(&k->subnets);
	free(k->subnets_sql);
	k->subnets = s;
	k->subnets_sql = sql;
	k->next_fetch = now + KC_SUBNETS_REFRESH_S;
	atomic_store(&k->nsubnets, s.n);
	return 0;
}

/* Keeps the drain's subnets up to date (see the top of this file).
 * Returns 0, or ENOTCONN when Kea cannot be reached. */
static int kc_subnets_check(struct kea_ctrl *k)
{
	double now = kc_now();
	long pid = 0, reload = 0;
	double moved;
	int rc, changed;

	rc = kc_status(k, &pid, &reload);
	if (rc == ENOTCONN) {
		k->stale = 1;
		return ENOTCONN;
	}
	/* reload is in whole seconds: a new configuration moves the time it
	 * points at by more than the rounding, unless it came within a second
	 * of the one before; so a configuration younger than KC_FRESH_S is
	 * read again at every round. */
	moved = now - (double)reload - k->kea_reconf;
	changed = rc == 0 && (pid != k->kea_pid || moved > 1.05 ||
	    moved < -1.05 || reload < KC_FRESH_S);
	if (rc == 0) {
		k->kea_pid = pid;
		k->kea_reconf = now - (double)reload;
	}
	if (!changed && !k->stale && now < k->next_fetch)
		return 0;
	rc = kc_subnets_fetch(k, now);
	if (rc == ENOTCONN)
		return ENOTCONN;
	k->stale = 0;
	return 0;
}

/* Whether any row is due, whatever its subnet: 1, 0, or -1 on a
 * database error. */
static int kc_due(PGconn *db)
{
	PGresult *r = PQexec(db, "SELECT 1 FROM dpn.lease_deletions "
	    "WHERE next_try <= now() LIMIT 1");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1;

	PQclear(r);
	return n;
}

/* One round. Returns how many rows it handled, KC_DOWN when Kea could not
 * be reached (what was settled before is kept), or -1 on a database
 * error. */
static int kc_round(struct kea_ctrl *k, PGconn *db)
{
	unsigned long done0 = atomic_load(&k->done);
	PGresult *rows = NULL;
	int i, n = -1, rc = 0, due = kc_due(db);

	/* An empty outbox needs no word with Kea (which may not run yet). */
	if (due <= 0)
		return due;
	if (kc_subnets_check(k) == ENOTCONN)
		return KC_DOWN;
	if (!k->subnets_sql)
		return 0;
	if (kc_exec(db, "BEGIN", 0, NULL))
		return -1;
	/* Only the rows of its own Kea's subnets: the others wait, untouched,
	 * for the mgmtd of the Kea that serves them. */
	rows = PQexecParams(db, "SELECT id, pool_id, mac::text, attempts "
	    "FROM dpn.lease_deletions WHERE next_try <= now() "
	    "AND pool_id = ANY($1::bigint[]) ORDER BY next_try, id "
	    "LIMIT " KC_STR(KC_BATCH) " FOR UPDATE SKIP LOCKED",
	    1, NULL, (const char *const *)&k->subnets_sql, NULL, NULL, 0);
	if (PQresultStatus(rows) != PGRES_TUPLES_OK)
		goto out;
	for (i = 0; i < PQntuples(rows) && rc == 0; i++)
		rc = kc_settle(k, db, rows, i);
	if (rc == EIO || kc_exec(db, "COMMIT", 0, NULL))
		goto out;
	n = rc == ENOTCONN ? KC_DOWN : PQntuples(rows);
	/* The dpn hook caches which devices have reservations; after a
	 * deletion it must ask the database again. Kea without the hook
	 * answers "unsupported": nothing to do then. */
	if (atomic_load(&k->done) > done0)
		kc_command(k, "{\"command\": \"dpn-cache-flush\"}");
out:
	if (n == -1)
		kc_exec(db, "ROLLBACK", 0, NULL);
	PQclear(rows);
	return n;
}

static void kc_sleep(struct kea_ctrl *k, unsigned ms)
{
	while (ms > 0 && !atomic_load(&k->stop)) {
		unsigned step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, (long)step * 1000000L };

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static PGconn *kc_db(struct kea_ctrl *k, PGconn *db)
{
	static struct log_rl rl = LOG_RL_INIT(1, 60);
	const struct pg_opts o = { .conninfo = k->conninfo,
	    .connect_timeout_ms = 5000, .app = "dpn-mgmtd-kea-ctrl" };

	if (db && PQstatus(db) == CONNECTION_OK)
		return db;
	PQfinish(db);
	db = pg_connect(&o);
	if (PQstatus(db) != CONNECTION_OK) {
		log_warnx_rl(&rl, "kea_ctrl: database: %s", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	return db;
}

/* The wait after a round: none after a full batch (more may be due), the
 * poll interval after a short one, and while Kea cannot be reached a wait
 * that doubles each time up to KC_DOWN_MAX_MS. */
static unsigned kc_wait(struct kea_ctrl *k, int n, unsigned *down_ms)
{
	static struct log_rl rl = LOG_RL_INIT(1, 60);

	if (n != KC_DOWN) {
		*down_ms = 0;
		return n == KC_BATCH ? 0 : k->poll_ms;
	}
	k->stale = 1;	/* perhaps another Kea when it answers again */
	*down_ms = *down_ms ? *down_ms * 2 : k->poll_ms;
	if (*down_ms > KC_DOWN_MAX_MS)
		*down_ms = KC_DOWN_MAX_MS;
	log_warnx_rl(&rl, "kea_ctrl: Kea's control socket %s does not answer; "
	    "lease deletions wait (next try in %u ms)", k->sun.sun_path, *down_ms);
	return *down_ms;
}

static void *kc_main(void *arg)
{
	struct kea_ctrl *k = arg;
	PGconn *db = NULL;
	unsigned down_ms = 0;
	int n;

	while (!atomic_load(&k->stop)) {
		db = kc_db(k, db);
		n = db ? kc_round(k, db) : -1;
		kc_sleep(k, kc_wait(k, n, &down_ms));
	}
	PQfinish(db);
	return NULL;
}

int kea_ctrl_start(const char *conninfo, const char *sock_path,
    unsigned poll_ms, struct kea_ctrl **out)
{
	struct kea_ctrl *k;
	int rc;

	if (!conninfo || !sock_path || poll_ms < 50 || poll_ms > 60000 ||
	    strlen(sock_path) >= sizeof(k->sun.sun_path))
		return EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return ENOMEM;
	k->conninfo = strdup(conninfo);
	if (!k->conninfo) {
		free(k);
		return ENOMEM;
	}
	k->sun.sun_family = AF_UNIX;
	strcpy(k->sun.sun_path, sock_path);
	k->poll_ms = poll_ms;
	rc = pthread_create(&k->thread, NULL, kc_main, k);
	if (rc) {
		free(k->conninfo);
		free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void kea_ctrl_stop(struct kea_ctrl *k)
{
	if (!k)
		return;
	atomic_store(&k->stop, 1);
	pthread_join(k->thread, NULL);
	kea_subnets_free(&k->subnets);
	free(k->subnets_sql);
	free(k->conninfo);
	free(k);
}

unsigned long kea_ctrl_done(struct kea_ctrl *k)
{
	return atomic_load(&k->done);
}

unsigned long kea_ctrl_errors(struct kea_ctrl *k)
{
	return atomic_load(&k->errors);
}

unsigned long kea_ctrl_subnets(struct kea_ctrl *k)
{
	return atomic_load(&k->nsubnets);
}
