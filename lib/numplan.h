/* lib/numplan.h — dpn numbers: complex-building-flat-handset.
 *
 * "100-1101-1201-1" is complex 100, building 1101, flat 1201, handset 1.
 * Handset 0, or no handset part ("100-1101-1201"), means the whole flat.
 * Digit widths are per complex (default 3-4-4-1). Dashes are optional when
 * dialling: without them the widths split the digits, so "10011011201" is a
 * flat and "100110112011" a handset of it. */
#ifndef DPN_NUMPLAN_H
#define DPN_NUMPLAN_H

#include <stddef.h>
#include <stdint.h>

#define NUMPLAN_MAX_WIDTH 9      /* digits per part: fits a uint32_t */
#define NUMPLAN_MAX_LEN   40     /* longest formatted number, with NUL */

struct numplan {
	uint8_t w_complex, w_building, w_flat, w_handset;
};
#define NUMPLAN_DEFAULT ((struct numplan){ 3, 4, 4, 1 })

struct number {
	uint32_t complex, building, flat;
	uint32_t handset;                /* 0: the whole flat */
};

/* Checks a plan: every width 1..NUMPLAN_MAX_WIDTH. 0 or EINVAL. */
int numplan_valid(const struct numplan *np);

/* Parses s[0..len) under plan np into *out. Dashed input needs three or four
 * parts, each of 1..width digits; dashless input needs exactly the digits of
 * a flat or of a handset. Returns 0, or EINVAL for anything else (empty,
 * non-digits, too many digits, bad dashes); *out is set only on success. */
int numplan_parse(const struct numplan *np, const char *s, size_t len,
    struct number *out);

/* Formats n as the canonical dashed number, zero-padded to the widths, the
 * handset part left out for the whole flat. Returns 0, EINVAL when a part
 * does not fit its width, or ENOSPC when buf is too small. */
int numplan_format(const struct numplan *np, const struct number *n,
    char *buf, size_t size);

/* Reads the complex part of s under any plan whose complex width is w: for
 * dashed input the first part, for dashless the first w digits. Lets a
 * caller find the site (and so its plan) before parsing. 0 or EINVAL. */
int numplan_complex(const char *s, size_t len, unsigned w, uint32_t *out);

#endif
