/* lib/daemon.h — the skeleton every dpn daemon stands on.
 *
 * A daemon declares its settings in a conf table (lib/conf.h) whose struct
 * embeds struct daemon_conf (with DAEMON_CONF_ROWS in the table), and then:
 *
 *   daemon_init()     settings from defaults, -f FILE and the command line;
 *                     --help generated from the table; -n checks and exits;
 *                     logging started; SIGINT/SIGTERM/SIGHUP blocked (so do
 *                     it before starting threads)
 *   daemon_bind()     its own sockets, as root if need be
 *   daemon_bound()    binds metrics-listen if set, drops privileges to
 *                     `user` (checking root cannot be regained), starts the
 *                     /metrics + /healthz endpoint
 *   daemon_run()      the event loop, with the signals delivered inside it
 *                     through a signalfd: SIGINT/SIGTERM call def->stop (or
 *                     stop the loop), SIGHUP re-reads the settings and moves
 *                     the CONF_RELOAD ones that changed into the live config,
 *                     then calls def->reloaded (even when none changed:
 *                     a daemon re-reads its data); the others are logged as
 *                     needing a restart. A config with errors changes nothing.
 *   daemon_free()
 *
 * The skeleton logs through lib/log (it is the daemon's side, not library
 * code). Reloaded values change on the loop thread: a setting read by other
 * threads must be CONF_RELOAD only if its type is read whole (unsigned, int)
 * or the daemon copies it in def->reloaded. */
#ifndef DPN_DAEMON_H
#define DPN_DAEMON_H

#include <stddef.h>

#include "conf.h"
#include "prom.h"

struct ev_loop;

/* The settings every daemon has; embed in the daemon's config struct. */
struct daemon_conf {
	char *user;			/* run as this user after binding */
	int syslog;			/* log to syslog, not stderr */
	int debug;			/* log level debug (reloadable) */
	struct conf_addr metrics_listen;	/* /metrics, /healthz; len 0: off */
};

/* The table rows of struct daemon_conf `m` inside config struct `T`. */
#define DAEMON_CONF_ROWS(T, m, def_user)                                     \
	{ .name = "user", .type = CONF_STR,                                  \
	  .off = offsetof(T, m.user), .def = (def_user), .arg = "USER",      \
	  .help = "drop to this user after binding (when started as root)" }, \
	{ .name = "syslog", .type = CONF_BOOL,                               \
	  .off = offsetof(T, m.syslog), .def = "no", .flags = CONF_FLAG,     \
	  .help = "log to syslog instead of stderr" },                       \
	{ .name = "debug", .type = CONF_BOOL, .off = offsetof(T, m.debug),   \
	  .def = "no", .flags = CONF_FLAG | CONF_RELOAD, .short_opt = 'd',   \
	  .help = "log debug lines" },                                       \
	{ .name = "metrics-listen", .type = CONF_ADDR,                       \
	  .off = offsetof(T, m.metrics_listen),                              \
	  .help = "serve /metrics and /healthz on this address (off unless set)" }

struct daemon_def {
	const char *name;		/* "dpn-mgmtd": log ident, messages */
	const char *usage;		/* --help's first line(s), "usage: ..." */
	const struct conf_item *conf;	/* ends with a NULL name */
	size_t conf_size;		/* sizeof the config struct */
	size_t base_off;		/* offsetof its struct daemon_conf */
	const char *default_file;	/* read when it exists and no -f; or NULL */
	/* Checks across settings (both -n and reload): 0, or nonzero with
	 * each problem reported through err. May be NULL. */
	int (*check)(const void *cfg, conf_err_fn err, void *arg);
	/* After a SIGHUP whose settings were good, changed or not (loop
	 * thread; a daemon re-reads its data here too). May be NULL. */
	void (*reloaded)(void *cfg, void *arg);
	/* SIGINT/SIGTERM: begin a graceful stop, then ev_stop the loop when
	 * done. NULL: ev_stop at once. */
	void (*stop)(struct ev_loop *loop, void *arg);
	/* /healthz (see prom_http.h). NULL: always healthy. */
	int (*health)(void *arg, char *why, size_t len);
	void *arg;			/* passed to the callbacks */
};

struct daemon {
	const struct daemon_def *def;
	void *cfg;			/* the live settings (conf_size bytes) */
	struct daemon_conf *base;	/* inside cfg */
	struct conf_cli cli;		/* -f, positional arguments */
	struct ev_loop *loop;
	struct prom *metrics;		/* the daemon's registry */
	int argc;
	char **argv;			/* kept for reloads */
	int sigfd;
	struct prom_http *http;
	struct prom_series *reloads_ok, *reloads_bad;
};

/* Loads the settings and prepares the daemon in *out. Returns -1 when the
 * daemon should go on; otherwise the exit status to return from main:
 * 0 after --help or a passing -n, 1 for a bad config (every error printed
 * as FILE:LINE or --NAME), 2 for a usage error. argv (without the program
 * or command name) must outlive the daemon. */
int daemon_init(const struct daemon_def *def, int argc, char **argv,
		struct daemon **out);

/* Binds addr for `socktype` (SOCK_STREAM: also listens, backlog 4096),
 * non-blocking, close-on-exec, SO_REUSEADDR. 0 or errno (logged). */
int daemon_bind(const struct conf_addr *addr, int socktype, int *fd_out);

/* Call once the daemon's own sockets are bound: binds metrics-listen if
 * set, drops privileges (when root) and starts the metrics endpoint.
 * 0 or errno (logged). */
int daemon_bound(struct daemon *d);

/* As root: become `user` for good (groups, gid, uid) and check that root
 * cannot be regained. Not root: nothing. 0, ENOENT (no such user), EPERM. */
int daemon_drop_privileges(const char *user);

/* Runs the loop until stopped. 0 or errno of the loop. */
int daemon_run(struct daemon *d);

/* Re-reads the settings as SIGHUP does. 0, or EINVAL (errors logged,
 * nothing changed). */
int daemon_reload(struct daemon *d);

/* Stops the endpoint, frees the settings, the registry and the loop. */
void daemon_free(struct daemon *d);

#endif
