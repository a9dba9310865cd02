/* gatekeeper/topo.c — topology hiding on the public side, as Kamailio's
 * topos module does it: no private address leaves by the public side.
 *
 * The proxy core hides Vias and Record-Routes of requests leaving by the
 * public side and puts them back into their responses (lib/sip/core.h).
 * What is left is here: a table of dialogs that cross to the public side,
 * by Call-ID and by a random 64-bit key. Towards the public side the
 * private party's Contact becomes <sip:gk-KEY@PUBLIC:PORT> and the
 * Record-Routes of the private side (ours included) are removed from
 * responses; a request from outside addressed to gk-KEY gets the private
 * Contact back as its Request-URI and the private route set as Route.
 * A dialog begun on the private side whose Call-ID has a host part is
 * known outside by the Call-ID gk-KEY@PUBLIC instead, and an address as
 * host of From, To or P-Asserted-Identity becomes ours. The table is
 * bounded (max-dialogs: a new dialog beyond it is refused 503), an
 * entry lives until dialog-idle passes without a request (until an
 * INVITE of it is answered 2xx: ring-timeout + 32 s), or 32 s after a
 * BYE or a failed INVITE. Answered dialogs are handed to a store
 * (topostore.c: PostgreSQL, behind the hot path) from the one-second
 * sweep, and put back on start, so a restart keeps the calls up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>

#include "gatekeeper/gk.h"
#include "sip/hdr.h"
#include "sip/proxy.h"

#define LINGER 32	/* seconds a dialog outlives its BYE (64*T1) */
#define PREFIX "gk-"

struct dlg {
	struct dlg *next_key, *next_cid;
	uint64_t key, cid_hash, expires;
	int confirmed;		/* an INVITE of it was answered 2xx */
	int masked;		/* its Call-ID (with a private host part) is
				   gk-KEY@PUBLIC on the public side */
	int ending;		/* a BYE or a failed INVITE was seen last */
	int dirty;		/* changed since the store last had it */
	int saved;		/* the store holds it */
	uint64_t saved_exp;	/* with this expiry */
	char *callid;
	char *contact;		/* the private party's Contact URI */
	char *route;		/* the private route set (Route value) */
	char *ours;		/* our Contact for it, made once */
};

struct gk_topo {
	struct dlg **by_key, **by_cid;
	unsigned mask, n, max, ttl, pending;
	gk_topo_save_fn save;		/* the store; NULL: none */
	void *save_arg;
	char rr_pub[96], rr_priv[96];	/* our Record-Routes as the core
					   writes them (made once) */
};

int gk_topo_new(unsigned max, unsigned ttl_s, unsigned pending_s,
		struct gk_topo **out)
{
	struct gk_topo *t = calloc(1, sizeof(*t));
	unsigned nb = 64;

	while (nb < max && nb < (1u << 22))
		nb <<= 1;
	if (t) {
		t->by_key = calloc(nb, sizeof(*t->by_key));
		t->by_cid = calloc(nb, sizeof(*t->by_cid));
	}
	if (!t || !t->by_key || !t->by_cid) {
		gk_topo_free(t);
		return ENOMEM;
	}
	t->mask = nb - 1;
	t->max = max;
	t->ttl = ttl_s;
	t->pending = pending_s;
	*out = t;
	return 0;
}

static void dlg_free(struct dlg *d)
{
	free(d->callid);
	free(d->contact);
	free(d->route);
	free(d->ours);
	free(d);
}

void gk_topo_free(struct gk_topo *t)
{
	if (!t)
		return;
	for (unsigned i = 0; t->by_key && i <= t->mask; i++)
		while (t->by_key[i]) {
			struct dlg *d = t->by_key[i];
			t->by_key[i] = d->next_key;
			dlg_free(d);
		}
	free(t->by_key);
	free(t->by_cid);
	free(t);
}

unsigned gk_topo_count(const struct gk_topo *t)
{
	return t ? t->n : 0;
}

static void unlink_cid(struct gk_topo *t, struct dlg *d)
{
	struct dlg **pp = &t->by_cid[d->cid_hash & t->mask];

	while (*pp && *pp != d)
		pp = &(*pp)->next_cid;
	if (*pp)
		*pp = d->next_cid;
}

/* d as the store takes it. */
static void store(struct gk_topo *t, struct dlg *d, int del)
{
	struct gk_topo_row r = { .key = d->key, .expires = d->expires,
		.masked = d->masked, .callid = d->callid,
		.contact = d->contact, .route = d->route ? d->route : "" };

	t->save(t->save_arg, &r, del);
	d->saved = !del;
	d->saved_exp = d->expires;
	d->dirty = 0;
}

/* What the store is to learn of d, still held: an answered dialog (new,
 * changed, or kept alive well past the expiry it has) saved, an ending
 * one deleted. */
static void keep_stored(struct gk_topo *t, struct dlg *d)
{
	if (d->ending) {
		if (d->saved)
			store(t, d, 1);
	} else if (d->confirmed && d->contact &&
		   (d->dirty || !d->saved ||
		    d->expires > d->saved_exp + t->ttl / 4)) {
		store(t, d, 0);
	}
}

void gk_topo_expire(struct gk_topo *t, uint64_t now)
{
	for (unsigned i = 0; i <= t->mask; i++) {
		struct dlg **pp = &t->by_key[i];
		while (*pp) {
			struct dlg *d = *pp;
			if (d->expires > now) {
				if (t->save)
					keep_stored(t, d);
				pp = &d->next_key;
				continue;
			}
			if (t->save && d->saved)
				store(t, d, 1);
			*pp = d->next_key;
			unlink_cid(t, d);
			dlg_free(d);
			t->n--;
		}
	}
}

void gk_topo_set_store(struct gk_topo *t, gk_topo_save_fn fn, void *arg)
{
	t->save = fn;
	t->save_arg = arg;
}

static struct dlg *find_cid(const struct gk_topo *t, struct sip_str cid)
{
	uint64_t h = sip_hash(SIP_HASH_INIT, cid.s, cid.len);

	for (struct dlg *d = t->by_cid[h & t->mask]; d; d = d->next_cid)
		if (d->cid_hash == h && strlen(d->callid) == cid.len &&
		    memcmp(d->callid, cid.s, cid.len) == 0)
			return d;
	return NULL;
}

static struct dlg *find_key(const struct gk_topo *t, uint64_t key)
{
	for (struct dlg *d = t->by_key[key & t->mask]; d; d = d->next_key)
		if (d->key == key)
			return d;
	return NULL;
}

static int new_key(const struct gk_topo *t, uint64_t *key)
{
	for (int i = 0; i < 4; i++) {
		if (getrandom(key, sizeof(*key), 0) != sizeof(*key))
			return EIO;
		if (*key && !find_key(t, *key))
			return 0;
	}
	return EIO;
}

/* n bytes of s (a slice, not NUL-ended) as a string, or NULL. */
static char *dup_n(const char *s, size_t n)
{
	char *v = malloc(n + 1);

	if (v) {
		memcpy(v, s, n);
		v[n] = '\0';
	}
	return v;
}

/* Put d (its key and Call-ID set) into both indexes. */
static void link_dlg(struct gk_topo *t, struct dlg *d)
{
	d->cid_hash = sip_hash(SIP_HASH_INIT, d->callid, strlen(d->callid));
	d->next_key = t->by_key[d->key & t->mask];
	t->by_key[d->key & t->mask] = d;
	d->next_cid = t->by_cid[d->cid_hash & t->mask];
	t->by_cid[d->cid_hash & t->mask] = d;
	t->n++;
}

/* The dialog of Call-ID cid, made when absent. 0, ENOSPC, ENOMEM, EIO. */
static int dlg_get(struct gk_topo *t, struct sip_str cid, struct dlg **out)
{
	struct dlg *d = find_cid(t, cid);
	int rc;

	if (d) {
		*out = d;
		return 0;
	}
	if (t->n >= t->max)
		return ENOSPC;
	if (!(d = calloc(1, sizeof(*d))) ||
	    !(d->callid = dup_n(cid.s, cid.len))) {
		free(d);
		return ENOMEM;
	}
	if ((rc = new_key(t, &d->key)) != 0) {
		dlg_free(d);
		return rc;
	}
	link_dlg(t, d);
	*out = d;
	return 0;
}

static int set_str(char **dst, const char *s, size_t n)
{
	char *v = dup_n(s, n);

	if (!v)
		return ENOMEM;
	free(*dst);
	*dst = v;
	return 0;
}

/* *dst (a string of d) set to s when it differs: d is then dirty (the
 * store is to learn it). 0 or ENOMEM. */
static int set_changed(struct dlg *d, char **dst, const char *s, size_t n)
{
	if (*dst && strlen(*dst) == n && memcmp(*dst, s, n) == 0)
		return 0;
	d->dirty = 1;
	return set_str(dst, s, n);
}

int gk_topo_restore(struct gk_topo *t, const struct gk_topo_row *r)
{
	struct sip_str cid = { r->callid, strlen(r->callid) };
	struct dlg *d;

	if (!r->key || find_key(t, r->key) || find_cid(t, cid))
		return EEXIST;
	if (t->n >= t->max)
		return ENOSPC;
	if (!(d = calloc(1, sizeof(*d))) ||
	    !(d->callid = dup_n(cid.s, cid.len)) ||
	    set_str(&d->contact, r->contact, strlen(r->contact)) ||
	    (r->route[0] && set_str(&d->route, r->route, strlen(r->route)))) {
		if (d)
			dlg_free(d);
		return ENOMEM;
	}
	d->key = r->key;
	d->masked = r->masked;
	d->confirmed = d->saved = 1;
	d->expires = d->saved_exp = r->expires;
	link_dlg(t, d);
	return 0;
}

/* A request or answer of d was seen: keep it (dialog-idle once an
 * INVITE of it was answered 2xx; until then only as long as an INVITE
 * may ring, so a call that fails where we do not see it, a timeout or an
 * answer of our own, does not hold its entry), or let it go soon. */
static void touch(const struct gk_topo *t, struct dlg *d, int ending)
{
	d->ending = ending;	/* a new INVITE after a failed one revives */
	d->expires = gk_now() + (ending ? LINGER :
				 d->confirmed ? t->ttl : t->pending);
}

static void delete_all(struct sip_msg *m, enum sip_hdr_id id)
{
	int i;

	while ((i = sip_msg_hdr_find(m, id, 0)) >= 0)
		sip_msg_hdr_del(m, (unsigned)i);
}

/* m's Contact (the private party's) kept in d and replaced by ours with
 * d's key; further Contacts removed. 0 or an errno. */
static int hide_contact(struct gk *g, struct sip_msg *m, struct dlg *d)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CONTACT, 0), rc, n;
	struct sip_str v;
	struct sip_addr a;
	size_t pos = 0;
	char ours[160];

	if (i < 0)
		return 0;
	if (sip_hdr_next_value(m->hdrs[i].value, &pos, &v) != 1 ||
	    sip_addr_parse(v, SIP_ADDR_ALLOW_STAR, &a, NULL) || a.star) {
		delete_all(m, SIP_HDR_CONTACT);
		return 0;
	}
	if ((rc = set_changed(d, &d->contact, a.uri_str.s, a.uri_str.len)))
		return rc;
	if (!d->ours) {
		n = snprintf(ours, sizeof(ours), "<sip:" PREFIX "%016llx@%s:%u%s>",
			     (unsigned long long)d->key, g->host, g->port,
			     g->proto == SIP_PROTO_TCP ? ";transport=tcp" : "");
		if ((rc = set_str(&d->ours, ours, (size_t)n)) != 0)
			return rc;
	}
	delete_all(m, SIP_HDR_CONTACT);
	return sip_msg_hdr_insert(m, (unsigned)i, SIP_HDR_CONTACT, NULL, d->ours,
				  strlen(d->ours));
}

/* The Record-Route values of m, in order, joined into buf (", "). */
static int rr_values(const struct sip_msg *m, struct sip_str *vals,
		     unsigned cap, unsigned *n)
{
	*n = 0;
	for (int i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, 0); i >= 0;
	     i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, (unsigned)i + 1)) {
		struct sip_str v;
		size_t pos = 0;
		int r;
		while ((r = sip_hdr_next_value(m->hdrs[i].value, &pos, &v)) == 1) {
			if (*n >= cap)
				return E2BIG;
			vals[(*n)++] = v;
		}
		if (r < 0)
			return EBADMSG;
	}
	return 0;
}

static int is_host(struct sip_str v, const char *host, unsigned port)
{
	struct sip_addr a;

	return sip_addr_parse(v, 0, &a, NULL) == 0 &&
	       sip_str_eq(a.uri.host, host) &&
	       (a.uri.port ? a.uri.port : 5060) == port;
}

static int join(const struct sip_str *v, unsigned from, unsigned to, int rev,
		char *buf, size_t cap, size_t *len)
{
	return sip_values_join(v + from, to - from, rev, buf, cap, len);
}

/* A response towards the public side keeps the Record-Routes from our
 * public one down; the private ones above our private one are d's route
 * set (reversed: the order requests from outside take them). */
/* Is Record-Route value v ours: as the core writes it (no parse), or
 * naming host:port? */
static int is_ours(struct sip_str v, const char *rr, const char *host,
		   unsigned port)
{
	return sip_str_eq(v, rr) || is_host(v, host, port);
}

static void self_rrs(struct gk *g)
{
	struct gk_topo *t = g->topo;

	if (t->rr_pub[0])
		return;
	snprintf(t->rr_pub, sizeof(t->rr_pub), "<sip:%s:%u;lr>", g->host,
		 g->port);
	snprintf(t->rr_priv, sizeof(t->rr_priv), "<sip:%s:%u;lr>", g->phost,
		 g->pport);
}

static int trim_rr(struct gk *g, struct sip_msg *m, struct dlg *d)
{
	struct sip_str v[32];
	unsigned n, pub = 0, priv = 0, k;
	char buf[2048];
	size_t len;
	int rc = rr_values(m, v, 32, &n), at;

	if (rc || n == 0)
		return rc;
	self_rrs(g);
	for (pub = 0; pub < n && !is_ours(v[pub], g->topo->rr_pub, g->host,
					  g->port); pub++)
		;
	for (priv = 0; priv < pub && !is_ours(v[priv], g->topo->rr_priv,
					      g->phost, g->pport); priv++)
		;
	if (pub == 0)
		return 0;	/* nothing of the private side above ours */
	if (d && priv < pub && priv > 0 &&
	    (join(v, 0, priv, 1, buf, sizeof(buf), &len) ||
	     set_changed(d, &d->route, buf, len)))
		return ENOMEM;
	k = pub < n ? pub : n;
	if ((rc = join(v, k, n, 0, buf, sizeof(buf), &len)) != 0)
		return rc;
	at = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, 0);
	delete_all(m, SIP_HDR_RECORD_ROUTE);
	return len ? sip_msg_hdr_insert(m, (unsigned)at, SIP_HDR_RECORD_ROUTE,
					NULL, buf, len) : 0;
}

int gk_topo_inbound(struct gk *g, const struct sip_msg *m)
{
	struct sip_str cid;
	struct dlg *d;
	int rc;

	if (sip_msg_callid(m, &cid))
		return EINVAL;
	rc = dlg_get(g->topo, cid, &d);
	if (rc == ENOSPC)
		prom_inc(g->m.topo_full, 1);
	if (rc == 0)
		touch(g->topo, d, 0);
	return rc;
}

/* The Record-Routes of a new INVITE from the private side that are not
 * ours: the route set requests from outside take (in order, as a UAS
 * reads them). The core puts our public Record-Route on top of a request
 * leaving by the public side: kept, a request from outside would be
 * routed back to us and refused. */
static int keep_request_rr(struct gk *g, struct sip_msg *m, struct dlg *d)
{
	struct sip_str v[32];
	unsigned n, k = 0;
	char buf[2048];
	size_t len;
	int rc = rr_values(m, v, 32, &n);

	if (rc || n == 0)
		return rc;
	self_rrs(g);
	for (unsigned i = 0; i < n; i++)
		if (!is_ours(v[i], g->topo->rr_pub, g->host, g->port) &&
		    !is_ours(v[i], g->topo->rr_priv, g->phost, g->pport))
			v[k++] = v[i];
	if (k == 0)
		return 0;
	if ((rc = join(v, 0, k, 0, buf, sizeof(buf), &len)) != 0)
		return rc;
	return set_str(&d->route, buf, len);
}

static int is_ipv4(struct sip_str h)
{
	char b[INET_ADDRSTRLEN];
	struct in_addr a;

	if (h.len == 0 || h.len >= sizeof(b))
		return 0;
	memcpy(b, h.s, h.len);
	b[h.len] = '\0';
	return inet_pton(AF_INET, b, &a) == 1;
}

/* Does v name "@host" followed by a port, '>', ';' or its end? (Most
 * identities going out already do: no parse for them.) */
static int names_host(struct sip_str v, const char *host)
{
	size_t hl = strlen(host);

	for (const char *p = v.s, *e = v.s + v.len;
	     (p = memchr(p, '@', (size_t)(e - p))) != NULL; p++) {
		const char *h = p + 1;
		if ((size_t)(e - h) >= hl && memcmp(h, host, hl) == 0 &&
		    (h + hl == e || memchr(":>;", h[hl], 3)))
			return 1;
	}
	return 0;
}

/* The From or To (header index i; -1: missing) of a message leaving by
 * the public side: an address literal as host becomes our public address
 * (user, display and tag kept; URI parameters dropped). The To of a
 * request names the callee as the private party wrote it (its gateway's
 * address, say), so it is treated the same. 0 or an errno. */
static int hide_identity_at(struct gk *g, struct sip_msg *m, int i)
{
	struct sip_addr a;
	char v[512];
	int n;

	if (i >= 0 && names_host(m->hdrs[i].value, g->host))
		return 0;
	if (i < 0 || sip_addr_parse(m->hdrs[i].value, 0, &a, NULL))
		return EBADMSG;
	if (!is_ipv4(a.uri.host) || sip_str_eq(a.uri.host, g->host))
		return 0;
	n = snprintf(v, sizeof(v), "%.*s%s<sip:%.*s%s%s>%s%.*s",
		     (int)a.display.len, a.display.s, a.display.len ? " " : "",
		     (int)a.uri.user.len, a.uri.user.s, a.uri.has_user ? "@" : "",
		     g->host, a.params.len ? ";" : "", (int)a.params.len,
		     a.params.s);
	if (n < 0 || (size_t)n >= sizeof(v))
		return ENOSPC;
	return sip_msg_hdr_set(m, (unsigned)i, v, (size_t)n);
}

static int hide_identity(struct gk *g, struct sip_msg *m, enum sip_hdr_id id)
{
	return hide_identity_at(g, m, sip_msg_hdr_find(m, id, 0));
}

/* Every P-Asserted-Identity of a message leaving by the public side the
 * same way: a gateway asserts who answered as <sip:HANDSET@FIRST-ADDRESS>.
 * One that does not parse is removed (a tel: URI names no host). 0 or an
 * errno. */
static int hide_asserted(struct gk *g, struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, 0), rc = 0;

	while (i >= 0 && rc == 0) {
		rc = hide_identity_at(g, m, i);
		if (rc == EBADMSG && (rc = sip_msg_hdr_del(m, (unsigned)i)) == 0) {
			i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, (unsigned)i);
			continue;
		}
		i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, (unsigned)i + 1);
	}
	return rc;
}

/* m's Call-ID set to v. */
static int set_callid(struct sip_msg *m, const char *v, size_t n)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CALL_ID, 0);

	return i < 0 ? EBADMSG : sip_msg_hdr_set(m, (unsigned)i, v, n);
}

static size_t public_callid(const struct gk *g, const struct dlg *d,
			    char *buf, size_t cap)
{
	int n = snprintf(buf, cap, PREFIX "%016llx@%s",
			 (unsigned long long)d->key, g->host);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* A message of d leaving by the public side: its public Call-ID. */
static int mask_callid(struct gk *g, struct sip_msg *m, const struct dlg *d)
{
	char v[128];
	size_t n;

	if (!d->masked)
		return 0;
	n = public_callid(g, d, v, sizeof(v));
	return n ? set_callid(m, v, n) : ENOSPC;
}

static uint64_t hex_key(struct sip_str s)
{
	uint64_t key = 0;

	if (s.len != 16)
		return 0;
	for (size_t i = 0; i < 16; i++) {
		char c = s.s[i];
		int x = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (x < 0)
			return 0;
		key = key << 4 | (uint64_t)x;
	}
	return key;
}

/* The dialog whose public Call-ID (one of ours) cid is, or NULL. */
static struct dlg *masked_dlg(struct gk *g, struct sip_str cid)
{
	size_t pl = sizeof(PREFIX) - 1;
	struct dlg *d;

	if (cid.len < pl + 17 || memcmp(cid.s, PREFIX, pl) ||
	    cid.s[pl + 16] != '@' ||
	    !sip_str_eq((struct sip_str){ cid.s + pl + 17,
					  cid.len - pl - 17 }, g->host))
		return NULL;
	d = find_key(g->topo, hex_key((struct sip_str){ cid.s + pl, 16 }));
	return d && d->masked ? d : NULL;
}

/* A message leaving by the private side with a public Call-ID of ours:
 * the private one back. */
static int unmask_callid(struct gk *g, struct sip_msg *m)
{
	struct sip_str cid;
	struct dlg *d;

	if (sip_msg_callid(m, &cid) || !(d = masked_dlg(g, cid)))
		return 0;
	return set_callid(m, d->callid, strlen(d->callid));
}

const char *gk_topo_private_callid(struct gk *g, struct sip_str cid)
{
	struct dlg *d = g->topo ? masked_dlg(g, cid) : NULL;

	return d ? d->callid : NULL;
}

/* A request leaving by the public side: its Contact replaced by ours
 * with the dialog's key (a dialog made when needed; a new one begun here
 * keeps the request's Record-Routes as its private route set and, when
 * its Call-ID has a host part, gets a public Call-ID). 0, ENOSPC, ENOMEM. */
static int request_out(struct gk *g, struct sip_msg *m)
{
	struct sip_str cid, tag;
	struct dlg *d;
	int rc, fresh;

	if (sip_msg_callid(m, &cid))
		return EINVAL;
	fresh = !find_cid(g->topo, cid);
	if ((rc = dlg_get(g->topo, cid, &d)) != 0) {
		if (rc == ENOSPC)
			prom_inc(g->m.topo_full, 1);
		return rc;
	}
	touch(g->topo, d, m->method == SIP_BYE);
	/* Only a request that begins a dialog tells whose Call-ID it is: one
	 * inside a dialog we do not know (begun outside, before a restart)
	 * keeps the Call-ID the other end knows. */
	fresh = fresh && (sip_msg_tag(m, SIP_HDR_TO, &tag) || !tag.len);
	if (fresh)
		d->masked = memchr(cid.s, '@', cid.len) != NULL;
	if (fresh && m->method == SIP_INVITE &&
	    (rc = keep_request_rr(g, m, d)) != 0)
		return rc;
	if ((rc = hide_contact(g, m, d)) != 0 ||
	    (rc = hide_identity(g, m, SIP_HDR_FROM)) != 0 ||
	    (rc = hide_identity(g, m, SIP_HDR_TO)) != 0)
		return rc;
	return mask_callid(g, m, d);
}

int gk_topo_branch_out(void *arg, struct sip_fork *f, struct sip_msg *m,
		       const struct sip_peer *to)
{
	struct gk *g = arg;
	(void)f;

	if (!g->topo)
		return 0;
	return to->local == 0 ? request_out(g, m) : unmask_callid(g, m);
}

int gk_topo_ack_out(struct gk *g, struct sip_msg *m, const struct sip_peer *to)
{
	struct sip_str cid;
	struct dlg *d;

	if (to->local != 0)
		return unmask_callid(g, m);
	d = sip_msg_callid(m, &cid) ? NULL : find_cid(g->topo, cid);
	if (hide_identity(g, m, SIP_HDR_FROM) || hide_identity(g, m, SIP_HDR_TO))
		return EBADMSG;
	/* an ACK may carry a Contact, the private party's: it refreshes
	 * nothing (RFC 3261 12.2), so it goes */
	delete_all(m, SIP_HDR_CONTACT);
	return d ? mask_callid(g, m, d) : 0;
}

/* The key of a Request-URI sip:gk-KEY@<one of us>, or 0. */
static uint64_t ruri_key(struct gk *g, const struct sip_msg *m)
{
	struct sip_uri u;
	size_t pl = sizeof(PREFIX) - 1;

	if (sip_msg_ruri(m, &u) || u.scheme != SIP_SCHEME_SIP ||
	    !u.has_user || u.user.len != pl + 16 ||
	    memcmp(u.user.s, PREFIX, pl) || !gk_side_self(g, u.host, u.port))
		return 0;
	return hex_key((struct sip_str){ u.user.s + pl, 16 });
}

int gk_topo_request_in(struct gk *g, struct sip_msg *m, char *ruri,
		       size_t cap)
{
	uint64_t key = ruri_key(g, m);
	struct sip_str cid;
	struct dlg *d;
	char pub[128];
	const char *want;
	int at;

	if (!key)
		return ENOENT;
	d = find_key(g->topo, key);
	want = !d ? NULL : d->masked && public_callid(g, d, pub, sizeof(pub)) ?
	       pub : d->callid;
	if (!d || !d->contact || sip_msg_callid(m, &cid) ||
	    strlen(want) != cid.len || memcmp(want, cid.s, cid.len)) {
		prom_inc(g->m.topo_unknown, 1);
		return ESRCH;
	}
	if ((size_t)snprintf(ruri, cap, "%s", d->contact) >= cap)
		return ENOSPC;
	if (m->method != SIP_ACK)
		touch(g->topo, d, m->method == SIP_BYE);
	if (!d->route)
		return 0;
	at = sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0);
	return sip_msg_hdr_insert(m, at < 0 ? 0 : (unsigned)at, SIP_HDR_ROUTE,
				  NULL, d->route, strlen(d->route));
}

/* An INVITE's final answer: a dialog that never formed goes soon. */
static void invite_final(const struct gk_topo *t, const struct sip_msg *m,
			 struct dlg *d)
{
	struct sip_cseq cs;

	if (m->status < 200 || sip_msg_cseq(m, &cs) || cs.method != SIP_INVITE)
		return;
	if (m->status < 300) {
		d->dirty |= !d->confirmed;
		d->confirmed = 1;
		touch(t, d, 0);
	} else if (!d->confirmed) {
		touch(t, d, 1);
	}
}

/* An answer going in: the private Call-ID back; an INVITE's final
 * answer confirms or ends a dialog begun inside. */
static int private_answer(struct gk *g, struct sip_msg *m)
{
	struct sip_str cid;
	struct dlg *d;
	int rc = unmask_callid(g, m);

	if (rc || m->status < 200 || sip_msg_callid(m, &cid) ||
	    !(d = find_cid(g->topo, cid)))
		return rc;
	invite_final(g->topo, m, d);
	return 0;
}

int gk_topo_response_out(void *arg, struct sip_fork *f, struct sip_msg *m,
			 struct sip_peer *to)
{
	struct gk *g = arg;
	struct sip_str cid;
	struct dlg *d;

	if (!g->topo)
		return 0;
	if (!f)
		gk_side_choose(g, to);
	if (to->local != 0)	/* towards the private side: as it is */
		return private_answer(g, m);
	d = sip_msg_callid(m, &cid) ? NULL : find_cid(g->topo, cid);
	if (trim_rr(g, m, d) || hide_identity(g, m, SIP_HDR_TO) ||
	    hide_asserted(g, m))
		return EBADMSG;	/* dropped rather than leaked */
	if (!d) {
		delete_all(m, SIP_HDR_CONTACT);
		return 0;
	}
	invite_final(g->topo, m, d);
	return hide_contact(g, m, d) || mask_callid(g, m, d) ? EBADMSG : 0;
}
