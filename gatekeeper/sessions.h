/* gatekeeper/sessions.h — the route peer each outbound call took, by
 * Call-ID, so that every later request of the call goes to the same peer
 * even when it does not carry the Route (a UA that sends its BYE or ACK to
 * the number at the gatekeeper) and even when the INVITE failed over.
 * A fixed table (no allocation after start): the Call-ID's 64-bit hash,
 * the peer, when it was set; a bounded probe window per key, the oldest
 * entry of the window replaced when it is full; entries older than the
 * time to live are gone. Single-threaded (the loop thread). */
#ifndef DPN_GK_SESSIONS_H
#define DPN_GK_SESSIONS_H

#include <stdint.h>

#include "sip/msg.h"
#include "sip/transport.h"

struct gk_sessions;

/* A table of `cap` entries (rounded up to a power of two, at least 64)
 * whose entries live `ttl` seconds. 0 or ENOMEM. */
int gk_sessions_new(unsigned cap, unsigned ttl, struct gk_sessions **out);
void gk_sessions_free(struct gk_sessions *s);

/* Call call_id goes to `to` (an IPv4 peer; others are ignored). */
void gk_sessions_put(struct gk_sessions *s, struct sip_str call_id,
		     const struct sip_peer *to, uint64_t now);
/* The peer of call_id into *to: 0, or ENOENT (none, or expired). */
int gk_sessions_get(const struct gk_sessions *s, struct sip_str call_id,
		    uint64_t now, struct sip_peer *to);
void gk_sessions_del(struct gk_sessions *s, struct sip_str call_id);
unsigned gk_sessions_count(const struct gk_sessions *s, uint64_t now);

#endif
