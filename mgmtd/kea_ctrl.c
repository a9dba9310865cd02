/* mgmtd/kea_ctrl.c — the lease-deletion outbox to Kea (see kea_ctrl.h).
 *
 * Each round takes up to KC_BATCH rows of dpn.lease_deletions with FOR
 * UPDATE SKIP LOCKED (several mgmtd processes may run), sends lease4-del by
 * subnet and MAC (the address alone could name another device's lease
 * later), deletes the rows Kea acknowledged and counts an attempt on the
 * others, all in one transaction. A row that failed KC_MAX_ATTEMPTS times
 * is dropped with a warning: the lease then simply runs out in Kea. */
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

#include "log.h"
#include "pg.h"

#define KC_BATCH 64
#define KC_MAX_ATTEMPTS 1000
#define KC_ANSWER_MAX 65536
#define KC_IO_TIMEOUT_S 2

struct kea_ctrl {
	char *conninfo;
	struct sockaddr_un sun;
	unsigned poll_ms;
	pthread_t thread;
	atomic_int stop;
	atomic_ulong done, errors;
};

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

/* Reads Kea's answer (it closes the connection after one) and returns its
 * "result", or -1 when unreadable. */
static int kc_read_result(int fd)
{
	char *buf = malloc(KC_ANSWER_MAX + 1);
	size_t len = 0;
	ssize_t n;
	json_object *ans = NULL, *res;
	int result = -1;

	if (!buf)
		return -1;
	while (len < KC_ANSWER_MAX &&
	    (n = read(fd, buf + len, KC_ANSWER_MAX - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	ans = json_tokener_parse(buf);
	if (ans && json_object_object_get_ex(ans, "result", &res))
		result = json_object_get_int(res);
	json_object_put(ans);
	free(buf);
	return result;
}

/* Sends a command without arguments; returns Kea's result or -1. */
static int kc_command(const struct kea_ctrl *k, const char *cmd)
{
	int fd = kc_connect(k), result = -1;
	size_t n = strlen(cmd);

	if (fd < 0)
		return -1;
	if (write(fd, cmd, n) == (ssize_t)n)
		result = kc_read_result(fd);
	close(fd);
	return result;
}

/* Asks Kea to delete the lease of mac in subnet pool_id. Returns 0 when
 * deleted or absent (Kea result 0 or 3), EIO otherwise. */
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
	return (result == 0 || result == 3) ? 0 : EIO;
}

static int kc_exec(PGconn *db, const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(db, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	PQclear(r);
	return (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : EIO;
}

/* Settles one outbox row after the attempt to delete its lease. */
static int kc_settle(struct kea_ctrl *k, PGconn *db, PGresult *rows, int i)
{
	const char *id = PQgetvalue(rows, i, 0);
	const char *p[1] = { id };

	if (kc_lease_del(k, PQgetvalue(rows, i, 1), PQgetvalue(rows, i, 2)) == 0) {
		atomic_fetch_add(&k->done, 1);
		return kc_exec(db, "DELETE FROM dpn.lease_deletions WHERE id = $1",
		    1, p);
	}
	atomic_fetch_add(&k->errors, 1);
	if (atoi(PQgetvalue(rows, i, 3)) + 1 >= KC_MAX_ATTEMPTS) {
		log_warnx("kea_ctrl: giving up removing the lease of %s in subnet %s",
		    PQgetvalue(rows, i, 2), PQgetvalue(rows, i, 1));
		return kc_exec(db, "DELETE FROM dpn.lease_deletions WHERE id = $1",
		    1, p);
	}
	return kc_exec(db, "UPDATE dpn.lease_deletions SET attempts = attempts + 1 "
	    "WHERE id = $1", 1, p);
}

/* One round. Returns how many rows it handled, or -1 on a database error. */
static int kc_round(struct kea_ctrl *k, PGconn *db)
{
	PGresult *rows = NULL;
	int i, n = -1;

	if (kc_exec(db, "BEGIN", 0, NULL))
		return -1;
	rows = PQexec(db, "SELECT id, pool_id, mac::text, attempts "
	    "FROM dpn.lease_deletions ORDER BY id LIMIT 64 FOR UPDATE SKIP LOCKED");
	if (PQresultStatus(rows) != PGRES_TUPLES_OK)
		goto out;
	for (i = 0; i < PQntuples(rows); i++)
		if (kc_settle(k, db, rows, i))
			goto out;
	if (kc_exec(db, "COMMIT", 0, NULL) == 0)
		n = PQntuples(rows);
	/* The dpn hook caches which devices have reservations; after a
	 * deletion it must ask the database again. Kea without the hook
	 * answers "unsupported": nothing to do then. */
	if (n > 0)
		kc_command(k, "{\"command\": \"dpn-cache-flush\"}");
out:
	if (n < 0)
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

static void *kc_main(void *arg)
{
	struct kea_ctrl *k = arg;
	PGconn *db = NULL;
	int n;

	while (!atomic_load(&k->stop)) {
		db = kc_db(k, db);
		n = db ? kc_round(k, db) : -1;
		if (n != KC_BATCH)
			kc_sleep(k, k->poll_ms);
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
