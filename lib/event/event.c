/* lib/event/event.c — epoll loop with a pairing heap of timers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "event/event.h"

struct watch {
	ev_io_cb cb;
	void *arg;
	unsigned events;
	int used;
};

struct ev_loop {
	int epfd, stop;
	uint64_t now;
	uint64_t (*clock)(void *);
	void *clock_arg;
	struct watch *w;	/* indexed by fd */
	size_t nw;
	struct ev_timer *root;	/* pairing heap of active timers */
	size_t ntimers;
	uint64_t seq;
};

static uint64_t mono_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ev_loop_new(struct ev_loop **out)
{
	struct ev_loop *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		rc = errno;
		free(l);
		return rc;
	}
	l->clock = mono_ms;
	l->now = mono_ms(NULL);
	*out = l;
	return 0;
}

void ev_loop_free(struct ev_loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	while (l->root)
		ev_timer_stop(l, l->root);
	free(l->w);
	free(l);
}

static uint32_t to_epoll(unsigned ev)
{
	return ((ev & EV_READ) ? EPOLLIN | EPOLLRDHUP : 0) |
	       ((ev & EV_WRITE) ? EPOLLOUT : 0);
}

static int grow_watches(struct ev_loop *l, int fd)
{
	size_t n = l->nw ? l->nw : 64;
	struct watch *w;

	while (n <= (size_t)fd)
		n *= 2;
	w = realloc(l->w, n * sizeof(*w));
	if (!w)
		return ENOMEM;
	memset(w + l->nw, 0, (n - l->nw) * sizeof(*w));
	l->w = w;
	l->nw = n;
	return 0;
}

int ev_io_add(struct ev_loop *l, int fd, unsigned events, ev_io_cb cb,
	      void *arg)
{
	struct epoll_event e = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0 || !cb)
		return EINVAL;
	if ((size_t)fd >= l->nw && grow_watches(l, fd))
		return ENOMEM;
	if (l->w[fd].used)
		return EEXIST;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return errno;
	l->w[fd] = (struct watch){ cb, arg, events, 1 };
	return 0;
}

int ev_io_mod(struct ev_loop *l, int fd, unsigned events)
{
	struct epoll_event e = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].used)
		return ENOENT;
	if (l->w[fd].events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &e) < 0)
		return errno;
	l->w[fd].events = events;
	return 0;
}

int ev_io_del(struct ev_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].used)
		return ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].used = 0;
	return 0;
}

/* ---- timers: a pairing heap ----
 * The links live in the caller's struct ev_timer, so starting a timer never
 * allocates and cannot fail: a transaction that has its timer structs has
 * its timers. Ties on `when` fire in start order (seq). */

static int before(const struct ev_timer *a, const struct ev_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Meld two heap roots (next/prev of each are NULL); returns the root. */
static struct ev_timer *meld(struct ev_timer *a, struct ev_timer *b)
{
	struct ev_timer *x;

	if (!a || !b)
		return a ? a : b;
	if (before(b, a)) {
		x = a;
		a = b;
		b = x;
	}
	b->prev = a;
	b->next = a->child;
	if (a->child)
		a->child->prev = b;
	a->child = b;
	return a;
}

static struct ev_timer *detach(struct ev_timer *t)
{
	struct ev_timer *n = t->next;

	t->next = t->prev = NULL;
	return n;
}

/* Two-pass pairing of a sibling list into one heap, without recursion. */
static struct ev_timer *merge_pairs(struct ev_timer *first)
{
	struct ev_timer *acc = NULL, *root = NULL;

	while (first) {
		struct ev_timer *a = first, *b = detach(a), *m;
		first = b ? detach(b) : NULL;
		m = meld(a, b);
		m->next = acc;
		acc = m;
	}
	while (acc) {
		struct ev_timer *n = detach(acc);
		root = meld(root, acc);
		acc = n;
	}
	return root;
}

void ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

int ev_timer_active(const struct ev_timer *t)
{
	return t->active;
}

void ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	struct ev_timer *sub;

	if (!t->active)
		return;
	if (t == l->root) {
		l->root = merge_pairs(t->child);
	} else {
		if (t->prev->child == t)
			t->prev->child = t->next;
		else
			t->prev->next = t->next;
		if (t->next)
			t->next->prev = t->prev;
		t->next = t->prev = NULL;
		sub = merge_pairs(t->child);
		l->root = meld(l->root, sub);
	}
	t->child = NULL;
	t->active = 0;
	l->ntimers--;
}

int ev_timer_start(struct ev_loop *l, struct ev_timer *t, uint64_t after_ms)
{
	ev_timer_stop(l, t);
	t->when = l->now + after_ms;
	t->seq = ++l->seq;
	t->active = 1;
	l->root = meld(l->root, t);
	l->ntimers++;
	return 0;
}

uint64_t ev_now(struct ev_loop *l)
{
	return l->now;
}

void ev_set_clock(struct ev_loop *l, uint64_t (*now)(void *), void *arg)
{
	l->clock = now ? now : mono_ms;
	l->clock_arg = arg;
	l->now = l->clock(l->clock_arg);
}

unsigned ev_run_timers(struct ev_loop *l)
{
	unsigned n = 0;

	l->now = l->clock(l->clock_arg);
	while (l->root && l->root->when <= l->now) {
		struct ev_timer *t = l->root;
		ev_timer_stop(l, t);
		t->cb(l, t, t->arg);
		n++;
	}
	return n;
}

static int wait_ms(struct ev_loop *l, int max_wait_ms)
{
	uint64_t d;

	if (!l->root)
		return max_wait_ms;
	d = l->root->when > l->now ? l->root->when - l->now : 0;
	if (d > 60000)
		d = 60000;
	if (max_wait_ms >= 0 && (uint64_t)max_wait_ms < d)
		return max_wait_ms;
	return (int)d;
}

int ev_run_once(struct ev_loop *l, int max_wait_ms)
{
	struct epoll_event ev[64];
	int n;

	ev_run_timers(l);
	if (l->stop)
		return 0;	/* a timer asked to stop: do not block */
	n = epoll_wait(l->epfd, ev, 64, wait_ms(l, max_wait_ms));
	if (n < 0)
		return errno == EINTR ? 0 : errno;
	l->now = l->clock(l->clock_arg);
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		unsigned e = 0;
		if ((size_t)fd >= l->nw || !l->w[fd].used)
			continue;	/* removed by an earlier callback */
		if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			e |= EV_READ;
		if (ev[i].events & (EPOLLOUT | EPOLLERR))
			e |= EV_WRITE;
		e &= l->w[fd].events;
		if (!e && (ev[i].events & (EPOLLHUP | EPOLLERR)))
			e = l->w[fd].events;	/* let the owner see the error */
		if (e)
			l->w[fd].cb(l, fd, e, l->w[fd].arg);
	}
	return 0;
}

int ev_run(struct ev_loop *l)
{
	int rc = 0;

	l->stop = 0;
	while (!l->stop && (rc = ev_run_once(l, -1)) == 0)
		;
	return rc;
}

void ev_stop(struct ev_loop *l)
{
	l->stop = 1;
}
