/* lib/sip/wbuf.h — internal to lib/sip: append to a fixed caller buffer,
 * remembering overflow instead of failing at each call, so that writers
 * check once at the end (ENOSPC). */
#ifndef DPN_SIP_WBUF_H
#define DPN_SIP_WBUF_H

#include <errno.h>
#include <string.h>

struct wbuf {
	char *p;
	size_t cap, len;
	int full;
};

static inline void wbuf_put(struct wbuf *b, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (b->full || b->len + n > b->cap) {
		b->full = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* 0 and the length written, or ENOSPC. */
static inline int wbuf_finish(const struct wbuf *b, size_t *len)
{
	if (b->full)
		return ENOSPC;
	*len = b->len;
	return 0;
}

/* Decimal v (no sign) at dst, no printf (every message writes some);
 * room for 10 digits. Returns the end. */
static inline char *sip_put_dec(char *dst, unsigned v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*dst++ = tmp[--n];
	return dst;
}

#endif
