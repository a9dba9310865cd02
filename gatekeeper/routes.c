/* gatekeeper/routes.c — the outbound route table (routes.h): prefix match,
 * peer order by Call-ID hash, peer lookup by address. Filled by
 * gatekeeper/routes_db.c, probed by gatekeeper/probe.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/routes.h"

int gk_routes_new(struct gk_routes **out)
{
	struct gk_routes *t = calloc(1, sizeof(*t));

	if (!t)
		return ENOMEM;
	*out = t;
	return 0;
}

void gk_routes_free(struct gk_routes *t)
{
	if (!t)
		return;
	free(t->peers);
	free(t->routes);
	free(t);
}

/* Room for one more element of size sz in *arr holding n: the capacity
 * is 8, then doubles at each power of two. 0 or ENOMEM. */
static int grow(void **arr, unsigned n, size_t sz)
{
	void *p;

	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return 0;
	p = realloc(*arr, (n ? 2 * (size_t)n : 8) * sz);
	if (!p)
		return ENOMEM;
	*arr = p;
	return 0;
}

static unsigned group_peers(const struct gk_routes *t, int64_t group_id,
			    unsigned *first)
{
	unsigned i, n = 0;

	for (i = 0; i < t->npeers && t->peers[i].group_id != group_id; i++)
		;
	*first = i;
	while (i + n < t->npeers && t->peers[i + n].group_id == group_id)
		n++;
	return n;
}

int gk_routes_add_peer(struct gk_routes *t, const struct gk_peer *p)
{
	struct gk_peer *q;
	unsigned first;
	int rc;

	if (group_peers(t, p->group_id, &first) >= GK_GROUP_PEERS_MAX)
		return EINVAL;
	if ((rc = grow((void **)&t->peers, t->npeers, sizeof(*q))) != 0)
		return rc;
	q = &t->peers[t->npeers];
	*q = *p;
	if (sip_peer_set(&q->to, q->tcp ? SIP_PROTO_TCP : SIP_PROTO_UDP,
			 (struct sip_str){ q->host, strlen(q->host) }, q->port))
		return EINVAL;
	q->up = 1;
	q->fails = q->oks = 0;
	q->waiting = q->saved = 0;
	t->npeers++;
	return 0;
}

int gk_routes_add_route(struct gk_routes *t, const char *prefix,
			int64_t group_id)
{
	size_t len = strlen(prefix);
	struct gk_route *r;
	int rc;

	if (len == 0 || len > GK_ROUTE_PREFIX_MAX ||
	    strspn(prefix, "0123456789") != len)
		return EINVAL;
	if ((rc = grow((void **)&t->routes, t->nroutes, sizeof(*r))) != 0)
		return rc;
	r = &t->routes[t->nroutes++];
	memcpy(r->prefix, prefix, len + 1);
	r->len = len;
	r->group_id = group_id;
	r->n = group_peers(t, group_id, &r->first);
	return 0;
}

void gk_routes_keep_state(struct gk_routes *t, const struct gk_routes *old)
{
	for (unsigned i = 0; old && i < t->npeers; i++)
		for (unsigned j = 0; j < old->npeers; j++) {
			const struct gk_peer *o = &old->peers[j];
			struct gk_peer *p = &t->peers[i];

			if (o->id != p->id || strcmp(o->host, p->host) ||
			    o->port != p->port || o->tcp != p->tcp)
				continue;
			p->up = o->up;
			p->fails = o->fails;
			p->oks = o->oks;
			p->saved = o->saved;
			break;
		}
}

const struct gk_route *gk_routes_match(const struct gk_routes *t,
				       const char *s)
{
	char d[GK_ROUTE_PREFIX_MAX * 4];
	size_t n = 0;

	for (; *s && n < sizeof(d) - 1; s++)
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	d[n] = '\0';
	for (unsigned i = 0; i < t->nroutes; i++)	/* longest first */
		if (t->routes[i].len <= n &&
		    memcmp(t->routes[i].prefix, d, t->routes[i].len) == 0)
			return &t->routes[i];
	return NULL;
}

/* FNV-1a of the Call-ID: the same call always starts at the same peer. */
static uint32_t hash(struct sip_str s)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (unsigned char)s.s[i]) * 16777619u;
	return h;
}

static unsigned weight(const struct gk_peer *p)
{
	return p->weight ? p->weight : 1;
}

unsigned gk_routes_order(const struct gk_routes *t, const struct gk_route *r,
			 struct sip_str call_id, struct gk_peer **out)
{
	struct gk_peer *up[GK_GROUP_PEERS_MAX];
	unsigned n = 0, total = 0, start = 0, x;

	for (unsigned i = 0; i < r->n; i++)
		if (t->peers[r->first + i].up) {
			up[n++] = &t->peers[r->first + i];
			total += weight(up[n - 1]);
		}
	if (n == 0)
		return 0;
	x = hash(call_id) % total;
	while (x >= weight(up[start]))
		x -= weight(up[start++]);
	for (unsigned i = 0; i < n; i++)
		out[i] = up[(start + i) % n];
	return n;
}

const struct gk_peer *gk_routes_peer_at(const struct gk_routes *t,
					const struct sip_peer *from)
{
	const struct sockaddr_in *a = (const void *)&from->sa;

	if (!t || from->sa.ss_family != AF_INET)
		return NULL;
	for (unsigned i = 0; i < t->npeers; i++) {
		const struct sockaddr_in *b = (const void *)&t->peers[i].to.sa;

		if (a->sin_addr.s_addr == b->sin_addr.s_addr)
			return &t->peers[i];
	}
	return NULL;
}

unsigned gk_routes_up(const struct gk_routes *t)
{
	unsigned n = 0;

	for (unsigned i = 0; t && i < t->npeers; i++)
		n += t->peers[i].up != 0;
	return n;
}
