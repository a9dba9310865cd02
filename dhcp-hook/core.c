/* dhcp-hook/core.c — the hook's decisions, event writer and counters (see
 * core.h). The identify path borrows a connection from a locked pool (Kea
 * may call it from several packet threads); the writer thread owns one
 * connection of its own. After a database error the core stops trying for
 * cfg.retry_ms so that a dead server costs Kea no time per packet. */
#include "dhcp-hook/core.h"
#include "dhcp-hook/enrol.h"
#include "dhcp-hook/pg.h"
#include "lib/addr.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 64
#define LOG_EVERY_MS 30000
#define LINGER_MS 100

struct dhcp_core {
	struct dhcp_cfg cfg;
	struct dhcp_cache *cache;
	struct dhcp_queue *queue;
	struct dhcp_seen *seen;
	struct dhcp_hostcache *hc;	/* NULL: off */
	struct dhcp_enrol_group *enrol;	/* first sights sharing a commit */

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	PGconn *conns[POOL_MAX];
	int busy[POOL_MAX];

	pthread_t writer;
	atomic_int stop;
	atomic_llong retry_at_ms;	/* identify skips the db until then */
	atomic_llong logged_at_ms;	/* last database error logged */
	atomic_llong spoof_logged_ms;	/* last refused RELEASE/DECLINE logged */
	atomic_llong stmt_logged_ms;	/* last statement error logged */
	int suspect;			/* writer only: last batch refused */

	atomic_ullong enrolled, known, lookups, dropped_unknown,
		      dropped_invalid, refused, release_refused, decline_refused,
		      enrol_failed, enrol_asked, enrol_txns, db_skipped,
		      events_queued,
		      events_written, events_dropped, events_coalesced, db_errors,
		      db_reconnects, gateways_deleted;
};

void dhcp_cfg_defaults(struct dhcp_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->db_pool = 4;
	cfg->db_timeout_ms = 2000;
	cfg->retry_ms = 1000;
	cfg->queue_size = 8192;
	cfg->batch = 256;
	cfg->cache_size = 65536;
	cfg->cache_ttl_s = 300;
	cfg->unknown_ttl_s = 10;
	cfg->grace_s = 300;
	cfg->probation_s = 86400;
	cfg->sweep_s = 5;
	cfg->seen_s = 60;
	cfg->drop_unknown = 1;
	cfg->enrol = 1;
	/* Each enrolment opens a subtransaction or two (its EXCEPTION
	 * blocks); past 64 in one transaction PostgreSQL's snapshots of every
	 * session get slower (subxid cache overflow). */
	cfg->enrol_batch = 16;
	cfg->host_cache = 1;
	cfg->hc_size = 131072;
	cfg->hc_ttl_s = 300;
}

static int cfg_bad(char *err, size_t errlen, const char *name)
{
	snprintf(err, errlen, "dpn dhcp hook: parameter '%s' missing or out of range",
		 name);
	return EINVAL;
}

int dhcp_cfg_check(const struct dhcp_cfg *c, char *err, size_t errlen)
{
	if (c->conninfo[0] == '\0')
		return cfg_bad(err, errlen, "database");
	if (c->db_pool < 1 || c->db_pool > POOL_MAX)
		return cfg_bad(err, errlen, "db-pool");
	if (c->db_timeout_ms < 100 || c->db_timeout_ms > 60000)
		return cfg_bad(err, errlen, "db-timeout-ms");
	if (c->retry_ms < 10 || c->retry_ms > 600000)
		return cfg_bad(err, errlen, "db-retry-ms");
	if (c->queue_size < 1 || c->queue_size > (1u << 20))
		return cfg_bad(err, errlen, "queue-size");
	if (c->batch < 1 || c->batch > DHCP_BATCH_MAX)
		return cfg_bad(err, errlen, "batch-size");
	if (c->cache_size < 1 || c->cache_size > (1u << 24))
		return cfg_bad(err, errlen, "cache-size");
	if (c->cache_ttl_s > 86400)
		return cfg_bad(err, errlen, "cache-ttl");
	if (c->unknown_ttl_s > 86400)
		return cfg_bad(err, errlen, "unknown-ttl");
	if (c->grace_s > 30 * 86400)
		return cfg_bad(err, errlen, "gateway-grace");
	if (c->probation_s > 30 * 86400)
		return cfg_bad(err, errlen, "decline-probation");
	if (c->sweep_s < 1 || c->sweep_s > 3600)
		return cfg_bad(err, errlen, "sweep-interval");
	if (c->seen_s > 86400)
		return cfg_bad(err, errlen, "seen-interval");
	if (c->enrol_batch < 1 || c->enrol_batch > DHCP_ENROL_BATCH_MAX)
		return cfg_bad(err, errlen, "enrol-batch");
	if (c->hc_size < 1 || c->hc_size > (1u << 24))
		return cfg_bad(err, errlen, "host-cache-size");
	if (c->hc_ttl_s < 1 || c->hc_ttl_s > 86400)
		return cfg_bad(err, errlen, "host-cache-ttl");
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void core_log(struct dhcp_core *core, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void core_log(struct dhcp_core *core, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!core->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	core->cfg.log(level, line);
}

/* Logs a database failure at most once per back-off period, counts it and
 * starts the back-off. */
static void db_failed(struct dhcp_core *core, const char *what, PGconn *conn)
{
	int64_t now = mono_ms();
	long long prev = atomic_exchange(&core->retry_at_ms,
					 now + core->cfg.retry_ms);

	atomic_fetch_add(&core->db_errors, 1);
	/* One line per outage and then one per LOG_EVERY_MS at most. */
	if (prev <= now && now - atomic_load(&core->logged_at_ms) >= LOG_EVERY_MS) {
		atomic_store(&core->logged_at_ms, now);
		core_log(core, 0, "%s failed: %.300s", what,
			 conn ? PQerrorMessage(conn) : "no connection");
	}
}

/* Whether a failed statement says the database is gone or too slow: the
 * connection is lost, the statement timed out (57014), or the result
 * carries no SQLSTATE at all (it was made by libpq, not the server). */
static int db_gone(PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return PQstatus(conn) != CONNECTION_OK || !state || !strcmp(state, "57014");
}

/* A statement failed on conn (res: its result, may be NULL). Only a
 * database that is gone or too slow to answer (connection lost, statement
 * timeout) starts the back-off that makes every packet skip it: an error of
 * one statement on a live connection (a lock timeout, a constraint, a
 * deadlock between two enrolments in different packet threads) is counted
 * and logged (once per LOG_EVERY_MS) but leaves the other packets alone. */
static void db_statement_failed(struct dhcp_core *core, const char *what,
				PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int64_t now = mono_ms();

	if (db_gone(conn, res)) {
		db_failed(core, what, conn);
		return;
	}
	atomic_fetch_add(&core->db_errors, 1);
	if (now - atomic_load(&core->stmt_logged_ms) < LOG_EVERY_MS)
		return;
	atomic_store(&core->stmt_logged_ms, now);
	core_log(core, 0, "%s failed (SQLSTATE %s, further ones counted, logged "
		 "every 30 s): %.300s", what, state, PQerrorMessage(conn));
}

/* Whether a failed statement lost a race with another transaction
 * (serialization failure, deadlock) and may simply be tried again. */
static int db_lost_race(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state && (!strcmp(state, "40001") || !strcmp(state, "40P01"));
}

/* A usable connection (reconnecting if needed) or NULL. */
static PGconn *db_ready(struct dhcp_core *core, PGconn **slot)
{
	if (*slot && PQstatus(*slot) == CONNECTION_OK)
		return *slot;
	if (*slot)
		PQfinish(*slot);
	*slot = dhcp_pg_connect(core->cfg.conninfo, core->cfg.db_timeout_ms,
				 "dpn-dhcp-hook");
	if (*slot && PQstatus(*slot) == CONNECTION_OK)
		return *slot;
	db_failed(core, "connect", *slot);
	return NULL;
}

/* Runs sql on the connection in *slot (made ready by the caller). A
 * connection the statement finds lost is made again and the statement run
 * once more: after PostgreSQL restarts, every idle pooled connection is
 * dead, and libpq only learns it by using one, so without this each would
 * cost a packet (a first-sight device got no address) and start the
 * back-off that makes every packet skip the database. A statement whose
 * connection broke after its commit is safe to repeat: each one the hook
 * sends is a transaction of its own that answers the same when repeated.
 * The result (NULL only when the new connection failed: db_ready counted
 * it); read *slot, not the old pointer, afterwards. */
static PGresult *db_exec(struct dhcp_core *core, PGconn **slot,
			 const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(*slot, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_FATAL_ERROR ||
	    PQstatus(*slot) == CONNECTION_OK)
		return res;
	PQclear(res);
	atomic_fetch_add(&core->db_reconnects, 1);
	if (!db_ready(core, slot))
		return NULL;
	return PQexecParams(*slot, sql, n, NULL, params, NULL, NULL, 0);
}

static int pool_take(struct dhcp_core *core)
{
	unsigned i;
	int idx = -1;

	pthread_mutex_lock(&core->pool_lock);
	while (idx < 0) {
		for (i = 0; i < core->cfg.db_pool && idx < 0; i++)
			if (!core->busy[i])
				idx = (int)i;
		if (idx < 0)
			pthread_cond_wait(&core->pool_cond, &core->pool_lock);
	}
	core->busy[idx] = 1;
	pthread_mutex_unlock(&core->pool_lock);
	return idx;
}

static void pool_give(struct dhcp_core *core, int idx)
{
	pthread_mutex_lock(&core->pool_lock);
	core->busy[idx] = 0;
	pthread_cond_signal(&core->pool_cond);
	pthread_mutex_unlock(&core->pool_lock);
}

enum db_answer { ANS_ERROR, ANS_KNOWN, ANS_ENROLLED, ANS_MOVED, ANS_UNKNOWN,
		 ANS_ABSENT, ANS_FULL };

static enum db_answer answer_parse(const char *s)
{
	static const struct { const char *word; enum db_answer a; } map[] = {
		{ "known", ANS_KNOWN }, { "enrolled", ANS_ENROLLED },
		{ "moved", ANS_MOVED },
		{ "unknown-circuit", ANS_UNKNOWN }, { "absent", ANS_ABSENT },
		{ "full", ANS_FULL },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(s, map[i].word))
			return map[i].a;
	return ANS_ERROR;
}

/* Asks dpn.dhcp_identify (schema/010_dhcp.sql) about one device on the
 * ready connection in *slot, in a transaction of its own (tried once more
 * if it lost a race; see db_exec for a lost connection). */
static enum db_answer identify_on(struct dhcp_core *core, PGconn **slot,
				  const struct dhcp_enrol_req *r, int enrol)
{
	char sid[16];
	const char *params[4] = { sid, r->circuit, r->mac, enrol ? "t" : "f" };
	enum db_answer a = ANS_ERROR;
	PGresult *res = NULL;

	snprintf(sid, sizeof(sid), "%u", r->subnet_id);
	for (int tries = 0; tries < 2; tries++) {
		PQclear(res);
		res = db_exec(core, slot, "SELECT dpn.dhcp_identify($1::bigint, "
			      "$2::text, $3::macaddr, $4::boolean)", 4, params);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR || !res ||
		    !db_lost_race(res))
			break;
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		a = answer_parse(PQgetvalue(res, 0, 0));
	else
		db_statement_failed(core, "dpn.dhcp_identify", *slot, res);
	PQclear(res);
	return a;
}

static const char *answer_word(enum db_answer a)
{
	switch (a) {
	case ANS_KNOWN: return "known";
	case ANS_ENROLLED: return "enrolled";
	case ANS_MOVED: return "moved";
	case ANS_UNKNOWN: return "unknown-circuit";
	case ANS_ABSENT: return "absent";
	case ANS_FULL: return "full";
	case ANS_ERROR: break;
	}
	return "";
}

/* The enrolment group's run function: the batch in one transaction. When
 * that fails on a live connection (one device's enrolment raised an error
 * the broker does not answer with a word, or a deadlock), or finds its
 * connection lost (db_exec), each is asked again alone, so that one bad
 * device costs the others nothing. */
static void enrol_run(void *arg, struct dhcp_enrol_req **reqs, size_t n)
{
	struct dhcp_core *core = arg;
	int idx = pool_take(core);
	PGconn **slot = &core->conns[idx];
	PGresult *res = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		reqs[i]->answer[0] = '\0';
	if (!db_ready(core, slot))
		goto out;
	atomic_fetch_add(&core->lookups, n);
	atomic_fetch_add(&core->enrol_asked, n);
	atomic_fetch_add(&core->enrol_txns, 1);
	if (n > 1 && !(res = dhcp_enrol_exec(*slot, reqs, n)))
		goto out;
	if (res && db_gone(*slot, res) && PQstatus(*slot) == CONNECTION_OK) {
		db_statement_failed(core, "dpn.dhcp_identify (grouped)", *slot, res);
		goto out;
	}
	if (res)	/* the group's transaction was rolled back: one each */
		atomic_fetch_add(&core->enrol_txns, n);
	for (i = 0; i < n && (i == 0 || PQstatus(*slot) == CONNECTION_OK); i++)
		snprintf(reqs[i]->answer, sizeof(reqs[i]->answer), "%s",
			 answer_word(identify_on(core, slot, reqs[i], 1)));
out:
	PQclear(res);
	pool_give(core, idx);
}

/* Asks the database about one device: a first-sight DISCOVER (enrol)
 * through the enrolment group, anything else on a pooled connection. */
static enum db_answer db_identify(struct dhcp_core *core, uint32_t subnet_id,
				  const uint8_t *circuit, size_t clen,
				  const uint8_t *mac, int enrol)
{
	struct dhcp_enrol_req r = { .subnet_id = subnet_id };
	enum db_answer a = ANS_ERROR;
	int idx;

	memcpy(r.circuit, circuit, clen);
	r.circuit[clen] = '\0';
	mac_format(mac, r.mac);
	if (enrol) {
		dhcp_enrol_group_do(core->enrol, &r, enrol_run, core);
		return answer_parse(r.answer);
	}
	idx = pool_take(core);
	if (db_ready(core, &core->conns[idx])) {
		atomic_fetch_add(&core->lookups, 1);
		a = identify_on(core, &core->conns[idx], &r, 0);
	}
	pool_give(core, idx);
	return a;
}

static enum dhcp_verdict drop_invalid(struct dhcp_core *core)
{
	atomic_fetch_add(&core->dropped_invalid, 1);
	return core->cfg.drop_unknown ? DHCP_DROP : DHCP_SERVE;
}

/* Turns the database's answer into a verdict, updating cache and counters. */
static enum dhcp_verdict apply_answer(struct dhcp_core *core, enum db_answer a,
				      uint64_t gen, const uint8_t *dkey,
				      size_t dlen, const uint8_t *ckey, size_t cl)
{
	uint64_t now_s = (uint64_t)(mono_ms() / 1000);

	switch (a) {
	case ANS_MOVED:
		/* Enrolment moved the flat's block, and with it the
		 * reservations of its other devices: their notifications come
		 * on another connection a moment later, so do not wait. Any
		 * other enrolment leaves every cached reservation true. */
		if (core->hc)
			dhcp_hostcache_flush(core->hc);
		/* fall through */
	case ANS_ENROLLED:
		atomic_fetch_add(&core->enrolled, 1);
		/* fall through */
	case ANS_KNOWN:
		dhcp_cache_put_since(core->cache, dkey, dlen, DHCP_CACHE_KNOWN,
				     now_s, core->cfg.cache_ttl_s, gen);
		return DHCP_SERVE;
	case ANS_UNKNOWN:
		dhcp_cache_put_since(core->cache, ckey, cl, DHCP_CACHE_UNKNOWN,
				     now_s, core->cfg.unknown_ttl_s, gen);
		atomic_fetch_add(&core->dropped_unknown, 1);
		return core->cfg.drop_unknown ? DHCP_DROP : DHCP_SERVE;
	case ANS_FULL:
		atomic_fetch_add(&core->enrol_failed, 1);
		return DHCP_SERVE;
	case ANS_ABSENT:
		atomic_fetch_add(&core->refused, 1);
		return DHCP_REFUSE;
	case ANS_ERROR:
		break;
	}
	return DHCP_SERVE;
}

enum dhcp_verdict dhcp_core_identify(struct dhcp_core *core, enum dhcp_msg msg,
				     uint32_t subnet_id, const uint8_t *circuit,
				     size_t clen, const uint8_t *mac,
				     size_t mac_len, uint8_t *flexid,
				     size_t *flexid_len)
{
	uint8_t dkey[DHCP_KEY_MAX], ckey[DHCP_KEY_MAX];
	size_t dlen, cl;
	uint64_t now_s = (uint64_t)(mono_ms() / 1000), gen;

	*flexid_len = 0;
	if (dhcp_flexid_build(circuit, clen, mac, mac_len, flexid, flexid_len))
		return drop_invalid(core);
	if (msg == DHCP_MSG_OTHER)
		return DHCP_SERVE;
	dlen = dhcp_cache_key(subnet_id, 'd', flexid, *flexid_len, dkey);
	cl = dhcp_cache_key(subnet_id, 'c', circuit, clen, ckey);
	if (dhcp_cache_get(core->cache, dkey, dlen, now_s) == DHCP_CACHE_KNOWN) {
		atomic_fetch_add(&core->known, 1);
		return DHCP_SERVE;
	}
	if (dhcp_cache_get(core->cache, ckey, cl, now_s) == DHCP_CACHE_UNKNOWN) {
		atomic_fetch_add(&core->dropped_unknown, 1);
		return core->cfg.drop_unknown ? DHCP_DROP : DHCP_SERVE;
	}
	if (mono_ms() < atomic_load(&core->retry_at_ms)) {
		atomic_fetch_add(&core->db_skipped, 1);
		return DHCP_SERVE;
	}
	/* Taken before asking: a flush (a deletion) that lands while this
	 * thread waits for the database keeps the answer out of the cache. */
	gen = dhcp_cache_generation(core->cache);
	return apply_answer(core, db_identify(core, subnet_id, circuit, clen, mac,
			    core->cfg.enrol && msg == DHCP_MSG_DISCOVER),
			    gen, dkey, dlen, ckey, cl);
}

int dhcp_core_lease_from_holder(struct dhcp_core *core,
				enum dhcp_event_kind kind,
				const uint8_t *circuit, size_t clen,
				const uint8_t *mac, size_t mac_len, uint32_t addr,
				int reserved)
{
	int64_t now = mono_ms();
	char macs[18] = "?";

	if (circuit && dhcp_circuit_check(circuit, clen) == 0 &&
	    mac_len == DHCP_MAC_LEN && reserved)
		return 1;
	atomic_fetch_add(kind == DHCP_EV_DECLINE ? &core->decline_refused
			 : &core->release_refused, 1);
	if (now - atomic_load(&core->spoof_logged_ms) < LOG_EVERY_MS)
		return 0;
	atomic_store(&core->spoof_logged_ms, now);
	if (mac_len == DHCP_MAC_LEN)
		mac_format(mac, macs);
	core_log(core, 0, "ignored a %s of %u.%u.%u.%u (MAC %s) from a port that "
		 "does not hold it (further ones counted, logged every 30 s)",
		 kind == DHCP_EV_DECLINE ? "DECLINE" : "RELEASE", addr >> 24,
		 (addr >> 16) & 255, (addr >> 8) & 255, addr & 255, macs);
	return 0;
}

int dhcp_core_event(struct dhcp_core *core, const struct dhcp_event *ev)
{
	if (!dhcp_seen_admit(core->seen, ev, mono_ms(), core->cfg.seen_s)) {
		atomic_fetch_add(&core->events_coalesced, 1);
		return 0;
	}
	if (dhcp_queue_push(core->queue, ev)) {
		dhcp_seen_forget(core->seen, ev);
		atomic_fetch_add(&core->events_dropped, 1);
		return ENOSPC;
	}
	atomic_fetch_add(&core->events_queued, 1);
	return 0;
}

static const char *event_word(enum dhcp_event_kind k)
{
	switch (k) {
	case DHCP_EV_COMMITTED: return "committed";
	case DHCP_EV_RELEASE: return "release";
	case DHCP_EV_DECLINE: return "decline";
	case DHCP_EV_EXPIRE: return "expire";
	}
	return "committed";
}

/* Appends ",item" (or "item" first) to an array literal being built. */
static int lit_add(char *buf, size_t len, size_t *used, const char *item)
{
	int n = snprintf(buf + *used, len - *used, "%s%s", *used > 1 ? "," : "",
			 item);

	if (n < 0 || (size_t)n >= len - *used)
		return ENOSPC;
	*used += (size_t)n;
	return 0;
}

int dhcp_events_literals(const struct dhcp_event *evs, size_t n,
			 char lit[5][DHCP_LIT_MAX])
{
	size_t used[5], i, k;
	char item[5][32];
	int rc = 0;

	if (n > DHCP_BATCH_MAX)
		return ENOSPC;
	for (k = 0; k < 5; k++) {
		lit[k][0] = '{';
		used[k] = 1;
	}
	for (i = 0; i < n && !rc; i++) {
		snprintf(item[0], sizeof(item[0]), "%s", event_word(evs[i].kind));
		snprintf(item[1], sizeof(item[1]), "%u", evs[i].subnet_id);
		snprintf(item[2], sizeof(item[2]), "%u", evs[i].addr);
		mac_format(evs[i].mac, item[3]);
		snprintf(item[4], sizeof(item[4]), "%lld", (long long)evs[i].at_us);
		for (k = 0; k < 5 && !rc; k++)
			rc = lit_add(lit[k], DHCP_LIT_MAX, &used[k], item[k]);
	}
	for (k = 0; k < 5 && !rc; k++) {
		if (used[k] + 2 > DHCP_LIT_MAX)
			return ENOSPC;
		lit[k][used[k]++] = '}';
		lit[k][used[k]] = '\0';
	}
	return rc;
}

/* Writes a batch in one round trip (dpn.dhcp_lease_events, one implicit
 * transaction) on the ready connection in *slot. Returns 1 when committed. */
static int write_batch(struct dhcp_core *core, PGconn **slot,
		       const struct dhcp_event *evs, size_t n)
{
	char lit[5][DHCP_LIT_MAX];	/* ~60 KiB: the writer thread's own stack */
	char prob[16];
	const char *p[6] = { lit[0], lit[1], lit[2], lit[3], lit[4], prob };
	PGresult *res;
	int ok;

	if (dhcp_events_literals(evs, n, lit))
		return 0;
	snprintf(prob, sizeof(prob), "%u", core->cfg.probation_s);
	res = db_exec(core, slot, "SELECT dpn.dhcp_lease_events($1::text[], "
		      "$2::bigint[], $3::bigint[], $4::macaddr[], $5::bigint[],"
		      " $6::integer)", 6, p);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		db_statement_failed(core, "writing lease events", *slot, res);
	PQclear(res);
	return ok;
}

/* Deletes the blocks of gateways whose grace period ran out. */
static void sweep_gateways(struct dhcp_core *core, PGconn **slot)
{
	char grace[16];
	const char *p[1] = { grace };
	PGresult *res;

	snprintf(grace, sizeof(grace), "%u", core->cfg.grace_s);
	res = db_exec(core, slot, "SELECT dpn.dhcp_gateway_sweep($1::integer)",
		      1, p);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		if (n > 0) {
			dhcp_cache_clear(core->cache);
			dhcp_seen_clear(core->seen);
			atomic_fetch_add(&core->gateways_deleted, (unsigned long long)n);
			core_log(core, 1, "deleted %ld gateway(s) after their grace period", n);
		}
	} else {
		db_statement_failed(core, "dpn.dhcp_gateway_sweep", *slot, res);
	}
	PQclear(res);
}

/* A batch failed on a live connection: the database refused an event, not
 * the network. Retry events one at a time; one that still fails alone is
 * dropped (counted, logged) so that it cannot block the queue for ever. */
static void skip_poison(struct dhcp_core *core, PGconn *conn, size_t n)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return;
	if (n > 1 || !core->suspect) {
		core->suspect = 1;
		return;
	}
	dhcp_queue_pop(core->queue, 1);
	atomic_fetch_add(&core->events_dropped, 1);
	core_log(core, 0, "a lease event was refused by the database and dropped");
}

/* Sleeps up to ms, waking early when the core stops. */
static void writer_pause(struct dhcp_core *core, unsigned ms)
{
	while (ms > 0 && !atomic_load(&core->stop)) {
		unsigned step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* One writer round: commit what is queued (or wait for it), sweep when due.
 * Returns how many milliseconds to back off before the next round. */
static unsigned writer_round(struct dhcp_core *core, PGconn **conn,
			     struct dhcp_event *buf, int64_t *next_sweep)
{
	size_t n = dhcp_queue_peek(core->queue, buf, core->cfg.batch, 200);

	/* Under load, wait a moment for more events: one round trip and one
	 * commit for many keeps the database's share of the CPU small. */
	if (n > 0 && n < core->cfg.batch && !atomic_load(&core->stop)) {
		writer_pause(core, LINGER_MS);
		n = dhcp_queue_peek(core->queue, buf, core->cfg.batch, 0);
	}

	if (n == 0 && mono_ms() < *next_sweep)
		return 0;
	if (!db_ready(core, conn))
		return core->cfg.retry_ms;
	if (n > 0 && core->suspect)
		n = 1;
	if (n > 0 && !write_batch(core, conn, buf, n)) {
		skip_poison(core, *conn, n);
		return core->cfg.retry_ms;
	}
	if (n > 0) {
		dhcp_queue_pop(core->queue, n);
		atomic_fetch_add(&core->events_written, n);
		core->suspect = 0;
	}
	if (mono_ms() >= *next_sweep) {
		sweep_gateways(core, conn);
		*next_sweep = mono_ms() + (int64_t)core->cfg.sweep_s * 1000;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct dhcp_core *core = arg;
	struct dhcp_event buf[DHCP_BATCH_MAX];
	int64_t next_sweep = mono_ms() + (int64_t)core->cfg.sweep_s * 1000;
	PGconn *conn = NULL;

	while (!atomic_load(&core->stop))
		writer_pause(core, writer_round(core, &conn, buf, &next_sweep));
	/* One last bounded attempt, so a reload loses nothing when the
	 * database is up; what stays queued is counted as dropped. */
	if (dhcp_queue_depth(core->queue) > 0)
		writer_round(core, &conn, buf, &next_sweep);
	atomic_fetch_add(&core->events_dropped, dhcp_queue_depth(core->queue));
	if (conn)
		PQfinish(conn);
	return NULL;
}

/* The host cache, when the shim gave its ops and the config wants it. */
static int host_cache_new(struct dhcp_core *core)
{
	struct dhcp_hc_cfg hc = {
		.nslots = core->cfg.hc_size, .ttl_s = core->cfg.hc_ttl_s,
		.conninfo = core->cfg.conninfo,
		.timeout_ms = core->cfg.db_timeout_ms,
		.retry_ms = core->cfg.retry_ms, .log = core->cfg.log,
	};

	if (!core->cfg.host_cache || !core->cfg.hc_ops)
		return 0;
	return dhcp_hostcache_new(&hc, core->cfg.hc_ops, &core->hc);
}

int dhcp_core_new(const struct dhcp_cfg *cfg, struct dhcp_core **out)
{
	struct dhcp_core *core;
	char err[128];
	int rc;

	if (dhcp_cfg_check(cfg, err, sizeof(err)))
		return EINVAL;
	core = calloc(1, sizeof(*core));
	if (!core)
		return ENOMEM;
	core->cfg = *cfg;
	pthread_mutex_init(&core->pool_lock, NULL);
	pthread_cond_init(&core->pool_cond, NULL);
	rc = dhcp_cache_new(cfg->cache_size, &core->cache);
	if (rc)
		goto fail;
	rc = dhcp_queue_new(cfg->queue_size, &core->queue);
	if (rc)
		goto fail;
	rc = dhcp_seen_new(cfg->cache_size, &core->seen);
	if (rc)
		goto fail;
	rc = host_cache_new(core);
	if (rc)
		goto fail;
	rc = dhcp_enrol_group_new(cfg->enrol_batch, &core->enrol);
	if (rc)
		goto fail;
	rc = pthread_create(&core->writer, NULL, writer_main, core);
	if (rc)
		goto fail;
	*out = core;
	return 0;
fail:
	dhcp_enrol_group_free(core->enrol);
	dhcp_hostcache_free(core->hc);
	dhcp_seen_free(core->seen);
	dhcp_queue_free(core->queue);
	dhcp_cache_free(core->cache);
	pthread_cond_destroy(&core->pool_cond);
	pthread_mutex_destroy(&core->pool_lock);
	free(core);
	return rc;
}

void dhcp_core_free(struct dhcp_core *core)
{
	unsigned i;

	if (!core)
		return;
	atomic_store(&core->stop, 1);
	dhcp_queue_close(core->queue);
	pthread_join(core->writer, NULL);
	for (i = 0; i < POOL_MAX; i++)
		if (core->conns[i])
			PQfinish(core->conns[i]);
	dhcp_enrol_group_free(core->enrol);
	dhcp_hostcache_free(core->hc);
	dhcp_seen_free(core->seen);
	dhcp_queue_free(core->queue);
	dhcp_cache_free(core->cache);
	pthread_cond_destroy(&core->pool_cond);
	pthread_mutex_destroy(&core->pool_lock);
	free(core);
}

void dhcp_core_forget(struct dhcp_core *core)
{
	dhcp_cache_clear(core->cache);
	dhcp_seen_clear(core->seen);
	if (core->hc)
		dhcp_hostcache_flush(core->hc);
}

struct dhcp_hostcache *dhcp_core_hostcache(struct dhcp_core *core)
{
	return core->hc;
}

void dhcp_core_stats(struct dhcp_core *core, struct dhcp_stats *o)
{
	o->enrolled = atomic_load(&core->enrolled);
	o->known = atomic_load(&core->known);
	o->lookups = atomic_load(&core->lookups);
	o->dropped_unknown = atomic_load(&core->dropped_unknown);
	o->dropped_invalid = atomic_load(&core->dropped_invalid);
	o->refused = atomic_load(&core->refused);
	o->release_refused = atomic_load(&core->release_refused);
	o->decline_refused = atomic_load(&core->decline_refused);
	o->enrol_failed = atomic_load(&core->enrol_failed);
	o->enrol_asked = atomic_load(&core->enrol_asked);
	o->enrol_txns = atomic_load(&core->enrol_txns);
	o->db_skipped = atomic_load(&core->db_skipped);
	o->events_queued = atomic_load(&core->events_queued);
	o->events_written = atomic_load(&core->events_written);
	o->events_dropped = atomic_load(&core->events_dropped);
	o->events_coalesced = atomic_load(&core->events_coalesced);
	o->db_errors = atomic_load(&core->db_errors);
	o->db_reconnects = atomic_load(&core->db_reconnects);
	o->gateways_deleted = atomic_load(&core->gateways_deleted);
	o->queue_depth = dhcp_queue_depth(core->queue);
	o->queue_size = core->cfg.queue_size;
	memset(&o->hc, 0, sizeof(o->hc));
	if (core->hc)
		dhcp_hostcache_stats(core->hc, &o->hc);
}

int dhcp_stats_json(const struct dhcp_stats *s, char *buf, size_t len)
{
	const struct dhcp_hc_stats *h = &s->hc;
	int n = snprintf(buf, len,
		"{\"enrolled\": %llu, \"known\": %llu, \"lookups\": %llu, "
		"\"dropped-unknown\": %llu, \"dropped-invalid\": %llu, "
		"\"refused\": %llu, \"release-refused\": %llu, "
		"\"decline-refused\": %llu, "
		"\"enrol-failed\": %llu, \"enrol-asked\": %llu, "
		"\"enrol-transactions\": %llu, \"db-skipped\": %llu, "
		"\"events-queued\": %llu, \"events-written\": %llu, "
		"\"events-dropped\": %llu, \"events-coalesced\": %llu, "
		"\"db-errors\": %llu, \"db-reconnects\": %llu, "
		"\"gateways-deleted\": %llu, \"queue-depth\": %llu, "
		"\"queue-size\": %llu, "
		"\"host-cache-hits\": %llu, \"host-cache-misses\": %llu, "
		"\"host-cache-entries\": %llu, \"host-cache-inserts\": %llu, "
		"\"host-cache-skipped\": %llu, \"host-cache-evicted\": %llu, "
		"\"host-cache-invalidations\": %llu, "
		"\"host-cache-notifications\": %llu, "
		"\"host-cache-bad-notifications\": %llu, "
		"\"host-cache-flushes\": %llu, \"host-cache-listening\": %s}",
		(unsigned long long)s->enrolled, (unsigned long long)s->known,
		(unsigned long long)s->lookups,
		(unsigned long long)s->dropped_unknown,
		(unsigned long long)s->dropped_invalid,
		(unsigned long long)s->refused,
		(unsigned long long)s->release_refused,
		(unsigned long long)s->decline_refused,
		(unsigned long long)s->enrol_failed,
		(unsigned long long)s->enrol_asked,
		(unsigned long long)s->enrol_txns,
		(unsigned long long)s->db_skipped,
		(unsigned long long)s->events_queued,
		(unsigned long long)s->events_written,
		(unsigned long long)s->events_dropped,
		(unsigned long long)s->events_coalesced,
		(unsigned long long)s->db_errors,
		(unsigned long long)s->db_reconnects,
		(unsigned long long)s->gateways_deleted,
		(unsigned long long)s->queue_depth,
		(unsigned long long)s->queue_size,
		(unsigned long long)h->hits, (unsigned long long)h->misses,
		(unsigned long long)h->entries, (unsigned long long)h->inserts,
		(unsigned long long)h->skipped, (unsigned long long)h->evicted,
		(unsigned long long)h->invalidated,
		(unsigned long long)h->notifications,
		(unsigned long long)h->bad_notifications,
		(unsigned long long)h->flushes, h->listening ? "true" : "false");
	return (n < 0 || (size_t)n >= len) ? ENOSPC : 0;
}
