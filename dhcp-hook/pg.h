/* dhcp-hook/pg.h — how every connection of the hook to the dpn database is
 * opened (identify pool, event writer, host cache listener). */
#ifndef DPN_DHCP_PG_H
#define DPN_DHCP_PG_H

#include <libpq-fe.h>

/* Connects with conninfo (a libpq connection string), a connect timeout of
 * timeout_ms rounded to seconds (at least 2: libpq's floor), the same
 * statement_timeout, application_name app (what pg_stat_activity shows)
 * and TCP keepalives (30 s idle, unless conninfo sets them). Returns what
 * PQconnectdbParams returns: check PQstatus. */
PGconn *dhcp_pg_connect(const char *conninfo, unsigned timeout_ms,
			const char *app);

#endif
