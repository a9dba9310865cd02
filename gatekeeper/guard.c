/* gatekeeper/guard.c — flood bans, brute-force lockouts, scanner drops
 * and trusted sources (see guard.h). One hash table of preallocated
 * entries, keyed by (address, username): username "" is the source's own
 * entry (request window, failures of any user, its ban), a username the
 * pair's failures and lockout. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatekeeper/guard.h"

#define NIL UINT32_MAX
#define MAX_PREFIXES 64
#define MAX_SCANNERS 64
#define SCANNER_LEN 40

struct ent {
	uint32_t next;			/* bucket chain or free list */
	int used;
	uint8_t addr[16];		/* IPv4 as ::ffff:a.b.c.d */
	char user[GK_GUARD_USER_MAX];
	uint64_t win_ms;		/* start of the request window */
	unsigned reqs;
	uint64_t fail_ms;		/* first failure of the auth window */
	unsigned fails;
	struct gk_ban ban;		/* in force while until_ms > now */
	uint64_t hits_told;		/* hits last reported */
	uint64_t seen_ms;
	int peer;			/* a route peer's own entry: never
					   counted, banned or forgotten */
};

struct prefix {
	uint8_t addr[16];
	unsigned bits;
};

struct gk_guard {
	struct gk_guard_cfg cfg;
	const struct gk_guard_ops *ops;
	void *arg;
	struct ent *ents;
	uint32_t *buckets, nbuckets, free_head, used;
	uint32_t fresh;			/* ents[fresh..] never used yet: pages
					   untouched until a source needs them */
	struct prefix trusted[MAX_PREFIXES];
	unsigned ntrusted;
	uint8_t (*peers)[16];		/* route peers (their entries are
					   marked) */
	unsigned npeers;
	char scanners[MAX_SCANNERS][SCANNER_LEN];
	unsigned nscanners;
	struct gk_guard_stats st;
};

static const char *const reasons[GK_BAN_REASONS] = { "flood", "auth",
	"scanner", "lockout" };

const char *gk_ban_reason_name(enum gk_ban_reason r)
{
	return (unsigned)r < GK_BAN_REASONS ? reasons[r] : "?";
}

/* ---- addresses and lists ---- */

/* sa as 16 bytes (IPv4 mapped). 0 or EAFNOSUPPORT. */
static int key_addr(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &s->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)
		       ->sin6_addr, 16);
		return 0;
	}
	return EAFNOSUPPORT;
}

static void sockaddr_of(const uint8_t a[16], struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	memset(ss, 0, sizeof(*ss));
	if (memcmp(a, mapped, 12) == 0) {
		struct sockaddr_in *s = (void *)ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, a + 12, 4);
	} else {
		struct sockaddr_in6 *s = (void *)ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
	}
}

/* One "ADDR[/BITS]" into p. 0 or EINVAL. */
static int prefix_parse(const char *s, size_t n, struct prefix *p)
{
	char buf[64], *slash;
	unsigned max = 128, off = 0;
	struct in_addr a4;

	if (n == 0 || n >= sizeof(buf))
		return EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(p->addr, 0, 16);
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		p->addr[10] = p->addr[11] = 0xff;
		memcpy(p->addr + 12, &a4, 4);
		max = 32;
		off = 96;
	} else if (inet_pton(AF_INET6, buf, p->addr) != 1) {
		return EINVAL;
	}
	p->bits = max;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash, &end, 10);

		if (!*slash || *end || b > max)
			return EINVAL;
		p->bits = (unsigned)b;
	}
	p->bits += off;
	return 0;
}

/* The next comma-separated item of *s (blanks trimmed): 1, or 0 at the
 * end. */
static int next_item(const char **s, const char **item, size_t *n)
{
	const char *p = *s, *e;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (!*p)
		return 0;
	e = strchr(p, ',');
	*s = e ? e : p + strlen(p);
	e = *s;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*item = p;
	*n = (size_t)(e - p);
	return 1;
}

static int trusted_parse(const char *list, struct prefix *out, unsigned *n,
			 char *why, size_t cap)
{
	const char *s = list ? list : "", *it;
	size_t len;

	*n = 0;
	while (next_item(&s, &it, &len)) {
		if (*n == MAX_PREFIXES) {
			snprintf(why, cap, "more than %d prefixes", MAX_PREFIXES);
			return EINVAL;
		}
		if (prefix_parse(it, len, &out[*n])) {
			snprintf(why, cap, "not an address or prefix: %.*s",
				 (int)(len > 60 ? 60 : len), it);
			return EINVAL;
		}
		(*n)++;
	}
	return 0;
}

int gk_guard_trusted_check(const char *list, char *why, size_t cap)
{
	struct prefix p[MAX_PREFIXES];
	unsigned n;

	return trusted_parse(list, p, &n, why, cap);
}

static int scanners_parse(struct gk_guard *g, const char *list)
{
	const char *s = list ? list : "", *it;
	size_t len;

	g->nscanners = 0;
	while (next_item(&s, &it, &len) && g->nscanners < MAX_SCANNERS) {
		if (len >= SCANNER_LEN)
			len = SCANNER_LEN - 1;
		memcpy(g->scanners[g->nscanners], it, len);
		g->scanners[g->nscanners++][len] = '\0';
	}
	return 0;
}

static int prefix_match(const struct prefix *p, const uint8_t a[16])
{
	unsigned full = p->bits / 8, rest = p->bits % 8;

	if (memcmp(p->addr, a, full))
		return 0;
	return !rest || ((p->addr[full] ^ a[full]) & (0xff00 >> rest)) == 0;
}

static int trusted_key(const struct gk_guard *g, const uint8_t a[16])
{
	for (unsigned i = 0; i < g->ntrusted; i++)
		if (prefix_match(&g->trusted[i], a))
			return 1;
	return 0;
}

int gk_guard_trusted(const struct gk_guard *g, const struct sockaddr *sa)
{
	uint8_t a[16];

	return key_addr(sa, a) == 0 && trusted_key(g, a);
}

/* ---- the table ---- */

static uint32_t hash(const uint8_t a[16], const char *user)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	for (; *user; user++)
		h = (h ^ (uint8_t)*user) * 16777619u;
	return h;
}

static struct ent *find(struct gk_guard *g, const uint8_t a[16],
			const char *user)
{
	uint32_t i = g->buckets[hash(a, user) & (g->nbuckets - 1)];

	for (; i != NIL; i = g->ents[i].next)
		if (memcmp(g->ents[i].addr, a, 16) == 0 &&
		    strcmp(g->ents[i].user, user) == 0)
			return &g->ents[i];
	return NULL;
}

static void unlink_ent(struct gk_guard *g, struct ent *e)
{
	uint32_t idx = (uint32_t)(e - g->ents);
	uint32_t *pp = &g->buckets[hash(e->addr, e->user) & (g->nbuckets - 1)];

	while (*pp != idx)
		pp = &g->ents[*pp].next;
	*pp = e->next;
	e->used = 0;
	e->next = g->free_head;
	g->free_head = idx;
	g->used--;
}

/* The entry of (a, user), made when absent; NULL when the table is full. */
static struct ent *get(struct gk_guard *g, const uint8_t a[16],
		       const char *user, uint64_t now)
{
	struct ent *e = find(g, a, user);
	uint32_t b;

	if (e)
		return e;
	/* No sweep here: with the table full of a spoofed flood's sources
	 * that would scan it per packet. gk_guard_sweep (once a second)
	 * makes room. */
	if (g->free_head != NIL) {
		e = &g->ents[g->free_head];
		g->free_head = e->next;
	} else if (g->fresh < g->cfg.max_entries) {
		e = &g->ents[g->fresh++];
	} else {
		g->st.untracked++;
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	e->used = 1;
	memcpy(e->addr, a, 16);
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->seen_ms = now;
	b = hash(a, e->user) & (g->nbuckets - 1);
	e->next = g->buckets[b];
	g->buckets[b] = (uint32_t)(e - g->ents);
	g->used++;
	return e;
}

static int banned(const struct ent *e, uint64_t now)
{
	return e->ban.until_ms > now;
}

static void tell(struct gk_guard *g, struct ent *e, int ended)
{
	e->hits_told = e->ban.hits;
	if (g->ops && g->ops->ban)
		g->ops->ban(g->arg, &e->ban, ended);
}

static void start_ban(struct gk_guard *g, struct ent *e,
		      enum gk_ban_reason why, unsigned secs, uint64_t now)
{
	sockaddr_of(e->addr, &e->ban.addr);
	snprintf(e->ban.user, sizeof(e->ban.user), "%s", e->user);
	e->ban.reason = why;
	e->ban.since_ms = now;
	e->ban.until_ms = now + (uint64_t)secs * 1000;
	e->ban.hits = 0;
	e->reqs = e->fails = 0;
	g->st.bans[why]++;
	tell(g, e, 0);
}

/* ---- the checks ---- */

static int is_response(const char *buf, size_t len)
{
	return len >= 4 && memcmp(buf, "SIP/", 4) == 0;
}

int gk_guard_admit(struct gk_guard *g, const struct sockaddr *sa,
		   const char *buf, size_t len, uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (key_addr(sa, a) || trusted_key(g, a))
		return 0;
	e = find(g, a, "");
	if (e && e->peer)
		return 0;
	if (e && banned(e, now_ms)) {
		e->ban.hits++;
		g->st.dropped_banned++;
		return EPERM;
	}
	if (!g->cfg.window_ms || !g->cfg.limit || is_response(buf, len))
		return 0;
	if (!e && !(e = get(g, a, "", now_ms)))
		return 0;
	e->seen_ms = now_ms;
	if (now_ms - e->win_ms >= g->cfg.window_ms) {
		e->win_ms = now_ms;
		e->reqs = 0;
	}
	if (++e->reqs <= g->cfg.limit)
		return 0;
	start_ban(g, e, GK_BAN_FLOOD, g->cfg.ban_s, now_ms);
	g->st.dropped_banned++;
	return EPERM;
}

static int names_scanner(const struct gk_guard *g, const char *ua,
			 size_t len)
{
	for (unsigned i = 0; i < g->nscanners; i++) {
		size_t n = strlen(g->scanners[i]);

		for (size_t j = 0; n && j + n <= len; j++)
			if (strncasecmp(ua + j, g->scanners[i], n) == 0)
				return 1;
	}
	return 0;
}

int gk_guard_scanner(struct gk_guard *g, const struct sockaddr *sa,
		     const char *ua, size_t len, uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (key_addr(sa, a) || trusted_key(g, a) ||
	    !names_scanner(g, ua, len))
		return 0;
	g->st.dropped_scanner++;
	if (g->cfg.scanner_ban && g->cfg.ban_s &&
	    (e = get(g, a, "", now_ms)) && !e->peer && !banned(e, now_ms))
		start_ban(g, e, GK_BAN_SCANNER, g->cfg.ban_s, now_ms);
	return 1;
}

int gk_guard_locked(struct gk_guard *g, const char *user,
		    const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (!user[0] || key_addr(sa, a) || trusted_key(g, a))
		return 0;
	e = find(g, a, user);
	if (!e || !banned(e, now_ms))
		return 0;
	e->ban.hits++;
	g->st.refused_locked++;
	return 1;
}

/* One more failure of e; 1 when it reached max within the window. */
static int fail_count(struct ent *e, unsigned max, unsigned window_s,
		      uint64_t now)
{
	if (!e || !max)
		return 0;
	if (now - e->fail_ms >= (uint64_t)window_s * 1000) {
		e->fail_ms = now;
		e->fails = 0;
	}
	e->seen_ms = now;
	return ++e->fails >= max;
}

void gk_guard_auth(struct gk_guard *g, const char *user,
		   const struct sockaddr *sa, int ok, uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (!user[0] || key_addr(sa, a) || trusted_key(g, a))
		return;
	if (ok) {
		if ((e = find(g, a, user)) && !banned(e, now_ms))
			e->fails = 0;
		return;
	}
	g->st.auth_failures++;
	e = get(g, a, user, now_ms);
	if (fail_count(e, g->cfg.auth_fails, g->cfg.auth_window_s, now_ms) &&
	    !banned(e, now_ms))
		start_ban(g, e, GK_BAN_LOCKOUT, g->cfg.lock_s, now_ms);
	e = get(g, a, "", now_ms);
	if (e && e->peer)
		return;		/* locked per username, never banned */
	if (fail_count(e, g->cfg.src_auth_fails, g->cfg.auth_window_s,
		       now_ms) && !banned(e, now_ms))
		start_ban(g, e, GK_BAN_AUTH, g->cfg.ban_s, now_ms);
}

int gk_guard_ban(struct gk_guard *g, const struct sockaddr *sa,
		 enum gk_ban_reason why, unsigned secs, uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (key_addr(sa, a))
		return EAFNOSUPPORT;
	if (!(e = get(g, a, "", now_ms)))
		return ENOSPC;
	start_ban(g, e, why, secs, now_ms);
	return 0;
}

int gk_guard_restore(struct gk_guard *g, const struct gk_ban *b,
		     uint64_t now_ms)
{
	uint8_t a[16];
	struct ent *e;

	if (b->until_ms <= now_ms)
		return ESTALE;
	if (key_addr((const void *)&b->addr, a))
		return EAFNOSUPPORT;
	if (!(e = get(g, a, b->user, now_ms)))
		return ENOSPC;
	e->ban = *b;
	sockaddr_of(e->addr, &e->ban.addr);
	e->hits_told = b->hits;
	return 0;
}

int gk_guard_lift(struct gk_guard *g, const struct sockaddr *sa,
		  const char *user)
{
	uint8_t a[16];
	struct ent *e;

	if (key_addr(sa, a) || !(e = find(g, a, user ? user : "")) ||
	    !e->ban.until_ms)
		return ENOENT;
	tell(g, e, 1);
	if (e->peer)		/* the entry stays: it marks the peer */
		memset(&e->ban, 0, sizeof(e->ban));
	else
		unlink_ent(g, e);
	return 0;
}

/* a's own entry marked as a route peer's; a ban of it lifted. 0 or
 * ENOSPC (the table is full). */
static int mark_peer(struct gk_guard *g, const uint8_t a[16])
{
	struct ent *e = get(g, a, "", 0);

	if (!e)
		return ENOSPC;
	if (e->ban.until_ms) {	/* a ban from before it was a peer */
		tell(g, e, 1);
		memset(&e->ban, 0, sizeof(e->ban));
	}
	e->peer = 1;
	e->reqs = e->fails = 0;
	return 0;
}

int gk_guard_set_peers(struct gk_guard *g,
		       const struct sockaddr_storage *addrs, unsigned n)
{
	uint8_t (*p)[16] = n ? malloc(n * sizeof(*p)) : NULL;
	struct ent *e;
	int rc = 0;

	if (n && !p)
		return ENOMEM;
	for (unsigned i = 0; i < n; i++)
		if (key_addr((const void *)&addrs[i], p[i])) {
			free(p);
			return EINVAL;
		}
	for (unsigned i = 0; i < g->npeers; i++)
		if ((e = find(g, g->peers[i], "")) != NULL)
			e->peer = 0;	/* forgotten by the sweep if idle */
	free(g->peers);
	g->peers = p;
	g->npeers = n;
	for (unsigned i = 0; i < n; i++)
		if (mark_peer(g, p[i]))
			rc = ENOSPC;
	return rc;
}

/* ---- upkeep ---- */

static int stale(const struct gk_guard *g, const struct ent *e, uint64_t now)
{
	uint64_t keep = g->cfg.window_ms;

	if ((uint64_t)g->cfg.auth_window_s * 1000 > keep)
		keep = (uint64_t)g->cfg.auth_window_s * 1000;
	return !e->peer && !banned(e, now) && now - e->seen_ms >= keep;
}

unsigned gk_guard_sweep(struct gk_guard *g, uint64_t now_ms)
{
	unsigned n = 0, left = g->used;

	/* Freed entries are reused first, so the used ones are mostly at low
	 * indices: stop when all were seen. */
	for (uint32_t i = 0; i < g->fresh && left; i++) {
		struct ent *e = &g->ents[i];

		if (!e->used)
			continue;
		left--;
		if (banned(e, now_ms)) {
			n++;
			if (e->ban.hits != e->hits_told)
				tell(g, e, 0);
		} else if (stale(g, e, now_ms)) {
			unlink_ent(g, e);
		}
	}
	return n;
}

const struct gk_guard_stats *gk_guard_stats(const struct gk_guard *g)
{
	return &g->st;
}

/* ---- life ---- */

int gk_guard_set(struct gk_guard *g, const struct gk_guard_cfg *cfg)
{
	struct prefix p[MAX_PREFIXES];
	unsigned n, keep = g->cfg.max_entries;
	char why[96];

	if (trusted_parse(cfg->trusted, p, &n, why, sizeof(why)))
		return EINVAL;
	memcpy(g->trusted, p, sizeof(p));
	g->ntrusted = n;
	scanners_parse(g, cfg->scanners);
	g->cfg = *cfg;
	g->cfg.max_entries = keep;
	g->cfg.scanners = g->cfg.trusted = NULL;	/* parsed; not kept */
	return 0;
}

int gk_guard_new(const struct gk_guard_cfg *cfg, const struct gk_guard_ops *ops,
		 void *arg, struct gk_guard **out)
{
	struct gk_guard *g;
	uint32_t nb = 16;

	if (!cfg->max_entries || cfg->max_entries > (1u << 24))
		return EINVAL;
	while (nb < cfg->max_entries)
		nb <<= 1;
	g = calloc(1, sizeof(*g));
	if (!g)
		return ENOMEM;
	g->ents = calloc(cfg->max_entries, sizeof(*g->ents));
	g->buckets = malloc(nb * sizeof(*g->buckets));
	g->cfg.max_entries = cfg->max_entries;
	if (!g->ents || !g->buckets || gk_guard_set(g, cfg)) {
		int rc = g->ents && g->buckets ? EINVAL : ENOMEM;

		gk_guard_free(g);
		return rc;
	}
	memset(g->buckets, 0xff, nb * sizeof(*g->buckets));
	g->nbuckets = nb;
	g->free_head = NIL;
	g->ops = ops;
	g->arg = arg;
	*out = g;
	return 0;
}

void gk_guard_free(struct gk_guard *g)
{
	if (!g)
		return;
	free(g->ents);
	free(g->buckets);
	free(g->peers);
	free(g);
}
