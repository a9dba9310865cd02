/* lib/log.h — the one small logging API of every dpn daemon.
 *
 * stderr in the foreground, syslog otherwise. log_warn appends strerror(errno);
 * the x variants do not. fatal/fatalx log and exit(1). Library code does not
 * log: it returns an errno and fills the caller's error buffer. */
#ifndef DPN_LOG_H
#define DPN_LOG_H

#include <stdint.h>

#define DPN_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level { LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Start logging as `ident`; foreground logs to stderr, else to syslog. */
void log_init(const char *ident, int foreground, enum log_level level);
void log_set_level(enum log_level level);
int log_debug_enabled(void);

void log_warn(const char *fmt, ...) DPN_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) DPN_PRINTF(1, 2);
void log_info(const char *fmt, ...) DPN_PRINTF(1, 2);
void log_debug(const char *fmt, ...) DPN_PRINTF(1, 2);
void fatal(const char *fmt, ...) DPN_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) DPN_PRINTF(1, 2) __attribute__((noreturn));

/* Rate limit for messages caused by the network or API clients: at most
 * `burst` lines per `period_s` seconds from one call site; the lines held
 * back are counted and reported with the next line that passes. Declare one
 * per call site: static struct log_rl rl = LOG_RL_INIT(10, 60); */
struct log_rl {
	unsigned burst, period_s;
	uint64_t window_start;
	unsigned used;
	uint64_t suppressed;
};
#define LOG_RL_INIT(burst, period) { (burst), (period), 0, 0, 0 }

void log_warnx_rl(struct log_rl *rl, const char *fmt, ...) DPN_PRINTF(2, 3);

#endif
