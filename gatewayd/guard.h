/* gatewayd/guard.h — two call-safety pieces of dpn-gatewayd's SIP side:
 *
 *   flood.c   per-source request limits: a handset (or anything else on
 *             the flat's LAN) sending more than `flood-rate` requests a
 *             second beyond a burst of `flood-burst` has the excess
 *             dropped and counted; the gatekeeper is exempt (it carries
 *             every caller's requests);
 *   answer.c  the 2xx that goes upstream names the handset that answered
 *             (P-Asserted-Identity: <sip:<handset number>@<first>>).
 *
 * A second 2xx of a flat call is ended by the lib core (cfg.one_answer). */
#ifndef DPN_GW_GUARD_H
#define DPN_GW_GUARD_H

#include "sip/msg.h"
#include "sip/transport.h"

struct gw;
struct sip_fork;

/* Registers the flood metric (dpn_gw_flood_dropped_total) and empties the
 * table. 0 or ENOMEM. */
int gw_flood_init(struct gw *g);
/* The transport's admit hook (arg is the struct gw), before any parsing:
 * 1 drops a request whose source is over its limit (counted, logged
 * rate-limited when a source starts flooding); responses and new TCP
 * connections always pass (0). */
int gw_flood_admit(void *arg, const struct sip_peer *from, const char *buf,
		   size_t len);

/* The core's `answer` op (arg is the struct gw): a 2xx to an INVITE from a
 * branch sent to a handset gets that handset's full number as its only
 * P-Asserted-Identity. Anything else is left as it is. */
void gw_answer_identity(void *arg, struct sip_fork *f, unsigned branch,
			struct sip_msg *resp);

#endif
