/* mgmtd/main.c — dpn-mgmtd: the commands (migrate, serve, user add, token
 * add); serve stands on the daemon skeleton (lib/daemon.h): its settings
 * table, binding, the privilege drop and the signals in the loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "daemon.h"
#include "file.h"
#include "kea_ctrl.h"
#include "migrate.h"
#include "paths.h"
#include "pg.h"

#include "server.h"

#define TLS_FILE_MAX (64 * 1024)

#ifndef DPN_WEB_DIR
#define DPN_WEB_DIR "/usr/local/share/dpn/web"
#endif

static void usage(FILE *f)
{
	fputs("usage: dpn-mgmtd migrate --db CONNINFO [--schema-dir DIR]\n"
	    "       dpn-mgmtd serve [-f FILE] [-n] [--db CONNINFO] [OPTIONS] "
	    "(dpn-mgmtd serve --help)\n"
	    "       dpn-mgmtd user add --db CONNINFO [--role operator|manager] "
	    "[--building ID]... NAME\n"
	    "       dpn-mgmtd token add --db CONNINFO [--name NAME] USER\n", f);
}

static int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "schema-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *dir = NULL;
	char err[1024] = "";
	int c, applied = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'D': db = optarg; break;
		case 'S': dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!dir)
		dir = migrate_default_dir();
	if (migrate_run(db, dir, &applied, err, sizeof(err))) {
		fprintf(stderr, "dpn-mgmtd: migrate: %s\n", err);
		return 1;
	}
	printf("dpn-mgmtd: %d migration%s applied from %s\n", applied,
	    applied == 1 ? "" : "s", dir);
	return 0;
}

/* serve's settings: the config file's names and the command line's. */
struct serve_conf {
	struct daemon_conf base;
	char *db, *web_dir, *kea_socket, *tls_cert, *tls_key;
	struct conf_addr listen;
	unsigned threads, max_conns, max_conns_per_ip, timeout_s,
	    request_timeout_s, login_per_min, kea_poll_ms;
	int cookie_secure;
};

#define SC(f) offsetof(struct serve_conf, f)
static const struct conf_item serve_table[] = {
	{ .name = "db", .type = CONF_STR, .off = SC(db), .flags = CONF_REQUIRED,
	  .arg = "CONNINFO", .check = pg_conninfo_check,
	  .help = "PostgreSQL connection string (libpq)" },
	{ .name = "listen", .type = CONF_ADDR, .off = SC(listen),
	  .def = "127.0.0.1:8080", .help = "HTTP address to serve" },
	{ .name = "web-dir", .type = CONF_PATH, .off = SC(web_dir), .arg = "DIR",
	  .help = "the web admin's files (default: beside the binary, "
	  "else the installed ones)" },
	{ .name = "threads", .type = CONF_UINT, .off = SC(threads), .min = 1,
	  .max = 256, .help = "HTTP workers = database connections (default: "
	  "one per core, at least 2)" },
	{ .name = "max-conns", .type = CONF_UINT, .off = SC(max_conns),
	  .def = "4096", .min = 1, .max = 60000, .help = "connections in all" },
	{ .name = "max-conns-per-ip", .type = CONF_UINT, .off = SC(max_conns_per_ip),
	  .def = "64", .min = 1, .max = 60000, .help = "connections per client address" },
	{ .name = "timeout", .type = CONF_DURATION, .off = SC(timeout_s),
	  .def = "30", .unit = 1000, .min = 1, .max = 3600,
	  .help = "idle connection timeout (bare number: seconds)" },
	{ .name = "request-timeout", .type = CONF_DURATION,
	  .off = SC(request_timeout_s), .def = "10", .unit = 1000, .min = 1,
	  .max = 3600, .help = "time to deliver a whole request (bare number: seconds)" },
	{ .name = "tls-cert", .type = CONF_PATH, .off = SC(tls_cert), .arg = "PEM",
	  .help = "serve HTTPS with this certificate (with tls-key)" },
	{ .name = "tls-key", .type = CONF_PATH, .off = SC(tls_key), .arg = "PEM",
	  .help = "the certificate's private key (read before dropping privileges)" },
	{ .name = "login-rate", .type = CONF_UINT, .off = SC(login_per_min),
	  .def = "30", .min = 1, .max = 100000, .arg = "PER_MINUTE",
	  .help = "login attempts per client address and minute" },
	{ .name = "kea-socket", .type = CONF_PATH, .off = SC(kea_socket),
	  .help = "Kea's control socket: leases removed on deletion (off unless set)" },
	{ .name = "kea-poll-ms", .type = CONF_DURATION, .off = SC(kea_poll_ms),
	  .def = "1000", .min = 50, .max = 60000,
	  .help = "how often the Kea lease remover looks for work (bare number: ms)" },
	{ .name = "cookie-secure", .type = CONF_BOOL, .off = SC(cookie_secure),
	  .def = "no", .flags = CONF_FLAG,
	  .help = "behind a TLS proxy: session cookies marked Secure" },
	DAEMON_CONF_ROWS(struct serve_conf, base, "dpn"),
	{ .name = NULL },
};

static const char *default_web_dir(void)
{
	static char buf[PATH_MAX];
	struct stat st;
	const char *d = path_default("web", DPN_WEB_DIR, buf);

	return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

/* Reports "NAME: VALUE: why" through err. */
static void report(conf_err_fn err, void *arg, const char *name, const char *v,
    const char *why)
{
	char msg[PATH_MAX + 128];

	snprintf(msg, sizeof(msg), "%s: %s: %s", name, v, why);
	err(arg, msg);
}

/* tls-cert and tls-key: together, readable, and a libmicrohttpd that
 * speaks TLS. */
static int tls_check(const struct serve_conf *sc, conf_err_fn err, void *arg)
{
	if (!sc->tls_cert != !sc->tls_key) {
		err(arg, "tls-cert and tls-key go together");
		return EINVAL;
	}
	if (sc->tls_key && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		err(arg, "tls-key: this libmicrohttpd has no TLS support");
		return EINVAL;
	}
	if (sc->tls_key && access(sc->tls_key, R_OK)) {
		report(err, arg, "tls-key", sc->tls_key, strerror(errno));
		return EINVAL;
	}
	if (sc->tls_cert && access(sc->tls_cert, R_OK)) {
		report(err, arg, "tls-cert", sc->tls_cert, strerror(errno));
		return EINVAL;
	}
	return 0;
}

/* Checks across settings, for -n and SIGHUP. */
static int serve_check(const void *cfg, conf_err_fn err, void *arg)
{
	const struct serve_conf *sc = cfg;
	struct stat st;
	int rc = 0;

	if (sc->web_dir && (stat(sc->web_dir, &st) || !S_ISDIR(st.st_mode))) {
		report(err, arg, "web-dir", sc->web_dir, "not a folder");
		rc = EINVAL;
	}
	return rc | tls_check(sc, err, arg);
}

static int serve_health(void *arg, char *why, size_t len)
{
	(void)arg;
	if (db_ping())
		return 1;
	snprintf(why, len, "database unavailable");
	return 0;
}

static const struct daemon_def serve_def = {
	.name = "dpn-mgmtd",
	.usage = "usage: dpn-mgmtd serve [-f FILE] [-n] [OPTIONS]\n"
	    "Serves the REST API, the broker and the web admin.",
	.conf = serve_table,
	.conf_size = sizeof(struct serve_conf),
	.base_off = offsetof(struct serve_conf, base),
	.check = serve_check,
	.health = serve_health,
};

/* One HTTP worker (and database connection) per core, at least two: since
 * the broker's commits no longer serialise on NOTIFY (schema 103), a worker
 * waiting for its commit's WAL flush shares it with the others, and more
 * connections than cores only make PostgreSQL's backends take turns on the
 * CPU: on 2 cores, 2 workers held allocate+delete cycles at 64 clients to
 * p99 28-47 ms against 35-77 ms with 4, at the same rate (docs/bench.md,
 * "Issue 14, fourth pass"). */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 64 ? 64 : (unsigned)n;
}

/* The settings as the HTTP server, auth and the rest read them. */
static void to_config(const struct serve_conf *sc, struct mgmtd_config *cfg)
{
	*cfg = (struct mgmtd_config){ .db = sc->db, .listen = sc->listen.text,
	    .web_dir = sc->web_dir ? sc->web_dir : default_web_dir(),
	    .user = sc->base.user, .foreground = !sc->base.syslog,
	    .debug = sc->base.debug,
	    .threads = sc->threads ? sc->threads : default_threads(),
	    .max_conns = sc->max_conns, .max_conns_per_ip = sc->max_conns_per_ip,
	    .timeout_s = sc->timeout_s, .request_timeout_s = sc->request_timeout_s,
	    .tls_cert = sc->tls_cert, .tls_key = sc->tls_key,
	    .login_per_min = sc->login_per_min,
	    .cookie_secure = sc->cookie_secure || sc->tls_cert,
	    .kea_socket = sc->kea_socket, .kea_poll_ms = sc->kea_poll_ms };
}

/* A PEM key or certificate, whole, into *out (malloc'd; the caller frees).
 * 0, EINVAL for an empty file, or file_read_all's errors. */
static int read_small(const char *path, char **out)
{
	size_t n;
	int rc = file_read_all(path, TLS_FILE_MAX, out, &n);

	if (rc == 0 && n == 0) {
		free(*out);
		*out = NULL;
		rc = EINVAL;
	}
	return rc;
}

/* Reads the TLS key and certificate (before the privilege drop: keys are
 * often readable by root only). */
static int read_tls(const struct mgmtd_config *cfg, char **key, char **cert)
{
	int rc;

	if (!cfg->tls_key)
		return 0;
	if ((rc = read_small(cfg->tls_key, key)))
		log_warnx("tls-key %s: %s", cfg->tls_key, strerror(rc));
	else if ((rc = read_small(cfg->tls_cert, cert)))
		log_warnx("tls-cert %s: %s", cfg->tls_cert, strerror(rc));
	return rc;
}

static int serve_init(const struct mgmtd_config *cfg, struct prom *reg)
{
	int rc;

	if ((rc = router_init()) || (rc = db_init(cfg->db, cfg->threads)) ||
	    (rc = auth_init(cfg)))
		return rc;
	return metrics_init(reg);
}

/* Opens the web folder while still privileged: an unprivileged user then
 * reads it through the descriptor, even when a parent (root's 0700 home,
 * say) is closed to it. */
static int open_web(const struct mgmtd_config *cfg)
{
	int rc = 0;

	if (cfg->web_dir && (rc = static_init(cfg->web_dir)))
		log_warnx("web-dir %s: %s", cfg->web_dir, strerror(rc));
	return rc;
}

static void serve_free(void)
{
	static_free();
	metrics_free();
	auth_free();
	db_free();
	router_free();
}

static int cmd_serve(int argc, char **argv)
{
	struct mgmtd_config cfg;
	struct MHD_Daemon *mhd = NULL;
	char *tls_key = NULL, *tls_cert = NULL;
	struct kea_ctrl *kea = NULL;
	struct daemon *d;
	int fd = -1, rc;

	if ((rc = daemon_init(&serve_def, argc - 1, argv + 1, &d)) >= 0)
		return rc;
	rc = 1;
	to_config(d->cfg, &cfg);
	if (guard_fd_budget(&cfg.max_conns) ||
	    daemon_bind(&((struct serve_conf *)d->cfg)->listen, SOCK_STREAM, &fd) ||
	    open_web(&cfg) || read_tls(&cfg, &tls_key, &tls_cert) ||
	    daemon_bound(d) || serve_init(&cfg, d->metrics) || guard_start(&cfg))
		goto out;
	if (cfg.kea_socket && kea_ctrl_start(cfg.db, cfg.kea_socket, cfg.kea_poll_ms, &kea)) {
		log_warnx("cannot start the Kea lease remover for %s", cfg.kea_socket);
		goto out;
	}
	metrics_kea(kea);
	if (http_start(&cfg, fd, tls_key, tls_cert, &mhd)) {
		log_warnx("cannot start the HTTP server");
		goto out;
	}
	log_info("listening on %s://%s (%u threads, web %s)", tls_key ? "https" :
	    "http", cfg.listen, cfg.threads, cfg.web_dir ? cfg.web_dir : "off");
	rc = daemon_run(d) ? 1 : 0;
	MHD_stop_daemon(mhd);
out:
	guard_stop();
	if (tls_key)
		explicit_bzero(tls_key, strlen(tls_key));
	free(tls_key);
	free(tls_cert);
	metrics_kea(NULL);
	kea_ctrl_stop(kea);
	if (!mhd && fd >= 0)
		close(fd);
	serve_free();
	daemon_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("dpn-mgmtd", 1, LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (argc >= 3 && strcmp(argv[1], "user") == 0 && strcmp(argv[2], "add") == 0)
		return cmd_user_add(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "token") == 0 && strcmp(argv[2], "add") == 0)
		return cmd_token_add(argc - 2, argv + 2);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
