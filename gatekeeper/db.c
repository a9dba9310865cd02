/* gatekeeper/db.c — the site's flats from PostgreSQL into the in-memory
 * table, kept true by LISTEN dpn_gk (schema/050_gatekeeper.sql): "flat
 * SITE ID" re-reads one flat, "site SITE" the whole site, "routes SITE" the outbound
 * routes (outbound.c, schema/070_gk_routes.sql). The connection
 * is watched on the loop; notifications arrive milliseconds after the
 * admin's commit. After a lost connection the tick reconnects and reloads
 * everything (a notification missed meanwhile must not leave a stale
 * flat). Bindings of a flat that is gone or renumbered are removed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gk.h"
#include "log.h"
#include "pg.h"

#define FLAT_COLS "flat_id, number, coalesce(username, ''), " \
	"coalesce(ha1_md5, ''), coalesce(ha1_sha256, ''), coalesce(first_addr, '')"

static void copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

/* Row i of r (FLAT_COLS) into f. 0 or EINVAL. */
static int flat_of_row(PGresult *r, int i, struct gk_flat *f)
{
	const char *addr = PQgetvalue(r, i, 5);

	memset(f, 0, sizeof(*f));
	f->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	copy_field(f->number, sizeof(f->number), PQgetvalue(r, i, 1));
	copy_field(f->username, sizeof(f->username), PQgetvalue(r, i, 2));
	copy_field(f->ha1_md5, sizeof(f->ha1_md5), PQgetvalue(r, i, 3));
	copy_field(f->ha1_sha256, sizeof(f->ha1_sha256), PQgetvalue(r, i, 4));
	if (addr[0] && inet_pton(AF_INET, addr, &f->first) != 1)
		return EINVAL;
	return 0;
}

static PGresult *query(struct gk *g, const char *sql, int n,
		       const char *const *v)
{
	PGresult *r = PQexecParams(g->pg, sql, n, NULL, v, NULL, NULL, 0);

	if (PQresultStatus(r) == PGRES_TUPLES_OK ||
	    PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	log_warnx("gatekeeper: database: %s", PQerrorMessage(g->pg));
	PQclear(r);
	return NULL;
}

/* The site's id and plan; the flat table made for it. */
static int load_site(struct gk *g)
{
	char num[16];
	const char *v[1] = { num };
	struct numplan np;
	PGresult *r;
	int rc = ENOENT;

	snprintf(num, sizeof(num), "%u", g->cfg->site);
	r = query(g, "SELECT id, w_complex, w_building, w_flat, w_handset "
		  "FROM dpn.sites WHERE number = $1", 1, v);
	if (!r)
		return EIO;
	if (PQntuples(r) == 1) {
		g->site_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		np.w_complex = (uint8_t)atoi(PQgetvalue(r, 0, 1));
		np.w_building = (uint8_t)atoi(PQgetvalue(r, 0, 2));
		np.w_flat = (uint8_t)atoi(PQgetvalue(r, 0, 3));
		np.w_handset = (uint8_t)atoi(PQgetvalue(r, 0, 4));
		gk_flats_free(g->flats);
		g->flats = NULL;
		rc = gk_flats_new(&np, g->cfg->site, &g->flats);
	} else {
		log_warnx("gatekeeper: no site %u in the database", g->cfg->site);
	}
	PQclear(r);
	return rc;
}

/* Drop the bindings of AORs that are no flat any more. */
static void prune_bindings(struct gk *g, const char *old_number)
{
	if (old_number[0] && !gk_flat_of_aor(g, old_number))
		sip_reg_remove_aor(g->reg, old_number);
}

static int load_flats(struct gk *g)
{
	char id[24];
	const char *v[1] = { id };
	struct gk_flat f;
	PGresult *r;
	int n, i;

	snprintf(id, sizeof(id), "%lld", (long long)g->site_id);
	r = query(g, "SELECT " FLAT_COLS " FROM dpn.gk_flats WHERE site_id = $1",
		  1, v);
	if (!r)
		return EIO;
	n = PQntuples(r);
	for (i = 0; i < n && (unsigned)i < g->cfg->max_flats; i++)
		if (flat_of_row(r, i, &f) || gk_flats_put(g->flats, &f))
			log_warnx("gatekeeper: flat %s skipped", f.number);
	if (n > (int)g->cfg->max_flats)
		log_warnx("gatekeeper: %d flats, max-flats %u: the rest skipped",
			  n, g->cfg->max_flats);
	PQclear(r);
	prom_set(g->m.flats, gk_flats_count(g->flats));
	log_info("gatekeeper: site %u: %u flats", g->cfg->site,
		 gk_flats_count(g->flats));
	return 0;
}

/* Re-read flat id (gone: removed). */
static void reload_flat(struct gk *g, int64_t id)
{
	const struct gk_flat *old = gk_flats_by_id(g->flats, id);
	char num[NUMPLAN_MAX_LEN] = "", sid[24];
	const char *v[1] = { sid };
	struct gk_flat f;
	PGresult *r;

	if (old)
		copy_field(num, sizeof(num), old->number);
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	r = query(g, "SELECT " FLAT_COLS " FROM dpn.gk_flats WHERE flat_id = $1",
		  1, v);
	if (!r)
		return;
	gk_flats_del(g->flats, id);
	if (PQntuples(r) == 1 && (flat_of_row(r, 0, &f) ||
				  gk_flats_put(g->flats, &f)))
		log_warnx("gatekeeper: flat %lld skipped", (long long)id);
	PQclear(r);
	prune_bindings(g, num);
	prom_set(g->m.flats, gk_flats_count(g->flats));
}

/* A whole-site reload. Bindings of flats that vanished stay until they
 * expire, but nothing routes to them: routing starts from the flat. */
static void reload_site(struct gk *g)
{
	if (load_site(g) == 0)
		load_flats(g);
	gk_outbound_load(g);	/* routes: outbound.c */
}

static void on_notify(struct gk *g, const char *payload)
{
	long long site, id;

	prom_inc(g->m.notifies, 1);
	if (gk_protect_notify(g, payload))
		return;
	if (sscanf(payload, "flat %lld %lld", &site, &id) == 2) {
		if (site == g->site_id)
			reload_flat(g, id);
		return;
	}
	if (sscanf(payload, "site %lld", &site) == 1 && site == g->site_id)
		reload_site(g);
	if (sscanf(payload, "routes %lld", &site) == 1 && site == g->site_id)
		gk_outbound_load(g);	/* outbound.c */
}

static void drop_conn(struct gk *g)
{
	if (g->pg_fd >= 0)
		ev_io_del(g->d->loop, g->pg_fd);
	g->pg_fd = -1;
	PQfinish(g->pg);
	g->pg = NULL;
}

static void on_readable(struct ev_loop *loop, int fd, unsigned ev, void *arg)
{
	struct gk *g = arg;
	PGnotify *n;
	(void)loop;
	(void)fd;
	(void)ev;

	if (!PQconsumeInput(g->pg)) {
		log_warnx("gatekeeper: LISTEN connection lost: %s",
			  PQerrorMessage(g->pg));
		drop_conn(g);
		return;
	}
	while ((n = PQnotifies(g->pg)) != NULL) {
		on_notify(g, n->extra);
		PQfreemem(n);
	}
}

static int connect_listen(struct gk *g)
{
	struct pg_opts o = { .conninfo = g->cfg->db,
			     .statement_timeout_ms = 10000,
			     .app = "dpn-gatekeeper" };
	PGresult *r;

	g->pg = pg_connect(&o);
	if (!g->pg || PQstatus(g->pg) != CONNECTION_OK) {
		log_warnx("gatekeeper: database: %s",
			  g->pg ? PQerrorMessage(g->pg) : "no memory");
		drop_conn(g);
		return EIO;
	}
	r = query(g, "LISTEN dpn_gk", 0, NULL);
	if (!r) {
		drop_conn(g);
		return EIO;
	}
	PQclear(r);
	g->pg_fd = PQsocket(g->pg);
	if (ev_io_add(g->d->loop, g->pg_fd, EV_READ, on_readable, g)) {
		g->pg_fd = -1;
		drop_conn(g);
		return EIO;
	}
	return 0;
}

int gk_db_start(struct gk *g)
{
	int rc;

	g->pg_fd = -1;
	rc = connect_listen(g);
	if (rc == 0)
		rc = load_site(g);
	if (rc == 0)
		rc = load_flats(g);
	return rc;
}

void gk_db_tick(struct gk *g)
{
	if (g->pg)
		return;
	if (connect_listen(g) == 0)
		reload_site(g);
}

void gk_db_stop(struct gk *g)
{
	drop_conn(g);
}

const struct gk_flat *gk_flat_of_aor(struct gk *g, const char *aor)
{
	const struct gk_flat *f;
	uint32_t hs;

	if (gk_flats_lookup(g->flats, aor, strlen(aor), &f, &hs) || hs ||
	    strcmp(f->number, aor) != 0)
		return NULL;
	return f;
}

/* One restored row into b. */
static int binding_of_row(PGresult *r, int i, struct sip_reg_binding *b)
{
	enum sip_proto proto = strcmp(PQgetvalue(r, i, 4), "tcp") == 0 ?
			       SIP_PROTO_TCP : SIP_PROTO_UDP;
	const char *addr = PQgetvalue(r, i, 2);

	memset(b, 0, sizeof(*b));
	copy_field(b->aor, sizeof(b->aor), PQgetvalue(r, i, 0));
	copy_field(b->contact, sizeof(b->contact), PQgetvalue(r, i, 1));
	copy_field(b->user_agent, sizeof(b->user_agent), PQgetvalue(r, i, 5));
	copy_field(b->call_id, sizeof(b->call_id), PQgetvalue(r, i, 6));
	b->cseq = (uint32_t)strtoul(PQgetvalue(r, i, 7), NULL, 10);
	b->since = strtoull(PQgetvalue(r, i, 8), NULL, 10);
	b->expires = strtoull(PQgetvalue(r, i, 9), NULL, 10);
	return sip_peer_set(&b->source, proto, (struct sip_str){ addr,
		strlen(addr) }, (unsigned)atoi(PQgetvalue(r, i, 3)));
}

int gk_db_restore(struct gk *g)
{
	char id[24];
	const char *v[1] = { id };
	struct sip_reg_binding b;
	PGresult *r;
	int n, i, ok = 0;

	snprintf(id, sizeof(id), "%lld", (long long)g->site_id);
	r = query(g, "SELECT f.number, b.contact, host(b.source_addr), "
		  "b.source_port, b.transport, b.user_agent, b.call_id, b.cseq, "
		  "extract(epoch FROM b.registered_at)::bigint, "
		  "extract(epoch FROM b.expires_at)::bigint FROM dpn.gk_bindings b "
		  "JOIN dpn.gk_flats f ON f.flat_id = b.flat_id WHERE "
		  "f.site_id = $1 AND b.expires_at > now()", 1, v);
	if (!r)
		return EIO;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		if (binding_of_row(r, i, &b) == 0 &&
		    sip_reg_restore(g->reg, &b, gk_now()) == 0)
			ok++;
	PQclear(r);
	log_info("gatekeeper: %d of %d bindings restored", ok, n);
	prom_set(g->m.bindings, sip_reg_bindings(g->reg));
	return 0;
}
