/* gatewayd/uplink.c — the flat's registration with the gatekeeper (see
 * uplink.h). A small REGISTER client of its own instead of a transaction
 * of the proxy core: the core owns its transaction layer's callbacks, and
 * one outstanding REGISTER with its own retransmission is all this needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "gatewayd/gw.h"
#include "gatewayd/sip.h"
#include "gatewayd/uplink.h"
#include "log.h"
#include "prom.h"
#include "sip/build.h"
#include "sip/digest.h"
#include "sip/hdr.h"

#define UP_BRANCH "z9hG4bKgwup"
#define UP_T1 500		/* ms, first retransmission */
#define UP_T2 4000
#define UP_TIMEOUT 32000	/* ms: no final answer -> failed */
#define UP_KEEPALIVE 30000	/* ms between CRLF keep-alives */

struct gw_uplink {
	struct gw *g;
	char call_id[40], tag[20], branch[40];
	uint32_t cseq, seq;
	char auth[1024];	/* Authorization header line, or "" */
	int answered;		/* this REGISTER answered a challenge */
	int registered;
	char req[2048];
	size_t req_len;
	unsigned retx_ms, waited_ms;
	struct ev_timer retx_t, refresh_t, ka_t;
	struct gw_backoff backoff;
};

static void rand_hex(char *dst, size_t nbytes)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char b[32];

	if (nbytes > sizeof(b) || getrandom(b, nbytes, 0) != (ssize_t)nbytes)
		memset(b, 0x5a, sizeof(b));
	for (size_t i = 0; i < nbytes; i++) {
		dst[2 * i] = hx[b[i] >> 4];
		dst[2 * i + 1] = hx[b[i] & 15];
	}
	dst[2 * nbytes] = '\0';
}

static void ruri_of(struct gw *g, char *dst, size_t cap)
{
	snprintf(dst, cap, "sip:%s", g->cfg->gatekeeper.text);
}

/* Writes the next REGISTER into u->req. 0 or ENOSPC. */
static int build(struct gw_uplink *u)
{
	struct gw *g = u->g;
	char ruri[96], via[160], from[160], to[128], contact[128], extra[1200];
	struct sip_request_spec s = { .method = "REGISTER", .ruri = ruri, .via = via,
	    .from = from, .to = to, .call_id = u->call_id, .contact = contact,
	    .extra = extra, .cseq = ++u->cseq, .max_forwards = 70 };

	ruri_of(g, ruri, sizeof(ruri));
	snprintf(u->branch, sizeof(u->branch), UP_BRANCH "%08x%u", u->seq++, u->cseq);
	snprintf(via, sizeof(via), "SIP/2.0/UDP %s:%u;branch=%s;rport",
	    g->first_text, g->cfg->sip_port, u->branch);
	snprintf(from, sizeof(from), "<sip:%s@%s>;tag=%s", g->cfg->flat,
	    g->cfg->gatekeeper.text, u->tag);
	snprintf(to, sizeof(to), "<sip:%s@%s>", g->cfg->flat, g->cfg->gatekeeper.text);
	snprintf(contact, sizeof(contact), "<sip:%s@%s:%u>", g->cfg->flat,
	    g->first_text, g->cfg->sip_port);
	snprintf(extra, sizeof(extra), "Expires: %u\r\n%s", g->cfg->reg_expires, u->auth);
	return sip_request_write(&s, u->req, sizeof(u->req), &u->req_len);
}

static void send_req(struct gw_uplink *u)
{
	if (gw_sip_send(u->g, u->req, u->req_len))
		log_warnx("gatekeeper %s: cannot send REGISTER", u->g->cfg->gatekeeper.text);
}

static void start_register(struct gw_uplink *u)
{
	if (build(u)) {
		log_warnx("gatekeeper: REGISTER does not fit");
		return;
	}
	u->retx_ms = UP_T1;
	u->waited_ms = 0;
	send_req(u);
	ev_timer_start(u->g->loop, &u->retx_t, u->retx_ms);
}

static void set_reachable(struct gw_uplink *u, int yes, const char *why)
{
	if (yes != u->registered || !yes)
		log_info("flat %s %s via gatekeeper %s%s%s", u->g->cfg->flat,
		    yes ? "reachable" : "NOT reachable", u->g->cfg->gatekeeper.text,
		    why ? ": " : "", why ? why : "");
	u->registered = yes;
	prom_set(u->g->m_reachable, yes);
}

/* After a failure: again with backoff, a fresh Call-ID. */
static void failed(struct gw_uplink *u, const char *why)
{
	ev_timer_stop(u->g->loop, &u->retx_t);
	set_reachable(u, 0, why);
	u->auth[0] = '\0';
	ev_timer_start(u->g->loop, &u->refresh_t,
	    gw_backoff_next(&u->backoff, u->g->cfg->retry_max));
}

static void retx_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw_uplink *u = arg;

	u->waited_ms += u->retx_ms;
	if (u->waited_ms >= UP_TIMEOUT) {
		failed(u, "no answer");
		return;
	}
	send_req(u);
	u->retx_ms = u->retx_ms * 2 > UP_T2 ? UP_T2 : u->retx_ms * 2;
	ev_timer_start(loop, t, u->retx_ms);
}

static void refresh_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw_uplink *u = arg;

	(void)loop;
	(void)t;
	u->answered = 0;
	u->auth[0] = '\0';	/* a fresh challenge: no nonce-count replay */
	start_register(u);
}

static void ka_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw_uplink *u = arg;

	if (u->registered)
		gw_sip_send(u->g, "\r\n\r\n", 4);
	ev_timer_start(loop, t, UP_KEEPALIVE);
}

/* The expiry the gatekeeper granted: "expires=" in a Contact, else
 * Expires, else what we asked. */
static unsigned granted(struct gw_uplink *u, const struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_CONTACT, 0);
	struct sip_str v;
	uint64_t n;
	const char *p;

	if (i >= 0) {
		v = m->hdrs[i].value;
		for (p = v.s; p + 8 < v.s + v.len; p++)
			if (strncasecmp(p, "expires=", 8) == 0) {
				struct sip_str d = { p + 8, 0 };

				while (p + 8 + d.len < v.s + v.len &&
				    p[8 + d.len] >= '0' && p[8 + d.len] <= '9')
					d.len++;
				if (sip_str_to_u64(d, 86400, &n) == 0)
					return (unsigned)n;
			}
	}
	if ((i = sip_msg_hdr_find(m, SIP_HDR_EXPIRES, 0)) >= 0 &&
	    sip_str_to_u64(m->hdrs[i].value, 86400, &n) == 0)
		return (unsigned)n;
	return u->g->cfg->reg_expires;
}

/* Answers a 401/407 challenge once. 0 or errno. */
static int answer(struct gw_uplink *u, const struct sip_msg *m)
{
	int i = sip_msg_hdr_find(m, m->status == 407 ? SIP_HDR_PROXY_AUTHENTICATE :
	    SIP_HDR_WWW_AUTHENTICATE, 0);
	struct sip_auth chal;
	const char *why;
	char ruri[96], cnonce[17], val[900];
	size_t len;

	if (i < 0 || sip_auth_parse(m->hdrs[i].value, &chal, &why))
		return EBADMSG;
	ruri_of(u->g, ruri, sizeof(ruri));
	rand_hex(cnonce, 8);
	if (sip_digest_answer(&chal, u->g->user, u->g->secret, SIP_STR("REGISTER"),
	    (struct sip_str){ ruri, strlen(ruri) }, 1, cnonce, val, sizeof(val), &len))
		return EBADMSG;
	snprintf(u->auth, sizeof(u->auth), "%s: %.*s\r\n", m->status == 407 ?
	    "Proxy-Authorization" : "Authorization", (int)len, val);
	u->answered = 1;
	start_register(u);
	return 0;
}

static void on_final(struct gw_uplink *u, const struct sip_msg *m)
{
	char why[64];
	unsigned exp;

	ev_timer_stop(u->g->loop, &u->retx_t);
	if ((m->status == 401 || m->status == 407) && !u->answered) {
		if (answer(u, m))
			failed(u, "a challenge we cannot answer");
		return;
	}
	u->answered = 0;
	if (m->status >= 300) {
		snprintf(why, sizeof(why), "answered %d", m->status);
		failed(u, why);
		return;
	}
	exp = granted(u, m);
	u->backoff.cur_s = 0;
	set_reachable(u, 1, NULL);
	ev_timer_start(u->g->loop, &u->refresh_t, (uint64_t)(exp > 10 ? exp / 2 : 5) * 1000);
}

int gw_uplink_response(struct gw *g, const struct sip_msg *m)
{
	struct gw_uplink *u = g->uplink;
	struct sip_via v;

	if (sip_msg_via(m, 0, &v) || v.branch.len < sizeof(UP_BRANCH) - 1 ||
	    memcmp(v.branch.s, UP_BRANCH, sizeof(UP_BRANCH) - 1))
		return 0;
	if (!u || !sip_str_eq(v.branch, u->branch) || !ev_timer_active(&u->retx_t))
		return 1;	/* a late or stray answer to an old REGISTER */
	if (m->status >= 200)
		on_final(u, m);
	return 1;
}

void gw_uplink_start(struct gw *g)
{
	struct gw_uplink *u = g->uplink;

	if (!u) {
		if (!(u = calloc(1, sizeof(*u)))) {
			log_warnx("gatekeeper: out of memory");
			return;
		}
		u->g = g;
		g->uplink = u;
		ev_timer_init(&u->retx_t, retx_timer, u);
		ev_timer_init(&u->refresh_t, refresh_timer, u);
		ev_timer_init(&u->ka_t, ka_timer, u);
		ev_timer_start(g->loop, &u->ka_t, UP_KEEPALIVE);
	}
	ev_timer_stop(g->loop, &u->retx_t);
	ev_timer_stop(g->loop, &u->refresh_t);
	rand_hex(u->call_id, 16);
	rand_hex(u->tag, 6);
	u->auth[0] = '\0';
	u->answered = 0;
	start_register(u);
}

void gw_uplink_free(struct gw *g)
{
	struct gw_uplink *u = g->uplink;

	if (!u)
		return;
	ev_timer_stop(g->loop, &u->retx_t);
	ev_timer_stop(g->loop, &u->refresh_t);
	ev_timer_stop(g->loop, &u->ka_t);
	explicit_bzero(u->auth, sizeof(u->auth));
	free(u);
	g->uplink = NULL;
}
