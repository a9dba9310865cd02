/* mgmtd/metrics.c — /healthz and /metrics (Prometheus text): requests by
 * route and status, a latency histogram, broker operations, database errors
 * and pool utilisation (read from the database at scrape time). */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kea_ctrl.h"
#include "server.h"

static const unsigned codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409,
    413, 415, 422, 429, 500, 503, 0 /* other */ };
#define NCODES (sizeof(codes) / sizeof(codes[0]))
static const double buckets_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000 };
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))
static const char *const broker_ops[] = { "allocate", "handsets", "delete", "report" };
#define NOPS 4

static atomic_ulong *counts;      /* [(nroutes + 1) * NCODES] */
static size_t nroutes;
static atomic_ulong hist[NBUCKETS + 1];
static atomic_ulong hist_sum_us, hist_count;
static atomic_ulong broker[NOPS][2];
static struct kea_ctrl *_Atomic kea;

void metrics_kea(struct kea_ctrl *k)
{
	atomic_store(&kea, k);
}

void metrics_init(size_t n)
{
	nroutes = n;
	counts = calloc((n + 1) * NCODES, sizeof(*counts));
}

void metrics_free(void)
{
	free(counts);
	counts = NULL;
}

static size_t code_idx(unsigned status)
{
	for (size_t i = 0; i < NCODES - 1; i++)
		if (codes[i] == status)
			return i;
	return NCODES - 1;
}

void metrics_observe(int route_idx, unsigned status, uint64_t ns)
{
	size_t r = route_idx >= 0 ? (size_t)route_idx : nroutes, b = 0;
	double ms = (double)ns / 1e6;

	if (counts)
		atomic_fetch_add(&counts[r * NCODES + code_idx(status)], 1);
	while (b < NBUCKETS && ms > buckets_ms[b])
		b++;
	atomic_fetch_add(&hist[b], 1);
	atomic_fetch_add(&hist_sum_us, ns / 1000);
	atomic_fetch_add(&hist_count, 1);
}

void metrics_broker(const char *op, int ok)
{
	for (int i = 0; i < NOPS; i++)
		if (strcmp(op, broker_ops[i]) == 0)
			atomic_fetch_add(&broker[i][ok ? 0 : 1], 1);
}

/* A growing text buffer; on allocation failure it stays as it was and
 * `failed` is set. */
struct buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void bprintf(struct buf *b, const char *fmt, ...) DPN_PRINTF(2, 3);
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0 || b->failed) {
			b->failed = 1;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 8192;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static void write_requests(struct buf *b)
{
	bprintf(b, "# HELP dpn_http_requests_total HTTP requests by route and status.\n"
	    "# TYPE dpn_http_requests_total counter\n");
	for (size_t r = 0; r <= nroutes; r++) {
		const struct api_route *rt = router_get(r);

		for (size_t c = 0; c < NCODES; c++) {
			unsigned long v = atomic_load(&counts[r * NCODES + c]);
			char code[8];

			if (!v)
				continue;
			snprintf(code, sizeof(code), "%u", codes[c]);
			bprintf(b, "dpn_http_requests_total{method=\"%s\",route=\"%s\","
			    "code=\"%s\"} %lu\n", rt ? rt->method : "",
			    rt ? rt->pattern : "other", codes[c] ? code : "other", v);
		}
	}
}

static void write_latency(struct buf *b)
{
	unsigned long cum = 0;

	bprintf(b, "# HELP dpn_http_request_seconds Time from request to answer.\n"
	    "# TYPE dpn_http_request_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += atomic_load(&hist[i]);
		bprintf(b, "dpn_http_request_seconds_bucket{le=\"%g\"} %lu\n",
		    buckets_ms[i] / 1000.0, cum);
	}
	cum += atomic_load(&hist[NBUCKETS]);
	bprintf(b, "dpn_http_request_seconds_bucket{le=\"+Inf\"} %lu\n"
	    "dpn_http_request_seconds_sum %.6f\ndpn_http_request_seconds_count %lu\n",
	    cum, (double)atomic_load(&hist_sum_us) / 1e6, atomic_load(&hist_count));
}

static void write_broker(struct buf *b)
{
	bprintf(b, "# HELP dpn_broker_operations_total Broker operations by result.\n"
	    "# TYPE dpn_broker_operations_total counter\n");
	for (int i = 0; i < NOPS; i++)
		for (int ok = 0; ok < 2; ok++)
			bprintf(b, "dpn_broker_operations_total{op=\"%s\",result=\"%s\"} %lu\n",
			    broker_ops[i], ok == 0 ? "ok" : "error",
			    atomic_load(&broker[i][ok]));
	if (atomic_load(&kea))
		bprintf(b, "# HELP dpn_kea_lease_deletions_total lease4-del sent to Kea.\n"
		    "# TYPE dpn_kea_lease_deletions_total counter\n"
		    "dpn_kea_lease_deletions_total{result=\"ok\"} %lu\n"
		    "dpn_kea_lease_deletions_total{result=\"error\"} %lu\n",
		    kea_ctrl_done(atomic_load(&kea)), kea_ctrl_errors(atomic_load(&kea)));
	bprintf(b, "# HELP dpn_db_errors_total Database failures: lost or refused "
	    "connections, statements failing but not for the request's content "
	    "(a 409 or 422 is not one).\n"
	    "# TYPE dpn_db_errors_total counter\ndpn_db_errors_total %lu\n", db_errors());
}

static void write_pools(struct buf *b)
{
	PGresult *res;

	if (db_query(&res, "SELECT s.number, u.cidr, u.size, u.allotted, u.free, u.blocks "
	    "FROM dpn.sites s, LATERAL jsonb_to_recordset(dpn.pool_utilisation(s.id)) "
	    "AS u(cidr text, size bigint, allotted bigint, free bigint, blocks bigint)",
	    0, NULL)) {
		bprintf(b, "# pool utilisation unavailable\n");
		return;
	}
	bprintf(b, "# HELP dpn_pool_addresses Addresses of a pool by state.\n"
	    "# TYPE dpn_pool_addresses gauge\n");
	for (int i = 0; i < PQntuples(res); i++) {
		const char *site = PQgetvalue(res, i, 0), *cidr = PQgetvalue(res, i, 1);

		bprintf(b, "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"size\"} %s\n"
		    "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"allotted\"} %s\n"
		    "dpn_pool_addresses{site=\"%s\",pool=\"%s\",state=\"free\"} %s\n"
		    "dpn_pool_blocks{site=\"%s\",pool=\"%s\"} %s\n",
		    site, cidr, PQgetvalue(res, i, 2), site, cidr, PQgetvalue(res, i, 3),
		    site, cidr, PQgetvalue(res, i, 4), site, cidr, PQgetvalue(res, i, 5));
	}
	PQclear(res);
}

static void metrics_get(struct api_req *r)
{
	struct buf b = { 0 };

	write_requests(&b);
	write_latency(&b);
	write_broker(&b);
	write_pools(&b);
	if (b.failed || !b.s) {
		free(b.s);
		api_error(r, 503, NULL, "out of memory");
		return;
	}
	http_answer(r->http, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
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
