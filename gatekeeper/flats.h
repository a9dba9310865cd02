/* gatekeeper/flats.h — the gatekeeper's in-memory table of its site's
 * flats (number, gateway credentials, first private address) and the
 * number translation of DESIGN.md section 2 on it.
 *
 * Filled from PostgreSQL (dpn.gk_flats) at start and kept true by the
 * dpn_gk notifications (gatekeeper/db.c); read on every call without a
 * database round trip. Three indexes: by flat id, by (building, flat)
 * number, by first address. Single-threaded (the loop thread). */
#ifndef DPN_GK_FLATS_H
#define DPN_GK_FLATS_H

#include <netinet/in.h>
#include <stdint.h>

#include "numplan.h"
#include "sip/digest.h"

struct gk_flat {
	int64_t id;
	uint32_t building, flat;
	char number[NUMPLAN_MAX_LEN];	/* canonical, "100-1101-1201" */
	char username[65];		/* the gateway's; empty: none */
	char ha1_md5[33], ha1_sha256[65];	/* empty: none (old gateway) */
	struct in_addr first;		/* first private address; 0: none */
	struct gk_flat_probe {		/* OPTIONS to its gateway (gwprobe.c) */
		uint32_t seq;
		uint8_t waiting, down, saved, fails, oks;
	} probe;
	struct gk_flat *next_id, *next_num, *next_addr;	/* internal */
};

struct gk_flats;

/* A table for site `complex` under plan np. 0, EINVAL, ENOMEM. */
int gk_flats_new(const struct numplan *np, uint32_t complex,
		 struct gk_flats **out);
void gk_flats_free(struct gk_flats *t);
/* Empty the table (a whole-site reload follows). */
void gk_flats_clear(struct gk_flats *t);

/* Add or replace (by id) a copy of f; its building and flat numbers are
 * read from f->number. Returns 0, EINVAL (number not of this site's
 * plan and complex), ENOMEM. */
int gk_flats_put(struct gk_flats *t, const struct gk_flat *f);
/* Remove flat id; 0 or ENOENT. */
int gk_flats_del(struct gk_flats *t, int64_t id);

const struct gk_flat *gk_flats_by_id(const struct gk_flats *t, int64_t id);
const struct gk_flat *gk_flats_by_addr(const struct gk_flats *t,
				       struct in_addr a);
unsigned gk_flats_count(const struct gk_flats *t);
/* Call fn for every flat in part `part` of `parts` (0 <= part < parts):
 * the table split so that a periodic job can visit a slice per tick. fn
 * must not add or remove flats. */
void gk_flats_each(struct gk_flats *t, unsigned part, unsigned parts,
		   void (*fn)(void *arg, struct gk_flat *f), void *arg);
const struct numplan *gk_flats_plan(const struct gk_flats *t);

/* The canonical number of flat f with handset hs (0: the flat's own,
 * copied) into dst (cap bytes). 0, EINVAL or ENOSPC (numplan_format). */
int gk_flats_number(const struct gk_flats *t, const struct gk_flat *f,
		    uint32_t hs, char *dst, size_t cap);

/* Translate a dialled number (a sip: user part or tel: number, escapes
 * already decoded; dashes optional; inside the complex the complex part
 * may be left out) to a flat of this site and the handset part (0: the
 * whole flat). Returns 0, ENOENT (a number of this complex that is no
 * flat), EXDEV (a number of another complex), EINVAL (not a number). */
int gk_flats_lookup(const struct gk_flats *t, const char *s, size_t len,
		    const struct gk_flat **flat, uint32_t *handset);

#endif
