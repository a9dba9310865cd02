/* mgmtd/main.c — dpn-mgmtd: the commands (migrate, serve, user add, token
 * add), serve's options, binding, the privilege drop and the signal wait. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kea_ctrl.h"
#include "migrate.h"
#include "paths.h"
#include <pthread.h>

#include "server.h"

#define TLS_FILE_MAX (64 * 1024)
/* Connections waiting to be accepted: under a connection flood a short
 * queue overflows and a gateway's connect waits out a SYN retransmit (1 s);
 * the kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 4096

#ifndef DPN_WEB_DIR
#define DPN_WEB_DIR "/usr/local/share/dpn/web"
#endif

static void usage(FILE *f)
{
	fputs("usage: dpn-mgmtd migrate --db CONNINFO [--schema-dir DIR]\n"
	    "       dpn-mgmtd serve --db CONNINFO [--listen ADDR:PORT] [--web-dir DIR]\n"
	    "                 [--user USER] [--threads N] [--max-conns N]\n"
	    "                 [--max-conns-per-ip N] [--timeout SECONDS]\n"
	    "                 [--request-timeout SECONDS] [--tls-cert PEM --tls-key PEM]\n"
	    "                 [--login-rate PER_MINUTE] [--kea-socket PATH]\n"
	    "                 [--kea-poll-ms MS] [--cookie-secure] [--syslog] [-d] [-n]\n"
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

static const char *default_web_dir(void)
{
	static char buf[PATH_MAX];
	struct stat st;
	const char *d = path_default("web", DPN_WEB_DIR, buf);

	return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

/* A number option in [lo, hi]. */
static int num_opt(const char *name, const char *s, unsigned lo, unsigned hi,
    unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi) {
		fprintf(stderr, "dpn-mgmtd: --%s must be %u to %u\n", name, lo, hi);
		return EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_serve(int argc, char **argv, struct mgmtd_config *cfg)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "listen", required_argument, NULL, 'l' },
		{ "web-dir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "threads", required_argument, NULL, 't' },
		{ "max-conns", required_argument, NULL, 'C' },
		{ "max-conns-per-ip", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "login-rate", required_argument, NULL, 'L' },
		{ "syslog", no_argument, NULL, 's' },
		{ "kea-socket", required_argument, NULL, 'k' },
		{ "kea-poll-ms", required_argument, NULL, 'K' },
		{ "cookie-secure", no_argument, NULL, 'c' },
		{ "request-timeout", required_argument, NULL, 'R' },
		{ "tls-cert", required_argument, NULL, 'E' },
		{ "tls-key", required_argument, NULL, 'Y' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	while (rc == 0 && (c = getopt_long(argc, argv, "dn", opts, NULL)) != -1) {
		switch (c) {
		case 'D': cfg->db = optarg; break;
		case 'l': cfg->listen = optarg; break;
		case 'w': cfg->web_dir = optarg; break;
		case 'u': cfg->user = optarg; break;
		case 'd': cfg->debug = 1; break;
		case 'n': cfg->check_only = 1; break;
		case 's': cfg->foreground = 0; break;
		case 't': rc = num_opt("threads", optarg, 1, 256, &cfg->threads); break;
		case 'C': rc = num_opt("max-conns", optarg, 1, 60000, &cfg->max_conns); break;
		case 'I': rc = num_opt("max-conns-per-ip", optarg, 1, 60000,
		    &cfg->max_conns_per_ip); break;
		case 'T': rc = num_opt("timeout", optarg, 1, 3600, &cfg->timeout_s); break;
		case 'L': rc = num_opt("login-rate", optarg, 1, 100000, &cfg->login_per_min); break;
		case 'k': cfg->kea_socket = optarg; break;
		case 'c': cfg->cookie_secure = 1; break;
		case 'K': rc = num_opt("kea-poll-ms", optarg, 50, 60000, &cfg->kea_poll_ms); break;
		case 'R': rc = num_opt("request-timeout", optarg, 1, 3600,
		    &cfg->request_timeout_s); break;
		case 'E': cfg->tls_cert = optarg; break;
		case 'Y': cfg->tls_key = optarg; break;
		default: rc = EINVAL; break;
		}
	}
	if (rc == 0 && (!cfg->db || optind != argc)) {
		usage(stderr);
		rc = EINVAL;
	}
	if (rc == 0 && !cfg->tls_cert != !cfg->tls_key) {
		fprintf(stderr, "dpn-mgmtd: --tls-cert and --tls-key go together\n");
		rc = EINVAL;
	}
	if (cfg->tls_cert)
		cfg->cookie_secure = 1;
	return rc;
}

/* Splits "host:port" / "[v6]:port" and resolves it (numeric only). */
static int listen_addr(const char *spec, struct addrinfo **out)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	size_t n;

	if (!colon || colon == spec || !colon[1])
		return EINVAL;
	n = (size_t)(colon - spec);
	if (spec[0] == '[' && colon[-1] == ']') {
		spec++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return EINVAL;
	memcpy(host, spec, n);
	host[n] = '\0';
	return getaddrinfo(host, colon + 1, &hints, out) ? EINVAL : 0;
}

static int bind_listen(const char *spec, int *fd_out)
{
	struct addrinfo *ai;
	int fd, one = 1, rc;

	if ((rc = listen_addr(spec, &ai))) {
		log_warnx("--listen %s: want ADDRESS:PORT, numeric", spec);
		return rc;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, LISTEN_BACKLOG)) {
		rc = errno;
		log_warn("listen on %s", spec);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	*fd_out = fd;
	return 0;
}

/* The whole of a small file (a PEM key or certificate), NUL-terminated,
 * into *out (malloc'd; the caller frees). 0 or errno. */
static int read_small(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc = 0;

	if (!f)
		return errno;
	if (!(buf = malloc(TLS_FILE_MAX + 1)))
		rc = ENOMEM;
	else if ((n = fread(buf, 1, TLS_FILE_MAX + 1, f)) == 0 || n > TLS_FILE_MAX)
		rc = ferror(f) ? EIO : n == 0 ? EINVAL : EFBIG;
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* Reads the TLS key and certificate (before the privilege drop: keys are
 * often readable by root only). */
static int read_tls(const struct mgmtd_config *cfg, char **key, char **cert)
{
	int rc;

	if (!cfg->tls_key)
		return 0;
	if ((rc = read_small(cfg->tls_key, key)))
		log_warnx("--tls-key %s: %s", cfg->tls_key, strerror(rc));
	else if ((rc = read_small(cfg->tls_cert, cert)))
		log_warnx("--tls-cert %s: %s", cfg->tls_cert, strerror(rc));
	return rc;
}

/* As root: become cfg->user for good (groups, gid, uid). */
static int drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (!(pw = getpwnam(user))) {
		log_warnx("no such user %s to run as", user);
		return ENOENT;
	}
	if (setgroups(1, &pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_warn("dropping privileges to %s", user);
		return EPERM;
	}
	if (setuid(0) == 0) {
		log_warnx("could regain root after dropping privileges");
		return EPERM;
	}
	log_info("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

static int check_config(const struct mgmtd_config *cfg)
{
	struct addrinfo *ai;
	PQconninfoOption *o;
	char *err = NULL;
	struct stat st;

	if (listen_addr(cfg->listen, &ai)) {
		log_warnx("--listen %s: want ADDRESS:PORT, numeric", cfg->listen);
		return EINVAL;
	}
	freeaddrinfo(ai);
	if (!(o = PQconninfoParse(cfg->db, &err))) {
		log_warnx("--db: %s", err ? err : "cannot parse");
		PQfreemem(err);
		return EINVAL;
	}
	PQconninfoFree(o);
	if (cfg->web_dir && (stat(cfg->web_dir, &st) || !S_ISDIR(st.st_mode))) {
		log_warnx("--web-dir %s: not a folder", cfg->web_dir);
		return EINVAL;
	}
	if (cfg->tls_key && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_warnx("--tls-key: this libmicrohttpd has no TLS support");
		return EINVAL;
	}
	if (cfg->tls_key && (access(cfg->tls_key, R_OK) || access(cfg->tls_cert, R_OK))) {
		log_warnx("--tls-key %s / --tls-cert %s: cannot read", cfg->tls_key,
		    cfg->tls_cert);
		return EINVAL;
	}
	if (geteuid() == 0 && !getpwnam(cfg->user)) {
		log_warnx("--user %s: no such user", cfg->user);
		return EINVAL;
	}
	return 0;
}

static int serve_init(const struct mgmtd_config *cfg)
{
	int rc;

	if ((rc = router_init()) || (rc = db_init(cfg->db, cfg->threads)) ||
	    (rc = auth_init(cfg)))
		return rc;
	metrics_init(router_count());
	return 0;
}

/* Opens the web folder while still privileged: an unprivileged --user
 * then reads it through the descriptor, even when a parent (root's 0700
 * home, say) is closed to it. */
static int open_web(const struct mgmtd_config *cfg)
{
	int rc = 0;

	if (cfg->web_dir && (rc = static_init(cfg->web_dir)))
		log_warnx("--web-dir %s: %s", cfg->web_dir, strerror(rc));
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

/* Waits for SIGINT or SIGTERM (blocked in every thread). */
static void wait_signal(const sigset_t *set)
{
	int sig = 0;

	while (sigwait(set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
		;
	log_info("signal %d: shutting down", sig);
}

/* Two HTTP workers (and database connections) per core: with fewer, a core
 * idles while a worker waits for PostgreSQL; with more, requests queue inside
 * PostgreSQL instead and the latency tail grows (docs/bench.md, threads 4, 8
 * and 16 on 2 cores). */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 4 : n > 32 ? 64 : (unsigned)(2 * n);
}

static int cmd_serve(int argc, char **argv)
{
	struct mgmtd_config cfg = { .listen = "127.0.0.1:8080", .user = "dpn",
	    .foreground = 1, .threads = default_threads(), .max_conns = 4096,
	    .max_conns_per_ip = 64, .timeout_s = 30, .request_timeout_s = 10,
	    .login_per_min = 30, .kea_poll_ms = 1000 };
	struct MHD_Daemon *d = NULL;
	char *tls_key = NULL, *tls_cert = NULL;
	struct kea_ctrl *kea = NULL;
	sigset_t set;
	int fd = -1, rc = 1;

	if (parse_serve(argc, argv, &cfg))
		return 2;
	if (!cfg.web_dir)
		cfg.web_dir = default_web_dir();
	log_init("dpn-mgmtd", cfg.foreground, cfg.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (check_config(&cfg))
		return 1;
	if (cfg.check_only) {
		printf("dpn-mgmtd: configuration OK\n");
		return 0;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (guard_fd_budget(&cfg.max_conns) || bind_listen(cfg.listen, &fd) ||
	    open_web(&cfg) || read_tls(&cfg, &tls_key, &tls_cert) ||
	    drop_privileges(cfg.user) || serve_init(&cfg) || guard_start(&cfg))
		goto out;
	if (cfg.kea_socket && kea_ctrl_start(cfg.db, cfg.kea_socket, cfg.kea_poll_ms, &kea)) {
		log_warnx("cannot start the Kea lease remover for %s", cfg.kea_socket);
		goto out;
	}
	metrics_kea(kea);
	if (http_start(&cfg, fd, tls_key, tls_cert, &d)) {
		log_warnx("cannot start the HTTP server");
		goto out;
	}
	log_info("listening on %s://%s (%u threads, web %s)", tls_key ? "https" :
	    "http", cfg.listen, cfg.threads, cfg.web_dir ? cfg.web_dir : "off");
	wait_signal(&set);
	MHD_stop_daemon(d);
	rc = 0;
out:
	guard_stop();
	if (tls_key)
		explicit_bzero(tls_key, strlen(tls_key));
	free(tls_key);
	free(tls_cert);
	metrics_kea(NULL);
	kea_ctrl_stop(kea);
	if (!d && fd >= 0)
		close(fd);
	serve_free();
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
