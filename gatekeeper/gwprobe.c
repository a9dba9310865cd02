/* gatekeeper/gwprobe.c — is a registered flat gateway still reachable?
 * Each one-second tick visits one slice of the flat table (the table in
 * gateway-probe-interval slices, so each gateway once per interval and the
 * OPTIONS spread over time, not in one burst) and sends an OPTIONS to the
 * source address and port every registered UDP gateway registered from
 * (through its NAT: the same path calls take). A probe still unanswered at
 * the gateway's next turn is a failure; probe-down failures in a row make
 * it unreachable, probe-up answers reachable again. Verdicts go to
 * dpn.gk_gateway_state in one statement per tick (mgmtd shows them on
 * GET /flats/{id}/gateway), and to /metrics (dpn_gk_gateways_unreachable). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "log.h"

/* Queue f's verdict for the database; a full queue leaves it unsaved and
 * the next turn queues it again. */
static void queue_state(struct gk *g, struct gk_flat *f)
{
	if (g->gw_npending >= sizeof(g->gw_pending) / sizeof(g->gw_pending[0]))
		return;
	g->gw_pending[g->gw_npending].flat_id = f->id;
	g->gw_pending[g->gw_npending].reachable = !f->probe.down;
	g->gw_npending++;
	f->probe.saved = 1;
}

static void set_down(struct gk *g, struct gk_flat *f, int down)
{
	if (f->probe.down != down) {
		f->probe.down = (uint8_t)down;
		prom_add(g->om.gw_unreachable, down ? 1 : -1);
		log_info("gatekeeper: gateway of %s %s", f->number,
			 down ? "unreachable (no answer to OPTIONS)" :
			 "reachable again");
		f->probe.saved = 0;
	}
	if (!f->probe.saved)
		queue_state(g, f);
}

static void failed(struct gk *g, struct gk_flat *f)
{
	prom_inc(g->om.gw_probes_failed, 1);
	f->probe.oks = 0;
	if (f->probe.fails < UINT8_MAX)
		f->probe.fails++;
	if (f->probe.fails >= g->cfg->probe_down)
		set_down(g, f, 1);
}

static void visit(void *arg, struct gk_flat *f)
{
	struct gk *g = arg;
	const struct sip_reg_binding *b = sip_reg_find(g->reg, f->number,
						       gk_now());

	if (!b || b->source.proto != SIP_PROTO_UDP) {
		if (f->probe.down)
			prom_add(g->om.gw_unreachable, -1);
		memset(&f->probe, 0, sizeof(f->probe));
		return;
	}
	if (f->probe.waiting)
		failed(g, f);
	g->gw_cycle_down += f->probe.down;
	f->probe.seq++;
	f->probe.waiting = gk_probe_send(g, &b->source, 'g', f->id,
					 f->probe.seq) == 0;
}

void gk_gwprobe_answered(struct gk *g, int64_t flat_id, uint32_t seq,
			 const struct sockaddr_in *src)
{
	struct gk_flat *f = (struct gk_flat *)gk_flats_by_id(g->flats, flat_id);
	const struct sip_reg_binding *b = f ? sip_reg_find(g->reg, f->number,
							   gk_now()) : NULL;
	const struct sockaddr_in *reg = b ? (const void *)&b->source.sa : NULL;

	if (!reg || !f->probe.waiting || f->probe.seq != seq ||
	    reg->sin_addr.s_addr != src->sin_addr.s_addr)
		return;
	prom_inc(g->om.gw_probes_ok, 1);
	f->probe.waiting = 0;
	f->probe.fails = 0;
	if (f->probe.oks < UINT8_MAX)
		f->probe.oks++;
	if (f->probe.oks >= g->cfg->probe_up)
		set_down(g, f, 0);
}

/* Write the queued verdicts in one statement. */
static void flush(struct gk *g)
{
	char ids[512 * 21 + 3], up[512 * 6 + 3];
	const char *v[2] = { ids, up };
	size_t a = 0, b = 0;
	PGresult *r;

	if (!g->gw_npending || !g->pg)
		return;
	for (unsigned i = 0; i < g->gw_npending; i++) {
		a += (size_t)snprintf(ids + a, sizeof(ids) - a, "%c%lld",
				      i ? ',' : '{',
				      (long long)g->gw_pending[i].flat_id);
		b += (size_t)snprintf(up + b, sizeof(up) - b, "%c%s", i ? ',' : '{',
				      g->gw_pending[i].reachable ? "t" : "f");
	}
	snprintf(ids + a, sizeof(ids) - a, "}");
	snprintf(up + b, sizeof(up) - b, "}");
	g->gw_npending = 0;
	r = PQexecParams(g->pg, "INSERT INTO dpn.gk_gateway_state (flat_id, "
		"reachable) SELECT x.id, x.up FROM unnest($1::bigint[], "
		"$2::bool[]) AS x(id, up) JOIN dpn.flats f ON f.id = x.id "
		"ON CONFLICT (flat_id) DO UPDATE SET reachable = EXCLUDED.reachable, "
		"changed_at = now()", 2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("gatekeeper: gateway state: %s", PQerrorMessage(g->pg));
	PQclear(r);
}

void gk_gwprobe_tick(struct gk *g)
{
	unsigned parts = g->cfg->gw_probe_s;

	if (parts == 0 || g->probe_fd < 0 || !g->flats)
		return;
	if (g->gw_slice >= parts)
		g->gw_slice = 0;
	if (g->gw_slice == 0)
		g->gw_cycle_down = 0;
	gk_flats_each(g->flats, g->gw_slice, parts, visit, g);
	if (++g->gw_slice == parts)	/* a whole cycle: the exact count */
		prom_set(g->om.gw_unreachable, g->gw_cycle_down);
	flush(g);
}
