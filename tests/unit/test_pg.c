/* tests/unit/test_pg.c — pg_connect's settings (keepalives, timeouts,
 * application_name; the conninfo's own settings win) read back from the
 * connection libpq made, and the conninfo check of config tables. No server
 * needed: the connection is refused (a socket folder that does not exist),
 * which is also checked; and pg_array_put's array literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "pg.h"

/* The value libpq used for keyword kw on c, or "". */
static const char *opt(PGconn *c, const char *kw)
{
	static char v[256];
	PQconninfoOption *o = PQconninfo(c), *p;

	v[0] = '\0';
	for (p = o; p && p->keyword; p++)
		if (!strcmp(p->keyword, kw) && p->val)
			snprintf(v, sizeof(v), "%s", p->val);
	PQconninfoFree(o);
	return v;
}

static void settings_and_refusal(void **state)
{
	const struct pg_opts o = { .conninfo = "host=/nonexistent/pg dbname=dpn",
				   .connect_timeout_ms = 4500,
				   .statement_timeout_ms = 1500, .app = "dpn-test" };
	PGconn *c = pg_connect(&o);

	(void)state;
	assert_non_null(c);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "/nonexistent/pg"));
	assert_string_equal(opt(c, "keepalives_idle"), "30");
	assert_string_equal(opt(c, "keepalives_interval"), "10");
	assert_string_equal(opt(c, "keepalives_count"), "3");
	assert_string_equal(opt(c, "connect_timeout"), "4");
	assert_string_equal(opt(c, "application_name"), "dpn-test");
	assert_string_equal(opt(c, "options"), "-c statement_timeout=1500");
	assert_string_equal(opt(c, "dbname"), "dpn");
	PQfinish(c);
}

static void conninfo_wins(void **state)
{
	const struct pg_opts o = { .conninfo = "postgresql:///dpn?host=/nonexistent"
				   "&keepalives_idle=5&application_name=mine"
				   "&connect_timeout=9" };
	PGconn *c = pg_connect(&o);

	(void)state;
	assert_string_equal(opt(c, "keepalives_idle"), "5");
	assert_string_equal(opt(c, "application_name"), "mine");
	assert_string_equal(opt(c, "connect_timeout"), "9");
	assert_string_equal(opt(c, "options"), "");	/* no statement timeout */
	PQfinish(c);
	/* Defaults: 5 s, and libpq's floor of 2 s. */
	c = pg_connect(&(struct pg_opts){ .conninfo = "host=/nonexistent" });
	assert_string_equal(opt(c, "connect_timeout"), "5");
	assert_string_equal(opt(c, "application_name"), "dpn");
	PQfinish(c);
	c = pg_connect(&(struct pg_opts){ .conninfo = "host=/nonexistent",
					  .connect_timeout_ms = 300 });
	assert_string_equal(opt(c, "connect_timeout"), "2");
	PQfinish(c);
}

static void conninfo_check(void **state)
{
	char err[256];
	const char *good = "host=/tmp dbname=dpn", *uri = "postgresql://u@h/db",
		   *bad = "host='unterminated", *junk = "this is no conninfo",
		   *unset = NULL;

	(void)state;
	assert_int_equal(pg_conninfo_check(&good, err, sizeof(err)), 0);
	assert_int_equal(pg_conninfo_check(&uri, err, sizeof(err)), 0);
	assert_int_equal(pg_conninfo_check(&unset, err, sizeof(err)), 0);
	assert_int_equal(pg_conninfo_check(&bad, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "unterminated"));
	assert_null(strchr(err, '\n'));		/* one line, for FILE:LINE */
	assert_int_equal(pg_conninfo_check(&junk, err, sizeof(err)), EINVAL);
}

/* Array literals for one statement of many rows: NULL, bare numbers,
 * texts quoted with '"' and '\\' escaped (and nothing else: ',', '{' are
 * safe inside quotes). */
static void array_literal(void **state)
{
	char buf[128], *p = buf;
	(void)state;

	*p++ = '{';
	p = pg_array_put(p, "42", 1, 1);
	p = pg_array_put(p, NULL, 0, 0);
	p = pg_array_put(p, "a\"b\\c,{d}", 0, 0);
	p = pg_array_put(p, "", 0, 0);
	memcpy(p, "}", 2);
	assert_string_equal(buf, "{42,NULL,\"a\\\"b\\\\c,{d}\",\"\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(settings_and_refusal),
		cmocka_unit_test(conninfo_wins),
		cmocka_unit_test(conninfo_check),
		cmocka_unit_test(array_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
