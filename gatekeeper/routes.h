/* gatekeeper/routes.h — the site's outbound routes in memory (from
 * schema/070_gk_routes.sql): routes (digit prefix -> peer group), the
 * groups' peers (address, transport, trusted) and each peer's OPTIONS
 * probing state (gatekeeper/probe.c). Longest prefix wins; a group's
 * peers are tried in an order that starts at a Call-ID hash and skips
 * peers that probing marked down. Single-threaded (the loop thread). */
#ifndef DPN_GK_ROUTES_H
#define DPN_GK_ROUTES_H

#include <stdint.h>

#include "sip/msg.h"
#include "sip/transport.h"

#define GK_ROUTE_PREFIX_MAX 32
#define GK_GROUP_PEERS_MAX 16	/* one fork's branches (SIP_FORK_MAX) */

struct gk_peer {
	int64_t id, group_id;
	struct sip_peer to;
	char host[48];		/* dotted quad */
	unsigned port;
	int tcp, trusted;
	unsigned weight;	/* share of new calls (0 counts as 1) */
	/* probing (probe.c) */
	int up;			/* 1 until probing says otherwise */
	unsigned fails, oks;	/* consecutive */
	int waiting;		/* a probe is out, not answered yet */
	uint32_t seq;		/* of the probe out */
	int saved;		/* state written to the database */
};

struct gk_route {
	char prefix[GK_ROUTE_PREFIX_MAX + 1];
	size_t len;
	int64_t group_id;
	unsigned first, n;	/* the group's peers: peers[first..first+n) */
};

struct gk_routes {
	struct gk_peer *peers;	/* sorted by group id, then peer id */
	unsigned npeers;
	struct gk_route *routes;	/* longest prefix first */
	unsigned nroutes;
};

/* Empty tables: 0 or ENOMEM. Freed with gk_routes_free. */
int gk_routes_new(struct gk_routes **out);
void gk_routes_free(struct gk_routes *t);

/* Append a peer (rows must come sorted by group id, then id) / a route
 * (longest prefix first). 0, EINVAL (bad address, prefix or too many
 * peers in the group), ENOMEM. */
int gk_routes_add_peer(struct gk_routes *t, const struct gk_peer *p);
int gk_routes_add_route(struct gk_routes *t, const char *prefix,
			int64_t group_id);

/* Keep the probing state of peers that `old` held (same id and address):
 * a reload must not bring a dead peer back. */
void gk_routes_keep_state(struct gk_routes *t, const struct gk_routes *old);

/* The route of the dialled number s (digits and dashes; anything else is
 * skipped), or NULL. */
const struct gk_route *gk_routes_match(const struct gk_routes *t,
				       const char *s);

/* The peers to try for a new call of call_id on route r, in order: up
 * peers only, starting at the one the Call-ID hash picks by weight (a peer
 * of weight 2 starts twice as many calls as one of weight 1), then the
 * others in table order. Returns how many (0: none up) written to
 * out[GK_GROUP_PEERS_MAX]. */
unsigned gk_routes_order(const struct gk_routes *t, const struct gk_route *r,
			 struct sip_str call_id, struct gk_peer **out);

/* The peer at `from`'s address (any port), or NULL. */
const struct gk_peer *gk_routes_peer_at(const struct gk_routes *t,
					const struct sip_peer *from);

unsigned gk_routes_up(const struct gk_routes *t);

#endif
