/* dhcp-hook/queue.h — the bounded queue of lease events between Kea's
 * packet path (producer, never blocks) and the hook's database writer
 * (consumer). When full, a new event is refused and counted: recording
 * never stalls DHCP. The writer peeks a batch and pops it only once the
 * batch is committed, so an event survives database errors. */
#ifndef DPN_DHCP_QUEUE_H
#define DPN_DHCP_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dhcp-hook/ident.h"

enum dhcp_event_kind {
	DHCP_EV_COMMITTED,
	DHCP_EV_RELEASE,
	DHCP_EV_DECLINE,
	DHCP_EV_EXPIRE,
};

struct dhcp_event {
	enum dhcp_event_kind kind;
	uint32_t subnet_id;
	uint32_t addr;		/* host order */
	uint8_t mac[DHCP_MAC_LEN];
	int64_t at_us;		/* wall clock, microseconds since the epoch */
};

struct dhcp_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dhcp_event *ring;
	size_t cap, head, len;
	int closed;
};

/* Allocates a queue for cap events (1..1<<20). Returns 0, EINVAL or
 * ENOMEM; *out owned by the caller, freed with dhcp_queue_free. */
int dhcp_queue_new(size_t cap, struct dhcp_queue **out);
void dhcp_queue_free(struct dhcp_queue *q);

/* Appends a copy of ev. Returns 0, or ENOSPC when full (ev not queued). */
int dhcp_queue_push(struct dhcp_queue *q, const struct dhcp_event *ev);

/* Copies up to max of the oldest events into out without removing them,
 * waiting up to wait_ms for one to arrive. Returns how many were copied
 * (0 on timeout or once the queue is closed and empty). */
size_t dhcp_queue_peek(struct dhcp_queue *q, struct dhcp_event *out,
		       size_t max, unsigned wait_ms);

/* Removes the n oldest events (after the writer committed them). */
void dhcp_queue_pop(struct dhcp_queue *q, size_t n);

size_t dhcp_queue_depth(struct dhcp_queue *q);

/* Wakes a waiting peek; later peeks do not wait. */
void dhcp_queue_close(struct dhcp_queue *q);

#endif
