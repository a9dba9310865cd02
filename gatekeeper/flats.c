/* gatekeeper/flats.c — the flat table: three chained hash indexes over one
 * set of entries (see flats.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/flats.h"

#define NBUCKETS 16384	/* per index; chains stay short up to ~100k flats */

struct gk_flats {
	struct numplan np;
	uint32_t complex;
	unsigned n;
	struct gk_flat *by_id[NBUCKETS], *by_num[NBUCKETS], *by_addr[NBUCKETS];
};

static size_t h64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)(k & (NBUCKETS - 1));
}

static size_t h_num(uint32_t building, uint32_t flat)
{
	return h64(((uint64_t)building << 32) | flat);
}

int gk_flats_new(const struct numplan *np, uint32_t complex,
		 struct gk_flats **out)
{
	struct gk_flats *t;

	if (numplan_valid(np))
		return EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->np = *np;
	t->complex = complex;
	*out = t;
	return 0;
}

void gk_flats_clear(struct gk_flats *t)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct gk_flat *f = t->by_id[i], *next;

		for (; f; f = next) {
			next = f->next_id;
			free(f);
		}
	}
	memset(t->by_id, 0, sizeof(t->by_id));
	memset(t->by_num, 0, sizeof(t->by_num));
	memset(t->by_addr, 0, sizeof(t->by_addr));
	t->n = 0;
}

void gk_flats_free(struct gk_flats *t)
{
	if (!t)
		return;
	gk_flats_clear(t);
	free(t);
}

unsigned gk_flats_count(const struct gk_flats *t)
{
	return t->n;
}

void gk_flats_each(struct gk_flats *t, unsigned part, unsigned parts,
		   void (*fn)(void *arg, struct gk_flat *f), void *arg)
{
	for (size_t i = part; parts && i < NBUCKETS; i += parts)
		for (struct gk_flat *f = t->by_id[i]; f; f = f->next_id)
			fn(arg, f);
}

const struct numplan *gk_flats_plan(const struct gk_flats *t)
{
	return &t->np;
}

const struct gk_flat *gk_flats_by_id(const struct gk_flats *t, int64_t id)
{
	const struct gk_flat *f = t->by_id[h64((uint64_t)id)];

	while (f && f->id != id)
		f = f->next_id;
	return f;
}

const struct gk_flat *gk_flats_by_addr(const struct gk_flats *t,
				       struct in_addr a)
{
	const struct gk_flat *f = t->by_addr[h64(a.s_addr)];

	if (a.s_addr == 0)
		return NULL;
	while (f && f->first.s_addr != a.s_addr)
		f = f->next_addr;
	return f;
}

static const struct gk_flat *by_num(const struct gk_flats *t,
				    uint32_t building, uint32_t flat)
{
	const struct gk_flat *f = t->by_num[h_num(building, flat)];

	while (f && (f->building != building || f->flat != flat))
		f = f->next_num;
	return f;
}

/* Unlink f from the three chains. */
static void unlink_flat(struct gk_flats *t, struct gk_flat *f)
{
	struct gk_flat **p;

	for (p = &t->by_id[h64((uint64_t)f->id)]; *p != f; p = &(*p)->next_id)
		;
	*p = f->next_id;
	for (p = &t->by_num[h_num(f->building, f->flat)]; *p != f;
	     p = &(*p)->next_num)
		;
	*p = f->next_num;
	if (f->first.s_addr) {
		for (p = &t->by_addr[h64(f->first.s_addr)]; *p != f;
		     p = &(*p)->next_addr)
			;
		*p = f->next_addr;
	}
}

int gk_flats_del(struct gk_flats *t, int64_t id)
{
	struct gk_flat *f = (struct gk_flat *)gk_flats_by_id(t, id);

	if (!f)
		return ENOENT;
	unlink_flat(t, f);
	free(f);
	t->n--;
	return 0;
}

int gk_flats_put(struct gk_flats *t, const struct gk_flat *src)
{
	struct number n;
	struct gk_flat *f;

	if (numplan_parse(&t->np, src->number, strlen(src->number), &n) ||
	    n.complex != t->complex || n.handset)
		return EINVAL;
	f = malloc(sizeof(*f));
	if (!f)
		return ENOMEM;
	*f = *src;
	f->building = n.building;
	f->flat = n.flat;
	/* canonical (dashed, full widths) whatever the row said: the calls'
	 * Request-URIs and records copy it as it is (gk_flats_number) */
	if (numplan_format(&t->np, &n, f->number, sizeof(f->number))) {
		free(f);
		return EINVAL;
	}
	gk_flats_del(t, f->id);
	f->next_id = t->by_id[h64((uint64_t)f->id)];
	t->by_id[h64((uint64_t)f->id)] = f;
	f->next_num = t->by_num[h_num(f->building, f->flat)];
	t->by_num[h_num(f->building, f->flat)] = f;
	f->next_addr = NULL;
	if (f->first.s_addr) {
		f->next_addr = t->by_addr[h64(f->first.s_addr)];
		t->by_addr[h64(f->first.s_addr)] = f;
	}
	t->n++;
	return 0;
}

int gk_flats_number(const struct gk_flats *t, const struct gk_flat *f,
		    uint32_t hs, char *dst, size_t cap)
{
	struct number n = { .complex = t->complex, .building = f->building,
			    .flat = f->flat, .handset = hs };
	size_t len = strlen(f->number);

	if (!hs && len < cap) {	/* every call to a flat: formatted already */
		memcpy(dst, f->number, len + 1);
		return 0;
	}
	return numplan_format(&t->np, &n, dst, cap);
}

/* s with this complex's number in front ("1101-1201" -> "100-1101-1201",
 * "11011201" -> "10011011201"). 0 or ENOSPC. */
static int with_complex(const struct gk_flats *t, const char *s, size_t len,
			char *out, size_t cap)
{
	int dashed = memchr(s, '-', len) != NULL;
	int w = snprintf(out, cap, "%0*u%s%.*s", (int)t->np.w_complex,
			 t->complex, dashed ? "-" : "", (int)len, s);

	return w < 0 || (size_t)w >= cap ? ENOSPC : 0;
}

int gk_flats_lookup(const struct gk_flats *t, const char *s, size_t len,
		    const struct gk_flat **flat, uint32_t *handset)
{
	char buf[NUMPLAN_MAX_LEN + 16];
	struct number n, m;
	int full = numplan_parse(&t->np, s, len, &n) == 0;

	if (!full || n.complex != t->complex) {
		if (len < NUMPLAN_MAX_LEN &&
		    !with_complex(t, s, len, buf, sizeof(buf)) &&
		    !numplan_parse(&t->np, buf, strlen(buf), &m))
			n = m;
		else if (full)
			return EXDEV;
		else
			return EINVAL;
	}
	*flat = by_num(t, n.building, n.flat);
	if (!*flat)
		return ENOENT;
	*handset = n.handset;
	return 0;
}
