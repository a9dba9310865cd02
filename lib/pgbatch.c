/* lib/pgbatch.c — the batched PostgreSQL writer thread (see pgbatch.h).
 * The queue is a ring of fixed slots under one mutex; the thread copies up
 * to PG_BATCH_MAX items of its head out (they stay queued until written,
 * so a lost connection loses nothing). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "pgbatch.h"

struct pg_batch {
	struct pg_batch_cfg cfg;
	char *conninfo, *app;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	unsigned head, n;
	char *ring;		/* max_queue slots of item_size */
	struct pg_batch_stats st;
	PGconn *pg;		/* the writer's, touched only by it */
	int down;		/* the writer's: an outage was logged */
	int stopping;		/* the writer's copy of stop, read in take() */
	char *batch;		/* the writer's copy of the queue's head */
};

static char *slot(char *base, const struct pg_batch *b, unsigned i)
{
	return base + (size_t)i * b->cfg.item_size;
}

int pg_batch_exec(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
		 PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok ? 0 : EIO;
}

static int connect_db(struct pg_batch *b)
{
	struct pg_opts o = { .conninfo = b->conninfo,
			     .statement_timeout_ms = 5000, .app = b->app };

	if (b->pg && PQstatus(b->pg) == CONNECTION_OK)
		return 0;
	PQfinish(b->pg);
	b->pg = pg_connect(&o);
	if (b->pg && PQstatus(b->pg) == CONNECTION_OK) {
		if (b->down)
			log_info("%s: database back", b->app);
		b->down = 0;
		return 0;
	}
	if (!b->down)	/* once per outage: retries come every half second */
		log_warnx("%s: database: %s", b->app,
			  b->pg ? PQerrorMessage(b->pg) : "no memory");
	b->down = 1;
	return EIO;
}

/* Items that make a batch worth writing without lingering further: a
 * full batch, or a full queue (smaller than a batch). */
static unsigned batch_full(const struct pg_batch *b)
{
	return b->cfg.max_queue < PG_BATCH_MAX ? b->cfg.max_queue :
	       PG_BATCH_MAX;
}

/* With cfg.linger_ms, wait (mutex held) that long for a full batch once
 * one item is queued: one statement for many items. */
static void linger(struct pg_batch *b)
{
	struct timespec until;

	if (!b->cfg.linger_ms || b->stop || b->n >= batch_full(b))
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += b->cfg.linger_ms / 1000;
	until.tv_nsec += (long)(b->cfg.linger_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (b->n < batch_full(b) && !b->stop &&
	       pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
		;
}

/* Copy up to PG_BATCH_MAX queued items to b->batch, waiting for one;
 * returns how many (0: stopping with nothing left). They stay queued
 * until done(). */
static unsigned take(struct pg_batch *b)
{
	unsigned n;

	pthread_mutex_lock(&b->mu);
	while (!b->n && !b->stop)
		pthread_cond_wait(&b->cv, &b->mu);
	linger(b);
	b->stopping = b->stop;
	for (n = 0; n < b->n && n < PG_BATCH_MAX; n++)
		memcpy(slot(b->batch, b, n),
		       slot(b->ring, b, (b->head + n) % b->cfg.max_queue),
		       b->cfg.item_size);
	pthread_mutex_unlock(&b->mu);
	return n;
}

/* The first n queued items are done, `ok` of them written. */
static void done(struct pg_batch *b, unsigned n, unsigned ok)
{
	pthread_mutex_lock(&b->mu);
	b->head = (b->head + n) % b->cfg.max_queue;
	b->n -= n;
	b->st.written += ok;
	b->st.failed += n - ok;
	pthread_mutex_unlock(&b->mu);
}

static int apply(struct pg_batch *b, unsigned i)
{
	int rc = b->cfg.apply(b->cfg.arg, b->pg, slot(b->batch, b, i));

	if (rc && PQstatus(b->pg) != CONNECTION_OK)
		return EIO;
	return rc;
}

/* The batch in one transaction: 0, EIO (connection lost: retry later),
 * EINVAL (a row refused: rolled back). One item needs no BEGIN/COMMIT
 * (two round trips: most of a lone item's cost at a quiet moment). */
static int apply_batch(struct pg_batch *b, unsigned n)
{
	unsigned i;

	if (n == 1)
		return apply(b, 0);
	if (b->cfg.apply_many) {
		int rc = b->cfg.apply_many(b->cfg.arg, b->pg, b->batch, n);

		return rc && PQstatus(b->pg) != CONNECTION_OK ? EIO : rc;
	}
	if (pg_batch_exec(b->pg, "BEGIN"))
		return EIO;
	for (i = 0; i < n; i++)
		if (apply(b, i))
			break;
	if (i == n && pg_batch_exec(b->pg, "COMMIT") == 0)
		return 0;
	if (PQstatus(b->pg) != CONNECTION_OK)
		return EIO;
	pg_batch_exec(b->pg, "ROLLBACK");
	return EINVAL;
}

/* One at a time, after a refused row: how many were written, or -1 when
 * the connection went. */
static int apply_each(struct pg_batch *b, unsigned n)
{
	unsigned i, ok = 0;

	for (i = 0; i < n; i++) {
		int rc = apply(b, i);

		if (rc == EIO)
			return -1;
		ok += rc == 0;
	}
	return (int)ok;
}

static void *writer(void *arg)
{
	struct pg_batch *b = arg;
	unsigned n, tries = 0;
	int rc, ok;

	while ((n = take(b)) > 0) {
		/* Stopping with the database down: ~2 s of retries, then
		 * whatever is left goes without another connection attempt. */
		if (b->stopping && tries > 4) {
			done(b, n, 0);
			continue;
		}
		rc = connect_db(b) ? EIO : apply_batch(b, n);
		if (rc == 0) {
			done(b, n, n);
			tries = 0;
			continue;
		}
		if (rc == EINVAL && n == 1) {	/* refused on its own already */
			done(b, 1, 0);
			continue;
		}
		if (rc == EINVAL && (ok = apply_each(b, n)) >= 0) {
			done(b, n, (unsigned)ok);
			continue;
		}
		tries += b->stopping;
		usleep(500 * 1000);
	}
	PQfinish(b->pg);
	return NULL;
}

static void batch_free_mem(struct pg_batch *b)
{
	free(b->ring);
	free(b->batch);
	free(b->conninfo);
	free(b->app);
	free(b);
}

int pg_batch_new(const struct pg_batch_cfg *cfg, struct pg_batch **out)
{
	struct pg_batch *b;
	int rc;

	if (!cfg->conninfo || !cfg->apply || !cfg->item_size ||
	    !cfg->max_queue)
		return EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->cfg = *cfg;
	b->ring = calloc(cfg->max_queue, cfg->item_size);
	b->batch = calloc(PG_BATCH_MAX, cfg->item_size);
	b->conninfo = strdup(cfg->conninfo);
	b->app = strdup(cfg->app ? cfg->app : "dpn");
	if (!b->ring || !b->batch || !b->conninfo || !b->app) {
		batch_free_mem(b);
		return ENOMEM;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	rc = pthread_create(&b->thread, NULL, writer, b);
	if (rc) {
		pthread_mutex_destroy(&b->mu);
		pthread_cond_destroy(&b->cv);
		batch_free_mem(b);
		return rc;
	}
	*out = b;
	return 0;
}

void pg_batch_free(struct pg_batch *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	batch_free_mem(b);
}

int pg_batch_push(struct pg_batch *b, const void *item)
{
	int rc = 0;

	pthread_mutex_lock(&b->mu);
	if (b->n >= b->cfg.max_queue) {
		b->st.dropped++;
		rc = ENOBUFS;
	} else {
		memcpy(slot(b->ring, b, (b->head + b->n) % b->cfg.max_queue),
		       item, b->cfg.item_size);
		b->n++;
		/* The writer waits for a first item, or lingers for a full
		 * batch: a wake-up per item would only put it back to sleep. */
		if (b->n == 1 || b->n == batch_full(b))
			pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

void pg_batch_stats(struct pg_batch *b, struct pg_batch_stats *out)
{
	pthread_mutex_lock(&b->mu);
	*out = b->st;
	out->queued = b->n;
	pthread_mutex_unlock(&b->mu);
}
