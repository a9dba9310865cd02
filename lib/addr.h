/* lib/addr.h — IPv4 address, CIDR and MAC arithmetic for the broker's
 * callers. Addresses are host-order uint32_t; a range is [first, last]. */
#ifndef DPN_ADDR_H
#define DPN_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR4_STRLEN 16   /* "255.255.255.255" + NUL */
#define CIDR4_STRLEN 20   /* + "/32", room for any uint8_t */
#define MAC_STRLEN   18   /* "aa:bb:cc:dd:ee:ff" + NUL */

struct cidr4 {
	uint32_t net;      /* host bits zero */
	uint8_t len;       /* 0..32 */
};

/* Parses a dotted quad (exactly four decimal parts 0..255, no leading zeros
 * beyond "0", nothing else). 0 or EINVAL; *out set only on success. */
int addr4_parse(const char *s, size_t len, uint32_t *out);

/* Formats a into buf (at least ADDR4_STRLEN bytes); returns buf. */
char *addr4_format(uint32_t a, char buf[ADDR4_STRLEN]);

/* Parses "a.b.c.d/len". EINVAL for bad syntax, or host bits set (a CIDR
 * names a network, not an address in it). */
int cidr4_parse(const char *s, size_t len, struct cidr4 *out);

char *cidr4_format(const struct cidr4 *c, char buf[CIDR4_STRLEN]);

/* Number of addresses in c (2^(32-len)), as uint64_t so /0 fits. */
uint64_t cidr4_size(const struct cidr4 *c);
uint32_t cidr4_first(const struct cidr4 *c);
uint32_t cidr4_last(const struct cidr4 *c);
int cidr4_contains(const struct cidr4 *c, uint32_t a);

/* Whether [first, last] lies wholly inside c; 0 for an empty or reversed
 * range. */
int cidr4_contains_range(const struct cidr4 *c, uint32_t first, uint32_t last);

/* Whether two CIDRs share any address. */
int cidr4_overlap(const struct cidr4 *a, const struct cidr4 *b);

/* Parses a MAC: six hex pairs separated all by ':' or all by '-', any case.
 * 0 or EINVAL. */
int mac_parse(const char *s, size_t len, uint8_t out[6]);

/* Formats as lower-case "aa:bb:cc:dd:ee:ff"; returns buf. */
char *mac_format(const uint8_t mac[6], char buf[MAC_STRLEN]);

#endif
