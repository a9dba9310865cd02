/* lib/bencode.c — bencode decoder (bounded, zero-copy) and writer. See
 * bencode.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bencode.h"

struct ben_r {
	const char *p, *end;
	struct ben_node *nodes;
	unsigned max, used;
};

static int decode_value(struct ben_r *r, unsigned depth, unsigned *idx);

/* Digits up to `stop` as a non-negative number (no leading zeros but "0"). */
static int read_uint(struct ben_r *r, char stop, uint64_t lim, uint64_t *out)
{
	const char *s = r->p;
	uint64_t v = 0;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		unsigned d = (unsigned)(*r->p++ - '0');
		if (v > (lim - d) / 10)
			return ERANGE;
		v = v * 10 + d;
	}
	if (r->p == s || r->p >= r->end || *r->p != stop ||
	    (*s == '0' && r->p - s > 1))
		return EBADMSG;
	r->p++;
	*out = v;
	return 0;
}

static int new_node(struct ben_r *r, enum ben_type t, unsigned *idx)
{
	if (r->used >= r->max)
		return E2BIG;
	*idx = r->used++;
	memset(&r->nodes[*idx], 0, sizeof(r->nodes[*idx]));
	r->nodes[*idx].type = t;
	return 0;
}

static int decode_int(struct ben_r *r, unsigned idx)
{
	int neg = 0, rc;
	uint64_t v;

	r->p++;				/* 'i' */
	if (r->p < r->end && *r->p == '-') {
		neg = 1;
		r->p++;
	}
	rc = read_uint(r, 'e', neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &v);
	if (rc)
		return rc;
	if (neg && v == 0)
		return EBADMSG;		/* "i-0e" */
	r->nodes[idx].i = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int decode_str(struct ben_r *r, unsigned idx)
{
	uint64_t n;
	int rc = read_uint(r, ':', SIZE_MAX, &n);

	if (rc)
		return rc == ERANGE ? EBADMSG : rc;
	if (n > (uint64_t)(r->end - r->p))
		return EBADMSG;
	r->nodes[idx].s = r->p;
	r->nodes[idx].len = (size_t)n;
	r->p += n;
	return 0;
}

static int decode_list(struct ben_r *r, unsigned depth, unsigned idx,
		       int dict)
{
	unsigned prev = 0, k = 0, c;
	int rc;

	if (depth >= BEN_DEPTH)
		return EBADMSG;
	r->p++;				/* 'l' or 'd' */
	while (r->p < r->end && *r->p != 'e') {
		if (dict && k % 2 == 0 && (*r->p < '0' || *r->p > '9'))
			return EBADMSG;	/* keys are strings */
		if ((rc = decode_value(r, depth + 1, &c)) != 0)
			return rc;
		if (prev)
			r->nodes[prev].next = c;
		else
			r->nodes[idx].child = c;
		prev = c;
		k++;
	}
	if (r->p >= r->end || (dict && k % 2))
		return EBADMSG;
	r->p++;
	return 0;
}

static int decode_value(struct ben_r *r, unsigned depth, unsigned *idx)
{
	char c;
	int rc;

	if (r->p >= r->end)
		return EBADMSG;
	c = *r->p;
	if (c == 'i')
		rc = new_node(r, BEN_INT, idx) ? E2BIG : decode_int(r, *idx);
	else if (c >= '0' && c <= '9')
		rc = new_node(r, BEN_STR, idx) ? E2BIG : decode_str(r, *idx);
	else if (c == 'l' || c == 'd')
		rc = new_node(r, c == 'l' ? BEN_LIST : BEN_DICT, idx) ? E2BIG :
		     decode_list(r, depth, *idx, c == 'd');
	else
		rc = EBADMSG;
	return rc;
}

int ben_decode(const char *buf, size_t len, struct ben_node *nodes,
	       unsigned max, unsigned *count)
{
	struct ben_r r = { buf, buf + len, nodes, max, 0 };
	unsigned root;
	int rc;

	if (!buf || !nodes || max == 0)
		return EINVAL;
	if ((rc = decode_value(&r, 0, &root)) != 0)
		return rc;
	if (r.p != r.end)
		return EBADMSG;
	*count = r.used;
	return 0;
}

const struct ben_node *ben_dict_get(const struct ben_node *nodes,
				    unsigned dict, const char *key)
{
	unsigned k;

	if (nodes[dict].type != BEN_DICT)
		return NULL;
	for (k = nodes[dict].child; k; k = nodes[nodes[k].next].next)
		if (ben_str_is(&nodes[k], key))
			return &nodes[nodes[k].next];
	return NULL;
}

int ben_str_is(const struct ben_node *n, const char *s)
{
	size_t l = strlen(s);

	return n && n->type == BEN_STR && n->len == l && memcmp(n->s, s, l) == 0;
}

/* ---- writer ---- */

void ben_w_init(struct ben_w *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

void ben_put_raw(struct ben_w *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		w->err = ENOSPC;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void ben_put_str(struct ben_w *w, const char *s, size_t n)
{
	char hd[24];
	int k = snprintf(hd, sizeof(hd), "%zu:", n);
	size_t at = w->len;

	ben_put_raw(w, hd, (size_t)k);
	ben_put_raw(w, s, n);
	if (w->err)
		w->len = at;
}

void ben_put_cstr(struct ben_w *w, const char *s)
{
	ben_put_str(w, s, strlen(s));
}

void ben_put_int(struct ben_w *w, int64_t v)
{
	char b[32];
	int k = snprintf(b, sizeof(b), "i%" PRId64 "e", v);

	ben_put_raw(w, b, (size_t)k);
}

void ben_open(struct ben_w *w, char kind)
{
	ben_put_raw(w, &kind, 1);
}

void ben_end(struct ben_w *w)
{
	ben_put_raw(w, "e", 1);
}
