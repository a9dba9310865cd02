/* dhcp-hook/pg.c — see pg.h. */
#include "dhcp-hook/pg.h"

#include "lib/pg.h"

PGconn *dhcp_pg_connect(const char *conninfo, unsigned timeout_ms,
			const char *app)
{
	/* Keepalives matter here: the host cache's listener only ever reads,
	 * and would not otherwise notice a server host that vanished. */
	const struct pg_opts o = { .conninfo = conninfo,
				   .connect_timeout_ms = timeout_ms,
				   .statement_timeout_ms = timeout_ms,
				   .app = app };

	return pg_connect(&o);
}
