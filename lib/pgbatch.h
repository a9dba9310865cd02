/* lib/pgbatch.h — rows written to PostgreSQL behind a hot path. The
 * caller's thread queues fixed-size items (pg_batch_push copies one and
 * never waits for the database); a writer thread with its own connection
 * takes up to PG_BATCH_MAX of them at a time (after lingering up to
 * cfg.linger_ms for them, when set) and applies them in order in one
 * transaction through the caller's apply function, or in one statement
 * through its apply_many (a power cut brings every gateway back at once:
 * one commit per row would not keep up). When
 * a row is refused the batch is rolled back and applied one item at a
 * time, so one bad row costs only itself. A lost connection is retried
 * every half second, the items staying queued. A full queue drops the
 * item and counts it. */
#ifndef DPN_PGBATCH_H
#define DPN_PGBATCH_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#define PG_BATCH_MAX 256

struct pg_batch;

/* Apply one item on the writer's connection (inside a transaction, or
 * alone after a refused batch): 0, EINVAL (the row was refused: logged by
 * the callee), or EIO (the connection is to be reset). Runs on the writer
 * thread. */
typedef int (*pg_batch_apply_fn)(void *arg, PGconn *pg, const void *item);

/* Apply n items (1 < n <= PG_BATCH_MAX, item_size apart) in one
 * statement, outside a transaction: 0, EINVAL (refused: each is then
 * applied alone), EIO. Optional; runs on the writer thread. */
typedef int (*pg_batch_apply_many_fn)(void *arg, PGconn *pg,
				      const void *items, unsigned n);

struct pg_batch_cfg {
	const char *conninfo;
	const char *app;		/* application_name */
	size_t item_size;
	unsigned max_queue;		/* items waiting at most */
	pg_batch_apply_fn apply;
	pg_batch_apply_many_fn apply_many;	/* NULL: apply each in a
						 * transaction */
	unsigned linger_ms;		/* wait this long for a batch to
					 * fill once an item is queued
					 * (0: write at once) */
	void *arg;			/* for apply, apply_many */
};

struct pg_batch_stats {
	uint64_t written, dropped, failed;
	unsigned queued;
};

/* A writer (its thread started). 0, EINVAL (no conninfo, apply, size or
 * queue), ENOMEM, or the pthread error. Free with pg_batch_free. */
int pg_batch_new(const struct pg_batch_cfg *cfg, struct pg_batch **out);
/* Writes what is queued (waiting at most ~2 s for the database), stops
 * the thread, frees. NULL is fine. */
void pg_batch_free(struct pg_batch *b);
/* Queue a copy of cfg.item_size bytes at item: 0, or ENOBUFS (queue full:
 * dropped and counted). Any thread. */
int pg_batch_push(struct pg_batch *b, const void *item);
void pg_batch_stats(struct pg_batch *b, struct pg_batch_stats *out);

/* Run a statement without parameters on pg: 0 or EIO. */
int pg_batch_exec(PGconn *pg, const char *sql);

#endif
