/* lib/sip/multipart.h — MIME multipart bodies (RFC 2046 5.1, in SIP: RFC
 * 5621) as a media anchor needs them: find the SDP of a message whether it
 * is the whole body or one part of a multipart/mixed body (SIP-I/SIP-T
 * trunks carry ISUP beside it, some handsets other parts), and write the
 * same body with only that SDP replaced — preamble, boundaries, the other
 * parts and the epilogue kept byte for byte.
 *
 * Parsing is zero-copy (slices of the body) and strict, so that nothing
 * a parser elsewhere would read as SDP slips past unrewritten: CRLF line
 * ends, a closing delimiter, a blank line after each part's headers, a
 * delimiter line that is nothing but the delimiter (and white space).
 * Limits: SIP_MP_PARTS_MAX parts, boundaries of 1..70 characters; a body
 * is at most SIP_MAX_MSG bytes already. */
#ifndef DPN_SIP_MULTIPART_H
#define DPN_SIP_MULTIPART_H

#include "sip/msg.h"

#define SIP_MP_PARTS_MAX 16
#define SIP_MP_BOUNDARY_MAX 70

struct sip_mp_part {
	struct sip_str hdrs;	/* its header lines, CRLF-ended (may be empty) */
	struct sip_str type;	/* its Content-Type without parameters;
				   empty when it has none (text/plain) */
	struct sip_str content;	/* its bytes up to the CRLF of the next
				   delimiter */
};

struct sip_mp {
	struct sip_str boundary;	/* without quotes */
	unsigned n;
	struct sip_mp_part part[SIP_MP_PARTS_MAX];
};

/* The media type of a Content-Type value, without parameters and white
 * space ("multipart/mixed" of "multipart/mixed ;boundary=x"). */
struct sip_str sip_mime_type(struct sip_str ctype);

/* Whether Content-Type value ctype is multipart/<any subtype>. */
int sip_mp_is(struct sip_str ctype);

/* Split body by the boundary parameter of Content-Type value ctype.
 * Returns 0, EBADMSG (no or bad boundary, no first or closing delimiter,
 * a part without a blank line after its headers, a bad header line or
 * delimiter line; *why, when not NULL, gets a static reason), or E2BIG
 * (more than SIP_MP_PARTS_MAX parts). *out is filled only on success. */
int sip_mp_parse(struct sip_str ctype, struct sip_str body,
		 struct sip_mp *out, const char **why);

/* Write body (the one mp was parsed from) with the content of part i
 * replaced by `content` into dst (capacity cap); *len is its length.
 * Returns 0, EINVAL (no part i, mp not of this body, or content holds
 * the delimiter), ENOSPC. */
int sip_mp_replace(struct sip_str body, const struct sip_mp *mp, unsigned i,
		   struct sip_str content, char *dst, size_t cap, size_t *len);

/* The SDP of m: its body when its Content-Type is application/sdp, or the
 * one application/sdp part of a multipart body. Returns 0 (*sdp set,
 * pointing into m's body), ENOENT (no SDP: no body, another type, a
 * multipart body without an SDP part), or EBADMSG (a body without
 * Content-Type, a malformed multipart body, two SDP parts, a nested
 * multipart part: none of these can be rewritten safely; *why set). */
int sip_msg_sdp(const struct sip_msg *m, struct sip_str *sdp,
		const char **why);

/* Replace the SDP of m (as sip_msg_sdp finds it) by sdp (len bytes,
 * copied); Content-Length follows when m is written. Returns 0, ENOENT,
 * EBADMSG (as sip_msg_sdp), EINVAL (sdp holds the boundary), E2BIG,
 * ENOMEM. */
int sip_msg_set_sdp(struct sip_msg *m, const char *sdp, size_t len);

#endif
