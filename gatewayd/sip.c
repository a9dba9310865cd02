/* gatewayd/sip.c — the SIP side of dpn-gatewayd (see sip.h): transport,
 * proxy core, registrar and the routing of each request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "gatewayd/guard.h"
#include "gatewayd/gw.h"
#include "gatewayd/settings.h"
#include "gatewayd/sip.h"
#include "gatewayd/uplink.h"
#include "log.h"
#include "prom.h"
#include "sip/core.h"
#include "sip/hdr.h"
#include "sip/registrar.h"
#include "sip/transport.h"

struct gw_sip {
	struct sip_reg *reg;
	struct numplan np;
	struct number flat;
	struct sip_peer gk;		/* the gatekeeper */
	struct ev_timer expire_t;
	struct gw_handset *old;		/* the list bindings were made under */
	unsigned nold;
};

static struct gw_sip S;
static struct log_rl sip_rl = LOG_RL_INIT(10, 60);

static uint64_t now_s(struct gw *g)
{
	return ev_now(g->loop) / 1000;
}

/* ---- handsets and numbers ------------------------------------------------ */

static const struct gw_handset *handset_by_user(struct gw *g, const char *user)
{
	for (unsigned i = 0; i < g->nhs; i++)
		if (g->hs[i].user[0] && strcmp(g->hs[i].user, user) == 0)
			return &g->hs[i];
	return NULL;
}

static const struct gw_handset *handset_by_number(struct gw *g, const char *num)
{
	for (unsigned i = 0; i < g->nhs; i++)
		if (strcmp(g->hs[i].number, num) == 0)
			return &g->hs[i];
	return NULL;
}

static const struct gw_handset *handset_by_suffix(struct gw *g, unsigned suffix)
{
	for (unsigned i = 0; i < g->nhs; i++)
		if (g->hs[i].suffix == suffix)
			return &g->hs[i];
	return NULL;
}

/* The widths of the plan from the flat number ("100-1101-1201") and a
 * handset number, if any. 0 or EINVAL. */
static int plan_of(struct gw *g)
{
	const char *f = g->cfg->flat, *d1 = strchr(f, '-'), *d2 = d1 ? strchr(d1 + 1, '-') : NULL;

	if (!d1 || !d2 || strchr(d2 + 1, '-'))
		return EINVAL;
	S.np = (struct numplan){ (uint8_t)(d1 - f), (uint8_t)(d2 - d1 - 1),
	    (uint8_t)strlen(d2 + 1), 1 };
	if (numplan_valid(&S.np) || numplan_parse(&S.np, f, strlen(f), &S.flat) ||
	    S.flat.handset)
		return EINVAL;
	return 0;
}

static void plan_handset_width(struct gw *g)
{
	const char *d;

	if (g->nhs && (d = strrchr(g->hs[0].number, '-')) && strlen(d + 1) <= NUMPLAN_MAX_WIDTH)
		S.np.w_handset = (uint8_t)strlen(d + 1);
}

/* What user (dialled) means here: 0 and *suffix (0 = the whole flat) for
 * this flat; ENOENT for another number; EINVAL for no number. A bare
 * suffix counts only when short is set (dialled inside the flat). */
static int dialled(struct sip_str user, int short_ok, unsigned *suffix)
{
	struct number n;
	uint64_t v;

	if (short_ok && user.len && user.len <= S.np.w_handset &&
	    sip_str_to_u64(user, 999999999, &v) == 0) {
		*suffix = (unsigned)v;
		return 0;
	}
	if (numplan_parse(&S.np, user.s, user.len, &n))
		return EINVAL;
	if (n.complex != S.flat.complex || n.building != S.flat.building ||
	    n.flat != S.flat.flat)
		return ENOENT;
	*suffix = n.handset;
	return 0;
}

/* ---- registrar callbacks ------------------------------------------------- */

static int reg_ha1(void *arg, const char *aor, const char *user,
		   enum sip_digest_alg alg, char *ha1)
{
	struct gw *g = arg;
	const struct gw_handset *h = handset_by_user(g, user);
	const char *x;

	if (!h)
		return ENOENT;
	if (strcmp(aor, h->number) && strcmp(aor, user))
		return EACCES;
	x = alg == SIP_DIGEST_SHA256 ? h->ha1_sha256 : h->ha1_md5;
	if (!x[0])
		return ENOENT;
	memcpy(ha1, x, strlen(x) + 1);
	return 0;
}

/* A handset registers from its own second address only. */
static int reg_source_ok(void *arg, const char *aor,
			 const struct sip_peer *from)
{
	struct gw *g = arg;
	const struct gw_handset *h = handset_by_number(g, aor);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&from->sa;

	if (!h)
		h = handset_by_user(g, aor);
	if (!h || !h->addr || from->sa.ss_family != AF_INET)
		return EACCES;
	return ntohl(sin->sin_addr.s_addr) == h->addr ? 0 : EACCES;
}

static void reg_changed(void *arg, const struct sip_reg_binding *b,
			enum sip_reg_change what)
{
	struct gw *g = arg;
	static const char *const names[] = { "registered", "refreshed",
	    "unregistered", "expired" };

	if (what != SIP_REG_REFRESHED) {
		log_info("handset %s %s (%s)", b->aor, names[what], b->contact);
		gw_mgmt_registrations_soon(g);
	}
	prom_set(g->m_handsets, sip_reg_bindings(S.reg));
}

static const struct sip_reg_ops reg_ops = {
	.ha1 = reg_ha1, .source_ok = reg_source_ok, .changed = reg_changed,
};

/* ---- routing ------------------------------------------------------------- */

static int same_ip(const struct sip_peer *a, const struct sip_peer *b)
{
	const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;

	return a->sa.ss_family == AF_INET && b->sa.ss_family == AF_INET &&
	    x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static int same_peer(const struct sip_peer *a, const struct sip_peer *b)
{
	const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;

	return same_ip(a, b) && x->sin_port == y->sin_port;
}

/* The handset whose live binding came from `from`, or NULL. */
static const struct gw_handset *handset_at(struct gw *g, const struct sip_peer *from)
{
	const struct sip_reg_binding *b;

	for (unsigned i = 0; i < g->nhs; i++)
		if ((b = sip_reg_find(S.reg, g->hs[i].number, now_s(g))) &&
		    same_peer(&b->source, from))
			return &g->hs[i];
	return NULL;
}

/* Where a binding is reached: its Contact's host and port when the
 * host is the address the REGISTER came from (a handset on the flat's LAN
 * may register from one port and take calls on another), else the source
 * (behind NAT the Contact is unreachable). */
static const struct sip_peer *contact_peer(const struct sip_reg_binding *b,
					   struct sip_peer *to)
{
	struct sip_uri u;
	const char *why;

	if (sip_uri_parse((struct sip_str){ b->contact, strlen(b->contact) }, &u, &why) ||
	    u.scheme != SIP_SCHEME_SIP ||
	    sip_peer_set(to, b->source.proto, u.host, u.port ? u.port : 5060) ||
	    !same_ip(to, &b->source))
		return &b->source;
	return to;
}

/* Adds the live binding of handset h as a branch. 0 or ENOENT. */
static int add_handset(struct gw *g, struct sip_fork *f, const struct gw_handset *h)
{
	const struct sip_reg_binding *b = sip_reg_find(S.reg, h->number, now_s(g));
	struct sip_peer to;

	if (!b)
		return ENOENT;
	return sip_fork_add(f, b->contact, strlen(b->contact),
	    contact_peer(b, &to), 1000);
}

/* The flat number: every registered handset at once. */
static void ring_all(struct gw *g, struct sip_fork *f, const char *cid)
{
	unsigned n = 0, dnd = 0;

	for (unsigned i = 0; i < g->nhs; i++)
		if (gw_dnd(g, &g->hs[i], 0))
			dnd++;
		else if (add_handset(g, f, &g->hs[i]) == 0)
			n++;
	log_info("call %s: flat %s rings %u handset%s", cid, g->cfg->flat, n,
	    n == 1 ? "" : "s");
	if (n == 0)
		gw_ring_none(g, f, dnd, cid);
	else if (sip_fork_start(f, 0) == 0)
		gw_ring_arm(g, f, 1);
}

static void ring_one(struct gw *g, struct sip_fork *f, unsigned suffix)
{
	const struct gw_handset *h = handset_by_suffix(g, suffix);

	if (!h) {
		sip_fork_reply(f, 404, NULL, NULL);
		return;
	}
	if (gw_dnd(g, h, 1)) {
		sip_fork_reply(f, 486, "Do Not Disturb", NULL);
		return;
	}
	if (add_handset(g, f, h)) {
		sip_fork_reply(f, 480, NULL, NULL);
		return;
	}
	if (sip_fork_start(f, 0) == 0)
		gw_ring_arm(g, f, 0);
}

/* A peer in the flat's block or the gatekeeper: where in-dialog requests
 * may go (no open relay). */
static int may_reach(struct gw *g, const struct sip_peer *to)
{
	const struct sockaddr_in *sin = (const void *)&to->sa;
	uint32_t a;

	if (to->sa.ss_family != AF_INET)
		return 0;
	a = ntohl(sin->sin_addr.s_addr);
	return same_ip(to, &S.gk) || (a > g->first && a <= g->last);
}

/* Next hop of an in-dialog request (or 2xx ACK): Route, else the
 * Request-URI. 0 or EINVAL. */
static int dialog_hop(struct gw *g, const struct sip_msg *m, struct sip_peer *to)
{
	struct sip_uri u;
	int rc = sip_route_target(m, SIP_PROTO_UDP, to);

	if (rc == ENOENT) {
		if (sip_msg_ruri(m, &u) || u.scheme != SIP_SCHEME_SIP ||
		    sip_peer_set(to, SIP_PROTO_UDP, u.host, u.port ? u.port : 5060))
			return EINVAL;
		rc = 0;
	}
	return rc == 0 && may_reach(g, to) ? 0 : EINVAL;
}

static int in_dialog(const struct sip_msg *m)
{
	struct sip_str tag;

	return sip_msg_tag(m, SIP_HDR_TO, &tag) == 0 && tag.len > 0;
}

static void on_register(struct gw *g, struct sip_fork *f, const struct sip_msg *m,
			const struct sip_peer *from)
{
	struct sip_reg_answer ans;

	if (sip_reg_handle(S.reg, m, from, now_s(g), &ans)) {
		sip_fork_reply(f, 400, NULL, NULL);
		return;
	}
	if (ans.status == 403 || ans.status == 400)
		log_warnx_rl(&sip_rl, "REGISTER refused %d %s", ans.status, ans.reason);
	ans.extra[ans.extra_len < SIP_REG_EXTRA_MAX ? ans.extra_len : SIP_REG_EXTRA_MAX - 1] = '\0';
	sip_fork_reply(f, ans.status, ans.reason, ans.extra_len ? ans.extra : NULL);
}

/* A new request from the gatekeeper: for the flat or one handset. */
static void from_gatekeeper(struct gw *g, struct sip_fork *f, struct sip_str user,
			    const char *cid)
{
	unsigned suffix;

	if (dialled(user, 0, &suffix)) {
		sip_fork_reply(f, 404, NULL, NULL);
		return;
	}
	if (suffix == 0)
		ring_all(g, f, cid);
	else
		ring_one(g, f, suffix);
}

/* The identity of an outgoing call is the handset's full number, never
 * what the handset claims: any P-Asserted-Identity it sent goes, ours is
 * added (the gatekeeper trusts its registered gateways and asserts it
 * onward). 0 or errno. */
int gw_sip_assert_identity(struct gw *g, struct sip_fork *f, const char *number)
{
	struct sip_msg *m = sip_fork_request_edit(f);
	char v[NUMPLAN_MAX_LEN + 80];
	int i;

	if (!m)
		return EINVAL;
	while ((i = sip_msg_hdr_find(m, SIP_HDR_P_ASSERTED_IDENTITY, 0)) >= 0)
		if (sip_msg_hdr_del(m, (unsigned)i))
			return EINVAL;
	snprintf(v, sizeof(v), "<sip:%s@%s>", number, g->first_text);
	return sip_msg_hdr_add(m, SIP_HDR_P_ASSERTED_IDENTITY, v);
}

/* A new request from a registered handset: inside the flat, or out
 * through the gatekeeper. */
static void from_handset(struct gw *g, struct sip_fork *f, struct sip_str user,
			 const struct gw_handset *h, const char *cid)
{
	unsigned suffix;

	if (dialled(user, 1, &suffix) == 0) {
		if (suffix == 0 || suffix == h->suffix) {
			sip_fork_reply(f, 486, NULL, NULL);
			return;
		}
		ring_one(g, f, suffix);
		return;
	}
	log_info("call %s: handset %s out through the gatekeeper", cid, h->number);
	if (gw_sip_assert_identity(g, f, h->number) ||
	    sip_fork_add(f, NULL, 0, &S.gk, 1000)) {
		sip_fork_reply(f, 500, NULL, NULL);
		return;
	}
	sip_fork_start(f, 0);
}

static void on_request(void *arg, struct sip_fork *f, const struct sip_msg *m,
		       const struct sip_peer *from)
{
	struct gw *g = arg;
	const struct gw_handset *h;
	struct sip_peer to;
	struct sip_uri u;
	struct sip_str id = { "", 0 };
	char cid[80];

	if (m->method == SIP_REGISTER) {
		on_register(g, f, m, from);
		return;
	}
	sip_msg_callid(m, &id);
	snprintf(cid, sizeof(cid), "%.*s", (int)(id.len < 64 ? id.len : 64), id.s);
	if (in_dialog(m)) {
		if (dialog_hop(g, m, &to) || sip_fork_add(f, NULL, 0, &to, 1000))
			sip_fork_reply(f, 404, NULL, NULL);
		else
			sip_fork_start(f, 0);
		return;
	}
	if (sip_msg_ruri(m, &u) || !u.has_user) {
		sip_fork_reply(f, m->method == SIP_OPTIONS ? 200 : 404, NULL, NULL);
		return;
	}
	if (same_ip(from, &S.gk))
		from_gatekeeper(g, f, u.user, cid);
	else if ((h = handset_at(g, from)))
		from_handset(g, f, u.user, h, cid);
	else
		sip_fork_reply(f, 403, "Register First", NULL);
}

static int on_route(void *arg, struct sip_msg *m, const struct sip_peer *from,
		    struct sip_peer *to)
{
	(void)from;
	return dialog_hop(arg, m, to);
}

static int send_cb(void *arg, const struct sip_peer *to, const char *buf,
		   size_t len)
{
	struct gw *g = arg;

	return sip_tp_send(g->tp, to, buf, len);
}

static void on_done(void *arg, struct sip_fork *f, int status)
{
	(void)status;
	gw_ring_done(arg, f);
}

static const struct sip_core_ops core_ops = {
	.send = send_cb, .request = on_request, .route = on_route,
	.answer = gw_answer_identity, .done = on_done,
};

static void on_msg(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct gw *g = arg;

	if (!m->is_request && gw_uplink_response(g, m))
		return;
	sip_core_recv(g->core, m, from);
}

/* ---- start, stop --------------------------------------------------------- */

static void expire_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw *g = arg;

	sip_reg_expire(S.reg, now_s(g));
	ev_timer_start(loop, t, 1000);
}

static int open_tp(struct gw *g)
{
	struct sip_tp_cfg tc = { .host = g->first_text, .port = g->cfg->sip_port,
	    .udp = 1, .tcp = 1,
	    .lean = 1,	/* as the gatekeeper: what is read is checked
			   where it is read (registrar, routing) */
	    .admit = gw_flood_admit };
	/* Timer C is the safety net: the ring timeout ends ringing
	 * (settings.c); C must outlast it and a forwarded leg (16.8: > 3 min). */
	struct sip_core_cfg cc = { .tsx = { .auto_100 = 1,
	    .timer_c = (g->cfg->ring_timeout + 180) * 1000 }, .host = g->first_text,
	    .port = g->cfg->sip_port, .record_route = 1, .to_tag = "gw",
	    .one_answer = 1 };
	int rc;

	if ((rc = sip_tp_open(g->loop, &tc, on_msg, g, &g->tp))) {
		log_warnx("SIP: cannot bind %s:%u: %s", g->first_text,
		    g->cfg->sip_port, strerror(rc));
		return rc;
	}
	if ((rc = sip_core_new(g->loop, &cc, &core_ops, g, &g->core))) {
		sip_tp_close(g->tp);
		g->tp = NULL;
		return rc;
	}
	log_info("SIP on %s:%u (UDP, TCP)", g->first_text, g->cfg->sip_port);
	return 0;
}

int gw_sip_start(struct gw *g)
{
	struct sip_reg_cfg rc = { .realm = "dpn", .min_expires = 30,
	    .max_expires = 3600, .default_expires = 600, .max_bindings = 1,
	    .max_aors = 1000 };
	const struct sockaddr *gk = (const void *)&g->cfg->gatekeeper.sa;
	int err;

	if (plan_of(g)) {
		log_warnx("flat %s: not a flat number like 100-1101-1201", g->cfg->flat);
		return EINVAL;
	}
	memset(&S.gk, 0, sizeof(S.gk));
	memcpy(&S.gk.sa, gk, g->cfg->gatekeeper.len);
	S.gk.salen = g->cfg->gatekeeper.len;
	S.gk.proto = SIP_PROTO_UDP;
	if ((err = sip_reg_new(&rc, &reg_ops, g, &S.reg)))
		return err;
	if ((err = open_tp(g)))
		return err;
	ev_timer_init(&S.expire_t, expire_timer, g);
	ev_timer_start(g->loop, &S.expire_t, 1000);
	return 0;
}

int gw_sip_rebind(struct gw *g)
{
	sip_core_free(g->core);
	sip_tp_close(g->tp);
	g->core = NULL;
	g->tp = NULL;
	return open_tp(g);
}

void gw_sip_stop(struct gw *g)
{
	if (g->core)
		sip_core_free(g->core);
	if (g->tp)
		sip_tp_close(g->tp);
	g->core = NULL;
	g->tp = NULL;
	if (S.reg)
		ev_timer_stop(g->loop, &S.expire_t);
	sip_reg_free(S.reg);
	S.reg = NULL;
	free(S.old);
	S.old = NULL;
}

/* Whether handset o (of the old list) is gone or has new credentials. */
static int gone(struct gw *g, const struct gw_handset *o)
{
	const struct gw_handset *n = handset_by_number(g, o->number);

	return !n || strcmp(n->user, o->user) || strcmp(n->ha1_md5, o->ha1_md5) ||
	    n->addr != o->addr;
}

void gw_sip_handsets_changed(struct gw *g)
{
	struct gw_handset *copy;

	if (!S.reg)
		return;
	plan_handset_width(g);
	for (unsigned i = 0; i < S.nold; i++)
		if (gone(g, &S.old[i]) && sip_reg_remove_aor(S.reg, S.old[i].number))
			log_info("handset %s: credentials or address changed; "
			    "binding removed", S.old[i].number);
	copy = malloc((g->nhs ? g->nhs : 1) * sizeof(*copy));
	if (!copy)
		return;	/* the old list stays: removals may be late */
	memcpy(copy, g->hs, g->nhs * sizeof(*copy));
	free(S.old);
	S.old = copy;
	S.nold = g->nhs;
}

const struct sip_reg_binding *gw_sip_binding(struct gw *g, const char *number)
{
	return S.reg ? sip_reg_find(S.reg, number, now_s(g)) : NULL;
}

int gw_sip_send(struct gw *g, const char *buf, size_t len)
{
	if (!g->tp)
		return ENOTCONN;
	return sip_tp_send(g->tp, &S.gk, buf, len);
}

const struct sip_peer *gw_sip_gatekeeper(struct gw *g)
{
	(void)g;
	return &S.gk;
}

const char *gw_peer_text(const struct sip_peer *p, char *buf, size_t len)
{
	const struct sockaddr_in *sin = (const void *)&p->sa;
	char a[ADDR4_STRLEN];

	snprintf(buf, len, "%s:%u", addr4_format(ntohl(sin->sin_addr.s_addr), a),
	    ntohs(sin->sin_port));
	return buf;
}

const char *gw_sip_gatekeeper_text(struct gw *g)
{
	static char text[ADDR4_STRLEN + 8];

	(void)g;
	return gw_peer_text(&S.gk, text, sizeof(text));
}
