/* dhcp-hook/hostcache.c — the host reservation cache and its listener (see
 * hostcache.h). One mutex guards the table; the listener thread owns its
 * connection and takes the mutex only to apply what it read. */
#include "dhcp-hook/hostcache.h"

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

#include "dhcp-hook/ident.h"
#include "dhcp-hook/pg.h"
#include "lib/hex.h"

#define HC_CHANNEL "dpn_hosts"
#define HC_POLL_MS 1000

/* An entry is allocated when stored, so that the fixed part of the table
 * is one pointer a slot (1 MiB for the default 131072 slots). */
struct hc_entry {
	void *val;
	uint64_t expires_s;
	size_t len;
	uint8_t key[];
};

struct dhcp_hostcache {
	struct dhcp_hc_cfg cfg;
	char conninfo[1024];
	struct dhcp_hc_ops ops;
	pthread_mutex_t lock;
	size_t nslots;
	struct hc_entry **slots;	/* NULL: free slot */
	uint64_t gen;			/* last invalidation's number */
	struct dhcp_hc_stats st;	/* under lock (entries counted live) */

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

static void hc_log(struct dhcp_hostcache *hc, int level, const char *what,
		   PGconn *conn)
{
	char line[400];

	if (!hc->cfg.log)
		return;
	snprintf(line, sizeof(line), "host cache: %s%s%.300s", what,
		 conn ? ": " : "", conn ? PQerrorMessage(conn) : "");
	hc->cfg.log(level, line);
}

size_t dhcp_hc_id_key(uint32_t subnet_id, uint8_t id_type, const uint8_t *id,
		      size_t len, uint8_t out[DHCP_HC_KEY_MAX])
{
	if (len == 0 || len > DHCP_HC_ID_MAX)
		return 0;
	out[0] = 'i';
	out[1] = id_type;
	out[2] = (uint8_t)(subnet_id >> 24);
	out[3] = (uint8_t)(subnet_id >> 16);
	out[4] = (uint8_t)(subnet_id >> 8);
	out[5] = (uint8_t)subnet_id;
	memcpy(out + 6, id, len);
	return 6 + len;
}

size_t dhcp_hc_addr_key(uint32_t subnet_id, uint32_t addr,
			uint8_t out[DHCP_HC_KEY_MAX])
{
	uint8_t a[4] = { (uint8_t)(addr >> 24), (uint8_t)(addr >> 16),
			 (uint8_t)(addr >> 8), (uint8_t)addr };
	size_t n = dhcp_hc_id_key(subnet_id, 0, a, sizeof(a), out);

	out[0] = 'a';
	return n;
}

static struct hc_entry **slot_of(struct dhcp_hostcache *hc,
				 const uint8_t *key, size_t len)
{
	return &hc->slots[dhcp_hash(key, len) & (hc->nslots - 1)];
}

static int slot_is(struct hc_entry *const *s, const uint8_t *key, size_t len)
{
	return *s && (*s)->len == len && !memcmp((*s)->key, key, len);
}

/* Empties a slot (lock held). */
static void slot_clear(struct dhcp_hostcache *hc, struct hc_entry **s)
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

static void invalidated(struct dhcp_hostcache *hc)
{
	hc->gen = next_gen();
	hc->st.invalidated++;
}

int dhcp_hostcache_get(struct dhcp_hostcache *hc, const uint8_t *key,
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

void dhcp_hostcache_put(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len, void *val, uint64_t now_s)
{
	unsigned ttl = hc->cfg.ttl_s;
	struct hc_entry *e = NULL, **s;

	if (len > 0 && len <= DHCP_HC_KEY_MAX)
		e = malloc(sizeof(*e) + len);
	pthread_mutex_lock(&hc->lock);
	if (!e || ttl == 0 || tl_miss_gen != hc->gen) {
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
	e->expires_s = now_s + ttl - (dhcp_hash(key, len) % (ttl / 4 + 1));
	s = slot_of(hc, key, len);
	if (*s && !slot_is(s, key, len))
		hc->st.evicted++;
	slot_clear(hc, s);
	*s = e;
	hc->st.entries++;
	hc->st.inserts++;
	pthread_mutex_unlock(&hc->lock);
}

void dhcp_hostcache_del(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len)
{
	struct hc_entry **s;

	pthread_mutex_lock(&hc->lock);
	s = slot_of(hc, key, len);
	if (slot_is(s, key, len))
		slot_clear(hc, s);
	invalidated(hc);
	pthread_mutex_unlock(&hc->lock);
}

static void flush_locked(struct dhcp_hostcache *hc)
{
	size_t i;

	for (i = 0; i < hc->nslots; i++)
		slot_clear(hc, &hc->slots[i]);
	hc->st.flushes++;
	invalidated(hc);
}

void dhcp_hostcache_flush(struct dhcp_hostcache *hc)
{
	pthread_mutex_lock(&hc->lock);
	flush_locked(hc);
	pthread_mutex_unlock(&hc->lock);
}

/* "SUBNET TYPE HEXID ADDR" -> the two keys; 0 or EINVAL. */
static int payload_parse(const char *p, uint8_t idk[DHCP_HC_KEY_MAX],
			 size_t *idlen, uint8_t ak[DHCP_HC_KEY_MAX],
			 size_t *alen)
{
	unsigned long long subnet, type, addr;
	char hex[2 * DHCP_HC_ID_MAX + 2];
	uint8_t id[DHCP_HC_ID_MAX];
	size_t i, n;
	int end = -1;

	if (sscanf(p, "%llu %llu %257s %llu%n", &subnet, &type, hex, &addr,
		   &end) != 4 || end < 0 || p[end] != '\0' ||
	    subnet > UINT32_MAX || type > 255 || addr > UINT32_MAX)
		return EINVAL;
	n = strlen(hex);
	/* encode(..., 'hex') writes lowercase: anything else is not ours. */
	if (n == 0 || n % 2 || n / 2 > DHCP_HC_ID_MAX ||
	    strspn(hex, "0123456789abcdef") != n)
		return EINVAL;
	for (i = 0; i < n / 2; i++)
		id[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 |
				  hex_digit(hex[2 * i + 1]));
	*idlen = dhcp_hc_id_key((uint32_t)subnet, (uint8_t)type, id, n / 2, idk);
	*alen = addr ? dhcp_hc_addr_key((uint32_t)subnet, (uint32_t)addr, ak) : 0;
	return 0;
}

int dhcp_hostcache_notify(struct dhcp_hostcache *hc, const char *payload)
{
	uint8_t idk[DHCP_HC_KEY_MAX], ak[DHCP_HC_KEY_MAX];
	size_t idlen = 0, alen = 0;
	int rc = strcmp(payload, "flush") ?
		 payload_parse(payload, idk, &idlen, ak, &alen) : 0;
	struct hc_entry **s;

	pthread_mutex_lock(&hc->lock);
	hc->st.notifications++;
	if (rc || idlen == 0) {
		hc->st.bad_notifications += rc ? 1 : 0;
		flush_locked(hc);
	} else {
		s = slot_of(hc, idk, idlen);
		if (slot_is(s, idk, idlen))
			slot_clear(hc, s);
		s = alen ? slot_of(hc, ak, alen) : NULL;
		if (s && slot_is(s, ak, alen))
			slot_clear(hc, s);
		invalidated(hc);
	}
	pthread_mutex_unlock(&hc->lock);
	return rc;
}

void dhcp_hostcache_stats(struct dhcp_hostcache *hc, struct dhcp_hc_stats *out)
{
	pthread_mutex_lock(&hc->lock);
	*out = hc->st;
	pthread_mutex_unlock(&hc->lock);
	out->listening = atomic_load(&hc->listening);
}

/* Opens the listening connection, or NULL. */
static PGconn *listen_connect(struct dhcp_hostcache *hc)
{
	PGconn *conn = dhcp_pg_connect(hc->conninfo, hc->cfg.timeout_ms,
				       "dpn-dhcp-hostcache");
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "LISTEN " HC_CHANNEL);
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
static int listen_drain(struct dhcp_hostcache *hc, PGconn *conn)
{
	PGnotify *n;

	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		return -1;
	while ((n = PQnotifies(conn)) != NULL) {
		if (dhcp_hostcache_notify(hc, n->extra))
			hc_log(hc, 0, "unreadable notification; cache emptied",
			       NULL);
		PQfreemem(n);
	}
	return 0;
}

/* Waits for the connection's socket (or the stop signal) up to ms. */
static void listen_wait(struct dhcp_hostcache *hc, PGconn *conn, int ms)
{
	struct pollfd p[2] = { { hc->wake_fd, POLLIN, 0 }, { -1, POLLIN, 0 } };

	if (conn)
		p[1].fd = PQsocket(conn);
	poll(p, conn ? 2 : 1, ms);
}

static void *listener_main(void *arg)
{
	struct dhcp_hostcache *hc = arg;
	PGconn *conn = NULL;
	int warned = 0;

	while (!atomic_load(&hc->stop)) {
		if (!conn) {
			conn = listen_connect(hc);
			if (!conn) {
				if (!warned++)
					hc_log(hc, 0, "cannot listen to " HC_CHANNEL
					       "; retrying", NULL);
				listen_wait(hc, NULL, (int)hc->cfg.retry_ms);
				continue;
			}
			/* What changed while nobody listened is unknown. */
			dhcp_hostcache_flush(hc);
			atomic_store(&hc->listening, 1);
			warned = 0;
			hc_log(hc, 1, "listening to " HC_CHANNEL, NULL);
		}
		listen_wait(hc, conn, HC_POLL_MS);
		if (listen_drain(hc, conn)) {
			/* Entries stay: while the database is gone nothing can
			 * change, and Kea keeps serving the devices it knows.
			 * The reconnect empties the table. */
			atomic_store(&hc->listening, 0);
			hc_log(hc, 0, "lost the " HC_CHANNEL " connection", conn);
			PQfinish(conn);
			conn = NULL;
			listen_wait(hc, NULL, (int)hc->cfg.retry_ms);
		}
	}
	if (conn)
		PQfinish(conn);
	return NULL;
}

int dhcp_hostcache_new(const struct dhcp_hc_cfg *cfg, const struct dhcp_hc_ops *ops,
		       struct dhcp_hostcache **out)
{
	struct dhcp_hostcache *hc;
	void *slots;
	int rc;

	if (cfg->conninfo && strlen(cfg->conninfo) >= sizeof(hc->conninfo))
		return EINVAL;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return ENOMEM;
	rc = dhcp_slots_alloc(cfg->nslots, sizeof(*hc->slots), &slots, &hc->nslots);
	if (rc) {
		free(hc);
		return rc;
	}
	hc->slots = slots;
	hc->cfg = *cfg;
	hc->ops = *ops;
	hc->wake_fd = -1;
	pthread_mutex_init(&hc->lock, NULL);
	hc->gen = next_gen();
	if (cfg->conninfo) {
		strcpy(hc->conninfo, cfg->conninfo);
		hc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		rc = hc->wake_fd < 0 ? errno :
		     pthread_create(&hc->listener, NULL, listener_main, hc);
		if (rc) {
			hc->has_listener = 0;
			dhcp_hostcache_free(hc);
			return rc;
		}
		hc->has_listener = 1;
	}
	*out = hc;
	return 0;
}

void dhcp_hostcache_free(struct dhcp_hostcache *hc)
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
	free(hc->slots);
	free(hc);
}
