/* dhcp-hook/pg.c — see pg.h. */
#include "dhcp-hook/pg.h"

#include <stdio.h>

PGconn *dhcp_pg_connect(const char *conninfo, unsigned timeout_ms,
			const char *app)
{
	char timeout[16], options[64];
	/* TCP keepalives first, so that a conninfo's own settings win: the
	 * host cache's listener only ever reads, and would not otherwise
	 * notice a server host that vanished (about a minute here, not
	 * the kernel's two hours). Unix sockets ignore them. */
	const char *keys[] = { "keepalives_idle", "keepalives_interval",
			       "keepalives_count", "dbname", "connect_timeout",
			       "options", "application_name", NULL };
	const char *vals[] = { "30", "10", "3", conninfo, timeout, options, app,
			       NULL };

	snprintf(timeout, sizeof(timeout), "%u",
		 timeout_ms < 2000 ? 2 : timeout_ms / 1000);
	snprintf(options, sizeof(options), "-c statement_timeout=%u", timeout_ms);
	return PQconnectdbParams(keys, vals, 1);
}
