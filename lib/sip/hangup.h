/* lib/sip/hangup.h — the ACK and the BYE a UAC sends for a 2xx it does not
 * want (RFC 3261 13.2.2.4: a UAC that gets a 2xx from a second branch of a
 * fork "MUST" ACK it and then SHOULD end that dialog with a BYE). The proxy
 * core writes them when it ends a second answer of a fork itself
 * (sip_core_cfg.one_answer), so that the caller sees one call. */
#ifndef DPN_SIP_HANGUP_H
#define DPN_SIP_HANGUP_H

#include "sip/msg.h"

/* Writes the ACK (method SIP_ACK) or the BYE (SIP_BYE) for the 2xx `resp`
 * to `invite` into dst: Request-URI the Contact of resp (else invite's),
 * `via` as the only Via (a whole value, "SIP/2.0/UDP host:port;branch=.."),
 * From and Call-ID of invite, To of resp (with the callee's tag), CSeq the
 * INVITE's number (ACK) or one more (BYE). `extra` are whole header lines
 * (CRLF-ended) or NULL. Returns 0, EINVAL (another method, resp not a 2xx,
 * or a header missing), EBADMSG (a Contact that does not parse), ENOSPC
 * (dst too small). */
int sip_hangup_write(const struct sip_msg *invite, const struct sip_msg *resp,
		     enum sip_method method, const char *via,
		     const char *extra, char *dst, size_t cap, size_t *len);

#endif
