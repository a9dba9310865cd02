/* gatewayd/main.c — dpn-gatewayd, the daemon in every flat: its settings
 * table, start-up on the lib skeleton, and what happens when the block is
 * known (bind the first address, drop privileges, start SIP and the
 * registration with the gatekeeper). See docs/gatewayd.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "gatewayd/guard.h"
#include "gatewayd/gw.h"
#include "gatewayd/http.h"
#include "gatewayd/settings.h"
#include "gatewayd/sip.h"
#include "gatewayd/uplink.h"
#include "log.h"
#include "prom.h"

#define G(f) offsetof(struct gw_conf, f)
static const struct conf_item gw_table[] = {
	{ .name = "flat", .type = CONF_STR, .off = G(flat), .flags = CONF_REQUIRED,
	  .arg = "NUMBER", .help = "the flat's full number, e.g. 100-1101-1201" },
	{ .name = "mgmtd-url", .type = CONF_STR, .off = G(mgmtd_url),
	  .flags = CONF_REQUIRED, .arg = "URL",
	  .help = "mgmtd's base URL, http(s)://host:port" },
	{ .name = "gateway-user", .type = CONF_STR, .off = G(user), .arg = "NAME",
	  .help = "the gateway's username (default gw-<flat>)" },
	{ .name = "gateway-secret-file", .type = CONF_PATH, .off = G(secret_file),
	  .flags = CONF_REQUIRED | CONF_EXISTS, .arg = "FILE",
	  .help = "file holding the gateway's secret (mgmtd and gatekeeper)" },
	{ .name = "mac", .type = CONF_STR, .off = G(mac), .flags = CONF_REQUIRED,
	  .arg = "MAC", .help = "the gateway's MAC, as sent in the allocation request" },
	{ .name = "addresses", .type = CONF_STR, .off = G(addresses),
	  .def = "0.0.0.0/0", .arg = "CIDR",
	  .help = "the addresses the gateway may use: a block outside is refused" },
	{ .name = "sip-port", .type = CONF_UINT, .off = G(sip_port), .def = "5060",
	  .min = 1, .max = 65535, .help = "SIP port on the first address (UDP, TCP)" },
	{ .name = "gatekeeper", .type = CONF_ADDR, .off = G(gatekeeper),
	  .flags = CONF_REQUIRED, .arg = "ADDR:PORT", .help = "the site's gatekeeper" },
	{ .name = "register-expires", .type = CONF_DURATION, .off = G(reg_expires),
	  .def = "300s", .unit = 1000, .min = 10, .max = 86400,
	  .help = "registration lifetime asked of the gatekeeper" },
	{ .name = "poll-interval", .type = CONF_DURATION, .off = G(poll_ms),
	  .def = "1s", .unit = 1, .min = 100, .max = 3600000, .flags = CONF_RELOAD,
	  .help = "how often the handsets are asked of mgmtd (If-None-Match)" },
	{ .name = "retry-max", .type = CONF_DURATION, .off = G(retry_max),
	  .def = "60s", .unit = 1000, .min = 1, .max = 3600, .flags = CONF_RELOAD,
	  .help = "longest wait between retries (mgmtd, gatekeeper)" },
	{ .name = "http-timeout", .type = CONF_DURATION, .off = G(http_timeout),
	  .def = "10s", .unit = 1, .min = 100, .max = 120000,
	  .help = "whole-request limit of a call to mgmtd" },
	{ .name = "ring-timeout", .type = CONF_DURATION, .off = G(ring_timeout),
	  .def = "60s", .unit = 1000, .min = 5, .max = 600,
	  .help = "how long handsets ring before the call is given up" },
	{ .name = "flood-rate", .type = CONF_UINT, .off = G(flood_rate),
	  .def = "30", .max = 100000, .flags = CONF_RELOAD,
	  .help = "requests a second one handset may send (excess dropped; 0: no limit)" },
	{ .name = "flood-burst", .type = CONF_UINT, .off = G(flood_burst),
	  .def = "60", .min = 1, .max = 100000, .flags = CONF_RELOAD,
	  .help = "requests a handset may send at once above flood-rate" },
	{ .name = "decommission", .type = CONF_BOOL, .off = G(decommission),
	  .def = "no", .flags = CONF_FLAG,
	  .help = "send the deletion request for the gateway and its block, then exit" },
	DAEMON_CONF_ROWS(struct gw_conf, base, "dpn"),
	{ .name = NULL },
};

/* Three dash-separated groups of 1..9 digits. */
static int flat_like(const char *s)
{
	unsigned groups = 1, digits = 0;

	for (; *s; s++) {
		if (*s == '-' && digits) {
			groups++;
			digits = 0;
		} else if (*s >= '0' && *s <= '9' && digits < 9) {
			digits++;
		} else {
			return 0;
		}
	}
	return groups == 3 && digits;
}

static int gw_check(const void *cfg, conf_err_fn err, void *arg)
{
	const struct gw_conf *c = cfg;
	struct cidr4 net;
	uint8_t mac[6];
	int bad = 0;

	if (c->mac && mac_parse(c->mac, strlen(c->mac), mac)) {
		err(arg, "mac: not a MAC address like 02:00:00:00:00:01");
		bad = 1;
	}
	if (c->addresses && cidr4_parse(c->addresses, strlen(c->addresses), &net)) {
		err(arg, "addresses: not a CIDR like 127.16.0.0/16");
		bad = 1;
	}
	if (c->flat && !flat_like(c->flat)) {
		err(arg, "flat: not a flat number like 100-1101-1201");
		bad = 1;
	}
	if (c->mgmtd_url && strncmp(c->mgmtd_url, "http://", 7) &&
	    strncmp(c->mgmtd_url, "https://", 8)) {
		err(arg, "mgmtd-url: must start with http:// or https://");
		bad = 1;
	}
	return bad;
}

static struct gw gw;

static void gw_stop(struct ev_loop *loop, void *arg)
{
	(void)arg;
	ev_stop(loop);
}

static int gw_health(void *arg, char *why, size_t len)
{
	struct gw *g = arg;

	if (!g->have_block) {
		snprintf(why, len, "no block yet");
		return 1;
	}
	return 0;
}

static const struct daemon_def gw_def = {
	.name = "dpn-gatewayd",
	.usage = "usage: dpn-gatewayd [-f FILE] [-n] [--decommission] [OPTIONS]",
	.conf = gw_table, .conf_size = sizeof(struct gw_conf),
	.base_off = offsetof(struct gw_conf, base),
	.default_file = "/etc/dpn/gatewayd.conf",
	.check = gw_check, .stop = gw_stop, .health = gw_health, .arg = &gw,
};

/* The secret: the file's first line. 0 or errno (logged). */
static int read_secret(struct gw *g)
{
	FILE *f = fopen(g->cfg->secret_file, "r");
	size_t n;

	if (!f || !fgets(g->secret, sizeof(g->secret), f)) {
		log_warnx("gateway-secret-file %s: cannot read it", g->cfg->secret_file);
		if (f)
			fclose(f);
		return EINVAL;
	}
	fclose(f);
	n = strcspn(g->secret, "\r\n");
	g->secret[n] = '\0';
	if (n == 0) {
		log_warnx("gateway-secret-file %s: empty", g->cfg->secret_file);
		return EINVAL;
	}
	return 0;
}

static int counter(struct gw *g, const char *name, const char *help,
		   struct prom_series **out)
{
	struct prom_family *f;

	return prom_family_add(g->d->metrics, PROM_COUNTER, name, help, NULL,
	    NULL, 0, &f) || prom_series(f, NULL, out) ? ENOMEM : 0;
}

static int gauge(struct gw *g, const char *name, const char *help,
		 struct prom_series **out)
{
	struct prom_family *f;

	return prom_family_add(g->d->metrics, PROM_GAUGE, name, help, NULL,
	    NULL, 0, &f) || prom_series(f, NULL, out) ? ENOMEM : 0;
}

static int metrics(struct gw *g)
{
	return counter(g, "dpn_gw_mgmtd_ok_total", "Exchanges with mgmtd that succeeded.",
	    &g->m_mgmtd_ok) ||
	    counter(g, "dpn_gw_mgmtd_errors_total",
	    "Exchanges with mgmtd that failed (retried with backoff).", &g->m_mgmtd_err) ||
	    counter(g, "dpn_gw_report_corrected_total",
	    "Addresses the database corrected in a report.", &g->m_corrected) ||
	    gauge(g, "dpn_gw_flat_reachable",
	    "1 while the flat is registered with the gatekeeper.", &g->m_reachable) ||
	    gauge(g, "dpn_gw_handsets_registered", "Handsets with a binding.",
	    &g->m_handsets) || gw_settings_metrics(g) ? ENOMEM : 0;
}

void gw_block_ready(struct gw *g)
{
	if (g->bound && gw_sip_rebind(g))
		return;
	if (!g->bound) {
		if (gw_sip_start(g))
			return;	/* logged; allocation is not retried */
		g->bound = 1;
		if (daemon_bound(g->d)) {
			g->exit_code = 1;
			ev_stop(g->loop);
			return;
		}
	}
	gw_uplink_start(g);
}

void gw_handsets_changed(struct gw *g)
{
	gw_sip_handsets_changed(g);
}

/* The parts before the loop: secret, curl, metrics, the HTTP client. */
static int setup(struct gw *g)
{
	struct gw_http_cfg hc;

	if (read_secret(g) || metrics(g) || gw_flood_init(g))
		return EINVAL;
	if (g->cfg->user)
		snprintf(g->user, sizeof(g->user), "%s", g->cfg->user);
	else
		snprintf(g->user, sizeof(g->user), "gw-%s", g->cfg->flat);
	cidr4_parse(g->cfg->addresses, strlen(g->cfg->addresses), &g->allowed);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return EIO;
	hc = (struct gw_http_cfg){ .base_url = g->cfg->mgmtd_url, .user = g->user,
	    .secret = g->secret, .timeout_ms = g->cfg->http_timeout,
	    .max_body = 1 << 20 };
	return gw_http_new(g->loop, &hc, &g->http);
}

int main(int argc, char **argv)
{
	struct gw *g = &gw;
	int rc;

	if ((rc = daemon_init(&gw_def, argc - 1, argv + 1, &g->d)) >= 0)
		return rc;
	g->cfg = g->d->cfg;
	g->loop = g->d->loop;
	g->exit_code = 0;
	if (setup(g)) {
		g->exit_code = 1;
		goto out;
	}
	if (g->cfg->decommission)
		rc = gw_mgmt_decommission(g);
	else
		rc = gw_mgmt_start(g);
	if (rc || daemon_run(g->d))
		g->exit_code = 1;
	log_info("stopping");
out:
	gw_mgmt_stop(g);
	gw_uplink_free(g);
	gw_sip_stop(g);
	gw_http_free(g->http);
	free(g->hs);
	explicit_bzero(g->secret, sizeof(g->secret));
	curl_global_cleanup();
	daemon_free(g->d);
	return g->exit_code;
}
