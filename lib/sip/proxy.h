/* lib/sip/proxy.h — helpers for a proxy (RFC 3261 section 16): request
 * validation (Max-Forwards, URI scheme, Proxy-Require, loop detection), the
 * Max-Forwards decrement, branch values that let loops be detected, the
 * next hop of a response, and the RFC 3261 17.2.3 / RFC 2543 transaction
 * key. They read messages parsed by msg.h and edit them through it. */
#ifndef DPN_SIP_PROXY_H
#define DPN_SIP_PROXY_H

#include "sip/hdr.h"

/* This proxy: its Via sent-by, for loop detection, and the option tags it
 * supports (NULL-terminated, may be NULL). */
struct sip_proxy_self {
	const char *host;
	unsigned port;
	const char *const *supported;
};

/* RFC 3261 16.3 steps 3-6 on a request that passed sip_msg_check():
 * returns 0 to go on, or the status to answer: 416 (scheme neither sip,
 * sips nor tel), 483 (Max-Forwards 0), 482 (loop), 420 (Proxy-Require
 * names an unsupported extension; put sip_proxy_unsupported() into an
 * Unsupported header). *reason is a static phrase. */
int sip_proxy_check_request(const struct sip_msg *m,
			    const struct sip_proxy_self *self,
			    const char **reason);

/* The Proxy-Require tags that self does not support, comma-separated, in
 * dst (capacity cap, NUL-terminated). Returns 0 or ENOSPC. */
int sip_proxy_unsupported(const struct sip_msg *m,
			  const struct sip_proxy_self *self, char *dst,
			  size_t cap);

/* Decrement Max-Forwards, or add "Max-Forwards: 70" when absent.
 * Returns 0, ENOMEM, E2BIG, or EBADMSG. */
int sip_proxy_dec_max_forwards(struct sip_msg *m);

/* A branch for the Via this proxy adds: "z9hG4bK" + a hash of the
 * incoming transaction (stable across retransmissions, shared by a CANCEL
 * and its INVITE) + "." + the loop hash (16.6 step 8). dst needs 41 bytes.
 * Returns 0, EBADMSG (no usable Via) or ENOSPC. */
#define SIP_BRANCH_LEN 41
int sip_proxy_branch(const struct sip_msg *m, char *dst, size_t cap);

/* Where a response goes after this proxy removed its own Via: the second
 * Via's received (else host) and rport (else port, else 5060). Refuses
 * (EADDRNOTAVAIL) broadcast, multicast and unspecified IPv4 targets
 * (RFC 4475 3.3.10); ENOENT when there is no second Via. */
int sip_proxy_response_target(const struct sip_msg *m, struct sip_str *host,
			      unsigned *port);

/* Transaction key of a message (17.1.3, 17.2.3): for an RFC 3261 branch
 * (the magic cookie plus at least one more character) branch, sent-by and
 * method; otherwise (RFC 2543, including a branch that is the bare cookie,
 * RFC 4475 3.2.1) Request-URI, From tag, Call-ID, CSeq number, top Via
 * sent-by and method, plus the To tag unless `method` is given (an ACK or
 * CANCEL looked up as the INVITE it belongs to carries the tag the INVITE
 * lacked). `method` 0 means the message's own (CSeq method). The fields go
 * into `text` (len bytes, compared byte for byte after the hash matched)
 * and `hash` is their hash. `rfc3261` tells which rule applied. Returns 0
 * or EBADMSG (no usable Via/CSeq, or fields longer than SIP_TSX_KEY_MAX). */
#define SIP_TSX_KEY_MAX 1024
struct sip_tsx_key {
	uint64_t hash;
	int rfc3261;
	size_t len;
	char text[SIP_TSX_KEY_MAX];
};
int sip_tsx_key(const struct sip_msg *m, enum sip_method method,
		struct sip_tsx_key *key);

/* A 64-bit FNV-1a variant that takes 8 bytes a step, for keys and
 * hashes (not for security: the full key is compared after it). */
uint64_t sip_hash(uint64_t h, const void *p, size_t n);
#define SIP_HASH_INIT 0xcbf29ce484222325ULL

#endif
