/* gatekeeper/main.c — dpn-gatekeeper: the SIP entrance of one complex, on
 * the daemon skeleton (lib/daemon.h). Settings, start-up (database,
 * registrar, transport, proxy core), the one-second tick (binding expiry,
 * database reconnect), SIGHUP (expiry limits, routes) and /metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "pg.h"

static const char *const transports[] = { "udp", "tcp", "both", NULL };

#define G(f) offsetof(struct gk_conf, f)
static const struct conf_item gk_table[] = {
	{ .name = "db", .type = CONF_STR, .off = G(db), .flags = CONF_REQUIRED,
	  .check = pg_conninfo_check, .arg = "CONNINFO",
	  .help = "the dpn database (libpq connection string)" },
	{ .name = "listen", .type = CONF_ADDR, .off = G(listen),
	  .def = "127.0.0.1:5060", .help = "SIP address (numeric IPv4)" },
	{ .name = "listen-public", .type = CONF_ADDR, .off = G(listen_public),
	  .help = "public side: outside callers and peers (default: listen)" },
	{ .name = "listen-private", .type = CONF_ADDR,
	  .off = G(listen_private),
	  .help = "private side: the flats' gateways (default: the public "
		  "side; the same address means one side, no hiding)" },
	{ .name = "max-dialogs", .type = CONF_UINT, .off = G(max_dialogs),
	  .def = "65536", .min = 16, .max = 10000000,
	  .help = "dialogs crossing to the public side held for topology "
		  "hiding (more: 503)" },
	{ .name = "dialog-idle", .type = CONF_DURATION, .off = G(dialog_idle_s),
	  .def = "12h", .unit = 1000, .min = 60, .max = 604800,
	  .help = "a hidden dialog without requests for this long is "
		  "forgotten" },
	{ .name = "transport", .type = CONF_ENUM, .off = G(transport),
	  .def = "both", .choices = transports, .help = "SIP transports" },
	{ .name = "site", .type = CONF_UINT, .off = G(site),
	  .flags = CONF_REQUIRED, .max = 999999999,
	  .help = "the complex number this gatekeeper serves" },
	{ .name = "domain", .type = CONF_STR, .off = G(domain), .def = "",
	  .help = "host of asserted identities (default: the listen address)" },
	{ .name = "min-expires", .type = CONF_UINT, .off = G(min_expires),
	  .def = "60", .min = 10, .max = 86400, .flags = CONF_RELOAD,
	  .help = "shortest registration (shorter: 423)" },
	{ .name = "max-expires", .type = CONF_UINT, .off = G(max_expires),
	  .def = "3600", .min = 60, .max = 86400, .flags = CONF_RELOAD,
	  .help = "longest registration (longer is lowered)" },
	{ .name = "max-flats", .type = CONF_UINT, .off = G(max_flats),
	  .def = "200000", .min = 1, .max = 10000000,
	  .help = "flats and registrations held in memory" },
	{ .name = "max-queue", .type = CONF_UINT, .off = G(max_queue),
	  .def = "65536", .min = 16, .max = 10000000,
	  .help = "binding writes waiting for the database" },
	{ .name = "ring-timeout", .type = CONF_DURATION, .off = G(ring_s),
	  .def = "120s", .unit = 1000, .min = 5, .max = 600,
	  .help = "timer C: how long a gateway may ring" },
	{ .name = "udp-rcvbuf", .type = CONF_SIZE, .off = G(udp_rcvbuf),
	  .def = "4M", .min = 65536, .max = 1 << 30,
	  .help = "UDP receive buffer (a power cut's REGISTER burst; capped "
		  "by net.core.rmem_max)" },
	{ .name = "t1", .type = CONF_DURATION, .off = G(t1_ms), .def = "500ms",
	  .unit = 1, .min = 50, .max = 5000, .help = "SIP timer T1" },
	{ .name = "rtpengine", .type = CONF_ADDRS, .off = G(rtpengine),
	  .help = "rtpengine ng addresses (ADDR:PORT, several: a set; none: "
		  "media is not anchored)" },
	{ .name = "media-public", .type = CONF_STR, .off = G(media_public),
	  .def = "pub", .help = "rtpengine interface of the public side" },
	{ .name = "media-private", .type = CONF_STR, .off = G(media_private),
	  .def = "priv", .help = "rtpengine interface of the private side" },
	{ .name = "ng-timeout", .type = CONF_DURATION, .off = G(ng_timeout_ms),
	  .def = "1s", .unit = 1, .min = 50, .max = 30000,
	  .help = "deadline of an ng request (retransmitted twice before)" },
	{ .name = "media-check", .type = CONF_DURATION, .off = G(media_check_s),
	  .def = "10s", .unit = 1000, .min = 1, .max = 3600,
	  .help = "how often each anchored call is queried for media timeout" },
	{ .name = "probe-interval", .type = CONF_DURATION, .off = G(probe_ms),
	  .def = "10s", .unit = 1, .max = 3600000,
	  .help = "OPTIONS probing of route peers (0: off)" },
	{ .name = "gateway-probe-interval", .type = CONF_DURATION,
	  .off = G(gw_probe_s), .def = "30s", .unit = 1000, .max = 3600,
	  .help = "OPTIONS probing of registered gateways (0: off)" },
	{ .name = "probe-down", .type = CONF_UINT, .off = G(probe_down),
	  .def = "3", .min = 1, .max = 100, .flags = CONF_RELOAD,
	  .help = "unanswered probes in a row that mark a peer down" },
	{ .name = "probe-up", .type = CONF_UINT, .off = G(probe_up),
	  .def = "2", .min = 1, .max = 100, .flags = CONF_RELOAD,
	  .help = "answered probes in a row that bring a peer back" },
	/* call records (cdr.c) */
	{ .name = "max-calls", .type = CONF_UINT, .off = G(max_calls),
	  .def = "16384", .min = 16, .max = 1000000,
	  .help = "calls tracked at once for call records (more: counted, "
		  "not recorded)" },
	{ .name = "call-queue", .type = CONF_UINT, .off = G(cdr_queue),
	  .def = "8192", .min = 16, .max = 1000000,
	  .help = "call records waiting for the database (more: dropped, "
		  "counted)" },
	{ .name = "call-max-duration", .type = CONF_DURATION,
	  .off = G(call_max_s), .def = "4h", .unit = 1000, .min = 60,
	  .max = 172800, .help = "an answered call without a BYE ends "
	  "(by timeout) after this long" },
	{ .name = "call-retention-days", .type = CONF_UINT,
	  .off = G(call_keep_days), .def = "90", .max = 36500,
	  .help = "call records older than this are deleted hourly (0: kept)" },
	GK_PROTECT_CONF_ROWS(struct gk_conf, prot),
	DAEMON_CONF_ROWS(struct gk_conf, base, "dpn"),
	{ .name = NULL },
};

static int gk_check(const void *cfg, conf_err_fn err, void *arg)
{
	const struct gk_conf *c = cfg;

	if (c->min_expires > c->max_expires) {
		err(arg, "min-expires: more than max-expires");
		return EINVAL;
	}
	if (c->rtpengine.n && (!c->media_public[0] || !c->media_private[0] ||
			       !strcmp(c->media_public, c->media_private))) {
		err(arg, "media-public, media-private: two different rtpengine "
		    "interface names are needed");
		return EINVAL;
	}
	if (c->listen.sa.ss_family != AF_INET) {
		err(arg, "listen: an IPv4 address is needed");
		return EINVAL;
	}
	if ((c->listen_public.len &&
	     c->listen_public.sa.ss_family != AF_INET) ||
	    (c->listen_private.len &&
	     c->listen_private.sa.ss_family != AF_INET)) {
		err(arg, "listen-public, listen-private: IPv4 addresses are "
		    "needed");
		return EINVAL;
	}
	return 0;
}

static struct gk gk;

static void gk_stop(struct ev_loop *loop, void *arg)
{
	(void)arg;
	ev_stop(loop);
}

static int gk_health(void *arg, char *why, size_t len)
{
	struct gk *g = arg;

	if (g->pg)
		return 0;
	snprintf(why, len, "no database connection");
	return 1;
}

static void gk_reloaded(void *cfg, void *arg);

static const struct daemon_def gk_def = {
	.name = "dpn-gatekeeper",
	.usage = "usage: dpn-gatekeeper [-f FILE] [-n] [OPTIONS]",
	.conf = gk_table, .conf_size = sizeof(struct gk_conf),
	.base_off = offsetof(struct gk_conf, base),
	.default_file = "/etc/dpn/gatekeeper.conf",
	.check = gk_check, .reloaded = gk_reloaded, .stop = gk_stop,
	.health = gk_health, .arg = &gk,
};

static int registrar_new(struct gk *g)
{
	struct sip_reg_cfg rc = { .realm = "dpn",
		.min_expires = g->cfg->min_expires,
		.max_expires = g->cfg->max_expires,
		.default_expires = g->cfg->max_expires, .max_bindings = 1,
		.max_aors = g->cfg->max_flats };

	return sip_reg_new(&rc, &gk_reg_ops, g, &g->reg);
}

/* New expiry limits; the bindings stay. */
static void gk_reloaded(void *cfg, void *arg)
{
	struct gk *g = arg;
	(void)cfg;

	if (sip_reg_set_expiry(g->reg, g->cfg->min_expires,
			       g->cfg->max_expires))
		log_warnx("gatekeeper: reload: expiry limits not changed");
	gk_outbound_load(g);	/* routes: outbound.c */
	gk_protect_reload(g);
}

static int metric(struct gk *g, enum prom_type t, const char *name,
		  const char *help, const char *label, const char *value,
		  struct prom_series **out)
{
	const char *labels[2] = { label, NULL }, *values[2] = { value, NULL };
	struct prom_family *f;
	int rc = prom_family_add(g->d->metrics, t, name, help,
				 label ? labels : NULL, NULL, 0, &f);

	return rc ? rc : prom_series(f, label ? values : NULL, out);
}

/* The series of a one-label family for value v (values end in NULL). */
static int series1(struct prom_family *f, const char *v,
		   struct prom_series **out)
{
	const char *values[2] = { v, NULL };

	return prom_series(f, values, out);
}

static int reg_metrics(struct gk *g)
{
	static const char *const st[6] = { "200", "401", "403", "423", "400",
					   "other" };
	const char *labels[2] = { "status", NULL };
	struct prom_family *f;
	int rc = prom_family_add(g->d->metrics, PROM_COUNTER,
		"dpn_gk_registers_total", "REGISTERs answered, by status",
		labels, NULL, 0, &f);

	for (int i = 0; rc == 0 && i < 6; i++)
		rc = series1(f, st[i], &g->m.reg[i]);
	return rc;
}

static int metrics_add(struct gk *g)
{
	struct gk_metrics *m = &g->m;
	const char *c = "dpn_gk_requests_total";
	const char *ch = "new requests, by what became of them";
	struct prom_family *f;
	const char *labels[2] = { "result", NULL };
	const char *const res[6] = { "inbound", "flat_to_flat", "not_found",
				     "not_registered", "refused", "in_dialog" };
	struct prom_series **s[6] = { &m->calls_in, &m->calls_flat,
		&m->calls_404, &m->calls_480, &m->relay_refused, &m->in_dialog };
	int rc = reg_metrics(g);

	if (!rc)
		rc = gk_outbound_metrics(g);

	if (!rc)
		rc = prom_family_add(g->d->metrics, PROM_COUNTER, c, ch, labels,
				     NULL, 0, &f);
	for (int i = 0; rc == 0 && i < 6; i++)
		rc = series1(f, res[i], s[i]);
	if (!rc)
		rc = metric(g, PROM_COUNTER, "dpn_gk_asserted_identities_total",
			    "P-Asserted-Identity set on requests from gateways",
			    NULL, NULL, &m->pai_set);
	if (!rc)
		rc = metric(g, PROM_COUNTER, "dpn_gk_identity_claims_replaced_total",
			    "From claims outside the gateway's flat, replaced by "
			    "the flat number", NULL, NULL, &m->pai_replaced);
	if (!rc)
		rc = metric(g, PROM_GAUGE, "dpn_gk_flats", "flats in memory",
			    NULL, NULL, &m->flats);
	if (!rc)
		rc = metric(g, PROM_GAUGE, "dpn_gk_bindings",
			    "registered gateways", NULL, NULL, &m->bindings);
	if (!rc)
		rc = gk_sides_metrics(g);
	if (!rc)
		rc = metric(g, PROM_COUNTER, "dpn_gk_notifications_total",
			    "dpn_gk notifications received", NULL, NULL,
			    &m->notifies);
	return rc;
}

static void on_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gk *g = arg;

	sip_reg_expire(g->reg, gk_now());
	gk_sides_tick(g);
	gk_db_tick(g);
	gk_media_tick(g);
	gk_gwprobe_tick(g);	/* gwprobe.c */
	gk_cdr_tick(g);
	gk_protect_tick(g);
	ev_timer_start(loop, t, 1000);
}

static int start(struct gk *g)
{
	const char *what;
	int rc;

	if ((rc = metrics_add(g)) != 0)
		what = "metrics";
	else if ((rc = gk_db_start(g)) != 0)
		what = "database";
	else if ((rc = registrar_new(g)) != 0)
		what = "registrar";
	else if ((rc = gk_store_new(g->cfg->db, g->cfg->max_queue,
				    &g->store)) != 0)
		what = "binding writer";
	else if ((rc = gk_cdr_start(g)) != 0)
		what = "call records";
	else if ((rc = gk_db_restore(g)) != 0)
		what = "bindings";
	else if ((rc = gk_outbound_load(g)) != 0)
		what = "routes";
	else if ((rc = gk_protect_start(g)) != 0)
		what = "protections";
	else if ((rc = gk_sides_open(g)) != 0)
		what = "SIP transport";
	else if ((rc = gk_media_new(g, &g->media)) != 0)
		what = "rtpengine";
	else if ((rc = gk_probe_start(g)) != 0)
		what = "peer probing";
	if (rc) {
		log_warnx("gatekeeper: cannot start: %s: %s", what, strerror(rc));
		return rc;
	}
	ev_timer_init(&g->tick, on_tick, g);
	ev_timer_start(g->d->loop, &g->tick, 1000);
	log_info("gatekeeper: site %u on %s:%u", g->cfg->site, g->host,
		 g->port);
	return 0;
}

static void stop(struct gk *g)
{
	gk_media_free(g->media);	/* first: it releases held responses */
	gk_probe_stop(g);
	gk_sides_close(g);
	gk_cdr_stop(g);	/* after the core: its forks' ends are recorded */
	gk_protect_stop(g);
	gk_store_free(g->store);
	gk_db_stop(g);
	sip_reg_free(g->reg);
	gk_flats_free(g->flats);
	gk_outbound_free(g);
}

int main(int argc, char **argv)
{
	int rc;

	gk.probe_fd = -1;
	if ((rc = daemon_init(&gk_def, argc - 1, argv + 1, &gk.d)) >= 0)
		return rc;
	gk.cfg = gk.d->cfg;
	rc = 1;
	if (start(&gk) == 0 && daemon_bound(gk.d) == 0) {
		printf("ready\n");
		fflush(stdout);
		rc = daemon_run(gk.d) ? 1 : 0;
	}
	stop(&gk);
	daemon_free(gk.d);
	return rc;
}
