/* gatekeeper/media_early.h — the early dialogs of an anchored late-offer
 * call whose offer came in a 1xx (RFC 3262: a reliable 183 carries the
 * offer, the PRACK the answer), one per To tag, so that forked handsets
 * stay separate. See media_early.c. */
#ifndef DPN_GK_MEDIA_EARLY_H
#define DPN_GK_MEDIA_EARLY_H

#include <stddef.h>

#include "sip/msg.h"

#define GK_EARLY_MAX 16		/* early dialogs per call (forked 1xx) */

enum gk_early_state {
	GK_EARLY_OFFERING,	/* the 1xx's offer is at rtpengine */
	GK_EARLY_OFFERED,	/* rewritten and forwarded: the PRACK (or the
				   ACK, the 1xx unreliable) answers */
	GK_EARLY_ANSWERING,	/* the PRACK's answer is at rtpengine */
	GK_EARLY_DONE		/* rtpengine took the PRACK's answer */
};

struct gk_early {
	struct gk_early *next;
	char *tag;		/* the To tag of the 1xx */
	size_t tlen;
	enum gk_early_state state;
	char *sdp;		/* rtpengine's SDP of the offer (NULL while
				   offering): every later 1xx/2xx of this
				   tag carries it (RFC 6337 3.1) */
	size_t len;
};

/* The early dialog of To tag `tag` in *list, or NULL. */
struct gk_early *gk_early_find(struct gk_early *list, struct sip_str tag);
/* A new early dialog of `tag` (state OFFERING) at the head of *list:
 * 0 and *out, ENOSPC (GK_EARLY_MAX of them already), ENOMEM. */
int gk_early_add(struct gk_early **list, struct sip_str tag,
		 struct gk_early **out);
/* rtpengine's SDP for e's offer (copied): e is OFFERED. 0 or ENOMEM. */
int gk_early_offered(struct gk_early *e, struct sip_str sdp);
/* Remove e (its offer failed: a retransmission of the 1xx tries again). */
void gk_early_remove(struct gk_early **list, struct gk_early *e);
void gk_early_free(struct gk_early *list);

#endif
