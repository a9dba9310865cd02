/* lib/sip/sdp.h — read and rewrite the connection (c=) and media (m=)
 * lines of an SDP body (RFC 4566), as a media relay needs: where does each
 * stream go, and the same body pointing at other addresses and ports.
 * Parsing is zero-copy; limits: SIP_SDP_MAX_MEDIA streams. */
#ifndef DPN_SIP_SDP_H
#define DPN_SIP_SDP_H

#include "sip/msg.h"

#define SIP_SDP_MAX_MEDIA 8

/* c=<nettype> <addrtype> <address> */
struct sip_sdp_conn {
	struct sip_str nettype, addrtype, addr;
	int present;
};

/* m=<media> <port>[/<n>] <proto> <fmt> ...; `conn` is the media-level c=
 * when present (it overrides the session one). */
struct sip_sdp_media {
	struct sip_str media, proto, fmts;
	unsigned port, nports;
	struct sip_sdp_conn conn;
};

struct sip_sdp {
	struct sip_sdp_conn conn;	/* session level */
	unsigned nmedia;
	struct sip_sdp_media media[SIP_SDP_MAX_MEDIA];
};

/* Parse body. Every line must be <letter>=<text>; the first v=0. Returns
 * 0, EBADMSG (malformed c=/m= or line), E2BIG (too many m= lines). */
int sip_sdp_parse(struct sip_str body, struct sip_sdp *out);

/* The address a stream's media goes to: the media c= or else the session
 * one; empty when neither. */
struct sip_str sip_sdp_media_addr(const struct sip_sdp *s, unsigned i);

/* Write body with every c= address replaced by `addr` (IP4 or IP6 chosen
 * by its form; NULL keeps them) and the port of media i replaced by
 * ports[i] when ports and ports[i] != 0 (0 keeps it). Other lines are
 * copied as they are. Returns 0, EBADMSG, ENOSPC. */
int sip_sdp_rewrite(struct sip_str body, const char *addr,
		    const unsigned *ports, unsigned nports, char *dst,
		    size_t cap, size_t *len);

#endif
