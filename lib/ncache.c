/* lib/ncache.c — the NOTIFY-kept cache and its listener (see ncache.h).
 * One mutex guards the table; the listener thread owns its connection and
 * takes the mutex only to apply what it read. */
#include "ncache.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pg.h"

#define HC_POLL_MS 1000
#define HC_CHANNEL_MAX 63

/* An entry is allocated when stored, so that the fixed part of the table
 * is one pointer a slot (1 MiB for the default 131072 slots). */
struct hc_entry {
	void *val;
	uint64_t expires_s;
	size_t len;
	uint8_t key[];
};

struct ncache {
	struct ncache_cfg cfg;
	char conninfo[1024];
	char channel[HC_CHANNEL_MAX + 1], app[64];
	char listen_sql[HC_CHANNEL_MAX + 16];
	struct ncache_ops ops;
	pthread_mutex_t lock;
	size_t nslots;
	struct hc_entry **slots;	/* NULL: free slot */
	uint64_t gen;			/* last invalidation's number */
	uint64_t flush_gen;		/* the last flush's (or creation's) */
	uint64_t *slot_gen;		/* per slot: the last invalidation of a
					 * key that maps to it */
	struct ncache_stats st;	/* under lock (entries counted live) */

	pthread_t listener;
	int has_listener;
	int wake_fd;			/* eventfd: stop the listener */
	atomic_int stop;
	atomic_int listening;
};

/* Generations are unique across every table of the process (a reload makes
 * a new one), so a thread's remembered generation never matches another
 * table's by accident; 0 is never used. */
static atomic_ullong hc_gen_seq;
static _Thread_local uint64_t tl_miss_gen;

static void hc_log(struct ncache *hc, int level, const char *what,
		   PGconn *conn)
{
	char line[400];

	if (!hc->cfg.log)
		return;
	snprintf(line, sizeof(line), "cache %s: %s%s%.300s", hc->channel, what,
		 conn ? ": " : "", conn ? PQerrorMessage(conn) : "");
	hc->cfg.log(level, line);
}

size_t ncache_hash(const uint8_t *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

int ncache_slots_alloc(size_t nslots, size_t size, void **out, size_t *n)
{
	void *p;
	size_t k = 16;

	if (nslots == 0 || nslots > ((size_t)1 << 24))
		return EINVAL;
	while (k < nslots)
		k <<= 1;
	if (!(p = calloc(k, size)))
		return ENOMEM;
	*out = p;
	*n = k;
	return 0;
}

/* A channel is spliced into LISTEN: a plain lower-case identifier only. */
static int channel_ok(const char *s)
{
	size_t n = s ? strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;

	return n > 0 && n <= HC_CHANNEL_MAX && !s[n] && !(s[0] >= '0' && s[0] <= '9');
}

static struct hc_entry **slot_of(struct ncache *hc,
				 const uint8_t *key, size_t len)
{
	return &hc->slots[ncache_hash(key, len) & (hc->nslots - 1)];
}

static int slot_is(struct hc_entry *const *s, const uint8_t *key, size_t len)
{
	return *s && (*s)->len == len && !memcmp((*s)->key, key, len);
}

/* Empties a slot (lock held). */
static void slot_clear(struct ncache *hc, struct hc_entry **s)
{
	if (!*s)
		return;
	hc->ops.release((*s)->val);
	free(*s);
	*s = NULL;
	hc->st.entries--;
}

static uint64_t next_gen(void)
{
	return atomic_fetch_add(&hc_gen_seq, 1) + 1;
}

static uint64_t invalidated(struct ncache *hc)
{
	hc->gen = next_gen();
	hc->st.invalidated++;
	return hc->gen;
}

/* Whether an answer for key fetched after this thread's last miss may be
 * stale: the table was flushed, or key (or a key sharing its slot: a
 * collision only costs a skipped put) was invalidated since that miss.
 * Per slot rather than for the whole table, so that under a stream of
 * changes (a building enrolling hundreds of devices a second, one
 * notification each) answers about the other keys are still kept. */
static int put_is_stale(struct ncache *hc, const uint8_t *key, size_t len)
{
	size_t i = ncache_hash(key, len) & (hc->nslots - 1);

	return hc->flush_gen > tl_miss_gen || hc->slot_gen[i] > tl_miss_gen;
}

/* Forgets key and stamps its slot with generation g (lock held). */
static void forget_key(struct ncache *hc, const uint8_t *key, size_t len,
		       uint64_t g)
{
	struct hc_entry **s = slot_of(hc, key, len);

	if (slot_is(s, key, len))
		slot_clear(hc, s);
	hc->slot_gen[s - hc->slots] = g;
}

int ncache_get(struct ncache *hc, const uint8_t *key,
		       size_t len, uint64_t now_s, void *out)
{
	struct hc_entry **s;
	int hit = 0;

	pthread_mutex_lock(&hc->lock);
	s = slot_of(hc, key, len);
	if (slot_is(s, key, len)) {
		if (now_s < (*s)->expires_s) {
			hc->ops.copy((*s)->val, out);
			hit = 1;
		} else {
			slot_clear(hc, s);
		}
	}
	if (hit) {
		hc->st.hits++;
	} else {
		hc->st.misses++;
		tl_miss_gen = hc->gen;
	}
	pthread_mutex_unlock(&hc->lock);
	return hit;
}

void ncache_put(struct ncache *hc, const uint8_t *key,
			size_t len, void *val, uint64_t now_s)
{
	unsigned ttl = hc->cfg.ttl_s;
	struct hc_entry *e = NULL, **s;

	if (len > 0 && len <= NCACHE_KEY_MAX)
		e = malloc(sizeof(*e) + len);
	pthread_mutex_lock(&hc->lock);
	if (!e || ttl == 0 || put_is_stale(hc, key, len)) {
		hc->st.skipped++;
		pthread_mutex_unlock(&hc->lock);
		hc->ops.release(val);
		free(e);
		return;
	}
	e->val = val;
	e->len = len;
	memcpy(e->key, key, len);
	/* Spread expiry over the last quarter of the ttl, by key, so that
	 * hosts cached together are not fetched again together. */
	e->expires_s = now_s + ttl - (ncache_hash(key, len) % (ttl / 4 + 1));
	s = slot_of(hc, key, len);
	if (*s && !slot_is(s, key, len))
		hc->st.evicted++;
	slot_clear(hc, s);
	*s = e;
	hc->st.entries++;
	hc->st.inserts++;
	pthread_mutex_unlock(&hc->lock);
}

void ncache_del(struct ncache *hc, const uint8_t *key,
			size_t len)
{
	pthread_mutex_lock(&hc->lock);
	forget_key(hc, key, len, invalidated(hc));
	pthread_mutex_unlock(&hc->lock);
}

static void flush_locked(struct ncache *hc)
{
	size_t i;

	for (i = 0; i < hc->nslots; i++)
		slot_clear(hc, &hc->slots[i]);
	hc->st.flushes++;
	hc->flush_gen = invalidated(hc);
}

void ncache_flush(struct ncache *hc)
{
	pthread_mutex_lock(&hc->lock);
	flush_locked(hc);
	pthread_mutex_unlock(&hc->lock);
}

int ncache_notify(struct ncache *hc, const char *payload)
{
	uint8_t keys[NCACHE_NOTIFY_KEYS][NCACHE_KEY_MAX];
	size_t lens[NCACHE_NOTIFY_KEYS], n = 0;
	int rc = strcmp(payload, "flush") ? hc->ops.keys(payload, keys, lens, &n) : 0;

	pthread_mutex_lock(&hc->lock);
	hc->st.notifications++;
	if (rc || !strcmp(payload, "flush") || n > NCACHE_NOTIFY_KEYS) {
		rc = rc ? rc : n > NCACHE_NOTIFY_KEYS ? EINVAL : 0;
		hc->st.bad_notifications += rc ? 1 : 0;
		flush_locked(hc);
	} else {
		uint64_t g = invalidated(hc);

		for (size_t i = 0; i < n; i++)
			forget_key(hc, keys[i], lens[i], g);
	}
	pthread_mutex_unlock(&hc->lock);
	return rc;
}

void ncache_get_stats(struct ncache *hc, struct ncache_stats *out)
{
	pthread_mutex_lock(&hc->lock);
	*out = hc->st;
	pthread_mutex_unlock(&hc->lock);
	out->listening = atomic_load(&hc->listening);
}

/* Opens the listening connection, or NULL. */
static PGconn *listen_connect(struct ncache *hc)
{
	const struct pg_opts o = { .conninfo = hc->conninfo,
				   .connect_timeout_ms = hc->cfg.timeout_ms,
				   .statement_timeout_ms = hc->cfg.timeout_ms,
				   .app = hc->app };
	PGconn *conn = pg_connect(&o);
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, hc->listen_sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		hc_log(hc, 0, "LISTEN failed", conn);
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/* Applies every notification received; 0, or -1 when the connection is
 * lost. */
static int listen_drain(struct ncache *hc, PGconn *conn)
{
	PGnotify *n;

	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		return -1;
	while ((n = PQnotifies(conn)) != NULL) {
		if (ncache_notify(hc, n->extra))
			hc_log(hc, 0, "unreadable notification; cache emptied",
			       NULL);
		PQfreemem(n);
	}
	return 0;
}

/* Waits for the connection's socket (or the stop signal) up to ms. */
static void listen_wait(struct ncache *hc, PGconn *conn, int ms)
{
	struct pollfd p[2] = { { hc->wake_fd, POLLIN, 0 }, { -1, POLLIN, 0 } };

	if (conn)
		p[1].fd = PQsocket(conn);
	poll(p, conn ? 2 : 1, ms);
}

static void *listener_main(void *arg)
{
	struct ncache *hc = arg;
	PGconn *conn = NULL;
	int warned = 0;

	while (!atomic_load(&hc->stop)) {
		if (!conn) {
			conn = listen_connect(hc);
			if (!conn) {
				if (!warned++)
					hc_log(hc, 0, "cannot listen; retrying", NULL);
				listen_wait(hc, NULL, (int)hc->cfg.retry_ms);
				continue;
			}
			/* What changed while nobody listened is unknown. */
			ncache_flush(hc);
			atomic_store(&hc->listening, 1);
			warned = 0;
			hc_log(hc, 1, "listening", NULL);
		}
		listen_wait(hc, conn, HC_POLL_MS);
		if (listen_drain(hc, conn)) {
			/* Entries stay: while the database is gone nothing can
			 * change, and the daemon keeps serving what it knows.
			 * The reconnect empties the table. */
			atomic_store(&hc->listening, 0);
			hc_log(hc, 0, "lost the LISTEN connection", conn);
			PQfinish(conn);
			conn = NULL;
			listen_wait(hc, NULL, (int)hc->cfg.retry_ms);
		}
	}
	if (conn)
		PQfinish(conn);
	return NULL;
}

int ncache_new(const struct ncache_cfg *cfg, const struct ncache_ops *ops,
	       struct ncache **out)
{
	struct ncache *hc;
	void *slots;
	int rc;

	if ((cfg->conninfo && strlen(cfg->conninfo) >= sizeof(hc->conninfo)) ||
	    (cfg->conninfo && !channel_ok(cfg->channel)) || !ops->keys)
		return EINVAL;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return ENOMEM;
	rc = ncache_slots_alloc(cfg->nslots, sizeof(*hc->slots), &slots, &hc->nslots);
	if (rc) {
		free(hc);
		return rc;
	}
	hc->slots = slots;
	hc->slot_gen = calloc(hc->nslots, sizeof(*hc->slot_gen));
	if (!hc->slot_gen) {
		free(hc->slots);
		free(hc);
		return ENOMEM;
	}
	hc->cfg = *cfg;
	hc->ops = *ops;
	hc->wake_fd = -1;
	pthread_mutex_init(&hc->lock, NULL);
	hc->gen = hc->flush_gen = next_gen();
	if (cfg->conninfo) {
		strcpy(hc->conninfo, cfg->conninfo);
		snprintf(hc->channel, sizeof(hc->channel), "%s", cfg->channel);
		snprintf(hc->app, sizeof(hc->app), "%s",
			 cfg->app ? cfg->app : "dpn-ncache");
		snprintf(hc->listen_sql, sizeof(hc->listen_sql), "LISTEN %s",
			 hc->channel);
		hc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		rc = hc->wake_fd < 0 ? errno :
		     pthread_create(&hc->listener, NULL, listener_main, hc);
		if (rc) {
			hc->has_listener = 0;
			ncache_free(hc);
			return rc;
		}
		hc->has_listener = 1;
	}
	*out = hc;
	return 0;
}

void ncache_free(struct ncache *hc)
{
	uint64_t one = 1;

	if (!hc)
		return;
	if (hc->has_listener) {
		atomic_store(&hc->stop, 1);
		if (write(hc->wake_fd, &one, sizeof(one)) < 0)
			hc_log(hc, 0, "cannot wake the listener", NULL);
		pthread_join(hc->listener, NULL);
	}
	if (hc->wake_fd >= 0)
		close(hc->wake_fd);
	pthread_mutex_lock(&hc->lock);
	flush_locked(hc);
	pthread_mutex_unlock(&hc->lock);
	pthread_mutex_destroy(&hc->lock);
	free(hc->slot_gen);
	free(hc->slots);
	free(hc);
}
