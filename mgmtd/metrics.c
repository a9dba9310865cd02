/* mgmtd/metrics.c — /healthz and /metrics (Prometheus text) on mgmtd's own
 * port, from the daemon's registry (lib/prom): requests by route and
 * status, a latency histogram, broker operations; at scrape time the Kea
 * lease remover's counters, database errors and pool utilisation (read
 * from the database). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kea_ctrl.h"
#include "prom.h"
#include "server.h"

static const double buckets_s[] = { 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1, 5 };
static const char *const broker_ops[] = { "allocate", "handsets", "delete", "report" };
#define NOPS 4

static struct prom *reg;
static struct prom_family *requests;
static struct prom_series *latency, *broker[NOPS][2];
static struct kea_ctrl *_Atomic kea;

void metrics_kea(struct kea_ctrl *k)
{
	atomic_store(&kea, k);
}

static void write_scraped(struct prom_text *t, void *arg);

int metrics_init(struct prom *r)
{
	static const char *const req_labels[] = { "method", "route", "code", NULL },
			  *const op_labels[] = { "op", "result", NULL };
	struct prom_family *lat, *ops;
	int rc;

	reg = r;
	if ((rc = prom_family_add(r, PROM_COUNTER, "dpn_http_requests_total",
	    "HTTP requests by route and status.", req_labels, NULL, 0, &requests)) ||
	    (rc = prom_family_add(r, PROM_HISTOGRAM, "dpn_http_request_seconds",
	    "Time from request to answer.", NULL, buckets_s,
	    sizeof(buckets_s) / sizeof(buckets_s[0]), &lat)) ||
	    (rc = prom_series(lat, NULL, &latency)) ||
	    (rc = prom_family_add(r, PROM_COUNTER, "dpn_broker_operations_total",
	    "Broker operations by result.", op_labels, NULL, 0, &ops)))
		return rc;
	for (int i = 0; i < NOPS; i++) {
		const char *ok[] = { broker_ops[i], "ok", NULL },
			   *bad[] = { broker_ops[i], "error", NULL };

		if ((rc = prom_series(ops, ok, &broker[i][0])) ||
		    (rc = prom_series(ops, bad, &broker[i][1])))
			return rc;
	}
	return prom_collector_add(r, write_scraped, NULL);
}

void metrics_free(void)
{
	reg = NULL;	/* the registry belongs to the daemon */
}

void metrics_observe(int route_idx, unsigned status, uint64_t ns)
{
	static struct log_rl rl = LOG_RL_INIT(1, 60);
	const struct api_route *rt = route_idx >= 0 ? router_get((size_t)route_idx) : NULL;
	char code[12];
	const char *v[] = { rt ? rt->method : "", rt ? rt->pattern : "other", code, NULL };
	struct prom_series *s;
	int rc;

	if (!reg)
		return;
	snprintf(code, sizeof(code), "%u", status);
	if ((rc = prom_series(requests, v, &s)) == 0)
		prom_inc(s, 1);
	else
		log_warnx_rl(&rl, "metrics: %s", strerror(rc));
	prom_observe(latency, (double)ns / 1e9);
}

void metrics_broker(const char *op, int ok)
{
	for (int i = 0; i < NOPS; i++)
		if (reg && strcmp(op, broker_ops[i]) == 0)
			prom_inc(broker[i][ok ? 0 : 1], 1);
}

static void write_pools(struct prom_text *b)
{
	PGresult *res;

	if (db_query(&res, "SELECT s.number, u.cidr, u.size, u.allotted, u.free, u.blocks "
	    "FROM dpn.sites s, LATERAL jsonb_to_recordset(dpn.pool_utilisation(s.id)) "
	    "AS u(cidr text, size bigint, allotted bigint, free bigint, blocks bigint)",
	    0, NULL)) {
		prom_printf(b, "# pool utilisation unavailable\n");
		return;
	}
	prom_printf(b, "# HELP dpn_pool_addresses Addresses of a pool by state.\n"
	    "# TYPE dpn_pool_addresses gauge\n");
	for (int i = 0; i < PQntuples(res); i++) {
		const char *site = PQgetvalue(res, i, 0), *cidr = PQgetvalue(res, i, 1);

		prom_printf(b, "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"size\"} %s\n"
		    "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"allotted\"} %s\n"
		    "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"free\"} %s\n"
		    "dpn_pool_blocks{site=\"%s\",pool=\"%s\"} %s\n",
		    site, cidr, PQgetvalue(res, i, 2), site, cidr, PQgetvalue(res, i, 3),
		    site, cidr, PQgetvalue(res, i, 4), site, cidr, PQgetvalue(res, i, 5));
	}
	PQclear(res);
}

/* What the registry cannot count itself, read when scraped. */
static void write_scraped(struct prom_text *t, void *arg)
{
	struct kea_ctrl *k = atomic_load(&kea);

	(void)arg;
	if (k)
		prom_printf(t, "# HELP dpn_kea_lease_deletions_total lease4-del sent to Kea.\n"
		    "# TYPE dpn_kea_lease_deletions_total counter\n"
		    "dpn_kea_lease_deletions_total{result=\"ok\"} %lu\n"
		    "dpn_kea_lease_deletions_total{result=\"error\"} %lu\n"
		    "# HELP dpn_kea_subnets Kea subnets whose lease deletions this "
		    "mgmtd takes, as last read (0 until Kea's config-get could be read).\n"
		    "# TYPE dpn_kea_subnets gauge\ndpn_kea_subnets %lu\n",
		    kea_ctrl_done(k), kea_ctrl_errors(k), kea_ctrl_subnets(k));
	prom_printf(t, "# HELP dpn_db_errors_total Database failures: lost or refused "
	    "connections, statements failing but not for the request's content "
	    "(a 409 or 422 is not one).\n"
	    "# TYPE dpn_db_errors_total counter\ndpn_db_errors_total %lu\n", db_errors());
	write_pools(t);
}

static void metrics_get(struct api_req *r)
{
	char *text;
	size_t len;

	if (!reg || prom_render(reg, &text, &len)) {
		api_error(r, 503, NULL, "out of memory");
		return;
	}
	http_answer(r->http, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void healthz(struct api_req *r)
{
	if (db_ping())
		api_json_text(r, 200, "{\"status\":\"ok\",\"database\":\"ok\"}");
	else
		api_json_text(r, 503, "{\"status\":\"degraded\",\"database\":"
		    "\"unavailable\",\"error\":\"database unavailable\"}");
}

const struct api_route api_ops_routes[] = {
	{ "GET", "/healthz", healthz, API_PUBLIC },
	{ "GET", "/metrics", metrics_get, API_PUBLIC },
	API_ROUTES_END
};
