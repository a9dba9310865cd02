/* gatekeeper/banlog.c — the ban writer thread (see banlog.h). Bans are
 * rare next to bindings (a flood of new sources is bounded by the guard's
 * table), so each write is its own statement: no batching. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/banlog.h"
#include "log.h"
#include "pg.h"

struct item {
	struct gk_ban b;
	int ended;
};

struct gk_banlog {
	char *conninfo;
	char site[24];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	unsigned cap, head, n;
	struct item *ring;
	struct gk_banlog_stats st;
	PGconn *pg;		/* the writer's own */
};

static const char upsert_sql[] =
	"INSERT INTO dpn.gk_bans AS b (site_id, source, username, reason, "
	"since, until_at, hits) VALUES ($1, $2::inet, $3, $4, "
	"to_timestamp($5::double precision / 1000), "
	"to_timestamp($6::double precision / 1000), $7) "
	"ON CONFLICT (site_id, source, username) DO UPDATE SET "
	"reason = EXCLUDED.reason, since = EXCLUDED.since, "
	"until_at = EXCLUDED.until_at, hits = EXCLUDED.hits";
static const char delete_sql[] =
	"DELETE FROM dpn.gk_bans WHERE site_id = $1 AND source = $2::inet "
	"AND username = $3";
/* Bans over for a day are history nobody lists: forgotten, so a scan of
 * the internet does not grow the table for ever. */
static const char purge_sql[] =
	"DELETE FROM dpn.gk_bans WHERE site_id = $1 AND "
	"until_at < now() - interval '1 day'";

static void addr_text(const struct sockaddr_storage *ss, char *buf,
		      size_t cap)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			  (const void *)ss)->sin6_addr, buf, (socklen_t)cap);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
			  (const void *)ss)->sin_addr, buf, (socklen_t)cap);
}

/* 0, EINVAL (refused, logged), EIO (reconnect). */
static int write_one(struct gk_banlog *l, const struct item *it)
{
	static struct log_rl rl = LOG_RL_INIT(10, 60);	/* this thread's */
	char addr[64], since[24], until[24], hits[24];
	const char *v[7] = { l->site, addr, it->b.user,
		gk_ban_reason_name(it->b.reason), since, until, hits };
	PGresult *r;
	int ok;

	addr_text(&it->b.addr, addr, sizeof(addr));
	snprintf(since, sizeof(since), "%llu",
		 (unsigned long long)it->b.since_ms);
	snprintf(until, sizeof(until), "%llu",
		 (unsigned long long)it->b.until_ms);
	snprintf(hits, sizeof(hits), "%llu", (unsigned long long)it->b.hits);
	if (it->ended == GK_BANLOG_PURGE)
		r = PQexecParams(l->pg, purge_sql, 1, NULL, v, NULL, NULL, 0);
	else
		r = PQexecParams(l->pg, it->ended ? delete_sql : upsert_sql,
				 it->ended ? 3 : 7, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		log_warnx_rl(&rl, "gatekeeper: ban of %s not written: %s",
			     addr, PQerrorMessage(l->pg));
	PQclear(r);
	if (ok)
		return 0;
	return PQstatus(l->pg) == CONNECTION_OK ? EINVAL : EIO;
}

static int connect_db(struct gk_banlog *l)
{
	struct pg_opts o = { .conninfo = l->conninfo,
			     .statement_timeout_ms = 5000,
			     .app = "dpn-gatekeeper bans" };

	if (l->pg && PQstatus(l->pg) == CONNECTION_OK)
		return 0;
	PQfinish(l->pg);
	l->pg = pg_connect(&o);
	return l->pg && PQstatus(l->pg) == CONNECTION_OK ? 0 : EIO;
}

/* The next item into *it, waiting; 0, or ECANCELED (stopping, empty). */
static int take(struct gk_banlog *l, struct item *it)
{
	pthread_mutex_lock(&l->mu);
	while (!l->n && !l->stop)
		pthread_cond_wait(&l->cv, &l->mu);
	if (l->n)
		*it = l->ring[l->head];
	pthread_mutex_unlock(&l->mu);
	return l->n ? 0 : ECANCELED;
}

static void done(struct gk_banlog *l, int ok)
{
	pthread_mutex_lock(&l->mu);
	l->head = (l->head + 1) % l->cap;
	l->n--;
	if (ok)
		l->st.written++;
	else
		l->st.failed++;
	pthread_mutex_unlock(&l->mu);
}

/* Wait up to ms for stop; 1 when stopping. */
static int nap(struct gk_banlog *l, unsigned ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&l->mu);
	if (!l->stop)
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	stop = l->stop;
	pthread_mutex_unlock(&l->mu);
	return stop;
}

static void *run(void *arg)
{
	struct gk_banlog *l = arg;
	struct item it;
	int tries = 0;

	while (take(l, &it) == 0) {
		int rc = connect_db(l) ? EIO : write_one(l, &it);

		if (rc == EIO && ++tries < 3 && !nap(l, 500))
			continue;
		done(l, rc == 0);
		tries = 0;
	}
	PQfinish(l->pg);
	return NULL;
}

int gk_banlog_new(const char *conninfo, int64_t site_id, unsigned max_queue,
		  struct gk_banlog **out)
{
	struct gk_banlog *l;
	int rc;

	if (!conninfo || !max_queue)
		return EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->conninfo = strdup(conninfo);
	l->ring = calloc(max_queue, sizeof(*l->ring));
	l->cap = max_queue;
	snprintf(l->site, sizeof(l->site), "%lld", (long long)site_id);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	rc = !l->conninfo || !l->ring ? ENOMEM :
	     pthread_create(&l->thread, NULL, run, l);
	if (rc) {
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		free(l->ring);
		free(l->conninfo);
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void gk_banlog_free(struct gk_banlog *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->ring);
	free(l->conninfo);
	free(l);
}

int gk_banlog_push(struct gk_banlog *l, const struct gk_ban *b, int ended)
{
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (l->n == l->cap) {
		l->st.dropped++;
		rc = ENOBUFS;
	} else {
		struct item *it = &l->ring[(l->head + l->n++) % l->cap];

		if (b)
			it->b = *b;
		else
			memset(&it->b, 0, sizeof(it->b));
		it->ended = ended;
		pthread_cond_signal(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void gk_banlog_stats(struct gk_banlog *l, struct gk_banlog_stats *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->st;
	pthread_mutex_unlock(&l->mu);
}
