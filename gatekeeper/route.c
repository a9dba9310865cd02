/* gatekeeper/route.c — what each request gets.
 *
 *  - REGISTER: the registrar (lib/sip/registrar.h) for flat gateways: the
 *    AOR is the flat's canonical number, the digest user its gateway
 *    username, the source its first private address (else 403).
 *  - A request inside a dialog (To has a tag): relayed to its Route or
 *    Request-URI only when one end is a flat gateway of this site.
 *  - A new request: the Request-URI's number (sip: user part or tel:)
 *    translated from memory: unknown 404, no registered gateway 480,
 *    another complex: from a gateway, the outbound route (outbound.c; 403
 *    when none matches), from outside 404; otherwise forwarded to the flat's gateway (at the
 *    address and port it registered from) with the dialled number, handset
 *    part kept, as Request-URI. OPTIONS for the gatekeeper itself: 200.
 *  - Identity: a request from a registered gateway carries
 *    P-Asserted-Identity with its flat's number (the handset part of its
 *    From kept when it is a handset of that flat; otherwise the flat
 *    number, counted); from anywhere else but a trusted route peer
 *    P-Asserted-Identity and P-Preferred-Identity are removed.
 * Anything else is refused: not an open relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "sip/hdr.h"
#include "sip/wbuf.h"

uint64_t gk_now(void)
{
	return (uint64_t)time(NULL);
}

/* ---- registrar callbacks ---- */

static int reg_ha1(void *arg, const char *aor, const char *user,
		   enum sip_digest_alg alg, char *ha1)
{
	const struct gk_flat *f = gk_flat_of_aor(arg, aor);
	const char *h;

	if (!f || !f->username[0])
		return ENOENT;
	if (strcmp(user, f->username) != 0)
		return EACCES;
	h = alg == SIP_DIGEST_SHA256 ? f->ha1_sha256 : f->ha1_md5;
	if (!h[0])
		return ENOENT;
	snprintf(ha1, SIP_DIGEST_HEX, "%s", h);
	return 0;
}

static int peer_v4(const struct sip_peer *p, struct in_addr *a)
{
	const struct sockaddr_in *s = (const void *)&p->sa;

	if (p->sa.ss_family != AF_INET)
		return EAFNOSUPPORT;
	*a = s->sin_addr;
	return 0;
}

static int reg_source_ok(void *arg, const char *aor,
			 const struct sip_peer *from)
{
	const struct gk_flat *f = gk_flat_of_aor(arg, aor);
	struct in_addr a;

	if (!f || peer_v4(from, &a) || !f->first.s_addr ||
	    a.s_addr != f->first.s_addr)
		return EACCES;
	return 0;
}

static void reg_changed(void *arg, const struct sip_reg_binding *b,
			enum sip_reg_change what)
{
	struct gk *g = arg;
	const struct gk_flat *f = gk_flat_of_aor(g, b->aor);

	if (f)
		gk_store_push(g->store, f->id, b, what == SIP_REG_REMOVED ||
			      what == SIP_REG_EXPIRED);
	prom_set(g->m.bindings, sip_reg_bindings(g->reg));
}

const struct sip_reg_ops gk_reg_ops = {
	.ha1 = reg_ha1, .source_ok = reg_source_ok, .changed = reg_changed,
};

/* ---- helpers ---- */

/* The flat whose registered gateway sent this (its first address, with a
 * live binding), or NULL. */
static const struct gk_flat *gateway_of(struct gk *g,
					const struct sip_peer *from)
{
	const struct gk_flat *f;
	struct in_addr a;

	if (!gk_side_private(g, from) || peer_v4(from, &a))
		return NULL;
	f = gk_flats_by_addr(g->flats, a);
	if (!f || !sip_reg_find(g->reg, f->number, gk_now()))
		return NULL;
	return f;
}

static void reply(struct sip_fork *f, int status, const char *why,
		  struct prom_series *count)
{
	if (count)
		prom_inc(count, 1);
	sip_fork_reply(f, status, why, NULL);
}

static void do_register(struct gk *g, struct sip_fork *f,
			const struct sip_msg *m, const struct sip_peer *from)
{
	static const int codes[5] = { 200, 401, 403, 423, 400 };
	struct sip_reg_answer ans;
	unsigned i;

	if (!gk_side_private(g, from)) {
		reply(f, 403, "Register on the private side", g->m.reg_public);
		return;
	}
	if (gk_protect_register(g, f, m, from))
		return;
	if (sip_reg_handle(g->reg, m, from, gk_now(), &ans)) {
		sip_fork_reply(f, 500, NULL, NULL);
		return;
	}
	for (i = 0; i < 5 && codes[i] != ans.status; i++)
		;
	prom_inc(g->m.reg[i], 1);
	gk_protect_register_done(g, m, from, &ans);
	sip_fork_reply(f, ans.status, ans.reason,
		       ans.extra_len ? ans.extra : NULL);
}

/* ---- in-dialog requests and 2xx ACKs ---- */

static int ruri_is_self(struct gk *g, const struct sip_msg *m);
static int dialled(const struct sip_msg *m, char *buf, size_t cap);

/* The registered gateway of the flat m's Request-URI names (a UA that
 * addresses in-dialog requests to the number it dialled at the
 * gatekeeper): its source into *to. 0 or ENOENT. */
static int number_hop(struct gk *g, const struct sip_msg *m,
		      struct sip_peer *to)
{
	const struct sip_reg_binding *b;
	const struct gk_flat *f;
	char num[NUMPLAN_MAX_LEN + 8];
	uint32_t hs;

	if (dialled(m, num, sizeof(num)) ||
	    gk_flats_lookup(g->flats, num, strlen(num), &f, &hs) ||
	    !(b = sip_reg_find(g->reg, f->number, gk_now())))
		return ENOENT;
	*to = gk_side_gateway(g, &b->source);
	return 0;
}

/* Next hop of an in-dialog request: its Route, else its Request-URI; a
 * flat gateway's address is replaced by where it registered from. 0 when
 * one end is a flat gateway of this site, EACCES otherwise. */
static int dialog_hop(struct gk *g, const struct sip_msg *m,
		      const struct sip_peer *from, struct sip_peer *to)
{
	const struct sip_reg_binding *b;
	const struct gk_flat *f;
	struct sip_uri u;
	struct in_addr a;
	int rc = sip_route_target(m, g->proto, to);

	if (rc == ENOENT && ruri_is_self(g, m))
		return number_hop(g, m, to) ? EACCES : 0;
	if (rc == ENOENT) {
		if (sip_msg_ruri(m, &u) || u.scheme != SIP_SCHEME_SIP ||
		    sip_peer_set(to, g->proto, u.host, u.port ? u.port : 5060))
			return EINVAL;
	} else if (rc) {
		return EINVAL;
	}
	f = peer_v4(to, &a) ? NULL : gk_flats_by_addr(g->flats, a);
	b = f ? sip_reg_find(g->reg, f->number, gk_now()) : NULL;
	if (b) {
		*to = gk_side_gateway(g, &b->source);
		return 0;
	}
	return gateway_of(g, from) ? 0 : EACCES;
}

static void do_new(struct gk *g, struct sip_fork *fk, const struct sip_msg *m,
		   const struct sip_peer *from, struct gk_dial *d);

static void do_in_dialog(struct gk *g, struct sip_fork *f,
			 const struct sip_msg *m, const struct sip_peer *from)
{
	struct sip_peer to;
	char ruri[SIP_REG_URI_MAX];
	int topo = g->topo && !gk_side_private(g, from) ?
		   gk_topo_request_in(g, sip_fork_request_edit(f), ruri,
				      sizeof(ruri)) : ENOENT;

	if (topo == ESRCH) {
		sip_fork_reply(f, 481, NULL, NULL);
		return;
	}
	if (topo == 0 && sip_msg_set_ruri(sip_fork_request_edit(f), ruri,
					  strlen(ruri)))
		topo = ENOMEM;
	/* A UA that addresses in-dialog requests to the number it dialled
	 * at the gatekeeper (no Route): routed by the number again. */
	if (topo == ENOENT && sip_msg_hdr_find(m, SIP_HDR_ROUTE, 0) < 0 &&
	    ruri_is_self(g, m)) {
		struct gk_dial d;

		do_new(g, f, m, from, &d);
		return;
	}
	if (topo > 0 && topo != ENOENT) {
		sip_fork_reply(f, 500, NULL, NULL);
		return;
	}
	if (dialog_hop(g, m, from, &to)) {
		log_debug("gatekeeper: %.*s %.*s not relayed: no gateway at "
			  "either end", (int)m->method_str.len, m->method_str.s,
			  (int)m->ruri.len, m->ruri.s);
		reply(f, 403, "Relaying denied", g->m.relay_refused);
		return;
	}
	prom_inc(g->m.in_dialog, 1);
	gk_media_forward(g, f, topo ? NULL : ruri, topo ? 0 : strlen(ruri), &to,
			 gateway_of(g, from) ? GK_MEDIA_FROM_PRIVATE :
			 GK_MEDIA_FROM_PUBLIC);
}

/* A gateway's 2xx ACK of a call it made through a route, sent to the
 * number at the gatekeeper (no Route): to the peer the call took
 * (outbound.c). 0 or EACCES. */
static int outbound_ack(struct gk *g, const struct sip_msg *m,
			const struct sip_peer *from, struct sip_peer *to)
{
	char num[NUMPLAN_MAX_LEN + 8];

	if (gateway_of(g, from) && ruri_is_self(g, m) &&
	    dialled(m, num, sizeof(num)) == 0 &&
	    gk_outbound_first_peer(g, m, num, to) == 0)
		return 0;
	return EACCES;
}

/* A 2xx ACK: relayed as other in-dialog requests are (one end a flat
 * gateway of ours), or as outbound_ack says. */
static int on_route(void *arg, struct sip_msg *m, const struct sip_peer *from,
		    struct sip_peer *to)
{
	struct gk *g = arg;
	char ruri[SIP_REG_URI_MAX];
	int rc = g->topo ? gk_topo_request_in(g, m, ruri, sizeof(ruri)) :
		 ENOENT;

	if (rc == 0)
		rc = sip_msg_set_ruri(m, ruri, strlen(ruri));
	if (rc && rc != ENOENT)
		return EACCES;
	if (dialog_hop(g, m, from, to) && outbound_ack(g, m, from, to))
		return EACCES;
	if (g->topo && gk_topo_ack_out(g, m, to))
		return EACCES;
	return gk_media_ack(g, m, to) ? SIP_CORE_HOLD : 0;	/* late offer */
}

/* ---- identity ---- */

static void strip_identity(struct sip_msg *m)
{
	int i;

	while ((i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, 0)) >= 0)
		sip_msg_hdr_del(m, (unsigned)i);
	while ((i = sip_msg_hdr_find_name(m, "P-Preferred-Identity", 0)) >= 0)
		sip_msg_hdr_del(m, (unsigned)i);
}

/* The handset of flat gw that header id (its first value) names, or
 * UINT32_MAX when it names none of gw's. */
static uint32_t handset_in(struct gk *g, const struct sip_msg *m,
			   enum sip_hdr_id id, const struct gk_flat *gw)
{
	int i = sip_msg_hdr_find(m, id, 0);
	const struct gk_flat *f;
	struct sip_addr a;
	struct sip_str v;
	size_t pos = 0;
	uint32_t hs;

	if (i < 0 || sip_hdr_next_value(m->hdrs[i].value, &pos, &v) != 1 ||
	    sip_addr_parse(v, 0, &a, NULL) || !a.uri.has_user ||
	    gk_flats_lookup(g->flats, a.uri.user.s, a.uri.user.len, &f, &hs))
		return UINT32_MAX;
	return f == gw ? hs : UINT32_MAX;
}

/* The handset of flat gw that the gateway asserts (dpn-gatewayd puts the
 * calling handset's number in P-Asserted-Identity), else the one From
 * claims; UINT32_MAX when neither names one of gw's (then: the flat). */
static uint32_t claimed_handset(struct gk *g, const struct sip_msg *m,
				const struct gk_flat *gw)
{
	uint32_t hs = handset_in(g, m, SIP_HDR_P_ASSERTED_IDENTITY, gw);

	return hs != UINT32_MAX ? hs : handset_in(g, m, SIP_HDR_FROM, gw);
}

void gk_assert_identity(struct gk *g, struct sip_msg *m,
			const struct gk_flat *gw)
{
	char num[NUMPLAN_MAX_LEN], v[160];
	uint32_t hs = claimed_handset(g, m, gw);

	if (hs == UINT32_MAX) {
		prom_inc(g->m.pai_replaced, 1);
		hs = 0;
	}
	strip_identity(m);
	if (gk_flats_number(g->flats, gw, hs, num, sizeof(num)))
		return;
	snprintf(v, sizeof(v), "<sip:%s@%s>", num,
		 g->cfg->domain && g->cfg->domain[0] ? g->cfg->domain : g->host);
	if (sip_msg_hdr_add(m, SIP_HDR_P_ASSERTED_IDENTITY, v) == 0)
		prom_inc(g->m.pai_set, 1);
	if (gk_from_display(m, num))
		log_debug("gatekeeper: From display not set");
}

/* ---- new requests ---- */

/* The Request-URI's number, decoded, into buf. 0 or EINVAL. */
static int dialled(const struct sip_msg *m, char *buf, size_t cap)
{
	struct sip_uri u;
	size_t n;

	if (sip_msg_ruri(m, &u) || !u.has_user || u.user.len == 0 ||
	    sip_unescape(u.user, buf, cap - 1, &n) || memchr(buf, 0, n))
		return EINVAL;
	buf[n] = '\0';
	return 0;
}

/* "sip:NUMBER@HOST:PORT" of the contact b, with the dialled flat/handset. */
static int target_uri(struct gk *g, const struct gk_flat *f, uint32_t hs,
		      const struct sip_reg_binding *b, char *out, size_t cap,
		      size_t *len)
{
	char num[NUMPLAN_MAX_LEN], *p = out;
	struct sip_uri u;
	size_t nl;

	if (gk_flats_number(g->flats, f, hs, num, sizeof(num)))
		return EINVAL;
	if (b->host_len) {	/* the registrar read it when bound */
		u.host = (struct sip_str){ b->contact + b->host_at,
					   b->host_len };
		u.port = b->port;
	} else if (sip_uri_parse((struct sip_str){ b->contact,
						   strlen(b->contact) },
				 &u, NULL)) {
		return EINVAL;
	}
	nl = strlen(num);
	/* by hand, not snprintf: every call to a flat writes one */
	if (4 + nl + 1 + u.host.len + 6 >= cap)
		return ENOSPC;
	memcpy(p, "sip:", 4);
	memcpy(p += 4, num, nl);
	p += nl;
	*p++ = '@';
	memcpy(p, u.host.s, u.host.len);
	p += u.host.len;
	if (u.port) {
		*p++ = ':';
		p = sip_put_dec(p, u.port);
	}
	*p = '\0';
	*len = (size_t)(p - out);
	return 0;
}

static void forward_to_flat(struct gk *g, struct sip_fork *fk,
			    const struct gk_flat *f, uint32_t hs,
			    const struct gk_flat *gw, int trusted)
{
	const struct sip_reg_binding *b = sip_reg_find(g->reg, f->number,
						       gk_now());
	struct sip_msg *em = sip_fork_request_edit(fk);
	char ruri[SIP_REG_URI_MAX + NUMPLAN_MAX_LEN];
	struct sip_peer to;
	size_t n;

	if (!b) {
		reply(fk, 480, "Flat not registered", g->m.calls_480);
		return;
	}
	if (!em || target_uri(g, f, hs, b, ruri, sizeof(ruri), &n)) {
		sip_fork_reply(fk, 500, NULL, NULL);
		return;
	}
	if (gw)
		gk_assert_identity(g, em, gw);
	else if (!trusted)
		strip_identity(em);
	if (em->method == SIP_INVITE)
		prom_inc(gw ? g->m.calls_flat : g->m.calls_in, 1);
	to = gk_side_gateway(g, &b->source);
	/* media: anchored from outside, direct between flats */
	gk_media_forward(g, fk, ruri, n, &to,
			 gw ? GK_MEDIA_DIRECT : GK_MEDIA_FROM_PUBLIC);
}

static int ruri_is_self(struct gk *g, const struct sip_msg *m)
{
	struct sip_uri u;

	return sip_msg_ruri(m, &u) == 0 && u.scheme == SIP_SCHEME_SIP &&
	       gk_side_self(g, u.host, u.port);
}

static int for_us(struct gk *g, const struct sip_msg *m)
{
	struct sip_uri u;

	return ruri_is_self(g, m) && sip_msg_ruri(m, &u) == 0 && !u.has_user;
}

_Static_assert(sizeof(((struct gk_dial *)0)->num) >= NUMPLAN_MAX_LEN + 8,
	       "gk_dial.num holds what dialled() accepts");

/* A new request; what it was found to be goes into *d (call records). */
static void do_new(struct gk *g, struct sip_fork *fk, const struct sip_msg *m,
		   const struct sip_peer *from, struct gk_dial *d)
{
	const struct gk_flat *gw = gateway_of(g, from), *f;
	uint32_t hs;
	int rc;

	*d = (struct gk_dial){ .gw = gw };
	if (m->method == SIP_OPTIONS && for_us(g, m)) {
		sip_fork_reply(fk, 200, NULL, "Allow: INVITE, ACK, CANCEL, BYE, "
			       "OPTIONS, REGISTER, INFO, UPDATE, PRACK\r\n");
		return;
	}
	rc = dialled(m, d->num, NUMPLAN_MAX_LEN + 8);
	if (rc)
		d->num[0] = '\0';
	else if ((rc = gk_flats_lookup(g->flats, d->num, strlen(d->num), &f,
				       &hs)) == 0) {
		d->flat = f;
		d->hs = hs;
	}
	if (rc == EXDEV && gw) {
		gk_outbound_call(g, fk, d->num, gw);	/* outbound.c */
		return;
	}
	if (rc) {
		reply(fk, 404, "Not Found", g->m.calls_404);
		return;
	}
	if (g->topo && !gk_side_private(g, from) && m->method == SIP_INVITE &&
	    sip_reg_find(g->reg, f->number, gk_now()) &&	/* else 480 */
	    (rc = gk_topo_inbound(g, m)) != 0) {
		sip_fork_reply(fk, rc == ENOSPC ? 503 : 500, NULL, NULL);
		return;
	}
	forward_to_flat(g, fk, f, hs, gw, !gw && gk_outbound_trusted(g, from));
}

static void on_request(void *arg, struct sip_fork *f, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct gk *g = arg;
	struct gk_dial d;
	struct sip_str tag;

	if (m->method == SIP_REGISTER) {
		do_register(g, f, m, from);
	} else if (sip_msg_tag(m, SIP_HDR_TO, &tag) == 0 && tag.len) {
		gk_cdr_bye(g, m);	/* call records: a BYE ends the call */
		do_in_dialog(g, f, m, from);
	} else {
		do_new(g, f, m, from, &d);
		gk_cdr_invite(g, f, m, &d);	/* call records */
	}
}

static int on_send(void *arg, const struct sip_peer *to, const char *buf,
		   size_t len)
{
	return gk_side_send(arg, to, buf, len);
}

/* ---- call records (cdr.c) ---- */

/* Every response a branch receives: outbound failover (outbound.c) and
 * the call record (cdr.c). */
static void on_branch_response(void *arg, struct sip_fork *f,
			       unsigned branch, const struct sip_msg *resp)
{
	gk_outbound_branch_response(arg, f, branch, resp);
	gk_cdr_response(arg, f, branch, resp);
}

static void on_final(void *arg, struct sip_fork *f, int status)
{
	gk_cdr_final(arg, f, status);
	gk_media_final(arg, f, status);
}

static void on_done(void *arg, struct sip_fork *f, int status)
{
	gk_cdr_done(arg, f, status);
	gk_media_done(arg, f, status);
}

const struct gk_flat *gk_gateway_of(struct gk *g, const struct sip_peer *from)
{
	return gateway_of(g, from);
}

int gk_dialled(const struct sip_msg *m, char *buf, size_t cap)
{
	return dialled(m, buf, cap);
}

const struct sip_core_ops gk_core_ops = {
	.send = on_send, .request = on_request, .route = on_route,
	.response = gk_media_response,
	.branch_response = on_branch_response, .final = on_final,
	.done = on_done,
};
