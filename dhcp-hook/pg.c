/* dhcp-hook/pg.c — see pg.h. */
#include "dhcp-hook/pg.h"

#include <stdio.h>

PGconn *dhcp_pg_connect(const char *conninfo, unsigned timeout_ms,
			const char *app)
{
	char timeout[16], options[64];
	const char *keys[] = { "dbname", "connect_timeout", "options",
			       "application_name", NULL };
	const char *vals[] = { conninfo, timeout, options, app, NULL };

	snprintf(timeout, sizeof(timeout), "%u",
		 timeout_ms < 2000 ? 2 : timeout_ms / 1000);
	snprintf(options, sizeof(options), "-c statement_timeout=%u", timeout_ms);
	return PQconnectdbParams(keys, vals, 1);
}
