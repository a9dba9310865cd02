/* lib/log.c — logging for the dpn daemons (see log.h). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static int log_fg = 1;
/* Atomic: SIGHUP may change it on the loop thread while others log. */
static _Atomic int log_lvl = LOG_LVL_INFO;
static const char *log_ident = "dpn";

void log_init(const char *ident, int foreground, enum log_level level)
{
	log_ident = ident;
	log_fg = foreground;
	log_lvl = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level) { log_lvl = level; }

int log_debug_enabled(void) { return log_lvl >= LOG_LVL_DEBUG; }

/* Writes one line; `err` is an errno to append, or 0. */
static void log_vwrite(int prio, int err, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_fg) {
		if (err)
			fprintf(stderr, "%s: %s: %s\n", log_ident, msg, strerror(err));
		else
			fprintf(stderr, "%s: %s\n", log_ident, msg);
		return;
	}
	if (err)
		syslog(prio, "%s: %s", msg, strerror(err));
	else
		syslog(prio, "%s", msg);
}

#define LOG_BODY(prio, err, lvl)                  \
	do {                                      \
		va_list ap;                       \
		if (log_lvl < (lvl))              \
			return;                   \
		va_start(ap, fmt);                \
		log_vwrite((prio), (err), fmt, ap); \
		va_end(ap);                       \
	} while (0)

void log_warn(const char *fmt, ...) { int e = errno; LOG_BODY(LOG_WARNING, e, LOG_LVL_WARN); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 0, LOG_LVL_WARN); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, 0, LOG_LVL_INFO); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_DEBUG, 0, LOG_LVL_DEBUG); }

void fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* One lock for every limiter: call sites are shared by a daemon's threads
 * (mgmtd's HTTP pool), and the lock is only taken on the warning path. */
static pthread_mutex_t log_rl_lock = PTHREAD_MUTEX_INITIALIZER;

/* Counts one message against rl; returns whether it may be written, and the
 * count suppressed in the window that just closed (0 if none closed). */
static int log_rl_pass(struct log_rl *rl, uint64_t *closed_suppressed)
{
	struct timespec ts;
	uint64_t now;
	int pass;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec;
	*closed_suppressed = 0;
	pthread_mutex_lock(&log_rl_lock);
	if (now - rl->window_start >= rl->period_s) {
		*closed_suppressed = rl->suppressed;
		rl->window_start = now;
		rl->used = 0;
		rl->suppressed = 0;
	}
	pass = rl->used < rl->burst;
	if (pass)
		rl->used++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&log_rl_lock);
	return pass;
}

void log_warnx_rl(struct log_rl *rl, const char *fmt, ...)
{
	uint64_t suppressed;
	va_list ap;

	if (!log_rl_pass(rl, &suppressed))
		return;
	if (suppressed)
		log_warnx("(%llu similar messages suppressed)",
		    (unsigned long long)suppressed);
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}
