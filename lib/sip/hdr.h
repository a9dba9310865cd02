/* lib/sip/hdr.h — parsers for URIs and the header values a SIP element
 * reads: Via, From/To/Contact/Route (name-addr), CSeq, Max-Forwards,
 * Expires, option tags, and the generic ;name=value parameter lists.
 *
 * Each parser takes one value slice (see sip_hdr_next_value() to split a
 * line) and fills a caller struct with slices of the same bytes: nothing is
 * allocated or copied. All return 0 or EBADMSG (the value is malformed);
 * `*why`, when not NULL, gets a static reason phrase for a 400. Folded
 * line ends inside a value count as white space. */
#ifndef DPN_SIP_HDR_H
#define DPN_SIP_HDR_H

#include "sip/msg.h"

/* enum sip_scheme and struct sip_uri (sip:user:password@host:port;params
 * ?headers, user and password still escaped) are in msg.h: messages keep
 * their Request-URI parsed. */

int sip_uri_parse(struct sip_str s, struct sip_uri *u, const char **why);

/* Find parameter `name` (case-insensitive) in a ';'-separated list (a
 * uri's params, or a header's params without the first ';'). Returns 1 and
 * sets *val (empty when the parameter has no value), or 0 when absent. */
int sip_param_find(struct sip_str params, const char *name,
		   struct sip_str *val);

/* Iterate a parameter list: from *pos (0 to start), the next name and
 * value (empty when it has none); returns 1, or 0 at the end. */
int sip_param_next(struct sip_str params, size_t *pos, struct sip_str *name,
		   struct sip_str *val);

/* Decode %HH escapes of s into dst (capacity cap). NUL bytes (%00) are
 * kept; *outlen is the decoded length. Returns 0, EBADMSG for a bad escape,
 * ENOSPC. */
int sip_unescape(struct sip_str s, char *dst, size_t cap, size_t *outlen);

/* name-addr / addr-spec with header parameters: From, To, Contact, Route,
 * Record-Route, P-Asserted-Identity, Refer-To. `display` keeps its quotes
 * when quoted. `uri_str` is the URI text; `params` the header parameters
 * (without the first ';'); `tag` is set when a tag parameter is present.
 * `star` is set for a Contact of "*". */
struct sip_addr {
	struct sip_str display, uri_str, params, tag;
	struct sip_uri uri;
	int has_tag, angle, star;
};

#define SIP_ADDR_ALLOW_STAR 0x1
int sip_addr_parse(struct sip_str s, unsigned flags, struct sip_addr *a,
		   const char **why);

/* Via: SIP/2.0/transport host[:port];params. rport: has_rport set when the
 * parameter is present, rport_val its number or 0 when empty. */
/* struct sip_via is in msg.h (messages keep their top Via parsed). */

int sip_via_parse(struct sip_str s, struct sip_via *v, const char **why);

/* CSeq: number (< 2^31) and method; method must be a token. */
/* struct sip_cseq is in msg.h (messages keep their CSeq parsed). */

int sip_cseq_parse(struct sip_str s, struct sip_cseq *c, const char **why);

/* Max-Forwards (0..255). */
int sip_max_forwards_parse(struct sip_str s, unsigned *out, const char **why);
/* Expires / Content-Length style delta: decimal, at most max. */
int sip_delta_parse(struct sip_str s, uint64_t max, uint64_t *out,
		    const char **why);

/* Reason (RFC 3326): protocol *( ";" param ), e.g. SIP ;cause=200. */
int sip_reason_parse(struct sip_str s, struct sip_str *protocol,
		     struct sip_str *params, const char **why);

/* Header values v[0..n) joined by ", " into dst (capacity cap),
 * NUL-ended; backwards when rev (a route set read from Record-Routes);
 * *len without the NUL. Returns 0 or ENOSPC. */
int sip_values_join(const struct sip_str *v, unsigned n, int rev, char *dst,
		    size_t cap, size_t *len);

/* Call-ID: word [ "@" word ]. */
int sip_callid_check(struct sip_str s, const char **why);

/* Authorization-style value: scheme then comma-separated name=value pairs.
 * sip_auth_param() finds one (case-insensitive name) and strips quotes from
 * a quoted value (escapes kept). Returns 1 found, 0 absent. */
struct sip_auth {
	struct sip_str scheme, params;
};
int sip_auth_parse(struct sip_str s, struct sip_auth *a, const char **why);
int sip_auth_param(const struct sip_auth *a, const char *name,
		   struct sip_str *val);

/* Convenience lookups on a message; each parses on demand. Return 0,
 * ENOENT when the header is absent, or EBADMSG. */
int sip_msg_via(const struct sip_msg *m, unsigned n, struct sip_via *v);
int sip_msg_cseq(const struct sip_msg *m, struct sip_cseq *c);
/* The Request-URI parsed (once per message; sip_msg_set_ruri resets it).
 * Returns 0, EINVAL (a response) or EBADMSG. */
int sip_msg_ruri(const struct sip_msg *m, struct sip_uri *u);
/* The tag parameter of From or To (id), without parsing the URI: an empty
 * slice when there is none. For transaction keys and loop hashes of
 * messages that passed sip_msg_check_lean(). Returns 0 or ENOENT. */
int sip_msg_tag(const struct sip_msg *m, enum sip_hdr_id id,
		struct sip_str *tag);
int sip_msg_from(const struct sip_msg *m, struct sip_addr *a);
int sip_msg_to(const struct sip_msg *m, struct sip_addr *a);
int sip_msg_callid(const struct sip_msg *m, struct sip_str *id);
int sip_msg_max_forwards(const struct sip_msg *m, unsigned *mf);

/* Character classes of RFC 3261's grammar. */
int sip_is_token_char(unsigned char c);

#endif
