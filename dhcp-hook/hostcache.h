/* dhcp-hook/hostcache.h — a cache of Kea's host reservations in front of
 * its PostgreSQL hosts backend, kept true by the database itself.
 *
 * Kea 2.2 asks PostgreSQL for a client's reservation three times per
 * DISCOVER/REQUEST exchange (by identifier twice, by address once); Debian
 * ships no host cache. This table remembers the answers (Kea's Host
 * objects, opaque here: the C++ side, hostcache_kea.cc, gives a copy and a
 * release function) under two kinds of keys, by identifier and by
 * address. Every change to public.hosts sends a notification (trigger in
 * schema/012_hosts_notify.sql) that the listener thread of lib/ncache reads
 * on its own connection (LISTEN dpn_hosts) and turns into deletions, so a
 * change is seen milliseconds after its commit. Missed notifications are
 * never trusted: after the listener (re)connects the table is emptied, and
 * an answer fetched before an invalidation of its key is not stored
 * (generation check, per slot). Fixed memory: a direct-mapped table, a new key evicts whatever
 * shared its slot; entries also expire after a ttl. Thread-safe. */
#ifndef DPN_DHCP_HOSTCACHE_H
#define DPN_DHCP_HOSTCACHE_H

#include <stddef.h>
#include <stdint.h>

#define DHCP_HC_ID_MAX 128	/* Kea's longest host identifier (bytes) */
#define DHCP_HC_KEY_MAX (6 + DHCP_HC_ID_MAX)

/* What the table does with the values it holds (called under its lock,
 * so they must not call back into the table). */
struct dhcp_hc_ops {
	void (*copy)(const void *val, void *out);  /* a hit: copy val to out */
	void (*release)(void *val);		   /* val leaves the table */
};

struct dhcp_hc_stats {
	uint64_t hits, misses, inserts, skipped, evicted, invalidated,
		 notifications, bad_notifications, flushes, entries;
	int listening;		/* 1 while LISTEN dpn_hosts is up */
};

struct dhcp_hostcache;

struct dhcp_hc_cfg {
	size_t nslots;		/* rounded up to a power of two, 16..1<<24 */
	unsigned ttl_s;		/* entries live between 3/4 of it and all */
	const char *conninfo;	/* NULL: no listener (the caller invalidates) */
	unsigned timeout_ms;	/* connect timeout (dhcp_pg_connect) */
	unsigned retry_ms;	/* listener reconnect back-off */
	void (*log)(int level, const char *line);  /* 0 warn, 1 info; or NULL */
};

/* Creates the table and, with a conninfo, starts the listener thread.
 * Returns 0, EINVAL, ENOMEM or the pthread error. */
int dhcp_hostcache_new(const struct dhcp_hc_cfg *cfg, const struct dhcp_hc_ops *ops,
		       struct dhcp_hostcache **out);

/* Stops the listener, releases every value, frees. NULL is a no-op. */
void dhcp_hostcache_free(struct dhcp_hostcache *hc);

/* Keys: by identifier (Kea's identifier type and bytes) or by address, in
 * a v4 subnet. Return the key length, or 0 when the identifier is empty
 * or longer than DHCP_HC_ID_MAX (such a host is simply not cached). */
size_t dhcp_hc_id_key(uint32_t subnet_id, uint8_t id_type, const uint8_t *id,
		      size_t len, uint8_t out[DHCP_HC_KEY_MAX]);
size_t dhcp_hc_addr_key(uint32_t subnet_id, uint32_t addr,
			uint8_t out[DHCP_HC_KEY_MAX]);

/* Looks key up at now_s (monotonic seconds): 1 and the value copied to out
 * with ops.copy, or 0 (a miss). A miss remembers, for the calling thread,
 * the table's generation: see dhcp_hostcache_put. */
int dhcp_hostcache_get(struct dhcp_hostcache *hc, const uint8_t *key,
		       size_t len, uint64_t now_s, void *out);

/* Stores val under key, taking ownership of it. Not stored (released at
 * once, counted as skipped) when, since this thread's last miss, the table
 * was flushed or key (or a key sharing its slot) invalidated: the answer
 * may predate that change. */
void dhcp_hostcache_put(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len, void *val, uint64_t now_s);

/* Forgets key; forgets everything. Both count as invalidations. */
void dhcp_hostcache_del(struct dhcp_hostcache *hc, const uint8_t *key,
			size_t len);
void dhcp_hostcache_flush(struct dhcp_hostcache *hc);

/* Applies one notification payload from the hosts trigger: "flush", or
 * "SUBNET TYPE HEXID ADDR" (a reservation that appeared, changed or went:
 * both its keys are forgotten). Anything else empties the table (safe)
 * and returns EINVAL; otherwise 0. */
int dhcp_hostcache_notify(struct dhcp_hostcache *hc, const char *payload);

void dhcp_hostcache_stats(struct dhcp_hostcache *hc, struct dhcp_hc_stats *out);

#endif
