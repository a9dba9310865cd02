/* dhcp-hook/ident.c — circuit-id checks, flex-id keys and the identity
 * cache of the Kea hook (see ident.h). */
#include "dhcp-hook/ident.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dhcp_cache_slot {
	uint8_t key[DHCP_KEY_MAX];
	uint8_t len;
	uint8_t state;
	uint64_t expires_s;
};

int dhcp_circuit_check(const uint8_t *circuit, size_t len)
{
	size_t i;

	if (!circuit || len == 0 || len > DHCP_CIRCUIT_MAX)
		return EINVAL;
	for (i = 0; i < len; i++)
		if (circuit[i] < 0x20 || circuit[i] > 0x7e)
			return EINVAL;
	return 0;
}

int dhcp_flexid_build(const uint8_t *circuit, size_t clen, const uint8_t *mac,
		      size_t mac_len, uint8_t *out, size_t *out_len)
{
	if (dhcp_circuit_check(circuit, clen) || !mac || mac_len != DHCP_MAC_LEN)
		return EINVAL;
	memcpy(out, circuit, clen);
	memcpy(out + clen, mac, DHCP_MAC_LEN);
	*out_len = clen + DHCP_MAC_LEN;
	return 0;
}

int dhcp_cache_new(size_t nslots, struct dhcp_cache **out)
{
	struct dhcp_cache *c = calloc(1, sizeof(*c));
	void *slots;
	int rc;

	if (!c)
		return ENOMEM;
	rc = ncache_slots_alloc(nslots, sizeof(*c->slots), &slots, &c->nslots);
	if (rc) {
		free(c);
		return rc;
	}
	c->slots = slots;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void dhcp_cache_free(struct dhcp_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

/* FNV-1a: keys come from the network, but a collision only costs one more
 * database lookup (or write), never a wrong answer (the whole key is
 * compared). */
enum dhcp_cache_state dhcp_cache_get(struct dhcp_cache *c, const uint8_t *key,
				     size_t len, uint64_t now_s)
{
	struct dhcp_cache_slot *s;
	enum dhcp_cache_state st = DHCP_CACHE_MISS;

	if (len == 0 || len > DHCP_KEY_MAX)
		return DHCP_CACHE_MISS;
	pthread_mutex_lock(&c->lock);
	s = &c->slots[ncache_hash(key, len) & (c->nslots - 1)];
	if (s->len == len && s->expires_s > now_s && !memcmp(s->key, key, len))
		st = (enum dhcp_cache_state)s->state;
	pthread_mutex_unlock(&c->lock);
	return st;
}

uint64_t dhcp_cache_generation(struct dhcp_cache *c)
{
	uint64_t g;

	pthread_mutex_lock(&c->lock);
	g = c->gen;
	pthread_mutex_unlock(&c->lock);
	return g;
}

void dhcp_cache_put(struct dhcp_cache *c, const uint8_t *key, size_t len,
		    enum dhcp_cache_state state, uint64_t now_s, unsigned ttl_s)
{
	dhcp_cache_put_since(c, key, len, state, now_s, ttl_s,
			     dhcp_cache_generation(c));
}

int dhcp_cache_put_since(struct dhcp_cache *c, const uint8_t *key, size_t len,
			 enum dhcp_cache_state state, uint64_t now_s,
			 unsigned ttl_s, uint64_t gen)
{
	struct dhcp_cache_slot *s;
	size_t h;
	int stored = 0;

	if (len == 0 || len > DHCP_KEY_MAX || ttl_s == 0)
		return 0;
	h = ncache_hash(key, len);
	/* Keys stored in the same second (a warm-up, a restart) must not all
	 * expire in the same second and send every device back to the
	 * database at once, in Kea's packet path: each keeps between 3/4 of
	 * ttl and all of it, by its hash. */
	ttl_s -= (unsigned)((h >> 20) % (ttl_s / 4 + 1));
	pthread_mutex_lock(&c->lock);
	if (c->gen == gen) {
		s = &c->slots[h & (c->nslots - 1)];
		memcpy(s->key, key, len);
		s->len = (uint8_t)len;
		s->state = (uint8_t)state;
		s->expires_s = now_s + ttl_s;
		stored = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return stored;
}

void dhcp_cache_clear(struct dhcp_cache *c)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	c->gen++;
	for (i = 0; i < c->nslots; i++)
		c->slots[i].len = 0;
	pthread_mutex_unlock(&c->lock);
}

void dhcp_cache_del(struct dhcp_cache *c, const uint8_t *key, size_t len)
{
	struct dhcp_cache_slot *s;

	if (len == 0 || len > DHCP_KEY_MAX)
		return;
	pthread_mutex_lock(&c->lock);
	s = &c->slots[ncache_hash(key, len) & (c->nslots - 1)];
	if (s->len == len && !memcmp(s->key, key, len))
		s->len = 0;
	pthread_mutex_unlock(&c->lock);
}

size_t dhcp_cache_key(uint32_t subnet_id, uint8_t tag, const uint8_t *data,
		      size_t len, uint8_t out[DHCP_KEY_MAX])
{
	if (len > DHCP_KEY_MAX - 5)
		return 0;
	out[0] = (uint8_t)(subnet_id >> 24);
	out[1] = (uint8_t)(subnet_id >> 16);
	out[2] = (uint8_t)(subnet_id >> 8);
	out[3] = (uint8_t)subnet_id;
	out[4] = tag;
	memcpy(out + 5, data, len);
	return len + 5;
}
