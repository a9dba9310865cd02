/* gatewayd/uplink.h — the flat's registration with the gatekeeper: a
 * REGISTER for AOR <flat number> with digest username "gw-<flat>" (the
 * gateway's username), realm "dpn", password = the gateway secret, Contact
 * = the first address. Refreshed at half the granted expiry, answered
 * challenges once per REGISTER, re-registered with backoff after a
 * failure or timeout; CRLF keep-alives (RFC 5626) every 30 s on the path.
 * Its REGISTERs go out on the SIP transport with their own Via branch
 * prefix, and their answers are taken before the proxy core sees them. */
#ifndef DPN_GW_UPLINK_H
#define DPN_GW_UPLINK_H

#include "sip/msg.h"

struct gw;

/* Starts (or, after the block moved, restarts) registering. */
void gw_uplink_start(struct gw *g);
/* 1 when m is the answer to one of our REGISTERs (consumed), else 0. */
int gw_uplink_response(struct gw *g, const struct sip_msg *m);
/* Stops and frees; the binding is left to expire. */
void gw_uplink_free(struct gw *g);

#endif
