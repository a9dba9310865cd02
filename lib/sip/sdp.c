/* lib/sip/sdp.c — SDP c= and m= lines: read them, write a body that points
 * them elsewhere. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sdp.h"
#include "sip/wbuf.h"

/* Next line of body from *pos: content without CR LF. Returns 0 at end. */
static int next_line(struct sip_str body, size_t *pos, struct sip_str *line,
		     size_t *full)
{
	const char *p = body.s + *pos, *end = body.s + body.len, *lf;
	size_t n;

	if (p >= end)
		return 0;
	lf = memchr(p, '\n', (size_t)(end - p));
	n = lf ? (size_t)(lf - p) : (size_t)(end - p);
	*full = lf ? n + 1 : n;
	if (n && p[n - 1] == '\r')
		n--;
	*line = (struct sip_str){ p, n };
	*pos += *full;
	return 1;
}

/* Split s on single spaces into at most max fields; returns the count. */
static unsigned fields(struct sip_str s, struct sip_str *f, unsigned max)
{
	unsigned n = 0;
	const char *p = s.s, *end = s.s + s.len;

	while (p < end && n < max) {
		const char *sp = (n == max - 1) ? NULL :
				 memchr(p, ' ', (size_t)(end - p));
		const char *e = sp ? sp : end;
		f[n++] = (struct sip_str){ p, (size_t)(e - p) };
		p = sp ? sp + 1 : end;
	}
	return n;
}

static int parse_conn(struct sip_str v, struct sip_sdp_conn *c)
{
	struct sip_str f[3];

	if (fields(v, f, 3) != 3 || !f[0].len || !f[1].len || !f[2].len ||
	    memchr(f[2].s, ' ', f[2].len))
		return EBADMSG;
	c->nettype = f[0];
	c->addrtype = f[1];
	c->addr = f[2];
	c->present = 1;
	return 0;
}

static int parse_num(struct sip_str s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (sip_str_to_u64(s, max, &v))
		return EBADMSG;
	*out = (unsigned)v;
	return 0;
}

static int parse_media(struct sip_str v, struct sip_sdp_media *m)
{
	struct sip_str f[4], port;
	const char *slash;

	memset(m, 0, sizeof(*m));
	if (fields(v, f, 4) != 4 || !f[0].len || !f[2].len || !f[3].len)
		return EBADMSG;
	m->media = f[0];
	m->proto = f[2];
	m->fmts = f[3];
	port = f[1];
	m->nports = 1;
	slash = memchr(port.s, '/', port.len);
	if (slash) {
		struct sip_str n = { slash + 1,
				     (size_t)(port.s + port.len - slash - 1) };
		if (parse_num(n, 65535, &m->nports))
			return EBADMSG;
		port.len = (size_t)(slash - port.s);
	}
	return parse_num(port, 65535, &m->port);
}

static int sdp_line(struct sip_sdp *out, struct sip_str line)
{
	struct sip_str v = { line.s + 2, line.len - 2 };

	if (line.s[0] == 'c') {
		struct sip_sdp_conn *c = out->nmedia ?
			&out->media[out->nmedia - 1].conn : &out->conn;
		return parse_conn(v, c);
	}
	if (line.s[0] == 'm') {
		if (out->nmedia == SIP_SDP_MAX_MEDIA)
			return E2BIG;
		return parse_media(v, &out->media[out->nmedia++]);
	}
	return 0;
}

int sip_sdp_parse(struct sip_str body, struct sip_sdp *out)
{
	struct sip_str line;
	size_t pos = 0, full;
	int first = 1, rc;

	memset(out, 0, sizeof(*out));
	while (next_line(body, &pos, &line, &full)) {
		if (line.len == 0 && pos >= body.len)
			break;	/* a final empty line */
		if (line.len < 2 || line.s[1] != '=' ||
		    line.s[0] < 'a' || line.s[0] > 'z')
			return EBADMSG;
		if (first && !sip_str_eq(line, "v=0"))
			return EBADMSG;
		first = 0;
		if ((rc = sdp_line(out, line)) != 0)
			return rc;
	}
	return first ? EBADMSG : 0;
}

struct sip_str sip_sdp_media_addr(const struct sip_sdp *s, unsigned i)
{
	if (i < s->nmedia && s->media[i].conn.present)
		return s->media[i].conn.addr;
	return s->conn.present ? s->conn.addr : (struct sip_str){ "", 0 };
}

static void put_conn(struct wbuf *b, struct sip_str line, const char *addr)
{
	struct sip_sdp_conn c;

	if (!addr || parse_conn((struct sip_str){ line.s + 2, line.len - 2 },
				&c)) {
		wbuf_put(b, line.s, line.len);
		return;
	}
	wbuf_put(b, "c=", 2);
	wbuf_put(b, c.nettype.s, c.nettype.len);
	wbuf_put(b, strchr(addr, ':') ? " IP6 " : " IP4 ", 5);
	wbuf_put(b, addr, strlen(addr));
}

static void put_media(struct wbuf *b, struct sip_str line, unsigned port)
{
	const char *sp1 = memchr(line.s, ' ', line.len), *rest;
	char num[8];
	int n;

	rest = sp1 ? memchr(sp1 + 1, ' ', line.len - (size_t)(sp1 + 1 - line.s))
		   : NULL;
	if (!port || !rest) {
		wbuf_put(b, line.s, line.len);
		return;
	}
	{
		/* keep a "/<count>" suffix of the port */
		const char *sl = memchr(sp1 + 1, '/', (size_t)(rest - sp1 - 1));
		if (sl)
			rest = sl;
	}
	wbuf_put(b, line.s, (size_t)(sp1 + 1 - line.s));
	n = snprintf(num, sizeof(num), "%u", port);
	wbuf_put(b, num, (size_t)n);
	wbuf_put(b, rest, line.len - (size_t)(rest - line.s));
}

int sip_sdp_rewrite(struct sip_str body, const char *addr,
		    const unsigned *ports, unsigned nports, char *dst,
		    size_t cap, size_t *len)
{
	struct sip_sdp check;
	struct wbuf b = { dst, cap, 0, 0 };
	struct sip_str line;
	size_t pos = 0, full;
	unsigned mi = 0;
	int rc = sip_sdp_parse(body, &check);

	if (rc)
		return rc;
	if (addr && (strpbrk(addr, " \r\n") || !*addr))
		return EINVAL;
	while (next_line(body, &pos, &line, &full)) {
		if (line.len >= 2 && line.s[0] == 'c')
			put_conn(&b, line, addr);
		else if (line.len >= 2 && line.s[0] == 'm') {
			put_media(&b, line, ports && mi < nports ? ports[mi] : 0);
			mi++;
		} else
			wbuf_put(&b, line.s, line.len);
		wbuf_put(&b, line.s + line.len, full - line.len);
	}
	return wbuf_finish(&b, len);
}
