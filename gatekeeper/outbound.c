/* gatekeeper/outbound.c — calls from a flat gateway to a number of another
 * complex: the site's routes loaded from PostgreSQL (at start, on a
 * "routes SITE" notification on dpn_gk, on SIGHUP, after a reconnect),
 * the longest matching prefix's peer group, its up peers tried one after
 * the other (serial fork, first peer by Call-ID hash). The next peer is
 * tried only when one answers 503, times out or cannot be reached; any
 * other final (486, 404, ...) ends the call there. The peer that took a
 * call is remembered by Call-ID (sessions.h): a later request of the call
 * that does not carry the Route (sent to the number at the gatekeeper)
 * goes to that peer. A reload swaps the route table: calls under way keep
 * their dialog (in-dialog requests follow Route and Request-URI). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "sip/hdr.h"

#define SESSIONS_MAX 65536	/* calls through routes remembered */
#define SESSION_TTL 43200	/* s: the longest call kept on its peer */

static PGresult *select_site(struct gk *g, const char *sql)
{
	char id[24];
	const char *v[1] = { id };
	PGresult *r;

	snprintf(id, sizeof(id), "%lld", (long long)g->site_id);
	r = PQexecParams(g->pg, sql, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	log_warnx("gatekeeper: routes: %s", PQerrorMessage(g->pg));
	PQclear(r);
	return NULL;
}

static int load_peers(struct gk *g, struct gk_routes *t)
{
	PGresult *r = select_site(g, "SELECT p.id, p.group_id, host(p.address), "
		"p.port, p.transport = 'tcp', p.trusted, p.weight FROM "
		"dpn.gk_peers p JOIN dpn.gk_peer_groups pg ON pg.id = p.group_id "
		"WHERE pg.site_id = $1 ORDER BY p.group_id, p.id");
	struct gk_peer p;
	int rc = 0;

	if (!r)
		return EIO;
	for (int i = 0; rc != ENOMEM && i < PQntuples(r); i++) {
		memset(&p, 0, sizeof(p));
		p.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		p.group_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		snprintf(p.host, sizeof(p.host), "%s", PQgetvalue(r, i, 2));
		p.port = (unsigned)atoi(PQgetvalue(r, i, 3));
		p.tcp = PQgetvalue(r, i, 4)[0] == 't';
		p.trusted = PQgetvalue(r, i, 5)[0] == 't';
		p.weight = (unsigned)atoi(PQgetvalue(r, i, 6));
		if ((rc = gk_routes_add_peer(t, &p)) != 0)
			log_warnx("gatekeeper: peer %lld skipped: %s",
				  (long long)p.id, strerror(rc));
	}
	PQclear(r);
	return rc == ENOMEM ? rc : 0;
}

static int load_routes(struct gk *g, struct gk_routes *t)
{
	PGresult *r = select_site(g, "SELECT prefix, group_id FROM "
		"dpn.gk_routes WHERE site_id = $1 ORDER BY length(prefix) DESC, "
		"prefix");
	int rc = 0;

	if (!r)
		return EIO;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		rc = gk_routes_add_route(t, PQgetvalue(r, i, 0),
					 strtoll(PQgetvalue(r, i, 1), NULL, 10));
	PQclear(r);
	return rc;
}

void gk_outbound_free(struct gk *g)
{
	gk_routes_free(g->routes);
	g->routes = NULL;
	gk_sessions_free(g->sessions);
	g->sessions = NULL;
}

int gk_outbound_load(struct gk *g)
{
	struct gk_routes *t;
	int rc;

	if (!g->sessions &&
	    (rc = gk_sessions_new(SESSIONS_MAX, SESSION_TTL, &g->sessions)))
		return rc;
	if (!g->pg)
		return EIO;
	if ((rc = gk_routes_new(&t)) != 0)
		return rc;
	rc = load_peers(g, t);
	if (rc == 0)
		rc = load_routes(g, t);
	if (rc) {
		log_warnx("gatekeeper: routes not reloaded: %s", strerror(rc));
		gk_routes_free(t);
		return rc;
	}
	gk_routes_keep_state(t, g->routes);
	gk_routes_free(g->routes);
	g->routes = t;
	gk_protect_peers(g);	/* peers: no flood limit, no bans */
	prom_set(g->om.peers_up, gk_routes_up(t));
	prom_inc(g->om.loads, 1);
	log_info("gatekeeper: site %u: %u routes, %u peers", g->cfg->site,
		 t->nroutes, t->npeers);
	return 0;
}

/* "sip:NUMBER@HOST:PORT[;transport=tcp]" for peer p. */
static int peer_uri(const struct gk_peer *p, const char *num, char *out,
		    size_t cap, size_t *len)
{
	int w = snprintf(out, cap, "sip:%s@%s:%u%s", num, p->host, p->port,
			 p->tcp ? ";transport=tcp" : "");

	if (w < 0 || (size_t)w >= cap)
		return ENOSPC;
	*len = (size_t)w;
	return 0;
}

static int add_peers(struct sip_fork *fk, struct gk_peer **ps, unsigned n,
		     const char *num)
{
	char ruri[NUMPLAN_MAX_LEN + 128];
	size_t len;
	int rc = 0;

	for (unsigned i = 0; rc == 0 && i < n; i++) {
		rc = peer_uri(ps[i], num, ruri, sizeof(ruri), &len);
		if (rc == 0)
			rc = sip_fork_add(fk, ruri, len, &ps[i]->to, 1000 - i);
	}
	return rc;
}

static struct sip_str call_id(const struct sip_msg *m)
{
	int i = m ? sip_msg_hdr_find(m, SIP_HDR_CALL_ID, 0) : -1;

	return i >= 0 ? m->hdrs[i].value : (struct sip_str){ NULL, 0 };
}

int gk_outbound_first_peer(struct gk *g, const struct sip_msg *m,
			   const char *num, struct sip_peer *to)
{
	const struct gk_route *r = g->routes ?
		gk_routes_match(g->routes, num) : NULL;
	struct gk_peer *ps[GK_GROUP_PEERS_MAX];

	if (g->sessions &&
	    gk_sessions_get(g->sessions, call_id(m), gk_now(), to) == 0)
		return 0;	/* the peer the call's INVITE took */
	if (!r || gk_routes_order(g->routes, r, call_id(m), ps) == 0)
		return ENOENT;
	*to = ps[0]->to;
	return 0;
}

/* An in-dialog request (To tag) of a call whose INVITE a peer took: that
 * peer only, up or not. Returns how many peers ps holds now. */
static unsigned session_peer(struct gk *g, const struct sip_msg *m,
			     struct gk_peer **ps, unsigned n)
{
	const struct gk_peer *p;
	struct sip_peer to;
	struct sip_str tag;

	if (!m || !g->sessions || sip_msg_tag(m, SIP_HDR_TO, &tag) ||
	    tag.len == 0 ||
	    gk_sessions_get(g->sessions, call_id(m), gk_now(), &to) ||
	    !(p = gk_routes_peer_at(g->routes, &to)))
		return n;
	ps[0] = (struct gk_peer *)p;
	return 1;
}

void gk_outbound_call(struct gk *g, struct sip_fork *fk, const char *num,
		      const struct gk_flat *gw)
{
	const struct gk_route *r = g->routes ?
		gk_routes_match(g->routes, num) : NULL;
	struct gk_peer *ps[GK_GROUP_PEERS_MAX];
	struct sip_msg *em = sip_fork_request_edit(fk);
	unsigned n;

	if (!r) {
		prom_inc(g->m.relay_refused, 1);
		sip_fork_reply(fk, 403, "No outbound route", NULL);
		return;
	}
	n = gk_routes_order(g->routes, r, call_id(em), ps);
	n = session_peer(g, em, ps, n);
	if (n == 0) {
		prom_inc(g->om.no_peer, 1);
		sip_fork_reply(fk, 503, "No peer available", NULL);
		return;
	}
	if (!em) {
		sip_fork_reply(fk, 500, NULL, NULL);
		return;
	}
	gk_assert_identity(g, em, gw);
	if (em->method == SIP_INVITE)
		prom_inc(g->om.routed, 1);
	if (add_peers(fk, ps, n, num)) {
		sip_fork_reply(fk, 500, NULL, NULL);
		return;
	}
	/* media: offered first (the offerer is the flat, on the private
	 * side); the peers start, one after the other, from its answer */
	gk_media_forward(g, fk, NULL, 0, NULL, GK_MEDIA_FROM_PRIVATE);
}

/* Serial failover goes on after 503 (and, counted by the core, timeouts
 * and unreachable peers) only; any other final is the callee's answer. */
/* Remember the peer that took an INVITE (a provisional or 2xx from a
 * route peer); forget the call at its BYE's final. */
static void track_session(struct gk *g, struct sip_fork *f, unsigned branch,
			  const struct sip_msg *resp)
{
	const struct sip_peer *to = sip_fork_branch_peer(f, branch);
	const struct sip_msg *req = sip_fork_request(f);
	/* the Call-ID as the gateway's side knows it (topology hiding may
	 * show the peer another) */
	struct sip_str cid = call_id(req ? req : resp);
	struct sip_cseq cs;

	if (!g->sessions || !to || sip_msg_cseq(resp, &cs))
		return;
	if (cs.method == SIP_INVITE && resp->status > 100 &&
	    resp->status < 300 && gk_outbound_is_peer(g, to))
		gk_sessions_put(g->sessions, cid, to, gk_now());
	else if (cs.method == SIP_BYE && resp->status >= 200)
		gk_sessions_del(g->sessions, cid);
}

void gk_outbound_branch_response(void *arg, struct sip_fork *f,
				 unsigned branch, const struct sip_msg *resp)
{
	struct gk *g = arg;

	track_session(g, f, branch, resp);
	if (resp->status == 503) {
		prom_inc(g->om.failovers, 1);
		return;
	}
	if (resp->status >= 300)
		sip_fork_serial_stop(f);
}

int gk_outbound_trusted(struct gk *g, const struct sip_peer *from)
{
	const struct gk_peer *p = gk_routes_peer_at(g->routes, from);

	return p && p->trusted;
}

int gk_outbound_is_peer(struct gk *g, const struct sip_peer *to)
{
	return gk_routes_peer_at(g->routes, to) != NULL;
}

int gk_outbound_metrics(struct gk *g)
{
	struct gk_out_metrics *m = &g->om;
	static const struct { enum prom_type t; const char *name, *help; }
	def[] = {
		{ PROM_COUNTER, "dpn_gk_routed_calls_total",
		  "INVITEs from gateways sent to a route's peers" },
		{ PROM_COUNTER, "dpn_gk_route_no_peer_total",
		  "calls refused with 503: every peer of the route down" },
		{ PROM_COUNTER, "dpn_gk_route_failovers_total",
		  "503s from a peer, the next peer tried" },
		{ PROM_GAUGE, "dpn_gk_peers_up", "route peers up" },
		{ PROM_COUNTER, "dpn_gk_route_loads_total",
		  "route tables loaded (start, notification, SIGHUP)" },
		{ PROM_COUNTER, "dpn_gk_peer_down_total",
		  "route peers marked down by OPTIONS probing" },
		{ PROM_COUNTER, "dpn_gk_peer_up_total",
		  "route peers back up after OPTIONS probing" },
		{ PROM_COUNTER, "dpn_gk_probes_answered_total",
		  "OPTIONS probes answered" },
		{ PROM_COUNTER, "dpn_gk_probes_failed_total",
		  "OPTIONS probes not answered within an interval" },
		{ PROM_GAUGE, "dpn_gk_gateways_unreachable",
		  "registered gateways not answering OPTIONS" },
		{ PROM_COUNTER, "dpn_gk_gateway_probes_answered_total",
		  "OPTIONS probes of gateways answered" },
		{ PROM_COUNTER, "dpn_gk_gateway_probes_failed_total",
		  "OPTIONS probes of gateways not answered within an interval" },
	};
	struct prom_series **s[] = { &m->routed, &m->no_peer, &m->failovers,
		&m->peers_up, &m->loads, &m->peer_downs, &m->peer_ups, &m->probes_ok,
		&m->probes_failed, &m->gw_unreachable, &m->gw_probes_ok,
		&m->gw_probes_failed };
	struct prom_family *f;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(def) / sizeof(def[0]); i++) {
		rc = prom_family_add(g->d->metrics, def[i].t, def[i].name,
				     def[i].help, NULL, NULL, 0, &f);
		if (rc == 0)
			rc = prom_series(f, NULL, s[i]);
	}
	return rc;
}
