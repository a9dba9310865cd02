/* gatekeeper/topostore.c — the topology-hiding table (topo.c) kept in
 * PostgreSQL (dpn.gk_topo_dialogs, schema/097), so that a restart keeps
 * the calls that cross to the public side: a request from outside to a
 * gk-KEY Contact or with a gk-KEY Call-ID still finds its dialog. The
 * table hands answered dialogs over from its one-second sweep (topo.h's
 * store hook: saved when new or changed, deleted when they end); each is
 * a fixed-size item of a lib/pgbatch.h writer, so the SIP loop never
 * waits for the database (a full queue drops the write and counts it);
 * a batch is one statement (the last write of each dialog in it).
 * On start the site's rows still in force are put back and the others
 * deleted. A dialog whose Call-ID, Contact or route set is longer than
 * an item holds is not kept (counted as too_long). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "pg.h"
#include "pgbatch.h"

#define QUEUE 4096		/* writes waiting at most */

struct op {
	int del, masked;
	int64_t site_id;
	uint64_t key, expires;
	char callid[256], contact[512], route[1024];
};

enum { W_WRITTEN, W_DROPPED, W_FAILED, W_LONG, W_N };

struct gk_topostore {
	struct pg_batch *w;
	uint64_t too_long, told[W_N];
	struct prom_series *s[W_N];
};

static const char upsert_sql[] =
	"INSERT INTO dpn.gk_topo_dialogs (site_id, dialog_key, call_id, "
	"contact, route, masked, expires_at) VALUES ($1, $2, $3, $4, $5, "
	"$6::bool, to_timestamp($7)) ON CONFLICT (site_id, dialog_key) DO "
	"UPDATE SET call_id = EXCLUDED.call_id, contact = EXCLUDED.contact, "
	"route = EXCLUDED.route, masked = EXCLUDED.masked, "
	"expires_at = EXCLUDED.expires_at";
static const char delete_sql[] =
	"DELETE FROM dpn.gk_topo_dialogs WHERE site_id = $1 AND "
	"dialog_key = $2";

/* A pg_batch_apply_fn: 0, or EINVAL (refused; logged). */
static int apply(void *arg, PGconn *pg, const void *item)
{
	const struct op *o = item;
	char site[24], key[24], exp[24];
	const char *v[7] = { site, key, o->callid, o->contact, o->route,
			     o->masked ? "true" : "false", exp };
	PGresult *r;
	int ok;
	(void)arg;

	snprintf(site, sizeof(site), "%" PRId64, o->site_id);
	snprintf(key, sizeof(key), "%" PRId64, (int64_t)o->key);
	snprintf(exp, sizeof(exp), "%" PRIu64, o->expires);
	r = PQexecParams(pg, o->del ? delete_sql : upsert_sql, o->del ? 2 : 7,
			 NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		log_warnx("gatekeeper: dialog %s not written: %s", o->callid,
			  PQerrorMessage(pg));
	PQclear(r);
	return ok ? 0 : EINVAL;
}

static const char many_sql[] =
	"WITH gone AS (DELETE FROM dpn.gk_topo_dialogs WHERE site_id = $1 AND "
	"dialog_key = ANY ($2::bigint[])) INSERT INTO dpn.gk_topo_dialogs "
	"(site_id, dialog_key, call_id, contact, route, masked, expires_at) "
	"SELECT $1, u.k, u.c, u.ct, u.r, u.m, to_timestamp(u.e) FROM "
	"unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bool[], "
	"$8::bigint[]) AS u(k, c, ct, r, m, e) ON CONFLICT (site_id, dialog_key) "
	"DO UPDATE SET call_id = EXCLUDED.call_id, contact = EXCLUDED.contact, "
	"route = EXCLUDED.route, masked = EXCLUDED.masked, "
	"expires_at = EXCLUDED.expires_at";

/* Column c's room in many rows: an element escaped at most doubles, plus
 * quotes and a comma (struct op's field sizes). */
static const size_t col_elem[7] = { 24, 24, 2 * 256 + 3, 2 * 512 + 3,
				    2 * 1024 + 3, 8, 24 };

/* Is o[i] the last write of its dialog among o[0..n)? */
static int last_of_key(const struct op *o, unsigned i, unsigned n)
{
	for (unsigned j = i + 1; j < n; j++)
		if (o[j].key == o[i].key)
			return 0;
	return 1;
}

/* Item o's values for column c of many_sql ($2 the deleted keys, $3..$8
 * the saved rows) into nb; NULL when o is not in that column. */
static const char *col_value(const struct op *o, int c, char nb[24])
{
	if ((c == 0) != (o->del != 0))
		return NULL;
	switch (c) {
	case 0: case 1:
		snprintf(nb, 24, "%" PRId64, (int64_t)o->key);
		return nb;
	case 2: return o->callid;
	case 3: return o->contact;
	case 4: return o->route;
	case 5: return o->masked ? "t" : "f";
	default:
		snprintf(nb, 24, "%" PRIu64, o->expires);
		return nb;
	}
}

/* Many writes in one statement (a pg_batch_apply_many_fn): the deleted
 * dialogs' rows go, the saved ones are upserted; of several writes of one
 * dialog only the last counts. 0, EINVAL (each alone then), EIO. */
static int apply_many(void *arg, PGconn *pg, const void *items, unsigned n)
{
	const struct op *o = items;
	char *buf[7] = { NULL }, *end[7], site[24], nb[24];
	const char *v[8] = { site };
	unsigned cnt[7] = { 0 };
	PGresult *r;
	int rc = EINVAL;
	(void)arg;

	for (int c = 0; c < 7; c++) {
		if (!(buf[c] = end[c] = malloc(n * col_elem[c] + 3)))
			goto out;
		*end[c]++ = '{';
	}
	for (unsigned i = 0; i < n; i++) {
		if (!last_of_key(o, i, n))
			continue;
		for (int c = 0; c < 7; c++) {
			const char *x = col_value(&o[i], c, nb);
			if (x)
				end[c] = pg_array_put(end[c], x, cnt[c]++ == 0,
						      c < 2 || c > 4);
		}
	}
	for (int c = 0; c < 7; c++) {
		memcpy(end[c], "}", 2);
		v[c + 1] = buf[c];
	}
	snprintf(site, sizeof(site), "%" PRId64, o[0].site_id);
	r = PQexecParams(pg, many_sql, 8, NULL, v, NULL, NULL, 0);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 :
	     PQstatus(pg) == CONNECTION_OK ? EINVAL : EIO;
	if (rc)
		log_warnx("gatekeeper: %u dialogs not written at once: %s", n,
			  PQerrorMessage(pg));
	PQclear(r);
out:
	for (int c = 0; c < 7; c++)
		free(buf[c]);
	return rc;
}

static int fits(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap)
		return 0;
	memcpy(dst, s, n + 1);
	return 1;
}

/* topo.c's store hook (the loop thread). */
static void save(void *arg, const struct gk_topo_row *r, int del)
{
	struct gk *g = arg;
	struct gk_topostore *s = g->topostore;
	struct op o = { .del = del, .masked = r->masked,
			.site_id = g->site_id, .key = r->key,
			.expires = r->expires };

	if (!fits(o.callid, sizeof(o.callid), r->callid) ||
	    !fits(o.contact, sizeof(o.contact), r->contact) ||
	    !fits(o.route, sizeof(o.route), r->route)) {
		s->too_long++;
		return;
	}
	pg_batch_push(s->w, &o);	/* full: dropped, counted */
}

static int row_of(PGresult *r, int i, struct gk_topo_row *row)
{
	row->key = (uint64_t)strtoll(PQgetvalue(r, i, 0), NULL, 10);
	row->callid = PQgetvalue(r, i, 1);
	row->contact = PQgetvalue(r, i, 2);
	row->route = PQgetvalue(r, i, 3);
	row->masked = PQgetvalue(r, i, 4)[0] == 't';
	row->expires = strtoull(PQgetvalue(r, i, 5), NULL, 10);
	return 0;
}

/* Run sql with the site's id; the result when it is `want`, else NULL
 * (logged). */
static PGresult *site_exec(struct gk *g, const char *sql,
			   ExecStatusType want)
{
	char id[24];
	const char *v[1] = { id };
	PGresult *r;

	snprintf(id, sizeof(id), "%" PRId64, g->site_id);
	r = PQexecParams(g->pg, sql, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == want)
		return r;
	log_warnx("gatekeeper: dialogs not restored: %s",
		  PQerrorMessage(g->pg));
	PQclear(r);
	return NULL;
}

/* The site's dialogs still in force back into the table. */
static void restore(struct gk *g)
{
	struct gk_topo_row row;
	PGresult *r = site_exec(g, "DELETE FROM dpn.gk_topo_dialogs WHERE "
		"site_id = $1 AND expires_at <= now()", PGRES_COMMAND_OK);
	int n, ok = 0;

	PQclear(r);
	if (!r || !(r = site_exec(g, "SELECT dialog_key, call_id, contact, "
		"route, masked, extract(epoch FROM expires_at)::bigint FROM "
		"dpn.gk_topo_dialogs WHERE site_id = $1 ORDER BY expires_at "
		"DESC", PGRES_TUPLES_OK)))
		return;
	n = PQntuples(r);
	for (int i = 0; i < n; i++)
		if (row_of(r, i, &row) == 0 &&
		    gk_topo_restore(g->topo, &row) == 0)
			ok++;
	PQclear(r);
	if (n)
		log_info("gatekeeper: %d of %d hidden dialogs restored", ok, n);
}

static int metrics(struct gk *g, struct gk_topostore *s)
{
	static const char *const res[W_N] = { "written", "dropped", "failed",
					      "too_long" };
	const char *lbl[2] = { "result", NULL }, *v[2] = { NULL, NULL };
	struct prom_family *f;
	int rc = prom_family_add(g->d->metrics, PROM_COUNTER,
		"dpn_gk_topo_writes_total", "hidden dialogs written to "
		"PostgreSQL (saved or deleted), dropped (queue full), failed, "
		"or not kept (too long)", lbl, NULL, 0, &f);

	for (int i = 0; rc == 0 && i < W_N; i++) {
		v[0] = res[i];
		rc = prom_series(f, v, &s->s[i]);
	}
	return rc;
}

int gk_topostore_start(struct gk *g)
{
	struct pg_batch_cfg c = { .conninfo = g->cfg->db, .max_queue = QUEUE,
		.app = "dpn-gatekeeper dialogs", .item_size = sizeof(struct op),
		.apply = apply, .apply_many = apply_many };
	struct gk_topostore *s = calloc(1, sizeof(*s));
	int rc = s ? metrics(g, s) : ENOMEM;

	if (rc == 0)
		rc = pg_batch_new(&c, &s->w);
	if (rc) {
		log_warnx("gatekeeper: dialog store: %s", strerror(rc));
		free(s);
		return rc;
	}
	g->topostore = s;
	restore(g);
	gk_topo_set_store(g->topo, save, g);
	return 0;
}

void gk_topostore_tick(struct gk *g)
{
	struct gk_topostore *s = g->topostore;
	struct pg_batch_stats st;
	uint64_t now[W_N];

	if (!s)
		return;
	pg_batch_stats(s->w, &st);
	now[W_WRITTEN] = st.written;
	now[W_DROPPED] = st.dropped;
	now[W_FAILED] = st.failed;
	now[W_LONG] = s->too_long;
	for (int i = 0; i < W_N; i++) {
		prom_inc(s->s[i], now[i] - s->told[i]);
		s->told[i] = now[i];
	}
}

void gk_topostore_stop(struct gk *g)
{
	if (!g->topostore)
		return;
	pg_batch_free(g->topostore->w);
	free(g->topostore);
	g->topostore = NULL;
}
