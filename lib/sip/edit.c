/* lib/sip/edit.c — edit a parsed message in place and write it out. New
 * text goes to a per-message arena of chunks that never move, so slices
 * into it stay valid; untouched headers remain slices of the input. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

struct sip_arena {
	struct sip_arena *next;
	size_t used, cap;
	char data[];
};

#define ARENA_CHUNK 1024

static char *arena_alloc(struct sip_msg *m, size_t n)
{
	struct sip_arena *a = m->arena;

	if (!a && sizeof(m->inl) - m->inl_used >= n) {
		m->inl_used += n;
		return m->inl + m->inl_used - n;
	}

	if (!a || a->cap - a->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->next = m->arena;
		a->used = 0;
		a->cap = cap;
		m->arena = a;
	}
	a->used += n;
	return a->data + a->used - n;
}

int sip_msg_strdup(struct sip_msg *m, const char *s, size_t len,
		   const char **out)
{
	char *p = arena_alloc(m, len ? len : 1);

	if (!p)
		return ENOMEM;
	if (len)
		memcpy(p, s, len);
	*out = p;
	return 0;
}

void sip_msg_release(struct sip_msg *m)
{
	struct sip_arena *a = m->arena, *next;

	for (; a; a = next) {
		next = a->next;
		free(a);
	}
	m->arena = NULL;
	m->inl_used = 0;
}

int sip_msg_hdr_insert(struct sip_msg *m, unsigned at, enum sip_hdr_id id,
		       const char *name, const char *value, size_t vlen)
{
	struct sip_hdr h = { .id = id };
	const char *v, *n;

	if (at > m->nhdrs)
		return EINVAL;
	if (m->nhdrs >= SIP_MAX_HDRS - m->hdrs_missing)
		return E2BIG;
	if (!name)
		name = sip_hdr_name(id);
	if (!name || !*name)
		return EINVAL;
	if (sip_msg_strdup(m, value, vlen, &v) ||
	    sip_msg_strdup(m, name, strlen(name), &n))
		return ENOMEM;
	h.name = (struct sip_str){ n, strlen(name) };
	h.value = (struct sip_str){ v, vlen };
	memmove(&m->hdrs[at + 1], &m->hdrs[at],
		(m->nhdrs - at) * sizeof(m->hdrs[0]));
	m->hdrs[at] = h;
	m->nhdrs++;
	m->via0_memo = m->cseq_memo = m->first_ok = 0;
	return 0;
}

int sip_msg_hdr_add(struct sip_msg *m, enum sip_hdr_id id, const char *value)
{
	return sip_msg_hdr_insert(m, m->nhdrs, id, NULL, value, strlen(value));
}

int sip_msg_hdr_set(struct sip_msg *m, unsigned idx, const char *value,
		    size_t vlen)
{
	const char *v;

	if (idx >= m->nhdrs)
		return EINVAL;
	if (sip_msg_strdup(m, value, vlen, &v))
		return ENOMEM;
	m->hdrs[idx].value = (struct sip_str){ v, vlen };
	m->hdrs[idx].raw = (struct sip_str){ NULL, 0 };
	m->via0_memo = m->cseq_memo = m->first_ok = 0;
	return 0;
}

int sip_msg_hdr_del(struct sip_msg *m, unsigned idx)
{
	if (idx >= m->nhdrs)
		return EINVAL;
	memmove(&m->hdrs[idx], &m->hdrs[idx + 1],
		(m->nhdrs - idx - 1) * sizeof(m->hdrs[0]));
	m->nhdrs--;
	m->via0_memo = m->cseq_memo = m->first_ok = 0;
	return 0;
}

int sip_msg_hdr_del_first_value(struct sip_msg *m, unsigned idx)
{
	struct sip_str v, rest;
	size_t pos = 0;

	if (idx >= m->nhdrs)
		return EINVAL;
	if (sip_hdr_next_value(m->hdrs[idx].value, &pos, &v) != 1)
		return EBADMSG;
	rest = (struct sip_str){ m->hdrs[idx].value.s + pos,
				 m->hdrs[idx].value.len - pos };
	while (rest.len && (rest.s[0] == ' ' || rest.s[0] == '\t' ||
			    rest.s[0] == '\r' || rest.s[0] == '\n')) {
		rest.s++;
		rest.len--;
	}
	if (rest.len == 0)
		return sip_msg_hdr_del(m, idx);
	/* The remainder is already in stable storage: point at it. */
	m->hdrs[idx].value = rest;
	m->hdrs[idx].raw = (struct sip_str){ NULL, 0 };
	return 0;
}

int sip_msg_set_ruri(struct sip_msg *m, const char *uri, size_t len)
{
	const char *v;

	if (!m->is_request || len == 0 || memchr(uri, ' ', len) ||
	    memchr(uri, '\r', len) || memchr(uri, '\n', len))
		return EINVAL;
	if (sip_msg_strdup(m, uri, len, &v))
		return ENOMEM;
	m->ruri = (struct sip_str){ v, len };
	m->start_edited = 1;
	m->ruri_memo = 0;
	return 0;
}

int sip_msg_set_body(struct sip_msg *m, const char *body, size_t len)
{
	const char *v;

	if (len > SIP_MAX_MSG)
		return E2BIG;
	if (sip_msg_strdup(m, body, len, &v))
		return ENOMEM;
	m->body = (struct sip_str){ v, len };
	return 0;
}

/* ---- serialise ---- */

struct out {
	char *p;
	size_t cap, len;	/* len counts even past cap, for sizing */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->p && n && o->len + n <= o->cap)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, struct sip_str s)
{
	put(o, s.s, s.len);
}

static void put_start(struct out *o, const struct sip_msg *m)
{
	if (m->start_edited) {
		put_str(o, m->method_str);
		put(o, " ", 1);
		put_str(o, m->ruri);
		put(o, " SIP/2.0", 8);
	} else {
		put_str(o, m->start_line);
	}
	put(o, "\r\n", 2);
}

static void put_clen(struct out *o, const struct sip_msg *m)
{
	char num[24];
	size_t v = m->body.len, n = sizeof(num);

	do {
		num[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, "Content-Length: ", 16);
	put(o, num + n, sizeof(num) - n);
	put(o, "\r\n", 2);
}

static void write_msg(struct out *o, const struct sip_msg *m)
{
	int clen_done = 0;

	put_start(o, m);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		if (h->id == SIP_HDR_CONTENT_LENGTH) {
			if (!clen_done)
				put_clen(o, m);
			clen_done = 1;
		} else if (h->raw.len) {
			put_str(o, h->raw);
		} else {
			put_str(o, h->name);
			put(o, ": ", 2);
			put_str(o, h->value);
			put(o, "\r\n", 2);
		}
	}
	if (!clen_done)
		put_clen(o, m);
	put(o, "\r\n", 2);
	put_str(o, m->body);
}

size_t sip_msg_size(const struct sip_msg *m)
{
	struct out o = { NULL, 0, 0 };

	write_msg(&o, m);
	return o.len;
}

int sip_msg_serialize(const struct sip_msg *m, char *dst, size_t cap,
		      size_t *outlen)
{
	struct out o = { dst, cap, 0 };

	write_msg(&o, m);
	if (o.len > cap)
		return ENOSPC;
	*outlen = o.len;
	return 0;
}


/* ---- copies: written once and re-pointed, never re-parsed ---- */

/* Slice s moved from inside `from` to the same place inside `to`. */
static struct sip_str moved(struct sip_str s, const char *from, const char *to)
{
	return s.s ? (struct sip_str){ to + (s.s - from), s.len } : s;
}

static struct sip_str put_at(struct out *o, const char *p, size_t n)
{
	struct sip_str r = { o->p + o->len, n };

	put(o, p, n);
	return r;
}

static void copy_start(struct out *o, struct sip_msg *d,
		       const struct sip_msg *m)
{
	const char *line = o->p + o->len;

	if (m->start_edited) {
		d->method_str = put_at(o, m->method_str.s, m->method_str.len);
		put(o, " ", 1);
		d->ruri = put_at(o, m->ruri.s, m->ruri.len);
		put(o, " SIP/2.0", 8);
		d->start_line = (struct sip_str){ line,
			(size_t)(o->p + o->len - line) };
	} else {
		d->start_line = put_at(o, m->start_line.s, m->start_line.len);
		d->method_str = moved(m->method_str, m->start_line.s, line);
		d->ruri = moved(m->ruri, m->start_line.s, line);
		d->reason = moved(m->reason, m->start_line.s, line);
	}
	put(o, "\r\n", 2);
}

static void copy_clen(struct out *o, struct sip_hdr *h,
		      const struct sip_msg *m)
{
	const char *line = o->p + o->len;

	put_clen(o, m);
	h->id = SIP_HDR_CONTENT_LENGTH;
	h->raw = (struct sip_str){ line, (size_t)(o->p + o->len - line) };
	h->name = (struct sip_str){ line, 14 };
	h->value = (struct sip_str){ line + 16, h->raw.len - 18 };
}

static void copy_hdr(struct out *o, struct sip_hdr *h, const struct sip_hdr *s)
{
	const char *line = o->p + o->len;

	h->id = s->id;
	if (s->raw.len) {
		h->raw = put_at(o, s->raw.s, s->raw.len);
		h->name = moved(s->name, s->raw.s, line);
		h->value = moved(s->value, s->raw.s, line);
		return;
	}
	h->name = put_at(o, s->name.s, s->name.len);
	put(o, ": ", 2);
	h->value = put_at(o, s->value.s, s->value.len);
	put(o, "\r\n", 2);
	h->raw = (struct sip_str){ line, (size_t)(o->p + o->len - line) };
}

/* Write m as sip_msg_serialize() does into o (sized for it) and fill d
 * with slices of the written bytes: the parse of the copy, without
 * parsing. */
static void copy_msg(struct out *o, struct sip_msg *d, const struct sip_msg *m)
{
	int clen_done = 0;

	d->is_request = m->is_request;
	d->method = m->method;
	d->status = m->status;
	d->arena = NULL;
	d->inl_used = 0;
	d->start_edited = 0;
	d->via0_memo = d->cseq_memo = d->first_ok = d->ruri_memo = 0;
	memset(d->tag_of, 0, sizeof(d->tag_of));
	d->reason = (struct sip_str){ 0 };
	copy_start(o, d, m);
	d->nhdrs = 0;
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		if (h->id != SIP_HDR_CONTENT_LENGTH)
			copy_hdr(o, &d->hdrs[d->nhdrs++], h);
		else if (!clen_done++)
			copy_clen(o, &d->hdrs[d->nhdrs++], m);
	}
	if (!clen_done && d->nhdrs < SIP_MAX_HDRS - d->hdrs_missing)
		copy_clen(o, &d->hdrs[d->nhdrs++], m);
	else if (!clen_done)
		put_clen(o, m);
	put(o, "\r\n", 2);
	d->body = put_at(o, m->body.s, m->body.len);
	d->buf = (struct sip_str){ o->p, o->len };
}

/* A slice of m that lies inside `in` (a header's value or raw line, or the
 * Request-URI), moved to the same place inside `to` of the copy; the
 * slice as it was when it lies elsewhere (then the memo is dropped). */
static int rebase(struct sip_str *s, struct sip_str in, struct sip_str to)
{
	if (!s->s)
		return 0;
	if (s->s < in.s || s->s + s->len > in.s + in.len) {
		if (s->len)
			return -1;
		s->s = to.s;	/* empty: any place in the copy will do */
		return 0;
	}
	s->s = to.s + (s->s - in.s);
	return 0;
}

static int rebase_in_hdr(struct sip_str *s, const struct sip_hdr *h,
			 const struct sip_hdr *d)
{
	if (h->raw.len && rebase(s, h->raw, d->raw) == 0)
		return 0;
	return rebase(s, h->value, d->value);
}

/* The first header with id in m and in its copy d (same order). */
static int first_pair(const struct sip_msg *m, const struct sip_msg *d,
		      enum sip_hdr_id id, const struct sip_hdr **h,
		      const struct sip_hdr **dh)
{
	int i = sip_msg_hdr_find(m, id, 0), k = sip_msg_hdr_find(d, id, 0);

	if (i < 0 || k < 0)
		return -1;
	*h = &m->hdrs[i];
	*dh = &d->hdrs[k];
	return 0;
}

/* Carry the parse memos (top Via, CSeq, Request-URI) into the copy, their
 * slices moved into the copy's bytes: a copy is not parsed again. */
static void copy_memos(struct sip_msg *d, const struct sip_msg *m)
{
	const struct sip_hdr *h, *dh;

	if (m->via0_memo > 0 && first_pair(m, d, SIP_HDR_VIA, &h, &dh) == 0) {
		struct sip_via v = m->via0;
		struct sip_str *f[] = { &v.proto, &v.version, &v.transport,
			&v.host, &v.params, &v.branch, &v.received, &v.maddr };
		int ok = 1;
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			ok &= rebase_in_hdr(f[i], h, dh) == 0;
		if (ok) {
			d->via0 = v;
			d->via0_memo = 1;
		}
	}
	if (m->cseq_memo > 0 && first_pair(m, d, SIP_HDR_CSEQ, &h, &dh) == 0) {
		struct sip_cseq c = m->cseq;
		if (rebase_in_hdr(&c.method_str, h, dh) == 0) {
			d->cseq = c;
			d->cseq_memo = 1;
		}
	}
	if (m->ruri_memo > 0) {
		struct sip_uri u = m->ruri_u;
		struct sip_str *f[] = { &u.scheme_str, &u.user, &u.password,
			&u.host, &u.params, &u.headers, &u.opaque };
		int ok = 1;
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			ok &= rebase(f[i], m->ruri, d->ruri) == 0;
		if (ok) {
			d->ruri_u = u;
			d->ruri_memo = 1;
		}
	}
}

/* One allocation: the message with room for its own header lines (one
 * more for a Content-Length it lacked) and SIP_DUP_SPARE_HDRS, then its
 * text. A transaction keeps such a copy for up to 64*T1 after its final
 * answer, so the 96-slot array of caller storage (5 KiB) would be most of
 * a busy proxy's memory. */
int sip_msg_dup(const struct sip_msg *m, struct sip_msg **out)
{
	size_t n = sip_msg_size(m);
	size_t cap = m->nhdrs + 1 + SIP_DUP_SPARE_HDRS, head;
	struct sip_msg *d;
	struct out o;

	if (cap > SIP_MAX_HDRS)
		cap = SIP_MAX_HDRS;
	head = offsetof(struct sip_msg, hdrs) + cap * sizeof(struct sip_hdr);
	d = malloc(head + n);
	if (!d)
		return ENOMEM;
	d->hdrs_missing = (unsigned)(SIP_MAX_HDRS - cap);
	o = (struct out){ (char *)d + head, n, 0 };
	copy_msg(&o, d, m);
	copy_memos(d, m);
	*out = d;
	return 0;
}

void sip_msg_free(struct sip_msg *m)
{
	if (!m)
		return;
	sip_msg_release(m);
	free(m);	/* one allocation with its text (sip_msg_dup) */
}
