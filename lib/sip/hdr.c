/* lib/sip/hdr.c — parsers for the header values a SIP element reads:
 * name-addr (From/To/Contact/Route), Via, CSeq, Max-Forwards, Call-ID and
 * the credentials headers. Zero-copy: results are slices of the input. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sip/hdr.h"
#include "sip/chars.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return EBADMSG;
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

static const char *skip_token(const char *p, const char *end)
{
	while (p < end && SIP_IS(*p, SIP_C_TOKEN))
		p++;
	return p;
}

/* quoted-string starting at p (on the opening quote); returns the byte
 * after the closing quote, or NULL when it is unterminated. */
static const char *skip_quoted(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p == end)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* gen-value = token / host / quoted-string (RFC 3261 25.1). */
static const char *skip_gen_value(const char *p, const char *end)
{
	if (p < end && *p == '"')
		return skip_quoted(p, end);
	while (p < end && (SIP_IS(*p, SIP_C_TOKEN) || *p == ':' ||
			   *p == '[' || *p == ']'))
		p++;
	return p;
}

/* *( SEMI generic-param ) starting at p (which is at ';' or the end).
 * Sets *params to the text after the first ';'. */
static int parse_gen_params(const char *p, const char *end,
			    struct sip_str *params, const char **why)
{
	*params = (struct sip_str){ end, 0 };
	p = skip_ws(p, end);
	if (p == end)
		return 0;
	if (*p != ';')
		return fail(why, "Malformed header parameters");
	params->s = p + 1;
	params->len = (size_t)(end - p - 1);
	while (p < end) {
		const char *n;
		if (*p != ';')
			return fail(why, "Malformed header parameters");
		p = skip_ws(p + 1, end);
		n = skip_token(p, end);
		if (n == p)
			return fail(why, "Empty header parameter");
		p = skip_ws(n, end);
		if (p < end && *p == '=') {
			const char *v = skip_ws(p + 1, end);
			p = skip_gen_value(v, end);
			if (!p || p == v)
				return fail(why, "Malformed parameter value");
			p = skip_ws(p, end);
		}
	}
	return 0;
}

static int display_ok(const char *p, const char *end)
{
	for (; p < end; p++)
		if (!SIP_IS(*p, SIP_C_TOKEN) && !is_ws(*p))
			return 0;
	return 1;
}

static int parse_name_addr(const char *p, const char *end,
			   struct sip_addr *a, const char **why)
{
	const char *lt, *gt;

	if (*p == '"') {
		const char *q = skip_quoted(p, end);
		if (!q)
			return fail(why, "Unterminated quoted string");
		a->display = (struct sip_str){ p, (size_t)(q - p) };
		lt = skip_ws(q, end);
		if (lt == end || *lt != '<')
			return fail(why, "Malformed name-addr");
	} else {
		const char *de;
		lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			return fail(why, "Malformed name-addr");
		de = lt;
		while (de > p && is_ws(de[-1]))
			de--;
		if (!display_ok(p, de))
			return fail(why, "Malformed display name");
		a->display = (struct sip_str){ p, (size_t)(de - p) };
	}
	gt = memchr(lt, '>', (size_t)(end - lt));
	if (!gt)
		return fail(why, "Unterminated <URI>");
	if (gt == lt + 1 || is_ws(lt[1]) || is_ws(gt[-1]))
		return fail(why, "White space within <URI>");
	a->uri_str = (struct sip_str){ lt + 1, (size_t)(gt - lt - 1) };
	a->angle = 1;
	return parse_gen_params(gt + 1, end, &a->params, why);
}

static int parse_addr_spec(const char *p, const char *end,
			   struct sip_addr *a, const char **why)
{
	const char *e = p;

	while (e < end && *e != ';' && !is_ws(*e)) {
		if (*e == '?' || *e == ',' || *e == '"' || *e == '>')
			return fail(why, "URI with '?' or ',' must be in <>");
		e++;
	}
	a->uri_str = (struct sip_str){ p, (size_t)(e - p) };
	return parse_gen_params(e, end, &a->params, why);
}

static int has_unquoted_lt(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p == '"') {
			p = skip_quoted(p, end);
			if (!p)
				return 1;
			p--;
		} else if (*p == '<') {
			return 1;
		}
	}
	return 0;
}

int sip_addr_parse(struct sip_str s, unsigned flags, struct sip_addr *a,
		   const char **why)
{
	const char *p = s.s, *end = s.s + s.len;
	int rc;

	memset(a, 0, sizeof(*a));
	p = skip_ws(p, end);
	while (end > p && is_ws(end[-1]))
		end--;
	if (p == end)
		return fail(why, "Empty address");
	if ((flags & SIP_ADDR_ALLOW_STAR) && end - p == 1 && *p == '*') {
		a->star = 1;
		return 0;
	}
	if (*p == '"' || has_unquoted_lt(p, end))
		rc = parse_name_addr(p, end, a, why);
	else
		rc = parse_addr_spec(p, end, a, why);
	if (rc)
		return rc;
	if (sip_uri_parse(a->uri_str, &a->uri, why))
		return EBADMSG;
	a->has_tag = sip_param_find(a->params, "tag", &a->tag);
	if (a->has_tag && a->tag.len == 0)
		return fail(why, "Empty tag");
	return 0;
}

/* sent-protocol: name LWS? "/" LWS? version LWS? "/" LWS? transport */
static const char *parse_sent_protocol(const char *p, const char *end,
				       struct sip_via *v)
{
	struct sip_str *part[3] = { &v->proto, &v->version, &v->transport };

	for (int i = 0; i < 3; i++) {
		const char *t;
		p = skip_ws(p, end);
		t = skip_token(p, end);
		if (t == p)
			return NULL;
		*part[i] = (struct sip_str){ p, (size_t)(t - p) };
		if (i == 2)
			return t;
		p = skip_ws(t, end);
		{
			if (p == end || *p != '/')
				return NULL;
			p++;
		}
	}
	return p;
}

static int via_port(const char *p, const char *e, unsigned *port)
{
	unsigned v = 0;

	if (p == e || e - p > 5)
		return EBADMSG;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return EBADMSG;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 65535)
		return EBADMSG;
	*port = v;
	return 0;
}

static const char *parse_sent_by(const char *p, const char *end,
				 struct sip_via *v)
{
	const char *h = p;

	if (p < end && *p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			return NULL;
		p = rb + 1;
	} else {
		while (p < end && ((*p >= 'a' && *p <= 'z') ||
				   (*p >= 'A' && *p <= 'Z') ||
				   (*p >= '0' && *p <= '9') || *p == '.' ||
				   *p == '-' || *p == '_'))
			p++;
	}
	if (p == h)
		return NULL;
	v->host = (struct sip_str){ h, (size_t)(p - h) };
	p = skip_ws(p, end);
	if (p < end && *p == ':') {
		const char *ps = skip_ws(p + 1, end), *pe = ps;
		while (pe < end && *pe >= '0' && *pe <= '9')
			pe++;
		if (via_port(ps, pe, &v->port))
			return NULL;
		p = pe;
	}
	return p;
}

/* branch, received, maddr and rport in one pass over the parameters. */
/* One Via parameter, as the single pass below found it. */
/* One Via parameter, as the single pass below found it. By length first:
 * most names are not one of these four. */
static int via_param(struct sip_via *v, struct sip_str n, struct sip_str val,
		     const char **why)
{
	if (n.len == 6 && sip_str_ieq(n, "branch")) {
		if (v->has_branch++)
			return 0;
		v->branch = val;
		if (val.len == 0)
			return fail(why, "Empty Via branch");
	} else if (n.len == 8 && sip_str_ieq(n, "received") &&
		   !v->has_received++) {
		v->received = val;
	} else if (n.len == 5 && sip_str_ieq(n, "maddr") && !v->has_maddr++) {
		v->maddr = val;
	} else if (n.len == 5 && sip_str_ieq(n, "rport") && !v->has_rport++ &&
		   val.len && via_port(val.s, val.s + val.len, &v->rport_val)) {
		return fail(why, "Malformed Via rport");
	}
	return 0;
}

/* parse_gen_params() and the Via parameters in one pass: the Via is parsed for
 * every message, so its parameters are walked once. */
static int via_gen_params(const char *p, const char *end, struct sip_via *v,
			  const char **why)
{
	p = skip_ws(p, end);
	v->params = (struct sip_str){ end, 0 };
	if (p == end)
		return 0;
	if (*p != ';')
		return fail(why, "Malformed header parameters");
	v->params = (struct sip_str){ p + 1, (size_t)(end - p - 1) };
	while (p < end) {
		struct sip_str n, val = { NULL, 0 };
		const char *e;
		if (*p != ';')
			return fail(why, "Malformed header parameters");
		p = skip_ws(p + 1, end);
		e = skip_token(p, end);
		if (e == p)
			return fail(why, "Empty header parameter");
		n = (struct sip_str){ p, (size_t)(e - p) };
		p = skip_ws(e, end);
		if (p < end && *p == '=') {
			const char *vs = skip_ws(p + 1, end);
			p = skip_gen_value(vs, end);
			if (!p || p == vs)
				return fail(why, "Malformed parameter value");
			val = (struct sip_str){ vs, (size_t)(p - vs) };
			p = skip_ws(p, end);
		}
		if (via_param(v, n, val, why))
			return EBADMSG;
	}
	return 0;
}

int sip_via_parse(struct sip_str s, struct sip_via *v, const char **why)
{
	const char *p = s.s, *end = s.s + s.len, *q;

	memset(v, 0, sizeof(*v));
	p = parse_sent_protocol(p, end, v);
	if (!p || !sip_str_ieq(v->proto, "SIP") || !sip_str_eq(v->version, "2.0"))
		return fail(why, "Malformed Via protocol");
	q = skip_ws(p, end);
	if (q == p)
		return fail(why, "Malformed Via");
	p = parse_sent_by(q, end, v);
	if (!p)
		return fail(why, "Malformed Via sent-by");
	return via_gen_params(p, end, v, why);
}

int sip_reason_parse(struct sip_str s, struct sip_str *protocol,
		     struct sip_str *params, const char **why)
{
	const char *p = s.s, *end = s.s + s.len, *t = skip_token(p, end);

	if (t == p)
		return fail(why, "Malformed Reason protocol");
	*protocol = (struct sip_str){ p, (size_t)(t - p) };
	return parse_gen_params(t, end, params, why);
}

int sip_delta_parse(struct sip_str s, uint64_t max, uint64_t *out,
		    const char **why)
{
	if (sip_str_to_u64(s, max, out))
		return fail(why, "Malformed or overlarge number");
	return 0;
}

int sip_cseq_parse(struct sip_str s, struct sip_cseq *c, const char **why)
{
	const char *p = s.s, *end = s.s + s.len, *d = p, *m;
	uint64_t n;

	while (d < end && *d >= '0' && *d <= '9')
		d++;
	if (sip_str_to_u64((struct sip_str){ p, (size_t)(d - p) },
			   0x7fffffffULL, &n))
		return fail(why, "Malformed or overlarge CSeq number");
	p = skip_ws(d, end);
	if (p == d)
		return fail(why, "Malformed CSeq");
	m = skip_token(p, end);
	if (m == p || m != end)
		return fail(why, "Malformed CSeq method");
	c->num = (uint32_t)n;
	c->method_str = (struct sip_str){ p, (size_t)(m - p) };
	c->method = sip_method_from(c->method_str);
	return 0;
}

int sip_max_forwards_parse(struct sip_str s, unsigned *out, const char **why)
{
	uint64_t v;

	if (sip_str_to_u64(s, 255, &v))
		return fail(why, "Malformed or overlarge Max-Forwards");
	*out = (unsigned)v;
	return 0;
}

/* word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" /
 * "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" /
 * "]" / "?" / "{" / "}") */
static int is_word_char(unsigned char c)
{
	return sip_is_token_char(c) || (c && strchr("()<>:\\\"/[]?{}", c));
}

int sip_values_join(const struct sip_str *v, unsigned n, int rev, char *dst,
		    size_t cap, size_t *len)
{
	size_t o = 0;

	if (cap == 0)
		return ENOSPC;
	for (unsigned k = 0; k < n; k++) {
		const struct sip_str *s = &v[rev ? n - 1 - k : k];

		if (o + s->len + 2 >= cap)
			return ENOSPC;
		if (o) {
			memcpy(dst + o, ", ", 2);
			o += 2;
		}
		memcpy(dst + o, s->s, s->len);
		o += s->len;
	}
	dst[o] = '\0';
	*len = o;
	return 0;
}

int sip_callid_check(struct sip_str s, const char **why)
{
	const char *at = memchr(s.s, '@', s.len);

	if (s.len == 0 || at == s.s || (at && at + 1 == s.s + s.len))
		return fail(why, "Malformed Call-ID");
	for (size_t i = 0; i < s.len; i++)
		if (s.s + i != at && !is_word_char((unsigned char)s.s[i]))
			return fail(why, "Malformed Call-ID");
	return 0;
}

int sip_auth_parse(struct sip_str s, struct sip_auth *a, const char **why)
{
	const char *p = s.s, *end = s.s + s.len, *t = skip_token(p, end);

	if (t == p)
		return fail(why, "Malformed credentials");
	a->scheme = (struct sip_str){ p, (size_t)(t - p) };
	p = skip_ws(t, end);
	if (p == t && p != end)
		return fail(why, "Malformed credentials");
	a->params = (struct sip_str){ p, (size_t)(end - p) };
	return 0;
}

int sip_auth_param(const struct sip_auth *a, const char *name,
		   struct sip_str *val)
{
	const char *p = a->params.s, *end = p + a->params.len;
	size_t nlen = strlen(name);

	while (p < end) {
		const char *n = skip_ws(p, end), *ne = skip_token(n, end), *v, *ve;
		p = skip_ws(ne, end);
		if (p == end || *p != '=')
			return 0;
		v = skip_ws(p + 1, end);
		ve = skip_gen_value(v, end);
		if (!ve)
			return 0;
		if ((size_t)(ne - n) == nlen && strncasecmp(n, name, nlen) == 0) {
			if (ve - v >= 2 && *v == '"')
				*val = (struct sip_str){ v + 1,
							 (size_t)(ve - v - 2) };
			else
				*val = (struct sip_str){ v, (size_t)(ve - v) };
			return 1;
		}
		p = skip_ws(ve, end);
		if (p < end && *p != ',')
			return 0;
		if (p < end)
			p++;
	}
	return 0;
}

static int via_scan(const struct sip_msg *m, unsigned n, struct sip_via *v);

/* The top Via is read by every layer (transport, transactions, proxy):
 * parse it once per message and keep it in the message. */
int sip_msg_via(const struct sip_msg *m, unsigned n, struct sip_via *v)
{
	struct sip_msg *w = (struct sip_msg *)m;	/* the memo only */
	int rc;

	if (n)
		return via_scan(m, n, v);
	if (m->via0_memo) {
		if (m->via0_memo < 0)
			return EBADMSG;
		*v = m->via0;
		return 0;
	}
	rc = via_scan(m, 0, v);
	if (rc == 0) {
		w->via0 = *v;
		w->via0_memo = 1;
	} else if (rc == EBADMSG) {
		w->via0_memo = -1;
	}
	return rc;
}

static int via_scan(const struct sip_msg *m, unsigned n, struct sip_via *v)
{
	for (int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0); i >= 0;
	     i = sip_msg_hdr_find(m, SIP_HDR_VIA, (unsigned)i + 1)) {
		struct sip_str val;
		size_t pos = 0;
		int r;
		while ((r = sip_hdr_next_value(m->hdrs[i].value, &pos, &val)) == 1)
			if (n-- == 0)
				return sip_via_parse(val, v, NULL);
		if (r < 0)
			return EBADMSG;
	}
	return ENOENT;
}

static int single(const struct sip_msg *m, enum sip_hdr_id id,
		  struct sip_str *val)
{
	int i = sip_msg_hdr_find(m, id, 0);

	if (i < 0)
		return ENOENT;
	*val = m->hdrs[i].value;
	return 0;
}

int sip_msg_cseq(const struct sip_msg *m, struct sip_cseq *c)
{
	struct sip_msg *w = (struct sip_msg *)m;	/* the memo only */
	struct sip_str v;
	int rc;

	if (m->cseq_memo > 0) {
		*c = m->cseq;
		return 0;
	}
	rc = single(m, SIP_HDR_CSEQ, &v);
	if (rc == 0 && (rc = sip_cseq_parse(v, c, NULL)) == 0) {
		w->cseq = *c;
		w->cseq_memo = 1;
	}
	return rc;
}

int sip_msg_from(const struct sip_msg *m, struct sip_addr *a)
{
	struct sip_str v;
	int rc = single(m, SIP_HDR_FROM, &v);

	return rc ? rc : sip_addr_parse(v, 0, a, NULL);
}

int sip_msg_to(const struct sip_msg *m, struct sip_addr *a)
{
	struct sip_str v;
	int rc = single(m, SIP_HDR_TO, &v);

	return rc ? rc : sip_addr_parse(v, 0, a, NULL);
}

int sip_msg_callid(const struct sip_msg *m, struct sip_str *id)
{
	return single(m, SIP_HDR_CALL_ID, id);
}

int sip_msg_max_forwards(const struct sip_msg *m, unsigned *mf)
{
	struct sip_str v;
	int rc = single(m, SIP_HDR_MAX_FORWARDS, &v);

	return rc ? rc : sip_max_forwards_parse(v, mf, NULL);
}

/* Where the header parameters of a From/To value start: after the '>' of
 * a name-addr (quoted display names skipped), else at the first ';' of an
 * addr-spec. NULL if there are none. */
static const char *hdr_params(struct sip_str v)
{
	const char *p = v.s, *end = v.s + v.len;
	int quoted = 0;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == '<') {
			p = memchr(p, '>', (size_t)(end - p));
			return p ? memchr(p, ';', (size_t)(end - p)) : NULL;
		} else if (*p == ';') {
			return p;
		}
	}
	return NULL;
}

/* The tag parameter of From/To value v, or an empty slice. */
static struct sip_str tag_of(struct sip_str v)
{
	struct sip_str params, tag = { NULL, 0 };
	const char *p = hdr_params(v);

	if (!p)
		return tag;
	params = (struct sip_str){ p + 1, (size_t)(v.s + v.len - p - 1) };
	sip_param_find(params, "tag", &tag);
	return tag;
}

/* From's and To's tags are read by every layer (loop detection, dialog
 * matching, the application): found once per header value, kept in the
 * message while the header's slice is the same. */
int sip_msg_tag(const struct sip_msg *m, enum sip_hdr_id id,
		struct sip_str *tag)
{
	struct sip_msg *w = (struct sip_msg *)m;	/* the memo only */
	unsigned k = id == SIP_HDR_TO;
	struct sip_str v;
	int rc = single(m, id, &v);

	if (rc)
		return rc;
	if (id != SIP_HDR_FROM && id != SIP_HDR_TO) {
		*tag = tag_of(v);
		return 0;
	}
	if (!v.s || m->tag_of[k].s != v.s || m->tag_of[k].len != v.len) {
		w->tag[k] = tag_of(v);
		w->tag_of[k] = v;
	}
	*tag = m->tag[k];
	return 0;
}

int sip_msg_ruri(const struct sip_msg *m, struct sip_uri *u)
{
	struct sip_msg *w = (struct sip_msg *)m;	/* the memo only */

	if (!m->is_request)
		return EINVAL;
	if (m->ruri_memo) {
		if (m->ruri_memo < 0)
			return EBADMSG;
		*u = m->ruri_u;
		return 0;
	}
	if (sip_uri_parse(m->ruri, u, NULL)) {
		w->ruri_memo = -1;
		return EBADMSG;
	}
	w->ruri_u = *u;
	w->ruri_memo = 1;
	return 0;
}
