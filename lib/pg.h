/* lib/pg.h — how a dpn program opens a PostgreSQL connection: one place
 * for keepalives, timeouts and application_name, and the config check of a
 * conninfo. */
#ifndef DPN_PG_H
#define DPN_PG_H

#include <stddef.h>

#include <libpq-fe.h>

struct pg_opts {
	const char *conninfo;		/* libpq connection string or URI */
	unsigned connect_timeout_ms;	/* rounded to seconds, at least 2;
					 * 0: 5 s */
	unsigned statement_timeout_ms;	/* 0: none (the server's) */
	const char *app;		/* application_name (pg_stat_activity) */
};

/* Connects with TCP keepalives (30 s idle, 10 s interval, 3 probes, so a
 * vanished server host is noticed in about a minute by a connection that
 * only reads, e.g. a LISTEN), unless conninfo sets them itself; conninfo's
 * own settings win over all of these. Returns what PQconnectdbParams
 * returns (NULL only without memory): check PQstatus, PQfinish it. */
PGconn *pg_connect(const struct pg_opts *o);

/* A conf_item check for a CONF_STR conninfo: 0 if libpq can parse it,
 * else EINVAL with libpq's reason in err. */
int pg_conninfo_check(const void *field, char *err, size_t len);

/* Append v (NULL: SQL NULL) as the next element of an array literal being
 * written at p ("{" already there; first: no comma before it): bare (a
 * number, copied as it is) or quoted, with '"' and '\\' escaped; returns
 * the end. The caller's buffer must hold 2 * strlen(v) + 3 more bytes.
 * The literal goes to PostgreSQL as a parameter (e.g. $1::text[], then
 * unnest): one statement for many rows. */
char *pg_array_put(char *p, const char *v, int first, int bare);

#endif
