/* tests/unit/test_conf.c — the settings table: defaults, every type, the
 * config file (errors name FILE:LINE, all of them), the command line over
 * the file, required settings, reload and the generated --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

struct cfg {
	char *db, *name, *dir;
	unsigned conns, timeout_s, poll_ms;
	int flag, tls, mode;
	uint64_t body;
	struct conf_addr listen;
};

static const char *const modes[] = { "udp", "tcp", "both", NULL };

static const struct conf_item tab[] = {
	{ .name = "db", .type = CONF_STR, .off = offsetof(struct cfg, db),
	  .flags = CONF_REQUIRED, .help = "database" },
	{ .name = "name", .type = CONF_STR, .off = offsetof(struct cfg, name),
	  .def = "dpn", .flags = CONF_RELOAD, .help = "a name" },
	{ .name = "dir", .type = CONF_PATH, .off = offsetof(struct cfg, dir),
	  .flags = CONF_EXISTS, .help = "a folder" },
	{ .name = "max-conns", .type = CONF_UINT, .off = offsetof(struct cfg, conns),
	  .def = "100", .min = 1, .max = 60000, .flags = CONF_RELOAD,
	  .help = "connections" },
	{ .name = "timeout", .type = CONF_DURATION,
	  .off = offsetof(struct cfg, timeout_s), .def = "30s", .unit = 1000,
	  .min = 1, .max = 3600, .help = "idle timeout" },
	{ .name = "poll", .type = CONF_DURATION, .off = offsetof(struct cfg, poll_ms),
	  .def = "1000", .min = 50, .max = 60000, .help = "poll interval" },
	{ .name = "flag", .type = CONF_BOOL, .off = offsetof(struct cfg, flag),
	  .def = "no", .flags = CONF_FLAG, .short_opt = 'd', .help = "a flag" },
	{ .name = "tls", .type = CONF_BOOL, .off = offsetof(struct cfg, tls),
	  .def = "off", .help = "a boolean with a value" },
	{ .name = "mode", .type = CONF_ENUM, .off = offsetof(struct cfg, mode),
	  .def = "udp", .choices = modes, .help = "transport" },
	{ .name = "max-body", .type = CONF_SIZE, .off = offsetof(struct cfg, body),
	  .def = "64k", .min = 1024, .max = 1 << 30, .help = "body limit" },
	{ .name = "listen", .type = CONF_ADDR, .off = offsetof(struct cfg, listen),
	  .def = "127.0.0.1:8080", .help = "where" },
	{ .name = NULL },
};

/* Errors collected as one text, one per line. */
static char errs[8192];

static void collect(void *arg, const char *msg)
{
	size_t n = strlen(errs);

	(void)arg;
	if (n + strlen(msg) + 2 > sizeof(errs))
		return;
	strcat(errs, msg);
	strcat(errs, "\n");
}

static char path[64];

static const char *write_file(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/test_conf.%d.conf", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int setup(void **state)
{
	(void)state;
	errs[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void defaults_apply(void **state)
{
	struct cfg c = { 0 };

	(void)state;
	assert_int_equal(conf_defaults(tab, &c, collect, NULL), 0);
	assert_string_equal(c.name, "dpn");
	assert_null(c.db);
	assert_int_equal(c.conns, 100);
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(c.poll_ms, 1000);
	assert_int_equal(c.flag, 0);
	assert_int_equal(c.mode, 0);
	assert_int_equal(c.body, 65536);
	assert_string_equal(c.listen.text, "127.0.0.1:8080");
	assert_int_equal(c.listen.sa.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&c.listen.sa)->sin_port), 8080);
	conf_free(tab, &c);
	assert_null(c.name);
}

static void values_of_every_type(void **state)
{
	struct cfg c = { 0 };
	char why[256];
	const struct conf_item *to = &tab[4], *poll = &tab[5], *sz = &tab[9],
			       *ad = &tab[10], *en = &tab[8], *b = &tab[7];
	unsigned u;
	uint64_t z;
	int i;
	struct conf_addr a;

	(void)state;
	(void)c;
	assert_int_equal(conf_parse_value(to, &u, "2m", why, sizeof(why)), 0);
	assert_int_equal(u, 120);
	assert_int_equal(conf_parse_value(to, &u, "45", why, sizeof(why)), 0);
	assert_int_equal(u, 45);
	assert_int_equal(conf_parse_value(to, &u, "1h", why, sizeof(why)), 0);
	assert_int_equal(u, 3600);
	assert_int_equal(conf_parse_value(to, &u, "2h", why, sizeof(why)), EINVAL);
	assert_non_null(strstr(why, "1 to 3600"));
	assert_int_equal(conf_parse_value(to, &u, "1500ms", why, sizeof(why)), EINVAL);
	assert_non_null(strstr(why, "whole seconds"));
	assert_int_equal(conf_parse_value(poll, &u, "2s", why, sizeof(why)), 0);
	assert_int_equal(u, 2000);
	assert_int_equal(conf_parse_value(poll, &u, "10", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(poll, &u, "-5", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(poll, &u, "5x", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(poll, &u, "99999999999999999999999s", why,
					  sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(sz, &z, "2M", why, sizeof(why)), 0);
	assert_int_equal(z, 2 * 1024 * 1024);
	assert_int_equal(conf_parse_value(sz, &z, "2G", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(sz, &z, "1q", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(en, &i, "both", why, sizeof(why)), 0);
	assert_int_equal(i, 2);
	assert_int_equal(conf_parse_value(en, &i, "sctp", why, sizeof(why)), EINVAL);
	assert_non_null(strstr(why, "udp, tcp, both"));
	assert_int_equal(conf_parse_value(b, &i, "YES", why, sizeof(why)), 0);
	assert_int_equal(i, 1);
	assert_int_equal(conf_parse_value(b, &i, "maybe", why, sizeof(why)), EINVAL);
	struct conf_item li = { .name = "listens", .type = CONF_ADDRS };
	struct conf_addrs l;
	assert_int_equal(conf_parse_value(&li, &l, " 127.0.0.1:5060, [::1]:5060 10.0.0.1:5080,",
					  why, sizeof(why)), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.a[2].text, "10.0.0.1:5080");
	assert_int_equal(l.a[1].sa.ss_family, AF_INET6);
	assert_int_equal(conf_parse_value(&li, &l, "1.2.3.4:1,1.2.3.4:1", why, sizeof(why)), EINVAL);
	assert_non_null(strstr(why, "given twice"));
	assert_int_equal(conf_parse_value(&li, &l, " , ", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(&li, &l, "1.2.3.4:1,nowhere", why, sizeof(why)), EINVAL);
	assert_int_equal(conf_parse_value(&li, &l, "1.1.1.1:1 1.1.1.1:2 1.1.1.1:3 1.1.1.1:4 "
		"1.1.1.1:5 1.1.1.1:6 1.1.1.1:7 1.1.1.1:8 1.1.1.1:9", why, sizeof(why)), EINVAL);
	assert_non_null(strstr(why, "at most 8"));
	assert_int_equal(conf_parse_value(ad, &a, "[::1]:5060", why, sizeof(why)), 0);
	assert_int_equal(a.sa.ss_family, AF_INET6);
	assert_string_equal(a.text, "[::1]:5060");
	static const char *bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"localhost:80", "::1:80", "[127.0.0.1]:80", ":80", "1.2.3.4:8x",
		"[::1:80" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(conf_parse_value(ad, &a, bad[k], why, sizeof(why)),
				 EINVAL);
}

static void file_errors_name_file_and_line(void **state)
{
	struct cfg c = { 0 };
	char want[256];
	const char *p = write_file(
		"# a comment\n"
		"db = \"host=/tmp dbname=x # not a comment\"\n"
		"\n"
		"max-conns = 0\n"
		"no-such = 1\n"
		"timeout = 30s   # trailing comment\n"
		"timeout = 40s\n"
		"just words\n"
		"name = \"unclosed\n"
		"mode = tcp\n");

	(void)state;
	conf_defaults(tab, &c, collect, NULL);
	assert_int_equal(conf_read_file(tab, &c, p, collect, NULL), EINVAL);
	snprintf(want, sizeof(want), "%s:4: max-conns: must be 1 to 60000", p);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:5: no-such: no such setting", p);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:7: timeout: set twice (first on line 6)", p);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:8: want NAME = VALUE", p);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:9: no closing quote", p);
	assert_non_null(strstr(errs, want));
	/* The good lines still apply; a bad value leaves the old one. */
	assert_string_equal(c.db, "host=/tmp dbname=x # not a comment");
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(c.conns, 100);
	assert_int_equal(c.mode, 1);
	conf_free(tab, &c);
}

static void file_missing_and_long_lines(void **state)
{
	struct cfg c = { 0 };
	char *big = malloc(6000), want[128];

	(void)state;
	assert_int_equal(conf_read_file(tab, &c, "/nonexistent/x.conf", collect,
					NULL), ENOENT);
	assert_non_null(strstr(errs, "/nonexistent/x.conf: No such file"));
	assert_int_equal(conf_read_file(tab, &c, "/tmp", collect, NULL), EISDIR);
	assert_non_null(strstr(errs, "/tmp: Is a directory"));
	memset(big, 'a', 5998);
	memcpy(big, "name = ", 7);
	big[5998] = '\n';
	big[5999] = '\0';
	const char *p = write_file(big);
	FILE *f = fopen(p, "a");
	fputs("max-conns = 7\n", f);
	fclose(f);
	free(big);
	conf_defaults(tab, &c, collect, NULL);
	assert_int_equal(conf_read_file(tab, &c, p, collect, NULL), EINVAL);
	snprintf(want, sizeof(want), "%s:1: line longer than", p);
	assert_non_null(strstr(errs, want));
	assert_int_equal(c.conns, 7);	/* the next line is line 2, read */
	assert_string_equal(c.name, "dpn");
	conf_free(tab, &c);
}

/* Random bytes (NULs, quotes, '=' and newlines among them): errors, no
 * crash, nothing read past a line. */
static void garbage_file(void **state)
{
	struct cfg c = { 0 };
	char *junk = malloc(65536);
	unsigned seed = 42;
	FILE *f;

	(void)state;
	for (int i = 0; i < 65536; i++) {
		seed = seed * 1103515245 + 12345;
		junk[i] = "ab=\" \n#\\\0\t-k1"[(seed >> 16) % 12];
		if ((seed >> 8) % 7 == 0)
			junk[i] = (char)(seed >> 24);
	}
	write_file("");
	f = fopen(path, "w");
	fwrite(junk, 1, 65536, f);
	fclose(f);
	free(junk);
	conf_defaults(tab, &c, collect, NULL);
	errs[0] = '\0';
	assert_int_equal(conf_read_file(tab, &c, path, collect, NULL), EINVAL);
	assert_non_null(strstr(errs, path));
	/* A file that is not a config file does not flood the log. */
	assert_non_null(strstr(errs, "too many errors"));
	size_t lines = 0;
	for (char *p = errs; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, CONF_ERRORS_MAX + 1);
	conf_free(tab, &c);
}

static void command_line_wins_over_file(void **state)
{
	struct cfg c = { 0 };
	struct conf_cli cli;
	const char *p = write_file("db = dbname=file\nmax-conns = 5\nname = fromfile\n");
	char *argv[] = { "--max-conns", "9", "-f", (char *)p, "--name=cli", "-d",
			 "--tls", "yes", "pos1", "--", "--pos2", NULL };

	(void)state;
	assert_int_equal(conf_load(tab, &c, 11, argv, NULL, &cli, collect, NULL), 0);
	assert_string_equal(errs, "");
	assert_string_equal(cli.file, p);
	assert_string_equal(c.db, "dbname=file");
	assert_int_equal(c.conns, 9);
	assert_string_equal(c.name, "cli");
	assert_int_equal(c.flag, 1);
	assert_int_equal(c.tls, 1);
	assert_int_equal(cli.nargs, 2);
	assert_string_equal(cli.args[0], "pos1");
	assert_string_equal(cli.args[1], "--pos2");
	conf_cli_free(&cli);
	conf_free(tab, &c);
}

static void command_line_errors(void **state)
{
	struct cfg c = { 0 };
	struct conf_cli cli;
	char *argv[] = { "--db", "x", "--bogus", "--max-conns", "--tls", "-n", NULL };
	char *argv2[] = { "--db=x", "--timeout", NULL };
	char *argv3[] = { "-n", "-h", NULL };

	(void)state;
	assert_int_equal(conf_load(tab, &c, 6, argv, NULL, &cli, collect, NULL), EINVAL);
	assert_non_null(strstr(errs, "--bogus: no such option"));
	assert_non_null(strstr(errs, "--max-conns: want a whole number, not \"--tls\""));
	conf_cli_free(&cli);
	errs[0] = '\0';
	assert_int_equal(conf_load(tab, &c, 2, argv2, NULL, &cli, collect, NULL), EINVAL);
	assert_non_null(strstr(errs, "--timeout: wants a value"));
	conf_cli_free(&cli);
	errs[0] = '\0';
	/* Required: db unset. */
	assert_int_equal(conf_load(tab, &c, 2, argv3, NULL, &cli, collect, NULL), 0);
	assert_int_equal(cli.help, 1);	/* --help does not check */
	conf_cli_free(&cli);
	assert_int_equal(conf_load(tab, &c, 1, argv3, NULL, &cli, collect, NULL), EINVAL);
	assert_int_equal(cli.check_only, 1);
	assert_non_null(strstr(errs, "db: must be set"));
	conf_cli_free(&cli);
	conf_free(tab, &c);
}

static void default_file_and_path_check(void **state)
{
	struct cfg c = { 0 };
	struct conf_cli cli;
	const char *p = write_file("db = dbname=d\ndir = /nonexistent/dir\n");
	char *argv[] = { NULL };

	(void)state;
	assert_int_equal(conf_load(tab, &c, 0, argv, p, &cli, collect, NULL), EINVAL);
	assert_non_null(strstr(errs, ":2: dir: /nonexistent/dir: No such file"));
	assert_string_equal(cli.file, p);
	conf_cli_free(&cli);
	conf_free(tab, &c);
	errs[0] = '\0';
	assert_int_equal(conf_load(tab, &c, 0, argv, "/nonexistent/default.conf",
				   &cli, collect, NULL), EINVAL);
	/* A missing default file is no error; only the unset db is. */
	assert_null(strstr(errs, "default.conf"));
	assert_non_null(strstr(errs, "db: must be set"));
	conf_cli_free(&cli);
	conf_free(tab, &c);
}

static void reload_moves_only_reloadable(void **state)
{
	struct cfg live = { 0 }, fresh = { 0 };
	unsigned n;

	(void)state;
	conf_defaults(tab, &live, collect, NULL);
	conf_defaults(tab, &fresh, collect, NULL);
	free(fresh.name);
	fresh.name = strdup("new");
	fresh.conns = 42;
	fresh.timeout_s = 99;
	n = conf_apply_reload(tab, &live, &fresh, collect, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(live.name, "new");
	assert_int_equal(live.conns, 42);
	assert_int_equal(live.timeout_s, 30);
	assert_string_equal(fresh.name, "dpn");	/* the old one, to free */
	assert_string_equal(errs, "timeout: changed; needs a restart\n");
	assert_int_equal(conf_apply_reload(tab, &live, &live, collect, NULL), 0);
	conf_free(tab, &live);
	conf_free(tab, &fresh);
}

static void usage_from_the_table(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	conf_usage(tab, f);
	fclose(f);
	assert_non_null(strstr(text, "--max-conns N"));
	assert_non_null(strstr(text, "[default 100; 1..60000; reload]"));
	assert_non_null(strstr(text, "--db TEXT"));
	assert_non_null(strstr(text, "[required]"));
	assert_non_null(strstr(text, "-d, --flag "));
	assert_non_null(strstr(text, "--mode udp|tcp|both"));
	assert_non_null(strstr(text, "--timeout DURATION"));
	assert_non_null(strstr(text, "1..3600 s"));
	assert_non_null(strstr(text, "-n, --check"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(values_of_every_type, setup, teardown),
		cmocka_unit_test_setup_teardown(file_errors_name_file_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(file_missing_and_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(command_line_wins_over_file, setup, teardown),
		cmocka_unit_test_setup_teardown(command_line_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(default_file_and_path_check, setup, teardown),
		cmocka_unit_test_setup_teardown(reload_moves_only_reloadable, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_from_the_table, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
