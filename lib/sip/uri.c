/* lib/sip/uri.c — sip:, sips: and tel: URIs (RFC 3261 19.1, RFC 3966),
 * parameter lists and %-escapes, checked against the RFC's character sets
 * without copying. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sip/hdr.h"
#include "sip/chars.h"
#include "hex.h"

#define C_ALNUM SIP_C_ALNUM
#define C_MARK SIP_C_MARK
#define C_USER SIP_C_USER
#define C_PASS SIP_C_PASS
#define C_PARAM SIP_C_PARAM
#define C_HDR SIP_C_HDR
#define C_HOST SIP_C_HOST

static inline unsigned char cls(unsigned char c)
{
	return sip_chars[c];
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

/* Every byte of s is unreserved, escaped (%HH) or in `extra`. */
static int chars_ok(const char *s, size_t n, unsigned extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) ||
			    !is_hex((unsigned char)s[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (!(cls(c) & (C_ALNUM | C_MARK | extra)))
			return 0;
	}
	return 1;
}

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return EBADMSG;
}

static int parse_port(const char *p, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return EBADMSG;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return EBADMSG;
	*port = v;
	return 0;
}

/* host [":" port] in [p, end): hostname, IPv4 or [IPv6]. */
static int parse_hostport(const char *p, const char *end, struct sip_uri *u)
{
	const char *h = p;

	if (p < end && *p == '[') {
		while (p < end && *p != ']') {
			if (!is_hex((unsigned char)*p) && *p != ':' &&
			    *p != '.' && *p != '[')
				return EBADMSG;
			p++;
		}
		if (p == end)
			return EBADMSG;
		p++;
	} else {
		while (p < end && (cls((unsigned char)*p) & C_HOST))
			p++;
	}
	if (p == h)
		return EBADMSG;
	u->host = (struct sip_str){ h, (size_t)(p - h) };
	u->port = 0;
	if (p == end)
		return 0;
	if (*p != ':')
		return EBADMSG;
	return parse_port(p + 1, (size_t)(end - p - 1), &u->port);
}

/* ;name[=value] pairs of a URI; no empty names. */
static int uri_params_ok(struct sip_str s)
{
	const char *p = s.s, *end = s.s + s.len;

	while (p <= end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (e == p || eq == p)
			return 0;
		if (!chars_ok(p, (size_t)((eq ? eq : e) - p), C_PARAM))
			return 0;
		if (eq && (eq + 1 == e ||
			   !chars_ok(eq + 1, (size_t)(e - eq - 1), C_PARAM)))
			return 0;
		if (!semi)
			break;
		p = semi + 1;
	}
	return 1;
}

/* hname=hvalue *("&" hname=hvalue) */
static int uri_headers_ok(struct sip_str s)
{
	const char *p = s.s, *end = s.s + s.len;

	while (p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (!eq || eq == p || !chars_ok(p, (size_t)(eq - p), C_HDR) ||
		    !chars_ok(eq + 1, (size_t)(e - eq - 1), C_HDR))
			return 0;
		if (!amp)
			break;
		p = amp + 1;
	}
	return 1;
}

static int parse_userinfo(struct sip_str ui, struct sip_uri *u)
{
	const char *colon = memchr(ui.s, ':', ui.len);
	size_t ulen = colon ? (size_t)(colon - ui.s) : ui.len;

	if (ulen == 0 || !chars_ok(ui.s, ulen, C_USER))
		return EBADMSG;
	u->user = (struct sip_str){ ui.s, ulen };
	u->has_user = 1;
	if (colon) {
		size_t plen = ui.len - ulen - 1;
		if (!chars_ok(colon + 1, plen, C_PASS))
			return EBADMSG;
		u->password = (struct sip_str){ colon + 1, plen };
		u->has_password = 1;
	}
	return 0;
}

static int parse_sip_uri(struct sip_str r, struct sip_uri *u, const char **why)
{
	const char *p = r.s, *end = r.s + r.len, *at, *hp_end, *q;

	at = memchr(p, '@', r.len);
	if (at) {
		if (parse_userinfo((struct sip_str){ p, (size_t)(at - p) }, u))
			return fail(why, "Malformed user part in URI");
		p = at + 1;
	}
	q = memchr(p, '?', (size_t)(end - p));
	if (q) {
		u->headers = (struct sip_str){ q + 1, (size_t)(end - q - 1) };
		if (!uri_headers_ok(u->headers))
			return fail(why, "Malformed URI headers");
		end = q;
	}
	hp_end = memchr(p, ';', (size_t)(end - p));
	if (hp_end) {
		u->params = (struct sip_str){ hp_end + 1,
					      (size_t)(end - hp_end - 1) };
		if (!uri_params_ok(u->params))
			return fail(why, "Malformed URI parameters");
	} else {
		hp_end = end;
	}
	if (parse_hostport(p, hp_end, u))
		return fail(why, "Malformed host or port in URI");
	return 0;
}

static int parse_tel_uri(struct sip_str r, struct sip_uri *u, const char **why)
{
	const char *semi = memchr(r.s, ';', r.len);
	size_t n = semi ? (size_t)(semi - r.s) : r.len;

	if (n == 0)
		return fail(why, "Malformed tel URI");
	for (size_t i = 0; i < n; i++) {
		char c = r.s[i];
		if (!(c >= '0' && c <= '9') && !strchr("+-.()*#", c) &&
		    !((c | 32) >= 'a' && (c | 32) <= 'f') && c != 'p' &&
		    c != 'w')
			return fail(why, "Malformed tel URI");
	}
	u->user = (struct sip_str){ r.s, n };
	u->has_user = 1;
	if (semi) {
		u->params = (struct sip_str){ semi + 1, r.len - n - 1 };
		if (!uri_params_ok(u->params))
			return fail(why, "Malformed tel URI parameters");
	}
	return 0;
}

static int opaque_ok(struct sip_str r)
{
	for (size_t i = 0; i < r.len; i++) {
		unsigned char c = (unsigned char)r.s[i];
		if (c <= ' ' || c >= 127 || c == '<' || c == '>' || c == '"')
			return 0;
	}
	return r.len > 0;
}

int sip_uri_parse(struct sip_str s, struct sip_uri *u, const char **why)
{
	const char *colon = s.len ? memchr(s.s, ':', s.len) : NULL;
	struct sip_str rest;

	memset(u, 0, sizeof(*u));
	if (!colon || colon == s.s)
		return fail(why, "Malformed URI: no scheme");
	for (const char *p = s.s; p < colon; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(cls(c) & C_ALNUM) && c != '+' && c != '-' && c != '.')
			return fail(why, "Malformed URI scheme");
	}
	u->scheme_str = (struct sip_str){ s.s, (size_t)(colon - s.s) };
	rest = (struct sip_str){ colon + 1, s.len - u->scheme_str.len - 1 };
	u->opaque = rest;
	if (sip_str_ieq(u->scheme_str, "sip"))
		u->scheme = SIP_SCHEME_SIP;
	else if (sip_str_ieq(u->scheme_str, "sips"))
		u->scheme = SIP_SCHEME_SIPS;
	else if (sip_str_ieq(u->scheme_str, "tel"))
		u->scheme = SIP_SCHEME_TEL;
	else
		return opaque_ok(rest) ? 0 : fail(why, "Malformed URI");
	if (u->scheme == SIP_SCHEME_TEL)
		return parse_tel_uri(rest, u, why);
	return parse_sip_uri(rest, u, why);
}

static inline int pws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sip_param_next(struct sip_str params, size_t *pos, struct sip_str *name,
		   struct sip_str *val)
{
	const char *p = params.s;
	size_t i = *pos, s, ne, vs, ve;
	int quoted = 0;

	while (i < params.len && (pws(p[i]) || p[i] == ';'))
		i++;
	if (i >= params.len)
		return 0;
	s = i;
	while (i < params.len && p[i] != '=' && p[i] != ';' && !pws(p[i]))
		i++;
	ne = i;
	while (i < params.len && pws(p[i]))
		i++;
	vs = ve = i;
	if (i < params.len && p[i] == '=') {
		for (i++; i < params.len && pws(p[i]); i++)
			;
		for (vs = i; i < params.len; i++) {
			if (quoted && p[i] == '\\' && i + 1 < params.len)
				i++;
			else if (p[i] == '"')
				quoted = !quoted;
			else if (!quoted && p[i] == ';')
				break;
		}
		for (ve = i; ve > vs && pws(p[ve - 1]); ve--)
			;
	}
	if (i == s)
		i++;	/* a stray character: step over it */
	*name = (struct sip_str){ p + s, ne - s };
	*val = (struct sip_str){ p + vs, ve - vs };
	*pos = i;
	return 1;
}

int sip_param_find(struct sip_str params, const char *name,
		   struct sip_str *val)
{
	size_t nlen = strlen(name), pos = 0;
	struct sip_str n, v;

	while (sip_param_next(params, &pos, &n, &v))
		if (n.len == nlen && strncasecmp(n.s, name, nlen) == 0) {
			*val = v;
			return 1;
		}
	return 0;
}

int sip_unescape(struct sip_str s, char *dst, size_t cap, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < s.len; i++) {
		char c = s.s[i];
		if (c == '%') {
			if (i + 2 >= s.len || !is_hex((unsigned char)s.s[i + 1]) ||
			    !is_hex((unsigned char)s.s[i + 2]))
				return EBADMSG;
			c = (char)(hex_digit((unsigned char)s.s[i + 1]) * 16 +
				   hex_digit((unsigned char)s.s[i + 2]));
			i += 2;
		}
		if (o >= cap)
			return ENOSPC;
		dst[o++] = c;
	}
	*outlen = o;
	return 0;
}
