/* gatewayd/mgmt.c — what the gateway says to mgmtd (FIG. 9-12): the
 * allocation request at start (its block; the first address is its own),
 * the handsets poll (GET /api/v1/broker/handsets with If-None-Match), the
 * report of allotted and free addresses after every change it knows of,
 * and the deletion request of --decommission. Every exchange is retried
 * with backoff while mgmtd is down or answers garbage; none of it blocks
 * the loop, so calls keep working meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gatewayd/gw.h"
#include "gatewayd/http.h"
#include "gatewayd/settings.h"
#include "gatewayd/sip.h"
#include "log.h"
#include "prom.h"
#include "sip/registrar.h"

#define GW_MAX_HANDSETS 1000	/* handsets in one answer */
#define GW_MAX_REPORT 4096	/* addresses in one report */

static struct log_rl mgmt_rl = LOG_RL_INIT(10, 60);

unsigned gw_backoff_next(struct gw_backoff *b, unsigned max_s)
{
	unsigned w = b->cur_s ? b->cur_s : 1;

	b->cur_s = w * 2 > max_s ? max_s : w * 2;
	return w * 1000;
}

/* The JSON object of an answer, or NULL (logged). One reference. */
static json_object *parse_obj(const char *what, const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	json_object *o = NULL;

	if (tok) {
		o = json_tokener_parse_ex(tok, body, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success)
			o = NULL;
		json_tokener_free(tok);
	}
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	if (!o)
		log_warnx_rl(&mgmt_rl, "mgmtd: %s: the answer is not a JSON object", what);
	return o;
}

/* A dotted quad member of o into *out. 0 or EINVAL. */
static int get_addr(json_object *o, const char *key, uint32_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return EINVAL;
	return addr4_parse(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), out);
}

/* A failed exchange: counted, logged (rate-limited), retried later. */
static void failed(struct gw *g, const char *what, int err, long status,
		   const char *body)
{
	prom_inc(g->m_mgmtd_err, 1);
	if (err)
		log_warnx_rl(&mgmt_rl, "mgmtd: %s: %s", what, strerror(err));
	else
		log_warnx_rl(&mgmt_rl, "mgmtd: %s: HTTP %ld %.200s", what, status, body);
}

/* ---- allocation ---------------------------------------------------------- */

static void alloc_send(struct gw *g);

static void alloc_retry(struct gw *g)
{
	ev_timer_start(g->loop, &g->alloc_t, gw_backoff_next(&g->alloc_b,
	    g->cfg->retry_max));
}

/* Takes the block of an allocation answer. 0 or EINVAL (logged). */
static int take_block(struct gw *g, json_object *o)
{
	json_object *blk;
	uint32_t first, last, gw_addr;

	if (!json_object_object_get_ex(o, "block", &blk) ||
	    get_addr(blk, "first", &first) || get_addr(blk, "last", &last) ||
	    !json_object_object_get_ex(o, "gateway", &blk) ||
	    get_addr(blk, "address", &gw_addr) || gw_addr != first || last <= first) {
		log_warnx("mgmtd: the answer lacks a usable block");
		return EINVAL;
	}
	if (!cidr4_contains_range(&g->allowed, first, last)) {
		char a[ADDR4_STRLEN], b[ADDR4_STRLEN];

		log_warnx("mgmtd: block %s-%s is outside addresses %s; "
		    "not used", addr4_format(first, a), addr4_format(last, b),
		    g->cfg->addresses);
		return EINVAL;
	}
	g->first = first;
	g->last = last;
	g->have_block = 1;
	addr4_format(first, g->first_text);
	return 0;
}

static void alloc_done(void *arg, int err, long status, const char *body,
		       size_t len, const char *etag)
{
	struct gw *g = arg;
	json_object *o;
	int moved;

	(void)etag;
	if (err || status != 200) {
		failed(g, "allocate", err, status, body);
		alloc_retry(g);
		return;
	}
	if (!(o = parse_obj("allocate", body, len))) {
		prom_inc(g->m_mgmtd_err, 1);
		alloc_retry(g);
		return;
	}
	moved = g->have_block;
	if (take_block(g, o)) {
		json_object_put(o);
		prom_inc(g->m_mgmtd_err, 1);
		alloc_retry(g);
		return;
	}
	json_object_put(o);
	prom_inc(g->m_mgmtd_ok, 1);
	g->alloc_b.cur_s = 0;
	log_info("block %s-%s (flat %s), first address %s%s", g->first_text,
	    addr4_format(g->last, (char[ADDR4_STRLEN]){ 0 }), g->cfg->flat,
	    g->first_text, moved ? " (again)" : "");
	gw_block_ready(g);
	ev_timer_start(g->loop, &g->poll_t, 0);
}

static void alloc_send(struct gw *g)
{
	char body[96];

	snprintf(body, sizeof(body), "{\"gateway_mac\":\"%s\",\"handset_macs\":[]}",
	    g->cfg->mac);
	if (gw_http_request(g->http, "POST", "/api/v1/broker/allocate", body,
	    NULL, alloc_done, g))
		alloc_retry(g);
}

static void alloc_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	alloc_send(arg);
}

/* ---- handsets poll ------------------------------------------------------- */

/* One handset object into *h. 0 or EINVAL. */
static int take_handset(json_object *o, struct gw_handset *h)
{
	json_object *v;
	const char *s;

	memset(h, 0, sizeof(*h));
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "suffix", &v) ||
	    !json_object_is_type(v, json_type_int))
		return EINVAL;
	h->suffix = (unsigned)json_object_get_int(v);
#define STR(key, dst) \
	if (json_object_object_get_ex(o, key, &v) && \
	    json_object_is_type(v, json_type_string)) { \
		s = json_object_get_string(v); \
		if (strlen(s) >= sizeof(dst)) \
			return EINVAL; \
		memcpy(dst, s, strlen(s) + 1); \
	}
	STR("number", h->number);
	STR("sip_username", h->user);
	STR("ha1_md5", h->ha1_md5);
	STR("ha1_sha256", h->ha1_sha256);
	STR("mac", h->mac);
#undef STR
	if (json_object_object_get_ex(o, "address", &v) &&
	    json_object_is_type(v, json_type_string) && get_addr(o, "address", &h->addr))
		return EINVAL;
	return h->number[0] ? 0 : EINVAL;
}

/* The handsets of an answer into a new table. 0 or EINVAL/ENOMEM. */
static int take_handsets(struct gw *g, json_object *o)
{
	json_object *arr;
	struct gw_handset *hs;
	size_t n;

	if (!json_object_object_get_ex(o, "handsets", &arr) ||
	    !json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) > GW_MAX_HANDSETS)
		return EINVAL;
	if (!(hs = calloc(n ? n : 1, sizeof(*hs))))
		return ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (take_handset(json_object_array_get_idx(arr, i), &hs[i])) {
			free(hs);
			return EINVAL;
		}
	free(g->hs);
	g->hs = hs;
	g->nhs = (unsigned)n;
	return 0;
}

#define GW_ADDR_ASKS 8	/* address requests in flight per poll */

static void addr_done(void *arg, int err, long status, const char *body,
		      size_t len, const char *etag)
{
	struct gw *g = arg;

	(void)len;
	(void)etag;
	if (err || status != 200)
		failed(g, "handset address", err, status, body);
	else
		prom_inc(g->m_mgmtd_ok, 1);
}

/* FIG. 10: a handset mgmtd knows by MAC but without an address gets one
 * through the broker (block extended if full); the next poll sees it. */
static void ask_addresses(struct gw *g)
{
	char body[64];
	unsigned asked = 0;

	for (unsigned i = 0; i < g->nhs && asked < GW_ADDR_ASKS; i++) {
		if (g->hs[i].addr || !g->hs[i].mac[0])
			continue;
		snprintf(body, sizeof(body), "{\"mac\":\"%s\"}", g->hs[i].mac);
		if (gw_http_request(g->http, "POST", "/api/v1/broker/handsets",
		    body, NULL, addr_done, g) == 0)
			asked++;
	}
}

static void poll_next(struct gw *g, int ok)
{
	ev_timer_start(g->loop, &g->poll_t, ok ? g->cfg->poll_ms :
	    gw_backoff_next(&g->poll_b, g->cfg->retry_max));
}

static unsigned with_address(const struct gw *g)
{
	unsigned n = 0;

	for (unsigned i = 0; i < g->nhs; i++)
		n += g->hs[i].addr != 0;
	return n;
}

static void poll_done(void *arg, int err, long status, const char *body,
		      size_t len, const char *etag)
{
	struct gw *g = arg;
	json_object *o;

	if (!err && status == 304) {
		g->poll_b.cur_s = 0;
		poll_next(g, 1);
		return;
	}
	if (err || status != 200) {
		failed(g, "handsets", err, status, body);
		poll_next(g, 0);
		return;
	}
	if (!(o = parse_obj("handsets", body, len)) || take_handsets(g, o)) {
		log_warnx_rl(&mgmt_rl, "mgmtd: handsets: a malformed answer; kept the old list");
		json_object_put(o);
		prom_inc(g->m_mgmtd_err, 1);
		poll_next(g, 0);
		return;
	}
	gw_settings_take(g, o);
	json_object_put(o);
	prom_inc(g->m_mgmtd_ok, 1);
	snprintf(g->hs_etag, sizeof(g->hs_etag), "%s", etag);
	g->hs_known = 1;
	g->poll_b.cur_s = 0;
	log_info("flat %s: %u handset%s from mgmtd (%u with an address)",
	    g->cfg->flat, g->nhs, g->nhs == 1 ? "" : "s", with_address(g));
	gw_handsets_changed(g);
	ask_addresses(g);
	gw_mgmt_report_soon(g);
	poll_next(g, 1);
}

static void poll_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw *g = arg;

	(void)loop;
	(void)t;
	if (gw_http_request(g->http, "GET", "/api/v1/broker/handsets", NULL,
	    g->hs_etag, poll_done, g))
		poll_next(g, 0);
}

/* ---- report -------------------------------------------------------------- */

/* {"allotted": [{mac, address}], "free": [...]}: the handsets with an
 * address are allotted; the block's other addresses after the first are
 * free. One reference, or NULL. */
static json_object *report_body(struct gw *g)
{
	json_object *o = json_object_new_object(), *al = json_object_new_array(),
	    *fr = json_object_new_array();
	char a[ADDR4_STRLEN];

	if (!o || !al || !fr) {
		json_object_put(o);
		json_object_put(al);
		json_object_put(fr);
		return NULL;
	}
	json_object_object_add(o, "allotted", al);
	json_object_object_add(o, "free", fr);
	for (uint32_t x = g->first + 1; x <= g->last && x - g->first < GW_MAX_REPORT; x++) {
		unsigned i;

		for (i = 0; i < g->nhs && g->hs[i].addr != x; i++)
			;
		if (i < g->nhs && g->hs[i].mac[0]) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "mac", json_object_new_string(g->hs[i].mac));
			json_object_object_add(e, "address",
			    json_object_new_string(addr4_format(x, a)));
			json_object_array_add(al, e);
		} else {
			json_object_array_add(fr, json_object_new_string(addr4_format(x, a)));
		}
	}
	return o;
}

static void report_send(struct gw *g);

/* The report's answer carries the block as the database has it: a block
 * moved by an extension (it could not grow in place) is taken here, and
 * SIP moves to the new first address. */
static void follow_block(struct gw *g, json_object *o)
{
	uint32_t old = g->first;

	if (take_block(g, o) || g->first == old)
		return;	/* grown in place (or unusable): nothing to move */
	log_info("block moved: first address now %s", g->first_text);
	gw_block_ready(g);
}

/* Logs what the database corrected: its differences list. */
static void log_corrections(struct gw *g, const char *body, size_t len)
{
	json_object *o = parse_obj("report", body, len), *d;
	size_t n;

	if (!o)
		return;
	follow_block(g, o);
	if (json_object_object_get_ex(o, "differences", &d) &&
	    json_object_is_type(d, json_type_array) &&
	    (n = json_object_array_length(d)) > 0) {
		prom_inc(g->m_corrected, n);
		log_info("report: the database corrected %zu address%s: %.400s", n,
		    n == 1 ? "" : "es", json_object_to_json_string_ext(d,
		    JSON_C_TO_STRING_PLAIN));
	} else {
		log_info("report: allotted and free addresses agree with mgmtd");
	}
	json_object_put(o);
}

static void report_done(void *arg, int err, long status, const char *body,
			size_t len, const char *etag)
{
	struct gw *g = arg;

	(void)etag;
	g->report_busy = 0;
	if (err || status != 200) {
		failed(g, "report", err, status, body);
		ev_timer_start(g->loop, &g->report_t, gw_backoff_next(&g->report_b,
		    g->cfg->retry_max));
		return;
	}
	prom_inc(g->m_mgmtd_ok, 1);
	g->report_b.cur_s = 0;
	log_corrections(g, body, len);
	if (g->report_again) {
		g->report_again = 0;
		report_send(g);
	}
}

static void report_send(struct gw *g)
{
	json_object *o;
	int rc = ENOMEM;

	if (!g->have_block)
		return;
	if (g->report_busy) {
		g->report_again = 1;
		return;
	}
	if ((o = report_body(g)))
		rc = gw_http_request(g->http, "POST", "/api/v1/broker/report",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    NULL, report_done, g);
	json_object_put(o);
	if (rc)
		ev_timer_start(g->loop, &g->report_t, gw_backoff_next(&g->report_b,
		    g->cfg->retry_max));
	else
		g->report_busy = 1;
}

static void report_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	report_send(arg);
}

void gw_mgmt_report_soon(struct gw *g)
{
	if (!ev_timer_active(&g->report_t))
		ev_timer_start(g->loop, &g->report_t, 0);
}

/* ---- registrations -------------------------------------------------------- */

/* {"handsets": [{suffix, registered, since_s, contact, user_agent}]} for
 * every handset. One reference, or NULL. */
static json_object *regs_body(struct gw *g)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	uint64_t now = ev_now(g->loop) / 1000;

	if (!o || !arr) {
		json_object_put(o);
		json_object_put(arr);
		return NULL;
	}
	json_object_object_add(o, "handsets", arr);
	for (unsigned i = 0; i < g->nhs; i++) {
		const struct sip_reg_binding *b = gw_sip_binding(g, g->hs[i].number);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "suffix", json_object_new_int((int)g->hs[i].suffix));
		json_object_object_add(e, "registered", json_object_new_boolean(b != NULL));
		if (b) {
			json_object_object_add(e, "since_s",
			    json_object_new_int64((int64_t)(now - b->since)));
			json_object_object_add(e, "contact", json_object_new_string(b->contact));
			json_object_object_add(e, "user_agent",
			    json_object_new_string(b->user_agent));
			json_object_object_add(e, "address", json_object_new_string(
			    gw_peer_text(&b->source, (char[32]){ 0 }, 32)));
		}
		json_object_array_add(arr, e);
	}
	return o;
}

static void regs_send(struct gw *g);

static void regs_done(void *arg, int err, long status, const char *body,
		      size_t len, const char *etag)
{
	struct gw *g = arg;

	(void)len;
	(void)etag;
	g->regs_busy = 0;
	if (err || status != 200) {
		failed(g, "registrations", err, status, body);
		ev_timer_start(g->loop, &g->regs_t, gw_backoff_next(&g->regs_b,
		    g->cfg->retry_max));
		return;
	}
	prom_inc(g->m_mgmtd_ok, 1);
	g->regs_b.cur_s = 0;
	if (g->regs_again) {
		g->regs_again = 0;
		regs_send(g);
	}
}

static void regs_send(struct gw *g)
{
	json_object *o;
	int rc = ENOMEM;

	if (g->regs_busy) {
		g->regs_again = 1;
		return;
	}
	if ((o = regs_body(g)))
		rc = gw_http_request(g->http, "PUT", "/api/v1/broker/registrations",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    NULL, regs_done, g);
	json_object_put(o);
	if (rc)
		ev_timer_start(g->loop, &g->regs_t, gw_backoff_next(&g->regs_b,
		    g->cfg->retry_max));
	else
		g->regs_busy = 1;
}

static void regs_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	regs_send(arg);
}

/* A burst of changes (a reboot of every handset) makes one request. */
void gw_mgmt_registrations_soon(struct gw *g)
{
	if (!ev_timer_active(&g->regs_t))
		ev_timer_start(g->loop, &g->regs_t, 200);
}

/* ---- start, stop, decommission ------------------------------------------- */

int gw_mgmt_start(struct gw *g)
{
	ev_timer_init(&g->alloc_t, alloc_timer, g);
	ev_timer_init(&g->poll_t, poll_timer, g);
	ev_timer_init(&g->report_t, report_timer, g);
	ev_timer_init(&g->regs_t, regs_timer, g);
	ev_timer_start(g->loop, &g->alloc_t, 0);
	return 0;
}

void gw_mgmt_stop(struct gw *g)
{
	ev_timer_stop(g->loop, &g->alloc_t);
	ev_timer_stop(g->loop, &g->poll_t);
	ev_timer_stop(g->loop, &g->report_t);
	ev_timer_stop(g->loop, &g->regs_t);
}

static void decommission_done(void *arg, int err, long status,
			      const char *body, size_t len, const char *etag)
{
	struct gw *g = arg;

	(void)len;
	(void)etag;
	if (err || status != 200) {
		failed(g, "delete", err, status, body);
		g->exit_code = 1;
	} else {
		log_info("decommissioned: the gateway's block is free again: %.400s", body);
		g->exit_code = 0;
	}
	ev_stop(g->loop);
}

int gw_mgmt_decommission(struct gw *g)
{
	return gw_http_request(g->http, "POST", "/api/v1/broker/delete",
	    "{\"gateway\":true}", NULL, decommission_done, g);
}
