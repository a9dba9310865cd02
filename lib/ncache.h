/* lib/ncache.h — a cache kept true by PostgreSQL LISTEN/NOTIFY: the pattern
 * the DHCP hook's host cache proved, for any table whose rows a daemon reads
 * on its hot path (the hook's host reservations, the gatekeeper's numbers
 * and bindings).
 *
 * Values are opaque (the caller gives copy and release functions) under
 * byte-string keys. A trigger on the source table sends a notification per
 * change on `channel`; a listener thread of this module reads them on its
 * own connection and turns each into deletions (the caller's `keys`
 * function says which keys a payload names; "flush" empties the table), so
 * a change is seen milliseconds after its commit. Missed notifications are
 * never trusted: after the listener (re)connects the table is emptied, and
 * an answer fetched before an invalidation is not stored (generation check:
 * a miss remembers, per thread, the table's generation; a put is dropped
 * when the table was flushed since, or its key's slot invalidated: each
 * slot keeps the generation of the last invalidation of a key in it, so a
 * stream of changes to other keys does not stop answers from being kept).
 * Fixed memory: a direct-mapped table, a
 * new key evicts whatever shared its slot; entries expire after a ttl,
 * spread over its last quarter. Thread-safe. */
#ifndef DPN_NCACHE_H
#define DPN_NCACHE_H

#include <stddef.h>
#include <stdint.h>

#define NCACHE_KEY_MAX 256	/* longest key (bytes) */
#define NCACHE_NOTIFY_KEYS 4	/* most keys one notification may name */

struct ncache;

struct ncache_ops {
	/* Called under the table's lock: must not call back into it. */
	void (*copy)(const void *val, void *out);	/* a hit: val to out */
	void (*release)(void *val);			/* val leaves */
	/* The keys one notification payload names (not "flush", handled
	 * before): up to NCACHE_NOTIFY_KEYS keys written to keys[i] with
	 * lens[i], count in *n (0 is allowed: nothing cached). 0, or EINVAL
	 * for a payload it cannot read (the table is then emptied). Called
	 * without the lock, on the listener thread or ncache_notify's. */
	int (*keys)(const char *payload, uint8_t keys[][NCACHE_KEY_MAX],
		    size_t *lens, size_t *n);
};

struct ncache_cfg {
	size_t nslots;		/* rounded up to a power of two, 16..1<<24 */
	unsigned ttl_s;		/* entries live between 3/4 of it and all */
	const char *conninfo;	/* NULL: no listener (the caller invalidates) */
	const char *channel;	/* LISTEN channel, a plain identifier */
	const char *app;	/* application_name of the listener */
	unsigned timeout_ms;	/* connect and statement timeout (pg_connect) */
	unsigned retry_ms;	/* listener reconnect back-off */
	void (*log)(int level, const char *line);  /* 0 warn, 1 info; or NULL */
};

struct ncache_stats {
	uint64_t hits, misses, inserts, skipped, evicted, invalidated,
		 notifications, bad_notifications, flushes, entries;
	int listening;		/* 1 while the LISTEN connection is up */
};

/* Creates the table and, with a conninfo, starts the listener thread.
 * Returns 0, EINVAL (bad channel, conninfo over 1023 bytes), ENOMEM or the
 * pthread error. Free with ncache_free. */
int ncache_new(const struct ncache_cfg *cfg, const struct ncache_ops *ops,
	       struct ncache **out);
/* Stops the listener, releases every value, frees. NULL is a no-op. */
void ncache_free(struct ncache *c);

/* Looks key up at now_s (monotonic seconds): 1 and the value copied to out
 * with ops.copy, or 0 (a miss, remembered for this thread's next put). */
int ncache_get(struct ncache *c, const uint8_t *key, size_t len,
	       uint64_t now_s, void *out);
/* Stores val under key (1..NCACHE_KEY_MAX bytes), taking ownership of it.
 * Not stored (released at once, counted as skipped) when, since this
 * thread's last miss, the table was flushed or key (or a key sharing its
 * slot) was invalidated; or when ttl_s is 0. */
void ncache_put(struct ncache *c, const uint8_t *key, size_t len, void *val,
		uint64_t now_s);
/* Forgets key; forgets everything. Both count as invalidations. */
void ncache_del(struct ncache *c, const uint8_t *key, size_t len);
void ncache_flush(struct ncache *c);

/* Applies one payload as the listener does: "flush", or the keys
 * ops.keys finds in it (one invalidation). A payload it cannot read empties
 * the table and returns EINVAL; otherwise 0. */
int ncache_notify(struct ncache *c, const char *payload);

void ncache_get_stats(struct ncache *c, struct ncache_stats *out);

/* FNV-1a of key, folded: a slot index once masked. */
size_t ncache_hash(const uint8_t *key, size_t len);

/* Allocates a zeroed array for a direct-mapped table: nslots (1..1<<24)
 * rounded up to a power of two, at least 16, of size bytes each; sets *n.
 * 0, EINVAL or ENOMEM. *out freed with free(). */
int ncache_slots_alloc(size_t nslots, size_t size, void **out, size_t *n);

#endif
