/* dhcp-hook/ident.h — device identity for the Kea hook: option 82
 * circuit-id checks, the flex-id key (circuit-id bytes followed by the six
 * MAC bytes, as dpn's trigger writes public.hosts) and a bounded cache of
 * what the database said about a key. Pure C, no Kea, no libpq. */
#ifndef DPN_DHCP_IDENT_H
#define DPN_DHCP_IDENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ncache.h"	/* ncache_hash, ncache_slots_alloc */

#define DHCP_CIRCUIT_MAX 64	/* longest circuit-id we accept (bytes) */
#define DHCP_MAC_LEN 6
#define DHCP_FLEXID_MAX (DHCP_CIRCUIT_MAX + DHCP_MAC_LEN)
#define DHCP_KEY_MAX (4 + 1 + DHCP_FLEXID_MAX)

/* Checks a circuit-id: 1..DHCP_CIRCUIT_MAX bytes of printable ASCII (the
 * broker stores it as text). Returns 0 or EINVAL. */
int dhcp_circuit_check(const uint8_t *circuit, size_t len);

/* Writes circuit || mac into out (at least DHCP_FLEXID_MAX bytes) and sets
 * *out_len. Returns 0, or EINVAL for a bad circuit-id or a MAC that is not
 * 6 bytes (nothing written then). */
int dhcp_flexid_build(const uint8_t *circuit, size_t clen, const uint8_t *mac,
		      size_t mac_len, uint8_t *out, size_t *out_len);

enum dhcp_cache_state {
	DHCP_CACHE_MISS = 0,
	DHCP_CACHE_KNOWN,	/* the device has a reservation in this subnet */
	DHCP_CACHE_UNKNOWN,	/* no flat has this circuit-id in this subnet */
};

/* A direct-mapped cache of fixed size: a new key simply replaces whatever
 * shared its slot, so memory is bounded whatever the clients send. Each
 * entry expires after the ttl it was stored with. Thread-safe. */
struct dhcp_cache {
	pthread_mutex_t lock;
	uint64_t gen;		/* bumped by every clear */
	size_t nslots;
	struct dhcp_cache_slot *slots;
};

/* Allocates a cache of nslots (rounded up to a power of two, at least 16).
 * Returns 0, EINVAL for nslots 0, or ENOMEM. *out owned by the caller:
 * free with dhcp_cache_free. */
int dhcp_cache_new(size_t nslots, struct dhcp_cache **out);
void dhcp_cache_free(struct dhcp_cache *c);

/* Looks up key (1..DHCP_KEY_MAX bytes) at time now_s (monotonic seconds). */
enum dhcp_cache_state dhcp_cache_get(struct dhcp_cache *c, const uint8_t *key,
				     size_t len, uint64_t now_s);
/* Stores state for key for between 3/4 of ttl_s and ttl_s seconds (spread
 * by the key's hash, so that keys stored together do not expire together);
 * a key longer than DHCP_KEY_MAX, or a ttl of 0, stores nothing. */
void dhcp_cache_put(struct dhcp_cache *c, const uint8_t *key, size_t len,
		    enum dhcp_cache_state state, uint64_t now_s, unsigned ttl_s);
/* The cache's generation, which every dhcp_cache_clear changes: take it
 * before asking the database, and store the answer with
 * dhcp_cache_put_since. */
uint64_t dhcp_cache_generation(struct dhcp_cache *c);
/* As dhcp_cache_put, but only when the cache was not cleared since gen:
 * an answer older than a clear (mgmtd's flush after a deletion, which
 * under Kea's packet threads can land while another thread asks the
 * database) is not kept. Returns 1 when stored. */
int dhcp_cache_put_since(struct dhcp_cache *c, const uint8_t *key, size_t len,
			 enum dhcp_cache_state state, uint64_t now_s,
			 unsigned ttl_s, uint64_t gen);
/* Forgets every entry (a new generation). */
void dhcp_cache_clear(struct dhcp_cache *c);
/* Forgets key if present. */
void dhcp_cache_del(struct dhcp_cache *c, const uint8_t *key, size_t len);

/* Builds a cache key: subnet id (4 bytes, big endian), a tag byte, data.
 * Returns the key length, or 0 when data does not fit. */
size_t dhcp_cache_key(uint32_t subnet_id, uint8_t tag, const uint8_t *data,
		      size_t len, uint8_t out[DHCP_KEY_MAX]);

#endif
