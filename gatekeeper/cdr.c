/* gatekeeper/cdr.c — call records: every INVITE dialog that concerns a
 * flat of this site (a flat called, or a flat's gateway calling) is
 * tracked by Call-ID in a bounded table on the loop thread, from the
 * INVITE to its end (BYE either side, CANCEL, a failure, timer C, no BYE
 * within call-max-duration, or the media relay's word through
 * gk_cdr_ended), and then written to dpn.calls by a lib/pgbatch.h writer
 * thread in batches. Nothing here waits for the database: a full table
 * or queue is counted in /metrics and the call goes on unrecorded.
 * Hourly, the writer also prunes rows older than call-retention-days. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "pg.h"
#include "pgbatch.h"
#include "sip/hdr.h"

#define CALLID_MAX 128
#define NUM_MAX 64
#define REASON_MAX 128

_Static_assert(sizeof(((struct gk_dial *)0)->num) == NUM_MAX,
	       "a dialled number is copied whole");

enum who { WHO_NONE, WHO_CALLER, WHO_CALLEE, WHO_TIMEOUT, WHO_MEDIA };
static const char *const who_text[] = { NULL, "caller", "callee", "timeout",
					"media" };
static const char *const dir_text[] = { "in", "out", "flat" };

/* A finished call as the writer gets it; prune (no call) when site_id is
 * negative: -site_id is the site, `status` the days kept. */
struct rec {
	int64_t site_id, caller_flat, callee_flat;	/* flats 0: none */
	double start, answer, end;		/* epoch seconds; answer 0: no */
	int status, answered_handset, dir;	/* handset -1: none */
	enum who who;
	char call_id[CALLID_MAX], caller[NUM_MAX], callee[NUM_MAX];
	char answered_by[NUM_MAX], reason[REASON_MAX];
};

/* A call being tracked (loop thread only): its record as it will be
 * written (queued as it stands when the call ends: one copy). */
struct call {
	struct rec r;
	char from_tag[64];
	uint32_t callee_hs;			/* the handset dialled; 0: flat */
	int used;
	const struct sip_fork *fork;		/* until its INVITE ends */
	uint32_t next_id, next_fk;		/* chains: index + 1, 0 ends */
};

struct gk_cdr {
	struct pg_batch *w;
	struct call *calls;
	uint32_t cap, nbuckets, used;
	uint32_t free_head;		/* freed entries (index + 1) */
	uint32_t fresh;			/* entries [0, fresh) were ever used */
	uint32_t *by_id, *by_fork;	/* bucket heads: index + 1 */
	unsigned max_s, keep_days;
	double last_prune, last_expire;
	struct prom_series *untracked, *active, *rec[3], *queued;
	uint64_t seen[3];		/* written, dropped, failed so far */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* Printable ASCII only: what came from the network goes to a text column
 * (UTF-8, which a stray byte would make PostgreSQL refuse) and to a page. */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* Bounded, cleaned copy of a slice into dst (cap bytes, NUL-terminated). */
static void put(char *dst, size_t cap, struct sip_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.s, n);
	dst[n] = '\0';
	clean(dst);
}

/* The byte clean() makes of c. */
static unsigned char cleaned(unsigned char c)
{
	return c < 0x20 || c > 0x7e ? '?' : c;
}

/* FNV-1a of s as clean() would leave it: a slice hashes as its copy. */
static uint32_t hash_mem(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ cleaned((unsigned char)*s++)) * 16777619u;
	return h;
}

static uint32_t hash_str(const char *s)
{
	return hash_mem(s, strlen(s));
}

/* Is key (clean, NUL-terminated) the cleaned copy of slice id? */
static int same_id(const char *key, struct sip_str id)
{
	for (size_t i = 0; i < id.len; i++)
		if ((unsigned char)key[i] != cleaned((unsigned char)id.s[i]))
			return 0;	/* a shorter key stops at its NUL */
	return key[id.len] == '\0';
}

static uint32_t hash_ptr(const void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(v >> 32);
}

/* ---- the table ---- */

static struct call *find_id(struct gk_cdr *c, struct sip_str id)
{
	uint32_t i;

	if (id.len >= CALLID_MAX)
		return NULL;
	for (i = c->by_id[hash_mem(id.s, id.len) & (c->nbuckets - 1)]; i;
	     i = c->calls[i - 1].next_id)
		if (same_id(c->calls[i - 1].r.call_id, id))
			return &c->calls[i - 1];
	return NULL;
}

static struct call *find_fork(struct gk_cdr *c, const struct sip_fork *f)
{
	uint32_t i;

	for (i = c->by_fork[hash_ptr(f) & (c->nbuckets - 1)]; i;
	     i = c->calls[i - 1].next_fk)
		if (c->calls[i - 1].fork == f)
			return &c->calls[i - 1];
	return NULL;
}

/* Remove x from the chain at *head linked through field at offset off. */
static void unlink_from(struct gk_cdr *c, uint32_t *head, size_t off,
			uint32_t x)
{
	uint32_t *p = head;

	while (*p && *p != x)
		p = (uint32_t *)((char *)&c->calls[*p - 1] + off);
	if (*p)
		*p = *(uint32_t *)((char *)&c->calls[x - 1] + off);
}

static void forget_fork(struct gk_cdr *c, struct call *k)
{
	uint32_t x = (uint32_t)(k - c->calls) + 1;

	if (!k->fork)
		return;
	unlink_from(c, &c->by_fork[hash_ptr(k->fork) & (c->nbuckets - 1)],
		    offsetof(struct call, next_fk), x);
	k->fork = NULL;
}

static void call_free(struct gk_cdr *c, struct call *k)
{
	uint32_t x = (uint32_t)(k - c->calls) + 1;

	forget_fork(c, k);
	unlink_from(c, &c->by_id[hash_str(k->r.call_id) & (c->nbuckets - 1)],
		    offsetof(struct call, next_id), x);
	memset(k, 0, sizeof(*k));
	k->next_id = c->free_head;
	c->free_head = x;
	c->used--;
	prom_set(c->active, c->used);
}

/* A fresh entry for call id on fork f, or NULL (table full). */
static struct call *call_new(struct gk_cdr *c, struct sip_str id,
			     const struct sip_fork *f)
{
	uint32_t x = c->free_head, h;
	struct call *k;

	if (!x && c->fresh < c->cap)
		x = ++c->fresh;		/* never used: its page not touched yet */
	else if (x)
		c->free_head = c->calls[x - 1].next_id;
	else
		return NULL;
	k = &c->calls[x - 1];
	memset(k, 0, sizeof(*k));
	put(k->r.call_id, sizeof(k->r.call_id), id);
	k->used = 1;
	k->fork = f;
	k->r.answered_handset = -1;
	h = hash_str(k->r.call_id) & (c->nbuckets - 1);
	k->next_id = c->by_id[h];
	c->by_id[h] = x;
	h = hash_ptr(f) & (c->nbuckets - 1);
	k->next_fk = c->by_fork[h];
	c->by_fork[h] = x;
	c->used++;
	prom_set(c->active, c->used);
	return k;
}

/* ---- the end of a call: a row for the writer ---- */

static void finish(struct gk *g, struct call *k, enum who who)
{
	k->r.site_id = g->site_id;
	k->r.end = now_s();
	if (k->r.end < k->r.start)
		k->r.end = k->r.start;
	k->r.who = who;
	if (pg_batch_push(g->cdr->w, &k->r))
		log_debug("gatekeeper: call %s: record dropped (queue full)",
			  k->r.call_id);
	call_free(g->cdr, k);
}

static const char insert_sql[] =
	"INSERT INTO dpn.calls (site_id, call_id, direction, caller, callee, "
	"caller_flat_id, callee_flat_id, answered_by, answered_handset, "
	"started_at, answered_at, ended_at, ended_by, status, reason) "
	"SELECT $1, $2, $3, $4, $5, (SELECT id FROM dpn.flats WHERE id = $6), "
	"(SELECT id FROM dpn.flats WHERE id = $7), $8, $9, "
	"to_timestamp($10::float8 / 1000), to_timestamp($11::float8 / 1000), "
	"to_timestamp($12::float8 / 1000), $13, $14, $15 "
	"WHERE EXISTS (SELECT 1 FROM dpn.sites WHERE id = $1)";

static const char *opt(const char *s)
{
	return s && s[0] ? s : NULL;
}

/* v >= 0 in decimal into buf (24 bytes): the writer formats eight
 * numbers per record (three 13-digit times), and snprintf's cost was most
 * of a record's; two digits a step, from the end. */
static const char *dec(char *buf, uint64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930"
		"31323334353637383940414243444546474849505152535455565758596061"
		"62636465666768697071727374757677787980818283848586878889909192"
		"93949596979899";
	char *p = buf + 23;

	*p = '\0';
	while (v >= 100) {
		p -= 2;
		memcpy(p, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

/* Number as text into buf (24 bytes), or NULL when it is `none`. */
static const char *num(char *buf, int64_t v, int64_t none)
{
	return v == none || v < 0 ? NULL : dec(buf, (uint64_t)v);
}

/* Epoch seconds as milliseconds text into buf (24 bytes). */
static const char *ms(char *buf, double t)
{
	return dec(buf, (uint64_t)(t * 1000.0 + 0.5));
}

static int run(PGconn *pg, const char *sql, int n, const char *const *v,
	       const char *what)
{
	PGresult *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		 PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		log_warnx("gatekeeper: %s not written: %s", what,
			  PQerrorMessage(pg));
	PQclear(res);
	return ok ? 0 : EINVAL;
}

static int apply_prune(PGconn *pg, const struct rec *r)
{
	char site[24], keep[32];
	const char *v[2] = { site, keep };

	snprintf(site, sizeof(site), "%lld", (long long)-r->site_id);
	snprintf(keep, sizeof(keep), "%d days", r->status);
	return run(pg, "SELECT dpn.calls_prune($1, $2::interval)", 2, v,
		   "call record pruning");
}

/* The 15 column values of record r (numbers formatted into nb, 8 x 24
 * bytes); NULL for SQL NULL. */
static void values(const struct rec *r, char nb[8][24], const char **v)
{
	v[0] = num(nb[0], r->site_id, -1);
	v[1] = r->call_id;
	v[2] = dir_text[r->dir];
	v[3] = r->caller;
	v[4] = r->callee;
	v[5] = num(nb[1], r->caller_flat, 0);
	v[6] = num(nb[2], r->callee_flat, 0);
	v[7] = r->answer > 0 ? r->answered_by : NULL;
	v[8] = num(nb[3], r->answered_handset, -1);
	v[9] = ms(nb[4], r->start);
	v[10] = r->answer > 0 ? ms(nb[5], r->answer) : NULL;
	v[11] = ms(nb[6], r->end);
	v[12] = who_text[r->who];
	v[13] = num(nb[7], r->status, -1);
	v[14] = opt(r->reason);
}

/* One record (a pg_batch_apply_fn). */
static int apply(void *arg, PGconn *pg, const void *item)
{
	const struct rec *r = item;
	char nb[8][24];
	const char *v[15];
	(void)arg;

	if (r->site_id < 0)
		return apply_prune(pg, r);
	values(r, nb, v);
	return run(pg, insert_sql, 15, v, "call record");
}

static const char insert_many_sql[] =
	"INSERT INTO dpn.calls (site_id, call_id, direction, caller, callee, "
	"caller_flat_id, callee_flat_id, answered_by, answered_handset, "
	"started_at, answered_at, ended_at, ended_by, status, reason) "
	"SELECT u.site, u.cid, u.dir, u.caller, u.callee, (SELECT id FROM "
	"dpn.flats WHERE id = u.cf), (SELECT id FROM dpn.flats WHERE id = u.ef), "
	"u.ab, u.ah, to_timestamp(u.st::float8 / 1000), to_timestamp(u.an::float8 "
	"/ 1000), to_timestamp(u.en::float8 / 1000), u.eb, u.status, u.reason "
	"FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], "
	"$6::bigint[], $7::bigint[], $8::text[], $9::int[], $10::bigint[], "
	"$11::bigint[], $12::bigint[], $13::text[], $14::int[], $15::text[]) AS "
	"u(site, cid, dir, caller, callee, cf, ef, ab, ah, st, an, en, eb, status, "
	"reason) WHERE EXISTS (SELECT 1 FROM dpn.sites WHERE id = u.site)";

/* The columns of insert_many_sql that are numbers: written bare. */
static const unsigned char numeric[15] = {
	[0] = 1, [5] = 1, [6] = 1, [8] = 1, [9] = 1, [10] = 1, [11] = 1,
	[13] = 1,
};

/* Every value is at most 2 x 127 escaped bytes, 2 quotes and a comma. */
#define ELEM_MAX 264

/* Many records in one INSERT from 15 arrays (a pg_batch_apply_many_fn):
 * the statement's cost is shared by the batch. Prunes go first, alone. */
static int apply_many(void *arg, PGconn *pg, const void *items, unsigned n)
{
	const struct rec *r = items;
	size_t col = (size_t)n * ELEM_MAX + 3;
	char *buf = malloc(col * 15), *end[15], nb[8][24];
	const char *v[15], *cols[15];
	unsigned i, m = 0;
	int c, rc = 0;
	(void)arg;

	if (!buf)
		return EINVAL;		/* each alone, then */
	for (c = 0; c < 15; c++) {
		end[c] = buf + col * (size_t)c;
		*end[c]++ = '{';
	}
	for (i = 0; i < n; i++) {
		if (r[i].site_id < 0) {	/* a failure is logged; the rest go on */
			apply_prune(pg, &r[i]);
			continue;
		}
		values(&r[i], nb, v);
		for (c = 0; c < 15; c++)
			end[c] = pg_array_put(end[c], v[c], m == 0,
					      numeric[c]);
		m++;
	}
	for (c = 0; c < 15; c++) {
		memcpy(end[c], "}", 2);
		cols[c] = buf + col * (size_t)c;
	}
	if (m)
		rc = run(pg, insert_many_sql, 15, cols, "call records");
	free(buf);
	return rc;
}

/* An unanswered call of fork f ends with `status` upstream. */
static void end_unanswered(struct gk *g, struct sip_fork *f, struct call *k,
			   int status)
{
	enum who who = WHO_CALLEE;

	if (status != k->r.status)
		k->r.reason[0] = '\0';	/* not the response we kept */
	k->r.status = status >= 300 ? status : 500;
	if (!sip_fork_branches(f))
		who = WHO_NONE;		/* the gatekeeper refused it */
	else if (sip_fork_cancelled(f))
		who = WHO_CALLER;
	else if (status == 408 || status == 487)
		who = WHO_TIMEOUT;	/* timer C or no answer at all */
	finish(g, k, who);
}

/* ---- what the INVITE says ---- */

/* The user part of URI u, decoded, into dst; "" when it has none. */
static void uri_user(const struct sip_uri *u, char *dst, size_t cap)
{
	size_t n = 0;

	if (!u->has_user || sip_unescape(u->user, dst, cap - 1, &n) ||
	    memchr(dst, 0, n))
		n = 0;
	dst[n] = '\0';
	clean(dst);
}

/* The caller and From's tag into k: the identity the gatekeeper asserted
 * for a flat's gateway (the flat's number when it refused the call before
 * asserting one), else the user part of From (unverified, from outside;
 * From parsed once for both). */
static void caller_of(const struct sip_msg *m, const struct gk_flat *flat,
		      struct call *k)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, 0);
	struct sip_addr a;
	struct sip_str tag;
	const char *why;

	k->r.caller[0] = '\0';
	if (!flat) {
		if (sip_msg_from(m, &a))
			return;
		uri_user(&a.uri, k->r.caller, sizeof(k->r.caller));
		if (a.has_tag)
			put(k->from_tag, sizeof(k->from_tag), a.tag);
		return;
	}
	if (i >= 0 && sip_addr_parse(m->hdrs[i].value, 0, &a, &why) == 0)
		uri_user(&a.uri, k->r.caller, sizeof(k->r.caller));
	else
		snprintf(k->r.caller, sizeof(k->r.caller), "%s", flat->number);
	if (sip_msg_tag(m, SIP_HDR_FROM, &tag) == 0)
		put(k->from_tag, sizeof(k->from_tag), tag);
}

/* The callee's number into dst (NUM_MAX bytes): canonical when routing
 * found a flat of ours, else as dialled. */
static void callee_of(struct gk *g, const struct sip_msg *m,
		      const struct gk_dial *d, char *dst)
{
	if (d->flat &&
	    gk_flats_number(g->flats, d->flat, d->hs, dst, NUM_MAX) == 0)
		return;
	if (d->num[0])
		memcpy(dst, d->num, NUM_MAX);
	else if (gk_dialled(m, dst, NUM_MAX))	/* longer than routing reads */
		dst[0] = '\0';
	dst[NUM_MAX - 1] = '\0';
	clean(dst);
}

void gk_cdr_invite(struct gk *g, struct sip_fork *f, const struct sip_msg *m,
		   const struct gk_dial *d)
{
	struct sip_str id;
	struct call *k;

	if (!g->cdr || m->method != SIP_INVITE || !sip_fork_request(f) ||
	    (!d->gw && !d->flat) ||	/* no flat of ours: not recorded */
	    sip_msg_callid(m, &id) || find_id(g->cdr, id))
		return;
	if (id.len >= CALLID_MAX || !(k = call_new(g->cdr, id, f))) {
		prom_inc(g->cdr->untracked, 1);
		return;
	}
	k->r.start = now_s();
	k->r.caller_flat = d->gw ? d->gw->id : 0;
	k->r.callee_flat = d->flat ? d->flat->id : 0;
	k->callee_hs = d->flat ? d->hs : 0;
	k->r.dir = !d->gw ? 0 : d->flat ? 2 : 1;
	callee_of(g, m, d, k->r.callee);
	caller_of(m, d->gw, k);
	if (sip_fork_final(f) >= 300)	/* refused already */
		end_unanswered(g, f, k, sip_fork_final(f));
}

/* ---- responses, the INVITE's end, BYE ---- */

/* The Reason header of m, else its reason phrase, into k->r.reason. */
static void take_reason(struct call *k, const struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_REASON, 0);

	if (i >= 0)
		put(k->r.reason, sizeof(k->r.reason), m->hdrs[i].value);
	else if (!m->is_request)
		put(k->r.reason, sizeof(k->r.reason), m->reason);
}

/* Who answered: the handset of the called flat that the 2xx's
 * P-Asserted-Identity names, else the handset dialled (only it rang),
 * else the flat; for a call out, the callee. */
static void answered_by(struct gk *g, struct call *k, const struct sip_msg *m)
{
	const struct gk_flat *flat = gk_flats_by_id(g->flats, k->r.callee_flat);
	const struct gk_flat *said;
	int i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, 0);
	char user[NUM_MAX];
	struct sip_addr a;
	const char *why;
	uint32_t hs = k->callee_hs, h;

	memcpy(k->r.answered_by, k->r.callee, sizeof(k->r.answered_by));
	if (!flat)
		return;
	if (i >= 0 && sip_addr_parse(m->hdrs[i].value, 0, &a, &why) == 0) {
		uri_user(&a.uri, user, sizeof(user));
		if (gk_flats_lookup(g->flats, user, strlen(user), &said, &h) == 0 &&
		    said == flat && h)
			hs = h;
	}
	if (gk_flats_number(g->flats, flat, hs, k->r.answered_by,
			    sizeof(k->r.answered_by)))
		memcpy(k->r.answered_by, k->r.callee, sizeof(k->r.answered_by));
	k->r.answered_handset = hs ? (int)hs : -1;
}

void gk_cdr_response(struct gk *g, struct sip_fork *f, unsigned branch,
		     const struct sip_msg *resp)
{
	struct call *k;
	struct sip_cseq cs;
	(void)branch;

	if (!g->cdr || resp->status < 200 || !(k = find_fork(g->cdr, f)) ||
	    sip_msg_cseq(resp, &cs) || cs.method != SIP_INVITE)
		return;
	if (resp->status >= 300) {
		k->r.status = resp->status;
		take_reason(k, resp);
		return;
	}
	if (k->r.answer > 0)
		return;
	k->r.answer = now_s();
	k->r.status = resp->status;
	k->r.reason[0] = '\0';
	answered_by(g, k, resp);
}

void gk_cdr_final(struct gk *g, struct sip_fork *f, int status)
{
	struct call *k;

	if (g->cdr && status >= 300 && (k = find_fork(g->cdr, f)) &&
	    k->r.answer <= 0)
		end_unanswered(g, f, k, status);
}

void gk_cdr_done(struct gk *g, struct sip_fork *f, int status)
{
	struct call *k;

	if (!g->cdr || !(k = find_fork(g->cdr, f)))
		return;
	if (k->r.answer > 0) {
		forget_fork(g->cdr, k);	/* up until a BYE */
	} else if (status >= 300) {
		end_unanswered(g, f, k, status);
	} else {		/* no final went up: the gatekeeper stops */
		k->r.status = 500;
		snprintf(k->r.reason, sizeof(k->r.reason), "gatekeeper stopped");
		finish(g, k, WHO_TIMEOUT);
	}
}

void gk_cdr_bye(struct gk *g, const struct sip_msg *m)
{
	struct call *k;
	struct sip_str id, tag;
	const char *inside;

	if (!g->cdr || m->method != SIP_BYE || sip_msg_callid(m, &id))
		return;
	/* A BYE from outside for a call out through the public side names
	 * the Call-ID topology hiding gave it there. */
	if (!(k = find_id(g->cdr, id)) &&
	    (inside = gk_topo_private_callid(g, id)) != NULL)
		k = find_id(g->cdr, (struct sip_str){ inside, strlen(inside) });
	if (!k || k->r.answer <= 0)
		return;
	take_reason(k, m);
	if (sip_msg_tag(m, SIP_HDR_FROM, &tag))
		tag.len = 0;
	finish(g, k, tag.len && strlen(k->from_tag) == tag.len &&
	       memcmp(k->from_tag, tag.s, tag.len) == 0 ? WHO_CALLER :
	       WHO_CALLEE);
}

int gk_cdr_ended(struct gk *g, const char *callid, const char *reason)
{
	struct call *k;

	if (!g->cdr || !callid ||
	    !(k = find_id(g->cdr, (struct sip_str){ callid, strlen(callid) })) ||
	    k->r.answer <= 0)
		return ENOENT;
	snprintf(k->r.reason, sizeof(k->r.reason), "%s", reason ? reason : "");
	clean(k->r.reason);
	finish(g, k, WHO_MEDIA);
	return 0;
}

/* ---- the tick: calls without a BYE, pruning, metrics ---- */

static void expire(struct gk *g, double now)
{
	struct gk_cdr *c = g->cdr;

	for (uint32_t i = 0; i < c->fresh && c->used; i++) {
		struct call *k = &c->calls[i];

		if (k->used && k->r.answer > 0 && !k->fork &&
		    now - k->r.answer > c->max_s) {
			snprintf(k->r.reason, sizeof(k->r.reason),
				 "no BYE within call-max-duration");
			finish(g, k, WHO_TIMEOUT);
		}
	}
}

static void prune(struct gk *g, double now)
{
	struct rec r = { .site_id = -g->site_id };

	if (!g->cdr->keep_days || now - g->cdr->last_prune < 3600)
		return;
	g->cdr->last_prune = now;
	r.status = (int)g->cdr->keep_days;
	pg_batch_push(g->cdr->w, &r);
}

static void metrics_update(struct gk_cdr *c)
{
	struct pg_batch_stats st;
	uint64_t v[3];

	pg_batch_stats(c->w, &st);
	v[0] = st.written;
	v[1] = st.dropped;
	v[2] = st.failed;
	for (int i = 0; i < 3; i++) {
		prom_inc(c->rec[i], v[i] - c->seen[i]);
		c->seen[i] = v[i];
	}
	prom_set(c->queued, st.queued);
}

void gk_cdr_tick(struct gk *g)
{
	double now = now_s();

	if (!g->cdr)
		return;
	/* A scan of the whole table: every 10 s is often enough. */
	if (now - g->cdr->last_expire >= 10) {
		g->cdr->last_expire = now;
		expire(g, now);
	}
	prune(g, now);
	metrics_update(g->cdr);
}

/* ---- start and stop ---- */

static int cdr_metrics(struct gk *g, struct gk_cdr *c)
{
	static const char *const res[3] = { "written", "dropped", "failed" };
	const char *labels[2] = { "result", NULL }, *v[2] = { NULL, NULL };
	struct prom *p = g->d->metrics;
	struct prom_family *f;
	int rc = prom_family_add(p, PROM_COUNTER, "dpn_gk_call_records_total",
		"call records: written, dropped (writer queue full), failed "
		"(refused by the database)", labels, NULL, 0, &f);

	for (int i = 0; rc == 0 && i < 3; i++) {
		v[0] = res[i];
		rc = prom_series(f, v, &c->rec[i]);
	}
	if (!rc && !(rc = prom_family_add(p, PROM_GAUGE,
			"dpn_gk_call_records_queued", "call records waiting for "
			"the database", NULL, NULL, 0, &f)))
		rc = prom_series(f, NULL, &c->queued);
	if (!rc && !(rc = prom_family_add(p, PROM_GAUGE, "dpn_gk_calls_active",
			"calls being tracked", NULL, NULL, 0, &f)))
		rc = prom_series(f, NULL, &c->active);
	if (!rc && !(rc = prom_family_add(p, PROM_COUNTER,
			"dpn_gk_calls_untracked_total", "calls of a flat not "
			"recorded: the call table was full", NULL, NULL, 0, &f)))
		rc = prom_series(f, NULL, &c->untracked);
	return rc;
}

static int cdr_alloc(struct gk_cdr *c, unsigned max_calls)
{
	c->cap = max_calls;
	for (c->nbuckets = 1; c->nbuckets < max_calls; c->nbuckets <<= 1)
		;
	c->calls = calloc(c->cap, sizeof(*c->calls));
	c->by_id = calloc(c->nbuckets, sizeof(*c->by_id));
	c->by_fork = calloc(c->nbuckets, sizeof(*c->by_fork));
	if (!c->calls || !c->by_id || !c->by_fork)
		return ENOMEM;
	return 0;
}

int gk_cdr_start(struct gk *g)
{
	struct pg_batch_cfg bc = { .conninfo = g->cfg->db,
		.app = "dpn-gatekeeper calls", .item_size = sizeof(struct rec),
		.max_queue = g->cfg->cdr_queue, .apply = apply,
		.apply_many = apply_many, .linger_ms = 1000 };
	struct gk_cdr *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return ENOMEM;
	c->max_s = g->cfg->call_max_s;
	c->last_prune = now_s() - 3600 + 60;	/* the first, a minute in */
	c->keep_days = g->cfg->call_keep_days;
	rc = cdr_alloc(c, g->cfg->max_calls);
	if (!rc)
		rc = cdr_metrics(g, c);
	if (!rc)
		rc = pg_batch_new(&bc, &c->w);
	if (rc) {
		free(c->calls);
		free(c->by_id);
		free(c->by_fork);
		free(c);
		return rc;
	}
	g->cdr = c;
	return 0;
}

void gk_cdr_stop(struct gk *g)
{
	struct gk_cdr *c = g->cdr;

	if (!c)
		return;
	/* Calls still up are written as they stand (ended now, by timeout). */
	for (uint32_t i = 0; i < c->fresh && c->used; i++)
		if (c->calls[i].used && c->calls[i].r.answer > 0) {
			snprintf(c->calls[i].r.reason, REASON_MAX,
				 "gatekeeper stopped");
			finish(g, &c->calls[i], WHO_TIMEOUT);
		}
	pg_batch_free(c->w);
	free(c->calls);
	free(c->by_id);
	free(c->by_fork);
	free(c);
	g->cdr = NULL;
}
