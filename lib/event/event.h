/* lib/event/event.h — the epoll event loop with timers that the dpn
 * daemons share.
 *
 * One loop per thread. File descriptors are watched for reading and/or
 * writing with a callback each; timers are caller-owned structs linked
 * into a pairing heap, so starting and stopping never allocates and never
 * fails. Timers due at the same time fire in the order they were started. Time is milliseconds of CLOCK_MONOTONIC, read once per iteration;
 * tests replace the clock (ev_set_clock) and fire timers by hand
 * (ev_run_timers) to drive protocol timers exactly.
 *
 * A loop iteration: read the clock, fire due timers, wait for I/O no longer
 * than the next timer, dispatch I/O callbacks. Callbacks may add, change or
 * remove any watcher or timer, including their own. */
#ifndef DPN_EVENT_H
#define DPN_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define EV_READ  0x1
#define EV_WRITE 0x2

struct ev_loop;
struct ev_timer;

typedef void (*ev_io_cb)(struct ev_loop *loop, int fd, unsigned events,
			 void *arg);
typedef void (*ev_timer_cb)(struct ev_loop *loop, struct ev_timer *t,
			    void *arg);

/* Embed in your object; ev_timer_init before first use. */
struct ev_timer {
	uint64_t when, seq;
	struct ev_timer *child, *next, *prev;	/* pairing-heap links */
	int active;
	ev_timer_cb cb;
	void *arg;
};

/* A new loop in *out. Returns 0, ENOMEM or errno of epoll_create1. */
int ev_loop_new(struct ev_loop **out);
/* Free the loop; watched fds are not closed, timers are forgotten. */
void ev_loop_free(struct ev_loop *loop);

/* Watch fd for `events` (EV_READ|EV_WRITE). Returns 0, EEXIST, ENOMEM,
 * EINVAL, or errno of epoll_ctl. */
int ev_io_add(struct ev_loop *loop, int fd, unsigned events, ev_io_cb cb,
	      void *arg);
/* Change the events of a watched fd. Returns 0, ENOENT, or errno. */
int ev_io_mod(struct ev_loop *loop, int fd, unsigned events);
/* Stop watching fd (before closing it). Returns 0 or ENOENT. */
int ev_io_del(struct ev_loop *loop, int fd);

void ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *arg);
/* (Re)start t to fire once, `after_ms` from now. Always returns 0: it
 * allocates nothing (the int stays for callers written against ENOMEM). */
int ev_timer_start(struct ev_loop *loop, struct ev_timer *t,
		   uint64_t after_ms);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);
int ev_timer_active(const struct ev_timer *t);

/* The loop's time (ms). */
uint64_t ev_now(struct ev_loop *loop);
/* Use `now(arg)` instead of CLOCK_MONOTONIC (tests). */
void ev_set_clock(struct ev_loop *loop, uint64_t (*now)(void *), void *arg);
/* Re-read the clock and fire every due timer; returns how many fired. */
unsigned ev_run_timers(struct ev_loop *loop);

/* One iteration, waiting at most max_wait_ms (-1: until the next timer or
 * I/O). Returns 0 or errno of epoll_wait (EINTR is not an error). */
int ev_run_once(struct ev_loop *loop, int max_wait_ms);
/* Iterate until ev_stop(). Returns 0 or an errno from ev_run_once. */
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);

#endif
