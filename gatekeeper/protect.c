/* gatekeeper/protect.c — the protections of guard.h wired into the
 * gatekeeper: the transport's pre-parse hook drops banned sources, a
 * scanner's User-Agent is dropped before the proxy core sees it, failed
 * REGISTER passwords lock a username at a source, bans go to dpn.gk_bans
 * through the ban writer and come back on start, NOTIFY 'unban' from mgmtd
 * lifts one, and everything is counted in /metrics. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/banlog.h"
#include "gatekeeper/gk.h"
#include "log.h"
#include "sip/digest.h"

#define BAN_QUEUE 4096

enum { D_BANNED, D_SCANNER, D_LOCKED, D_N };
enum { W_WRITTEN, W_DROPPED, W_FAILED, W_N };

#define PURGE_TICKS 3600	/* old bans forgotten hourly (and on start) */

struct gk_protect {
	struct gk_guard *guard;
	unsigned ticks;
	struct gk_banlog *log;
	struct gk_guard_stats told;	/* stats already in the counters */
	struct gk_banlog_stats wtold;
	uint64_t bad_told;
	struct prom_series *dropped[D_N], *bans[GK_BAN_REASONS], *in_force,
			   *auth_failed, *untracked, *writes[W_N], *bad;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gk_protect_trusted_check(const void *field, char *err, size_t cap)
{
	return gk_guard_trusted_check(*(char *const *)field, err, cap);
}

static void guard_cfg(const struct gk_protect_conf *c, struct gk_guard_cfg *o)
{
	*o = (struct gk_guard_cfg){ .window_ms = c->window_ms,
		.limit = c->limit, .ban_s = c->ban_s,
		.auth_fails = c->auth_fails, .auth_window_s = c->auth_window_s,
		.lock_s = c->lock_s, .src_auth_fails = c->src_auth_fails,
		.scanner_ban = c->scanner_ban, .max_entries = c->entries,
		.scanners = c->scanners, .trusted = c->trusted };
}

/* ---- metrics ---- */

/* Series of one family, one per value (values end in NULL). */
static int family(struct gk *g, enum prom_type t, const char *name,
		  const char *help, const char *label,
		  const char *const *values, struct prom_series **out)
{
	const char *labels[2] = { label, NULL };
	struct prom_family *f;
	int rc = prom_family_add(g->d->metrics, t, name, help,
				 label ? labels : NULL, NULL, 0, &f);

	if (!label)
		return rc ? rc : prom_series(f, NULL, out);
	for (int i = 0; rc == 0 && values[i]; i++) {
		const char *v[2] = { values[i], NULL };

		rc = prom_series(f, v, &out[i]);
	}
	return rc;
}

static int metrics_add(struct gk *g, struct gk_protect *p)
{
	static const char *const dropped[] = { "banned", "scanner", "locked",
					       NULL };
	static const char *const reasons[] = { "flood", "auth", "scanner",
					       "lockout", NULL };
	static const char *const writes[] = { "written", "dropped", "failed",
					      NULL };
	int rc = family(g, PROM_COUNTER, "dpn_gk_guard_dropped_total",
		"requests dropped or refused by the protections, by why",
		"reason", dropped, p->dropped);

	if (!rc)
		rc = family(g, PROM_COUNTER, "dpn_gk_guard_bans_total",
			    "bans and lockouts begun, by reason", "reason",
			    reasons, p->bans);
	if (!rc)
		rc = family(g, PROM_GAUGE, "dpn_gk_guard_bans",
			    "bans and lockouts in force", NULL, NULL,
			    &p->in_force);
	if (!rc)
		rc = family(g, PROM_COUNTER, "dpn_gk_guard_auth_failures_total",
			    "failed digest authentications", NULL, NULL,
			    &p->auth_failed);
	if (!rc)
		rc = family(g, PROM_COUNTER, "dpn_gk_guard_untracked_total",
			    "sources not tracked: the guard's table was full",
			    NULL, NULL, &p->untracked);
	if (!rc)
		rc = family(g, PROM_COUNTER, "dpn_gk_guard_ban_writes_total",
			    "ban rows written to PostgreSQL, by result",
			    "result", writes, p->writes);
	if (!rc)
		rc = family(g, PROM_COUNTER, "dpn_gk_guard_bad_messages_total",
			    "malformed or oversized SIP messages", NULL, NULL,
			    &p->bad);
	return rc;
}

static void bump(struct prom_series *s, uint64_t now, uint64_t *told)
{
	prom_inc(s, now - *told);
	*told = now;
}

static void metrics_sync(struct gk *g, struct gk_protect *p, unsigned bans)
{
	const struct gk_guard_stats *s = gk_guard_stats(p->guard);
	struct gk_banlog_stats w;

	bump(p->dropped[D_BANNED], s->dropped_banned, &p->told.dropped_banned);
	bump(p->dropped[D_SCANNER], s->dropped_scanner,
	     &p->told.dropped_scanner);
	bump(p->dropped[D_LOCKED], s->refused_locked, &p->told.refused_locked);
	for (int i = 0; i < GK_BAN_REASONS; i++)
		bump(p->bans[i], s->bans[i], &p->told.bans[i]);
	bump(p->auth_failed, s->auth_failures, &p->told.auth_failures);
	bump(p->untracked, s->untracked, &p->told.untracked);
	prom_set(p->in_force, bans);
	gk_banlog_stats(p->log, &w);
	bump(p->writes[W_WRITTEN], w.written, &p->wtold.written);
	bump(p->writes[W_DROPPED], w.dropped, &p->wtold.dropped);
	bump(p->writes[W_FAILED], w.failed, &p->wtold.failed);
	if (g->tp)
		bump(p->bad, sip_tp_stats(g->tp)->rx_bad, &p->bad_told);
}

/* ---- bans in the database ---- */

static void on_ban(void *arg, const struct gk_ban *b, int ended)
{
	/* a spoofed flood may begin many bans a second: rate-limited */
	static struct log_rl rl = LOG_RL_INIT(20, 60);
	struct gk *g = arg;
	char a[64];
	unsigned port;
	struct sip_peer p = { .sa = b->addr };

	if (!ended && b->hits == 0) {
		sip_peer_addr(&p, a, sizeof(a), &port);
		log_warnx_rl(&rl, "gatekeeper: %s%s%s %s for %llus (%s)", a,
			     b->user[0] ? " user " : "", b->user,
			     b->user[0] ? "locked" : "banned",
			     (unsigned long long)(b->until_ms - b->since_ms) /
			     1000, gk_ban_reason_name(b->reason));
	}
	gk_banlog_push(g->prot->log, b, ended);
}

static const struct gk_guard_ops guard_ops = { .ban = on_ban };

static int reason_of(const char *s, enum gk_ban_reason *out)
{
	for (int i = 0; i < GK_BAN_REASONS; i++)
		if (strcmp(s, gk_ban_reason_name((enum gk_ban_reason)i)) == 0) {
			*out = (enum gk_ban_reason)i;
			return 0;
		}
	return EINVAL;
}

/* addr (numeric) into ss. 0 or EINVAL. */
static int addr_parse(const char *addr, struct sockaddr_storage *ss)
{
	struct sip_peer p;

	if (sip_peer_set(&p, SIP_PROTO_UDP, (struct sip_str){ addr,
			 strlen(addr) }, 1))
		return EINVAL;
	*ss = p.sa;
	return 0;
}

static int ban_of_row(PGresult *r, int i, struct gk_ban *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->user, sizeof(b->user), "%s", PQgetvalue(r, i, 1));
	b->since_ms = strtoull(PQgetvalue(r, i, 3), NULL, 10);
	b->until_ms = strtoull(PQgetvalue(r, i, 4), NULL, 10);
	b->hits = strtoull(PQgetvalue(r, i, 5), NULL, 10);
	if (reason_of(PQgetvalue(r, i, 2), &b->reason))
		return EINVAL;
	return addr_parse(PQgetvalue(r, i, 0), &b->addr);
}

/* The site's bans still in force back into the guard. */
static void restore(struct gk *g)
{
	char id[24];
	const char *v[1] = { id };
	struct gk_ban b;
	PGresult *r;
	int n, ok = 0;

	snprintf(id, sizeof(id), "%lld", (long long)g->site_id);
	r = PQexecParams(g->pg, "SELECT host(source), username, reason, "
		"(extract(epoch FROM since) * 1000)::bigint, "
		"(extract(epoch FROM until_at) * 1000)::bigint, hits FROM "
		"dpn.gk_bans WHERE site_id = $1 AND until_at > now()", 1, NULL,
		v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("gatekeeper: bans not restored: %s",
			  PQerrorMessage(g->pg));
		PQclear(r);
		return;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++)
		if (ban_of_row(r, i, &b) == 0 &&
		    gk_guard_restore(g->prot->guard, &b, wall_ms()) == 0)
			ok++;
	PQclear(r);
	if (n)
		log_info("gatekeeper: %d of %d bans restored", ok, n);
}

/* ---- life ---- */

int gk_protect_start(struct gk *g)
{
	struct gk_protect *p = calloc(1, sizeof(*p));
	struct gk_guard_cfg gc;
	int rc;

	if (!p)
		return ENOMEM;
	g->prot = p;
	guard_cfg(&g->cfg->prot, &gc);
	rc = metrics_add(g, p);
	if (!rc)
		rc = gk_guard_new(&gc, &guard_ops, g, &p->guard);
	if (!rc)
		rc = gk_banlog_new(g->cfg->db, g->site_id, BAN_QUEUE, &p->log);
	if (rc) {
		log_warnx("gatekeeper: protections: %s", strerror(rc));
		return rc;
	}
	restore(g);
	gk_protect_peers(g);	/* after restore: lifts a peer's old ban */
	return 0;
}

void gk_protect_peers(struct gk *g)
{
	const struct gk_routes *t = g->routes;
	struct sockaddr_storage *a;
	unsigned n = t ? t->npeers : 0;
	int rc = ENOMEM;

	if (!g->prot)
		return;		/* not started yet: gk_protect_start asks */
	if ((a = calloc(n ? n : 1, sizeof(*a))) != NULL) {
		for (unsigned i = 0; i < n; i++)
			a[i] = t->peers[i].to.sa;
		rc = gk_guard_set_peers(g->prot->guard, a, n);
		free(a);
	}
	if (rc)
		log_warnx("gatekeeper: route peers not exempted from the "
			  "flood limit: %s", strerror(rc));
}

void gk_protect_stop(struct gk *g)
{
	if (!g->prot)
		return;
	gk_banlog_free(g->prot->log);
	gk_guard_free(g->prot->guard);
	free(g->prot);
	g->prot = NULL;
}

void gk_protect_reload(struct gk *g)
{
	struct gk_guard_cfg gc;

	guard_cfg(&g->cfg->prot, &gc);
	if (gk_guard_set(g->prot->guard, &gc))
		log_warnx("gatekeeper: reload: protections not changed");
}

void gk_protect_tick(struct gk *g)
{
	struct gk_protect *p = g->prot;

	if (p->ticks++ % PURGE_TICKS == 0)
		gk_banlog_push(p->log, NULL, GK_BANLOG_PURGE);
	metrics_sync(g, p, gk_guard_sweep(p->guard, wall_ms()));
}

/* ---- hooks ---- */

static int admit(void *arg, const struct sip_peer *from, const char *buf,
		 size_t len)
{
	struct gk *g = arg;

	if (!buf)	/* a TCP connection: refused only while banned */
		return gk_guard_admit(g->prot->guard, (const void *)&from->sa,
				      "SIP/", 4, wall_ms());
	return gk_guard_admit(g->prot->guard, (const void *)&from->sa, buf, len,
			      wall_ms());
}

void gk_protect_tp(struct gk *g, struct sip_tp_cfg *tc)
{
	tc->admit = admit;
	tc->max_msg = (size_t)g->cfg->prot.max_msg;
}

int gk_protect_msg(struct gk *g, const struct sip_msg *m,
		   const struct sip_peer *from)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_USER_AGENT, 0);

	if (i < 0 || !m->is_request)
		return 0;
	return gk_guard_scanner(g->prot->guard, (const void *)&from->sa,
				m->hdrs[i].value.s, m->hdrs[i].value.len,
				wall_ms());
}

/* The digest username of m's Authorization for realm "dpn" (the one the
 * registrar checks: an attacker must not dodge the count with a decoy
 * header before it) into user; "" when none or malformed. */
static void auth_user(const struct sip_msg *m, char *user, size_t cap)
{
	struct sip_auth a;
	struct sip_str u, realm;
	int i = -1;

	user[0] = '\0';
	while ((i = sip_msg_hdr_find(m, SIP_HDR_AUTHORIZATION,
				     (unsigned)(i + 1))) >= 0) {
		if (sip_auth_parse(m->hdrs[i].value, &a, NULL))
			return;
		if (sip_auth_param(&a, "realm", &realm) &&
		    sip_str_eq(realm, "dpn"))
			break;
	}
	if (i < 0 || sip_digest_username(&a, &u))
		return;
	snprintf(user, cap, "%.*s", (int)u.len, u.s);
	for (char *c = user; *c; c++)	/* logged and stored: printable */
		if (*c < 0x21 || *c > 0x7e)
			*c = '?';
}

int gk_protect_register(struct gk *g, struct sip_fork *f,
			const struct sip_msg *m, const struct sip_peer *from)
{
	char user[GK_GUARD_USER_MAX];

	auth_user(m, user, sizeof(user));
	if (!gk_guard_locked(g->prot->guard, user, (const void *)&from->sa,
			     wall_ms()))
		return 0;
	sip_fork_reply(f, 403, "Too many failed attempts", NULL);
	return 1;
}

void gk_protect_register_done(struct gk *g, const struct sip_msg *m,
			      const struct sip_peer *from,
			      const struct sip_reg_answer *ans)
{
	char user[GK_GUARD_USER_MAX];
	int failed = ans->status == 401 || ans->status == 403;

	if (ans->status != 200 && !failed)
		return;
	auth_user(m, user, sizeof(user));
	/* 401 with stale=true: a nonce aged out, not a wrong password */
	if (!user[0] || (ans->status == 401 &&
			 memmem(ans->extra, ans->extra_len, "stale=true", 10)))
		return;
	gk_guard_auth(g->prot->guard, user, (const void *)&from->sa, !failed,
		      wall_ms());
}

int gk_protect_notify(struct gk *g, const char *payload)
{
	long long site;
	char addr[64];
	const char *user;
	struct sockaddr_storage ss;
	int n = 0;

	if (!g->prot || sscanf(payload, "unban %lld %63s%n", &site, addr,
			       &n) < 2 || !n)
		return 0;
	user = payload[n] == ' ' ? payload + n + 1 : "";	/* the rest */
	if (site != g->site_id || addr_parse(addr, &ss))
		return 1;
	if (gk_guard_lift(g->prot->guard, (const void *)&ss, user) == 0)
		log_info("gatekeeper: %s%s%s unbanned by an operator", addr,
			 user[0] ? " user " : "", user);
	return 1;
}
