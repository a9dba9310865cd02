/* gatekeeper/sessions.c — the Call-ID -> route peer table (sessions.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/sessions.h"

#define WINDOW 8	/* slots tried per key */

struct entry {
	uint64_t key;		/* 0: free */
	uint64_t at;		/* when set (s) */
	struct sockaddr_in sa;
	enum sip_proto proto;
};

struct gk_sessions {
	unsigned mask, ttl;
	struct entry e[];
};

int gk_sessions_new(unsigned cap, unsigned ttl, struct gk_sessions **out)
{
	struct gk_sessions *s;
	unsigned n = 64;

	while (n < cap && n < (1u << 24))
		n <<= 1;
	s = calloc(1, sizeof(*s) + (size_t)n * sizeof(struct entry));
	if (!s)
		return ENOMEM;
	s->mask = n - 1;
	s->ttl = ttl;
	*out = s;
	return 0;
}

void gk_sessions_free(struct gk_sessions *s)
{
	free(s);
}

/* FNV-1a, 64 bits; never 0 (the free mark). */
static uint64_t key_of(struct sip_str id)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < id.len; i++)
		h = (h ^ (unsigned char)id.s[i]) * 1099511628211ull;
	return h ? h : 1;
}

static int live(const struct gk_sessions *s, const struct entry *e,
		uint64_t now)
{
	return e->key && e->at + s->ttl > now;
}

/* The slot of key in its window, or NULL. */
static struct entry *find(const struct gk_sessions *s, uint64_t key,
			  uint64_t now)
{
	for (unsigned i = 0; i < WINDOW; i++) {
		const struct entry *e = &s->e[(key + i) & s->mask];

		if (e->key == key && live(s, e, now))
			return (struct entry *)e;
	}
	return NULL;
}

void gk_sessions_put(struct gk_sessions *s, struct sip_str call_id,
		     const struct sip_peer *to, uint64_t now)
{
	uint64_t key = key_of(call_id);
	struct entry *e = find(s, key, now), *old = NULL;

	if (to->sa.ss_family != AF_INET)
		return;
	for (unsigned i = 0; !e && i < WINDOW; i++) {
		struct entry *x = &s->e[(key + i) & s->mask];

		if (!live(s, x, now))
			e = x;
		else if (!old || x->at < old->at)
			old = x;
	}
	if (!e)
		e = old;	/* window full: the oldest call makes room */
	e->key = key;
	e->at = now;
	memcpy(&e->sa, &to->sa, sizeof(e->sa));
	e->proto = to->proto;
}

int gk_sessions_get(const struct gk_sessions *s, struct sip_str call_id,
		    uint64_t now, struct sip_peer *to)
{
	const struct entry *e = find(s, key_of(call_id), now);

	if (!e)
		return ENOENT;
	memset(to, 0, sizeof(*to));
	memcpy(&to->sa, &e->sa, sizeof(e->sa));
	to->salen = sizeof(e->sa);
	to->proto = e->proto;
	return 0;
}

void gk_sessions_del(struct gk_sessions *s, struct sip_str call_id)
{
	struct entry *e = find(s, key_of(call_id), 0);

	if (e)
		e->key = 0;
}

unsigned gk_sessions_count(const struct gk_sessions *s, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i <= s->mask; i++)
		n += live(s, &s->e[i], now);
	return n;
}
