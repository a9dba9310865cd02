/* lib/numplan.c — parse and format complex-building-flat-handset numbers. */
#include "numplan.h"

#include <errno.h>
#include <stdio.h>

int numplan_valid(const struct numplan *np)
{
	const uint8_t w[4] = { np->w_complex, np->w_building, np->w_flat,
		np->w_handset };

	for (int i = 0; i < 4; i++)
		if (w[i] < 1 || w[i] > NUMPLAN_MAX_WIDTH)
			return EINVAL;
	return 0;
}

/* Reads 1..maxw digits of s[0..len) as a number; EINVAL for anything else. */
static int digits_value(const char *s, size_t len, unsigned maxw, uint32_t *out)
{
	uint32_t v = 0;

	if (len == 0 || len > maxw)
		return EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Splits dashed input into at most 4 parts; returns the count, or -1 for an
 * empty part or too many. */
static int split_dashes(const char *s, size_t len, const char *part[4],
    size_t plen[4])
{
	int n = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '-')
			continue;
		if (n == 4 || i == start)
			return -1;
		part[n] = s + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static int parse_dashed(const struct numplan *np, const char *s, size_t len,
    struct number *n)
{
	const char *part[4];
	size_t plen[4];
	const unsigned w[4] = { np->w_complex, np->w_building, np->w_flat,
		np->w_handset };
	uint32_t *v[4] = { &n->complex, &n->building, &n->flat, &n->handset };
	int parts = split_dashes(s, len, part, plen);

	if (parts < 3)
		return EINVAL;
	n->handset = 0;
	for (int i = 0; i < parts; i++)
		if (digits_value(part[i], plen[i], w[i], v[i]) != 0)
			return EINVAL;
	return 0;
}

static int parse_plain(const struct numplan *np, const char *s, size_t len,
    struct number *n)
{
	size_t flat_len = (size_t)np->w_complex + np->w_building + np->w_flat;
	size_t off = 0;

	if (len != flat_len && len != flat_len + np->w_handset)
		return EINVAL;
	n->handset = 0;
	if (digits_value(s, np->w_complex, np->w_complex, &n->complex) ||
	    digits_value(s + (off += np->w_complex), np->w_building,
		np->w_building, &n->building) ||
	    digits_value(s + (off += np->w_building), np->w_flat, np->w_flat,
		&n->flat))
		return EINVAL;
	if (len > flat_len &&
	    digits_value(s + flat_len, np->w_handset, np->w_handset, &n->handset))
		return EINVAL;
	return 0;
}

int numplan_parse(const struct numplan *np, const char *s, size_t len,
    struct number *out)
{
	struct number n;
	int dashed = 0;

	if (numplan_valid(np) != 0 || s == NULL || len == 0)
		return EINVAL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '-')
			dashed = 1;
	if ((dashed ? parse_dashed(np, s, len, &n) : parse_plain(np, s, len, &n)))
		return EINVAL;
	*out = n;
	return 0;
}

/* 10^w, the first value that does not fit w digits. */
static uint64_t pow10u(unsigned w)
{
	uint64_t p = 1;

	while (w--)
		p *= 10;
	return p;
}

/* v as exactly w decimal digits (v < 10^w), zero-padded; the end. */
static char *put_padded(char *p, uint32_t v, unsigned w)
{
	for (unsigned i = w; i-- > 0; v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + w;
}

/* Written by hand: the gatekeeper formats a number or two for every call,
 * and snprintf with four padded fields cost it 1,600 instructions each. */
int numplan_format(const struct numplan *np, const struct number *n,
    char *buf, size_t size)
{
	size_t need;
	char *p;

	if (numplan_valid(np) != 0 || n->complex >= pow10u(np->w_complex) ||
	    n->building >= pow10u(np->w_building) ||
	    n->flat >= pow10u(np->w_flat) ||
	    n->handset >= pow10u(np->w_handset))
		return EINVAL;
	need = (size_t)np->w_complex + np->w_building + np->w_flat + 2 +
	    (n->handset ? 1u + np->w_handset : 0u);
	if (need >= size)
		return ENOSPC;
	p = put_padded(buf, n->complex, np->w_complex);
	*p++ = '-';
	p = put_padded(p, n->building, np->w_building);
	*p++ = '-';
	p = put_padded(p, n->flat, np->w_flat);
	if (n->handset) {
		*p++ = '-';
		p = put_padded(p, n->handset, np->w_handset);
	}
	*p = '\0';
	return 0;
}

int numplan_complex(const char *s, size_t len, unsigned w, uint32_t *out)
{
	size_t end = 0;

	if (s == NULL || w < 1 || w > NUMPLAN_MAX_WIDTH)
		return EINVAL;
	while (end < len && s[end] != '-')
		end++;
	if (end == len) /* dashless: the first w digits */
		end = len < w ? len + 1 : w;
	if (end > len)
		return EINVAL;
	return digits_value(s, end, w, out);
}
