/* dhcp-hook/seen.c — the hook's table of what was last written about each
 * device, for coalescing renewals (see seen.h). */
#include "dhcp-hook/seen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dhcp_seen_slot {
	uint32_t subnet_id;
	uint32_t addr;
	uint8_t mac[DHCP_MAC_LEN];
	uint8_t used;
	uint8_t online;
	int64_t written_ms;
};

int dhcp_seen_new(size_t nslots, struct dhcp_seen **out)
{
	struct dhcp_seen *s = calloc(1, sizeof(*s));
	void *slots;
	int rc;

	if (!s)
		return ENOMEM;
	rc = ncache_slots_alloc(nslots, sizeof(*s->slots), &slots, &s->nslots);
	if (rc) {
		free(s);
		return rc;
	}
	s->slots = slots;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void dhcp_seen_free(struct dhcp_seen *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->slots);
	free(s);
}

/* Hash of pool id and MAC: a collision only evicts, so a device costs one
 * more write, never a lost change. */
static struct dhcp_seen_slot *slot_of(struct dhcp_seen *s,
				      const struct dhcp_event *ev)
{
	uint8_t key[4 + DHCP_MAC_LEN];

	key[0] = (uint8_t)(ev->subnet_id >> 24);
	key[1] = (uint8_t)(ev->subnet_id >> 16);
	key[2] = (uint8_t)(ev->subnet_id >> 8);
	key[3] = (uint8_t)ev->subnet_id;
	memcpy(key + 4, ev->mac, DHCP_MAC_LEN);
	return &s->slots[ncache_hash(key, sizeof(key)) & (s->nslots - 1)];
}

static int slot_is(const struct dhcp_seen_slot *sl, const struct dhcp_event *ev)
{
	return sl->used && sl->subnet_id == ev->subnet_id &&
	       !memcmp(sl->mac, ev->mac, DHCP_MAC_LEN);
}

int dhcp_seen_admit(struct dhcp_seen *s, const struct dhcp_event *ev,
		    int64_t now_ms, unsigned interval_s)
{
	struct dhcp_seen_slot *sl;
	int committed = ev->kind == DHCP_EV_COMMITTED;

	if (interval_s == 0)
		return 1;
	pthread_mutex_lock(&s->lock);
	sl = slot_of(s, ev);
	if (committed && slot_is(sl, ev) && sl->online && sl->addr == ev->addr &&
	    now_ms >= sl->written_ms &&
	    now_ms - sl->written_ms < (int64_t)interval_s * 1000) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	sl->subnet_id = ev->subnet_id;
	sl->addr = ev->addr;
	memcpy(sl->mac, ev->mac, DHCP_MAC_LEN);
	sl->used = 1;
	sl->online = (uint8_t)committed;
	sl->written_ms = now_ms;
	pthread_mutex_unlock(&s->lock);
	return 1;
}

void dhcp_seen_forget(struct dhcp_seen *s, const struct dhcp_event *ev)
{
	struct dhcp_seen_slot *sl;

	pthread_mutex_lock(&s->lock);
	sl = slot_of(s, ev);
	if (slot_is(sl, ev))
		sl->used = 0;
	pthread_mutex_unlock(&s->lock);
}

void dhcp_seen_clear(struct dhcp_seen *s)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nslots; i++)
		s->slots[i].used = 0;
	pthread_mutex_unlock(&s->lock);
}
