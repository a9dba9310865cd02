/* mgmtd/guard.c — holds the HTTP server up under hostile connections: every
 * connection must deliver a whole request within a deadline (slow senders
 * are cut however steadily they trickle), and when connections near the
 * server's limit the oldest ones that are not being answered are shed, so
 * that a gateway's broker call always finds room; a connection a gateway
 * has used for the broker is spared (the gateways' share of the capacity).
 * libmicrohttpd bounds
 * connections per address and idle time; this adds what it lacks. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "server.h"

#define GUARD_TICK_NS   (100u * 1000 * 1000)   /* reaper period */
#define GUARD_YOUNG_NS  (250u * 1000 * 1000)   /* never shed younger ones */
#define GUARD_FD_SPARE  64                      /* database, files, logs */

/* One accepted connection (the MHD socket context). */
struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	uint64_t phase_ns;        /* since accept, or since the last answer */
	int busy;                 /* a handler runs for it: never cut */
	int broker;               /* a gateway used it: never shed */
	int cut;                  /* shut down by the guard */
	int nul_seen;             /* its current URL had %00 */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running, stop;
	struct http_conn head;    /* list in accept order (oldest first) */
	unsigned count, high, low;
	unsigned cut_pending;     /* cut, not yet closed by MHD */
	uint64_t deadline_ns;
	unsigned long cut_slow, cut_shed;   /* for the log at exit */
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

int guard_fd_budget(unsigned *max_conns)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < *max_conns + GUARD_FD_SPARE) {
		if (rl.rlim_cur <= 2 * GUARD_FD_SPARE)
			return EMFILE;
		log_warnx("--max-conns %u lowered to %u: only %llu file descriptors",
		    *max_conns, (unsigned)(rl.rlim_cur - GUARD_FD_SPARE),
		    (unsigned long long)rl.rlim_cur);
		*max_conns = (unsigned)(rl.rlim_cur - GUARD_FD_SPARE);
	}
	return 0;
}

static void cut(struct http_conn *c, unsigned long *counter)
{
	c->cut = 1;
	g.cut_pending++;
	(*counter)++;
	/* MHD sees the end of the stream and closes the connection itself;
	 * the fd stays valid until its CLOSED notification, which takes
	 * g.mu first. */
	shutdown(c->fd, SHUT_RDWR);
}

/* One pass: slow requests past the deadline, then the oldest idle ones
 * while over the high-water mark. Called with g.mu held. */
static void reap(uint64_t now)
{
	unsigned left = g.count - g.cut_pending;
	struct http_conn *c;

	for (c = g.head.next; c != &g.head; c = c->next) {
		if (c->busy || c->cut)
			continue;
		if (now - c->phase_ns > g.deadline_ns)
			cut(c, &g.cut_slow);
		else if (left > g.low && g.count - g.cut_pending >= g.high &&
		    !c->broker && now - c->phase_ns > GUARD_YOUNG_NS)
			cut(c, &g.cut_shed);
		else
			continue;
		left--;
	}
}

static void *guard_main(void *arg)
{
	struct timespec until;

	(void)arg;
	pthread_mutex_lock(&g.mu);
	while (!g.stop) {
		reap(http_now_ns());
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += GUARD_TICK_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g.cv, &g.mu, &until);
	}
	pthread_mutex_unlock(&g.mu);
	return NULL;
}

int guard_start(const struct mgmtd_config *cfg)
{
	g.head.next = g.head.prev = &g.head;
	g.deadline_ns = (uint64_t)cfg->request_timeout_s * 1000000000u;
	g.high = cfg->max_conns - cfg->max_conns / 8;
	g.low = cfg->max_conns - cfg->max_conns / 4;
	g.stop = 0;
	if (pthread_create(&g.thread, NULL, guard_main, NULL))
		return EAGAIN;
	g.running = 1;
	return 0;
}

void guard_stop(void)
{
	if (!g.running)
		return;
	pthread_mutex_lock(&g.mu);
	g.stop = 1;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.thread, NULL);
	g.running = 0;
	if (g.cut_slow || g.cut_shed)
		log_info("connections cut: %lu past the request deadline, %lu shed "
		    "near the connection limit", g.cut_slow, g.cut_shed);
}

void guard_notify(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct http_conn *c = *ctx;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(c = calloc(1, sizeof(*c))))
			return;           /* unguarded; MHD's own limits still hold */
		c->fd = ci->connect_fd;
		c->phase_ns = http_now_ns();
		pthread_mutex_lock(&g.mu);
		c->prev = g.head.prev;
		c->next = &g.head;
		g.head.prev->next = c;
		g.head.prev = c;
		g.count++;
		pthread_mutex_unlock(&g.mu);
		*ctx = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&g.mu);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	g.count--;
	if (c->cut)
		g.cut_pending--;
	pthread_mutex_unlock(&g.mu);
	free(c);
	*ctx = NULL;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void guard_busy(struct MHD_Connection *conn, int busy)
{
	struct http_conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&g.mu);
	c->busy = busy;
	c->phase_ns = http_now_ns();
	pthread_mutex_unlock(&g.mu);
}

void guard_mark_broker(struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&g.mu);
	c->broker = 1;
	pthread_mutex_unlock(&g.mu);
}

/* Only the connection's own thread touches nul_seen: no lock. */
void guard_mark_nul(struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);

	if (c)
		c->nul_seen = 1;
}

int guard_take_nul(struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);
	int seen = c ? c->nul_seen : 0;

	if (c)
		c->nul_seen = 0;
	return seen;
}
