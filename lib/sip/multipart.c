/* lib/sip/multipart.c — MIME multipart bodies and the SDP of a message
 * (multipart.h): a strict, bounded, zero-copy split by boundary, and the
 * same body with one part's content replaced. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/hdr.h"
#include "sip/multipart.h"

#define DELIM_MAX (4 + SIP_MP_BOUNDARY_MAX)	/* CRLF "--" boundary */

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return EBADMSG;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct sip_str trim(struct sip_str s)
{
	while (s.len && is_ws(s.s[0])) {
		s.s++;
		s.len--;
	}
	while (s.len && is_ws(s.s[s.len - 1]))
		s.len--;
	return s;
}

struct sip_str sip_mime_type(struct sip_str ctype)
{
	const char *semi = memchr(ctype.s, ';', ctype.len);

	if (semi)
		ctype.len = (size_t)(semi - ctype.s);
	return trim(ctype);
}

int sip_mp_is(struct sip_str ctype)
{
	struct sip_str t = sip_mime_type(ctype);

	return t.len > 10 && strncasecmp(t.s, "multipart/", 10) == 0;
}

/* RFC 2046 bchars: what a boundary may hold (a space, but not last). */
static int is_bchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL;
}

/* The boundary parameter of ctype, without quotes. 0 or EBADMSG. */
static int boundary_of(struct sip_str ctype, struct sip_str *out,
		       const char **why)
{
	const char *semi = memchr(ctype.s, ';', ctype.len);
	struct sip_str params, b;

	if (!semi)
		return bad(why, "multipart without boundary");
	params = (struct sip_str){ semi + 1,
				   ctype.len - (size_t)(semi + 1 - ctype.s) };
	if (!sip_param_find(params, "boundary", &b) || !b.len)
		return bad(why, "multipart without boundary");
	if (b.len >= 2 && b.s[0] == '"' && b.s[b.len - 1] == '"') {
		b.s++;
		b.len -= 2;
	}
	if (b.len == 0 || b.len > SIP_MP_BOUNDARY_MAX || b.s[b.len - 1] == ' ')
		return bad(why, "bad multipart boundary");
	for (size_t i = 0; i < b.len; i++)
		if (!is_bchar(b.s[i]))
			return bad(why, "bad multipart boundary");
	*out = b;
	return 0;
}

/* After "--boundary" at *i: "--" closes the body (*close = 1); otherwise
 * white space and CRLF, *i moved past them. 0 or EBADMSG. */
static int delim_end(struct sip_str body, size_t *i, int *close)
{
	const char *s = body.s;
	size_t k = *i;

	if (k + 2 <= body.len && s[k] == '-' && s[k + 1] == '-') {
		*close = 1;
		*i = k + 2;
		return 0;
	}
	while (k < body.len && (s[k] == ' ' || s[k] == '\t'))
		k++;
	if (k + 2 > body.len || s[k] != '\r' || s[k + 1] != '\n')
		return EBADMSG;
	*close = 0;
	*i = k + 2;
	return 0;
}

/* One header line of a part (folded lines included, CRLF not): a token,
 * optional white space and ':'. Sets *type from a Content-Type. */
static int part_hdr(struct sip_str line, struct sip_mp_part *p,
		    const char **why)
{
	size_t n = 0;
	struct sip_str name;

	while (n < line.len && sip_is_token_char((unsigned char)line.s[n]))
		n++;
	name = (struct sip_str){ line.s, n };
	while (n < line.len && (line.s[n] == ' ' || line.s[n] == '\t'))
		n++;
	if (name.len == 0 || n >= line.len || line.s[n] != ':')
		return bad(why, "bad header line in a multipart part");
	if (!sip_str_ieq(name, "Content-Type"))
		return 0;
	if (p->type.s)
		return bad(why, "two Content-Types in a multipart part");
	p->type = sip_mime_type((struct sip_str){ line.s + n + 1,
						  line.len - n - 1 });
	if (!p->type.len)
		return bad(why, "empty Content-Type in a multipart part");
	return 0;
}

/* Check p->hdrs line by line (a line starting with white space continues
 * the one before) and find its Content-Type. */
static int part_hdrs(struct sip_mp_part *p, const char **why)
{
	const char *s = p->hdrs.s, *end = s + p->hdrs.len;
	const char *start = s;
	int rc;

	if (p->hdrs.len && (s[0] == ' ' || s[0] == '\t'))
		return bad(why, "bad header line in a multipart part");
	while (s < end) {
		const char *eol = memmem(s, (size_t)(end - s), "\r\n", 2);

		if (!eol)
			return bad(why, "bad header line in a multipart part");
		s = eol + 2;
		if (s < end && (*s == ' ' || *s == '\t'))
			continue;	/* folded */
		rc = part_hdr((struct sip_str){ start, (size_t)(eol - start) },
			      p, why);
		if (rc)
			return rc;
		start = s;
	}
	return 0;
}

/* The part between body offsets i (after its delimiter line) and e (the
 * CRLF of the next delimiter). */
static int part_parse(struct sip_str body, size_t i, size_t e,
		      struct sip_mp_part *p, const char **why)
{
	const char *s = body.s;
	const char *h;
	size_t cs;

	memset(p, 0, sizeof(*p));
	if (s[i] == '\r' && s[i + 1] == '\n') {	/* no headers */
		p->hdrs = (struct sip_str){ s + i, 0 };
		cs = i + 2;
	} else {
		/* e + 2 <= body.len: the delimiter's CRLF may end the block */
		h = memmem(s + i, e + 2 - i, "\r\n\r\n", 4);
		if (!h)
			return bad(why, "multipart part without a blank line");
		p->hdrs = (struct sip_str){ s + i, (size_t)(h + 2 - (s + i)) };
		cs = (size_t)(h + 4 - s);
	}
	if (cs > e)
		cs = e;		/* headers only, no content */
	p->content = (struct sip_str){ s + cs, e - cs };
	return part_hdrs(p, why);
}

/* Where the first delimiter line ends: the body starts with "--boundary"
 * or has it after a CRLF (the preamble). 0 or EBADMSG. */
static int first_delim(struct sip_str body, const char *delim, size_t dlen,
		       size_t *i)
{
	const char *p;

	if (body.len >= dlen - 2 && memcmp(body.s, delim + 2, dlen - 2) == 0) {
		*i = dlen - 2;
		return 0;
	}
	p = memmem(body.s, body.len, delim, dlen);
	if (!p)
		return EBADMSG;
	*i = (size_t)(p - body.s) + dlen;
	return 0;
}

int sip_mp_parse(struct sip_str ctype, struct sip_str body,
		 struct sip_mp *out, const char **why)
{
	struct sip_mp mp = { .n = 0 };
	char delim[DELIM_MAX];
	size_t dlen, i;
	int close, rc;

	if ((rc = boundary_of(ctype, &mp.boundary, why)) != 0)
		return rc;
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, mp.boundary.s, mp.boundary.len);
	dlen = 4 + mp.boundary.len;
	if (first_delim(body, delim, dlen, &i))
		return bad(why, "multipart without its first boundary");
	if (delim_end(body, &i, &close) || close)
		return bad(why, "bad multipart boundary line");
	while (!close) {
		const char *p = memmem(body.s + i, body.len - i, delim, dlen);

		if (!p)
			return bad(why, "multipart without its closing boundary");
		if (mp.n == SIP_MP_PARTS_MAX) {
			if (why)
				*why = "too many multipart parts";
			return E2BIG;
		}
		rc = part_parse(body, i, (size_t)(p - body.s), &mp.part[mp.n++],
				why);
		if (rc)
			return rc;
		i = (size_t)(p - body.s) + dlen;
		if (delim_end(body, &i, &close))
			return bad(why, "bad multipart boundary line");
	}
	*out = mp;
	return 0;
}

int sip_mp_replace(struct sip_str body, const struct sip_mp *mp, unsigned i,
		   struct sip_str content, char *dst, size_t cap, size_t *len)
{
	char dash[2 + SIP_MP_BOUNDARY_MAX];
	uintptr_t b = (uintptr_t)body.s, c;
	size_t pre, post, n;

	if (i >= mp->n)
		return EINVAL;
	c = (uintptr_t)mp->part[i].content.s;
	if (c < b || c + mp->part[i].content.len > b + body.len)
		return EINVAL;	/* mp is of another body */
	memcpy(dash, "--", 2);
	memcpy(dash + 2, mp->boundary.s, mp->boundary.len);
	if (memmem(content.s, content.len, dash, 2 + mp->boundary.len))
		return EINVAL;	/* it would end the part early */
	pre = (size_t)(mp->part[i].content.s - body.s);
	post = body.len - pre - mp->part[i].content.len;
	n = pre + content.len + post;
	if (n > cap)
		return ENOSPC;
	memcpy(dst, body.s, pre);
	memcpy(dst + pre, content.s, content.len);
	memcpy(dst + pre + content.len, mp->part[i].content.s +
	       mp->part[i].content.len, post);
	*len = n;
	return 0;
}

/* The one SDP part of mp: 0 (*k), ENOENT, EBADMSG. */
static int sdp_part(const struct sip_mp *mp, unsigned *k, const char **why)
{
	int found = 0;

	for (unsigned i = 0; i < mp->n; i++) {
		struct sip_str t = mp->part[i].type;

		if (t.len > 10 && strncasecmp(t.s, "multipart/", 10) == 0)
			return bad(why, "nested multipart body");
		if (!sip_str_ieq(t, "application/sdp"))
			continue;
		if (found++)
			return bad(why, "two SDP parts in a multipart body");
		if (!mp->part[i].content.len)
			return bad(why, "empty SDP part");
		*k = i;
	}
	return found ? 0 : ENOENT;
}

/* Where m's SDP is: 0 with *whole = 1 (the body), or *whole = 0 and *mp,
 * *k its part; ENOENT; EBADMSG. */
static int find_sdp(const struct sip_msg *m, int *whole, struct sip_mp *mp,
		    unsigned *k, const char **why)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CONTENT_TYPE, 0);
	int rc;

	if (!m->body.len)
		return ENOENT;
	if (i < 0)
		return bad(why, "body without Content-Type");
	*whole = sip_str_ieq(sip_mime_type(m->hdrs[i].value),
			     "application/sdp");
	if (*whole)
		return 0;
	if (!sip_mp_is(m->hdrs[i].value))
		return ENOENT;
	rc = sip_mp_parse(m->hdrs[i].value, m->body, mp, why);
	if (rc)
		return EBADMSG;
	return sdp_part(mp, k, why);
}

int sip_msg_sdp(const struct sip_msg *m, struct sip_str *sdp,
		const char **why)
{
	struct sip_mp mp;
	unsigned k = 0;
	int whole = 0, rc = find_sdp(m, &whole, &mp, &k, why);

	if (rc)
		return rc;
	*sdp = whole ? m->body : mp.part[k].content;
	return 0;
}

int sip_msg_set_sdp(struct sip_msg *m, const char *sdp, size_t len)
{
	struct sip_mp mp;
	unsigned k = 0;
	int whole = 0, rc = find_sdp(m, &whole, &mp, &k, NULL);
	size_t cap, n;
	char *buf;

	if (rc || whole)
		return rc ? rc : sip_msg_set_body(m, sdp, len);
	cap = m->body.len - mp.part[k].content.len + len;
	if (cap > SIP_MAX_MSG)
		return E2BIG;
	if (!(buf = malloc(cap ? cap : 1)))
		return ENOMEM;
	rc = sip_mp_replace(m->body, &mp, k, (struct sip_str){ sdp, len }, buf,
			    cap, &n);
	if (rc == 0)
		rc = sip_msg_set_body(m, buf, n);
	free(buf);
	return rc;
}
