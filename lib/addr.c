/* lib/addr.c — IPv4, CIDR and MAC parsing and arithmetic (see addr.h). */
#include "addr.h"
#include "hex.h"

#include <errno.h>
#include <stdio.h>

int addr4_parse(const char *s, size_t len, uint32_t *out)
{
	uint32_t a = 0;
	size_t i = 0;

	if (s == NULL)
		return EINVAL;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return EINVAL;
			i++;
		}
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (digits == 1 && v == 0) /* "01": ambiguous octal */
				return EINVAL;
			v = v * 10 + (unsigned)(s[i++] - '0');
			if (++digits > 3 || v > 255)
				return EINVAL;
		}
		if (digits == 0)
			return EINVAL;
		a = a << 8 | v;
	}
	if (i != len)
		return EINVAL;
	*out = a;
	return 0;
}

char *addr4_format(uint32_t a, char buf[ADDR4_STRLEN])
{
	snprintf(buf, ADDR4_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
	    (a >> 8) & 255, a & 255);
	return buf;
}

static uint32_t prefix_mask(uint8_t len)
{
	return len == 0 ? 0 : UINT32_MAX << (32 - len);
}

int cidr4_parse(const char *s, size_t len, struct cidr4 *out)
{
	size_t slash = 0;
	unsigned plen = 0;
	uint32_t a;

	if (s == NULL)
		return EINVAL;
	while (slash < len && s[slash] != '/')
		slash++;
	if (slash == len || slash + 1 == len || len - slash - 1 > 2)
		return EINVAL;
	for (size_t i = slash + 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		plen = plen * 10 + (unsigned)(s[i] - '0');
	}
	if (plen > 32 || (len - slash - 1 == 2 && s[slash + 1] == '0'))
		return EINVAL;
	if (addr4_parse(s, slash, &a) != 0 || (a & ~prefix_mask((uint8_t)plen)))
		return EINVAL;
	out->net = a;
	out->len = (uint8_t)plen;
	return 0;
}

char *cidr4_format(const struct cidr4 *c, char buf[CIDR4_STRLEN])
{
	char a[ADDR4_STRLEN];

	snprintf(buf, CIDR4_STRLEN, "%s/%u", addr4_format(c->net, a), c->len);
	return buf;
}

uint64_t cidr4_size(const struct cidr4 *c) { return 1ULL << (32 - c->len); }

uint32_t cidr4_first(const struct cidr4 *c) { return c->net; }

uint32_t cidr4_last(const struct cidr4 *c) { return c->net | ~prefix_mask(c->len); }

int cidr4_contains(const struct cidr4 *c, uint32_t a)
{
	return (a & prefix_mask(c->len)) == c->net;
}

int cidr4_contains_range(const struct cidr4 *c, uint32_t first, uint32_t last)
{
	return first <= last && cidr4_contains(c, first) && cidr4_contains(c, last);
}

int cidr4_overlap(const struct cidr4 *a, const struct cidr4 *b)
{
	return cidr4_first(a) <= cidr4_last(b) && cidr4_first(b) <= cidr4_last(a);
}

int mac_parse(const char *s, size_t len, uint8_t out[6])
{
	uint8_t m[6];

	if (s == NULL || len != 17 || (s[2] != ':' && s[2] != '-'))
		return EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != s[2]))
			return EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	for (int i = 0; i < 6; i++)
		out[i] = m[i];
	return 0;
}

char *mac_format(const uint8_t mac[6], char buf[MAC_STRLEN])
{
	snprintf(buf, MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
	    mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
