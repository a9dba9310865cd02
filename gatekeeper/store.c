/* gatekeeper/store.c — the binding writer thread (see store.h). The queue
 * is a ring of fixed slots under one mutex; the thread copies up to BATCH
 * changes out and writes them in one transaction (a power cut brings every
 * gateway back at once: one commit per REGISTER would not keep up). When a
 * row is refused the batch is rolled back and written one change at a
 * time, so one bad row costs only itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/store.h"
#include "log.h"
#include "pg.h"

struct op {
	int64_t flat_id;
	int del;
	struct sip_reg_binding b;
};

#define BATCH 256

struct gk_store {
	char *conninfo;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	unsigned cap, head, n;
	struct op *ring;
	struct gk_store_stats st;
	PGconn *pg;		/* the writer's, touched only by it */
	struct op batch[BATCH];	/* the writer's copy of the queue's head */
};

static const char upsert_sql[] =
	"INSERT INTO dpn.gk_bindings AS b (flat_id, contact, source_addr, "
	"source_port, transport, user_agent, call_id, cseq, registered_at, "
	"expires_at) SELECT $1, $2, $3::inet, $4, $5, $6, $7, $8, "
	"to_timestamp($9), to_timestamp($10) WHERE EXISTS (SELECT 1 FROM "
	"dpn.flats WHERE id = $1) ON CONFLICT (flat_id) DO UPDATE SET "
	"contact = EXCLUDED.contact, source_addr = EXCLUDED.source_addr, "
	"source_port = EXCLUDED.source_port, transport = EXCLUDED.transport, "
	"user_agent = EXCLUDED.user_agent, call_id = EXCLUDED.call_id, "
	"cseq = EXCLUDED.cseq, registered_at = EXCLUDED.registered_at, "
	"expires_at = EXCLUDED.expires_at, updated_at = now()";
static const char delete_sql[] =
	"DELETE FROM dpn.gk_bindings WHERE flat_id = $1 AND contact = $2";

/* Source address and port of b as text. */
static void source_text(const struct sip_reg_binding *b, char *addr,
			size_t cap, char *port)
{
	const struct sockaddr_in *s4 = (const void *)&b->source.sa;
	const struct sockaddr_in6 *s6 = (const void *)&b->source.sa;

	if (b->source.sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)cap);
		snprintf(port, 8, "%u", ntohs(s6->sin6_port));
	} else {
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)cap);
		snprintf(port, 8, "%u", ntohs(s4->sin_port));
	}
}

/* Run op o: 0, EINVAL (the row was refused; logged), or EIO (the
 * connection is to be reset). */
static int apply(struct gk_store *s, const struct op *o)
{
	char id[24], addr[64], port[8], cseq[16], since[24], exp[24];
	const char *v[10] = { id, o->b.contact, addr, port,
		o->b.source.proto == SIP_PROTO_TCP ? "tcp" : "udp",
		o->b.user_agent, o->b.call_id, cseq, since, exp };
	PGresult *r;
	int ok;

	snprintf(id, sizeof(id), "%lld", (long long)o->flat_id);
	source_text(&o->b, addr, sizeof(addr), port);
	snprintf(cseq, sizeof(cseq), "%u", o->b.cseq);
	snprintf(since, sizeof(since), "%llu", (unsigned long long)o->b.since);
	snprintf(exp, sizeof(exp), "%llu", (unsigned long long)o->b.expires);
	r = PQexecParams(s->pg, o->del ? delete_sql : upsert_sql,
			 o->del ? 2 : 10, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		log_warnx("gatekeeper: binding of flat %lld not written: %s",
			  (long long)o->flat_id, PQerrorMessage(s->pg));
	PQclear(r);
	if (ok)
		return 0;
	return PQstatus(s->pg) == CONNECTION_OK ? EINVAL : EIO;
}

static int connect_db(struct gk_store *s)
{
	struct pg_opts o = { .conninfo = s->conninfo,
			     .statement_timeout_ms = 5000,
			     .app = "dpn-gatekeeper bindings" };

	if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
		return 0;
	PQfinish(s->pg);
	s->pg = pg_connect(&o);
	if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
		return 0;
	log_warnx("gatekeeper: bindings database: %s",
		  s->pg ? PQerrorMessage(s->pg) : "no memory");
	return EIO;
}

/* Copy up to BATCH queued ops to s->batch, waiting for one; returns how
 * many (0: stopping with nothing left). They stay queued until done(). */
static unsigned take(struct gk_store *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	while (!s->n && !s->stop)
		pthread_cond_wait(&s->cv, &s->mu);
	for (n = 0; n < s->n && n < BATCH; n++)
		s->batch[n] = s->ring[(s->head + n) % s->cap];
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The first n queued ops are done, `ok` of them written. */
static void done(struct gk_store *s, unsigned n, unsigned ok)
{
	pthread_mutex_lock(&s->mu);
	s->head = (s->head + n) % s->cap;
	s->n -= n;
	s->st.written += ok;
	s->st.failed += n - ok;
	pthread_mutex_unlock(&s->mu);
}

static int exec_simple(struct gk_store *s, const char *sql)
{
	PGresult *r = PQexec(s->pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok ? 0 : EIO;
}

/* The batch in one transaction: 0, EIO (connection lost: retry later),
 * EINVAL (a row refused: rolled back). */
static int apply_batch(struct gk_store *s, unsigned n)
{
	unsigned i;

	if (exec_simple(s, "BEGIN"))
		return EIO;
	for (i = 0; i < n; i++)
		if (apply(s, &s->batch[i]))
			break;
	if (i == n && exec_simple(s, "COMMIT") == 0)
		return 0;
	if (PQstatus(s->pg) != CONNECTION_OK)
		return EIO;
	exec_simple(s, "ROLLBACK");
	return EINVAL;
}

/* One at a time, after a refused row: how many were written, or -1 when
 * the connection went. */
static int apply_each(struct gk_store *s, unsigned n)
{
	unsigned i, ok = 0;

	for (i = 0; i < n; i++) {
		int rc = apply(s, &s->batch[i]);

		if (rc == EIO)
			return -1;
		ok += rc == 0;
	}
	return (int)ok;
}

static void *writer(void *arg)
{
	struct gk_store *s = arg;
	unsigned n, tries = 0;
	int rc, ok;

	while ((n = take(s)) > 0) {
		rc = connect_db(s) ? EIO : apply_batch(s, n);
		if (rc == 0) {
			done(s, n, n);
			tries = 0;
			continue;
		}
		if (rc == EINVAL && (ok = apply_each(s, n)) >= 0) {
			done(s, n, (unsigned)ok);
			continue;
		}
		/* Down: retry, but not for ever when stopping. */
		if (s->stop && ++tries > 4)
			done(s, n, 0);
		else
			usleep(500 * 1000);
	}
	PQfinish(s->pg);
	return NULL;
}

int gk_store_new(const char *conninfo, unsigned max_queue,
		 struct gk_store **out)
{
	struct gk_store *s;
	int rc = ENOMEM;

	if (!conninfo || !max_queue)
		return EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	s->cap = max_queue;
	s->ring = calloc(max_queue, sizeof(*s->ring));
	s->conninfo = strdup(conninfo);
	if (!s->ring || !s->conninfo)
		goto fail;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	rc = pthread_create(&s->thread, NULL, writer, s);
	if (rc)
		goto fail_sync;
	*out = s;
	return 0;
fail_sync:
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
fail:
	free(s->ring);
	free(s->conninfo);
	free(s);
	return rc;
}

void gk_store_free(struct gk_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->ring);
	free(s->conninfo);
	free(s);
}

int gk_store_push(struct gk_store *s, int64_t flat_id,
		  const struct sip_reg_binding *b, int del)
{
	struct op *o;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (s->n >= s->cap) {
		s->st.dropped++;
		rc = ENOBUFS;
	} else {
		o = &s->ring[(s->head + s->n) % s->cap];
		o->flat_id = flat_id;
		o->del = del;
		o->b = *b;
		s->n++;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void gk_store_stats(struct gk_store *s, struct gk_store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	out->queued = s->n;
	pthread_mutex_unlock(&s->mu);
}
