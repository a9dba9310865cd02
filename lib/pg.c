/* lib/pg.c — PostgreSQL connection helper (see pg.h). */
#include "pg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

PGconn *pg_connect(const struct pg_opts *o)
{
	char timeout[16], options[64];
	unsigned ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
	/* Keepalives first and dbname (the conninfo, expanded) after them,
	 * so that the conninfo's own settings win. */
	const char *keys[] = { "keepalives_idle", "keepalives_interval",
			       "keepalives_count", "connect_timeout",
			       "application_name", "dbname",
			       o->statement_timeout_ms ? "options" : NULL, NULL };
	const char *vals[] = { "30", "10", "3", timeout,
			       o->app ? o->app : "dpn", o->conninfo, options,
			       NULL };

	snprintf(timeout, sizeof(timeout), "%u", ms < 2000 ? 2 : ms / 1000);
	snprintf(options, sizeof(options), "-c statement_timeout=%u",
		 o->statement_timeout_ms);
	return PQconnectdbParams(keys, vals, 1);
}

int pg_conninfo_check(const void *field, char *err, size_t len)
{
	const char *s = *(const char *const *)field;
	PQconninfoOption *o;
	char *why = NULL;

	if (!s)
		return 0;
	if (!(o = PQconninfoParse(s, &why))) {
		snprintf(err, len, "%s", why ? why : "libpq cannot parse it");
		for (char *p = err; *p; p++)
			if (*p == '\n')
				*p = *(p + 1) ? ' ' : '\0';
		PQfreemem(why);
		return EINVAL;
	}
	PQconninfoFree(o);
	return 0;
}

char *pg_array_put(char *p, const char *v, int first, int bare)
{
	size_t n;

	if (!first)
		*p++ = ',';
	if (!v) {
		memcpy(p, "NULL", 4);
		return p + 4;
	}
	if (bare) {
		n = strlen(v);
		memcpy(p, v, n);
		return p + n;
	}
	*p++ = '"';
	for (;;) {		/* spans without '"' or '\\' copied at once */
		n = strcspn(v, "\"\\");
		memcpy(p, v, n);
		p += n;
		v += n;
		if (!*v)
			break;
		*p++ = '\\';
		*p++ = *v++;
	}
	*p++ = '"';
	return p;
}
