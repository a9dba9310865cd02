/* gatekeeper/media_dlg.c — the dialog of an anchored call as each end
 * knows it, so that the gatekeeper can end the call both ways when its
 * media stopped (media.c, media timeout).
 *
 * For each end it keeps what a UA keeps (RFC 3261 12.1): the remote
 * target (its Contact), the route set towards it (the Record-Routes
 * between it and us: for the caller those its INVITE arrived with, in
 * order; for the callee those above ours in its 2xx, reversed), the
 * From/To with both tags, and the highest CSeq each end used; a
 * re-INVITE or UPDATE (or its 2xx) with a Contact moves its sender's
 * target (12.2: target refresh). A BYE to
 * one end speaks for the other: its From is the other end's, its CSeq one
 * above the other end's last. It goes to the first Route when there is a
 * route set (loose routing), else where requests to that end go (the
 * caller's Via received/rport: behind NAT; the callee's binding) — and a
 * flat's end always to its gateway's binding, Route kept, as route.c
 * sends every request to a flat (the gateway record-routes); with
 * topology hiding it leaves by the public side as every request does
 * (topo.c: identities hidden, the public Call-ID of a dialog begun
 * inside). A route set whose first URI has no ;lr (a strict router, RFC
 * 2543) is followed as 12.2.1.1 says: that URI is the Request-URI and
 * the next hop, the rest of the route set and then the target the Route. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "gatekeeper/media_dlg.h"
#include "log.h"
#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/tsx.h"

#define ROUTE_MAX 32		/* Record-Route values we follow */
#define CALLER 0
#define CALLEE 1

struct end {
	char *target;		/* its Contact URI: a BYE's Request-URI */
	char *route;		/* the route set towards it, or NULL */
	struct sip_peer next;	/* where a BYE goes without a route set */
	uint32_t cseq;		/* the highest CSeq it sent */
	int flat;		/* a flat's (next: its gateway's binding) */
};

struct gk_media_dlg {
	char *from, *to;	/* the caller's From, the callee's To (tags) */
	char *caller_tag;
	struct end end[2];
};

static char *dup_slice(struct sip_str v)
{
	char *p = malloc(v.len + 1);

	if (p) {
		memcpy(p, v.s, v.len);
		p[v.len] = '\0';
	}
	return p;
}

static int dup_hdr(const struct sip_msg *m, enum sip_hdr_id id, char **out)
{
	int i = sip_msg_hdr_find(m, id, 0);

	if (i < 0)
		return EBADMSG;
	return (*out = dup_slice(m->hdrs[i].value)) ? 0 : ENOMEM;
}

static int contact_uri(const struct sip_msg *m, char **out)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CONTACT, 0);
	struct sip_addr a;
	struct sip_str v;
	size_t pos = 0;

	if (i < 0 || sip_hdr_next_value(m->hdrs[i].value, &pos, &v) != 1 ||
	    sip_addr_parse(v, 0, &a, NULL))
		return EBADMSG;
	return (*out = dup_slice(a.uri_str)) ? 0 : ENOMEM;
}

/* The Record-Route values of m, top first, into v (at most ROUTE_MAX). */
static unsigned rr_list(const struct sip_msg *m, struct sip_str *v)
{
	unsigned n = 0;
	int i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE, 0);

	for (; i >= 0; i = sip_msg_hdr_find(m, SIP_HDR_RECORD_ROUTE,
					    (unsigned)i + 1)) {
		size_t pos = 0;

		while (n < ROUTE_MAX &&
		       sip_hdr_next_value(m->hdrs[i].value, &pos, &v[n]) == 1)
			n++;
	}
	return n;
}

static int is_ours(const struct gk *g, struct sip_str v)
{
	struct sip_addr a;

	return sip_addr_parse(v, 0, &a, NULL) == 0 &&
	       gk_side_self(g, a.uri.host, a.uri.port);
}

/* v[0..n) as a Route value (backwards when rev), or NULL in *out when
 * n = 0. 0 or ENOMEM. */
static int route_text(const struct sip_str *v, unsigned n, int rev,
		      char **out)
{
	size_t cap = 1, len;

	*out = NULL;
	if (n == 0)
		return 0;
	for (unsigned k = 0; k < n; k++)
		cap += v[k].len + 2;
	if (!(*out = malloc(cap)))
		return ENOMEM;
	return sip_values_join(v, n, rev, *out, cap, &len);
}

/* The caller's route set: its INVITE's Record-Routes as they came, ours
 * left out (a spiral, or ours already on). */
static int caller_route(const struct gk *g, const struct sip_msg *req,
			char **out)
{
	struct sip_str v[ROUTE_MAX];
	unsigned n = rr_list(req, v), k = 0;

	for (unsigned i = 0; i < n; i++)
		if (!is_ours(g, v[i]))
			v[k++] = v[i];
	return route_text(v, k, 0, out);
}

/* The callee's: those above our own in its 2xx, nearest to us first. */
static int callee_route(const struct gk *g, const struct sip_msg *ok,
			char **out)
{
	struct sip_str v[ROUTE_MAX];
	unsigned n = rr_list(ok, v), k = 0;

	while (k < n && !is_ours(g, v[k]))
		k++;
	return route_text(v, k < n ? k : 0, 1, out);
}

/* Where requests to the caller go without a route set: its top Via's
 * received/rport (a caller behind NAT), on side `local`. */
static int caller_next(const struct gk *g, const struct sip_msg *req,
		       unsigned local, struct sip_peer *p)
{
	struct sip_via v;
	int rc;

	if (sip_msg_via(req, 0, &v))
		return EBADMSG;
	rc = sip_peer_set(p, g->proto, v.has_received ? v.received : v.host,
			  v.rport_val ? v.rport_val : v.port ? v.port : 5060);
	p->local = local;
	return rc;
}

void gk_media_dlg_free(struct gk_media_dlg *d)
{
	if (!d)
		return;
	free(d->from);
	free(d->to);
	free(d->caller_tag);
	for (int i = 0; i < 2; i++) {
		free(d->end[i].target);
		free(d->end[i].route);
	}
	free(d);
}

int gk_media_dlg_new(const struct gk *g, const struct sip_msg *req,
		     const struct sip_msg *ok, const struct sip_peer *callee,
		     int from_flat, struct gk_media_dlg **out)
{
	struct gk_media_dlg *d = calloc(1, sizeof(*d));
	struct sip_cseq cs;
	struct sip_str tag;
	int rc;

	if (!d)
		return ENOMEM;
	rc = sip_msg_cseq(req, &cs) || sip_msg_tag(req, SIP_HDR_FROM, &tag) ?
	     EBADMSG : 0;
	if (rc == 0 && !(d->caller_tag = dup_slice(tag)))
		rc = ENOMEM;
	if (rc || (rc = dup_hdr(req, SIP_HDR_FROM, &d->from)) ||
	    (rc = dup_hdr(ok, SIP_HDR_TO, &d->to)) ||
	    (rc = contact_uri(req, &d->end[CALLER].target)) ||
	    (rc = contact_uri(ok, &d->end[CALLEE].target)) ||
	    (rc = caller_route(g, req, &d->end[CALLER].route)) ||
	    (rc = callee_route(g, ok, &d->end[CALLEE].route)) ||
	    (rc = caller_next(g, req, from_flat ? g->priv : 0,
			       &d->end[CALLER].next))) {
		gk_media_dlg_free(d);
		return rc;
	}
	d->end[CALLEE].next = *callee;
	d->end[from_flat ? CALLER : CALLEE].flat = 1;
	d->end[CALLER].cseq = cs.num;
	*out = d;
	return 0;
}

/* The end that sent m: the one whose tag is in header id (From of a
 * request, To of a response), or NULL. */
static struct end *sender(struct gk_media_dlg *d, const struct sip_msg *m,
			  enum sip_hdr_id id)
{
	struct sip_str tag;

	if (!d || sip_msg_tag(m, id, &tag))
		return NULL;
	return &d->end[sip_str_eq(tag, d->caller_tag) ? CALLER : CALLEE];
}

/* A target refresh (RFC 3261 12.2): m's Contact, when it has one, is
 * e's remote target from now on. */
static void refresh(struct end *e, const struct sip_msg *m,
		    enum sip_method method)
{
	char *t;

	if ((method == SIP_INVITE || method == SIP_UPDATE) &&
	    sip_msg_hdr_find(m, SIP_HDR_CONTACT, 0) >= 0 &&
	    contact_uri(m, &t) == 0) {
		free(e->target);
		e->target = t;
	}
}

void gk_media_dlg_request(struct gk_media_dlg *d, const struct sip_msg *m)
{
	struct end *e = sender(d, m, SIP_HDR_FROM);
	struct sip_cseq cs;

	if (!e || sip_msg_cseq(m, &cs))
		return;
	if (cs.num > e->cseq)
		e->cseq = cs.num;
	refresh(e, m, m->method);
}

void gk_media_dlg_cseqs(struct gk_media_dlg *d, uint32_t caller,
			uint32_t callee)
{
	if (d->end[CALLER].cseq < caller)
		d->end[CALLER].cseq = caller;
	if (d->end[CALLEE].cseq < callee)
		d->end[CALLEE].cseq = callee;
}

void gk_media_dlg_answer(struct gk_media_dlg *d, const struct sip_msg *m)
{
	struct end *e = sender(d, m, SIP_HDR_TO);
	struct sip_cseq cs;

	if (e && m->status >= 200 && m->status < 300 &&
	    sip_msg_cseq(m, &cs) == 0)
		refresh(e, m, cs.method);
}

/* RFC 3261 12.2.1.1: when the first URI of e's route set has no ;lr, the
 * BYE's Request-URI is that URI and its Route the rest of the route set
 * with the remote target last. 1 (ruri and route filled), 0 (no route
 * set, or a loose router first), or -ENOSPC. */
static int strict_route(const struct end *e, char *ruri, size_t rcap,
			char *route, size_t cap)
{
	struct sip_str all, first, rest = { "", 0 }, lr;
	struct sip_addr a;
	size_t pos = 0;
	int n;

	if (!e->route)
		return 0;
	all = (struct sip_str){ e->route, strlen(e->route) };
	if (sip_hdr_next_value(all, &pos, &first) != 1 ||
	    sip_addr_parse(first, 0, &a, NULL) ||
	    sip_param_find(a.uri.params, "lr", &lr))
		return 0;
	if (sip_hdr_next_value(all, &pos, &rest) == 1)
		rest.len = (size_t)(all.s + all.len - rest.s);
	n = snprintf(ruri, rcap, "%.*s", (int)a.uri_str.len, a.uri_str.s);
	if (n < 0 || (size_t)n >= rcap)
		return -ENOSPC;
	n = snprintf(route, cap, "%.*s%s<%s>", (int)rest.len, rest.s,
		     rest.len ? ", " : "", e->target);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : 1;
}

/* The BYE's text into buf: to d's end `to`, speaking for the other;
 * *strict: it goes to a strict router (its Request-URI). */
static int bye_text(const struct gk *g, const struct gk_media_dlg *d, int to,
		    const char *callid, const char *extra, char *buf,
		    size_t cap, size_t *len, int *strict)
{
	const struct end *e = &d->end[to], *o = &d->end[!to];
	int priv = e->next.local != 0;
	uint64_t r = ((uint64_t)rand() << 32) ^ (uint64_t)rand();
	char via[160], ruri[1024], route[4096];
	struct sip_request_spec s = { .method = "BYE", .ruri = e->target,
		.via = via, .from = to == CALLEE ? d->from : d->to,
		.to = to == CALLEE ? d->to : d->from, .call_id = callid,
		.route = e->route, .extra = extra, .cseq = o->cseq + 1,
		.max_forwards = 70 };

	if ((*strict = strict_route(e, ruri, sizeof(ruri), route,
				    sizeof(route))) < 0)
		return ENOSPC;
	if (*strict) {
		s.ruri = ruri;
		s.route = route;
	}
	snprintf(via, sizeof(via), "SIP/2.0/%s %s:%u;branch=z9hG4bKmt%016llx",
		 g->proto == SIP_PROTO_TCP ? "TCP" : "UDP",
		 priv ? g->phost : g->host, priv ? g->pport : g->port,
		 (unsigned long long)r);
	return sip_request_write(&s, buf, cap, len) ? ENOSPC : 0;
}

/* Where the BYE m to e goes: a flat's gateway binding; else the strict
 * router of its Request-URI, the first Route, or e->next. 0 or EINVAL. */
static int next_hop(const struct gk *g, const struct end *e,
		    const struct sip_msg *m, int strict, struct sip_peer *next)
{
	struct sip_uri u;
	int rc = 0;

	*next = e->next;
	if (!e->flat && strict)
		rc = sip_msg_ruri(m, &u) ||
		     sip_peer_set(next, g->proto, u.host,
				  u.port ? u.port : 5060) ? EINVAL : 0;
	else if (!e->flat && e->route)
		rc = sip_route_target(m, g->proto, next);
	next->local = e->next.local;
	return rc;
}

int gk_media_dlg_bye_msg(struct gk *g, const struct gk_media_dlg *d,
			 int callee, const char *callid, const char *extra,
			 char *buf, size_t cap, struct sip_msg *m,
			 struct sip_peer *next)
{
	const struct end *e = &d->end[callee ? CALLEE : CALLER];
	struct sip_perr pe;
	size_t n;
	int strict, rc = bye_text(g, d, callee ? CALLEE : CALLER, callid,
				  extra, buf, cap, &n, &strict);

	if (rc)
		return rc;
	if (sip_msg_parse(m, buf, n, 0, &pe))
		return EBADMSG;
	if ((rc = next_hop(g, e, m, strict, next)) != 0)
		goto fail;
	if (g->topo && (rc = gk_topo_ack_out(g, m, next)) != 0)
		goto fail;
	return 0;
fail:
	sip_msg_release(m);
	return rc;
}

/* A BYE to one end as a client transaction of the core (its answer is
 * dropped). */
static int bye_send(struct gk *g, const struct gk_media_dlg *d, int callee,
		    const char *callid, const char *extra)
{
	char buf[8192], out[SIP_MAX_MSG];
	struct sip_peer to;
	struct sip_msg m;
	struct sip_tsx *t;
	size_t n;
	int rc = gk_media_dlg_bye_msg(g, d, callee, callid, extra, buf,
				      sizeof(buf), &m, &to);

	if (rc)
		return rc;
	rc = sip_msg_serialize(&m, out, sizeof(out), &n);
	if (rc == 0)
		rc = sip_tsx_client(sip_core_tsx(g->core), out, n, &to, NULL,
				    &t);
	sip_msg_release(&m);
	return rc;
}

void gk_media_dlg_bye(struct gk *g, const struct gk_media_dlg *d,
		      const char *callid, const char *extra)
{
	if (bye_send(g, d, 1, callid, extra))
		log_warnx("media: %s: BYE to the callee not sent", callid);
	if (bye_send(g, d, 0, callid, extra))
		log_warnx("media: %s: BYE to the caller not sent", callid);
}
