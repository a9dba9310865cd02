/* lib/daemon.c — the daemon skeleton: settings, signals in the loop,
 * binding, privilege drop, the metrics endpoint (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "event/event.h"
#include "log.h"
#include "prom_http.h"

/* Connections waiting to be accepted: under a connection flood a short
 * queue overflows and a client's connect waits out a SYN retransmit (1 s);
 * the kernel caps it at net.core.somaxconn. */
#define DAEMON_BACKLOG 4096

static void to_log(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("%s", msg);
}

static void usage(const struct daemon_def *def, FILE *f)
{
	fprintf(f, "%s\noptions:\n", def->usage);
	conf_usage(def->conf, f);
}

/* As root, the user to drop to must exist (checked by -n too). */
static int user_check(const struct daemon_conf *base)
{
	if (geteuid() != 0 || (base->user && getpwnam(base->user)))
		return 0;
	log_warnx("user: %s: no such user", base->user ? base->user : "(unset)");
	return EINVAL;
}

/* Defaults, file, command line and the daemon's own checks into cfg. */
static int load(struct daemon *d, void *cfg, struct conf_cli *cli)
{
	const struct daemon_def *def = d->def;
	int rc;

	rc = conf_load(def->conf, cfg, d->argc, d->argv, def->default_file, cli,
		       to_log, NULL);
	if (rc || cli->help)
		return rc;
	if (def->check && def->check(cfg, to_log, NULL))
		rc = EINVAL;
	if (user_check((const void *)((const char *)cfg + def->base_off)))
		rc = EINVAL;
	return rc;
}

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading the settings");
			daemon_reload(d);
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		if (d->def->stop)
			d->def->stop(loop, d->def->arg);
		else
			ev_stop(loop);
	}
}

/* SIGINT, SIGTERM and SIGHUP into set. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Blocks them first thing: one that arrives while the settings load is
 * kept pending for the loop's signalfd instead of killing the daemon by
 * the default action (skipping its clean exit). Threads started later
 * inherit the mask. */
static int signals_block(void)
{
	sigset_t set;

	stop_signals(&set);
	return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The blocked signals are read from a signalfd by the loop. */
static int signals_start(struct daemon *d)
{
	sigset_t set;

	stop_signals(&set);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return errno;
	return ev_io_add(d->loop, d->sigfd, EV_READ, on_signal, d);
}

static int metrics_start(struct daemon *d)
{
	static const char *const result[] = { "result", NULL };
	static const char *const ok[] = { "ok", NULL }, *const bad[] = { "error", NULL };
	struct prom_family *f;
	int rc;

	if ((rc = prom_new(&d->metrics)) ||
	    (rc = prom_family_add(d->metrics, PROM_COUNTER,
				  "dpn_config_reloads_total",
				  "Settings reloads (SIGHUP) by result.", result,
				  NULL, 0, &f)) ||
	    (rc = prom_series(f, ok, &d->reloads_ok)) ||
	    (rc = prom_series(f, bad, &d->reloads_bad)))
		return rc;
	return 0;
}

/* The rest of daemon_init once the settings are good. */
static int start(struct daemon *d)
{
	int rc;

	log_init(d->def->name, !d->base->syslog,
		 d->base->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if ((rc = ev_loop_new(&d->loop)) || (rc = signals_start(d)) ||
	    (rc = metrics_start(d))) {
		log_warnx("cannot start: %s", strerror(rc));
		return rc;
	}
	return 0;
}

int daemon_init(const struct daemon_def *def, int argc, char **argv,
		struct daemon **out)
{
	struct daemon *d = calloc(1, sizeof(*d));
	int status = 1;

	log_init(def->name, 1, LOG_LVL_INFO);
	if (signals_block())
		log_warnx("cannot block the stop signals");
	if (!d || !(d->cfg = calloc(1, def->conf_size))) {
		free(d);
		log_warnx("out of memory");
		return 1;
	}
	d->def = def;
	d->base = (struct daemon_conf *)(void *)((char *)d->cfg + def->base_off);
	d->argc = argc;
	d->argv = argv;
	d->sigfd = -1;
	if (load(d, d->cfg, &d->cli)) {
		log_warnx("the configuration has errors");
	} else if (d->cli.help) {
		usage(def, stdout);
		status = 0;
	} else if (d->cli.check_only) {
		printf("%s: configuration OK\n", def->name);
		status = 0;
	} else if (start(d) == 0) {
		*out = d;
		return -1;
	}
	daemon_free(d);
	return status;
}

int daemon_bind(const struct conf_addr *addr, int socktype, int *fd_out)
{
	int fd, one = 1, rc;

	fd = socket(addr->sa.ss_family, socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&addr->sa, addr->len) ||
	    (socktype == SOCK_STREAM && listen(fd, DAEMON_BACKLOG))) {
		rc = errno;
		log_warn("cannot listen on %s", addr->text);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int daemon_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (!user || !*user || !(pw = getpwnam(user))) {
		log_warnx("no such user \"%s\" to run as", user ? user : "");
		return ENOENT;
	}
	if (setgroups(1, &pw->pw_gid) || setgid(pw->pw_gid) ||
	    setuid(pw->pw_uid)) {
		log_warn("dropping privileges to %s", user);
		return EPERM;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		log_warnx("could regain root after dropping privileges");
		return EPERM;
	}
	log_info("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

int daemon_bound(struct daemon *d)
{
	const struct conf_addr *ml = &d->base->metrics_listen;
	int fd = -1, rc;

	if (ml->len && (rc = daemon_bind(ml, SOCK_STREAM, &fd)))
		return rc;
	if ((rc = daemon_drop_privileges(d->base->user))) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (fd < 0)
		return 0;
	if ((rc = prom_http_start(d->metrics, fd, d->def->health, d->def->arg,
				  &d->http))) {
		log_warnx("cannot serve metrics on %s: %s", ml->text, strerror(rc));
		return rc;
	}
	log_info("metrics on http://%s/metrics", ml->text);
	return 0;
}

int daemon_run(struct daemon *d)
{
	return ev_run(d->loop);
}

/* Logs each reloadable setting that differs between live and fresh. */
static void log_changes(const struct conf_item *tab, const void *live,
			const void *fresh)
{
	for (const struct conf_item *it = tab; it->name; it++)
		if ((it->flags & CONF_RELOAD) && conf_differs(it, live, fresh))
			log_info("reload: %s changed", it->name);
}

int daemon_reload(struct daemon *d)
{
	const struct daemon_def *def = d->def;
	struct conf_cli cli;
	void *fresh = calloc(1, def->conf_size);
	unsigned n;
	int rc = ENOMEM;

	if (!fresh || (rc = load(d, fresh, &cli))) {
		log_warnx("reload: the configuration has errors; nothing changed");
		prom_inc(d->reloads_bad, 1);
		goto out;
	}
	log_changes(def->conf, d->cfg, fresh);
	n = conf_apply_reload(def->conf, d->cfg, fresh, to_log, NULL);
	log_set_level(d->base->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (def->reloaded)	/* also with nothing changed: data reloads */
		def->reloaded(d->cfg, def->arg);
	log_info("reload: %u setting%s changed", n, n == 1 ? "" : "s");
	prom_inc(d->reloads_ok, 1);
out:
	if (fresh) {
		conf_free(def->conf, fresh);
		conf_cli_free(&cli);
	}
	free(fresh);
	return rc;
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	prom_http_stop(d->http);
	if (d->sigfd >= 0) {
		if (d->loop)
			ev_io_del(d->loop, d->sigfd);
		close(d->sigfd);
	}
	ev_loop_free(d->loop);
	if (d->cfg)
		conf_free(d->def->conf, d->cfg);
	free(d->cfg);
	conf_cli_free(&d->cli);
	prom_free(d->metrics);
	free(d);
}
