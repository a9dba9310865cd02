/* gatekeeper/media.h — media anchoring through rtpengine: which calls are
 * anchored, the ng offer/answer/delete that keep rtpengine consistent with
 * the call, and the media timeout. See docs/gatekeeper.md, "Media". */
#ifndef DPN_GK_MEDIA_H
#define DPN_GK_MEDIA_H

#include <stdint.h>

#include "sip/core.h"

struct gk;
struct gk_media;

/* Where the sender of a request is, for the ng `direction` of its offer:
 * DIRECT means the call is not anchored (flat to flat of this complex). */
enum gk_media_side { GK_MEDIA_DIRECT, GK_MEDIA_FROM_PUBLIC,
		     GK_MEDIA_FROM_PRIVATE };

/* Counters of /metrics (dpn_gk_media_*). */
struct gk_media_stats {
	uint64_t anchored, direct, no_relay, failed, deleted, timeouts,
		 table_full, bad_body;	/* bad_body: lib/sip/multipart.h
					   refused it (400, or as a failed
					   answer) */
};

/* Start media anchoring when rtpengine instances are configured (else
 * *out = NULL and every call is forwarded unanchored). 0 or an errno. */
int gk_media_new(struct gk *g, struct gk_media **out);
void gk_media_free(struct gk_media *m);

/* Forward fk's request to `to` (Request-URI ruri/len, or the request's
 * own when ruri is NULL); `to` NULL: to the branches the caller added
 * (sip_fork_add), one after the other (an outbound route's failover). When the call is anchored (a new INVITE with
 * SDP from `side` != DIRECT; an in-dialog INVITE/UPDATE/PRACK with SDP
 * of an anchored call) its SDP is first offered to rtpengine (a PRACK
 * acknowledging a 1xx that offered: answered) and the branch starts when
 * the rewritten SDP came back (a new INVITE without SDP: at once, its 2xx
 * and ACK, or a 1xx and its PRACK, carry offer and answer: RFC 3262); a
 * BYE of an anchored call
 * deletes its streams; a re-INVITE without SDP of an anchored call
 * makes its 2xx the offer and its ACK the answer. The SDP may be the body
 * or a multipart part (lib/sip/multipart.h); a body media cannot rewrite
 * safely: 400 to the sender, counted. No instance answering: 503 to the
 * sender, counted. Never blocks. */
void gk_media_forward(struct gk *g, struct sip_fork *fk, const char *ruri,
		      size_t len, const struct sip_peer *to,
		      enum gk_media_side side);

/* An ACK for a 2xx, going to `to` (ops->route): 1 when media took it
 * (a late-offer call's answer: it is sent, rewritten, from the ng
 * callback, or dropped), 0 when it goes on as it is. */
int gk_media_ack(struct gk *g, const struct sip_msg *m,
		 const struct sip_peer *to);

/* Core hooks (struct sip_core_ops .response, .final and .done). */
int gk_media_response(void *arg, struct sip_fork *f, unsigned branch,
		      struct sip_msg *m);
void gk_media_final(void *arg, struct sip_fork *f, int status);
void gk_media_done(void *arg, struct sip_fork *f, int status);

/* From the one-second tick: media-timeout checks. */
void gk_media_tick(struct gk *g);
const struct gk_media_stats *gk_media_stats(const struct gk_media *m);
unsigned gk_media_calls(const struct gk_media *m);

#endif
