/* lib/sip/build.h — write new SIP messages as text: responses to a request
 * (copying Via, From, To, Call-ID and CSeq as RFC 3261 8.2.6 says), the
 * ACK for a non-2xx final response and the CANCEL of an INVITE (17.1.1.3,
 * 9.1), and new requests. Each writes into a caller buffer and returns 0,
 * ENOSPC (buffer too small; *len unchanged) or EINVAL. The results parse
 * with sip_msg_parse(). */
#ifndef DPN_SIP_BUILD_H
#define DPN_SIP_BUILD_H

#include "sip/msg.h"

/* A response to req. `reason` NULL means the standard phrase; it must not
 * hold CR or LF. `to_tag`, when not NULL and the To lacks a tag, is added.
 * `extra` (may be NULL) is inserted verbatim before Content-Length: whole
 * header lines, each ending in CRLF. `body` may be NULL. Works on a request
 * that failed sip_msg_check() too: it copies the headers that are there. */
int sip_response_write(const struct sip_msg *req, int status,
		       const char *reason, const char *to_tag,
		       const char *extra, struct sip_str body, char *dst,
		       size_t cap, size_t *len);

/* The standard reason phrase of a status code ("Unknown" if none). */
const char *sip_reason_phrase(int status);

/* ACK (for a non-2xx final response `resp`) or CANCEL of `invite`, as the
 * client transaction sends it: same Request-URI, top Via only, From,
 * Call-ID, CSeq number with the new method, Route; To from resp for ACK.
 * resp is ignored for CANCEL. */
int sip_ack_cancel_write(const struct sip_msg *invite, enum sip_method method,
			 const struct sip_msg *resp, char *dst, size_t cap,
			 size_t *len);

/* What an INVITE's CANCEL and its non-2xx ACK repeat, taken once from the
 * parsed INVITE (a client transaction keeps it) so that neither needs the
 * INVITE parsed again: its Request-URI, then the lines Via (top value
 * only), Route, Max-Forwards, From, To and Call-ID as they are written,
 * and the CSeq number. `text` is the caller's buffer. */
struct sip_ack_stem {
	const char *text;
	size_t ruri_len;	/* text starts with the Request-URI */
	size_t to, callid, len;	/* offsets of the To and Call-ID lines, end */
	uint32_t cseq;
};
/* Fill *s from invite, its text written into buf (cap bytes). Returns 0,
 * EINVAL (no Via, To or CSeq) or ENOSPC. */
int sip_ack_stem_fill(const struct sip_msg *invite, char *buf, size_t cap,
		      struct sip_ack_stem *s);
/* The CANCEL (resp ignored) or the ACK for non-2xx resp (its To) from a
 * stem: the text sip_ack_cancel_write writes, with `extra` (whole header
 * lines, each ending in CRLF; may be NULL) before Content-Length.
 * Returns 0, EINVAL (another method; an ACK without resp or its To) or
 * ENOSPC. */
int sip_ack_stem_write(const struct sip_ack_stem *s, enum sip_method method,
		       const struct sip_msg *resp, const char *extra,
		       char *dst, size_t cap, size_t *len);

/* A new request. Strings are whole header values (without the name);
 * NULL ones are left out (contact, route, extra, content_type). */
struct sip_request_spec {
	const char *method, *ruri, *via, *from, *to, *call_id, *contact;
	const char *route, *content_type, *extra;
	uint32_t cseq;
	unsigned max_forwards;
	struct sip_str body;
};
int sip_request_write(const struct sip_request_spec *s, char *dst, size_t cap,
		      size_t *len);

#endif
