/* gatewayd/settings.c — the flat settings from mgmtd and the calls they
 * shape (see settings.h): do-not-disturb, the ring timeout of each fork and
 * the forward through the gatekeeper. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/gw.h"
#include "gatewayd/settings.h"
#include "gatewayd/sip.h"
#include "log.h"
#include "prom.h"
#include "sip/core.h"
#include "sip/hdr.h"

#define FWD_NO_ANSWER 1
#define FWD_UNREGISTERED 2
#define RING_MIN_S 5
#define RING_MAX_S 90

static struct {
	unsigned ring_s;	/* 0: the ring-timeout setting */
	unsigned when;		/* FWD_* bits */
	char to[129];		/* a number or a sip:/sips: URI */
	struct prom_series *dnd_skipped, *dnd_refused, *timeouts,
	    *fwd_no_answer, *fwd_unregistered, *fwd_failed;
} S;

static struct log_rl set_rl = LOG_RL_INIT(10, 60);

/* One call whose handsets ring: the fork and its ring timeout. */
struct gw_call {
	struct gw *g;
	struct sip_fork *f;
	struct ev_timer t;
	int flat;
};

/* ---- metrics ------------------------------------------------------------- */

static int family(struct gw *g, const char *name, const char *help,
		  const char *label, const char *const *values,
		  struct prom_series **out[])
{
	const char *labels[] = { label, NULL };
	struct prom_family *f;

	if (prom_family_add(g->d->metrics, PROM_COUNTER, name, help,
	    label ? labels : NULL, NULL, 0, &f))
		return ENOMEM;
	for (unsigned i = 0; out[i]; i++)
		if (prom_series(f, label ? (const char *[]){ values[i], NULL } : NULL, out[i]))
			return ENOMEM;
	return 0;
}

int gw_settings_metrics(struct gw *g)
{
	return family(g, "dpn_gw_dnd_total", "Handsets on do-not-disturb skipped "
	    "by a flat call or refused (486) when dialled.", "action",
	    (const char *[]){ "skipped", "refused" },
	    (struct prom_series **[]){ &S.dnd_skipped, &S.dnd_refused, NULL }) ||
	    family(g, "dpn_gw_ring_timeouts_total", "Calls whose handsets rang "
	    "for the ring timeout without an answer.", NULL, NULL,
	    (struct prom_series **[]){ &S.timeouts, NULL }) ||
	    family(g, "dpn_gw_forwarded_total", "Flat calls forwarded through the "
	    "gatekeeper, by why (failed: the forward could not be sent).", "why",
	    (const char *[]){ "no_answer", "unregistered", "failed" },
	    (struct prom_series **[]){ &S.fwd_no_answer, &S.fwd_unregistered,
	    &S.fwd_failed, NULL }) ? ENOMEM : 0;
}

/* ---- settings from mgmtd ------------------------------------------------- */

/* A dialable number (an optional +, digits and dashes) or a sip:/sips: URI
 * with a user part and no ?headers: what may go into the forward's
 * Request-URI (mgmtd checks the same; this is the box's own check). */
static int target_ok(const char *s)
{
	struct sip_uri u;
	const char *why, *d = s + (*s == '+');

	if (*d && strlen(d) <= 32 && strspn(d, "0123456789-") == strlen(d))
		return 1;
	return sip_uri_parse((struct sip_str){ s, strlen(s) }, &u, &why) == 0 &&
	    (u.scheme == SIP_SCHEME_SIP || u.scheme == SIP_SCHEME_SIPS) &&
	    u.has_user && u.host.len > 0 && u.headers.len == 0;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The "settings" object into S; a bad part is the default. */
static void take_flat(struct gw *g, json_object *s)
{
	const char *when = str_of(s, "forward_when"), *to = str_of(s, "forward_to");
	json_object *v;
	int64_t ring = 0;

	if (json_object_object_get_ex(s, "ring_timeout", &v) &&
	    json_object_is_type(v, json_type_int))
		ring = json_object_get_int64(v);
	S.ring_s = ring >= RING_MIN_S && ring <= RING_MAX_S ? (unsigned)ring : 0;
	S.when = 0;
	if (when && (!strcmp(when, "no_answer") || !strcmp(when, "both")))
		S.when |= FWD_NO_ANSWER;
	if (when && (!strcmp(when, "unregistered") || !strcmp(when, "both")))
		S.when |= FWD_UNREGISTERED;
	S.to[0] = '\0';
	if (to && strlen(to) < sizeof(S.to) && target_ok(to))
		memcpy(S.to, to, strlen(to) + 1);
	else if (to)
		log_warnx_rl(&set_rl, "flat %s: forward_to %.64s is not a number or "
		    "SIP URI; not forwarded", g->cfg->flat, to);
	if (!S.to[0])
		S.when = 0;
}

void gw_settings_take(struct gw *g, json_object *o)
{
	json_object *s, *arr, *v;
	size_t n = 0;

	if (json_object_object_get_ex(o, "settings", &s) &&
	    json_object_is_type(s, json_type_object))
		take_flat(g, s);
	else
		take_flat(g, NULL);
	if (json_object_object_get_ex(o, "handsets", &arr) &&
	    json_object_is_type(arr, json_type_array))
		n = json_object_array_length(arr);
	for (unsigned i = 0; i < g->nhs && i < n; i++) {
		json_object *h = json_object_array_get_idx(arr, i);

		g->hs[i].dnd = json_object_object_get_ex(h, "dnd", &v) &&
		    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	}
	log_info("flat %s: ring timeout %u s, forward %s%s%s", g->cfg->flat,
	    S.ring_s ? S.ring_s : g->cfg->ring_timeout, S.when ? S.to : "off",
	    S.when & FWD_NO_ANSWER ? " on no answer" : "",
	    S.when & FWD_UNREGISTERED ? " when nobody is registered" : "");
}

int gw_dnd(struct gw *g, const struct gw_handset *h, int direct)
{
	if (!h->dnd || !gw_sip_binding(g, h->number))
		return 0;
	prom_inc(direct ? S.dnd_refused : S.dnd_skipped, 1);
	return 1;
}

/* ---- forward ------------------------------------------------------------- */

/* One more branch of f, to the gatekeeper: the flat's call to the target
 * (see settings.h). The branch is written when it starts, so the request
 * is edited after adding it. 0, EINVAL (f was answered meanwhile), errno. */
static int forward_add(struct gw *g, struct sip_fork *f, const char *reason)
{
	struct sip_msg *m = sip_fork_request_edit(f);
	char ruri[sizeof(S.to) + 64], div[NUMPLAN_MAX_LEN + ADDR4_STRLEN + 48];
	int rc, k;

	if (!m || !S.to[0])
		return EINVAL;
	if (strncmp(S.to, "sip", 3) == 0)
		k = snprintf(ruri, sizeof(ruri), "%s", S.to);
	else
		k = snprintf(ruri, sizeof(ruri), "sip:%s@%s", S.to, gw_sip_gatekeeper_text(g));
	if ((rc = sip_fork_add(f, ruri, (size_t)k, gw_sip_gatekeeper(g), 1000)))
		return rc;
	snprintf(div, sizeof(div), "<sip:%s@%s>;reason=%s", g->cfg->flat,
	    g->first_text, reason);
	if (gw_sip_assert_identity(g, f, g->cfg->flat) ||
	    sip_msg_hdr_insert(m, m->nhdrs, SIP_HDR_OTHER, "Diversion", div, strlen(div)))
		log_warnx_rl(&set_rl, "flat %s: forward without our identity headers "
		    "(no room)", g->cfg->flat);
	return 0;
}

static void ring_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw_call *c = arg;
	const struct sip_msg *m = sip_fork_request(c->f);
	struct sip_str cid = { "", 0 };
	int fwd = c->flat && (S.when & FWD_NO_ANSWER), rc;

	(void)loop;
	(void)t;
	if (fwd && (rc = forward_add(c->g, c->f, "no-answer"))) {
		if (rc == EINVAL)
			return;	/* answered meanwhile */
		prom_inc(S.fwd_failed, 1);
		fwd = 0;
	}
	if (sip_fork_cancel_branches(c->f, 408))
		return;	/* answered meanwhile */
	prom_inc(S.timeouts, 1);
	if (fwd)
		prom_inc(S.fwd_no_answer, 1);
	if (m)
		sip_msg_callid(m, &cid);
	log_info("call %.*s: no answer in %u s; %s", (int)(cid.len < 64 ? cid.len : 64),
	    cid.s, S.ring_s ? S.ring_s : c->g->cfg->ring_timeout,
	    fwd ? "forwarded through the gatekeeper" : "408");
}

void gw_ring_arm(struct gw *g, struct sip_fork *f, int flat)
{
	struct gw_call *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	*c = (struct gw_call){ .g = g, .f = f, .flat = flat };
	ev_timer_init(&c->t, ring_timeout, c);
	ev_timer_start(g->loop, &c->t, 1000ULL * (S.ring_s ? S.ring_s : g->cfg->ring_timeout));
	sip_fork_set_user(f, c);
}

void gw_ring_done(struct gw *g, struct sip_fork *f)
{
	struct gw_call *c = sip_fork_user(f);

	if (!c)
		return;
	ev_timer_stop(g->loop, &c->t);
	free(c);
	sip_fork_set_user(f, NULL);
}

void gw_ring_none(struct gw *g, struct sip_fork *f, unsigned dnd, const char *cid)
{
	if (dnd) {
		sip_fork_reply(f, 486, "Do Not Disturb", NULL);
		return;
	}
	if (!(S.when & FWD_UNREGISTERED)) {
		sip_fork_reply(f, 480, NULL, NULL);
		return;
	}
	if (forward_add(g, f, "unavailable") || sip_fork_start(f, 0)) {
		prom_inc(S.fwd_failed, 1);
		sip_fork_reply(f, 500, NULL, NULL);
		return;
	}
	prom_inc(S.fwd_unregistered, 1);
	log_info("call %s: nobody registered; forwarded through the gatekeeper", cid);
}
