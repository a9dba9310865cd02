/* lib/sip/build.c — new messages as text: responses, ACK/CANCEL, requests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/wbuf.h"

static void w(struct wbuf *b, const char *s, size_t n)
{
	wbuf_put(b, s, n);
}

static void ws(struct wbuf *b, const char *s)
{
	w(b, s, strlen(s));
}

static void wstr(struct wbuf *b, struct sip_str s)
{
	w(b, s.s, s.len);
}

/* "name: value\r\n" of nl + v.len + 4 bytes, checked once: every
 * response and ACK stem copies a handful of lines. */
static void whdr_n(struct wbuf *b, const char *name, size_t nl,
		   struct sip_str v)
{
	size_t need = nl + v.len + 4;
	char *p;

	if (b->full || b->len + need > b->cap) {
		b->full = 1;
		return;
	}
	p = b->p + b->len;
	memcpy(p, name, nl);
	p[nl] = ':';
	p[nl + 1] = ' ';
	memcpy(p + nl + 2, v.s, v.len);
	p[nl + 2 + v.len] = '\r';
	p[nl + 3 + v.len] = '\n';
	b->len += need;
}

static void whdr(struct wbuf *b, const char *name, struct sip_str v)
{
	whdr_n(b, name, strlen(name), v);
}

const char *sip_reason_phrase(int status)
{
	static const struct { int code; const char *text; } t[] = {
		{ 100, "Trying" }, { 180, "Ringing" }, { 183, "Session Progress" },
		{ 200, "OK" }, { 202, "Accepted" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" }, { 413, "Request Entity Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 416, "Unsupported URI Scheme" }, { 420, "Bad Extension" },
		{ 423, "Interval Too Brief" },
		{ 480, "Temporarily Unavailable" },
		{ 481, "Call/Transaction Does Not Exist" },
		{ 482, "Loop Detected" }, { 483, "Too Many Hops" },
		{ 486, "Busy Here" }, { 487, "Request Terminated" },
		{ 488, "Not Acceptable Here" }, { 500, "Server Internal Error" },
		{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
		{ 504, "Server Time-out" }, { 505, "Version Not Supported" },
		{ 513, "Message Too Large" }, { 603, "Decline" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == status)
			return t[i].text;
	return "Unknown";
}

static void copy_lines(struct wbuf *b, const struct sip_msg *m,
		       enum sip_hdr_id id)
{
	int i = sip_msg_hdr_find(m, id, 0);
	const char *name;
	size_t nl;

	if (i < 0)
		return;
	name = sip_hdr_name(id);
	nl = strlen(name);
	for (; i >= 0; i = sip_msg_hdr_find(m, id, (unsigned)i + 1))
		whdr_n(b, name, nl, m->hdrs[i].value);
}

static void write_to(struct wbuf *b, const struct sip_msg *req,
		     const char *to_tag)
{
	int i = sip_msg_hdr_find(req, SIP_HDR_TO, 0);
	struct sip_addr a;

	if (i < 0)
		return;
	ws(b, "To: ");
	wstr(b, req->hdrs[i].value);
	if (to_tag && sip_addr_parse(req->hdrs[i].value, 0, &a, NULL) == 0 &&
	    !a.has_tag) {
		ws(b, ";tag=");
		ws(b, to_tag);
	}
	w(b, "\r\n", 2);
}

/* By hand, not snprintf: every response writes one (a 100 Trying per
 * INVITE). A body over SIP_MAX_MSG bytes cannot be sent: ENOSPC. */
static void write_clen(struct wbuf *b, size_t n)
{
	char num[40] = "Content-Length: ", *p = num + 16;

	if (n > SIP_MAX_MSG) {
		b->full = 1;
		return;
	}
	p = sip_put_dec(p, (unsigned)n);
	memcpy(p, "\r\n\r\n", 4);
	w(b, num, (size_t)(p + 4 - num));
}

int sip_response_write(const struct sip_msg *req, int status,
		       const char *reason, const char *to_tag,
		       const char *extra, struct sip_str body, char *dst,
		       size_t cap, size_t *len)
{
	struct wbuf b = { dst, cap, 0, 0 };
	char line[48];

	if (status < 100 || status > 699 || !req->is_request)
		return EINVAL;
	if (!reason)
		reason = sip_reason_phrase(status);
	if (strpbrk(reason, "\r\n"))
		return EINVAL;
	memcpy(line, "SIP/2.0 000 ", 13);	/* no printf: every answer */
	line[8] = (char)('0' + status / 100);
	line[9] = (char)('0' + status / 10 % 10);
	line[10] = (char)('0' + status % 10);
	ws(&b, line);
	ws(&b, reason);
	w(&b, "\r\n", 2);
	copy_lines(&b, req, SIP_HDR_VIA);
	copy_lines(&b, req, SIP_HDR_FROM);
	write_to(&b, req, to_tag);
	copy_lines(&b, req, SIP_HDR_CALL_ID);
	copy_lines(&b, req, SIP_HDR_CSEQ);
	if (extra)
		ws(&b, extra);
	write_clen(&b, body.len);
	wstr(&b, body);
	return wbuf_finish(&b, len);
}

int sip_ack_stem_fill(const struct sip_msg *invite, char *buf, size_t cap,
		      struct sip_ack_stem *s)
{
	struct wbuf b = { buf, cap, 0, 0 };
	struct sip_cseq cs;
	struct sip_str via;
	size_t pos = 0;
	int i = sip_msg_hdr_find(invite, SIP_HDR_VIA, 0);
	int to = sip_msg_hdr_find(invite, SIP_HDR_TO, 0);

	if (i < 0 || to < 0 || sip_msg_cseq(invite, &cs) ||
	    sip_hdr_next_value(invite->hdrs[i].value, &pos, &via) != 1)
		return EINVAL;
	wstr(&b, invite->ruri);
	s->ruri_len = b.len;
	whdr(&b, "Via", via);
	copy_lines(&b, invite, SIP_HDR_ROUTE);
	copy_lines(&b, invite, SIP_HDR_MAX_FORWARDS);
	copy_lines(&b, invite, SIP_HDR_FROM);
	s->to = b.len;
	whdr(&b, "To", invite->hdrs[to].value);
	s->callid = b.len;
	copy_lines(&b, invite, SIP_HDR_CALL_ID);
	s->text = buf;
	s->cseq = cs.num;
	return wbuf_finish(&b, &s->len);
}

static void wuint(struct wbuf *b, uint32_t v)
{
	char tmp[10];

	w(b, tmp, (size_t)(sip_put_dec(tmp, v) - tmp));
}

int sip_ack_stem_write(const struct sip_ack_stem *s, enum sip_method method,
		       const struct sip_msg *resp, const char *extra,
		       char *dst, size_t cap, size_t *len)
{
	struct wbuf b = { dst, cap, 0, 0 };
	const char *name = sip_method_name(method);
	int to = -1;

	if (method == SIP_ACK && resp)
		to = sip_msg_hdr_find(resp, SIP_HDR_TO, 0);
	if ((method != SIP_ACK && method != SIP_CANCEL) ||
	    (method == SIP_ACK && to < 0))
		return EINVAL;
	ws(&b, name);
	w(&b, " ", 1);
	w(&b, s->text, s->ruri_len);
	w(&b, " SIP/2.0\r\n", 10);
	w(&b, s->text + s->ruri_len, (to < 0 ? s->callid : s->to) -
	  s->ruri_len);
	if (to >= 0)
		whdr(&b, "To", resp->hdrs[to].value);
	w(&b, s->text + s->callid, s->len - s->callid);
	w(&b, "CSeq: ", 6);
	wuint(&b, s->cseq);
	w(&b, " ", 1);
	ws(&b, name);
	w(&b, "\r\n", 2);
	if (extra)
		ws(&b, extra);
	w(&b, "Content-Length: 0\r\n\r\n", 21);
	return wbuf_finish(&b, len);
}

int sip_ack_cancel_write(const struct sip_msg *invite, enum sip_method method,
			 const struct sip_msg *resp, char *dst, size_t cap,
			 size_t *len)
{
	struct sip_ack_stem s;
	char text[8192];
	int rc = sip_ack_stem_fill(invite, text, sizeof(text), &s);

	if (rc)
		return rc == ENOSPC ? ENOSPC : EINVAL;
	return sip_ack_stem_write(&s, method, resp, NULL, dst, cap, len);
}

static void opt_hdr(struct wbuf *b, const char *name, const char *v)
{
	if (v)
		whdr(b, name, (struct sip_str){ v, strlen(v) });
}

int sip_request_write(const struct sip_request_spec *s, char *dst, size_t cap,
		      size_t *len)
{
	struct wbuf b = { dst, cap, 0, 0 };
	char num[48];

	if (!s->method || !s->ruri || !s->via || !s->from || !s->to ||
	    !s->call_id)
		return EINVAL;
	ws(&b, s->method);
	w(&b, " ", 1);
	ws(&b, s->ruri);
	ws(&b, " SIP/2.0\r\n");
	opt_hdr(&b, "Via", s->via);
	opt_hdr(&b, "Route", s->route);
	snprintf(num, sizeof(num), "Max-Forwards: %u\r\n",
		 s->max_forwards ? s->max_forwards : 70);
	ws(&b, num);
	opt_hdr(&b, "From", s->from);
	opt_hdr(&b, "To", s->to);
	opt_hdr(&b, "Call-ID", s->call_id);
	snprintf(num, sizeof(num), "CSeq: %u %s\r\n", s->cseq, s->method);
	ws(&b, num);
	opt_hdr(&b, "Contact", s->contact);
	opt_hdr(&b, "Content-Type", s->content_type);
	if (s->extra)
		ws(&b, s->extra);
	write_clen(&b, s->body.len);
	wstr(&b, s->body);
	return wbuf_finish(&b, len);
}
