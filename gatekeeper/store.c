/* gatekeeper/store.c — the binding writer (see store.h): one binding
 * change per item of a lib/pgbatch.h writer, which batches them (a power
 * cut brings every gateway back at once: one commit per REGISTER would not
 * keep up). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/store.h"
#include "log.h"
#include "pgbatch.h"

struct op {
	int64_t flat_id;
	int del;
	struct sip_reg_binding b;
};

struct gk_store {
	struct pg_batch *w;
};

static const char upsert_sql[] =
	"INSERT INTO dpn.gk_bindings AS b (flat_id, contact, source_addr, "
	"source_port, transport, user_agent, call_id, cseq, registered_at, "
	"expires_at) SELECT $1, $2, $3::inet, $4, $5, $6, $7, $8, "
	"to_timestamp($9), to_timestamp($10) WHERE EXISTS (SELECT 1 FROM "
	"dpn.flats WHERE id = $1) ON CONFLICT (flat_id) DO UPDATE SET "
	"contact = EXCLUDED.contact, source_addr = EXCLUDED.source_addr, "
	"source_port = EXCLUDED.source_port, transport = EXCLUDED.transport, "
	"user_agent = EXCLUDED.user_agent, call_id = EXCLUDED.call_id, "
	"cseq = EXCLUDED.cseq, registered_at = EXCLUDED.registered_at, "
	"expires_at = EXCLUDED.expires_at, updated_at = now()";
static const char delete_sql[] =
	"DELETE FROM dpn.gk_bindings WHERE flat_id = $1 AND contact = $2";

/* Source address and port of b as text. */
static void source_text(const struct sip_reg_binding *b, char *addr,
			size_t cap, char *port)
{
	const struct sockaddr_in *s4 = (const void *)&b->source.sa;
	const struct sockaddr_in6 *s6 = (const void *)&b->source.sa;

	if (b->source.sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)cap);
		snprintf(port, 8, "%u", ntohs(s6->sin6_port));
	} else {
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)cap);
		snprintf(port, 8, "%u", ntohs(s4->sin_port));
	}
}

/* Run op o (a pg_batch_apply_fn): 0, or EINVAL (the row was refused;
 * logged). */
static int apply(void *arg, PGconn *pg, const void *item)
{
	const struct op *o = item;
	char id[24], addr[64], port[8], cseq[16], since[24], exp[24];
	const char *v[10] = { id, o->b.contact, addr, port,
		o->b.source.proto == SIP_PROTO_TCP ? "tcp" : "udp",
		o->b.user_agent, o->b.call_id, cseq, since, exp };
	PGresult *r;
	int ok;
	(void)arg;

	snprintf(id, sizeof(id), "%lld", (long long)o->flat_id);
	source_text(&o->b, addr, sizeof(addr), port);
	snprintf(cseq, sizeof(cseq), "%u", o->b.cseq);
	snprintf(since, sizeof(since), "%llu", (unsigned long long)o->b.since);
	snprintf(exp, sizeof(exp), "%llu", (unsigned long long)o->b.expires);
	r = PQexecParams(pg, o->del ? delete_sql : upsert_sql,
			 o->del ? 2 : 10, NULL, v, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		log_warnx("gatekeeper: binding of flat %lld not written: %s",
			  (long long)o->flat_id, PQerrorMessage(pg));
	PQclear(r);
	return ok ? 0 : EINVAL;
}

int gk_store_new(const char *conninfo, unsigned max_queue,
		 struct gk_store **out)
{
	struct pg_batch_cfg c = { .conninfo = conninfo, .max_queue = max_queue,
		.app = "dpn-gatekeeper bindings", .item_size = sizeof(struct op),
		.apply = apply };
	struct gk_store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return ENOMEM;
	rc = pg_batch_new(&c, &s->w);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void gk_store_free(struct gk_store *s)
{
	if (!s)
		return;
	pg_batch_free(s->w);
	free(s);
}

int gk_store_push(struct gk_store *s, int64_t flat_id,
		  const struct sip_reg_binding *b, int del)
{
	struct op o = { .flat_id = flat_id, .del = del, .b = *b };

	return pg_batch_push(s->w, &o);
}

void gk_store_stats(struct gk_store *s, struct gk_store_stats *out)
{
	struct pg_batch_stats st;

	pg_batch_stats(s->w, &st);
	out->written = st.written;
	out->dropped = st.dropped;
	out->failed = st.failed;
	out->queued = st.queued;
}
