/* gatekeeper/media_dlg.h — each end's dialog of an anchored call (remote
 * target, route set, tags, CSeq: RFC 3261 12.1), kept so that the
 * gatekeeper can end the call both ways with BYEs that follow the route
 * set (media timeout). See media_dlg.c. */
#ifndef DPN_GK_MEDIA_DLG_H
#define DPN_GK_MEDIA_DLG_H

#include "sip/msg.h"
#include "sip/transport.h"

struct gk;
struct gk_media_dlg;

/* From the call's first INVITE (req: as it came, our Route removed) and
 * the 2xx that answered it (ok: as it came from the callee): `callee` is
 * where that INVITE was sent; from_flat: the caller is a flat (else the
 * callee is). Returns 0
 * and *out (the caller frees it with gk_media_dlg_free), EBADMSG (a
 * header missing or malformed), ENOMEM. */
int gk_media_dlg_new(const struct gk *g, const struct sip_msg *req,
		     const struct sip_msg *ok, const struct sip_peer *callee,
		     int from_flat, struct gk_media_dlg **out);
void gk_media_dlg_free(struct gk_media_dlg *d);

/* An in-dialog request m of the call passed: its sender's CSeq noted;
 * an INVITE or UPDATE with a Contact is a target refresh (RFC 3261
 * 12.2.2: the sender's remote target is that Contact now). d may be
 * NULL. */
void gk_media_dlg_request(struct gk_media_dlg *d, const struct sip_msg *m);
/* The CSeqs the caller and the callee used before d was made (requests
 * of the early dialog: a PRACK, an UPDATE): each end's highest is at
 * least these from now on. */
void gk_media_dlg_cseqs(struct gk_media_dlg *d, uint32_t caller,
			uint32_t callee);
/* A response m of the call: a 2xx to an INVITE or UPDATE with a Contact
 * refreshes its sender's remote target (12.2.1.2). d may be NULL. */
void gk_media_dlg_answer(struct gk_media_dlg *d, const struct sip_msg *m);

/* A BYE to each end (the callee first) inside the dialog, each through
 * its route set, Call-ID `callid`, with `extra` header lines (CRLF-ended,
 * e.g. a Reason). A BYE that cannot be sent is logged. */
void gk_media_dlg_bye(struct gk *g, const struct gk_media_dlg *d,
		      const char *callid, const char *extra);

/* The BYE gk_media_dlg_bye sends to the callee (callee = 1) or the
 * caller (0): written into buf (cap bytes) and parsed into *m, with topo
 * hiding's edits for the side it leaves by; *next is where it goes.
 * Returns 0 (release m with sip_msg_release), ENOSPC, EBADMSG, EINVAL (a
 * Route that names no address), or an errno of topo.c's edits. */
int gk_media_dlg_bye_msg(struct gk *g, const struct gk_media_dlg *d,
			 int callee, const char *callid, const char *extra,
			 char *buf, size_t cap, struct sip_msg *m,
			 struct sip_peer *next);

#endif
