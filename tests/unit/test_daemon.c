/* tests/unit/test_daemon.c — the daemon skeleton: -n on a good and a bad
 * file (errors name FILE:LINE, exit 1), --help from the table, SIGHUP
 * through the loop applies a changed reloadable setting and leaves the
 * rest (and everything, when the new file is bad), SIGTERM stops the loop,
 * the privilege drop (as root) and the /metrics + /healthz endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "event/event.h"
#include "log.h"

struct tcfg {
	struct daemon_conf base;
	unsigned rate;
	struct conf_addr listen;
};

static const struct conf_item tab[] = {
	DAEMON_CONF_ROWS(struct tcfg, base, "nobody"),
	{ .name = "rate", .type = CONF_UINT, .off = offsetof(struct tcfg, rate),
	  .def = "10", .min = 1, .max = 1000, .flags = CONF_RELOAD,
	  .help = "a reloadable rate" },
	{ .name = "listen", .type = CONF_ADDR, .off = offsetof(struct tcfg, listen),
	  .def = "127.0.0.1:5060", .help = "not reloadable" },
	{ .name = NULL },
};

static int reloaded_calls, stop_calls;

static void reloaded(void *cfg, void *arg)
{
	(void)cfg;
	(void)arg;
	reloaded_calls++;
}

static void stop(struct ev_loop *loop, void *arg)
{
	(void)arg;
	stop_calls++;
	ev_stop(loop);
}

static const struct daemon_def def = {
	.name = "test-daemon", .usage = "usage: test-daemon [OPTIONS]",
	.conf = tab, .conf_size = sizeof(struct tcfg),
	.base_off = offsetof(struct tcfg, base),
	.reloaded = reloaded, .stop = stop,
};

static char path[64], out_path[64];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Runs daemon_init with stdout and stderr going to out_path; returns its
 * status and the output in out (malloc'd). */
static int init_captured(int argc, char **argv, struct daemon **d, char **out)
{
	int saved[2] = { dup(1), dup(2) }, fd, rc;
	FILE *f;
	long n;

	fflush(stdout);
	fflush(stderr);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	rc = daemon_init(&def, argc, argv, d);
	fflush(stdout);
	fflush(stderr);
	dup2(saved[0], 1);
	dup2(saved[1], 2);
	close(saved[0]);
	close(saved[1]);
	f = fopen(out_path, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	*out = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return rc;
}

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_daemon.%d.conf", (int)getpid());
	snprintf(out_path, sizeof(out_path), "/tmp/test_daemon.%d.out", (int)getpid());
	reloaded_calls = stop_calls = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(out_path);
	return 0;
}

static void check_good_and_bad_file(void **state)
{
	char *argv[] = { "-f", path, "-n", NULL }, *out, want[128];
	struct daemon *d = NULL;

	(void)state;
	write_file("rate = 20\nlisten = 127.0.0.1:5070\n");
	assert_int_equal(init_captured(3, argv, &d, &out), 0);
	assert_non_null(strstr(out, "test-daemon: configuration OK"));
	free(out);
	write_file("rate = 20\n\nrate2 = 1\nlisten = 127.0.0.1\nrate = 5000\n");
	assert_int_equal(init_captured(3, argv, &d, &out), 1);
	snprintf(want, sizeof(want), "%s:3: rate2: no such setting", path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "%s:4: listen: want a numeric", path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "%s:5: rate: set twice", path);
	assert_non_null(strstr(out, want));
	assert_null(d);
	free(out);
}

static void help_is_generated(void **state)
{
	char *argv[] = { "--help", NULL }, *out;
	struct daemon *d = NULL;

	(void)state;
	assert_int_equal(init_captured(1, argv, &d, &out), 0);
	assert_non_null(strstr(out, "usage: test-daemon [OPTIONS]"));
	assert_non_null(strstr(out, "--rate N"));
	assert_non_null(strstr(out, "--metrics-listen ADDR:PORT"));
	assert_non_null(strstr(out, "-d, --debug "));
	free(out);
}

static void sighup_applies_reloadable(void **state)
{
	char *argv[] = { "-f", path, NULL };
	struct daemon *d;
	struct tcfg *c;
	int rc;

	(void)state;
	write_file("rate = 20\n");
	rc = daemon_init(&def, 2, argv, &d);
	assert_int_equal(rc, -1);
	c = d->cfg;
	assert_int_equal(c->rate, 20);
	assert_int_equal(log_debug_enabled(), 0);
	write_file("rate = 30\ndebug = yes\nlisten = 127.0.0.1:6000\n");
	raise(SIGHUP);
	assert_int_equal(ev_run_once(d->loop, 2000), 0);
	assert_int_equal(c->rate, 30);
	assert_int_equal(log_debug_enabled(), 1);
	assert_string_equal(c->listen.text, "127.0.0.1:5060");	/* restart */
	assert_int_equal(reloaded_calls, 1);
	assert_int_equal(prom_value(d->reloads_ok), 1);
	/* A bad file changes nothing. */
	write_file("rate = 40\ndebug = no\nrate = x\n");
	raise(SIGHUP);
	assert_int_equal(ev_run_once(d->loop, 2000), 0);
	assert_int_equal(c->rate, 30);
	assert_int_equal(log_debug_enabled(), 1);
	assert_int_equal(prom_value(d->reloads_bad), 1);
	assert_int_equal(reloaded_calls, 1);
	/* SIGTERM: the daemon's stop, then the loop ends. */
	raise(SIGTERM);
	assert_int_equal(daemon_run(d), 0);
	assert_int_equal(stop_calls, 1);
	log_set_level(LOG_LVL_INFO);
	daemon_free(d);
}

static void drops_privileges(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0)
		skip();	/* the drop is a no-op for a user; CI runs as root */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (daemon_drop_privileges("nobody"))
			_exit(2);
		_exit(getuid() != 0 && geteuid() != 0 && setuid(0) != 0 &&
		      getgid() != 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(daemon_drop_privileges("no-such-user-dpn"), geteuid() ? 0 : ENOENT);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* METHOD path from 127.0.0.1:port; the whole answer in buf. */
static int http_req(int port, const char *method, const char *p, char *buf,
		    size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0;
	ssize_t r;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	dprintf(fd, "%s %s HTTP/1.0\r\n\r\n", method, p);
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return 0;
}

static int http_get(int port, const char *p, char *buf, size_t len)
{
	return http_req(port, "GET", p, buf, len);
}

static void metrics_endpoint(void **state)
{
	char listen[64], *argv[] = { "--metrics-listen", listen, "--user", "nobody",
				     NULL };
	char buf[4096];
	struct daemon *d;
	pid_t pid;
	int st, port = free_port();

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {	/* the drop must not touch the test process */
		if (daemon_init(&def, 4, argv, &d) != -1 || daemon_bound(d))
			_exit(2);
		if (http_get(port, "/metrics", buf, sizeof(buf)) ||
		    !strstr(buf, "200 OK") ||
		    !strstr(buf, "dpn_config_reloads_total{result=\"ok\"} 0"))
			_exit(3);
		if (http_get(port, "/healthz", buf, sizeof(buf)) ||
		    !strstr(buf, "{\"status\":\"ok\"}"))
			_exit(4);
		if (http_get(port, "/nope", buf, sizeof(buf)) || !strstr(buf, " 404 "))
			_exit(5);
		if (http_req(port, "DELETE", "/metrics", buf, sizeof(buf)) ||
		    !strstr(buf, " 405 "))
			_exit(6);
		daemon_free(d);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(check_good_and_bad_file, setup, teardown),
		cmocka_unit_test_setup_teardown(help_is_generated, setup, teardown),
		cmocka_unit_test_setup_teardown(sighup_applies_reloadable, setup, teardown),
		cmocka_unit_test_setup_teardown(drops_privileges, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_endpoint, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
