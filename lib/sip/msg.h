/* lib/sip/msg.h — SIP messages: parse, look up headers, edit, serialise.
 *
 * Parsing is zero-copy and lazy. sip_msg_parse() splits a message into its
 * start line, header lines and body, as slices (struct sip_str) of the
 * caller's buffer, and recognises header names (full and compact, any case);
 * it does not look inside header values. The value parsers in hdr.h
 * (sip_via_parse, sip_addr_parse, ...) run only when a caller asks, and
 * sip_msg_check() runs all of them for the checks RFC 3261 asks of every
 * element. The buffer must outlive the message; sip_msg_dup() makes a copy
 * that owns its bytes.
 *
 * Editing (sip_msg_hdr_add/_set/_del, sip_msg_set_ruri, sip_msg_set_body)
 * changes the header table in place; new text lives in the message's arena,
 * untouched headers stay slices of the original buffer. sip_msg_serialize()
 * writes the result with a Content-Length that matches the body.
 *
 * Limits: SIP_MAX_HDRS header lines, SIP_MAX_MSG bytes per message; beyond
 * them parsing fails with EMSGSIZE and a 400/513 answer. */
#ifndef DPN_SIP_MSG_H
#define DPN_SIP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SIP_MAX_HDRS 96
#define SIP_MAX_MSG  65535
/* Header lines an edit may add to a sip_msg_dup copy (a proxy adds a Via,
 * Record-Routes, an identity; beyond: E2BIG). */
#define SIP_DUP_SPARE_HDRS 16

/* A slice: `len` bytes at `s`, not NUL-terminated. */
struct sip_str {
	const char *s;
	size_t len;
};

#define SIP_STR(lit) ((struct sip_str){ (lit), sizeof(lit) - 1 })

enum sip_method {
	SIP_METHOD_OTHER = 0, SIP_INVITE, SIP_ACK, SIP_BYE, SIP_CANCEL,
	SIP_OPTIONS, SIP_REGISTER, SIP_PRACK, SIP_SUBSCRIBE, SIP_NOTIFY,
	SIP_PUBLISH, SIP_INFO, SIP_REFER, SIP_MESSAGE, SIP_UPDATE
};

enum sip_hdr_id {
	SIP_HDR_OTHER = 0, SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO,
	SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_CONTACT, SIP_HDR_ROUTE,
	SIP_HDR_RECORD_ROUTE, SIP_HDR_MAX_FORWARDS, SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE, SIP_HDR_CONTENT_ENCODING, SIP_HDR_EXPIRES,
	SIP_HDR_AUTHORIZATION, SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_WWW_AUTHENTICATE, SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_SUPPORTED, SIP_HDR_REQUIRE, SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_UNSUPPORTED, SIP_HDR_P_ASSERTED_IDENTITY, SIP_HDR_REASON,
	SIP_HDR_DATE, SIP_HDR_SUBJECT, SIP_HDR_ALLOW, SIP_HDR_EVENT,
	SIP_HDR_REFER_TO, SIP_HDR_ACCEPT, SIP_HDR_USER_AGENT,
	SIP_HDR_RETRY_AFTER, SIP_HDR_WARNING,
	SIP_HDR_COUNT
};

/* One header line. `raw` is the whole line with its line end, or empty
 * when the header was added or changed by an edit. `value` has leading and
 * trailing white space removed; folded lines stay inside it (CRLF + WSP),
 * and the value parsers treat them as white space. */
struct sip_hdr {
	struct sip_str name, value, raw;
	enum sip_hdr_id id;
};

struct sip_arena;

enum sip_scheme { SIP_SCHEME_OTHER = 0, SIP_SCHEME_SIP, SIP_SCHEME_SIPS,
		  SIP_SCHEME_TEL };

/* A URI (hdr.h: sip_uri_parse): sip:user:password@host:port;params?headers
 * — user and password stay escaped (sip_unescape() decodes them); port 0
 * when absent. For tel: the number is in `user`, host is empty. For other
 * schemes only `scheme` and `opaque` (all after the colon) are set.
 * params/headers exclude the leading ';' / '?'. */
struct sip_uri {
	enum sip_scheme scheme;
	struct sip_str scheme_str, user, password, host, params, headers;
	struct sip_str opaque;
	unsigned port;
	int has_user, has_password;
};

/* A Via value (hdr.h: sip_via_parse). */
struct sip_via {
	struct sip_str proto, version, transport, host, params;
	struct sip_str branch, received, maddr;
	unsigned port, rport_val;
	int has_branch, has_received, has_rport, has_maddr;
};

/* A CSeq value (hdr.h: sip_cseq_parse). */
struct sip_cseq {
	uint32_t num;
	struct sip_str method_str;
	enum sip_method method;
};

struct sip_msg {
	struct sip_str buf;		/* the bytes this message was parsed from */
	int is_request;
	enum sip_method method;		/* requests */
	struct sip_str method_str, ruri;
	int status;			/* responses: 100..699 */
	struct sip_str reason;
	struct sip_str start_line;	/* without its line end */
	unsigned nhdrs;
	unsigned hdrs_missing;		/* slots at the end of hdrs[] that
					   were not allocated: a copy from
					   sip_msg_dup has room for its own
					   headers and SIP_DUP_SPARE_HDRS
					   more; 0 in caller storage */
	struct sip_str body;
	struct sip_arena *arena;	/* text added by edits beyond inl[] */
	size_t inl_used;		/* the first edits' text goes here: */
	char inl[192];			/* most messages need no malloc */
	int start_edited;		/* start line was rewritten */
	/* Parse once: sip_msg_via(m, 0), sip_msg_cseq() and sip_msg_ruri()
	 * keep what they parsed (1 ok, -1 malformed, 0 not yet); parsing,
	 * copying and every edit reset it. Internal to lib/sip. */
	int via0_memo, cseq_memo, ruri_memo;
	struct sip_via via0;
	struct sip_cseq cseq;
	struct sip_uri ruri_u;
	/* sip_msg_tag() of From [0] and To [1]: the tag found in the value
	 * at tag_of[k] (the header's slice then; a changed header has
	 * another, and the memo is not used). Reset by parsing and copying. */
	struct sip_str tag_of[2], tag[2];
	/* First index of each header id (sip_msg_hdr_find from 0), built on
	 * first use; first_ok = 0 after any change to hdrs[]. */
	int first_ok;
	signed char first[SIP_HDR_COUNT];
	struct sip_hdr hdrs[SIP_MAX_HDRS];	/* last: copies are shorter */
};

/* Why a message was rejected: the status to answer with (400, 505, 413,
 * 513) when an answer is possible, and a reason phrase naming the fault.
 * Keep the struct alive while using `reason`. */
struct sip_perr {
	int status;
	const char *reason;	/* static, or points into text[] */
	char text[96];
};

/* Parse flags. SIP_PARSE_STREAM: the buffer holds exactly one framed
 * message (TCP); without it the buffer is a datagram, Content-Length may be
 * absent (body = rest) and octets past Content-Length are ignored. */
#define SIP_PARSE_STREAM 0x1

/* Parse `len` bytes at `buf` into `m` (caller storage). Slices point into
 * buf, which must stay valid and unchanged while m is used. Checks the start
 * line, header line syntax and names, and Content-Length against the body.
 * Returns 0, or EBADMSG (malformed; err says status and reason), EMSGSIZE
 * (too large or too many headers). On error m holds nothing to free; its
 * start line and the header lines before the fault stay readable (when
 * m->nhdrs > 0), enough for sip_response_write() to answer a 400. */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len,
		  unsigned flags, struct sip_perr *err);

/* Free what edits allocated (the arena); m itself is the caller's. */
void sip_msg_release(struct sip_msg *m);

/* A deep copy of m (its current, possibly edited, state) that owns its
 * bytes: *out is set on success and freed with sip_msg_free().
 * Returns 0 or ENOMEM. */
int sip_msg_dup(const struct sip_msg *m, struct sip_msg **out);
void sip_msg_free(struct sip_msg *m);

/* Method from its name (case-sensitive, as RFC 3261 says). */
enum sip_method sip_method_from(struct sip_str name);
const char *sip_method_name(enum sip_method m);

/* Header id from a name, full or compact, any case; SIP_HDR_OTHER if not
 * one we know. sip_hdr_name() gives the canonical full name. */
enum sip_hdr_id sip_hdr_id_from(const char *name, size_t len);
const char *sip_hdr_name(enum sip_hdr_id id);

/* Index of the first header with `id` at or after index `from`, or -1. */
int sip_msg_hdr_find(const struct sip_msg *m, enum sip_hdr_id id,
		     unsigned from);
/* The same for a header by name (for SIP_HDR_OTHER ones). */
int sip_msg_hdr_find_name(const struct sip_msg *m, const char *name,
			  unsigned from);
/* Number of header lines with `id`. */
unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id);

/* Split comma-separated header values: with *pos = 0 to start, sets *val
 * to the next value (trimmed) and returns 1, or returns 0 at the end. Commas
 * inside quoted strings and <...> do not split. Returns -1 for an empty
 * element or an unterminated quote. */
int sip_hdr_next_value(struct sip_str line, size_t *pos, struct sip_str *val);

/* Edits. Text is copied into the message's arena. Returns 0, ENOMEM, or
 * E2BIG when SIP_MAX_HDRS would be exceeded; EINVAL for a bad index.
 * _insert puts the header before index `at` (0 = top, nhdrs = end); a NULL
 * name means the canonical name of id. */
int sip_msg_hdr_insert(struct sip_msg *m, unsigned at, enum sip_hdr_id id,
		       const char *name, const char *value, size_t vlen);
int sip_msg_hdr_add(struct sip_msg *m, enum sip_hdr_id id, const char *value);
int sip_msg_hdr_set(struct sip_msg *m, unsigned idx, const char *value,
		    size_t vlen);
int sip_msg_hdr_del(struct sip_msg *m, unsigned idx);
/* Remove the first value of a (possibly multi-valued) header line: the
 * whole line when it holds one value. For Via and Record-Route stripping. */
int sip_msg_hdr_del_first_value(struct sip_msg *m, unsigned idx);
int sip_msg_set_ruri(struct sip_msg *m, const char *uri, size_t len);
int sip_msg_set_body(struct sip_msg *m, const char *body, size_t len);
/* Copy len bytes into the arena; *out points at the copy. */
int sip_msg_strdup(struct sip_msg *m, const char *s, size_t len,
		   const char **out);

/* Bytes sip_msg_serialize() will write. */
size_t sip_msg_size(const struct sip_msg *m);
/* Write m into dst (capacity cap): start line, headers (Content-Length set
 * to the body's length; added if absent), blank line, body. Sets *outlen.
 * Returns 0 or ENOSPC. */
int sip_msg_serialize(const struct sip_msg *m, char *dst, size_t cap,
		      size_t *outlen);

/* Check every header an element relies on, beyond what sip_msg_parse()
 * does: required headers present (To, From, Call-ID, CSeq, Via), single-
 * valued ones not repeated, values well formed (Via, From, To, Contact,
 * Route, Record-Route, CSeq < 2^31 matching the method, Max-Forwards <= 255,
 * Expires < 2^32, Call-ID, Date in GMT, option tags, credentials), and the
 * Request-URI (sip/sips/tel must parse; no headers part). Returns 0 or
 * EBADMSG with err->status 400 and a reason naming the header and fault. */
int sip_msg_check(const struct sip_msg *m, struct sip_perr *err);

/* What a proxy must understand, and no more (the hot path): for a request
 * the checks of sip_msg_check() on the Request-URI, the required and
 * single-valued headers, Call-ID, CSeq, Max-Forwards, Expires, Date, the
 * top Via and Proxy-Require; for a response the required and single-valued
 * headers, the top Via and CSeq. To and From are only read for their tags
 * (sip_msg_tag); their URIs, the other Vias, Contact, Route and Record-Route
 * values, option tags and credentials travel unchecked (the element that
 * uses them checks them). Returns 0 or EBADMSG like sip_msg_check(). */
int sip_msg_check_lean(const struct sip_msg *m, struct sip_perr *err);

/* Stream framing (TCP): look at the unread bytes and say what comes first.
 * SIP_FRAME_MSG: a whole message of `len` bytes (parse with
 * SIP_PARSE_STREAM); SIP_FRAME_PING: a CRLFCRLF keep-alive of `len` bytes
 * (answer CRLF, RFC 5626); SIP_FRAME_PONG: a lone CRLF. Returns 0, EAGAIN
 * (need more bytes), EMSGSIZE (the message would exceed max), EBADMSG (bad
 * Content-Length; the stream cannot be resynchronised: close it). */
enum sip_frame_kind { SIP_FRAME_MSG, SIP_FRAME_PING, SIP_FRAME_PONG };
struct sip_frame {
	enum sip_frame_kind kind;
	size_t len;
};
int sip_frame(const char *buf, size_t len, size_t max, struct sip_frame *out);

/* Helpers on slices. */
int sip_str_eq(struct sip_str a, const char *lit);	/* exact */
int sip_str_ieq(struct sip_str a, const char *lit);	/* ASCII case-insens. */
int sip_str_eq_str(struct sip_str a, struct sip_str b);
int sip_str_ieq_str(struct sip_str a, struct sip_str b);
/* Decimal without sign; fails (EINVAL/ERANGE) on anything else or > max. */
int sip_str_to_u64(struct sip_str s, uint64_t max, uint64_t *out);

#endif
