/* mgmtd/db.c — a locked pool of PostgreSQL connections: reconnect on
 * demand, statements prepared once per connection, transactions retried on
 * serialization failure and deadlock, and SQL errors mapped to HTTP answers
 * (api_txn, api_sql of api.h). Each connection defers the change
 * notifications of its transactions to after their commit (schema 103):
 * a one-statement request sends BEGIN, the statement, COMMIT and
 * dpn.notify_flush() in one flight (one_flight); after a transaction of
 * several statements dpn.notify_flush() is sent when the connection is
 * released and read when it is next taken. dpn.notify_resync() makes up
 * for any that may have been lost (at start, and after losing a
 * connection that had written). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg.h"
#include "server.h"

#define DB_MAX_STMTS   256
#define DB_WAIT_S      5          /* wait for a free connection */
#define DB_RETRIES     30         /* serialization failure, deadlock */
#define DB_RECONNECT_NS (500u * 1000 * 1000)  /* between failed connects */

struct db_conn {
	PGconn *pg;
	const char *stmts[DB_MAX_STMTS];   /* index i is statement "s<i>" */
	char *texts[DB_MAX_STMTS];         /* copies: a reused buffer is caught */
	int nstmts;
	int busy;
	int wrote;        /* may have queued notifications since the last flush */
	int flushing;     /* dpn.notify_flush() sent, its result not read */
	int prepared;	/* notify_flush, dpn_begin, dpn_commit prepared here */
};

struct api_tx {
	struct api_req *r;                 /* NULL outside requests */
	struct db_conn *c;
	int failed, conn_lost;
	char sqlstate[6];
	char message[512];
	char constraint[128];
	char column[64];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct db_conn *conns;
	unsigned n;
	char *conninfo;
	uint64_t last_fail_ns;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, NULL, 0 };

/* Real database failures only (connection lost or refused, statements
 * failing for reasons other than the request's content, busy after every
 * retry): a refused request (409, 422) is the client's error. */
static atomic_ulong db_error_count;

/* Set when notifications may have been lost: the next connection taken
 * runs dpn.notify_resync() first. Set at start (the previous run may have
 * died between a commit and its flush). */
static atomic_int notify_resync = 1;

unsigned long db_errors(void) { return atomic_load(&db_error_count); }

int db_init(const char *conninfo, unsigned size)
{
	pool.conns = calloc(size, sizeof(*pool.conns));
	pool.conninfo = strdup(conninfo);
	if (!pool.conns || !pool.conninfo) {
		db_free();
		return ENOMEM;
	}
	pool.n = size;
	return 0;
}

static void conn_drop(struct db_conn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
	if (c->wrote || c->flushing)
		atomic_store(&notify_resync, 1);
	c->wrote = c->flushing = c->prepared = 0;
	for (int i = 0; i < c->nstmts; i++)
		free(c->texts[i]);
	c->nstmts = 0;
}

void db_free(void)
{
	for (unsigned i = 0; i < pool.n; i++)
		conn_drop(&pool.conns[i]);
	free(pool.conns);
	free(pool.conninfo);
	pool.conns = NULL;
	pool.conninfo = NULL;
	pool.n = 0;
}

/* Prepares the flush sent after every writing request, and the BEGIN and
 * COMMIT that one_flight sends around a statement: no parse or plan per
 * request. A database without dpn.notify_flush (not migrated yet) gets the
 * flush unprepared at release, as before, and no one_flight. */
static void fixed_prepare(struct db_conn *c)
{
	static const char *const stmt[][2] = { { "notify_flush",
	    "SELECT dpn.notify_flush()" }, { "dpn_begin", "BEGIN" },
	    { "dpn_commit", "COMMIT" } };
	PGresult *res;

	c->prepared = 1;
	for (size_t i = 0; i < sizeof(stmt) / sizeof(stmt[0]); i++) {
		res = PQprepare(c->pg, stmt[i][0], stmt[i][1], 0, NULL);
		c->prepared &= PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
}

/* Connects c if it has no live connection; EAGAIN when PostgreSQL is away
 * (and at most one attempt per DB_RECONNECT_NS across the pool). */
static int conn_ensure(struct db_conn *c)
{
	const struct pg_opts o = { .conninfo = pool.conninfo,
	    .connect_timeout_ms = 3000, .app = "dpn-mgmtd" };
	static struct log_rl rl = LOG_RL_INIT(5, 60);
	uint64_t now = http_now_ns(), last;
	PGresult *res;

	if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	conn_drop(c);
	pthread_mutex_lock(&pool.mu);
	last = pool.last_fail_ns;
	pthread_mutex_unlock(&pool.mu);
	if (last && now - last < DB_RECONNECT_NS)
		return EAGAIN;
	c->pg = pg_connect(&o);
	if (PQstatus(c->pg) == CONNECTION_OK) {
		res = PQexec(c->pg, "SET statement_timeout = 15000; "
		    "SET lock_timeout = 10000; SET client_min_messages = warning; "
		    "SET dpn.notify_defer = on");
		PQclear(res);
		fixed_prepare(c);
		if (PQstatus(c->pg) == CONNECTION_OK)
			return 0;
	}
	log_warnx_rl(&rl, "database: %s", PQerrorMessage(c->pg));
	atomic_fetch_add(&db_error_count, 1);
	conn_drop(c);
	pthread_mutex_lock(&pool.mu);
	pool.last_fail_ns = http_now_ns();
	pthread_mutex_unlock(&pool.mu);
	return EAGAIN;
}

/* Reads the result of the notify_flush c sent when it was released; a
 * failed one means lost notifications (then resync). */
static void notify_drain(struct db_conn *c)
{
	PGresult *res;
	int ok = 1;

	if (!c->flushing)
		return;
	c->flushing = 0;
	while ((res = PQgetResult(c->pg))) {
		ok &= PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
	}
	if (!ok || PQstatus(c->pg) != CONNECTION_OK)
		atomic_store(&notify_resync, 1);
}

/* Runs dpn.notify_resync() on c when notifications may have been lost.
 * A database without it (not migrated yet) has no listeners to tell. */
static void notify_resync_run(struct db_conn *c)
{
	PGresult *res;
	const char *st;

	if (!atomic_exchange(&notify_resync, 0))
		return;
	res = PQexec(c->pg, "SELECT dpn.notify_resync()");
	st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && !(st && !strcmp(st, "42883")))
		atomic_store(&notify_resync, 1);
	PQclear(res);
}

/* Takes a free connection, waiting up to DB_WAIT_S; connects it if needed.
 * EAGAIN when none is free in time or the database is away. */
static int db_acquire(struct db_conn **out)
{
	struct timespec until;
	struct db_conn *c = NULL;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DB_WAIT_S;
	pthread_mutex_lock(&pool.mu);
	while (!c) {
		for (unsigned i = 0; i < pool.n && !c; i++)
			if (!pool.conns[i].busy)
				c = &pool.conns[i];
		if (!c && pthread_cond_timedwait(&pool.cv, &pool.mu, &until) == ETIMEDOUT)
			break;
	}
	if (c)
		c->busy = 1;
	pthread_mutex_unlock(&pool.mu);
	if (!c)
		return EAGAIN;
	if (c->pg)
		notify_drain(c);
	if ((rc = conn_ensure(c)) == 0)
		notify_resync_run(c);
	if (rc) {
		pthread_mutex_lock(&pool.mu);
		c->busy = 0;
		pthread_cond_signal(&pool.cv);
		pthread_mutex_unlock(&pool.mu);
		return rc;
	}
	*out = c;
	return 0;
}

/* Sends dpn.notify_flush() for what c's transactions queued (without
 * waiting: notify_drain reads the answer), or drops a lost connection. */
static void db_release(struct db_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && c->wrote) {
		c->flushing = c->prepared ?
		    PQsendQueryPrepared(c->pg, "notify_flush", 0, NULL, NULL, NULL, 0) :
		    PQsendQuery(c->pg, "SELECT dpn.notify_flush()");
		c->wrote = !c->flushing;
	}
	if (c->pg && (PQstatus(c->pg) != CONNECTION_OK ||
	    PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF))
		conn_drop(c);
	pthread_mutex_lock(&pool.mu);
	c->busy = 0;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

/* Records why a statement failed, for the mapping in answer_sql_error. */
static void tx_fail(struct api_tx *tx, const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *k = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	const char *col = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;

	tx->failed = 1;
	snprintf(tx->sqlstate, sizeof(tx->sqlstate), "%s", s ? s : "");
	snprintf(tx->message, sizeof(tx->message), "%s",
	    m ? m : PQerrorMessage(tx->c->pg));
	snprintf(tx->constraint, sizeof(tx->constraint), "%s", k ? k : "");
	snprintf(tx->column, sizeof(tx->column), "%s", col ? col : "");
	if (PQstatus(tx->c->pg) != CONNECTION_OK || !s || strncmp(s, "08", 2) == 0 ||
	    strncmp(s, "57P", 3) == 0)
		tx->conn_lost = 1;
}

/* The prepared name of sql on this connection, preparing it on first use.
 * *prepared 0 when the cache is full or memory short: the caller runs it
 * unprepared. EIO when preparing failed (recorded in tx). */
static int stmt_name(struct api_tx *tx, const char *sql, int n, char name[16],
    int *prepared)
{
	struct db_conn *c = tx->c;
	PGresult *res;
	int i;

	*prepared = 0;
	for (i = 0; i < c->nstmts; i++)
		if (c->stmts[i] == sql && strcmp(c->texts[i], sql) == 0)
			break;
	if (i == DB_MAX_STMTS)
		return 0;
	snprintf(name, 16, "s%d", i);
	if (i == c->nstmts) {
		if (!(c->texts[i] = strdup(sql)))
			return 0;
		res = PQprepare(c->pg, name, sql, n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			tx_fail(tx, res);
			PQclear(res);
			free(c->texts[i]);
			return EIO;
		}
		PQclear(res);
		c->stmts[c->nstmts++] = sql;
	}
	*prepared = 1;
	return 0;
}

int api_sql_v(struct api_tx *tx, PGresult **out, const char *sql,
    int nparams, const char *const *params)
{
	char name[16];
	int prepared;
	PGresult *res;
	ExecStatusType st;

	if (tx->failed)
		return EIO;
	if (stmt_name(tx, sql, nparams, name, &prepared))
		return EIO;
	if (prepared)
		res = PQexecPrepared(tx->c->pg, name, nparams, params, NULL, NULL, 0);
	else
		res = PQexecParams(tx->c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		tx_fail(tx, res);
		PQclear(res);
		return EIO;
	}
	*out = res;
	return 0;
}

/* Ends a failed transaction, unless its connection is gone. */
static void tx_rollback(struct api_tx *tx)
{
	PGresult *res;

	if (tx->conn_lost)
		return;
	res = PQexec(tx->c->pg, "ROLLBACK");
	PQclear(res);
}

/* Reads the n results of a pipeline and its Sync into res[] (each one
 * cleared by the caller, NULL when not read) and leaves pipeline mode.
 * EIO when the connection failed on the way (then it stays in pipeline
 * mode, and db_release drops it). */
static int pipe_read(PGconn *pg, PGresult **res, int n)
{
	PGresult *end;
	int ok;

	for (int i = 0; i < n; i++) {
		if (!(res[i] = PQgetResult(pg)))
			return EIO;
		if ((end = PQgetResult(pg))) {     /* one statement, one result */
			PQclear(end);
			return EIO;
		}
	}
	end = PQgetResult(pg);
	ok = PQresultStatus(end) == PGRES_PIPELINE_SYNC;
	PQclear(end);
	return ok && PQexitPipelineMode(pg) ? 0 : EIO;
}

/* One statement in a transaction of its own, and the flush of the
 * notifications it queued (schema 103), in one flight: BEGIN, the
 * statement, COMMIT and dpn.notify_flush() sent together in pipeline mode
 * with one Sync, so PostgreSQL reads them with one wake-up and answers
 * them with one write (the separate flush after the answer was one more
 * round trip per writing request). An error skips the rest up to the
 * Sync: the flush runs only after the commit succeeded. 0 with *out (the
 * statement's result), or EIO recorded in tx; the caller rolls back. */
static int one_flight(struct api_tx *tx, PGresult **out, const char *sql,
    int n, const char *const *params)
{
	PGconn *pg = tx->c->pg;
	PGresult *res[4] = { NULL, NULL, NULL, NULL };
	char name[16];
	int prepared, rc = EIO;

	if (stmt_name(tx, sql, n, name, &prepared))
		return EIO;
	if (!PQenterPipelineMode(pg) ||
	    !PQsendQueryPrepared(pg, "dpn_begin", 0, NULL, NULL, NULL, 0) ||
	    !(prepared ? PQsendQueryPrepared(pg, name, n, params, NULL, NULL, 0) :
	    PQsendQueryParams(pg, sql, n, NULL, params, NULL, NULL, 0)) ||
	    !PQsendQueryPrepared(pg, "dpn_commit", 0, NULL, NULL, NULL, 0) ||
	    !PQsendQueryPrepared(pg, "notify_flush", 0, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(pg) || pipe_read(pg, res, 4)) {
		tx_fail(tx, NULL);
		tx->conn_lost = 1;
	} else if (PQresultStatus(res[0]) != PGRES_COMMAND_OK) {
		tx_fail(tx, res[0]);
	} else if (PQresultStatus(res[1]) != PGRES_TUPLES_OK &&
	    PQresultStatus(res[1]) != PGRES_COMMAND_OK) {
		tx_fail(tx, res[1]);
	} else if (PQresultStatus(res[2]) != PGRES_COMMAND_OK) {
		tx_fail(tx, res[2]);
	} else {
		*out = res[1];
		res[1] = NULL;
		rc = 0;
	}
	/* What this transaction queued left with the flush or was undone
	 * with it; a failed flush after a commit: resync. A lost connection
	 * keeps wrote (the commit may have happened; resync on drop). */
	if (!tx->conn_lost)
		tx->c->wrote = 0;
	if (rc == 0 && PQresultStatus(res[3]) != PGRES_TUPLES_OK)
		atomic_store(&notify_resync, 1);
	for (int i = 0; i < 4; i++)
		PQclear(res[i]);
	if (rc)
		tx_rollback(tx);
	return rc;
}

/* A plain command (BEGIN, COMMIT, ROLLBACK). */
static int tx_cmd(struct api_tx *tx, const char *sql)
{
	PGresult *res;

	if (api_sql(tx, &res, sql))
		return EIO;
	PQclear(res);
	return 0;
}

struct api_req *api_tx_req(struct api_tx *tx) { return tx->r; }

const char *api_scope(const struct api_req *r)
{
	return r->user.role == API_ROLE_MANAGER ? r->user.id : NULL;
}

static const struct api_constraint *find_constraint(
    const struct api_constraint *map, const char *name)
{
	for (; map && map->name; map++)
		if (strcmp(map->name, name) == 0)
			return map;
	return NULL;
}

/* The broker's errors name the argument at fault in the COLUMN field. */
static const char *err_field(const struct api_tx *tx)
{
	return tx->column[0] ? tx->column : NULL;
}

static void answer_conflict(struct api_req *r, struct api_tx *tx,
    const struct api_constraint *map, unsigned status, const char *what)
{
	const struct api_constraint *k = find_constraint(map, tx->constraint);

	if (k)
		api_error(r, k->status, k->field, "%s", k->message);
	else
		api_error(r, status, NULL, "%s (%s)", what,
		    tx->constraint[0] ? tx->constraint : tx->message);
}

/* Answers a failed transaction from its SQLSTATE. */
static void answer_sql_error(struct api_req *r, struct api_tx *tx,
    const struct api_constraint *map)
{
	static struct log_rl rl = LOG_RL_INIT(10, 60);
	const char *s = tx->sqlstate;

	if (tx->conn_lost) {
		atomic_fetch_add(&db_error_count, 1);
		api_error(r, 503, NULL, "database unavailable; try again later");
	} else if (!strcmp(s, "D1001")) {
		api_error(r, 404, err_field(tx), "%s", tx->message);
	} else if (!strcmp(s, "D1002") || !strcmp(s, "D1003")) {
		api_error(r, 409, err_field(tx), "%s", tx->message);
	} else if (!strcmp(s, "D1004")) {
		api_error(r, 422, err_field(tx), "%s", tx->message);
	} else if (!strcmp(s, "23505") || !strcmp(s, "23P01")) {
		answer_conflict(r, tx, map, 409, "conflicts with an existing record");
	} else if (!strcmp(s, "23503")) {
		answer_conflict(r, tx, map, 409, "still in use or refers to a missing record");
	} else if (!strcmp(s, "23514") || !strcmp(s, "23502") || !strncmp(s, "22", 2)) {
		answer_conflict(r, tx, map, 422, "invalid value");
	} else if (!strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "55P03") ||
	    !strcmp(s, "57014")) {
		atomic_fetch_add(&db_error_count, 1);
		api_error(r, 503, NULL, "database busy; try again");
	} else {
		atomic_fetch_add(&db_error_count, 1);
		log_warnx_rl(&rl, "%s %s: SQL error %s: %s", r->method, r->path, s,
		    tx->message);
		api_error(r, 500, NULL, "database error");
	}
}

static int retryable(const struct api_tx *tx)
{
	return !strcmp(tx->sqlstate, "40001") || !strcmp(tx->sqlstate, "40P01");
}

static void backoff(int attempt)
{
	static _Thread_local unsigned seed;
	struct timespec ts = { 0, 0 };

	if (!seed)
		seed = (unsigned)http_now_ns() ^ (unsigned)(uintptr_t)&ts;
	ts.tv_nsec = (long)(rand_r(&seed) % (1000000u * (unsigned)(attempt < 10 ? attempt + 1 : 10)));
	nanosleep(&ts, NULL);
}

/* One attempt: 0 committed; -1 fn refused (answered); EIO SQL failure. */
/* "user:NAME" or "gateway:NAME" for the audit log; "" when nobody. */
static void actor_of(const struct api_req *r, char *buf, size_t size)
{
	if (r && r->user.username[0])
		snprintf(buf, size, "user:%s", r->user.username);
	else if (r && r->gw.username[0])
		snprintf(buf, size, "gateway:%s", r->gw.username);
	else
		snprintf(buf, size, "system");
}

/* Tells the schema's audit triggers and functions who acts (dpn.actor). */
static int tx_set_actor(struct api_tx *tx)
{
	char actor[96];
	PGresult *res;

	actor_of(tx->r, actor, sizeof(actor));
	if (api_sql(tx, &res, "SELECT set_config('dpn.actor', $1, true)", actor))
		return EIO;
	PQclear(res);
	return 0;
}

/* What one attempt runs: a transaction around fn, or one statement. */
struct attempt {
	const char *begin;        /* NULL: one autocommit statement */
	api_txn_fn fn;
	void *arg;
	PGresult **out;
	const char *sql;
	int n;
	const char *const *params;
};

/* One attempt: 0 done; -1 fn refused (answered); EIO SQL failure. */
static int attempt_once(struct api_tx *tx, const struct attempt *a)
{
	int rc;

	if (!a->begin)
		return tx->c->prepared ?
		    one_flight(tx, a->out, a->sql, a->n, a->params) :
		    api_sql_v(tx, a->out, a->sql, a->n, a->params);
	if (tx_cmd(tx, a->begin) || (strcmp(a->begin, "BEGIN") == 0 && tx_set_actor(tx)))
		return EIO;
	rc = a->fn(tx, a->arg);
	if (rc == 0 && !tx->failed && tx_cmd(tx, "COMMIT") == 0)
		return 0;
	tx_rollback(tx);
	return tx->failed ? EIO : -1;
}

/* Runs attempts until one is done, retrying serialization failures and
 * deadlocks with a jittered backoff, and a lost connection once. */
static int run_retrying(struct api_req *r, const struct attempt *a,
    const struct api_constraint *map)
{
	struct api_tx tx;
	int rc = EIO, reconnects = 0;

	for (int n = 0; n < DB_RETRIES; n++) {
		memset(&tx, 0, sizeof(tx));
		tx.r = r;
		if (db_acquire(&tx.c)) {
			api_error(r, 503, NULL, "database unavailable; try again later");
			return EAGAIN;
		}
		tx.c->wrote |= !a->begin || strcmp(a->begin, "BEGIN") == 0;
		rc = attempt_once(&tx, a);
		db_release(tx.c);
		if (rc != EIO)
			return rc;
		if (retryable(&tx)) {
			backoff(n);
			continue;
		}
		/* A connection that died under us (PostgreSQL restarted): once
		 * more on a fresh one. */
		if (tx.conn_lost && reconnects++ == 0) {
			atomic_fetch_add(&db_error_count, 1);
			continue;
		}
		break;
	}
	answer_sql_error(r, &tx, map);
	return rc;
}

int api_txn(struct api_req *r, api_txn_fn fn, void *arg,
    const struct api_constraint *constraints)
{
	struct attempt a = { .begin = "BEGIN", .fn = fn, .arg = arg };

	return run_retrying(r, &a, constraints);
}

int api_txn_ro(struct api_req *r, api_txn_fn fn, void *arg)
{
	struct attempt a = { .begin = "BEGIN READ ONLY", .fn = fn, .arg = arg };

	return run_retrying(r, &a, NULL);
}

int api_sql1_v(struct api_req *r, PGresult **out,
    const struct api_constraint *constraints, const char *sql, int nparams,
    const char *const *params)
{
	struct attempt a = { .out = out, .sql = sql, .n = nparams, .params = params };

	return run_retrying(r, &a, constraints);
}

int api_answer_row(struct api_req *r, PGresult *res, unsigned status,
    const char *notfound)
{
	int found = PQntuples(res) > 0;

	if (found)
		api_json_text(r, status, PQgetvalue(res, 0, 0));
	else
		api_error(r, 404, NULL, "%s", notfound);
	PQclear(res);
	return found ? 0 : -1;
}

int api_get_one_v(struct api_req *r, const char *notfound, const char *sql,
    int nparams, const char *const *params)
{
	PGresult *res;

	if (api_sql1_v(r, &res, NULL, sql, nparams, params))
		return EIO;
	return api_answer_row(r, res, 200, notfound) ? ENOENT : 0;
}

int api_audit(struct api_tx *tx, const char *action, const char *object,
    const char *detail_json)
{
	char actor[96];
	PGresult *res;

	actor_of(tx->r, actor, sizeof(actor));
	if (api_sql(tx, &res, "INSERT INTO dpn.audit_log (actor, action, object, "
	    "detail) VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'))", actor, action, object,
	    detail_json))
		return EIO;
	PQclear(res);
	return 0;
}

int db_query(PGresult **out, const char *sql, int n, const char *const *params)
{
	struct api_tx tx;
	int rc = EIO;

	for (int attempt = 0; attempt < 2; attempt++) {
		memset(&tx, 0, sizeof(tx));
		if (db_acquire(&tx.c))
			return EAGAIN;
		tx.c->wrote = 1;
		rc = api_sql_v(&tx, out, sql, n, params);
		db_release(tx.c);
		if (rc == 0)
			return 0;
		atomic_fetch_add(&db_error_count, 1);
		if (!tx.conn_lost)
			return EIO;
	}
	return EAGAIN;
}

int db_ping(void)
{
	PGresult *res;

	if (db_query(&res, "SELECT 1", 0, NULL))
		return 0;
	PQclear(res);
	return 1;
}

int api_answer_audited(struct api_tx *tx, PGresult *res, unsigned status,
    const char *notfound, const char *action, const char *object)
{
	struct api_req *r = tx->r;
	int rc = -1;

	if (PQntuples(res) == 0)
		api_error(r, 404, NULL, "%s", notfound);
	else if (api_audit(tx, action, object, PQgetvalue(res, 0, 0)) == 0) {
		if (status == 204)
			api_no_content(r);
		else
			api_json_text(r, status, PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	return rc;
}
