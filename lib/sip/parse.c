/* lib/sip/parse.c — split a SIP message into start line, header lines and
 * body (zero-copy), recognise header names, and frame messages on streams. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "sip/msg.h"
#include "sip/hdr.h"
#include "sip/chars.h"

static int fail(struct sip_perr *err, int status, const char *reason, int rc)
{
	if (err) {
		err->status = status;
		err->reason = reason;
	}
	return rc;
}

static inline int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int sip_str_eq(struct sip_str a, const char *lit)
{
	size_t n = strlen(lit);
	return a.len == n && memcmp(a.s, lit, n) == 0;
}

/* ASCII case-insensitive equality of n bytes (names, hosts, params: short,
 * so a loop beats a call into libc). */
static int ieq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x != y && ((x | 0x20) != (y | 0x20) ||
			       (unsigned char)((x | 0x20) - 'a') > 25))
			return 0;
	}
	return 1;
}

int sip_str_ieq(struct sip_str a, const char *lit)
{
	size_t n = strlen(lit);
	return a.len == n && ieq_n(a.s, lit, n);
}

int sip_str_eq_str(struct sip_str a, struct sip_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

int sip_str_ieq_str(struct sip_str a, struct sip_str b)
{
	return a.len == b.len && ieq_n(a.s, b.s, a.len);
}

int sip_str_to_u64(struct sip_str s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.s[i] - '0';
		if (d > 9)
			return EINVAL;
		if (v > (max - d) / 10)
			return ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static const struct { const char *name; enum sip_method m; } methods[] = {
	{ "INVITE", SIP_INVITE }, { "ACK", SIP_ACK }, { "BYE", SIP_BYE },
	{ "CANCEL", SIP_CANCEL }, { "OPTIONS", SIP_OPTIONS },
	{ "REGISTER", SIP_REGISTER }, { "PRACK", SIP_PRACK },
	{ "SUBSCRIBE", SIP_SUBSCRIBE }, { "NOTIFY", SIP_NOTIFY },
	{ "PUBLISH", SIP_PUBLISH }, { "INFO", SIP_INFO },
	{ "REFER", SIP_REFER }, { "MESSAGE", SIP_MESSAGE },
	{ "UPDATE", SIP_UPDATE },
};

enum sip_method sip_method_from(struct sip_str name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (sip_str_eq(name, methods[i].name))
			return methods[i].m;
	return SIP_METHOD_OTHER;
}

const char *sip_method_name(enum sip_method m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "UNKNOWN";
}

/* Canonical names, indexed by id, and compact forms (RFC 3261 7.3.3,
 * RFC 3515, RFC 4028 ...). */
static const char *const hdr_names[SIP_HDR_COUNT] = {
	[SIP_HDR_OTHER] = "", [SIP_HDR_VIA] = "Via", [SIP_HDR_FROM] = "From",
	[SIP_HDR_TO] = "To", [SIP_HDR_CALL_ID] = "Call-ID",
	[SIP_HDR_CSEQ] = "CSeq", [SIP_HDR_CONTACT] = "Contact",
	[SIP_HDR_ROUTE] = "Route", [SIP_HDR_RECORD_ROUTE] = "Record-Route",
	[SIP_HDR_MAX_FORWARDS] = "Max-Forwards",
	[SIP_HDR_CONTENT_LENGTH] = "Content-Length",
	[SIP_HDR_CONTENT_TYPE] = "Content-Type",
	[SIP_HDR_CONTENT_ENCODING] = "Content-Encoding",
	[SIP_HDR_EXPIRES] = "Expires",
	[SIP_HDR_AUTHORIZATION] = "Authorization",
	[SIP_HDR_PROXY_AUTHORIZATION] = "Proxy-Authorization",
	[SIP_HDR_WWW_AUTHENTICATE] = "WWW-Authenticate",
	[SIP_HDR_PROXY_AUTHENTICATE] = "Proxy-Authenticate",
	[SIP_HDR_SUPPORTED] = "Supported", [SIP_HDR_REQUIRE] = "Require",
	[SIP_HDR_PROXY_REQUIRE] = "Proxy-Require",
	[SIP_HDR_UNSUPPORTED] = "Unsupported",
	[SIP_HDR_P_ASSERTED_IDENTITY] = "P-Asserted-Identity",
	[SIP_HDR_REASON] = "Reason", [SIP_HDR_DATE] = "Date",
	[SIP_HDR_SUBJECT] = "Subject", [SIP_HDR_ALLOW] = "Allow",
	[SIP_HDR_EVENT] = "Event", [SIP_HDR_REFER_TO] = "Refer-To",
	[SIP_HDR_ACCEPT] = "Accept", [SIP_HDR_USER_AGENT] = "User-Agent",
	[SIP_HDR_RETRY_AFTER] = "Retry-After", [SIP_HDR_WARNING] = "Warning",
};

static const unsigned char hdr_len[SIP_HDR_COUNT] = {
	[SIP_HDR_VIA] = 3,
	[SIP_HDR_FROM] = 4,
	[SIP_HDR_TO] = 2,
	[SIP_HDR_CALL_ID] = 7,
	[SIP_HDR_CSEQ] = 4,
	[SIP_HDR_CONTACT] = 7,
	[SIP_HDR_ROUTE] = 5,
	[SIP_HDR_RECORD_ROUTE] = 12,
	[SIP_HDR_MAX_FORWARDS] = 12,
	[SIP_HDR_CONTENT_LENGTH] = 14,
	[SIP_HDR_CONTENT_TYPE] = 12,
	[SIP_HDR_CONTENT_ENCODING] = 16,
	[SIP_HDR_EXPIRES] = 7,
	[SIP_HDR_AUTHORIZATION] = 13,
	[SIP_HDR_PROXY_AUTHORIZATION] = 19,
	[SIP_HDR_WWW_AUTHENTICATE] = 16,
	[SIP_HDR_PROXY_AUTHENTICATE] = 18,
	[SIP_HDR_SUPPORTED] = 9,
	[SIP_HDR_REQUIRE] = 7,
	[SIP_HDR_PROXY_REQUIRE] = 13,
	[SIP_HDR_UNSUPPORTED] = 11,
	[SIP_HDR_P_ASSERTED_IDENTITY] = 19,
	[SIP_HDR_REASON] = 6,
	[SIP_HDR_DATE] = 4,
	[SIP_HDR_SUBJECT] = 7,
	[SIP_HDR_ALLOW] = 5,
	[SIP_HDR_EVENT] = 5,
	[SIP_HDR_REFER_TO] = 8,
	[SIP_HDR_ACCEPT] = 6,
	[SIP_HDR_USER_AGENT] = 10,
	[SIP_HDR_RETRY_AFTER] = 11,
	[SIP_HDR_WARNING] = 7,
};

const char *sip_hdr_name(enum sip_hdr_id id)
{
	return (unsigned)id < SIP_HDR_COUNT ? hdr_names[id] : "";
}

static enum sip_hdr_id compact_id(int c)
{
	switch (c) {
	case 'v': return SIP_HDR_VIA;
	case 'f': return SIP_HDR_FROM;
	case 't': return SIP_HDR_TO;
	case 'i': return SIP_HDR_CALL_ID;
	case 'm': return SIP_HDR_CONTACT;
	case 'l': return SIP_HDR_CONTENT_LENGTH;
	case 'c': return SIP_HDR_CONTENT_TYPE;
	case 'e': return SIP_HDR_CONTENT_ENCODING;
	case 'k': return SIP_HDR_SUPPORTED;
	case 's': return SIP_HDR_SUBJECT;
	case 'o': return SIP_HDR_EVENT;
	case 'r': return SIP_HDR_REFER_TO;
	default: return SIP_HDR_OTHER;
	}
}

/* Case-insensitive compare of a known header name with a token: OR-ing
 * 0x20 folds case, and no other token character folds onto a letter,
 * digit or '-' of a known name. */
static int name_eq(const char *known, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((known[i] | 0x20) != (s[i] | 0x20))
			return 0;
	return 1;
}

/* The candidates share the first letter, so a switch on it leaves one or
 * a few full comparisons per header. */
enum sip_hdr_id sip_hdr_id_from(const char *name, size_t len)
{
	static const enum sip_hdr_id by_letter[26][6] = {
		['a' - 'a'] = { SIP_HDR_AUTHORIZATION, SIP_HDR_ALLOW,
				SIP_HDR_ACCEPT },
		['c' - 'a'] = { SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_CONTACT,
				SIP_HDR_CONTENT_LENGTH, SIP_HDR_CONTENT_TYPE,
				SIP_HDR_CONTENT_ENCODING },
		['d' - 'a'] = { SIP_HDR_DATE },
		['e' - 'a'] = { SIP_HDR_EXPIRES, SIP_HDR_EVENT },
		['f' - 'a'] = { SIP_HDR_FROM },
		['m' - 'a'] = { SIP_HDR_MAX_FORWARDS },
		['p' - 'a'] = { SIP_HDR_PROXY_AUTHORIZATION,
				SIP_HDR_PROXY_AUTHENTICATE,
				SIP_HDR_PROXY_REQUIRE,
				SIP_HDR_P_ASSERTED_IDENTITY },
		['r' - 'a'] = { SIP_HDR_ROUTE, SIP_HDR_RECORD_ROUTE,
				SIP_HDR_REQUIRE, SIP_HDR_REASON,
				SIP_HDR_REFER_TO, SIP_HDR_RETRY_AFTER },
		['s' - 'a'] = { SIP_HDR_SUPPORTED, SIP_HDR_SUBJECT },
		['t' - 'a'] = { SIP_HDR_TO },
		['u' - 'a'] = { SIP_HDR_UNSUPPORTED, SIP_HDR_USER_AGENT },
		['v' - 'a'] = { SIP_HDR_VIA },
		['w' - 'a'] = { SIP_HDR_WWW_AUTHENTICATE, SIP_HDR_WARNING },
	};
	int c;

	if (len == 0)
		return SIP_HDR_OTHER;
	c = lower((unsigned char)name[0]);
	if (len == 1)
		return compact_id(c);
	if (c < 'a' || c > 'z')
		return SIP_HDR_OTHER;
	for (int i = 0; i < 6; i++) {
		enum sip_hdr_id id = by_letter[c - 'a'][i];
		if (id == SIP_HDR_OTHER)
			break;
		if (hdr_len[id] == len && name_eq(hdr_names[id], name, len))
			return id;
	}
	return SIP_HDR_OTHER;
}

int sip_msg_hdr_find(const struct sip_msg *m, enum sip_hdr_id id,
		     unsigned from)
{
	struct sip_msg *w = (struct sip_msg *)m;	/* the index only */

	if (from == 0 && (unsigned)id < SIP_HDR_COUNT &&
	    id != SIP_HDR_OTHER) {
		if (!m->first_ok) {
			memset(w->first, -1, sizeof(w->first));
			for (unsigned i = m->nhdrs; i-- > 0;)
				w->first[m->hdrs[i].id] = (signed char)i;
			w->first_ok = 1;
		}
		return m->first[id];
	}
	for (unsigned i = from; i < m->nhdrs; i++)
		if (m->hdrs[i].id == id)
			return (int)i;
	return -1;
}

int sip_msg_hdr_find_name(const struct sip_msg *m, const char *name,
			  unsigned from)
{
	enum sip_hdr_id id = sip_hdr_id_from(name, strlen(name));

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr_find(m, id, from);
	for (unsigned i = from; i < m->nhdrs; i++)
		if (m->hdrs[i].id == SIP_HDR_OTHER &&
		    sip_str_ieq(m->hdrs[i].name, name))
			return (int)i;
	return -1;
}

unsigned sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->nhdrs; i++)
		n += m->hdrs[i].id == id;
	return n;
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sip_hdr_next_value(struct sip_str line, size_t *pos, struct sip_str *val)
{
	size_t i = *pos, start, end;
	int after_comma = i > 0 && i <= line.len && line.s[i - 1] == ',';
	int quoted = 0, angle = 0;

	while (i < line.len && is_ws(line.s[i]))
		i++;
	if (i >= line.len)
		return after_comma ? -1 : 0;
	start = i;
	{	/* the usual case, no quotes or <...> before the next comma:
		   three memchr instead of a loop over every byte */
		const char *s0 = line.s + i, *c = memchr(s0, ',', line.len - i);
		size_t seg = c ? (size_t)(c - s0) : line.len - i;
		if (!memchr(s0, '"', seg) && !memchr(s0, '<', seg)) {
			i += seg;
			goto found;
		}
	}
	for (; i < line.len; i++) {
		char c = line.s[i];
		if (quoted) {
			if (c == '\\' && i + 1 < line.len)
				i++;
			else if (c == '"')
				quoted = 0;
		} else if (c == '"') {
			quoted = 1;
		} else if (c == '<') {
			angle = 1;
		} else if (c == '>') {
			angle = 0;
		} else if (c == ',' && !angle) {
			break;
		}
	}
	if (quoted)
		return -1;
found:
	end = i;
	while (end > start && is_ws(line.s[end - 1]))
		end--;
	if (end == start)
		return -1;
	val->s = line.s + start;
	val->len = end - start;
	*pos = i < line.len ? i + 1 : i;
	return 1;
}

/* ---- start line ---- */

static int parse_version(struct sip_str v, struct sip_perr *err)
{
	if (sip_str_ieq(v, "SIP/2.0"))
		return 0;
	if (v.len >= 7 && strncasecmp(v.s, "SIP/", 4) == 0)
		return fail(err, 505, "Version Not Supported", EBADMSG);
	return fail(err, 400, "Malformed SIP version", EBADMSG);
}

static int uri_scheme_ok(struct sip_str u)
{
	size_t i = 0;

	if (u.len == 0 || !((u.s[0] | 32) >= 'a' && (u.s[0] | 32) <= 'z'))
		return 0;
	for (i = 1; i < u.len && u.s[i] != ':'; i++) {
		char c = u.s[i];
		if (!((c | 32) >= 'a' && (c | 32) <= 'z') &&
		    !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
			return 0;
	}
	return i < u.len && i + 1 < u.len;
}

static int parse_request_line(struct sip_msg *m, struct sip_str l,
			      struct sip_perr *err)
{
	const char *sp1 = memchr(l.s, ' ', l.len), *sp2, *end = l.s + l.len;

	m->is_request = 1;
	if (!sp1 || sp1 == l.s)
		return fail(err, 400, "Malformed Request-Line", EBADMSG);
	m->method_str = (struct sip_str){ l.s, (size_t)(sp1 - l.s) };
	m->method = sip_method_from(m->method_str);
	for (const char *p = l.s; p < sp1; p++)
		if (!SIP_IS(*p, SIP_C_TOKEN))
			return fail(err, 400, "Malformed method", EBADMSG);
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2)
		return fail(err, 400, "Malformed Request-Line", EBADMSG);
	if (sp2 == sp1 + 1)
		return fail(err, 400,
			    "Malformed Request-Line: extra white space",
			    EBADMSG);
	if (memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1))) {
		if (end[-1] == ' ')
			return fail(err, 400, "Malformed Request-Line: "
				    "trailing white space", EBADMSG);
		return fail(err, 400, "Malformed Request-URI: "
			    "embedded white space", EBADMSG);
	}
	m->method_str = (struct sip_str){ l.s, (size_t)(sp1 - l.s) };
	m->ruri = (struct sip_str){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	if (m->ruri.s[0] == '<')
		return fail(err, 400, "Request-URI enclosed in <>", EBADMSG);
	for (size_t i = 0; i < m->ruri.len; i++)
		if (m->ruri.s[i] == '\t' || (unsigned char)m->ruri.s[i] < 32)
			return fail(err, 400, "Malformed Request-URI",
				    EBADMSG);
	if (!uri_scheme_ok(m->ruri))
		return fail(err, 400, "Malformed Request-URI", EBADMSG);
	return parse_version((struct sip_str){ sp2 + 1,
					       (size_t)(end - sp2 - 1) }, err);
}

static int parse_status_line(struct sip_msg *m, struct sip_str l,
			     struct sip_perr *err)
{
	const char *sp1 = memchr(l.s, ' ', l.len), *p, *end = l.s + l.len;
	int rc;

	if (!sp1)
		return fail(err, 400, "Malformed Status-Line", EBADMSG);
	rc = parse_version((struct sip_str){ l.s, (size_t)(sp1 - l.s) }, err);
	if (rc)
		return rc;
	p = sp1 + 1;
	if (end - p < 3 || p[0] < '1' || p[0] > '6' || p[1] < '0' ||
	    p[1] > '9' || p[2] < '0' || p[2] > '9' ||
	    (end - p > 3 && p[3] != ' '))
		return fail(err, 400, "Malformed status code", EBADMSG);
	m->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (p < end)
		p++;
	m->reason = (struct sip_str){ p, (size_t)(end - p) };
	m->is_request = 0;
	return 0;
}

static int parse_start_line(struct sip_msg *m, struct sip_str l,
			    struct sip_perr *err)
{
	m->start_line = l;
	if (l.len >= 4 && strncasecmp(l.s, "SIP/", 4) == 0)
		return parse_status_line(m, l, err);
	return parse_request_line(m, l, err);
}

/* ---- headers ---- */

/* Length of the line content at p (before CR LF or LF) and of the whole
 * line in *full; -1 when no LF is left. */
static ssize_t line_len(const char *p, const char *end, size_t *full)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	if (!lf)
		return -1;
	*full = (size_t)(lf - p) + 1;
	return (lf > p && lf[-1] == '\r') ? lf - p - 1 : lf - p;
}

static void hdr_trim_value(struct sip_hdr *h, const char *vstart,
			   const char *vend)
{
	while (vstart < vend && is_ws(*vstart))
		vstart++;
	while (vend > vstart && is_ws(vend[-1]))
		vend--;
	h->value = (struct sip_str){ vstart, (size_t)(vend - vstart) };
}

static int start_header(struct sip_msg *m, const char *p, size_t n,
			const char **vstart, struct sip_perr *err)
{
	const char *q = p, *end = p + n, *ne;
	struct sip_hdr *h;

	while (q < end && SIP_IS(*q, SIP_C_TOKEN))
		q++;
	ne = q;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q == end || *q != ':' || ne == p) {
		if (!memchr(p, ':', n))
			return fail(err, 400, "Malformed header line: no colon",
				    EBADMSG);
		return fail(err, 400, "Malformed header name", EBADMSG);
	}
	if (m->nhdrs >= SIP_MAX_HDRS)
		return fail(err, 513, "Message Too Large (Too many header "
			    "fields)", EMSGSIZE);
	h = &m->hdrs[m->nhdrs++];
	h->name = (struct sip_str){ p, (size_t)(ne - p) };
	h->id = sip_hdr_id_from(p, (size_t)(ne - p));
	h->raw = (struct sip_str){ p, 0 };
	h->value = (struct sip_str){ q + 1, 0 };
	*vstart = q + 1;
	return 0;
}

/* Read header lines from *pp up to and including the empty line. Sets *pp
 * past it. A buffer that ends without the empty line is accepted when
 * `need_blank` is 0 (datagrams). */
static int parse_headers(struct sip_msg *m, const char **pp, const char *end,
			 int need_blank, struct sip_perr *err)
{
	const char *p = *pp, *vstart = NULL;
	struct sip_hdr *cur = NULL;
	size_t full;
	ssize_t n;
	int rc;

	for (;;) {
		if (p >= end) {
			if (need_blank)
				return fail(err, 400, "Missing empty line "
					    "after headers", EBADMSG);
			break;
		}
		n = line_len(p, end, &full);
		if (n < 0) {
			if (need_blank)
				return fail(err, 400, "Missing empty line "
					    "after headers", EBADMSG);
			n = end - p;
			full = (size_t)n;
		}
		if (n == 0) {
			p += full;
			break;
		}
		if (p[0] == ' ' || p[0] == '\t') {
			if (!cur)
				return fail(err, 400, "Header line starts "
					    "with white space", EBADMSG);
		} else {
			if (cur)
				hdr_trim_value(cur, vstart, p);
			rc = start_header(m, p, (size_t)n, &vstart, err);
			if (rc)
				return rc;
			cur = &m->hdrs[m->nhdrs - 1];
		}
		p += full;
		cur->raw.len = (size_t)(p - cur->raw.s);
	}
	if (cur)
		hdr_trim_value(cur, vstart, cur->raw.s + cur->raw.len);
	*pp = p;
	return 0;
}

static int content_length(const struct sip_msg *m, int64_t *cl,
			  struct sip_perr *err)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CONTENT_LENGTH, 0);
	uint64_t v;

	*cl = -1;
	if (i < 0)
		return 0;
	if (sip_msg_hdr_find(m, SIP_HDR_CONTENT_LENGTH, (unsigned)i + 1) >= 0)
		return fail(err, 400, "Multiple Content-Length values",
			    EBADMSG);
	if (sip_str_to_u64(m->hdrs[i].value, SIP_MAX_MSG * 16ULL, &v))
		return fail(err, 400, "Malformed Content-Length", EBADMSG);
	*cl = (int64_t)v;
	return 0;
}

static int set_body(struct sip_msg *m, const char *p, const char *end,
		    unsigned flags, struct sip_perr *err)
{
	size_t rest = (size_t)(end - p);
	int64_t cl;
	int rc = content_length(m, &cl, err);

	if (rc)
		return rc;
	if (cl < 0)
		cl = (flags & SIP_PARSE_STREAM) ? 0 : (int64_t)rest;
	if ((size_t)cl > rest)
		return fail(err, 400, "Content-Length larger than message",
			    EBADMSG);
	if ((flags & SIP_PARSE_STREAM) && (size_t)cl != rest)
		return fail(err, 400, "Content-Length does not match body",
			    EBADMSG);
	m->body = (struct sip_str){ p, (size_t)cl };
	m->buf.len = (size_t)(p + cl - m->buf.s);
	return 0;
}

/* A NUL is allowed only as a quoted-pair ("\\" NUL, RFC 4475 3.1.1.2). */
static int bad_nul(const char *p, const char *end)
{
	while ((p = memchr(p, '\0', (size_t)(end - p))) != NULL) {
		if (p == end || p[-1] != '\\')
			return 1;
		p++;
	}
	return 0;
}

static void msg_reset(struct sip_msg *m, const char *buf)
{
	m->buf = (struct sip_str){ buf, 0 };
	m->is_request = 0;
	m->method = SIP_METHOD_OTHER;
	m->method_str = m->ruri = m->reason = m->body = (struct sip_str){ 0 };
	m->status = 0;
	m->nhdrs = 0;
	m->hdrs_missing = 0;	/* caller storage: all SIP_MAX_HDRS */
	m->arena = NULL;
	m->inl_used = 0;
	m->start_edited = 0;
	m->via0_memo = m->cseq_memo = m->ruri_memo = 0;
	m->first_ok = 0;
	memset(m->tag_of, 0, sizeof(m->tag_of));
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len,
		  unsigned flags, struct sip_perr *err)
{
	const char *p = buf, *end = buf + len, *hdr_end;
	size_t full;
	ssize_t n;
	int rc;

	msg_reset(m, buf);
	if (len > SIP_MAX_MSG)
		return fail(err, 513, "Message Too Large", EMSGSIZE);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;	/* RFC 3261 7.5: ignore CRLF before the start line */
	n = line_len(p, end, &full);
	if (n <= 0)
		return fail(err, 400, "Malformed start line", EBADMSG);
	if (memchr(p, '\0', (size_t)n))
		return fail(err, 400, "NUL byte in start line", EBADMSG);
	rc = parse_start_line(m, (struct sip_str){ p, (size_t)n }, err);
	m->buf.s = p;
	p += full;
	hdr_end = p;
	if (rc) {
		/* Read the headers anyway, so that a bad request line can
		 * still be answered (400, 505) through its Via. */
		struct sip_perr ignored;
		parse_headers(m, &hdr_end, end, flags & SIP_PARSE_STREAM,
			      &ignored);
		return rc;
	}
	rc = parse_headers(m, &hdr_end, end, flags & SIP_PARSE_STREAM, err);
	if (rc)
		return rc;
	if (bad_nul(p, hdr_end))
		return fail(err, 400, "NUL byte in header", EBADMSG);
	return set_body(m, hdr_end, end, flags, err);
}

/* ---- stream framing ---- */

/* CRLFCRLF is a ping, a lone CRLF a pong (RFC 5626 section 4.4.1). A ping
 * split after its first CRLF reads as two pongs; the transport treats two
 * pongs in a row on a server connection as a ping. Returns -1 when buf does
 * not start with a keep-alive. */
static int frame_keepalive(const char *buf, size_t len, struct sip_frame *out)
{
	if (buf[0] == '\n') {
		*out = (struct sip_frame){ SIP_FRAME_PONG, 1 };
		return 0;
	}
	if (buf[0] != '\r')
		return -1;
	if (len == 1 || (len == 3 && buf[1] == '\n' && buf[2] == '\r'))
		return EAGAIN;
	if (buf[1] != '\n')
		return -1;
	if (len >= 4 && buf[2] == '\r' && buf[3] == '\n')
		*out = (struct sip_frame){ SIP_FRAME_PING, 4 };
	else
		*out = (struct sip_frame){ SIP_FRAME_PONG, 2 };
	return 0;
}

/* Find the end of the header block: the offset after CRLFCRLF (or LFLF). */
static ssize_t header_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '\n')
			return p + 1 - buf;
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return p + 2 - buf;
	}
	return -1;
}

/* Content-Length of a raw header block: the header lines are split (not
 * their values) into a scratch message. EMSGSIZE for too many headers. */
static int frame_content_length(const char *buf, size_t hlen, uint64_t *cl)
{
	const char *p = buf, *end = buf + hlen;
	struct sip_msg tmp;
	struct sip_perr err;
	size_t full;
	int64_t v;
	int rc;

	msg_reset(&tmp, buf);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	if (line_len(p, end, &full) < 0)
		return EBADMSG;
	p += full;
	rc = parse_headers(&tmp, &p, end, 1, &err);
	if (rc)
		return rc == EMSGSIZE ? EMSGSIZE : EBADMSG;
	rc = content_length(&tmp, &v, &err);
	if (rc)
		return rc;
	*cl = v < 0 ? 0 : (uint64_t)v;
	return 0;
}

int sip_frame(const char *buf, size_t len, size_t max, struct sip_frame *out)
{
	ssize_t hlen;
	uint64_t cl;
	int rc;

	if (len == 0)
		return EAGAIN;
	rc = frame_keepalive(buf, len, out);
	if (rc >= 0)
		return rc;
	hlen = header_end(buf, len);
	if (hlen < 0)
		return len >= max ? EMSGSIZE : EAGAIN;
	if ((size_t)hlen > max)
		return EMSGSIZE;
	rc = frame_content_length(buf, (size_t)hlen, &cl);
	if (rc)
		return rc;
	if ((uint64_t)hlen + cl > max)
		return EMSGSIZE;
	if ((uint64_t)len < (uint64_t)hlen + cl)
		return EAGAIN;
	*out = (struct sip_frame){ SIP_FRAME_MSG, (size_t)hlen + (size_t)cl };
	return 0;
}
