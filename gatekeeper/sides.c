/* gatekeeper/sides.c — the entrance's two sides: a public address (outside
 * callers and peers) and a private one (the flats' gateways), each its own
 * transport whose peers carry sip_peer.local (0 public, 1 private), and
 * one proxy core over both that record-routes twice when a request
 * crosses sides and hides the topology towards the public side (topo.c
 * does the Contacts and Record-Routes). Which side a peer is on, and
 * From's display name of calls leaving a flat. With one listen address
 * both sides are one: no hiding (the first cut's behaviour). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "sip/hdr.h"

static void on_msg(void *arg, struct sip_msg *m, const struct sip_peer *from)
{
	struct gk *g = arg;

	if (gk_protect_msg(g, m, from))
		return;
	sip_core_recv(g->core, m, from);
}

static const struct conf_addr *side_addr(const struct gk *g, int priv)
{
	const struct gk_conf *c = g->cfg;
	const struct conf_addr *pub = c->listen_public.len ?
				      &c->listen_public : &c->listen;

	if (!priv)
		return pub;
	return c->listen_private.len ? &c->listen_private : pub;
}

static void addr_text(const struct conf_addr *a, char *host, size_t cap,
		      unsigned *port)
{
	const struct sockaddr_in *sa = (const void *)&a->sa;

	inet_ntop(AF_INET, &sa->sin_addr, host, (socklen_t)cap);
	*port = ntohs(sa->sin_port);
}

static int tp_open(struct gk *g, const char *host, unsigned port,
		   unsigned local, struct sip_tp **out)
{
	struct sip_tp_cfg tc = { .host = host, .port = port, .lean = 1,
		.udp_rcvbuf = (size_t)g->cfg->udp_rcvbuf, .local = local,
		.udp = g->cfg->transport != 1, .tcp = g->cfg->transport != 0 };

	gk_protect_tp(g, &tc);	/* both sides: the same bounds */
	return sip_tp_open(g->d->loop, &tc, on_msg, g, out);
}

/* gk_core_ops, with topology hiding's hooks when there are two sides
 * (one side pays nothing for them). */
static struct sip_core_ops core_ops;

static int core_open(struct gk *g)
{
	struct sip_core_local loc[2] = {
		{ .host = g->host, .port = g->port, .hide = g->priv != 0 },
		{ .host = g->phost, .port = g->pport },
	};
	struct sip_core_cfg cc = { .tsx = { .auto_100 = 1,
		.t1 = g->cfg->t1_ms, .timer_c = g->cfg->ring_s * 1000 },
		.host = g->host, .port = g->port, .record_route = 1,
		.to_tag = "gk", .locals = loc, .nlocals = g->priv ? 2 : 1 };

	core_ops = gk_core_ops;
	if (g->priv) {
		core_ops.branch_out = gk_topo_branch_out;
		core_ops.response_out = gk_topo_response_out;
	}
	return sip_core_new(g->d->loop, &cc, &core_ops, g, &g->core);
}

int gk_sides_open(struct gk *g)
{
	int rc;

	addr_text(side_addr(g, 0), g->host, sizeof(g->host), &g->port);
	addr_text(side_addr(g, 1), g->phost, sizeof(g->phost), &g->pport);
	g->priv = strcmp(g->host, g->phost) || g->port != g->pport;
	g->proto = g->cfg->transport == 1 ? SIP_PROTO_TCP : SIP_PROTO_UDP;
	rc = tp_open(g, g->host, g->port, 0, &g->tp);
	if (rc == 0 && g->priv)
		rc = tp_open(g, g->phost, g->pport, 1, &g->tp_priv);
	if (rc == 0 && g->priv)
		rc = gk_topo_new(g->cfg->max_dialogs, g->cfg->dialog_idle_s,
				 g->cfg->ring_s + 32, &g->topo);
	if (rc == 0 && g->priv)
		rc = gk_topostore_start(g);	/* topostore.c */
	if (rc == 0)
		rc = core_open(g);
	if (rc == 0 && g->priv)
		log_info("gatekeeper: public side %s:%u, private side %s:%u",
			 g->host, g->port, g->phost, g->pport);
	return rc;
}

void gk_sides_close(struct gk *g)
{
	sip_core_free(g->core);
	sip_tp_close(g->tp);
	sip_tp_close(g->tp_priv);
	gk_topo_free(g->topo);
	gk_topostore_stop(g);
	g->core = NULL;
	g->tp = g->tp_priv = NULL;
	g->topo = NULL;
}

int gk_side_send(struct gk *g, const struct sip_peer *to, const char *buf,
		 size_t len)
{
	struct sip_tp *tp = to->local == 1 && g->tp_priv ? g->tp_priv : g->tp;

	return sip_tp_send(tp, to, buf, len);
}

int gk_side_private(const struct gk *g, const struct sip_peer *p)
{
	return p->local == g->priv;
}

int gk_side_self(const struct gk *g, struct sip_str host, unsigned port)
{
	port = port ? port : 5060;
	return (sip_str_eq(host, g->host) && port == g->port) ||
	       (sip_str_eq(host, g->phost) && port == g->pport);
}

struct sip_peer gk_side_gateway(const struct gk *g, const struct sip_peer *src)
{
	struct sip_peer p = *src;

	p.local = g->priv;
	return p;
}

void gk_side_choose(const struct gk *g, struct sip_peer *p)
{
	const struct sockaddr_in *a = (const void *)&p->sa;

	p->local = p->sa.ss_family == AF_INET &&
		   gk_flats_by_addr(g->flats, a->sin_addr) ? g->priv : 0;
}

int gk_from_display(struct sip_msg *m, const char *num)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_FROM, 0), n;
	struct sip_addr a;
	char v[768];

	if (i < 0 || sip_addr_parse(m->hdrs[i].value, 0, &a, NULL))
		return EBADMSG;
	n = snprintf(v, sizeof(v), "\"%s\" <%.*s>%s%.*s", num,
		     (int)a.uri_str.len, a.uri_str.s, a.params.len ? ";" : "",
		     (int)a.params.len, a.params.s);
	if (n < 0 || (size_t)n >= sizeof(v))
		return ENOSPC;
	return sip_msg_hdr_set(m, (unsigned)i, v, (size_t)n);
}

static int counter(struct gk *g, enum prom_type t, const char *name,
		   const char *help, struct prom_series **out)
{
	struct prom_family *f;
	int rc = prom_family_add(g->d->metrics, t, name, help, NULL, NULL, 0,
				 &f);

	return rc ? rc : prom_series(f, NULL, out);
}

/* Per side: messages received, malformed, dropped (also 400s not sent
 * for the rate limit, and what the protections refused before parsing),
 * and TCP connections; the private side has the same transport limits
 * and protections as the public one. */
static int side_metrics(struct gk *g)
{
	static const char *const sides[2] = { "public", "private" };
	static const char *const res[3] = { "received", "malformed", "dropped" };
	const char *l2[3] = { "side", "result", NULL }, *l1[2] = { "side", NULL };
	struct prom_family *fm, *fc;
	int rc = prom_family_add(g->d->metrics, PROM_COUNTER,
				 "dpn_gk_sip_messages_total",
				 "SIP messages by side, as the transport saw them",
				 l2, NULL, 0, &fm);

	if (!rc)
		rc = prom_family_add(g->d->metrics, PROM_GAUGE,
				     "dpn_gk_tcp_connections",
				     "open TCP connections by side", l1, NULL,
				     0, &fc);
	for (unsigned s = 0; rc == 0 && s < 2; s++) {
		const char *v1[2] = { sides[s], NULL };
		for (unsigned r = 0; rc == 0 && r < 3; r++) {
			const char *v2[3] = { sides[s], res[r], NULL };
			rc = prom_series(fm, v2, &g->m.side_msgs[s][r]);
		}
		if (rc == 0)
			rc = prom_series(fc, v1, &g->m.side_conns[s]);
	}
	return rc;
}

int gk_sides_metrics(struct gk *g)
{
	struct gk_metrics *m = &g->m;
	const char *labels[2] = { "reason", NULL };
	const char *full[2] = { "full", NULL }, *unknown[2] = { "unknown", NULL };
	struct prom_family *f;
	int rc = counter(g, PROM_COUNTER, "dpn_gk_register_public_total",
			 "REGISTERs refused on the public side (403)",
			 &m->reg_public);

	if (!rc)
		rc = counter(g, PROM_GAUGE, "dpn_gk_topo_dialogs",
			     "dialogs held for topology hiding", &m->topo_dialogs);
	if (!rc)
		rc = prom_family_add(g->d->metrics, PROM_COUNTER,
				     "dpn_gk_topo_refused_total",
				     "requests refused by topology hiding: table "
				     "full (503), unknown dialog key (481)",
				     labels, NULL, 0, &f);
	if (!rc)
		rc = prom_series(f, full, &m->topo_full);
	if (!rc)
		rc = prom_series(f, unknown, &m->topo_unknown);
	return rc ? rc : side_metrics(g);
}

static void side_tick(struct gk *g, const struct sip_tp *tp, unsigned side)
{
	const struct sip_tp_stats *st = sip_tp_stats(tp);

	prom_set(g->m.side_msgs[side][0], (int64_t)st->rx_msgs);
	prom_set(g->m.side_msgs[side][1], (int64_t)st->rx_bad);
	prom_set(g->m.side_msgs[side][2], (int64_t)(st->rx_dropped +
						     st->answers_limited +
						     st->rx_refused));
	prom_set(g->m.side_conns[side], sip_tp_conns(tp));
}

void gk_sides_tick(struct gk *g)
{
	if (g->tp)
		side_tick(g, g->tp, 0);
	if (g->tp_priv)
		side_tick(g, g->tp_priv, 1);
	if (g->topo) {
		gk_topo_expire(g->topo, gk_now());
		gk_topostore_tick(g);
		prom_set(g->m.topo_dialogs, gk_topo_count(g->topo));
	}
}
