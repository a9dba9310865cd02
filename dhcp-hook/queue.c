/* dhcp-hook/queue.c — bounded ring of lease events (see queue.h). */
#include "dhcp-hook/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int dhcp_queue_new(size_t cap, struct dhcp_queue **out)
{
	struct dhcp_queue *q;
	pthread_condattr_t ca;

	if (cap == 0 || cap > ((size_t)1 << 20))
		return EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return ENOMEM;
	q->ring = calloc(cap, sizeof(*q->ring));
	if (!q->ring) {
		free(q);
		return ENOMEM;
	}
	q->cap = cap;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = q;
	return 0;
}

void dhcp_queue_free(struct dhcp_queue *q)
{
	if (!q)
		return;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}

int dhcp_queue_push(struct dhcp_queue *q, const struct dhcp_event *ev)
{
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (q->len == q->cap) {
		rc = ENOSPC;
		goto out;
	}
	q->ring[(q->head + q->len) % q->cap] = *ev;
	q->len++;
	pthread_cond_signal(&q->cond);
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

size_t dhcp_queue_peek(struct dhcp_queue *q, struct dhcp_event *out,
		       size_t max, unsigned wait_ms)
{
	struct timespec dl;
	size_t i, n;

	deadline_after(&dl, wait_ms);
	pthread_mutex_lock(&q->lock);
	while (q->len == 0 && !q->closed)
		if (pthread_cond_timedwait(&q->cond, &q->lock, &dl) == ETIMEDOUT)
			break;
	n = q->len < max ? q->len : max;
	for (i = 0; i < n; i++)
		out[i] = q->ring[(q->head + i) % q->cap];
	pthread_mutex_unlock(&q->lock);
	return n;
}

void dhcp_queue_pop(struct dhcp_queue *q, size_t n)
{
	pthread_mutex_lock(&q->lock);
	if (n > q->len)
		n = q->len;
	q->head = (q->head + n) % q->cap;
	q->len -= n;
	pthread_mutex_unlock(&q->lock);
}

size_t dhcp_queue_depth(struct dhcp_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void dhcp_queue_close(struct dhcp_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}
